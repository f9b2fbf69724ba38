// The child process of the exit scenario (./exit.ts). It builds a store as the spec says,
// works with it, closes it (and the caller's client, when the spec passed one), and then
// simply returns: the process must end by itself, with nothing left keeping it alive.
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'
import type { ExitSpec } from './exit.js'

/** What the spec's `setup` body returns. */
interface Setup {
  store: {
    set(sid: string, session: object): Promise<void>
    get(sid: string): Promise<unknown>
    touch(sid: string, session: object): Promise<void>
    destroy(sid: string): Promise<void>
    close(): Promise<void>
  }
  closeClient?: () => unknown
}

const AsyncFunction = (async () => {}).constructor as new (
  ...parameters: string[]
) => (modules: Record<string, unknown>, env: Record<string, string>) => Promise<Setup>

const spec = JSON.parse(process.env.SESSION_STORE_EXIT_SPEC ?? 'null') as ExitSpec | null
if (spec === null) throw new Error('SESSION_STORE_EXIT_SPEC is not set')

// Modules are resolved from the caller's file, so each backend's own dependencies are found.
const resolveFromCaller = createRequire(spec.base)
const modules: Record<string, unknown> = {}
for (const [name, specifier] of Object.entries(spec.imports)) {
  modules[name] = await import(pathToFileURL(resolveFromCaller.resolve(specifier)).href)
}

const { store, closeClient } = await new AsyncFunction('modules', 'env', spec.setup)(modules, spec.env)
const session = { cookie: { originalMaxAge: 60_000 }, from: 'exit check' }
for (let i = 0; i < 20; i++) {
  const sid = `exit-${process.pid}-${i}`
  await store.set(sid, session)
  if (JSON.stringify(await store.get(sid)) !== JSON.stringify(session))
    throw new Error(`${sid} read back wrong`)
  await store.touch(sid, session)
  await store.destroy(sid)
}
await store.close()
await closeClient?.()
process.stdout.write('closed\n')

// Only for the report when the process does not end: this timer does not keep it alive.
setTimeout(() => {
  process.stderr.write(`still running; active resources: ${process.getActiveResourcesInfo().join(', ')}\n`)
}, 2000).unref()
