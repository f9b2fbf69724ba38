import type { ConformanceTarget } from '@session-store/conformance'
import { type TcpProxy, tcpProxy } from '@session-store/conformance/harness'
import { RedisStore } from '@session-store/redis'
import { Redis } from 'ioredis'

/**
 * The conformance target for a standalone Redis at `url`, used by the vitest binding and, as
 * this module's default export, by the runner CLI. Every store gets a client of its own,
 * connected through a loopback proxy, and closes it with the store: C13 takes the backend down
 * by cutting the proxy, whatever server the run uses. Nothing is opened before the first store.
 */
export function redisTarget(url: string | undefined): ConformanceTarget {
  let proxy: Promise<TcpProxy> | undefined
  const open = () => {
    if (!url) throw new Error('set REDIS_URL to the server to test')
    const { hostname, port } = new URL(url)
    proxy ??= tcpProxy({ host: hostname, port: Number(port || 6379) })
    return proxy
  }
  return {
    create: async ({ prefix }) => {
      const { host, port } = await open()
      return new RedisStore(new Redis({ host, port }), { prefix, closeClient: true })
    },
    outage: { stop: async () => (await open()).cut(), start: async () => (await open()).restore() },
    close: async () => {
      if (proxy) await (await proxy).close()
    },
  }
}

export default redisTarget(process.env.REDIS_URL)
