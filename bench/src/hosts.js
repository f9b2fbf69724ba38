// @ts-check
// Where a subject's host runs: in a child process (what the benchmarks use) or in this one.

import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { createHost } from './host.js'

/**
 * @typedef {import('./host.js').Host} Host
 * @typedef {import('./subjects.js').Subject} Subject
 * @typedef {import('./subjects.js').ServerUrls} ServerUrls
 * @typedef {(subject: Subject, options?: { touchAfter?: number }) => Host} HostFactory
 */

/** Hosts in this process: for tests, and for subjects that exist only here. */
/** @type {HostFactory} */
export const localHosts = (subject, options) => createHost(subject, options)

/**
 * Hosts in child processes (with --expose-gc), one per subject and options, each finding its
 * subject by backend and name among allSubjects(urls).
 * @param {ServerUrls} urls
 * @returns {HostFactory}
 */
export function childHosts(urls) {
  const entry = fileURLToPath(new URL('./host-child.js', import.meta.url))
  return (subject, options) => {
    const child = fork(
      entry,
      [JSON.stringify({ backend: subject.backend, subject: subject.name, options, urls })],
      {
        execArgv: ['--expose-gc'],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      },
    )
    let nextId = 0
    /** @type {Map<number, { resolve: (value: any) => void, reject: (error: Error) => void }>} */
    const waiting = new Map()
    child.on('message', (/** @type {{ id: number, value?: unknown, error?: string }} */ reply) => {
      const call = waiting.get(reply.id)
      waiting.delete(reply.id)
      if (reply.error !== undefined) call?.reject(new Error(reply.error))
      else call?.resolve(reply.value)
    })
    child.on('exit', (code, signal) => {
      for (const call of waiting.values())
        call.reject(new Error(`the host of ${subject.name} exited (${signal ?? code})`))
      waiting.clear()
    })
    /**
     * @param {keyof Host} method
     * @param {unknown} [arg]
     */
    const call = (method, arg) =>
      new Promise((resolve, reject) => {
        if (child.exitCode !== null || child.signalCode !== null) {
          reject(new Error(`the host of ${subject.name} is gone`))
          return
        }
        const id = nextId++
        waiting.set(id, { resolve, reject })
        child.send({ id, method, arg })
      })
    return {
      open: () => call('open'),
      storeRun: (run) => call('storeRun', run),
      appStart: (start) => call('appStart', start),
      appRun: (run) => call('appRun', run),
      close: async () => {
        await call('close').catch(() => {})
        if (child.exitCode === null) {
          // A client that keeps its process alive after close: the measurements are done.
          const exited = new Promise((resolve) => child.once('exit', resolve))
          const timer = setTimeout(() => child.kill(), 2000)
          await exited
          clearTimeout(timer)
        }
      },
    }
  }
}
