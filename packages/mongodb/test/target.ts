import type { ConformanceTarget } from '@session-store/conformance'
import { type TcpProxy, tcpProxy } from '@session-store/conformance/harness'
import { MongoStore } from '@session-store/mongodb'
import { MongoClient } from 'mongodb'

/** Each store's operations are bounded by this; short, so the outage clause stays quick. */
const TIMEOUT = 2000

/** The same connection string, pointed at a proxy, talking to that one server directly. */
export function proxiedUrl(url: string, proxy: { host: string; port: number }): string {
  const match = /^mongodb:\/\/([^@/]*@)?[^/?]*(\/[^?]*)?(\?.*)?$/.exec(url)
  if (!match) throw new Error(`cannot proxy ${url}: only mongodb:// connection strings can be proxied`)
  const [, credentials = '', path = '/', query] = match
  const options = query ? `${query}&directConnection=true` : '?directConnection=true'
  return `mongodb://${credentials}${proxy.host}:${proxy.port}${path}${options}`
}

/**
 * The conformance target for the MongoDB at `url`, used by the vitest binding and, as this
 * module's default export, by the runner CLI. Stores reach MongoDB through a loopback proxy,
 * so C13 can cut the connection whatever server the run uses; every store owns its client
 * (it is given a URL), and all of them share one collection of this target, dropped at the
 * end. Nothing is opened until the first store is created.
 */
export function mongoTarget(url: string | undefined): ConformanceTarget {
  const dbName = 'session_store_conformance'
  const collection = `sessions_${process.pid}_${Date.now()}`
  let proxy: Promise<TcpProxy> | undefined
  const open = () => {
    if (!url) throw new Error('set MONGO_URL to the server to test')
    const { hostname, port } = new URL(url.replace(/^mongodb:/, 'http:'))
    proxy ??= tcpProxy({ host: hostname, port: Number(port || 27017) })
    return proxy
  }
  return {
    create: async ({ prefix }) =>
      new MongoStore(proxiedUrl(url!, await open()), { dbName, collection, prefix, timeout: TIMEOUT }),
    operationTimeout: TIMEOUT,
    outage: { stop: async () => (await open()).cut(), start: async () => (await open()).restore() },
    async close() {
      if (!proxy || !url) return
      await (await proxy).close()
      const client = await new MongoClient(url, { serverSelectionTimeoutMS: 5000 }).connect()
      try {
        await client.db(dbName).collection(collection).drop()
      } finally {
        await client.close()
      }
    },
  }
}

export default mongoTarget(process.env.MONGO_URL)
