// @ts-check
// The whole demo: several app instances sharing one session store, behind a round-robin
// proxy. By default each instance is a Node process of its own (instance.js) and they share one
// SQLite file; `store: 'memory'` runs them in this process around one MemoryStore. main.js is
// the command line around it; tests call startDemo directly.
import { fork } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import http from 'node:http'
import { createApp } from './app.js'
import { listen, startProxy } from './proxy.js'
import { openStore, STORE_KINDS } from './stores.js'

const INSTANCE = new URL('./instance.js', import.meta.url)

/** How long an instance process may take to start, or to stop once told to. */
const PROCESS_LIMIT_MS = 15_000

/** @typedef {import('./stores.js').StoreKind} StoreKind */

/**
 * What `startDemo` accepts; every option has a default.
 * @typedef {object} DemoOptions
 * @property {number} [port=3000] The proxy's port on 127.0.0.1. 0 picks a free one, and so
 *   does a taken port (the result's `port` says which).
 * @property {number} [instances=2] How many app instances to run.
 * @property {StoreKind} [store='sqlite'] Where sessions live.
 * @property {boolean} [processes] Run each instance as a Node process of its own (true by
 *   default for sqlite), or all of them in this process (the default for the others). A
 *   MemoryStore cannot be shared between processes.
 * @property {string} [secret] The cookie secret all instances share; by default a random one
 *   per run.
 * @property {NodeJS.ProcessEnv} [env=process.env] Where the backends' URLs are read.
 */

/**
 * A running demo.
 * @typedef {object} Demo
 * @property {string} url The proxy's URL: the one to open.
 * @property {number} port The proxy's port.
 * @property {{ name: string, url: string, pid: number }[]} instances Each instance, reachable
 *   directly too, and the process it runs in.
 * @property {StoreKind} storeKind Where sessions live.
 * @property {boolean} processes Whether each instance runs in a process of its own.
 * @property {import('@session-store/core').BaseStore} store The store the instances share; with
 *   processes, a store of this process on the same backend (each instance opens its own).
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
    store: kind = 'sqlite',
    processes = kind === 'sqlite',
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
  if (processes && kind === 'memory') {
    throw new TypeError('a MemoryStore lives in one process: separate processes need another store')
  }

  const store = await openStore(kind, env)
  /** @type {http.Server[]} */
  const servers = []
  /** @type {import('node:child_process').ChildProcess[]} */
  const children = []
  /** @type {Awaited<ReturnType<typeof startProxy>> | undefined} */
  let proxy
  /** @type {Promise<void> | undefined} */
  let closing
  // Front to back: no new requests, then no instances, then the store.
  const close = () =>
    (closing ??= (async () => {
      await proxy?.close()
      await Promise.all([...servers.map(stopServer), ...children.map(stopProcess)])
      await store.close()
    })())

  try {
    // Fail now, with the store's own message, rather than on the first visit.
    await store.get('startup-check')
    /** @type {Demo['instances']} */
    const started = []
    for (let i = 1; i <= instances; i++) {
      const name = `app-${i}`
      if (processes) {
        const child = fork(INSTANCE, [JSON.stringify({ name, kind, secret })], {
          env: { ...process.env, ...env },
        })
        children.push(child)
        const instancePort = await instanceStarted(child, name)
        started.push({
          name,
          url: `http://127.0.0.1:${instancePort}`,
          pid: /** @type {number} */ (child.pid),
        })
      } else {
        const server = http.createServer(createApp({ name, store, secret }))
        servers.push(server)
        started.push({ name, url: `http://127.0.0.1:${await listen(server, 0)}`, pid: process.pid })
      }
    }
    proxy = await startProxy({ targets: started.map((instance) => instance.url), port })
    return {
      url: `http://127.0.0.1:${proxy.port}`,
      port: proxy.port,
      instances: started,
      storeKind: kind,
      processes,
      store,
      close,
    }
  } catch (err) {
    await close().catch(() => {})
    throw err
  }
}

/**
 * The port an instance process listens on, once it says so; rejects with its error when it
 * could not start.
 * @param {import('node:child_process').ChildProcess} child
 * @param {string} name
 * @returns {Promise<number>}
 */
function instanceStarted(child, name) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => fail(new Error(`${name} did not start within ${PROCESS_LIMIT_MS} ms`)),
      PROCESS_LIMIT_MS,
    )
    /** @param {Error} err */
    const fail = (err) => {
      clearTimeout(timer)
      child.off('message', onMessage)
      child.off('exit', onExit)
      reject(err)
    }
    /** @param {any} message */
    const onMessage = (message) => {
      if (typeof message?.error === 'string') return fail(new Error(`${name}: ${message.error}`))
      if (typeof message?.port !== 'number') return
      clearTimeout(timer)
      child.off('message', onMessage)
      child.off('exit', onExit)
      resolve(message.port)
    }
    /** @param {number | null} code */
    const onExit = (code) => fail(new Error(`${name} exited (${code}) before it served`))
    child.on('message', onMessage)
    child.on('exit', onExit)
  })
}

/**
 * Tells an instance process to stop, and waits for it to end; kills it past the limit.
 * @param {import('node:child_process').ChildProcess} child
 * @returns {Promise<void>}
 */
async function stopProcess(child) {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  if (child.connected) child.send('close')
  else child.kill()
  const timer = setTimeout(() => child.kill('SIGKILL'), PROCESS_LIMIT_MS)
  await exited
  clearTimeout(timer)
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
