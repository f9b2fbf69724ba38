// @ts-check
// The subjects: for each backend our store, the stores users would pick instead, and the raw
// client doing the same single round trip. Every subject is driven through the callback API
// express-session uses (get/set/touch/destroy with a trailing callback), so the comparison
// measures the stores and not the way they are called.
//
// Fairness rules kept here, in one place:
// - every subject gets a client (or pool) of its own, created with the same settings as the
//   others on that backend: ioredis and node-redis with their defaults (no auto-pipelining
//   flag for anyone), mysql2 pools of MYSQL_POOL_SIZE connections, pg pools (knex's too) of
//   PG_POOL_SIZE, memcached's defaults;
// - the raw clients do the same round trip as our store (Redis GET / SET PX / PEXPIRE / DEL,
//   memcached get/set/touch/delete, the same four SQL statements on the same table as ours)
//   plus plain JSON.stringify/JSON.parse, the least any session store has to do;
// - prefixes differ per subject so that subjects never see each other's keys.

import { tracingChannel } from 'node:diagnostics_channel'
import { mkdirSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { promisify } from 'node:util'
import { MemoryStore } from '@session-store/core'
import { MySQLStore } from '@session-store/mysql'
import { PostgresStore } from '@session-store/postgres'
import { RedisStore } from '@session-store/redis'
import { SQLiteStore } from '@session-store/sqlite'
import connectMemcached from 'connect-memcached'
import connectPgSimple from 'connect-pg-simple'
import { RedisStore as ConnectRedisStore } from 'connect-redis'
import { ConnectSessionKnexStore } from 'connect-session-knex'
import expressMysqlSession from 'express-mysql-session'
import session from 'express-session'
import { Redis } from 'ioredis'
import knex from 'knex'
import koaRedis from 'koa-redis'
import Memcached from 'memcached'
import mysqlCallbacks from 'mysql2'
import mysql from 'mysql2/promise'
import pg from 'pg'
import { createClient as createNodeRedisClient } from 'redis'
import sessionFileStore from 'session-file-store'

/** Connections in every mysql2 pool: the same for our store, the alternative and the raw client. */
export const MYSQL_POOL_SIZE = 10

/** The table our MySQL store uses in the benchmarks; the raw client uses it too. */
export const MYSQL_TABLE = 'bench_sessions'

/** express-mysql-session's own table (its schema differs from ours). */
export const EMS_TABLE = 'bench_ems_sessions'

/** Connections in every PostgreSQL pool (pg's and knex's): the same for every subject. */
export const PG_POOL_SIZE = 10

/** The table our PostgreSQL store uses in the benchmarks; the raw client uses it too. */
export const PG_TABLE = 'bench_sessions'

/** connect-pg-simple's own table (its schema differs from ours). */
export const CPS_TABLE = 'bench_cps_sessions'

/** connect-session-knex's own table. */
export const KNEX_TABLE = 'bench_knex_sessions'

/**
 * @typedef {(err?: Error | null, value?: any) => void} Callback
 * @typedef {Record<string, any>} Session
 * @typedef {object} CallbackStore what express-session calls on a store
 * @property {(sid: string, cb: Callback) => void} get
 * @property {(sid: string, session: Session, cb: Callback) => void} set
 * @property {(sid: string, cb: Callback) => void} destroy
 * @property {((sid: string, session: Session, cb: Callback) => void) | undefined} [touch]
 * @typedef {object} Instance one live subject
 * @property {CallbackStore} store the callback API, for store-level workloads
 * @property {any} [express] the object to hand to express-session, when it is an Express store
 * @property {any} [koa] the object to hand to koa-generic-session, when it works there
 * @property {any} [native] the store object itself (enumeration calls its own methods)
 * @property {() => Promise<void>} close releases clients and timers
 * @typedef {'ours' | 'alt' | 'raw' | 'feature' | 'reference'} Role a feature is our store with one option on; a reference is compared with, without a target
 * @typedef {object} Subject
 * @property {string} name short label used in tables
 * @property {string} backend redis | memcached | mysql | postgres | mongodb | sqlite | memory
 * @property {Role} role
 * @property {string} package the npm package whose version the report shows
 * @property {(options?: { touchAfter?: number, hashSids?: boolean }) => Promise<Instance>} create
 * @property {string} [unavailable] why the subject cannot run here
 * @typedef {{ redis?: string, memcached?: string, mysql?: string, postgres?: string, mongodb?: string, sqlite?: string }} ServerUrls
 *   sqlite: a directory of the run's own, where each subject keeps its files
 */

const require = createRequire(import.meta.url)

// ---------------------------------------------------------------------------------------------
// Shared helpers.

/** The ms left until the cookie's expiry, as our store and connect-redis compute it. */
function cookieTtlMs(/** @type {Session} */ sess) {
  const expires = sess.cookie?.expires
  if (expires instanceof Date) return expires.getTime() - Date.now()
  if (typeof expires === 'string') return Date.parse(expires) - Date.now()
  return sess.cookie?.originalMaxAge ?? 86_400_000
}

/**
 * The callback API over a store whose methods return promises (koa-redis). The adapter costs
 * one `.then` per call, which is what any Express user of such a store would add.
 * @param {{ get(sid: string): Promise<any>, set(sid: string, s: Session, ttl?: number): Promise<any>, destroy(sid: string): Promise<any> }} store
 * @param {string} prefix added to every sid, as koa-generic-session does
 * @returns {CallbackStore}
 */
function callbacksOverPromises(store, prefix) {
  return {
    get: (sid, cb) => void store.get(prefix + sid).then((v) => cb(null, v ?? null), cb),
    set: (sid, sess, cb) => void store.set(prefix + sid, sess, cookieTtlMs(sess)).then(() => cb(null), cb),
    destroy: (sid, cb) => void store.destroy(prefix + sid).then(() => cb(null), cb),
  }
}

/**
 * What is needed to use a callback store in koa-generic-session: promises, and `set`'s third
 * argument (a ttl in ms) dropped, since connect-memcached reads the cookie itself.
 * @param {any} store
 */
function promisesOverCallbacks(store) {
  const get = promisify(store.get.bind(store))
  const set = promisify(store.set.bind(store))
  const destroy = promisify(store.destroy.bind(store))
  return {
    get: (/** @type {string} */ sid) => get(sid).then((/** @type {unknown} */ v) => v ?? null),
    set: (/** @type {string} */ sid, /** @type {Session} */ sess) => set(sid, sess),
    destroy: (/** @type {string} */ sid) => destroy(sid),
  }
}

/** Loads a module that may not be built yet; undefined (with the reason) when it is missing. */
async function optionalImport(/** @type {string} */ specifier) {
  try {
    return { module: await import(specifier) }
  } catch (error) {
    return {
      reason: `${specifier} could not be loaded (${/** @type {Error} */ (error).message.split('\n')[0]})`,
    }
  }
}

/** Closes an ioredis client: QUIT, then a hard disconnect. */
async function quitIoredis(/** @type {Redis} */ client) {
  await client.quit().catch(() => {})
  client.disconnect()
}

// ---------------------------------------------------------------------------------------------
// Redis.

/**
 * @param {string} url
 * @returns {Subject[]}
 */
function redisSubjects(url) {
  return [
    {
      name: 'ours',
      backend: 'redis',
      role: 'ours',
      package: '@session-store/redis',
      async create(options = {}) {
        const client = new Redis(url)
        const store = new RedisStore(client, { prefix: 'ours:', ...options })
        await client.ping()
        return {
          store,
          express: store,
          koa: store,
          native: store,
          close: async () => {
            await store.close()
            await quitIoredis(client)
          },
        }
      },
    },
    {
      name: 'connect-redis',
      backend: 'redis',
      role: 'alt',
      package: 'connect-redis',
      async create() {
        const client = createNodeRedisClient({ url })
        client.on('error', () => {})
        await client.connect()
        const store = new ConnectRedisStore({ client, prefix: 'cr:' })
        return {
          store: /** @type {CallbackStore} */ (/** @type {unknown} */ (store)),
          express: store,
          native: store,
          close: async () => {
            await client.close()
          },
        }
      },
    },
    {
      name: 'koa-redis',
      backend: 'redis',
      role: 'alt',
      package: 'koa-redis',
      async create() {
        // The same ioredis (version and settings) as our store, passed in as koa-redis allows.
        const client = new Redis(url)
        const store = koaRedis({ client })
        await client.ping()
        return {
          store: callbacksOverPromises(store, 'koa:sess:'),
          koa: store,
          native: store,
          close: () => quitIoredis(client),
        }
      },
    },
    {
      name: 'raw ioredis',
      backend: 'redis',
      role: 'raw',
      package: 'ioredis',
      async create() {
        const client = new Redis(url)
        await client.ping()
        const key = (/** @type {string} */ sid) => `raw:${sid}`
        /** @type {CallbackStore} */
        const store = {
          get: (sid, cb) =>
            void client.get(key(sid), (err, text) => {
              if (err) cb(err)
              else cb(null, text == null ? null : JSON.parse(text))
            }),
          set: (sid, sess, cb) =>
            void client.set(key(sid), JSON.stringify(sess), 'PX', Math.ceil(cookieTtlMs(sess)), (err) =>
              cb(err),
            ),
          touch: (sid, sess, cb) =>
            void client.pexpire(key(sid), Math.ceil(cookieTtlMs(sess)), (err) => cb(err)),
          destroy: (sid, cb) => void client.del(key(sid), (err) => cb(err)),
        }
        return { store, close: () => quitIoredis(client) }
      },
    },
  ]
}

// ---------------------------------------------------------------------------------------------
// Memcached.

/**
 * @param {string} servers `host:port`, or several separated by commas
 * @returns {Promise<Subject[]>}
 */
async function memcachedSubjects(servers) {
  const hosts = servers.split(',')
  const ours = await optionalImport('@session-store/memcached')
  const ConnectMemcachedStore = connectMemcached(session)
  return [
    {
      name: 'ours',
      backend: 'memcached',
      role: 'ours',
      package: '@session-store/memcached',
      unavailable: ours.reason,
      async create(options = {}) {
        const { MemcachedStore } = /** @type {any} */ (ours.module)
        const store = new MemcachedStore(hosts, { prefix: 'ours:', ...options })
        return { store, express: store, koa: store, native: store, close: () => store.close() }
      },
    },
    {
      name: 'connect-memcached',
      backend: 'memcached',
      role: 'alt',
      package: 'connect-memcached',
      async create() {
        const store = new ConnectMemcachedStore({ hosts, prefix: 'cm:' })
        return {
          store,
          express: store,
          // koa-generic-session needs promises; connect-memcached only speaks callbacks.
          koa: promisesOverCallbacks(store),
          native: store,
          close: async () => store.client.end(),
        }
      },
    },
    {
      name: 'raw memcached',
      backend: 'memcached',
      role: 'raw',
      package: 'memcached',
      async create() {
        const client = new Memcached(hosts)
        const key = (/** @type {string} */ sid) => `raw:${sid}`
        const seconds = (/** @type {Session} */ sess) => Math.ceil(cookieTtlMs(sess) / 1000)
        /** @type {CallbackStore} */
        const store = {
          get: (sid, cb) =>
            client.get(
              key(sid),
              (/** @type {Error | undefined} */ err, /** @type {string | undefined} */ text) => {
                if (err) cb(err)
                else cb(null, text == null ? null : JSON.parse(text))
              },
            ),
          set: (sid, sess, cb) =>
            client.set(
              key(sid),
              JSON.stringify(sess),
              seconds(sess),
              (/** @type {Error | undefined} */ err) => cb(err),
            ),
          touch: (sid, sess, cb) =>
            client.touch(key(sid), seconds(sess), (/** @type {Error | undefined} */ err) => cb(err)),
          destroy: (sid, cb) => client.del(key(sid), (/** @type {Error | undefined} */ err) => cb(err)),
        }
        return { store, close: async () => client.end() }
      },
    },
  ]
}

// ---------------------------------------------------------------------------------------------
// MySQL / MariaDB.

/** Our table's layout, so the raw client can work on the same table even when it runs first. */
const OUR_TABLE_DDL = `CREATE TABLE IF NOT EXISTS \`${MYSQL_TABLE}\` (
  \`id\` VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  \`expires\` BIGINT NOT NULL,
  \`data\` MEDIUMTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  \`full_id\` TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
  PRIMARY KEY (\`id\`),
  KEY \`expires_index\` (\`expires\`)
) ENGINE=InnoDB`

/**
 * @param {string} url
 * @returns {Subject[]}
 */
function mysqlSubjects(url) {
  const poolOptions = { uri: url, connectionLimit: MYSQL_POOL_SIZE }
  const ExpressMySQLStore = expressMysqlSession(session)
  return [
    {
      name: 'ours',
      backend: 'mysql',
      role: 'ours',
      package: '@session-store/mysql',
      async create(options = {}) {
        const pool = mysql.createPool(poolOptions)
        const store = new MySQLStore(pool, { table: MYSQL_TABLE, prefix: 'ours:', ...options })
        // The first call creates the table; make it before anything is timed.
        await store.get('warm-up')
        return {
          store,
          express: store,
          koa: store,
          native: store,
          close: async () => {
            await store.close()
            await pool.end()
          },
        }
      },
    },
    {
      name: 'express-mysql-session',
      backend: 'mysql',
      role: 'alt',
      package: 'express-mysql-session',
      async create() {
        const pool = mysql.createPool(poolOptions)
        const store = new ExpressMySQLStore({ schema: { tableName: EMS_TABLE } }, pool)
        await store.onReady()
        return {
          store,
          express: store,
          native: store,
          close: async () => {
            await store.close()
            await pool.end()
          },
        }
      },
    },
    {
      name: 'raw mysql2',
      backend: 'mysql',
      role: 'raw',
      package: 'mysql2',
      async create() {
        const pool = mysqlCallbacks.createPool(poolOptions)
        await pool.promise().query(OUR_TABLE_DDL)
        const t = `\`${MYSQL_TABLE}\``
        const sql = {
          read: `SELECT data FROM ${t} WHERE id = ? AND expires > ?`,
          write: `INSERT INTO ${t} (id, expires, data, full_id) VALUES (?, ?, ?, NULL)
  ON DUPLICATE KEY UPDATE expires = VALUES(expires), data = VALUES(data)`,
          expire: `UPDATE ${t} SET expires = ? WHERE id = ? AND expires > ?`,
          remove: `DELETE FROM ${t} WHERE id = ?`,
        }
        const key = (/** @type {string} */ sid) => `raw:${sid}`
        const expiresAt = (/** @type {Session} */ sess) => Date.now() + Math.ceil(cookieTtlMs(sess))
        /** @type {CallbackStore} */
        const store = {
          get: (sid, cb) =>
            void pool.execute({ sql: sql.read, rowsAsArray: true }, [key(sid), Date.now()], (err, rows) => {
              if (err) return cb(err)
              const row = /** @type {any[][]} */ (rows)[0]
              cb(null, row === undefined ? null : JSON.parse(row[0]))
            }),
          set: (sid, sess, cb) =>
            void pool.execute(sql.write, [key(sid), expiresAt(sess), JSON.stringify(sess)], (err) => cb(err)),
          touch: (sid, sess, cb) =>
            void pool.execute(sql.expire, [expiresAt(sess), key(sid), Date.now()], (err) => cb(err)),
          destroy: (sid, cb) => void pool.execute(sql.remove, [key(sid)], (err) => cb(err)),
        }
        return { store, close: () => pool.promise().end() }
      },
    },
  ]
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL.

/** Our table's layout (as our store creates it), so the raw client can use it even when it runs first. */
const PG_TABLE_DDL = [
  `CREATE TABLE IF NOT EXISTS "public"."${PG_TABLE}" (id text COLLATE "C" PRIMARY KEY, expires bigint NOT NULL, data text NOT NULL)`,
  `CREATE INDEX IF NOT EXISTS "${PG_TABLE}_expires_idx" ON "public"."${PG_TABLE}" (expires)`,
]

/**
 * The SQLSTATEs of a CREATE … IF NOT EXISTS that lost a race with another process creating the
 * same table (subjects start in processes of their own, possibly at once).
 */
const PG_ALREADY_CREATED = new Set(['42P07', '23505'])

/**
 * @param {string} url
 * @returns {Subject[]}
 */
function postgresSubjects(url) {
  const poolOptions = { connectionString: url, max: PG_POOL_SIZE }
  const PGStore = connectPgSimple(session)
  return [
    {
      name: 'ours',
      backend: 'postgres',
      role: 'ours',
      package: '@session-store/postgres',
      async create(options = {}) {
        const pool = new pg.Pool(poolOptions)
        const store = new PostgresStore(pool, { table: PG_TABLE, prefix: 'ours:', ...options })
        // The first call creates the table; make it before anything is timed.
        await store.get('warm-up')
        return {
          store,
          express: store,
          koa: store,
          native: store,
          close: async () => {
            await store.close()
            await pool.end()
          },
        }
      },
    },
    {
      name: 'connect-pg-simple',
      backend: 'postgres',
      role: 'alt',
      package: 'connect-pg-simple',
      async create() {
        const pool = new pg.Pool(poolOptions)
        // Its defaults (pruning every 15 minutes, like ours), and the table it creates itself.
        const store = new PGStore({ pool, tableName: CPS_TABLE, createTableIfMissing: true })
        // The first query creates the table; make it before anything is timed.
        await promisify(store.get.bind(store))('warm-up')
        return {
          store,
          express: store,
          native: store,
          close: async () => {
            // A pool passed in stays open on close().
            await store.close()
            await pool.end()
          },
        }
      },
    },
    {
      name: 'connect-session-knex',
      backend: 'postgres',
      role: 'alt',
      package: 'connect-session-knex',
      async create() {
        const db = knex({ client: 'pg', connection: url, pool: { min: 0, max: PG_POOL_SIZE } })
        const store = new ConnectSessionKnexStore({ knex: db, tableName: KNEX_TABLE })
        await store.ready
        /** @type {CallbackStore} */
        const callbacks = {
          // Its methods call back and then also return a promise that rejects with the same
          // error, which express-session drops (an unhandled rejection ends the process); the
          // adapter drops it too, once the callback has it. Its touch never calls back with an
          // error, only rejects: that goes to the callback.
          get: (sid, cb) => void store.get(sid, cb).catch(() => {}),
          set: (sid, sess, cb) => void store.set(sid, /** @type {any} */ (sess), cb).catch(() => {}),
          touch: (sid, sess, cb) =>
            void store.touch(sid, /** @type {any} */ (sess), () => cb(null)).catch(cb),
          destroy: (sid, cb) => void store.destroy(sid, cb).catch(() => {}),
        }
        return {
          store: callbacks,
          express: store,
          native: store,
          close: async () => {
            // No close(): its cleanup timer (unref'd) would otherwise run on a destroyed knex.
            clearTimeout(store.nextDbCleanup)
            await db.destroy()
          },
        }
      },
    },
    {
      name: 'raw pg',
      backend: 'postgres',
      role: 'raw',
      package: 'pg',
      async create() {
        const pool = new pg.Pool(poolOptions)
        for (const ddl of PG_TABLE_DDL) {
          await pool.query(ddl).catch((/** @type {any} */ err) => {
            if (!PG_ALREADY_CREATED.has(err?.code)) throw err
          })
        }
        const t = `"public"."${PG_TABLE}"`
        // Named statements, as our store sends them: pg parses each once per connection.
        const sql = {
          read: { name: 'raw_read', text: `SELECT data FROM ${t} WHERE id = $1 AND expires > $2` },
          write: {
            name: 'raw_write',
            text: `INSERT INTO ${t} (id, expires, data) VALUES ($1, $2, $3)
  ON CONFLICT (id) DO UPDATE SET expires = EXCLUDED.expires, data = EXCLUDED.data`,
          },
          expire: { name: 'raw_expire', text: `UPDATE ${t} SET expires = $2 WHERE id = $1 AND expires > $3` },
          remove: { name: 'raw_remove', text: `DELETE FROM ${t} WHERE id = $1` },
        }
        const key = (/** @type {string} */ sid) => `raw:${sid}`
        const expiresAt = (/** @type {Session} */ sess) => Date.now() + Math.ceil(cookieTtlMs(sess))
        /** @type {CallbackStore} */
        const store = {
          get: (sid, cb) =>
            void pool.query({ ...sql.read, values: [key(sid), Date.now()] }, (err, result) => {
              if (err) return cb(err)
              const row = result.rows[0]
              cb(null, row === undefined ? null : JSON.parse(row.data))
            }),
          set: (sid, sess, cb) =>
            void pool.query(
              { ...sql.write, values: [key(sid), expiresAt(sess), JSON.stringify(sess)] },
              (err) => cb(err),
            ),
          touch: (sid, sess, cb) =>
            void pool.query({ ...sql.expire, values: [key(sid), expiresAt(sess), Date.now()] }, (err) =>
              cb(err),
            ),
          destroy: (sid, cb) => void pool.query({ ...sql.remove, values: [key(sid)] }, (err) => cb(err)),
        }
        return { store, close: () => pool.end() }
      },
    },
  ]
}

// ---------------------------------------------------------------------------------------------
// MongoDB (MONGO_URL, else a private FerretDB).

/**
 * @param {string} url
 * @returns {Promise<Subject[]>}
 */
async function mongoSubjects(url) {
  const ours = await optionalImport('@session-store/mongodb')
  const { MongoClient } = await import('mongodb')
  const connectMongo = (await import('connect-mongo')).default
  const dbName = 'session_store_bench'
  return [
    {
      name: 'ours',
      backend: 'mongodb',
      role: 'ours',
      package: '@session-store/mongodb',
      unavailable: ours.reason,
      async create(options = {}) {
        const { MongoStore } = /** @type {any} */ (ours.module)
        const client = await new MongoClient(url).connect()
        const store = new MongoStore(client, { dbName, collection: 'ours', ...options })
        await store.get('warm-up')
        return {
          store,
          express: store,
          koa: store,
          native: store,
          close: async () => {
            await store.close()
            await client.close()
          },
        }
      },
    },
    {
      name: 'connect-mongo',
      backend: 'mongodb',
      role: 'alt',
      package: 'connect-mongo',
      async create() {
        const client = await new MongoClient(url).connect()
        // connect-mongo's default (autoRemove 'native') creates a TTL index without waiting for
        // it; a server that refuses TTL indexes (FerretDB 1.x) turns that into an unhandled
        // rejection that ends the process. Its users on such servers set autoRemove 'interval',
        // so the bench does the same there, and keeps the default everywhere else.
        const ttlIndexes = await client
          .db(dbName)
          .collection('ttl_probe')
          .createIndex({ expires: 1 }, { expireAfterSeconds: 0 })
          .then(
            () => true,
            () => false,
          )
        const autoRemove = ttlIndexes ? {} : { autoRemove: /** @type {const} */ ('interval') }
        const store = connectMongo.create({ client, dbName, collectionName: 'connect_mongo', ...autoRemove })
        return {
          store: /** @type {CallbackStore} */ (/** @type {unknown} */ (store)),
          express: store,
          native: store,
          close: async () => {
            await client.close()
          },
        }
      },
    },
    {
      name: 'raw mongodb',
      backend: 'mongodb',
      role: 'raw',
      package: 'mongodb',
      async create() {
        const client = await new MongoClient(url).connect()
        /** @type {import('mongodb').Collection<{ _id: string, session: string, expires: Date }>} */
        const sessions = client.db(dbName).collection('raw')
        const expiresAt = (/** @type {Session} */ sess) => new Date(Date.now() + cookieTtlMs(sess))
        // What our store sends on this server. FerretDB 1.x finds a document by its `_id` index
        // only when `_id` is the whole filter ({ _id, expires } scans the collection), so there
        // our store reads by `_id` and checks `expires` itself, and touches with a read by `_id`
        // then an update by `_id`; so does the raw client, which would otherwise measure the scan.
        const info = await client.db('admin').command({ buildInfo: 1 })
        const byIdOnly = typeof info.ferretdbVersion === 'string' && /^v?1\./.test(info.ferretdbVersion)
        const live = (/** @type {{ expires?: unknown } | null} */ doc) =>
          doc !== null && doc.expires instanceof Date && doc.expires.getTime() > Date.now()
        /** @type {CallbackStore} */
        const store = {
          get: byIdOnly
            ? (sid, cb) =>
                void sessions
                  .findOne({ _id: sid }, { projection: { _id: 0, session: 1, expires: 1 } })
                  .then((doc) => cb(null, doc !== null && live(doc) ? JSON.parse(doc.session) : null), cb)
            : (sid, cb) =>
                void sessions
                  .findOne({ _id: sid, expires: { $gt: new Date() } })
                  .then((doc) => cb(null, doc === null ? null : JSON.parse(doc.session)), cb),
          set: (sid, sess, cb) =>
            void sessions
              .updateOne(
                { _id: sid },
                { $set: { session: JSON.stringify(sess), expires: expiresAt(sess) } },
                { upsert: true },
              )
              .then(() => cb(null), cb),
          touch: byIdOnly
            ? (sid, sess, cb) =>
                void sessions
                  .findOne({ _id: sid }, { projection: { _id: 0, expires: 1 } })
                  .then((doc) =>
                    live(doc)
                      ? sessions
                          .updateOne({ _id: sid }, { $set: { expires: expiresAt(sess) } })
                          .then(() => {})
                      : undefined,
                  )
                  .then(() => cb(null), cb)
            : (sid, sess, cb) =>
                void sessions
                  .updateOne(
                    { _id: sid, expires: { $gt: new Date() } },
                    { $set: { expires: expiresAt(sess) } },
                  )
                  .then(() => cb(null), cb),
          destroy: (sid, cb) => void sessions.deleteOne({ _id: sid }).then(() => cb(null), cb),
        }
        return { store, close: () => client.close() }
      },
    },
  ]
}

// ---------------------------------------------------------------------------------------------
// The cost of options against off: our store again, with one option on. Reported as the
// variant's rate over our store's, in the same run (1.00: free).

/** Subscribes a do-nothing subscriber to every operation's tracing channel, in this process. */
function subscribeTracing() {
  const nothing = { start() {}, end() {}, asyncStart() {}, asyncEnd() {}, error() {} }
  for (const operation of ['get', 'set', 'touch', 'destroy']) {
    tracingChannel(`session-store:${operation}`).subscribe(nothing)
  }
}

/**
 * `ours hashSids` and `ours traced` (a diagnostics_channel subscriber listening) for a backend.
 * @param {Subject} ours
 * @returns {Subject[]}
 */
function featureVariants(ours) {
  return [
    {
      ...ours,
      name: 'ours hashSids',
      role: 'feature',
      create: (options = {}) => ours.create({ ...options, hashSids: true }),
    },
    {
      ...ours,
      name: 'ours traced',
      role: 'feature',
      create: (options) => {
        subscribeTracing()
        return ours.create(options)
      },
    },
  ]
}

// ---------------------------------------------------------------------------------------------
// SQLite (node:sqlite), and files.

/**
 * Each subject on a file of its own in `dir` (a directory of the run's own), so that no subject
 * waits for another's lock; every one writes to the local disk with the same durability as
 * ours (WAL, synchronous=NORMAL: no fsync per commit). Our MemoryStore is there as the ceiling
 * of a store in this process, without a target.
 * @param {string} dir
 * @returns {Subject[]}
 */
function sqliteSubjects(dir) {
  const FileStore = sessionFileStore(session)
  return [
    {
      name: 'ours',
      backend: 'sqlite',
      role: 'ours',
      package: '@session-store/sqlite',
      async create(options = {}) {
        const store = new SQLiteStore(join(dir, 'ours.db'), { prefix: 'ours:', ...options })
        // The first call sets the file up (WAL, the table); make it before anything is timed.
        await store.get('warm-up')
        return { store, express: store, koa: store, native: store, close: () => store.close() }
      },
    },
    {
      name: 'session-file-store',
      backend: 'sqlite',
      role: 'alt',
      package: 'session-file-store',
      async create() {
        const path = join(dir, 'file-store')
        mkdirSync(path, { recursive: true })
        // Defaults, except: no retries (by default a missing file is read 6 times over 300 ms,
        // which is what a miss would then measure) and no log line per miss.
        const store = new FileStore({ path, retries: 0, logFn: () => {} })
        /** @type {CallbackStore} */
        const callbacks = {
          // express-session reads ENOENT as "no session"; so does this adapter.
          get: (sid, cb) =>
            store.get(sid, (/** @type {any} */ err, /** @type {any} */ value) =>
              err?.code === 'ENOENT' ? cb(null, null) : cb(err, value),
            ),
          set: (sid, sess, cb) => store.set(sid, sess, cb),
          touch: (sid, sess, cb) => store.touch(sid, sess, cb),
          destroy: (sid, cb) => store.destroy(sid, cb),
        }
        return { store: callbacks, express: store, native: store, close: async () => {} }
      },
    },
    {
      name: 'MemoryStore',
      backend: 'sqlite',
      role: 'reference',
      package: '@session-store/core',
      async create(options = {}) {
        const store = new MemoryStore(options)
        return { store, express: store, koa: store, native: store, close: () => store.close() }
      },
    },
    {
      name: 'raw node:sqlite',
      backend: 'sqlite',
      role: 'raw',
      package: 'node:sqlite',
      async create() {
        const db = new DatabaseSync(join(dir, 'raw.db'))
        db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 10;
CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY NOT NULL, expires INTEGER NOT NULL, data TEXT NOT NULL) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sessions_expires ON sessions (expires);`)
        const read = db.prepare('SELECT data FROM sessions WHERE id = ? AND expires > ?')
        const write = db.prepare(`INSERT INTO sessions (id, expires, data) VALUES (?, ?, ?)
  ON CONFLICT (id) DO UPDATE SET expires = excluded.expires, data = excluded.data`)
        const expire = db.prepare('UPDATE sessions SET expires = ? WHERE id = ? AND expires > ?')
        const remove = db.prepare('DELETE FROM sessions WHERE id = ?')
        const key = (/** @type {string} */ sid) => `raw:${sid}`
        const expiresAt = (/** @type {Session} */ sess) => Date.now() + Math.ceil(cookieTtlMs(sess))
        /**
         * The statement's answer on the next microtask, as any callback store gives it (never
         * synchronously, which would turn the closed loop into recursion).
         * @param {Callback} cb
         * @param {() => unknown} work
         */
        const answer = (cb, work) => {
          let value
          try {
            value = work()
          } catch (err) {
            queueMicrotask(() => cb(/** @type {Error} */ (err)))
            return
          }
          queueMicrotask(() => cb(null, value))
        }
        /** @type {CallbackStore} */
        const store = {
          get: (sid, cb) =>
            answer(cb, () => {
              const row = read.get(key(sid), Date.now())
              return row === undefined ? null : JSON.parse(/** @type {string} */ (row.data))
            }),
          set: (sid, sess, cb) =>
            answer(cb, () => void write.run(key(sid), expiresAt(sess), JSON.stringify(sess))),
          touch: (sid, sess, cb) => answer(cb, () => void expire.run(expiresAt(sess), key(sid), Date.now())),
          destroy: (sid, cb) => answer(cb, () => void remove.run(key(sid))),
        }
        return { store, close: async () => db.close() }
      },
    },
  ]
}

// ---------------------------------------------------------------------------------------------
// In memory.

/** @returns {Subject[]} */
function memorySubjects() {
  return [
    {
      name: 'ours',
      backend: 'memory',
      role: 'ours',
      package: '@session-store/core',
      async create(options = {}) {
        const store = new MemoryStore(options)
        return { store, express: store, koa: store, native: store, close: () => store.close() }
      },
    },
    {
      name: 'express-session MemoryStore',
      backend: 'memory',
      role: 'alt',
      package: 'express-session',
      async create() {
        const store = new session.MemoryStore()
        return {
          store: /** @type {CallbackStore} */ (/** @type {unknown} */ (store)),
          express: store,
          native: store,
          close: async () => {},
        }
      },
    },
  ]
}

/**
 * Every subject for every backend that has a server, in a fixed order per backend: ours, the
 * alternatives, the raw client.
 * @param {ServerUrls} urls
 * @returns {Promise<Record<string, Subject[]>>}
 */
export async function allSubjects(urls) {
  /** @type {Record<string, Subject[]>} */
  const byBackend = { memory: withFeatures(memorySubjects()) }
  if (urls.redis) byBackend.redis = withFeatures(redisSubjects(urls.redis))
  if (urls.memcached) byBackend.memcached = await memcachedSubjects(urls.memcached)
  if (urls.mysql) byBackend.mysql = mysqlSubjects(urls.mysql)
  if (urls.postgres) byBackend.postgres = postgresSubjects(urls.postgres)
  if (urls.mongodb) byBackend.mongodb = await mongoSubjects(urls.mongodb)
  if (urls.sqlite) byBackend.sqlite = sqliteSubjects(urls.sqlite)
  return byBackend
}

/**
 * The subjects, with the option variants of our store after them.
 * @param {Subject[]} subjects
 */
function withFeatures(subjects) {
  const ours = subjects.find((s) => s.role === 'ours')
  return ours ? [...subjects, ...featureVariants(ours)] : subjects
}

/**
 * The installed version of a package, as its package.json says (resolved from bench/).
 * @param {string} name
 */
export function versionOf(name) {
  try {
    return /** @type {{ version: string }} */ (require(`${name}/package.json`)).version
  } catch {
    try {
      // Some packages do not export their package.json; find it next to the entry point.
      const entry = require.resolve(name)
      const root = entry.slice(
        0,
        entry.lastIndexOf(`/node_modules/${name}/`) + `/node_modules/${name}/`.length,
      )
      return /** @type {{ version: string }} */ (require(`${root}package.json`)).version
    } catch {
      return 'unknown'
    }
  }
}
