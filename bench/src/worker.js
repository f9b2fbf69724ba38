// @ts-check
// Measurements that need a process of their own, so that nothing else lives in its heap:
// - memory: a million operations (100 000 with --quick) against one of our stores, with the
//   heap and RSS after a full GC at every tenth; flat means nothing accumulates per operation;
// - enumeration: ids(), length() and clear() over N stored sessions, timed; then, in a second
//   pass, the peak of the live heap while they run.
// Started by worker-client.js as `node --expose-gc worker.js '<json>'`; prints one JSON line
// with the result.

import { Redis } from 'ioredis'
import mysql from 'mysql2/promise'
import { collectGarbage, runClosedLoop, sleep } from './measure.js'
import { makeSession, sidList } from './sessions.js'
import { allSubjects, MYSQL_POOL_SIZE } from './subjects.js'

/**
 * @typedef {import('./subjects.js').ServerUrls} ServerUrls
 * @typedef {import('./worker-client.js').MemoryJob} MemoryJob
 * @typedef {import('./worker-client.js').EnumerationJob} EnumerationJob
 * @typedef {{ heapUsed: number, rss: number, ops: number }} Checkpoint
 */

/**
 * Cycles of set (a new sid), get, touch, destroy, at `concurrency` cycles in flight, so the
 * backend holds about `concurrency` sessions at any time and whatever grows is the client's.
 * @param {MemoryJob} job
 */
async function memory(job) {
  const subjects = (await allSubjects(job.urls))[job.backend] ?? []
  const subject = subjects.find((s) => s.role === 'ours')
  if (!subject) throw new Error(`no store of ours for ${job.backend}`)
  if (subject.unavailable) return { skipped: subject.unavailable }
  const instance = await subject.create()
  const store = instance.store
  const touch = /** @type {NonNullable<typeof store.touch>} */ (store.touch).bind(store)
  const session = makeSession(300)
  const cycles = Math.ceil(job.ops / 4)
  const segments = 10
  const perSegment = Math.ceil(cycles / segments)
  /** @type {Checkpoint[]} */
  const checkpoints = []
  let errors = 0
  /** @type {string | undefined} */
  let firstError
  const start = performance.now()
  try {
    for (let segment = 0; segment < segments; segment++) {
      const sids = sidList(perSegment, `m${segment}`)
      const result = await runClosedLoop({
        total: perSegment,
        concurrency: job.concurrency,
        op: (i, done) => {
          const sid = /** @type {string} */ (sids[i])
          store.set(sid, session, (err) => {
            if (err) return done(err)
            store.get(sid, (err, value) => {
              if (err || !value) return done(err ?? new Error('get after set read nothing'))
              touch(sid, session, (err) => {
                if (err) return done(err)
                store.destroy(sid, done)
              })
            })
          })
        },
      })
      errors += result.errors
      firstError ??= result.firstError
      // Let timers and sockets settle, then see what survives a full collection.
      await sleep(20)
      collectGarbage()
      const usage = process.memoryUsage()
      checkpoints.push({ heapUsed: usage.heapUsed, rss: usage.rss, ops: (segment + 1) * perSegment * 4 })
    }
  } finally {
    await instance.close()
  }
  return { ops: cycles * 4, seconds: (performance.now() - start) / 1000, checkpoints, errors, firstError }
}

/**
 * Times `work`, with nothing else running.
 * @template T
 * @param {() => Promise<T>} work
 */
async function timed(work) {
  await sleep(10)
  collectGarbage()
  const t0 = performance.now()
  const value = await work()
  return { value, ms: performance.now() - t0 }
}

/** What the last measured operation resolved, kept alive until its heap is measured. */
/** @type {{ value: unknown }} */
const held = { value: undefined }

/**
 * The pause between two measurements of the live heap while an enumeration runs, counted from
 * the end of the previous one: the work always gets this long to run between two GCs.
 */
const SAMPLE_GAP_MS = 50

/**
 * The peak of the live heap while `work` runs, above the live heap before it: every
 * SAMPLE_GAP_MS a full GC, then heapUsed, and once more when the work resolves. Without the GC, heapUsed would mostly show garbage waiting for the
 * next collection, which grows with the run's length whatever the store keeps. The GCs slow
 * the work down, so this pass is not the one timed.
 * @template T
 * @param {() => Promise<T>} work
 */
async function peakLiveHeap(work) {
  await sleep(10)
  collectGarbage()
  const before = process.memoryUsage().heapUsed
  let peak = before
  const sample = () => {
    collectGarbage()
    peak = Math.max(peak, process.memoryUsage().heapUsed)
  }
  /** @type {NodeJS.Timeout | undefined} */
  let sampler
  const next = () => {
    sampler = setTimeout(() => {
      sample()
      next()
    }, SAMPLE_GAP_MS)
  }
  next()
  try {
    // One more sample while the result (connect-redis' array of every id) is still held.
    held.value = await work()
    sample()
    held.value = undefined
    return peak - before
  } finally {
    clearTimeout(sampler)
  }
}

/** The Redis database enumeration runs in, apart from the store-level runs' keys in 0. */
const ENUMERATION_DB = 1

/** Rows or keys written per round trip when filling a backend. */
const FILL_BATCH = 1000

/**
 * Writes `count` sessions straight through the client (fast, untimed), in the layout of the
 * store that will enumerate them.
 * @param {EnumerationJob} job
 * @param {{ redis?: Redis, pool?: mysql.Pool }} clients
 * @param {{ prefix: string, table?: string }} layout
 */
