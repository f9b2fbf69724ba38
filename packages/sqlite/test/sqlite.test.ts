import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { fileURLToPath } from 'node:url'
import { SessionStoreError } from '@session-store/core'
import { afterAll, describe, expect, it } from 'vitest'
import { SQLiteStore } from '../src/index.js'
import { holdLock } from './target.js'

const dir = mkdtempSync(join(tmpdir(), 'session-store-sqlite-test-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
let files = 0
const newFile = () => join(dir, `test-${++files}.db`)

/** Stores closed after the file, with pruning off unless asked. */
const stores: SQLiteStore[] = []
afterAll(async () => {
  for (const store of stores) await store.close()
})
function store(
  database: string | DatabaseSync = newFile(),
  options: ConstructorParameters<typeof SQLiteStore>[1] = {},
) {
  const created = new SQLiteStore(database, { pruneInterval: 0, ...options })
  stores.push(created)
  return created
}

/** A connection of the test's own on a store's file, as another program would open it. */
function connect(path: string): DatabaseSync {
  const db = new DatabaseSync(path)
  db.exec('PRAGMA busy_timeout = 5000')
  return db
}

/** Everything an async iterable yields. */
async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = []
  for await (const item of iterable) items.push(item)
  return items
}

async function rejection(promise: Promise<unknown>): Promise<SessionStoreError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(SessionStoreError)
  return err as SessionStoreError
}

/** Inserts rows straight into a table: [id, expires] pairs, in one transaction. */
function insert(db: DatabaseSync, entries: Array<[string, number]>, table = 'sessions'): void {
  db.exec('BEGIN')
  const statement = db.prepare(`INSERT INTO ${table} (id, expires, data) VALUES (?, ?, '{}')`)
  for (const [id, expires] of entries) statement.run(id, expires)
  db.exec('COMMIT')
}

describe('schema', () => {
  it('creates a STRICT, WITHOUT ROWID table with an index on expires, in WAL mode', async () => {
    const path = newFile()
    await store(path).get('anything')
    const db = connect(path)
    try {
      expect(db.prepare('PRAGMA journal_mode').get()).toEqual({ journal_mode: 'wal' })
      const { sql } = db.prepare("SELECT sql FROM sqlite_schema WHERE name = 'sessions'").get() as {
        sql: string
      }
      expect(sql).toMatch(/STRICT, WITHOUT ROWID$/)
      const columns = db
        .prepare('SELECT name, type, pk, "notnull" FROM pragma_table_info(\'sessions\')')
        .all()
      expect(columns.map((c) => ({ ...c }))).toEqual([
        { name: 'id', type: 'TEXT', pk: 1, notnull: 1 },
        { name: 'expires', type: 'INTEGER', pk: 0, notnull: 1 },
        { name: 'data', type: 'TEXT', pk: 0, notnull: 1 },
      ])
      expect(
        db.prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'sessions'").all(),
      ).toEqual([{ name: 'sessions_expires' }])
      // The statements the store runs use the indexes: the primary key, and expires for pruning.
      const plan = (sql: string) =>
        (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as Array<{ detail: string }>)
          .map((r) => r.detail)
          .join('; ')
      expect(plan("SELECT data FROM sessions WHERE id = 'x' AND expires > 0")).toMatch(
        /PRIMARY KEY \(id=\?\)/,
      )
      expect(
        plan("SELECT id FROM sessions WHERE id > 'a' AND id < 'b' AND expires > 0 ORDER BY id LIMIT 500"),
      ).toMatch(/PRIMARY KEY \(id>\? AND id<\?\)/)
      expect(plan('SELECT id FROM sessions WHERE expires <= 0 ORDER BY expires LIMIT 500')).toMatch(
        /USING COVERING INDEX sessions_expires \(expires<\?\)/,
      )
    } finally {
      db.close()
    }
  })

  it('uses the configured table, also in an attached database, and creates it once for any number of stores', async () => {
    const path = newFile()
    const [a, b] = [store(path, { table: 'main.app_sessions' }), store(path, { table: 'app_sessions' })]
    await Promise.all([a.set('one', { n: 1 }), b.set('two', { n: 2 }), a.get('x'), b.get('y')])
    expect(await b.get('one')).toEqual({ n: 1 })
    expect(await a.get('two')).toEqual({ n: 2 })
    const db = connect(path)
    try {
      expect(
        db.prepare("SELECT name FROM sqlite_schema WHERE tbl_name = 'app_sessions' ORDER BY name").all(),
      ).toEqual([{ name: 'app_sessions' }, { name: 'app_sessions_expires' }])
    } finally {
      db.close()
    }
  })

  it('with createTable: false, leaves a missing table missing and fails clearly, with SQLite error as the cause', async () => {
    const path = newFile()
    const sessions = store(path, { createTable: false })
    const err = await rejection(sessions.get('sid'))
    expect(err.code).toBe('EBACKEND')
    expect(err.backend).toBe('sqlite')
    expect(err.message).toMatch(/^\[@session-store\/sqlite\] \[sqlite\] get failed: no such table: sessions/)
    expect((err.cause as { code?: string }).code).toBe('ERR_SQLITE_ERROR')
    // The next call tries again: once the table is there, the store works.
    const db = connect(path)
    db.exec(
      'CREATE TABLE sessions (id TEXT PRIMARY KEY NOT NULL, expires INTEGER NOT NULL, data TEXT NOT NULL)',
    )
    db.close()
    await sessions.set('sid', { ok: true })
    expect(await sessions.get('sid')).toEqual({ ok: true })
  })
})

