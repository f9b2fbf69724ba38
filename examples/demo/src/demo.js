// @ts-check
// The whole demo: several app instances sharing one session store, behind a round-robin
// proxy. main.js is the command line around it; tests call startDemo directly.
import { randomBytes } from 'node:crypto'
import http from 'node:http'
import { createApp } from './app.js'
import { listen, startProxy } from './proxy.js'
import { openStore, STORE_KINDS } from './stores.js'

/** @typedef {import('./stores.js').StoreKind} StoreKind */

/**
 * What `startDemo` accepts; every option has a default.
 * @typedef {object} DemoOptions
 * @property {number} [port=3000] The proxy's port on 127.0.0.1. 0 picks a free one, and so
 *   does a taken port (the result's `port` says which).
 * @property {number} [instances=2] How many app instances to run.
 * @property {StoreKind} [store='memory'] Where sessions live.
 * @property {string} [secret] The cookie secret all instances share; by default a random one
 *   per run.
 * @property {NodeJS.ProcessEnv} [env=process.env] Where the backends' URLs are read.
 */

/**
 * A running demo.
 * @typedef {object} Demo
 * @property {string} url The proxy's URL: the one to open.
 * @property {number} port The proxy's port.
 * @property {{ name: string, url: string }[]} instances Each instance, reachable directly too.
 * @property {StoreKind} storeKind Where sessions live.
 * @property {import('@session-store/core').BaseStore} store The store the instances share.
 * @property {() => Promise<void>} close Stops the proxy and the instances, then closes the
 *   store. Calling it again returns the same promise.
 */

/**
 * Starts the instances and the proxy in front of them.
 * @param {DemoOptions} [options]
 * @returns {Promise<Demo>}
 */
export async function startDemo(options = {}) {
  const {
    port = 3000,
    instances = 2,
    store: kind = 'memory',
    secret = randomBytes(32).toString('hex'),
    env = process.env,
  } = options
  if (!Number.isInteger(instances) || instances < 1) {
    throw new TypeError(`instances must be a whole number >= 1, got ${instances}`)
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new TypeError(`port must be a whole number from 0 to 65535, got ${port}`)
  }
  if (!STORE_KINDS.includes(kind)) {
    throw new TypeError(`store must be one of ${STORE_KINDS.join(', ')}, got ${JSON.stringify(kind)}`)
  }

  const store = await openStore(kind, env)
  /** @type {http.Server[]} */
  const servers = []
  /** @type {Awaited<ReturnType<typeof startProxy>> | undefined} */
  let proxy
  /** @type {Promise<void> | undefined} */
  let closing
  // Front to back: no new requests, then no instances, then the store.
  const close = () =>
    (closing ??= (async () => {
      await proxy?.close()
      await Promise.all(servers.map(stopServer))
      await store.close()
    })())

  try {
    // Fail now, with the store's own message, rather than on the first visit.
    await store.get('startup-check')
    /** @type {Demo['instances']} */
    const started = []
    for (let i = 1; i <= instances; i++) {
      const name = `app-${i}`
      const server = http.createServer(createApp({ name, store, secret }))
      servers.push(server)
      started.push({ name, url: `http://127.0.0.1:${await listen(server, 0)}` })
    }
    proxy = await startProxy({ targets: started.map((instance) => instance.url), port })
    return {
      url: `http://127.0.0.1:${proxy.port}`,
      port: proxy.port,
      instances: started,
      storeKind: kind,
      store,
      close,
    }
  } catch (err) {
    await close().catch(() => {})
    throw err
  }
}

/**
 * Closes a server and drops its open connections (the proxy's keep-alive ones included).
 * @param {http.Server} server
 * @returns {Promise<void>}
 */
function stopServer(server) {
  if (!server.listening) return Promise.resolve()
  const closed = new Promise((resolve) => server.close(() => resolve(undefined)))
  server.closeAllConnections()
  return /** @type {Promise<void>} */ (closed)
}
