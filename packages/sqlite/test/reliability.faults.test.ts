import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import {
  commonBadOptions,
  type FaultTarget,
  faultScenarios,
  type RawValue,
  SETTLE_MARGIN_MS,
  settleWithin,
} from '@session-store/conformance/faults'
import { type BaseStore, SessionStoreError } from '@session-store/core'
import { afterAll, describe, expect, it } from 'vitest'
import { SQLiteStore } from '../src/index.js'
import { type HeldLock, holdLock, NO_OUTAGE } from './target.js'

// The reliability scenarios of @session-store/conformance/faults on a file of this test's own,
// and what a second process can do to it: hold the write lock, or the whole file.

const dir = mkdtempSync(join(tmpdir(), 'session-store-sqlite-faults-'))
const file = join(dir, 'sessions.db')
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** A fresh file for a scenario that locks it, so other scenarios are not held up. */
let files = 0
const freshFile = () => join(dir, `locked-${++files}.db`)

/** Plants raw rows with SQL, as another program would. */
function plant(store: BaseStore, sid: string, value: RawValue): Promise<void> {
  const db = new DatabaseSync(file)
  try {
    db.exec('PRAGMA busy_timeout = 5000')
    // The column is TEXT in a STRICT table, so bytes go in as text made of them, valid UTF-8
    // or not, as a careless writer in another language would leave them.
    db.prepare(
      `INSERT INTO sessions (id, expires, data) VALUES (?, ?, CAST(? AS TEXT))
       ON CONFLICT (id) DO UPDATE SET expires = excluded.expires, data = excluded.data`,
    ).run(store.prefix + sid, Date.now() + 600_000, typeof value === 'number' ? String(value) : value)
  } finally {
    db.close()
  }
  return Promise.resolve()
}

const target: FaultTarget = {
  name: 'sqlite',
  create: ({ prefix, timeout }) => new SQLiteStore(file, { prefix, timeout }),
  plant,
}

describe('reliability: SQLiteStore', () => {
  const scenarios = faultScenarios(target, {
    badOptions: [
      ...commonBadOptions((options) => new SQLiteStore(':memory:', options as never)),
      { what: 'an empty path', create: () => new SQLiteStore('') },
      {
        what: 'a path in a directory that does not exist',
        create: () => new SQLiteStore('/no/such/dir/x.db'),
      },
      { what: 'no database', create: () => new SQLiteStore(undefined as never) },
      { what: 'a number for a database', create: () => new SQLiteStore(42 as never) },
      { what: 'an object that is no DatabaseSync', create: () => new SQLiteStore({} as never) },
      { what: 'an array', create: () => new SQLiteStore([] as never) },
      {
        what: 'a closed DatabaseSync',
        create: () => {
          const db = new DatabaseSync(':memory:')
          db.close()
          return new SQLiteStore(db)
        },
      },
      {
        what: 'SQL in the table name',
        create: () => new SQLiteStore(':memory:', { table: 'sessions; DROP TABLE x' }),
      },
      {
        what: 'a table named sqlite_…',
        create: () => new SQLiteStore(':memory:', { table: 'sqlite_sessions' }),
      },
      { what: 'a table name of three parts', create: () => new SQLiteStore(':memory:', { table: 'a.b.c' }) },
      { what: 'a negative pruneInterval', create: () => new SQLiteStore(':memory:', { pruneInterval: -1 }) },
      {
        what: 'createTable given as a string',
        create: () => new SQLiteStore(':memory:', { createTable: 'no' as never }),
      },
      {
        what: 'a prefix with a lone surrogate',
        create: () => new SQLiteStore(':memory:', { prefix: 'p\uD800:' }),
      },
      {
        what: "connect-pg-simple's tableName",
        create: () => new SQLiteStore(':memory:', { tableName: 'x' } as never),
      },
    ],
    exit: {
      'the store opens and closes its database': {
        base: import.meta.url,
        imports: { sqlite: '@session-store/sqlite' },
        env: { file },
        setup: 'return { store: new modules.sqlite.SQLiteStore(env.file) }',
      },
      'the caller closes its DatabaseSync': {
        base: import.meta.url,
        imports: { sqlite: '@session-store/sqlite' },
        env: { file },
        // A built-in module: imported here, since the spec's imports are resolved as files.
        setup: `const { DatabaseSync } = await import('node:sqlite')
                const db = new DatabaseSync(env.file)
                return { store: new modules.sqlite.SQLiteStore(db), closeClient: () => db.close() }`,
      },
    },
  })
  for (const scenario of scenarios) {
    // The scenarios that stop or pause a server are skipped: there is none (see NO_OUTAGE).
    const skip = scenario.skip === undefined ? undefined : `${scenario.skip}: ${NO_OUTAGE}`
    it.skipIf(skip !== undefined)(
      `${scenario.title}${skip ? ` (skipped: ${skip})` : ''}`,
      scenario.run,
      scenario.timeoutMs,
    )
  }
})

