import { Agent, request } from 'node:http'
import type { BaseStore, SessionData } from '@session-store/core'
import { toExpressStore } from '@session-store/express'
import express, { type ErrorRequestHandler, type Request, type Response } from 'express'
import expressSession from 'express-session'
import { type Instance, serve, stop } from '../dialects/http.js'

/** What the app answers; every answer is JSON. */
export interface AppAnswer {
  status: number
  body: { n?: number | null; sid?: string; error?: string }
}

interface CounterSession {
  n?: number
}

/**
 * A real express 5 + express-session app on `store`, as an app would use it in production:
 * `resave: false`, `saveUninitialized: false`, so reads touch and writes set.
 * - `GET /write` increments the session's counter and saves it before answering, so a 200
 *   means the write was acknowledged by the store;
 * - `GET /read` answers the counter (null for a new session) and changes nothing.
 * Every failure is a 503 with a JSON body naming it: a store error (the session could not be
 * loaded or saved), or no session at all (express-session skips the store while it is
 * disconnected).
 */
export async function startCounterApp(store: BaseStore<SessionData>): Promise<Instance> {
  const app = express()
  app.use(
    expressSession({
      store: toExpressStore(store),
      secret: 'faults-secret',
      resave: false,
      saveUninitialized: false,
    }),
  )
  const counter = (req: Request) => req.session as unknown as CounterSession | undefined
  const noSession = (res: Response) => res.status(503).json({ error: 'no session (store disconnected)' })
  app.get('/write', (req, res, next) => {
    const session = counter(req)
    if (!session) return noSession(res)
    session.n = (session.n ?? 0) + 1
    req.session.save((err) => (err ? next(err) : res.json({ n: session.n, sid: req.sessionID })))
  })
  app.get('/read', (req, res) => {
    const session = counter(req)
    if (!session) return noSession(res)
    res.json({ n: session.n ?? null, sid: req.sessionID })
  })
  const onError: ErrorRequestHandler = (err, _req, res, _next) => {
    // express-session reports a failed touch after the response has gone out; nothing is left to say.
    if (res.headersSent) return
    const code = (err as { code?: unknown }).code
    res.status(503).json({ error: `store error ${String(code)}: ${(err as Error).message}` })
  }
  app.use(onError)
  return serve('faults', app)
}

export { stop as stopApp }

/**
 * One browser: its own keep-alive connection and its own session cookie. Requests have a
 * deadline; one that is not answered by then is reported as unanswered, never waited on.
 */
export class AppClient {
  readonly #agent = new Agent({ keepAlive: true, maxSockets: 1 })
  #cookie: string | undefined

  constructor(
    readonly app: Instance,
    readonly deadlineMs: number,
  ) {}

  /** The session cookie this client holds. */
  get cookie(): string | undefined {
    return this.#cookie
  }

  /** GETs `path`; resolves the answer, or `{ status: 0 }` with the reason when none came in time. */
  get(path: string): Promise<AppAnswer & { ms: number }> {
    const started = performance.now()
    const ms = () => Math.round(performance.now() - started)
    return new Promise((resolve) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: this.app.port,
          path,
          agent: this.#agent,
          headers: this.#cookie === undefined ? {} : { cookie: this.#cookie },
          timeout: this.deadlineMs,
        },
        (res) => {
          const chunks: Buffer[] = []
          res.on('data', (chunk: Buffer) => chunks.push(chunk))
          res.on('end', () => {
            const setCookie = res.headers['set-cookie']?.[0]
            if (setCookie) this.#cookie = setCookie.split(';')[0]
            let body: AppAnswer['body']
            try {
              body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as AppAnswer['body']
            } catch {
              body = { error: `not JSON: ${Buffer.concat(chunks).toString('utf8').slice(0, 200)}` }
            }
            resolve({ status: res.statusCode ?? 0, body, ms: ms() })
          })
          res.on('error', (err) => resolve({ status: 0, body: { error: err.message }, ms: ms() }))
        },
      )
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.deadlineMs} ms`)))
      req.on('error', (err) => resolve({ status: 0, body: { error: err.message }, ms: ms() }))
      req.end()
    })
  }

  /** Drops the kept-alive connection. */
  close(): void {
    this.#agent.destroy()
  }
}
