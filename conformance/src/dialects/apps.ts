import type { RequestListener } from 'node:http'
import type { SessionStore } from '@session-store/core'
import { toExpressStore } from '@session-store/express'
import { toKoaStore } from '@session-store/koa'
import type { ErrorRequestHandler, Request } from 'express'
import type Koa from 'koa'
import type { Context, Middleware } from 'koa'
import { defaultOf, loadPeer } from '../peers.js'

// The frameworks are optional peers, imported only when their dialect runs (types alone are
// imported statically, and vanish from the build).
type ExpressModule = typeof import('express')
type ExpressSessionModule = typeof import('express-session')
type KoaModule = typeof import('koa')
type KoaSessionModule = typeof import('koa-session')

/**
 * What the clause can ask of an app instance. Every app answers the same routes with JSON:
 * - `/count`: adds one to `count` and returns the session's view;
 * - `/note?value=x`: sets `note`;
 * - `/state`: returns the view and changes nothing (so express-session touches);
 * - `/regenerate`: gives the session a new sid, then sets `user`; returns `{ oldSid }`;
 * - `/destroy`: ends the session; returns `{ sid }` of the session it ended;
 * - `/reload` (express-session only): reads `note`, waits for `hooks.beforeReload`, reloads
 *   the session from the store and returns `{ before, after, expiresIsDate }`.
 * A view is `{ sid, count, note, user }`, with null for what the session does not hold.
 */
export interface Dialect {
  /** The framework's session middleware, as clause titles and messages name it. */
  name: string
  /**
   * One app instance using `store`; two of them share a store in the clause. Loads the
   * framework on first use (a missing one skips the dialect).
   */
  createApp(store: SessionStore, options: AppOptions): Promise<App>
  /** The key the middleware gives the store for a session id. */
  storeKey(sid: string): string
  /**
   * Whether the store's own expiry is what ends a session at its cookie's maxAge. koa-session
   * stores sessions 10 s longer than the cookie and checks the expiry itself instead.
   */
  storeExpiresWithCookie: boolean
  /** Whether the middleware can reload a session from the store mid-request. */
  canReload: boolean
}

/** An app instance: its request handler, and how to release what the framework holds. */
export interface App {
  listener: RequestListener
  close(): Promise<void>
}

/** How the clause configures an app instance. */
export interface AppOptions {
  /** The session cookie's lifetime, in ms. Sessions roll: every request renews it. */
  maxAge: number
  /** Run inside `/reload` after the session was read, before it is reloaded. */
  hooks: { beforeReload?: () => Promise<void> }
}

/** The session cookie secret. Both instances of an app need the same one to share sessions. */
export const SECRET = 'conformance-dialects-secret-of-32-characters-or-more'

type Bag = Record<string, unknown>

export function view(sid: unknown, session: Bag | null | undefined) {
  return {
    sid: typeof sid === 'string' ? sid : null,
    count: session?.count ?? null,
    note: session?.note ?? null,
    user: session?.user ?? null,
  }
}

export function describe(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err)
}

// ------------------------------------------------------------------------------------------
// express 5 + express-session

/**
 * express-session with `resave: false` and `rolling: true`: a request that does not change
 * the session calls the store's `touch` (the hot path), one that does calls `set`.
 */
export const expressDialect: Dialect = {
  name: 'express-session',
  storeKey: (sid) => sid,
  storeExpiresWithCookie: true,
  canReload: true,
  async createApp(store, { maxAge, hooks }) {
    const express = defaultOf(await loadPeer<ExpressModule>('express'))
    const expressSession = defaultOf(await loadPeer<ExpressSessionModule>('express-session'))
    const app = express()
    app.use(
      expressSession({
        // Each instance wraps the store itself, as separate processes would. (Our own stores
        // come back unwrapped, so express-session's `store.generate` is set by both
        // instances; their options are the same, so either one's is right.)
        store: toExpressStore(store),
        secret: SECRET,
        resave: false,
        saveUninitialized: false,
        rolling: true,
        cookie: { maxAge },
      }),
    )
    const bag = (req: Request) => req.session as unknown as Bag
    const settle = (run: (done: (err?: unknown) => void) => void) =>
      new Promise<void>((resolve, reject) => run((err) => (err ? reject(err) : resolve())))

    app.get('/count', (req, res) => {
      const session = bag(req)
      session.count = Number(session.count ?? 0) + 1
      res.json(view(req.sessionID, session))
    })
    app.get('/note', (req, res) => {
      bag(req).note = String(req.query.value)
      res.json(view(req.sessionID, bag(req)))
    })
    app.get('/state', (req, res) => {
      res.json(view(req.sessionID, bag(req)))
    })
    app.get('/regenerate', async (req, res) => {
      const oldSid = req.sessionID
      await settle((done) => req.session.regenerate(done))
      bag(req).user = 'regenerated'
      res.json({ oldSid })
    })
    app.get('/destroy', async (req, res) => {
      const sid = req.sessionID
      await settle((done) => req.session.destroy(done))
      res.json({ sid })
    })
    app.get('/reload', async (req, res) => {
      const before = bag(req).note ?? null
      await hooks.beforeReload?.()
      await settle((done) => req.session.reload(done))
      res.json({
        before,
        after: bag(req).note ?? null,
        expiresIsDate: req.session.cookie.expires instanceof Date,
        expires: String(req.session.cookie.expires),
      })
    })
    const onError: ErrorRequestHandler = (err, _req, res, _next) => {
      // A store error after the response went out (express-session saves late) can only end it.
      if (res.headersSent) res.end()
      else res.status(500).json({ error: describe(err) })
    }
    app.use(onError)
    return { listener: app, close: async () => {} }
  },
}