/** How an operation ended, in time or not. */
type Ended = Awaited<ReturnType<typeof settleWithin>>

function expectLockTimeout(outcome: Ended, what: string): void {
  expect(outcome.state, what).toBe('rejected')
  const err = (outcome as { error: unknown }).error
  expect(err, what).toBeInstanceOf(SessionStoreError)
  expect((err as SessionStoreError).code, what).toBe('ETIMEOUT')
  expect((err as SessionStoreError).backend).toBe('sqlite')
  // SQLite's own SQLITE_BUSY, as the cause.
  expect(((err as Error).cause as { errcode?: number } | undefined)?.errcode, what).toBe(5)
}

/** The longest the event loop went without running a 5 ms interval timer, while `work` ran. */
async function longestStall<T>(work: () => Promise<T>): Promise<{ value: T; stallMs: number }> {
  let last = performance.now()
  let stallMs = 0
  const timer = setInterval(() => {
    const now = performance.now()
    stallMs = Math.max(stallMs, now - last)
    last = now
  }, 5)
  try {
    return { value: await work(), stallMs }
  } finally {
    clearInterval(timer)
  }
}

describe('a second process holding the write lock (BEGIN IMMEDIATE)', () => {
  const TIMEOUT = 1500
  const session = (n: number) => ({ cookie: { originalMaxAge: 600_000 }, n })
  let lock: HeldLock | undefined
  afterAll(() => lock?.release())

  it('writes reject with ETIMEOUT within the deadline, reads go on, nothing blocks the event loop, and the same store writes again after the release', async () => {
    const path = freshFile()
    const store = new SQLiteStore(path, { timeout: TIMEOUT, pruneInterval: 0 })
    const events: string[] = []
    store.on('disconnect', () => events.push('disconnect'))
    store.on('connect', () => events.push('connect'))
    try {
      await store.set('kept', session(1))
      await store.set('to-destroy', session(2))
      lock = await holdLock(path, 'write')

      const started = performance.now()
      const { value: outcomes, stallMs } = await longestStall(() =>
        Promise.all(
          [
            store.set('written-while-locked', session(3)),
            store.touch('kept', session(1), 600_000),
            store.destroy('to-destroy'),
            store.clear(),
            store.prune(),
            // A crowd of writers, to show they wait on a timer and not on the main thread.
            ...Array.from({ length: 50 }, (_, i) => store.set(`crowd-${i}`, session(i))),
          ].map((call: Promise<unknown>) => settleWithin(call, TIMEOUT + SETTLE_MARGIN_MS)),
        ),
      )
      const elapsed = performance.now() - started
      const names = ['set', 'touch', 'destroy', 'clear', 'prune']
      for (const [index, outcome] of outcomes.entries()) {
        expect(outcome.state, names[index] ?? `crowd set ${index}`).not.toBe('pending')
        expectLockTimeout(outcome, names[index] ?? `crowd set ${index}`)
      }
      expect(elapsed).toBeGreaterThanOrEqual(TIMEOUT - 50)
      expect(elapsed).toBeLessThan(TIMEOUT + SETTLE_MARGIN_MS)
      // SQLite's busy handler blocks for 10 ms at most, once; the rest is timers. A generous
      // bound for a busy 2-core machine; the README gives the measured figures.
      expect(stallMs).toBeLessThan(250)

      // Readers never wait for a writer in WAL mode: the database is up, only its writer is busy.
      expect(await store.get('kept')).toEqual(session(1))
      expect(await store.length()).toBe(2)
      expect(store.connected).toBe(true)
      expect(events).toEqual([])

      await lock.release()
      // Writes that were refused never land later; the same store writes again.
      expect(await store.get('written-while-locked')).toBeNull()
      expect(await store.get('crowd-0')).toBeNull()
      expect(await store.get('to-destroy')).toEqual(session(2))
      await store.set('after', session(4))
      expect(await store.get('after')).toEqual(session(4))
      expect(await store.length()).toBe(3)
    } finally {
      await lock?.release()
      await store.close()
    }
  }, 30_000)

  it('writes that wait for a lock released in time succeed, in the order they were issued', async () => {
    const path = freshFile()
    const store = new SQLiteStore(path, { timeout: 5000, pruneInterval: 0 })
    try {
      await store.set('sid', session(0))
      lock = await holdLock(path, 'write')
      const writes = [
        store.set('sid', session(1)),
        store.destroy('sid'),
        store.set('sid', session(3)),
        store.set('other', session(4)),
      ]
      await new Promise((resolve) => setTimeout(resolve, 300))
      await lock.release()
      await Promise.all(writes)
      expect(await store.get('sid')).toEqual(session(3))
      expect(await store.get('other')).toEqual(session(4))
    } finally {
      await lock?.release()
      await store.close()
    }
  })

  it('close() while writes wait for the lock: they reject with ECLOSED at once, close() resolves', async () => {
    const path = freshFile()
    const store = new SQLiteStore(path, { timeout: 5000, pruneInterval: 0 })
    try {
      await store.set('sid', session(0))
      lock = await holdLock(path, 'write')
      const waiting = settleWithin(store.set('sid', session(1)), 1000)
      await new Promise((resolve) => setTimeout(resolve, 100))
      const closed = await settleWithin(store.close(), 1000)
      expect(closed.state).toBe('resolved')
      const outcome = await waiting
      expect(outcome.state).toBe('rejected')
      expect(((outcome as { error: unknown }).error as SessionStoreError).code).toBe('ECLOSED')
    } finally {
      await lock?.release()
      await store.close()
    }
    // The connection is closed: another process can now have the file to itself.
    const exclusive = await holdLock(path, 'exclusive')
    await exclusive.release()
  })
})