describe('several stores and processes on one file', () => {
  it('two stores (two connections) on one file see each other’s sessions at once', async () => {
    const path = newFile()
    const [a, b] = [store(path), store(path)]
    await a.set('shared', { by: 'a' })
    expect(await b.get('shared')).toEqual({ by: 'a' })
    await b.set('shared', { by: 'b' })
    expect(await a.get('shared')).toEqual({ by: 'b' })
    await a.destroy('shared')
    expect(await b.get('shared')).toBeNull()
  })

  it('processes share sessions, and writing at once from three processes loses nothing', async () => {
    const path = newFile()
    const here = store(path)
    await here.set('from-parent', { n: 0 })
    // Each child reads the parent's session, then writes 300 sessions of its own and updates
    // one shared session 300 times, while the others do the same.
    const script = join(dir, 'writer.mjs')
    writeFileSync(
      script,
      `import { SQLiteStore } from ${JSON.stringify(fileURLToPath(new URL('../dist/index.js', import.meta.url)))}
const [path, name] = process.argv.slice(2)
const store = new SQLiteStore(path, { pruneInterval: 0 })
const seen = await store.get('from-parent')
for (let i = 0; i < 300; i++) {
  await store.set(name + '-' + i, { name, i })
  await store.set('contended', { name, i })
}
await store.close()
process.stdout.write(JSON.stringify(seen))
`,
    )
    const run = (name: string) =>
      new Promise<string>((resolve, reject) =>
        execFile(process.execPath, [script, path, name], (error, stdout, stderr) =>
          error ? reject(new Error(`${name}: ${stderr || error.message}`)) : resolve(stdout),
        ),
      )
    const seen = await Promise.all([run('p1'), run('p2'), run('p3')])
    expect(seen.map((text) => JSON.parse(text))).toEqual([{ n: 0 }, { n: 0 }, { n: 0 }])
    expect(await here.length()).toBe(1 + 3 * 300 + 1)
    expect(await here.get('p2-299')).toEqual({ name: 'p2', i: 299 })
    expect(await here.get('contended')).toMatchObject({ i: 299 })
  }, 60_000)

  it("':memory:' is a database of one store alone", async () => {
    const [a, b] = [store(':memory:'), store(':memory:')]
    await a.set('sid', { n: 1 })
    expect(await a.get('sid')).toEqual({ n: 1 })
    expect(await b.get('sid')).toBeNull()
    expect(await a.length()).toBe(1)
  })
})

describe('expiry', () => {
  it('an expired session reads as absent, is not counted, and touch never revives it', async () => {
    const path = newFile()
    const sessions = store(path)
    await sessions.set('short', { n: 1 }, 30)
    await sessions.set('long', { n: 2 }, 60_000)
    await new Promise((resolve) => setTimeout(resolve, 60))
    await sessions.touch('short', { n: 1 }, 60_000)
    expect(await sessions.get('short')).toBeNull()
    expect(await sessions.length()).toBe(1)
    expect(await collect(sessions.ids())).toEqual(['long'])
    const db = connect(path)
    try {
      // The row is still there, with its old expiry, until pruning deletes it.
      const row = db.prepare("SELECT expires FROM sessions WHERE id = 'sess:short'").get() as {
        expires: number
      }
      expect(row.expires).toBeLessThan(Date.now())
    } finally {
      db.close()
    }
  })

  it('disableTtl stores a session that never expires', async () => {
    const path = newFile()
    await store(path, { disableTtl: true }).set('forever', { n: 1 })
    const db = connect(path)
    try {
      expect(db.prepare('SELECT expires FROM sessions').get()).toEqual({ expires: Number.MAX_SAFE_INTEGER })
    } finally {
      db.close()
    }
  })
})

