// @ts-check
// The command line: `pnpm demo [--store redis] [--processes] [--instances 3] [--port 8080]`.
import { parseArgs } from 'node:util'
import { startDemo } from './demo.js'
import { DEFAULT_SQLITE_FILE, STORE_KINDS } from './stores.js'

const USAGE = `Usage: node src/main.js [--port N] [--instances N] [--store ${STORE_KINDS.join('|')}] [--processes]

  --port N        the proxy's port on 127.0.0.1 (default: $PORT, else 3000; 0 picks a free one)
  --instances N   how many app instances share the session (default 2)
  --store KIND    where sessions live (default sqlite: one file, SQLITE_FILE, else
                  ${DEFAULT_SQLITE_FILE}). The backends read REDIS_URL,
                  MEMCACHED_SERVERS, MONGO_URL or MYSQL_URL; memory is one MemoryStore.
  --processes     run each instance as a Node process of its own (always so with sqlite;
                  the other backends run their instances in this process without it)
`

/** @type {{ port?: string, instances?: string, store?: string, processes?: boolean, help?: boolean }} */
let args
try {
  args = parseArgs({
    options: {
      port: { type: 'string' },
      instances: { type: 'string' },
      store: { type: 'string' },
      processes: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  }).values
} catch (err) {
  console.error(`${err instanceof Error ? err.message : err}\n\n${USAGE}`)
  process.exit(2)
}
if (args.help) {
  console.log(USAGE)
  process.exit(0)
}

const requestedPort = Number(args.port ?? process.env.PORT ?? 3000)
const store = /** @type {import('./stores.js').StoreKind} */ (args.store ?? 'sqlite')

let demo
try {
  demo = await startDemo({
    port: requestedPort,
    instances: Number(args.instances ?? 2),
    store,
    ...(args.processes ? { processes: true } : {}),
  })
} catch (err) {
  console.error(`The demo could not start: ${err instanceof Error ? err.message : err}`)
  if (err instanceof TypeError) console.error(`\n${USAGE}`)
  // A backend package is imported only when chosen; it may not have been built yet.
  if (/** @type {{ code?: unknown }} */ (err)?.code === 'ERR_MODULE_NOT_FOUND') {
    console.error('Build the packages first: `pnpm build` (`pnpm demo` does it for you).')
  }
  process.exit(1)
}

const where = store === 'sqlite' ? ` (${process.env.SQLITE_FILE ?? DEFAULT_SQLITE_FILE})` : ''
console.log(
  demo.processes
    ? `session-store demo: ${demo.instances.length} Express processes share one ${store} store${where}`
    : `session-store demo: ${demo.instances.length} Express instances in one process share one ${store} store`,
)
for (const { name, url, pid } of demo.instances) console.log(`  ${name}  ${url}  (process ${pid})`)
if (requestedPort !== 0 && demo.port !== requestedPort) {
  console.log(`Port ${requestedPort} is taken; the proxy uses ${demo.port} instead.`)
}
console.log(`Open ${demo.url} (a round-robin proxy in front of them). Ctrl-C stops.`)

// The first Ctrl-C closes everything and lets the process end on its own, which shows nothing
// was left open; the handlers are `once`, so a second Ctrl-C kills it the default way.
let stopping = false
for (const signal of /** @type {const} */ (['SIGINT', 'SIGTERM'])) {
  process.once(signal, () => {
    if (stopping) return
    stopping = true
    demo.close().then(
      () => console.log(`${signal}: stopped.`),
      (err) => {
        console.error(`${signal}: stopping failed: ${err instanceof Error ? err.message : err}`)
        process.exitCode = 1
      },
    )
  })
}
