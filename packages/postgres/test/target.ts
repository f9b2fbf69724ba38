import { randomBytes } from 'node:crypto'
import type { ConformanceTarget } from '@session-store/conformance'
import { type TcpProxy, tcpProxy } from '@session-store/conformance/harness'
import { PostgresStore } from '@session-store/postgres'
import pg from 'pg'

/** Each store's operations are bounded by this; short, so the outage clause stays quick. */
const TIMEOUT = 2000

/**
 * The conformance target for PostgreSQL at `url`, used by the vitest binding and, as this
 * module's default export, by the runner CLI. Every store shares one pool (the documented
 * usage) and one table of its own; the pool reaches the server through a loopback proxy, so
 * C13 can take the backend down by cutting it, whatever server the run uses. Nothing is
 * opened until the first store is created.
 */
export function postgresTarget(url: string | undefined): ConformanceTarget {
  const table = `sessions_conformance_${randomBytes(4).toString('hex')}`
  let setup: Promise<{ proxy: TcpProxy; pool: pg.Pool }> | undefined
  const open = () => {
    setup ??= (async () => {
      if (!url) throw new Error('set POSTGRES_URL to the server to test')
      const target = new URL(url)
      const proxy = await tcpProxy({ host: target.hostname, port: Number(target.port || 5432) })
      target.hostname = proxy.host
      target.port = String(proxy.port)
      const pool = new pg.Pool({ connectionString: target.href, connectionTimeoutMillis: TIMEOUT })
      // Cut connections report here; the stores listen too, but the pool is the target's.
      pool.on('error', () => {})
      return { proxy, pool }
    })()
    return setup
  }
  return {
    create: async ({ prefix }) => {
      const { pool } = await open()
      return new PostgresStore(pool, { prefix, table, timeout: TIMEOUT, pruneInterval: 1000 })
    },
    operationTimeout: TIMEOUT,
    outage: {
      stop: async () => (await open()).proxy.cut(),
      start: async () => (await open()).proxy.restore(),
    },
    async close() {
      if (!setup) return
      const { proxy, pool } = await setup
      await proxy.restore()
      await pool.query(`DROP TABLE IF EXISTS "${table}"`).catch(() => {})
      await pool.end()
      await proxy.close()
    },
  }
}

export default postgresTarget(process.env.POSTGRES_URL)
