// @ts-check
// One app instance in a process of its own, started by demo.js with `fork`. It opens its own
// store on the shared backend (the SQLite file, or a server), serves the app on a free port,
// and tells the parent which; the parent's 'close' message (or the parent going away) stops it.
import http from 'node:http'
import { createApp } from './app.js'
import { listen } from './proxy.js'
import { openStore } from './stores.js'

/** @type {{ name: string, kind: import('./stores.js').StoreKind, secret: string }} */
const { name, kind, secret } = JSON.parse(process.argv[2] ?? '{}')

/** @param {unknown} message */
const tell = (message) => process.send?.(message)

// Ctrl-C in a terminal reaches every process of the group; the parent decides when to stop.
process.on('SIGINT', () => {})

let store
try {
  store = await openStore(kind, process.env)
  // Fail now, with the store's own message, rather than on the first visit.
  await store.get('startup-check')
} catch (err) {
  tell({ error: err instanceof Error ? err.message : String(err) })
  await store?.close()
  process.exit(1)
}
const opened = store
const server = http.createServer(createApp({ name, store: opened, secret }))
const port = await listen(server, 0)

let stopping = false
const stop = () => {
  if (stopping) return
  stopping = true
  server.close()
  server.closeAllConnections()
  // Nothing is left then: the process ends by itself once the store has closed.
  opened.close().finally(() => process.disconnect?.())
}
process.on('message', (message) => {
  if (message === 'close') stop()
})
// The parent went away without saying so (killed): stop too.
process.on('disconnect', stop)
tell({ port })
