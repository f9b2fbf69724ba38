// @ts-check
// A subject's host: everything that touches one subject's instance (its client, its timers,
// its garbage) happens here. main.js runs each host in a process of its own (host-child.js),
// so that what one subject leaves behind is paid for by that subject alone: node-redis, for
// one, arms a 5-second AbortSignal timer per command that nothing clears; those timers fire
// long after the command, and in a shared process they would fire inside another subject's
// timed run. The smoke test runs hosts in its own process.

import { drive, expressApp, koaApp, listen, VirtualUser } from './apps.js'
import { collectGarbage, runClosedLoop } from './measure.js'
import { makeSession, sidList } from './sessions.js'
import { POOL_SIZE, populate, prepare, Skip, WORKLOADS } from './workloads.js'

/**
 * @typedef {import('./subjects.js').Subject} Subject
 * @typedef {import('./subjects.js').Instance} Instance
 * @typedef {import('./measure.js').RunResult} RunResult
 * @typedef {{ workload: string, concurrency: number, total: number, seed: number, seconds?: number, collect?: boolean }} StoreRun
 *   `seconds` stops the run early (warm-ups); `collect` runs a full GC first
 * @typedef {{ framework: 'express' | 'koa', users: number }} AppStart
 * @typedef {{ seconds: number, seed: number, collect?: boolean }} AppRun
 * @typedef {object} Host
 * @property {() => Promise<void>} open creates the subject's instance
 * @property {(run: StoreRun) => Promise<RunResult | { skipped: string }>} storeRun one timed store-level run
 * @property {(start: AppStart) => Promise<{ skipped: string } | undefined>} appStart the app and its logged-in users
 * @property {(run: AppRun) => Promise<RunResult>} appRun one timed end-to-end run
 * @property {() => Promise<void>} close
 */

/**
 * @param {Subject} subject
 * @param {{ touchAfter?: number }} [options] passed to subject.create
 * @returns {Host}
 */
export function createHost(subject, options) {
  /** @type {Instance | undefined} */
  let instance
  /** Sids of existing sessions, by session size, written on first use. */
  /** @type {Map<number, string[]>} */
  const pools = new Map()
  /** @type {{ server: { close(): Promise<void> }, users: VirtualUser[], store: any } | undefined} */
  let app

  const live = () => {
    if (!instance) throw new Error('the host was not opened')
    return instance
  }

  return {
    async open() {
      if (subject.unavailable) throw new Error(subject.unavailable)
      instance = await subject.create(options)
    },

    async storeRun({ workload: id, concurrency, total, seed, seconds, collect }) {
      const workload = WORKLOADS.find((w) => w.id === id)
      if (!workload) throw new Error(`unknown workload ${id}`)
      const { store } = live()
      let pool = pools.get(workload.bytes)
      if (!pool) {
        pool = sidList(POOL_SIZE, 'p')
        await populate(store, pool, makeSession(workload.bytes))
        pools.set(workload.bytes, pool)
      }
      try {
        const { op, cleanup } = await prepare(workload, store, pool, total, seed)
        if (collect) collectGarbage()
        const deadline = seconds === undefined ? undefined : performance.now() + seconds * 1000
        const result = await runClosedLoop({ total, concurrency, op, deadline })
        await cleanup?.(result.ops)
        return result
      } catch (error) {
        if (error instanceof Skip) return { skipped: error.message }
        throw error
      }
    },

    async appStart({ framework, users }) {
      const { express: expressStore, koa: koaStore } = live()
      const store = framework === 'express' ? expressStore : koaStore
      if (!store) return { skipped: `not a ${framework} store` }
      const server = await listen(framework === 'express' ? expressApp(store) : koaApp(store))
      app = { server, store, users: Array.from({ length: users }, () => new VirtualUser(server.port)) }
      const statuses = await Promise.all(app.users.map((user) => user.request('/login')))
      if (statuses.some((status) => status !== 200)) throw new Error(`login answered ${statuses.join(',')}`)
      return undefined
    },

    async appRun({ seconds, seed, collect }) {
      if (!app) throw new Error('the app was not started')
      if (collect) collectGarbage()
      return drive(app.users, seconds, seed)
    },

    async close() {
      if (app) {
        for (const user of app.users) user.close()
        await app.server.close()
        // Closing a store may emit `disconnect`; koa-generic-session would then start a 10 s
        // wait for `connect` whose rejection nobody handles. The app is gone: stop listening.
        app.store.removeAllListeners?.('disconnect')
        app.store.removeAllListeners?.('connect')
        app = undefined
      }
      await instance?.close()
      instance = undefined
    },
  }
}
