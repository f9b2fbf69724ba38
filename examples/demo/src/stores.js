// @ts-check
// Where the sessions live. Each backend is one line; it is imported only when chosen, so no
// demo needs a database server it does not use. SQLite (the default) is built into Node.
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MemoryStore } from '@session-store/core'

/** @typedef {'sqlite' | 'memory' | 'redis' | 'memcached' | 'mongodb' | 'mysql' | 'postgres'} StoreKind */

/** The store kinds `--store` accepts. */
export const STORE_KINDS = /** @type {const} */ ([
  'sqlite',
  'memory',
  'redis',
  'memcached',
  'mongodb',
  'mysql',
  'postgres',
])

/** The SQLite file the demo's processes share unless `SQLITE_FILE` names another. */
export const DEFAULT_SQLITE_FILE = join(tmpdir(), 'session-store-demo.db')

/**
 * Keeps the demo's sessions apart from any other app's on the same server: every backend store
 * prefixes its keys (and its rows or documents) with this. (MemoryStore's map is its own.)
 */
const options = { prefix: 'session-store-demo:' }

/**
 * Opens the store of the given kind, configured from the environment. Every store returned
 * owns its connection, so its `close()` releases everything.
 * @param {StoreKind} kind
 * @param {NodeJS.ProcessEnv} [env=process.env] Where `SQLITE_FILE`, `REDIS_URL`,
 *   `MEMCACHED_SERVERS` (comma-separated `host:port`), `MONGO_URL` and `MYSQL_URL` are read.
 * @returns {Promise<import('@session-store/core').BaseStore>}
 */
export async function openStore(kind, env = process.env) {
  switch (kind) {
    case 'sqlite': {
      // One file, opened by every process that serves the demo: each has its own connection.
      const { SQLiteStore } = await import('@session-store/sqlite')
      return new SQLiteStore(env.SQLITE_FILE ?? DEFAULT_SQLITE_FILE, options)
    }
    case 'memory':
      // One MemoryStore shared by every instance: this works only because they all run in this
      // process. Separate processes or machines need one of the backends below.
      return new MemoryStore(options)
    case 'redis': {
      const [{ RedisStore }, { Redis }] = await Promise.all([
        import('@session-store/redis'),
        import('ioredis'),
      ])
      // A client passed in stays open on close() unless the store is told to close it.
      return new RedisStore(new Redis(env.REDIS_URL ?? 'redis://127.0.0.1:6379'), {
        ...options,
        closeClient: true,
      })
    }
    case 'memcached': {
      const { MemcachedStore } = await import('@session-store/memcached')
      return new MemcachedStore((env.MEMCACHED_SERVERS ?? '127.0.0.1:11211').split(','), options)
    }
    case 'mongodb': {
      const { MongoStore } = await import('@session-store/mongodb')
      return new MongoStore(env.MONGO_URL ?? 'mongodb://127.0.0.1:27017/session-store-demo', options)
    }
    case 'mysql': {
      const { MySQLStore } = await import('@session-store/mysql')
      return new MySQLStore(env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test', options)
    }
    case 'postgres': {
      const { PostgresStore } = await import('@session-store/postgres')
      return new PostgresStore(env.POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test', options)
    }
    default:
      throw new TypeError(`store must be one of ${STORE_KINDS.join(', ')}, got ${JSON.stringify(kind)}`)
  }
}
