import { randomBytes } from 'node:crypto'
import { server } from '@session-store/conformance/harness'
import { SessionStoreError } from '@session-store/core'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PostgresStore, type PostgresStoreOptions } from '../src/index.js'

// Checks that read the server itself: what the store writes, where, and what the server does
// with a slow statement. Outages and stalls are in postgres.faults.test.ts.

const found = server('postgres')

describe.skipIf(!found)('PostgresStore on a real PostgreSQL', () => {
  let pool: pg.Pool
  const stores: PostgresStore[] = []
  const tables: string[] = []

  const freshTable = () => {
    const table = `sessions_test_${randomBytes(4).toString('hex')}`
    tables.push(table)
    return table
  }
  const makeStore = (options: PostgresStoreOptions = {}) => {
    const store = new PostgresStore(pool, { table: freshTable(), pruneInterval: false, ...options })
    stores.push(store)
    return store
  }

  beforeAll(() => {
    pool = new pg.Pool({ connectionString: found!.url })
  })

  afterAll(async () => {
    await Promise.all(stores.map((store) => store.close()))
    for (const table of tables) await pool.query(`DROP TABLE IF EXISTS "${table}"`)
    await pool.query('DROP SCHEMA IF EXISTS "Session Test" CASCADE').catch(() => {})
    await pool.end()
  })

  it('creates its table once, with the sid as primary key and an index on expires', async () => {
    const store = makeStore()
    await store.set('sid-1', { n: 1 })
    const table = tables.at(-1)!
    const { rows } = await pool.query(
      'SELECT indexdef FROM pg_indexes WHERE tablename = $1 ORDER BY indexname',
      [table],
    )
    const definitions: string[] = rows.map((r) => r.indexdef)
    expect(definitions.some((d) => /UNIQUE INDEX \S+_pkey .*\(id\)/.test(d))).toBe(true)
    expect(definitions.some((d) => /INDEX \S+_expires_idx .*\(expires\)/.test(d))).toBe(true)
    const stored = await pool.query(`SELECT id, data FROM "${table}"`)
    expect(stored.rows).toEqual([{ id: 'sess:sid-1', data: '{"n":1}' }])
  })

  it('uses the schema and table it is given, quoted, and refuses names it cannot quote', async () => {
    await pool.query('CREATE SCHEMA IF NOT EXISTS session_test_schema')
    const table = freshTable()
    const store = new PostgresStore(pool, { schema: 'session_test_schema', table, pruneInterval: false })
    stores.push(store)
    await store.set('a', { n: 1 })
    const { rows } = await pool.query(`SELECT count(*)::int AS n FROM session_test_schema."${table}"`)
    expect(rows[0].n).toBe(1)
    await pool.query('DROP SCHEMA session_test_schema CASCADE')
    for (const bad of ['sessions; DROP TABLE x', 'a"b', '1abc', '']) {
      expect(() => new PostgresStore(pool, { table: bad })).toThrow(SessionStoreError)
      expect(() => new PostgresStore(pool, { schema: bad })).toThrow(/postgres.*schema must be/)
    }
    expect(() => new PostgresStore(pool, { tableName: 'x' } as PostgresStoreOptions)).toThrow(/tableName/)
    expect(() => new PostgresStore('mysql://x')).toThrow(/postgres:\/\//)
  })

  it('never revives an expired session with a touch', async () => {
    const store = makeStore()
    await store.set('gone', { n: 1 }, 50)
    await new Promise((resolve) => setTimeout(resolve, 120))
    await store.touch('gone', { cookie: { originalMaxAge: 60_000 } })
    expect(await store.get('gone')).toBeNull()
    const { rows } = await pool.query(`SELECT expires FROM "${tables.at(-1)!}" WHERE id = 'sess:gone'`)
    expect(Number(rows[0].expires)).toBeLessThan(Date.now())
  })

  it('stores a sid with U+0000, which text cannot hold, and lists it back', async () => {
    const store = makeStore()
    const sid = 'a\u0000b'
    await store.set(sid, { n: 1 })
    expect(await store.get(sid)).toEqual({ n: 1 })
    expect(await store.get('a')).toBeNull()
    const ids: string[] = []
    for await (const id of store.ids()) ids.push(id)
    expect(ids).toEqual([sid])
  })

  it('prunes expired rows in batches, with two instances pruning at once', async () => {
    const table = freshTable()
    const one = new PostgresStore(pool, { table, pruneInterval: false })
    const two = new PostgresStore(pool, { table, pruneInterval: false })
    stores.push(one, two)
    await one.set('live', { n: 1 })
    await pool.query(
      `INSERT INTO "${table}" (id, expires, data) SELECT 'sess:old' || g, $1, '{}' FROM generate_series(1, 2500) g`,
      [Date.now() - 1000],
    )
    const [a, b] = await Promise.all([one.prune(), two.prune()])
    expect(a + b).toBe(2500)
    const { rows } = await pool.query(`SELECT id FROM "${table}"`)
    expect(rows).toEqual([{ id: 'sess:live' }])
  })

  it('rejects a statement slower than the deadline with ETIMEOUT, and stays connected', async () => {
    const table = freshTable()
    const store = new PostgresStore(pool, { table, timeout: 60, pruneInterval: false })
    stores.push(store)
    await store.set('x', { n: 1 })
    await pool.query(
      `INSERT INTO "${table}" (id, expires, data) SELECT 'sess:row' || g, $1, repeat('x', 200) FROM generate_series(1, 300000) g`,
      [Date.now() + 600_000],
    )
    const events: string[] = []
    store.on('disconnect', () => events.push('disconnect'))
    await expect(store.length()).rejects.toMatchObject({ code: 'ETIMEOUT', backend: 'postgres' })
    // The ping that follows a timeout answers: a slow statement is not an outage.
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(events).toEqual([])
    expect(store.connected).toBe(true)
    expect(await store.get('x')).toEqual({ n: 1 })
  })

  it('on a pool it made from a URL, has the server cancel a statement stuck past the deadline', async () => {
    const table = freshTable()
    // The store's own pool carries statement_timeout: the server cancels, so the write that
    // was reported as timed out never lands later.
    const store = new PostgresStore(found!.url, { table, timeout: 200, pruneInterval: false })
    stores.push(store)
    await store.set('locked', { n: 1 })
    const holder = await pool.connect()
    try {
      await holder.query('BEGIN')
      await holder.query(`SELECT * FROM "${table}" WHERE id = 'sess:locked' FOR UPDATE`)
      const started = Date.now()
      await expect(store.set('locked', { n: 2 })).rejects.toMatchObject({ code: 'ETIMEOUT' })
      expect(Date.now() - started).toBeLessThan(1500)
      // pg gave up on the statement too: the pool's connection is free again.
      await new Promise((resolve) => setTimeout(resolve, 300))
      expect(pool.waitingCount).toBe(0)
    } finally {
      await holder.query('ROLLBACK')
      holder.release()
    }
    expect(await store.get('locked')).toEqual({ n: 1 })
  })

  it('turns a driver error into EBACKEND naming the backend, with the cause', async () => {
    const store = makeStore({ createTable: false })
    const error = await store.get('a').catch((err: unknown) => err)
    expect(error).toBeInstanceOf(SessionStoreError)
    expect(error).toMatchObject({ code: 'EBACKEND', backend: 'postgres', operation: 'get' })
    expect(String((error as SessionStoreError).cause)).toMatch(/does not exist/)
  })
})
