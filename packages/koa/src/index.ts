import { EventEmitter } from 'node:events'
import { isSessionStore, type SessionData, type SessionStore, type TtlArgument } from '@session-store/core'

/**
 * A store as koa-generic-session and koa-session call it: promises, `set`'s third argument
 * a ttl in ms (koa-session adds 10 s to its maxAge, or passes `'session'`), and extra option
 * objects after that (koa-session's `{ rolling, changed, ctx }`), which a store ignores.
 */
export interface KoaStore<S extends object = SessionData> {
  get(sid: string, maxAge?: unknown, options?: unknown): Promise<S | null>
  set(sid: string, session: S, maxAge?: unknown, options?: unknown): Promise<void>
  destroy(sid: string, options?: unknown): Promise<void>
  on?(event: 'connect' | 'disconnect', listener: (...args: unknown[]) => void): unknown
}

/**
 * Makes a store that speaks the promise contract usable in koa-generic-session
 * (`session({ store })`) and koa-session (`session({ store }, app)`). Our own stores need no
 * wrapping and are returned as they are (recognised by their brand). The wrapper reads koa-session's `'session'` maxAge
 * as "no explicit ttl" (so the store's default applies instead of an error or no expiry),
 * drops the extra option objects, and forwards `connect`/`disconnect`, which
 * koa-generic-session uses to wait for the store. It adds no deadline: a wrapped store that
 * never settles holds the request, so it should bound its own operations (as every BaseStore
 * does).
 */
export function toKoaStore<S extends object>(store: SessionStore<S>): KoaStore<S> {
  if (isSessionStore(store)) return store
  if (store === null || typeof store !== 'object' || typeof store.get !== 'function') {
    throw new TypeError('[@session-store/koa] [koa] toKoaStore: expected a store with get, set and destroy')
  }
  return new ContractStoreForKoa(store)
}

class ContractStoreForKoa<S extends object> extends EventEmitter implements KoaStore<S> {
  readonly #store: SessionStore<S>

  constructor(store: SessionStore<S>) {
    super()
    this.#store = store
    if (store instanceof EventEmitter) {
      store.on('connect', () => this.emit('connect'))
      store.on('disconnect', (reason?: unknown) => this.emit('disconnect', reason))
    }
  }

  async get(sid: string): Promise<S | null> {
    return (await this.#store.get(sid)) ?? null
  }

  async set(sid: string, session: S, maxAge?: unknown): Promise<void> {
    await this.#store.set(sid, session, koaTtl(maxAge))
  }

  async destroy(sid: string): Promise<void> {
    await this.#store.destroy(sid)
  }
}

/** koa-session's maxAge as a contract ttl: a number of ms, or nothing for `'session'`. */
export function koaTtl(maxAge: unknown): TtlArgument | undefined {
  return typeof maxAge === 'number' && Number.isFinite(maxAge) ? maxAge : undefined
}
