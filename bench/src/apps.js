// @ts-check
// The end-to-end apps and their load: a real Express app with express-session, a Koa app with
// koa-generic-session, and virtual users, each with its own cookie and keep-alive connection,
// driven by a small in-process load generator. Each user logs in once (which creates its
// session), then reads its session on 90% of requests (express-session then touches the
// store, the hot path) and changes it on 10% (a set).

import http from 'node:http'
import express from 'express'
import session from 'express-session'
import Koa from 'koa'
import genericSession from 'koa-generic-session'
import { percentile } from './measure.js'
import { makeSession, seededRandom } from './sessions.js'

/**
 * @typedef {import('./measure.js').RunResult} RunResult
 */

/** The user data a login puts in the session: the session is then about 300 bytes. */
const USER_DATA = (() => {
  const { cookie: _cookie, ...data } = makeSession(300)
  return data
})()

const SECRET = 'benchmark secret'

/**
 * Starts an HTTP server for `handler` on a free loopback port.
 * @param {http.RequestListener} handler
 * @returns {Promise<{ port: number, close(): Promise<void> }>}
 */
export async function listen(handler) {
  const server = http.createServer(handler)
  server.keepAliveTimeout = 60_000
  await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)))
  const address = /** @type {import('node:net').AddressInfo} */ (server.address())
  return {
    port: address.port,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve(undefined))
      }),
  }
}

/**
 * The Express app: express-session as the docs recommend (no resave, no empty sessions).
 * @param {any} store
 */
export function expressApp(store) {
  const app = express()
  app.use(
    session({
      store,
      secret: SECRET,
      resave: false,
      saveUninitialized: false,
      cookie: { maxAge: 86_400_000 },
    }),
  )
  app.get('/login', (/** @type {any} */ req, /** @type {any} */ res) => {
    Object.assign(req.session, USER_DATA)
    res.send('ok')
  })
  app.get('/read', (/** @type {any} */ req, /** @type {any} */ res) => {
    const user = /** @type {any} */ (req.session).user
    if (!user) res.status(401).send('no session')
    else res.send(String(user.id))
  })
  app.get('/write', (/** @type {any} */ req, /** @type {any} */ res) => {
    const data = /** @type {any} */ (req.session)
    if (!data.user) {
      res.status(401).send('no session')
      return
    }
    data.visits = (data.visits ?? 0) + 1
    res.send('ok')
  })
  return app
}

/**
 * The Koa app with koa-generic-session (signed cookies, its default).
 * @param {any} store
 */
export function koaApp(store) {
  const app = new Koa()
  app.keys = [SECRET]
  app.use(genericSession({ store, cookie: { maxAge: 86_400_000 } }))
  app.use(async (/** @type {any} */ ctx) => {
    const data = /** @type {any} */ (ctx.session)
    if (ctx.path === '/login') {
      Object.assign(data, USER_DATA)
      ctx.body = 'ok'
    } else if (!data?.user) {
      ctx.status = 401
      ctx.body = 'no session'
    } else if (ctx.path === '/read') {
      ctx.body = String(data.user.id)
    } else {
      data.visits = (data.visits ?? 0) + 1
      ctx.body = 'ok'
    }
  })
  // Errors are counted by the load generator from the status codes; keep the console quiet.
  app.silent = true
  return app.callback()
}

/** One virtual user: its own keep-alive connection and cookie jar. */
export class VirtualUser {
  /** @param {number} port */
  constructor(port) {
    this.port = port
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
    /** @type {Map<string, string>} */
    this.cookies = new Map()
  }

  /**
   * GET `path`; resolves the status code. Keeps every cookie the server sets.
   * @param {string} path
   * @returns {Promise<number>}
   */
  request(path) {
    return new Promise((resolve, reject) => {
      const headers = this.cookies.size
        ? { cookie: [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ') }
        : undefined
      const req = http.get(
        { host: '127.0.0.1', port: this.port, path, agent: this.agent, headers },
        (res) => {
          for (const line of res.headers['set-cookie'] ?? []) {
            const pair = line.slice(0, line.indexOf(';'))
            const eq = pair.indexOf('=')
            this.cookies.set(pair.slice(0, eq), pair.slice(eq + 1))
          }
          res.resume()
          res.on('end', () => resolve(res.statusCode ?? 0))
          res.on('error', reject)
        },
      )
      req.on('error', reject)
    })
  }

  close() {
    this.agent.destroy()
  }
}

/**
 * Every user sends requests back to back until `seconds` have passed: 90% reads, 10% writes.
 * @param {VirtualUser[]} users
 * @param {number} seconds
 * @param {number} seed
 * @returns {Promise<RunResult>}
 */
export async function drive(users, seconds, seed) {
  const random = seededRandom(seed)
  /** @type {number[]} */
  const latencies = []
  let errors = 0
  /** @type {string | undefined} */
  let firstError
  const start = performance.now()
  const deadline = start + seconds * 1000
  await Promise.all(
    users.map(async (user) => {
      while (performance.now() < deadline) {
        const path = random() < 0.9 ? '/read' : '/write'
        const t0 = performance.now()
        try {
          const status = await user.request(path)
          if (status !== 200) {
            errors++
            firstError ??= `${path} answered ${status}`
          }
        } catch (error) {
          errors++
          firstError ??= String(error)
        }
        latencies.push(performance.now() - t0)
      }
    }),
  )
  const elapsed = (performance.now() - start) / 1000
  const sorted = Float64Array.from(latencies).sort()
  return {
    ops: latencies.length,
    seconds: elapsed,
    opsPerSec: latencies.length / elapsed,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    errors,
    firstError,
  }
}