async function fill(job, clients, layout) {
  const value = JSON.stringify(makeSession(300))
  const expiresMs = Date.now() + 86_400_000
  for (let start = 0; start < job.count; start += FILL_BATCH) {
    const sids = sidList(Math.min(FILL_BATCH, job.count - start), 'e')
    if (clients.redis) {
      const pipeline = clients.redis.pipeline()
      for (const sid of sids) pipeline.set(layout.prefix + sid, value, 'PX', 86_400_000)
      await pipeline.exec()
    } else if (clients.pool && job.subject === 'ours') {
      await clients.pool.query(`INSERT INTO \`${layout.table}\` (id, expires, data, full_id) VALUES ?`, [
        sids.map((sid) => [layout.prefix + sid, expiresMs, value, null]),
      ])
    } else if (clients.pool) {
      await clients.pool.query(`INSERT INTO \`${layout.table}\` (session_id, expires, data) VALUES ?`, [
        sids.map((sid) => [sid, Math.round(expiresMs / 1000), value]),
      ])
    }
  }
}

/**
 * @param {EnumerationJob} job
 */
async function enumeration(job) {
  const { redis: redisUrl, mysql: mysqlUrl } = job.urls
  // A keyspace and tables of their own: SCAN walks the whole keyspace and COUNT(*) the whole
  // table, so what the store-level runs left behind would otherwise be enumerated too.
  const redis = job.backend === 'redis' && redisUrl ? new Redis(redisUrl, { db: ENUMERATION_DB }) : undefined
  const pool =
    job.backend === 'mysql' && mysqlUrl
      ? mysql.createPool({ uri: mysqlUrl, connectionLimit: MYSQL_POOL_SIZE })
      : undefined
  /** @type {any} */
  let store
  /** @type {{ prefix: string, table?: string }} */
  let layout
  const session = (await import('express-session')).default
  if (job.backend === 'redis' && redis) {
    if (job.subject === 'ours') {
      const { RedisStore } = await import('@session-store/redis')
      layout = { prefix: 'enum-ours:' }
      store = new RedisStore(redis, { prefix: layout.prefix })
    } else {
      const { createClient } = await import('redis')
      const { RedisStore: ConnectRedisStore } = await import('connect-redis')
      const client = createClient({ url: redisUrl, database: ENUMERATION_DB })
      await client.connect()
      layout = { prefix: 'enum-cr:' }
      store = new ConnectRedisStore({ client, prefix: layout.prefix })
      store.closeClient = () => client.close()
    }
  } else if (job.backend === 'mysql' && pool) {
    if (job.subject === 'ours') {
      const { MySQLStore } = await import('@session-store/mysql')
      layout = { prefix: 'enum:', table: 'bench_enum_sessions' }
      store = new MySQLStore(pool, { table: layout.table, prefix: layout.prefix })
      await store.get('create-the-table')
      await store.clear()
    } else {
      const ExpressMySQLStore = (await import('express-mysql-session')).default(session)
      layout = { prefix: '', table: 'bench_enum_ems_sessions' }
      store = new ExpressMySQLStore({ schema: { tableName: layout.table } }, pool)
      await store.onReady()
      await store.clear()
    }
  } else throw new Error(`no server for ${job.backend}`)

  const ours = job.subject === 'ours'
  // ids(): ours streams an async iterable; connect-redis resolves one array.
  /** @type {(() => Promise<number | string[]>) | undefined} */
  const listIds = ours
    ? async () => {
        let seen = 0
        for await (const _id of store.ids()) seen++
        return seen
      }
    : typeof store.ids === 'function'
      ? async () => /** @type {string[]} */ (await store.ids())
      : undefined
  const countIds =
    listIds &&
    (async () => {
      const ids = await listIds()
      return typeof ids === 'number' ? ids : ids.length
    })
  const countSessions = async () => Number(await store.length())
  const clearAll = async () => {
    await store.clear()
    return countSessions()
  }
  /** @type {Record<string, { ms: number, peakBytes: number, result: number } | { skipped: string }>} */
  const operations = {}
  try {
    await fill(job, { redis, pool }, layout)
    // First the timed pass (clear last, since it empties the store), then the memory pass on
    // a refilled store.
    const ids = countIds && (await timed(countIds))
    const length = await timed(countSessions)
    const clear = await timed(clearAll)
    await fill(job, { redis, pool }, layout)
    operations.ids =
      ids && listIds
        ? { ms: ids.ms, result: ids.value, peakBytes: await peakLiveHeap(listIds) }
        : { skipped: 'no ids()' }
    operations.length = { ms: length.ms, result: length.value, peakBytes: await peakLiveHeap(countSessions) }
    operations.clear = { ms: clear.ms, result: clear.value, peakBytes: await peakLiveHeap(clearAll) }
  } finally {
    // Our stores and express-mysql-session leave a client passed in open.
    if (store.closeClient) await store.closeClient()
    else await store.close()
    redis?.disconnect()
    await pool?.end()
  }
  return { count: job.count, operations }
}

const job = JSON.parse(process.argv[2] ?? '{}')
try {
  const result = job.mode === 'memory' ? await memory(job) : await enumeration(job)
  process.stdout.write(`${JSON.stringify(result)}\n`)
  process.exit(0)
} catch (error) {
  process.stdout.write(`${JSON.stringify({ failed: /** @type {Error} */ (error).stack ?? String(error) })}\n`)
  process.exit(1)
}