describe('a file another process holds exclusively (locking_mode = EXCLUSIVE, taken before the store opened it)', () => {
  it('every operation rejects with ETIMEOUT within the deadline, the store emits disconnect, then connect once the file is free, and works again', async () => {
    const TIMEOUT = 1000
    const path = freshFile()
    const setup = new SQLiteStore(path, { pruneInterval: 0 })
    await setup.set('kept', { cookie: { originalMaxAge: 600_000 }, kept: true })
    await setup.close()
    const lock = await holdLock(path, 'exclusive')
    const store = new SQLiteStore(path, { timeout: TIMEOUT, pruneInterval: 0 })
    const events: string[] = []
    store.on('disconnect', () => events.push('disconnect'))
    store.on('connect', () => events.push('connect'))
    try {
      const calls: Record<string, Promise<unknown>> = {
        get: store.get('kept'),
        set: store.set('new', {}),
        touch: store.touch('kept', {}, 600_000),
        destroy: store.destroy('kept'),
        length: store.length(),
      }
      const outcomes = await Promise.all(
        Object.values(calls).map((call) => settleWithin(call, TIMEOUT + SETTLE_MARGIN_MS)),
      )
      for (const [index, outcome] of outcomes.entries()) {
        const name = Object.keys(calls)[index]!
        expect(outcome.state, name).toBe('rejected')
        expect(((outcome as { error: unknown }).error as SessionStoreError).code, name).toBe('ETIMEOUT')
      }
      expect(events).toEqual(['disconnect'])
      expect(store.connected).toBe(false)

      await lock.release()
      // Core's health check asks every second while disconnected.
      const deadline = Date.now() + 10_000
      while (!store.connected && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 50))
      expect(events).toEqual(['disconnect', 'connect'])
      expect(await store.get('kept')).toEqual({ cookie: { originalMaxAge: 600_000 }, kept: true })
      await store.set('new', { n: 1 })
      expect(await store.get('new')).toEqual({ n: 1 })
    } finally {
      await lock.release()
      await store.close()
    }
  }, 30_000)
})
