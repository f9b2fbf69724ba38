// @ts-check
// The servers the benchmarks run against: the ones named by env URLs, else private instances
// started for this run on free loopback ports (never a server other people use), stopped at
// the end. Without MONGO_URL, MongoDB is a private FerretDB (MongoDB's wire protocol on
// SQLite), as in the test harness: MongoDB's own server cannot be had on every machine.

import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import {
  startFerretdb,
  startMariadb,
  startMemcached,
  startPostgres,
  startRedis,
} from '@session-store/conformance/harness'

/** The SQLite inside this Node. */
function sqliteVersion() {
  const db = new DatabaseSync(':memory:')
  try {
    return String(db.prepare('SELECT sqlite_version() AS v').get()?.v)
  } finally {
    db.close()
  }
}

/**
 * @typedef {import('./subjects.js').ServerUrls} ServerUrls
 * @typedef {object} Servers
 * @property {ServerUrls} urls what clients connect to
 * @property {Record<string, string>} descriptions per backend: where its server came from, or why it is skipped
 * @property {() => Promise<void>} close stops every private server
 */

/**
 * @param {{ backends: string[], log: (line: string) => void }} options
 * @returns {Promise<Servers>}
 */
export async function startServers({ backends, log }) {
  /** @type {ServerUrls} */
  const urls = {}
  /** @type {Record<string, string>} */
  const descriptions = {}
  /** @type {Array<{ close(): Promise<void> }>} */
  const started = []
  const env = process.env

  /**
   * @template {{ url: string, close(): Promise<void> }} S
   * @param {'redis' | 'memcached' | 'mysql' | 'postgres' | 'mongodb'} backend
   * @param {string | undefined} envUrl
   * @param {string} envName
   * @param {() => Promise<S>} start
   * @param {(server: S) => string} [describe] what the server is, where its URL alone does not say
   */
  const provide = async (
    backend,
    envUrl,
    envName,
    start,
    describe = (server) => `private instance on ${server.url}`,
  ) => {
    if (!backends.includes(backend)) return
    if (envUrl) {
      urls[backend] = envUrl
      descriptions[backend] = `${envName}=${envUrl}`
      return
    }
    const t0 = Date.now()
    try {
      const server = await start()
      started.push(server)
      urls[backend] = server.url
      descriptions[backend] = `${describe(server)} (started for this run)`
      log(`  ${backend}: ${server.url} (${Date.now() - t0} ms)`)
    } catch (error) {
      descriptions[backend] = `skipped: ${/** @type {Error} */ (error).message.split('\n')[0]}`
      log(`  ${backend}: ${descriptions[backend]}`)
    }
  }

  try {
    await Promise.all([
      provide('redis', env.REDIS_URL, 'REDIS_URL', startRedis),
      // Room for every session the runs write, so nothing is evicted under a get-hit workload.
      provide('memcached', env.MEMCACHED_SERVERS, 'MEMCACHED_SERVERS', () =>
        startMemcached({ memoryMb: 1024 }),
      ),
      provide('mysql', env.MYSQL_URL, 'MYSQL_URL', startMariadb),
      provide('postgres', env.POSTGRES_URL, 'POSTGRES_URL', startPostgres),
      // The FerretDB the harness finds (PATH, or where `go install` puts it); described as the
      // harness does, since its numbers are FerretDB's on SQLite and not MongoDB's.
      provide(
        'mongodb',
        env.MONGO_URL,
        'MONGO_URL',
        () => startFerretdb(),
        (server) =>
          `FerretDB ${server.version} (MongoDB wire protocol) on ${server.host}:${server.port}, private instance on SQLite`,
      ),
    ])
  } catch (error) {
    await Promise.all(started.map((s) => s.close().catch(() => {})))
    throw error
  }
  if (backends.includes('sqlite')) {
    // No server: a directory of the run's own for the subjects' files, deleted at the end.
    const dir = await mkdtemp(join(tmpdir(), 'session-store-bench-sqlite-'))
    started.push({ close: () => rm(dir, { recursive: true, force: true }) })
    urls.sqlite = dir
    descriptions.sqlite = `node:sqlite (SQLite ${sqliteVersion()}) on files in ${dir}, on the local disk`
  }
  descriptions.memory = 'in process'
  return {
    urls,
    descriptions,
    close: async () => {
      await Promise.all(started.map((s) => s.close().catch(() => {})))
    },
  }
}
