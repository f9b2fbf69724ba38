import { randomBytes } from 'node:crypto'
import { server, type TcpProxy, tcpProxy } from '@session-store/conformance/harness'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PostgresStore } from '../src/index.js'

// A frozen server or a black-holed network, made by the loopback proxy between the pool and
// the server: connections stay open and nothing answers.

const found = server('postgres')
const TIMEOUT = 300

describe.skipIf(!found)('PostgresStore when PostgreSQL stalls', () => {
  let proxy: TcpProxy
  let pool: pg.Pool
  let store: PostgresStore
  const table = `sessions_faults_${randomBytes(4).toString('hex')}`

  beforeAll(async () => {
    const target = new URL(found!.url)
    proxy = await tcpProxy({ host: target.hostname, port: Number(target.port || 5432) })
    target.hostname = proxy.host
    target.port = String(proxy.port)
    pool = new pg.Pool({ connectionString: target.href, connectionTimeoutMillis: TIMEOUT })
    pool.on('error', () => {})
    store = new PostgresStore(pool, { table, timeout: TIMEOUT, pruneInterval: false })
  })

  afterAll(async () => {
    await proxy.restore()
    await store.close()
    await pool.query(`DROP TABLE IF EXISTS "${table}"`).catch(() => {})
    await pool.end()
    await proxy.close()
  })

  it('rejects within the deadline while stalled, reports the outage once the ping fails too, and recovers', async () => {
    await store.set('before', { n: 1 })
    const events: string[] = []
    store.on('disconnect', () => events.push('disconnect'))
    store.on('connect', () => events.push('connect'))
    await proxy.stall()
    const started = Date.now()
    const outcomes = await Promise.allSettled([
      store.get('before'),
      store.set('during', { n: 2 }),
      store.destroy('before'),
    ])
    expect(Date.now() - started).toBeLessThan(TIMEOUT + 500)
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected', 'rejected'])
    for (const outcome of outcomes) {
      expect((outcome as PromiseRejectedResult).reason).toMatchObject({
        code: 'ETIMEOUT',
        backend: 'postgres',
      })
    }
    // The ping after the timeouts gets no answer either: that is an outage.
    await expect.poll(() => events, { timeout: 3000 }).toEqual(['disconnect'])
    await proxy.restore()
    await expect.poll(() => events, { timeout: 10_000 }).toEqual(['disconnect', 'connect'])
    await expect
      .poll(async () => store.set('after', { n: 3 }).then(() => store.get('after')), { timeout: 10_000 })
      .toEqual({ n: 3 })
  }, 30_000)
})