describe('pruning', () => {
  it('deletes expired rows of every prefix, and only those, in batches', async () => {
    const path = newFile()
    const sessions = store(path, { prefix: 'a:' })
    await sessions.set('live', { live: true })
    const past = Date.now() - 60_000
    const db = connect(path)
    try {
      insert(db, [
        ...Array.from({ length: 1200 }, (_, i): [string, number] => [`a:old-${i}`, past]),
        ...Array.from({ length: 300 }, (_, i): [string, number] => [`b:old-${i}`, past]),
        ['b:live', Date.now() + 60_000],
      ])
      expect(await sessions.prune()).toBe(1500)
      expect(db.prepare('SELECT id FROM sessions ORDER BY id').all()).toEqual([
        { id: 'a:live' },
        { id: 'b:live' },
      ])
      expect(await sessions.prune()).toBe(0)
    } finally {
      db.close()
    }
  })

  it('runs on its timer, which keeps no process alive, and stops on close', async () => {
    const path = newFile()
    const sessions = new SQLiteStore(path, { pruneInterval: 100 })
    await sessions.set('sid', { n: 1 }, 10)
    const db = connect(path)
    try {
      const count = () => (db.prepare('SELECT count(*) AS n FROM sessions').get() as { n: number }).n
      expect(count()).toBe(1)
      const deadline = Date.now() + 5000
      while (count() > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 25))
      expect(count()).toBe(0)
    } finally {
      db.close()
      await sessions.close()
    }
    await expect(sessions.prune()).rejects.toMatchObject({ code: 'ECLOSED' })
  })
})

describe('enumeration within the prefix', () => {
  it('pages through more rows than a page holds, exactly once each, and never past the prefix', async () => {
    const path = newFile()
    const sessions = store(path, { prefix: 'p:' })
    const db = connect(path)
    try {
      await sessions.get('create the table')
      const future = Date.now() + 600_000
      const ids = Array.from({ length: 1234 }, (_, i) => `s${String(i).padStart(5, '0')}`)
      insert(db, [
        ...ids.map((id): [string, number] => [`p:${id}`, future]),
        // Neighbours on both sides in byte order, and an expired row inside.
        ['p', future],
        ['p9', future],
        ['p;', future],
        ['p:expired', Date.now() - 1000],
      ])
      expect(await collect(sessions.ids())).toEqual(ids)
      expect(await sessions.length()).toBe(1234)
      expect((await sessions.all()).length).toBe(1234)
      await sessions.clear()
      expect(await sessions.length()).toBe(0)
      expect(db.prepare('SELECT id FROM sessions ORDER BY id').all()).toEqual([
        { id: 'p' },
        { id: 'p9' },
        { id: 'p:expired' },
        { id: 'p;' },
      ])
    } finally {
      db.close()
    }
  })

  it('counts past one counting page', async () => {
    const path = newFile()
    const sessions = store(path)
    await sessions.get('create the table')
    const db = connect(path)
    try {
      insert(
        db,
        Array.from({ length: 12_345 }, (_, i): [string, number] => [`sess:${i}`, Date.now() + 600_000]),
      )
    } finally {
      db.close()
    }
    expect(await sessions.length()).toBe(12_345)
  })

  it('keeps prefixes apart at the edges of Unicode: the last code point, surrogates, an empty prefix', async () => {
    const path = newFile()
    const edge = [
      store(path, { prefix: '\u{10FFFF}' }),
      store(path, { prefix: 'a\u{10FFFF}' }),
      store(path, { prefix: 'b\uD7FF' }),
      store(path, { prefix: 'b\uE000' }),
      store(path, { prefix: 'b😀' }),
    ]
    for (const [index, sessions] of edge.entries()) await sessions.set(`sid-${index}`, { index })
    for (const [index, sessions] of edge.entries()) {
      expect(await collect(sessions.ids())).toEqual([`sid-${index}`])
    }
    const everything = store(path, { prefix: '' })
    expect((await collect(everything.ids())).length).toBe(5)
    expect(await everything.length()).toBe(5)
  })

  it('clear() and prune() of 100 000 rows leave the event loop turning between their batches', async () => {
    const path = newFile()
    const sessions = store(path)
    await sessions.get('create the table')
    const db = connect(path)
    const fill = (expires: number) =>
      insert(
        db,
        Array.from({ length: 100_000 }, (_, i): [string, number] => [`sess:${i}`, expires]),
      )
    /** How many times a 1 ms interval ran while `work` did. */
    const ticksDuring = async (work: () => Promise<unknown>) => {
      let ticks = 0
      const timer = setInterval(() => ticks++, 1)
      await work()
      clearInterval(timer)
      return ticks
    }
    try {
      fill(Date.now() + 600_000)
      // 200 batches of 500 each: the timer must get many turns, where one DELETE of every row
      // would give it none.
      expect(await ticksDuring(() => sessions.clear())).toBeGreaterThan(20)
      expect(await sessions.length()).toBe(0)
      fill(Date.now() - 1000)
      expect(await ticksDuring(() => sessions.prune())).toBeGreaterThan(20)
    } finally {
      db.close()
    }
  }, 60_000)
})

