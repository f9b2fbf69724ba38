// @ts-check
// `pnpm --filter @session-store/bench run event-loop [--rows=100000]`: how long SQLiteStore
// holds the main thread. node:sqlite runs every statement synchronously, so what matters is
// the longest stretch without a turn of the event loop while the store works:
// - length(), ids(), clear() of N live rows and prune() of N expired ones, each beside the
//   single statement that would do the same in one go;
// - 200 writes waiting for another process' write lock (BEGIN IMMEDIATE) held for a second;
// - the cost of one get, set and touch.
// Event-loop delay comes from perf_hooks.monitorEventLoopDelay (1 ms resolution); "longest gap"
// is the longest time between two runs of a 1 ms interval timer.

import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { DatabaseSync } from 'node:sqlite'
import { SQLiteStore } from '@session-store/sqlite'

const rowsArg = process.argv.find((arg) => arg.startsWith('--rows='))
const N = Number(rowsArg?.split('=')[1] ?? 100_000)
const dir = mkdtempSync(join(tmpdir(), 'session-store-event-loop-'))
const file = join(dir, 'sessions.db')

const DATA = JSON.stringify({
  cookie: { originalMaxAge: 3_600_000, expires: new Date().toISOString(), httpOnly: true, path: '/' },
  user: { id: 42, name: 'someone' },
  n: 1,
})

/** Writes N rows under the store's prefix straight into the table, in one transaction. */
function fill(/** @type {DatabaseSync} */ db, /** @type {number} */ expires) {
  db.exec('BEGIN')
  const insert = db.prepare('INSERT INTO sessions (id, expires, data) VALUES (?, ?, ?)')
  for (let i = 0; i < N; i++) insert.run(`sess:${String(i).padStart(8, '0')}`, expires, DATA)
  db.exec('COMMIT')
}

const ms = (/** @type {number} */ ns) => (ns / 1e6).toFixed(1)

/**
 * Runs `work` while watching the event loop; prints one line.
 * @param {string} label
 * @param {() => unknown} work
 */
async function watch(label, work) {
  const histogram = monitorEventLoopDelay({ resolution: 1 })
  histogram.enable()
  let last = performance.now()
  let gap = 0
  const timer = setInterval(() => {
    const now = performance.now()
    gap = Math.max(gap, now - last)
    last = now
  }, 1)
  const started = performance.now()
  await work()
  const total = performance.now() - started
  // One more turn, so that a stall at the very end is counted too.
  await new Promise((resolve) => setTimeout(resolve, 2))
  clearInterval(timer)
  histogram.disable()
  console.log(
    `${label.padEnd(52)} ${total.toFixed(0).padStart(6)} ms in all; event-loop delay p50 ${ms(histogram.percentile(50))} ms, ` +
      `p99 ${ms(histogram.percentile(99))} ms, max ${ms(histogram.max)} ms; longest gap ${gap.toFixed(1)} ms`,
  )
}

/** Another process holding the write lock until its stdin closes. */
async function holdWriteLock() {
  const child = spawn(
    process.execPath,
    [
      '-e',
      `const db = new (require('node:sqlite').DatabaseSync)(process.argv[1]); db.exec('BEGIN IMMEDIATE')
       process.stdout.write('locked\\n'); process.stdin.resume(); process.stdin.on('end', () => { db.exec('ROLLBACK'); db.close() })`,
      file,
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  )
  await new Promise((resolve) => child.stdout?.once('data', resolve))
  return () =>
    new Promise((resolve) => {
      child.once('exit', resolve)
      child.stdin?.end()
    })
}

const store = new SQLiteStore(file, { pruneInterval: 0 })
await store.get('set the file up')
const db = new DatabaseSync(file)
db.exec('PRAGMA busy_timeout = 5000')
try {
  console.log(`SQLiteStore on node:sqlite, ${N.toLocaleString('en')} rows of ${DATA.length} bytes`)
  fill(db, Date.now() + 3_600_000)
  await watch(`length() of ${N.toLocaleString('en')}`, () => store.length())
  await watch(`  one SELECT count(*) instead`, () =>
    db
      .prepare("SELECT count(*) FROM sessions WHERE id > 'sess:' AND id < 'sess;' AND expires > ?")
      .get(Date.now()),
  )
  await watch(`ids() of ${N.toLocaleString('en')}`, async () => {
    for await (const _ of store.ids());
  })
  await watch(`clear() of ${N.toLocaleString('en')}`, () => store.clear())
  fill(db, Date.now() + 3_600_000)
  await watch(`  one DELETE of them all instead`, () =>
    db.prepare("DELETE FROM sessions WHERE id > 'sess:' AND id < 'sess;' AND expires > ?").run(Date.now()),
  )
  fill(db, Date.now() - 1000)
  await watch(`prune() of ${N.toLocaleString('en')} expired`, () => store.prune())
  fill(db, Date.now() - 1000)
  await watch(`  one DELETE of them all instead`, () =>
    db.prepare('DELETE FROM sessions WHERE expires <= ?').run(Date.now()),
  )

  const release = await holdWriteLock()
  const session = { cookie: { originalMaxAge: 600_000 }, n: 1 }
  await watch('200 writes waiting 1 s for another process', async () => {
    const writes = Array.from({ length: 200 }, (_, i) => store.set(`waiting-${i}`, session))
    setTimeout(release, 1000)
    await Promise.all(writes)
  })

  for (const [name, op] of /** @type {const} */ ([
    ['set', (/** @type {number} */ i) => store.set(`k${i % 1000}`, session)],
    ['get', (/** @type {number} */ i) => store.get(`k${i % 1000}`)],
    ['touch', (/** @type {number} */ i) => store.touch(`k${i % 1000}`, session)],
  ])) {
    const count = 20_000
    const started = performance.now()
    for (let i = 0; i < count; i++) await op(i)
    console.log(
      `${name.padEnd(6)} ${(((performance.now() - started) * 1000) / count).toFixed(1)} µs per operation`,
    )
  }
} finally {
  db.close()
  await store.close()
  rmSync(dir, { recursive: true, force: true })
}