// ------------------------------------------------------------------------------------------
// koa 3 + koa-generic-session / koa-session

/** The parts of a Koa session middleware the routes use. */
interface KoaSessionAccess {
  session(ctx: Context): Bag | null
  sid(ctx: Context): string | null
  regenerate(ctx: Context): Promise<void>
  destroy(ctx: Context): void
}

async function createKoaApp(
  sessionMiddleware: (app: Koa) => Middleware,
  access: KoaSessionAccess,
): Promise<App> {
  const KoaApp = defaultOf(await loadPeer<KoaModule>('koa'))
  const app = new KoaApp()
  // Signed session cookies; both instances share the keys.
  app.keys = [SECRET]
  // A failure inside the session middleware (a store error) answers 500 with its message.
  app.use(async (ctx, next) => {
    try {
      await next()
    } catch (err) {
      ctx.status = 500
      ctx.body = { error: describe(err) }
    }
  })
  app.use(sessionMiddleware(app))
  app.use(async (ctx) => {
    const session = access.session(ctx)
    switch (ctx.path) {
      case '/count':
        if (!session) throw new Error('no session on the request')
        session.count = Number(session.count ?? 0) + 1
        ctx.body = view(access.sid(ctx), session)
        return
      case '/note':
        if (!session) throw new Error('no session on the request')
        session.note = String(ctx.query.value)
        ctx.body = view(access.sid(ctx), session)
        return
      case '/state':
        ctx.body = view(access.sid(ctx), session)
        return
      case '/regenerate': {
        const oldSid = access.sid(ctx)
        await access.regenerate(ctx)
        const renewed = access.session(ctx)
        if (!renewed) throw new Error('no session after regenerating')
        renewed.user = 'regenerated'
        ctx.body = { oldSid }
        return
      }
      case '/destroy': {
        const sid = access.sid(ctx)
        access.destroy(ctx)
        ctx.body = { sid }
        return
      }
      default:
        ctx.status = 404
        ctx.body = { error: `no route ${ctx.path}` }
    }
  })
  return { listener: app.callback(), close: async () => {} }
}

/** koa-generic-session's factory and the context properties it adds (it ships no types). */
type GenericSession = (options: {
  store: unknown
  rolling?: boolean
  cookie?: { maxAge?: number }
}) => Middleware
interface GenericSessionContext {
  session: Bag | null
  sessionId: string | null
  regenerateSession(): Promise<void>
}

/**
 * koa-generic-session with `rolling: true`: every request rewrites the session with `set`
 * and a ttl of the cookie's maxAge. It keeps the session under `koa:sess:<sid>`.
 */
export const koaGenericDialect: Dialect = {
  name: 'koa-generic-session',
  storeKey: (sid) => `koa:sess:${sid}`,
  storeExpiresWithCookie: true,
  canReload: false,
  async createApp(store, { maxAge }) {
    const genericSession = defaultOf(await loadPeer<GenericSession>('koa-generic-session'))
    const generic = (ctx: Context) => ctx as unknown as GenericSessionContext
    return createKoaApp(
      () => genericSession({ store: toKoaStore(store), rolling: true, cookie: { maxAge } }),
      {
        session: (ctx) => generic(ctx).session,
        sid: (ctx) => generic(ctx).sessionId,
        regenerate: (ctx) => generic(ctx).regenerateSession(),
        destroy: (ctx) => {
          generic(ctx).session = null
        },
      },
    )
  },
}

/** The context properties koa-session adds. */
interface KoaSessionContext {
  session: (Bag & { externalKey?: string; regenerate(): Promise<void> }) | null
}

/**
 * koa-session with an external store and `rolling: true`: every request rewrites the session
 * with `set(key, data, maxAge + 10 s)`. The session's own `_expire` ends it at maxAge.
 */
export const koaSessionDialect: Dialect = {
  name: 'koa-session',
  storeKey: (sid) => sid,
  storeExpiresWithCookie: false,
  canReload: false,
  async createApp(store, { maxAge }) {
    const koaSession = defaultOf(await loadPeer<KoaSessionModule>('koa-session'))
    const session = (ctx: Context) => (ctx as unknown as KoaSessionContext).session
    return createKoaApp((app) => koaSession({ store: toKoaStore(store), maxAge, rolling: true }, app), {
      session,
      // The key a session was loaded or created with (after `regenerate` within the same
      // request it still names the old one; the routes only read it before).
      sid: (ctx) => session(ctx)?.externalKey ?? null,
      regenerate: async (ctx) => {
        const current = session(ctx)
        if (!current) throw new Error('no session to regenerate')
        await current.regenerate()
      },
      destroy: (ctx) => {
        ;(ctx as unknown as KoaSessionContext).session = null
      },
    })
  },
}

// ------------------------------------------------------------------------------------------
// fastify 5 + @fastify/cookie + @fastify/session

/**
 * @fastify/session with `rolling: true` and `saveUninitialized: false`: it takes an
 * express-session-style store (callbacks), and every request that carries the session's
 * cookie saves it with `set`. It also checks the cookie's expiry itself on load. The app lives
 * in a module of its own, loaded when this dialect runs.
 */
export const fastifyDialect: Dialect = {
  name: '@fastify/session',
  storeKey: (sid) => sid,
  storeExpiresWithCookie: true,
  canReload: false,
  async createApp(store, options) {
    const { createFastifyApp } = await import('./fastify.js')
    return createFastifyApp(store, options)
  },
}