describe('the database given', () => {
  it('a DatabaseSync passed in stays open on close, unless closeDatabaseOnClose', async () => {
    const db = new DatabaseSync(':memory:')
    const kept = new SQLiteStore(db, { pruneInterval: 0 })
    await kept.set('sid', { n: 1 })
    await kept.close()
    expect(db.prepare('SELECT count(*) AS n FROM sessions').get()).toEqual({ n: 1 })
    const closing = new SQLiteStore(db, { pruneInterval: 0, closeDatabaseOnClose: true })
    expect(await closing.get('sid')).toEqual({ n: 1 })
    await closing.close()
    expect(() => db.prepare('SELECT 1')).toThrow(/not open/)
  })

  it('a database the store opened from a path is closed on close: another process may then hold the file alone', async () => {
    const path = newFile()
    const sessions = new SQLiteStore(path, { pruneInterval: 0 })
    await sessions.set('sid', { n: 1 })
    await sessions.close()
    const lock = await holdLock(path, 'exclusive')
    await lock.release()
    await expect(sessions.get('sid')).rejects.toMatchObject({ code: 'ECLOSED' })
  })

  it('on a Node without node:sqlite, fails with a clear EOPTIONS error instead of an import crash', async () => {
    // Node's require refuses node:sqlite, as it does before 22.13 without a flag.
    const preload = join(dir, 'no-sqlite.cjs')
    writeFileSync(
      preload,
      `const Module = require('node:module')
const load = Module._load
Module._load = function (request, ...rest) {
  if (request === 'node:sqlite' || request === 'sqlite') {
    const err = new Error('No such built-in module: node:sqlite')
    err.code = 'ERR_UNKNOWN_BUILTIN_MODULE'
    throw err
  }
  return load.call(this, request, ...rest)
}
`,
    )
    const script = `import { SQLiteStore } from ${JSON.stringify(fileURLToPath(new URL('../dist/index.js', import.meta.url)))}
try { new SQLiteStore(${JSON.stringify(newFile())}) } catch (err) { console.log(JSON.stringify({ name: err.name, code: err.code, message: err.message })) }`
    const output = await new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        ['--require', preload, '--input-type=module', '-e', script],
        (error, stdout, stderr) => (error ? reject(new Error(stderr)) : resolve(stdout)),
      ),
    )
    expect(JSON.parse(output)).toEqual({
      name: 'SessionStoreError',
      code: 'EOPTIONS',
      message: expect.stringMatching(
        /^\[@session-store\/sqlite\] \[sqlite\] node:sqlite is not available in Node v[\d.]+; @session-store\/sqlite needs Node 22\.13 or later$/,
      ),
    })
  })
})

describe('sessions and sids as SQLite keeps them', () => {
  it('keeps 100 KB and 2 MB sessions, SQL metacharacters, NULs and odd sids exactly', async () => {
    const sessions = store()
    const odd = [
      "x'; DROP TABLE sessions; --",
      'a\u0000b',
      'tab\there',
      ' lead and trail ',
      '😀',
      'É',
      'E\u0301',
      '%_',
    ]
    for (const sid of odd) await sessions.set(sid, { sid })
    for (const sid of odd) expect(await sessions.get(sid)).toEqual({ sid })
    expect((await collect(sessions.ids())).sort()).toEqual([...odd].sort())
    for (const size of [100 * 1024, 2 * 1024 * 1024]) {
      const big = { blob: 'é'.repeat(size / 2) }
      await sessions.set('big', big)
      expect(await sessions.get('big')).toEqual(big)
    }
  })
})
