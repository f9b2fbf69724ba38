// @ts-check
// A host in a process of its own, driven over IPC by hosts.js:
// `fork('host-child.js', ['<json: { backend, subject, options, urls }>'])`, then one message
// `{ id, method, arg }` per call and one reply `{ id, value }` or `{ id, error }`.

import { createHost } from './host.js'
import { allSubjects } from './subjects.js'

/** @typedef {import('./host.js').Host} Host */

const { backend, subject: name, options, urls } = JSON.parse(process.argv[2] ?? '{}')
const subject = ((await allSubjects(urls))[backend] ?? []).find((s) => s.name === name)
/** @type {Host | undefined} */
const host = subject && createHost(subject, options)

process.on('message', async (/** @type {{ id: number, method: keyof Host, arg: any }} */ message) => {
  const { id, method, arg } = message
  /** @type {{ id: number, value?: unknown, error?: string }} */
  let reply
  try {
    if (!host) throw new Error(`no subject ${name} for ${backend}`)
    reply = { id, value: await host[method](arg) }
  } catch (error) {
    reply = { id, error: /** @type {Error} */ (error).message ?? String(error) }
  }
  // After close, leave even if a client left a timer or socket behind: the work is done.
  process.send?.(reply, undefined, {}, () => {
    if (method === 'close') process.exit(0)
  })
})
