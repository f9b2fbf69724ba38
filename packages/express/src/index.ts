import { EventEmitter } from 'node:events'
import { type Callback, isSessionStore, type SessionData, type SessionStore } from '@session-store/core'
import {
  createExpressSession,
  type ExpressRequest,
  type ExpressSession,
  regenerateExpressSession,
} from '@session-store/core/internal'

// The session arguments are typed `any`, as BaseStore's callback forms are: express-session
// declares a session type of its own (with the app's declaration merging), and the wrapper must
// be assignable to its `Store` without a cast.
/* biome-ignore-start lint/suspicious/noExplicitAny: see above */
/** A store as express-session sees it: callbacks, events and `Store.prototype`'s methods. */
export interface ExpressStore extends EventEmitter {
  get(sid: string, callback: (err: any, session?: any) => void): void
  set(sid: string, session: any, callback?: (err?: any) => void): void
  destroy(sid: string, callback?: (err?: any) => void): void
  touch?(sid: string, session: any, callback?: (err?: any) => void): void
  all?(callback: (err: any, sessions?: any) => void): void
  length?(callback: (err: any, length?: number) => void): void
  clear?(callback?: (err?: any) => void): void
  regenerate(req: ExpressRequest, callback: (err?: any) => any): void
  load(sid: string, callback: (err: any, session?: any) => any): void
  createSession(req: ExpressRequest, data: any): ExpressSession
}
/* biome-ignore-end lint/suspicious/noExplicitAny: see above */

/**
 * Makes a store that only speaks the promise contract usable in `session({ store })`.
 * Our own stores need no wrapping and are returned as they are (recognised by their brand,
 * from any copy of @session-store/core). The wrapper forwards the
 * store's `connect`/`disconnect` events, so express-session notices an outage, and offers
 * `touch`, `all`, `length` and `clear` only where the store has them (express-session
 * checks `typeof store.touch`). It adds no deadline: a wrapped store that never settles
 * holds the request, so it should bound its own operations (as every BaseStore does).
 */
export function toExpressStore<S extends object>(store: SessionStore<S>): ExpressStore {
  if (isSessionStore(store)) return store
  if (store === null || typeof store !== 'object' || typeof store.get !== 'function') {
    throw new TypeError(
      '[@session-store/express] [express-session] toExpressStore: expected a store with get, set and destroy',
    )
  }
  return new ContractStoreForExpress(store)
}

class ContractStoreForExpress<S extends object> extends EventEmitter implements ExpressStore {
  readonly #store: SessionStore<S>
  declare generate?: (req: ExpressRequest) => void
  declare touch?: ExpressStore['touch']
  declare all?: ExpressStore['all']
  declare length?: ExpressStore['length']
  declare clear?: ExpressStore['clear']

  constructor(store: SessionStore<S>) {
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

  get(sid: string, callback: Callback<S | null>): void {
    deliver(this.#store.get(sid), callback)
  }

  set(sid: string, session: SessionData, callback: Callback): void {
    deliver(this.#store.set(sid, session), callback)
  }

  destroy(sid: string, callback: Callback): void {
    deliver(this.#store.destroy(sid), callback)
  }

  regenerate(req: ExpressRequest, callback: (err?: Error | null) => void): void {
    regenerateExpressSession(req, (sid, done) => this.destroy(sid, done), callback)
  }

  load(sid: string, callback: (err: Error | null, session?: unknown) => void): void {
    this.get(sid, (err, data) => {
      if (err) return callback(err)
      if (!data) return callback(null)
      // On a tick of its own: a throw (express-session not installed) must reach the caller.
      let live: unknown
      try {
        live = this.createSession({ sessionID: sid, sessionStore: this } as ExpressRequest, data)
      } catch (cause) {
        return callback(cause instanceof Error ? cause : new Error(String(cause)))
      }
      callback(null, live)
    })
  }

  createSession(req: ExpressRequest, data: S | object): ExpressSession {
    return createExpressSession(req, data) as ExpressSession
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
