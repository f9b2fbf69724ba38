import type { ConformanceTarget } from '@session-store/conformance'
import { type TcpProxy, tcpProxy } from '@session-store/conformance/harness'
import { MemcachedStore } from '@session-store/memcached'

/** Each store's operations are bounded by this; short, so the outage clause stays quick. */
const TIMEOUT = 2000

/**
 * The conformance target for the memcached at `server` (`host:port`), used by the vitest
 * binding and, as this module's default export, by the runner CLI. Each store has its own
 * client, connected through a loopback proxy, so C13 can take the backend down by cutting the
 * proxy. memcached cannot enumerate, so the suite skips C9 by the store's capabilities.
 */
export function memcachedTarget(server: string | undefined): ConformanceTarget {
  let proxy: Promise<TcpProxy> | undefined
  const open = () => {
    const [host, port] = (server ?? '').split(':')
    if (!host) throw new Error('set MEMCACHED_SERVERS to the server to test')
    proxy ??= tcpProxy({ host, port: Number(port || 11211) })
    return proxy
  }
  return {
    create: async ({ prefix }) => {
      const { host, port } = await open()
      return new MemcachedStore(`${host}:${port}`, { prefix, timeout: TIMEOUT, healthCheckInterval: 250 })
    },
    operationTimeout: TIMEOUT,
    outage: { stop: async () => (await open()).cut(), start: async () => (await open()).restore() },
    close: async () => {
      if (proxy) await (await proxy).close()
    },
  }
}

export default memcachedTarget(process.env.MEMCACHED_SERVERS?.split(',')[0])
