import { randomUUID } from 'node:crypto'
import { runConformanceCli } from '@session-store/conformance'
import {
  type BackendName,
  type ServerFound,
  server,
  skipReason,
  type TcpProxy,
  tcpProxy,
} from '@session-store/conformance/harness'
import { describeConformance } from '@session-store/conformance/vitest'
import { Cluster, type NatMap, Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { RedisStore } from '../src/index.js'
import { collect, literalPattern, scanAll } from './helpers.js'
import { redisTarget } from './target.js'

// Every store the suite creates gets a client of its own, connected through TCP proxies, and
// closes it with the store: C13 takes the backend down by cutting the proxies, whatever server
// the run uses (env, private or Docker).

/** Runs `body` when the run has a server for `backend`, else lists why it is skipped. */
function withServer(backend: BackendName, body: (found: ServerFound) => void): void {
  const found = server(backend)
  if (found) body(found)
  else describe(`conformance: ${backend}`, () => it.skip(`no ${backend} in this run: ${skipReason(backend)}`))
}

withServer('redis', (found) => {
  describeConformance('redis', () => redisTarget(found.url))

  it('passes every clause through the runner CLI too', async () => {
    const target = new URL('./target.ts', import.meta.url)
    const { code, report } = await runConformanceCli(target, { env: { REDIS_URL: found.url } })
    expect(report.results.filter((r) => r.status !== 'passed')).toEqual([])
    expect(code).toBe(0)
  }, 240_000)
})

withServer('redis-cluster', (found) => {
  describeConformance('redis-cluster', async () => {
    // A Cluster client learns the nodes' addresses from the nodes themselves; natMap sends
    // each of them through its own proxy, so cutting the proxies takes the whole cluster down.
    const proxies = await proxyEveryClusterNode(found)
    const all = [...proxies.values()]
    const natMap: NatMap = {}
    for (const [address, proxy] of proxies) natMap[address] = { host: proxy.host, port: proxy.port }
    const startupNodes = all.map(({ host, port }) => ({ host, port }))
    return {
      create: ({ prefix }) =>
        new RedisStore(new Cluster(startupNodes, { natMap }), { prefix, closeClient: true }),
      outage: {
        stop: async () => void (await Promise.all(all.map((proxy) => proxy.cut()))),
        start: async () => void (await Promise.all(all.map((proxy) => proxy.restore()))),
      },
      close: async () => void (await Promise.all(all.map((proxy) => proxy.close()))),
    }
  })

  describe('redis-cluster: enumeration reaches every master', () => {
    let client: Cluster
    let masters: Redis[]
    beforeAll(() => {
      client = new Cluster(found.nodes)
      masters = found.nodes.map((node) => new Redis(node))
    })
    afterAll(async () => {
      await client.quit()
      for (const master of masters) master.disconnect()
    })

    it('ids, all, length and clear see the sessions on every master, and only those', async () => {
      const prefix = `conf-cluster:${randomUUID().slice(0, 8)}:`
      const store = new RedisStore(client, { prefix })
      const neighbour = new RedisStore(client, { prefix: `${prefix.slice(0, -1)}x:` })
      const sids = Array.from({ length: 300 }, (_, i) => `sid-${i}`)
      await Promise.all(sids.map((sid) => store.set(sid, { sid })))
      await neighbour.set('other', { other: true })

      // Read each master directly: the keys really are spread over several of them.
      const perMaster = await Promise.all(
        masters.map(async (master) => (await scanAll(master, `${literalPattern(prefix)}*`)).length),
      )
      expect(perMaster.filter((count) => count > 0).length).toBeGreaterThanOrEqual(2)
      expect(perMaster.reduce((a, b) => a + b, 0)).toBe(sids.length)

      expect((await collect(store.ids())).sort()).toEqual([...sids].sort())
      expect(await store.length()).toBe(sids.length)
      expect((await store.all()).map((session) => session.sid).sort()).toEqual([...sids].sort())
      await store.clear()
      for (const master of masters) expect(await scanAll(master, `${literalPattern(prefix)}*`)).toEqual([])
      expect(await neighbour.get('other')).toEqual({ other: true })
      await neighbour.clear()
      await Promise.all([store.close(), neighbour.close()])
    })
  })
})

withServer('redis-sentinel', (found) => {
  describeConformance('redis-sentinel', async () => {
    // The client asks the sentinels where the master is; natMap routes the answer through a
    // proxy, so C13 cuts the master off while the sentinels stay reachable.
    const { nodes, sentinelMasterName } = found
    const name = sentinelMasterName!
    const probe = new Redis({ ...nodes[0]!, lazyConnect: true })
    const [masterHost, masterPort] = (await probe.call('SENTINEL', 'get-master-addr-by-name', name)) as [
      string,
      string,
    ]
    probe.disconnect()
    const proxy = await tcpProxy({ host: masterHost, port: Number(masterPort) })
    const natMap: NatMap = { [`${masterHost}:${masterPort}`]: { host: proxy.host, port: proxy.port } }
    return {
      create: ({ prefix }) =>
        new RedisStore(new Redis({ sentinels: nodes, name, natMap }), { prefix, closeClient: true }),
      outage: { stop: () => proxy.cut(), start: () => proxy.restore() },
      close: () => proxy.close(),
    }
  })
})

/** One proxy per node of the cluster, keyed by the `host:port` the node announces. */
async function proxyEveryClusterNode(found: ServerFound): Promise<Map<string, TcpProxy>> {
  const probe = new Redis({ host: found.host, port: found.port, lazyConnect: true })
  try {
    const text = (await probe.cluster('NODES')) as string
    const proxies = new Map<string, TcpProxy>()
    for (const line of text.split('\n').filter(Boolean)) {
      // <id> <ip:port@cport[,hostname]> <flags> ...
      const address = line.split(' ')[1]!.split('@')[0]!
      const separator = address.lastIndexOf(':')
      const host = address.slice(0, separator) || found.host
      const port = Number(address.slice(separator + 1))
      proxies.set(`${host}:${port}`, await tcpProxy({ host, port }))
    }
    return proxies
  } finally {
    probe.disconnect()
  }
}
