import { EventEmitter } from 'node:events'
import { createRequire } from 'node:module'
import {
  BaseStore,
  type Callback,
  type ExpressRequestLike,
  registerExpressSessionFactory,
  type SessionCookie,
  type SessionData,
  type SessionStore,
} from '@session-store/core'

/** The parts of express-session this dialect uses: its Session and Cookie classes. */
interface ExpressSessionModule {
  Cookie: new (options?: object) => { expires: Date | null; originalMaxAge: number | null | undefined }
  Session: new (req: ExpressRequestLike, data: SessionData) => unknown
}

let expressSessionModule: ExpressSessionModule | undefined

/**
 * express-session is an optional peer: it is loaded the first time a session is rebuilt,
 * which only ever happens inside an app that uses it.
 */
function loadExpressSession(): ExpressSessionModule {
  expressSessionModule ??= createRequire(import.meta.url)('express-session') as ExpressSessionModule
  return expressSessionModule
}

/**
 * What express-session's `Store.prototype.createSession` does, for loaded data: rebuild its
 * Cookie (with `expires` revived as a Date and the stored `originalMaxAge` kept) and its
 * Session, and attach the Session to the request. A session written by a Koa app has no
 * cookie; it gets a fresh one rather than crashing the request.
 */
export function createExpressSession(req: ExpressRequestLike, data: SessionData): unknown {
  const { Cookie, Session } = loadExpressSession()
  const stored: SessionCookie = data.cookie ?? {}
  const cookie = new Cookie(stored)
  if (typeof stored.expires === 'string') cookie.expires = new Date(stored.expires)
  if (stored.originalMaxAge !== undefined) cookie.originalMaxAge = stored.originalMaxAge
  data.cookie = cookie as unknown as SessionCookie
  const session = new Session(req, data)
  req.session = session
  return session
}

// Every BaseStore (core) gains express-session's createSession when this module loads.
// Backends import this module, so `session({ store: new RedisStore(client) })` just works.
registerExpressSessionFactory(createExpressSession)

/** A store as express-session sees it: callbacks, events and `Store.prototype`'s methods. */
export interface ExpressStore extends EventEmitter {
  get(sid: string, callback: Callback<SessionData | null>): void
  set(sid: string, session: SessionData, callback: Callback): void
  destroy(sid: string, callback: Callback): void
  touch?(sid: string, session: SessionData, callback: Callback): void
  all?(callback: Callback<SessionData[]>): void
  length?(callback: Callback<number>): void
  clear?(callback: Callback): void
  regenerate(req: ExpressRequestLike, callback: (err?: Error | null) => void): void
  load(sid: string, callback: (err: Error | null, session?: unknown) => void): void
  createSession(req: ExpressRequestLike, data: SessionData): unknown
}

/**
 * Makes a store that only speaks the promise contract usable in `session({ store })`.
 * Our own stores need no wrapping and are returned as they are. The wrapper forwards the
 * store's `connect`/`disconnect` events, so express-session notices an outage, and offers
 * `touch`, `all`, `length` and `clear` only where the store has them (express-session
 * checks `typeof store.touch`). It adds no deadline: a wrapped store that never settles
 * holds the request, so it should bound its own operations (as every BaseStore does).
 */
export function toExpressStore<S extends SessionData>(store: SessionStore<S>): ExpressStore {
  if (store instanceof BaseStore) return store as unknown as ExpressStore
  if (store === null || typeof store !== 'object' || typeof store.get !== 'function') {
    throw new TypeError(
      '[@session-store/express] [express-session] toExpressStore: expected a store with get, set and destroy',
    )
  }
  return new ContractStoreForExpress(store as unknown as SessionStore)
}

class ContractStoreForExpress extends EventEmitter implements ExpressStore {
  readonly #store: SessionStore
  declare generate?: (req: ExpressRequestLike) => void
  declare touch?: ExpressStore['touch']
  declare all?: ExpressStore['all']
  declare length?: ExpressStore['length']
  declare clear?: ExpressStore['clear']

  constructor(store: SessionStore) {
    super()
    this.#store = store
    if (store instanceof EventEmitter) {
      store.on('connect', () => this.emit('connect'))
      store.on('disconnect', (reason?: unknown) => this.emit('disconnect', reason))
    }
    const { touch, all, length, clear } = store
    if (touch) this.touch = (sid, session, cb) => deliver(touch.call(store, sid, session), cb)
    if (all) this.all = (cb) => deliver(all.call(store), cb)
    if (length) this.length = (cb) => deliver(length.call(store), cb)
    if (clear) this.clear = (cb) => deliver(clear.call(store), cb)
  }

  get(sid: string, callback: Callback<SessionData | null>): void {
    deliver(this.#store.get(sid), callback)
  }

  set(sid: string, session: SessionData, callback: Callback): void {
    deliver(this.#store.set(sid, session), callback)
  }

  destroy(sid: string, callback: Callback): void {
    deliver(this.#store.destroy(sid), callback)
  }

  regenerate(req: ExpressRequestLike, callback: (err?: Error | null) => void): void {
    this.destroy(req.sessionID, (err) => {
      this.generate?.(req)
      callback(err)
    })
  }

  load(sid: string, callback: (err: Error | null, session?: unknown) => void): void {
    this.get(sid, (err, data) => {
      if (err) return callback(err)
      if (!data) return callback(null)
      // On a tick of its own: a throw (express-session not installed) must reach the caller.
      let live: unknown
      try {
        live = this.createSession({ sessionID: sid, sessionStore: this }, data)
      } catch (cause) {
        return callback(cause instanceof Error ? cause : new Error(String(cause)))
      }
      callback(null, live)
    })
  }

  createSession(req: ExpressRequestLike, data: SessionData): unknown {
    return createExpressSession(req, data)
  }
}

/** Settles a promise (or a plain value from a sloppy store) through a Node callback. */
function deliver<T>(result: Promise<T> | T, callback: Callback<T> | undefined): void {
  Promise.resolve()
    .then(() => result)
    .then(
      (value) => callback && process.nextTick(callback, null, value),
      (err: Error) => callback && process.nextTick(callback, err),
    )
}
