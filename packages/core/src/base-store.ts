// BaseStore: the contract, with callbacks, on top of the hooks a backend implements. It wires
// the parts that each live in a module of their own (deadlines, touch policy, enumeration,
// option checking, express-session compatibility) and keeps only what joins them.

import { createHash } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { isBranded, RAW_WRITE, STORE_BRAND } from './brand.js'
import { jsonSerializer } from './codec.js'
import { DeadlineQueue, type Operation, UNBOUNDED } from './deadline.js'
import { Enumeration } from './enumeration.js'
import { describeError, SessionStoreError, type SessionStoreErrorCode } from './errors.js'
import {
  createExpressSession,
  type ExpressRequest,
  type ExpressSession,
  type ExpressSessionData,
  regenerateExpressSession,
} from './express-session.js'
import { BASE_OPTION_NAMES, unknownOptions } from './options.js'
import { TouchPolicy } from './touch-policy.js'
import { operationChannel } from './tracing.js'
import { DEFAULT_TTL_SECONDS, resolveTtlMs, type TtlOption } from './ttl.js'
import type {
  Callback,
  KeyBoundSerializer,
  Serializer,
  SessionStore,
  StoreCapabilities,
  TtlArgument,
} from './types.js'

/** Options every store accepts; a backend adds its own. */
export interface BaseStoreOptions<S extends object = ExpressSessionData> {
  /**
   * Prepended to every sid to form the backend key, so several apps (or stores) can share a
   * backend without seeing, enumerating or clearing each other's sessions. (MemoryStore keeps
   * sessions in a Map of its own, which no other store shares, so it keys them by bare sid.)
   * @default 'sess:'
   */
  prefix?: string
  /**
   * The lifetime used when neither the caller nor the cookie gives one, in seconds; or a
   * function of the session returning seconds, which then decides every write alone.
   * @default 86400 (one day)
   */
  ttl?: TtlOption<S>
  /**
   * Store sessions without any expiry. Only for backends whose data is pruned some other way.
   * @default false
   */
  disableTtl?: boolean
  /**
   * Make `touch` a no-op. express-session touches on every request that does not change the
   * session; turning that off saves a write per request, and sessions then expire
   * `ttl` after their last change rather than after their last use.
   * @default false
   */
  disableTouch?: boolean
  /**
   * Skip a touch when this store wrote or touched the same session less than this many
   * seconds ago. Cuts touch traffic to one write per session per interval; keep it well below
   * the ttl. 0 touches every time.
   * @default 0
   */
  touchAfter?: number
  /**
   * How long any one operation may take, in ms, before it rejects with an `ETIMEOUT`
   * SessionStoreError. This is what keeps requests from hanging while the backend is down; the
   * backend also hands it to its driver, so that the work itself stops.
   * (MemoryStore's operations complete in the process and cannot hang; it keeps no deadline.)
   * @default 5000
   */
  timeout?: number
  /**
   * Turns sessions into the strings the backend keeps, and back. Use `encryptedSerializer`
   * for encryption at rest.
   * @default jsonSerializer (JSON, hardened against prototype pollution)
   */
  serializer?: Serializer
  /**
   * Keep a SHA-256 digest of each sid instead of the sid: the backend key is the prefix plus
   * the digest (43 characters of base64url), so a dump of the backend holds no sid a thief
   * could present. `ids()` then yields opaque ids (`sha256:<digest>`), which `get`, `destroy`
   * and `touch` accept. Turning it on for a running deployment is a cut-over: sessions written
   * before are no longer found.
   * @default false
   */
  hashSids?: boolean
}

/** Who a store is, for error messages, option checks and capability checks. */
export interface StoreIdentity {
  /** The npm package, e.g. `@session-store/redis`. */
  packageName: string
  /** The backend name, e.g. `redis`. */
  backend: string
  /** What the backend can do. `enumeration` is derived from the store's methods. */
  capabilities: Omit<StoreCapabilities, 'enumeration'>
  /**
   * The names of the backend's own options, besides those of {@link BaseStoreOptions}. Any
   * other option is refused with EOPTIONS.
   */
  options: readonly string[]
  /**
   * Whether the backend is this process's own memory. Its operations cannot hang, so they run
   * without a deadline: no clock read and no queue entry per operation, which measured a third
   * of MemoryStore's time per operation (bench/RESULTS.md).
   * @default false
   */
  inProcess?: boolean
}

/** The events every store emits. */
export interface StoreEvents {
  /** The backend is reachable again (also after the first connection). */
  connect: []
  /** The backend became unreachable; express-session stops using the store until `connect`. */
  disconnect: [reason?: Error]
  /** A stored value could not be decoded; the read resolved `null`. */
  corrupt: [error: SessionStoreError, sid: string]
  /** A backend client reported an error. Emitted only when someone listens: never crashes. */
  error: [error: Error]
  /** The store works, in a way other than configured (a fallback); said once, not repeated. */
  warning: [warning: SessionStoreError]
  /** A session was written. The id is `sha256:` and the sid's digest: never the sid in clear. */
  saved: [id: string]
  /** A session's expiry was moved (a touch that reached the backend). */
  touched: [id: string]
  /** A session was destroyed (logout, regenerate, an expiry in the past). */
  destroyed: [id: string]
  /** A read found no session (absent, expired or corrupt). */
  miss: [id: string]
}

/** How often a disconnected store with a `ping` asks whether the backend is back. */
const HEALTH_CHECK_INTERVAL_MS = 1000

/**
 * Everything that is the same for every backend: argument checks, ttl rules, key prefix, codec,
 * touch policy, deadlines, typed errors, events, callbacks and express-session's
 * `Store.prototype` methods.
 *
 * A backend extends it and implements its hooks, all protected, on backend keys and encoded
 * strings; each receives the {@link Operation} it runs under, whose deadline it hands to its
 * driver. Four are required, the rest optional:
 *
 * | hook | what it does | without it |
 * | --- | --- | --- |
 * | `read` | the value under a key, or null when absent or expired | (required) |
 * | `write` | store a value with a ttl, replacing any old one | (required) |
 * | `remove` | delete a key; an absent key is fine | (required) |
 * | `expire` | move the expiry of a live key; never creates it | (required) |
 * | `keyOf` / `sidOf` | sid to backend key, and back for enumeration | `prefix + sid` |
 * | `scan` | live keys of this store, in batches | no `ids`/`all`/`length`/`clear` |
 * | `scanEntries` | live keys with their values, in batches | `all` reads after `scan` |
 * | `readMany` | many values in one round trip | `all` reads one by one |
 * | `count` | number of live keys | `length` counts a scan |
 * | `removeMany` | many deletes in one round trip | `clear` deletes one by one |
 * | `ping` | does the backend answer? (health checks) | nothing tells a stall from slowness |
 * | `timedOut` | an operation got no answer in time | nothing |
 * | `shutdown` | release what the store created | nothing to release |
 *
 * Errors a hook throws reach the caller as an EBACKEND SessionStoreError (unless they are one
 * already), and every call is bounded by `timeout` (unless the identity says `inProcess`).
 *
 * Every public method returns a promise, or calls a trailing Node callback instead when one
 * is given, so the same store works in express-session, @fastify/session, koa-generic-session
 * and koa-session.
 */
export abstract class BaseStore<S extends object = ExpressSessionData>
  extends EventEmitter<StoreEvents>
  implements SessionStore<S>
{
  /** The prefix that turns a sid into a backend key. */
  readonly prefix: string
  /** What this store can do; the conformance suite reads it. */
  readonly capabilities: StoreCapabilities
  /** The npm package of the concrete store, used in error messages. */
  readonly packageName: string
  /** The backend name, used in error messages. */
  readonly backend: string
  /** Whether the backend is believed reachable; flips with `connect`/`disconnect`. */
  get connected(): boolean {
    return this.#connected
  }
  /** Whether `close()` has been called. */
  get closed(): boolean {
    return this.#closed
  }
  /** The deadline of every operation, in ms. */
  protected get timeout(): number {
    return this.#timeout
  }

  /** Assigned by express-session's middleware: creates a fresh session on a request. */
  declare generate?: (req: ExpressRequest) => void
  /** Marks this as one of our stores, across copies of this package (see `isSessionStore`). */
  declare readonly [STORE_BRAND]: true

  readonly #inProcess: boolean
  readonly #ttl: TtlOption<S>
  readonly #disableTtl: boolean
  readonly #timeout: number
  readonly #serializer: Serializer
  readonly #keyBound: boolean
  readonly #touchPolicy: TouchPolicy
  readonly #deadlines: DeadlineQueue
  readonly #hashSids: boolean
  #enumeration: Enumeration<S> | undefined
  #connected = true
  #closed = false
  #healthCheck: NodeJS.Timeout | undefined
  #probing = false

  constructor(identity: StoreIdentity, options: BaseStoreOptions<S> = {}) {
    super()
    this.packageName = identity.packageName
    this.backend = identity.backend
    this.capabilities = { ...identity.capabilities, enumeration: typeof this.scan === 'function' }
    const fail = (message: string) => {
      throw new SessionStoreError({ code: 'EOPTIONS', ...identity }, message)
    }
    if (options === null || typeof options !== 'object') fail('options must be an object')
    const unknown = unknownOptions(options, new Set([...BASE_OPTION_NAMES, ...identity.options]))
    if (unknown.length > 0) {
      fail(
        `unknown option${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}; ` +
          `the options are ${[...BASE_OPTION_NAMES, ...identity.options].join(', ')}`,
      )
    }
    const { prefix = 'sess:', ttl = DEFAULT_TTL_SECONDS, timeout = 5000, touchAfter = 0 } = options
    if (typeof prefix !== 'string') fail(`prefix must be a string, got ${typeof prefix}`)
    if (typeof ttl !== 'function' && !(typeof ttl === 'number' && Number.isFinite(ttl) && ttl > 0)) {
      fail(`ttl must be a positive number of seconds or a function, got ${String(ttl)}`)
    }
    if (!(typeof timeout === 'number' && timeout > 0 && timeout < 2 ** 31)) {
      fail(`timeout must be a positive number of ms, got ${String(timeout)}`)
    }
    if (!(typeof touchAfter === 'number' && Number.isFinite(touchAfter) && touchAfter >= 0)) {
      fail(`touchAfter must be a number of seconds >= 0, got ${String(touchAfter)}`)
    }
    for (const flag of ['disableTtl', 'disableTouch', 'hashSids'] as const) {
      if (options[flag] !== undefined && typeof options[flag] !== 'boolean') {
        fail(`${flag} must be a boolean, got ${typeof options[flag]}`)
      }
    }
    const serializer = options.serializer ?? jsonSerializer
    if (typeof serializer?.parse !== 'function' || typeof serializer.stringify !== 'function') {
      fail('serializer must have parse and stringify functions')
    }
    this.prefix = prefix
    this.#inProcess = identity.inProcess === true
    this.#ttl = ttl
    this.#disableTtl = options.disableTtl === true
    this.#touchPolicy = new TouchPolicy(options.disableTouch === true, touchAfter)
    this.#timeout = timeout
    this.#serializer = serializer
    this.#keyBound = serializer.keyBound === true
    this.#hashSids = options.hashSids === true
    this.#deadlines = new DeadlineQueue(
      timeout,
      (op) => this.error('ETIMEOUT', `${op.name} timed out after ${timeout} ms`, op.name),
      (expired) => this.#afterTimeouts(expired),
    )
  }

  // ---------------------------------------------------------------------------------------
  // What a backend implements (see the table above). Keys come from `keyOf`; values are
  // encoded strings; ttlMs is > 0, and Infinity when ttl is disabled.

  /** The stored value, or null when the key is absent or expired. */
  protected abstract read(key: string, op: Operation): Promise<string | null>
  /** Store the value, replacing any old one, to expire after ttlMs. */
  protected abstract write(key: string, value: string, ttlMs: number, op: Operation): Promise<void>
  /** Delete the key; absent keys are fine. */
  protected abstract remove(key: string, op: Operation): Promise<void>
  /** Move the expiry of an existing, unexpired key. Must never create the key. */
  protected abstract expire(key: string, ttlMs: number, op: Operation): Promise<void>
  /**
   * Live keys of this store (never another prefix's), in batches, in bounded memory. Defining
   * it declares the enumeration capability (`ids`, `all`, `length`, `clear`). The Operation's
   * deadline is that of the current step.
   */
  protected scan?(op: Operation): AsyncIterable<string[]>
  /** Read many keys in one round trip; `all()` uses it when present. */
  protected readMany?(keys: string[], op: Operation): Promise<(string | null)[]>
  /** Live entries of this store with their values, when the backend reads both at once. */
  protected scanEntries?(op: Operation): AsyncIterable<Array<[key: string, value: string]>>
  /** Count live keys of this store without reading them. */
  protected count?(op: Operation): Promise<number>
  /** Delete many keys in one round trip; `clear()` uses it when present. */
  protected removeMany?(keys: string[], op: Operation): Promise<void>
  /** Release what the store created, within the Operation's deadline. */
  protected shutdown?(op: Operation): Promise<void>
  /**
   * Ask the backend whether it answers, within the Operation's deadline. With it, an operation
   * that times out is followed by one ping: only when that fails too (the backend is stalled or
   * gone, not merely slow on one statement) is `disconnect` emitted, and then the ping runs
   * every second until it succeeds, and the store emits `connect`. express-session sends no
   * request to a store it believes down, so without such a check a store whose client does not
   * report the backend's return would never come back.
   */
  protected ping?(op: Operation): Promise<void>
  /**
   * Called when an operation got no answer within the timeout. A backend spread over several
   * servers can tell from `op.key` which one stalled (MemcachedStore fails the others fast).
   */
  protected timedOut?(op: Operation): void

  /** The backend key of a sid. Override where the backend has its own key rules. */
  protected keyOf(sid: string): string {
    return this.prefix + sid
  }

  /** The sid of a backend key that `scan` found; the inverse of {@link keyOf}. */
  protected sidOf(key: string): string {
    return key.slice(this.prefix.length)
  }

  // ---------------------------------------------------------------------------------------
  // The contract, with callbacks. Callback forms type the session as `any`: express-session,
  // @fastify/session and koa each declare a session type of their own for the store they are
  // given, and one store must be assignable to all of them. The promise forms return `S` and
  // take `S` or any object: a store keeps whatever JSON object it is given, and the frameworks
  // declare their session types as interfaces, which no index-signature type accepts.

  /** Resolves the session, or `null` when there is none or it cannot be decoded. */
  get(sid: string): Promise<S | null>
  /** express-session and @fastify/session: the session, or null, through the callback. */
  // biome-ignore lint/suspicious/noExplicitAny: see the note above
  get(sid: string, callback: (err: any, session?: any) => void): void
  /**
   * koa-session: `get(key, maxAge, { rolling, ctx })`; the extra arguments are ignored. Typed
   * `any` like the callback forms: @types/koa-generic-session declares a missing session as
   * `undefined` where every store (ours, koa's own) resolves `null`, which both frameworks
   * accept; this form is the one that makes a store assignable there. `get(sid)` above is the
   * one a call resolves to.
   */
  // biome-ignore lint/suspicious/noExplicitAny: see the note above
  get(sid: string, maxAge?: unknown, options?: unknown): Promise<any>
  get(sid: string, ...rest: unknown[]): Promise<S | null> | undefined {
    return settle(
      attempt(() => this.#get(sid)),
      lastCallback(rest),
    )
  }

  /**
   * Writes the whole session. The third argument is a ttl in ms (or koa-session's
   * `'session'`) or express-session's callback; without a ttl the cookie decides.
   * An expiry in the past deletes the session instead.
   */
  set(sid: string, session: S | object, ttlMs?: TtlArgument): Promise<void>
  /** express-session and @fastify/session. */
  // biome-ignore lint/suspicious/noExplicitAny: see the note above
  set(sid: string, session: any, callback: (err?: any) => void): void
  /** koa-session: `set(key, session, maxAge, { rolling, changed, ctx })`. */
  set(sid: string, session: S | object, ttlMs: TtlArgument | undefined, options: unknown): Promise<void>
  set(sid: string, session: S | object, ttlMs: TtlArgument | undefined, callback: Callback): void
  set(sid: string, session: S | object, ...rest: unknown[]): Promise<void> | undefined {
    return settle(
      attempt(() => this.#set(sid, session, ttlArgument(rest[0]))),
      lastCallback(rest),
    )
  }

  /** Deletes the session; resolves also when there was none. */
  destroy(sid: string): Promise<void>
  // biome-ignore lint/suspicious/noExplicitAny: see the note above
  destroy(sid: string, callback: (err?: any) => void): void
  /** koa-session: `destroy(key, { ctx })`. */
  destroy(sid: string, options: unknown): Promise<void>
  destroy(sid: string, ...rest: unknown[]): Promise<void> | undefined {
    return settle(
      attempt(() => this.#destroy(sid)),
      lastCallback(rest),
    )
  }

  /**
   * Moves the session's expiry without rewriting it, following `disableTouch` and
   * `touchAfter`. Never re-creates a session that was destroyed or expired.
   */
  touch(sid: string, session: S | object, ttlMs?: TtlArgument): Promise<void>
  // biome-ignore lint/suspicious/noExplicitAny: see the note above
  touch(sid: string, session: any, callback: (err?: any) => void): void
  touch(sid: string, session: S | object, ...rest: unknown[]): Promise<void> | undefined {
    return settle(
      attempt(() => this.#touch(sid, session, ttlArgument(rest[0]))),
      lastCallback(rest),
    )
  }

  /** Every live sid of this store's prefix, streamed in batches. */
  ids(): AsyncIterable<string> {
    return this.#enumerate('ids').ids()
  }

  /** Every live session of this store's prefix, as an array (express-session's shape). */
  all(): Promise<S[]>
  // biome-ignore lint/suspicious/noExplicitAny: see the note above
  all(callback: (err: any, sessions?: any) => void): void
  all(...rest: unknown[]): Promise<S[]> | undefined {
    return settle(
      attempt(() => this.#enumerate('all').all()),
      lastCallback(rest),
    )
  }

  /** How many live sessions this store's prefix holds. */
  length(): Promise<number>
  // biome-ignore lint/suspicious/noExplicitAny: see the note above
  length(callback: (err: any, length?: number) => void): void
  length(...rest: unknown[]): Promise<number> | undefined {
    return settle(
      attempt(() => this.#enumerate('length').length()),
      lastCallback(rest),
    )
  }

  /** Deletes every session of this store's prefix, and nothing else. */
  clear(): Promise<void>
  // biome-ignore lint/suspicious/noExplicitAny: see the note above
  clear(callback: (err?: any) => void): void
  clear(...rest: unknown[]): Promise<void> | undefined {
    return settle(
      attempt(() => {
        const enumeration = this.#enumerate('clear')
        this.#touchPolicy.clear()
        return enumeration.clear()
      }),
      lastCallback(rest),
    )
  }

  /**
   * Releases what the store created (connections it opened, timers), within `timeout`. It
   * always resolves; what could not be released cleanly in time is reported on `error`. A
   * client the caller passed in stays open unless the backend's options say otherwise. Later
   * operations reject with an `ECLOSED` SessionStoreError. Calling it twice is fine.
   */
  close(): Promise<void>
  // biome-ignore lint/suspicious/noExplicitAny: see the note above
  close(callback: (err?: any) => void): void
  close(...rest: unknown[]): Promise<void> | undefined {
    return settle(this.#close(), lastCallback(rest))
  }

  // ---------------------------------------------------------------------------------------
  // express-session's Store.prototype, so a store goes straight into `session({ store })`.

  /** express-session: destroy the old session, then let the middleware generate a new one. */
  // biome-ignore lint/suspicious/noExplicitAny: see the note above
  regenerate(req: ExpressRequest, callback: (err?: any) => any): void {
    regenerateExpressSession(req, (sid, done) => this.destroy(sid, done), callback)
  }

  /** express-session: load a session by sid as a live Session object (`req.session.reload()`). */
  // biome-ignore lint/suspicious/noExplicitAny: see the note above
  load(sid: string, callback: (err: any, session?: any) => any): void {
    this.get(sid, (err: Error | null, session?: S | null) => {
      if (err) return callback(err)
      if (!session) return callback(null)
      // This runs on a tick of its own: a throw here would crash the process instead of
      // reaching the caller.
      let live: unknown
      try {
        live = this.createSession({ sessionID: sid, sessionStore: this } as ExpressRequest, session)
      } catch (cause) {
        return callback(cause instanceof Error ? cause : new Error(String(cause)))
      }
      callback(null, live)
    })
  }

  /** express-session: turn loaded data into its Session, with `cookie.expires` as a Date. */
  createSession(req: ExpressRequest, session: S | object): ExpressSession {
    return createExpressSession(req, session) as ExpressSession
  }

  // ---------------------------------------------------------------------------------------
  // For backends.

  /** A SessionStoreError naming this store's package and backend. */
  protected error(code: SessionStoreErrorCode, message: string, operation?: string, cause?: unknown) {
    return new SessionStoreError(
      { code, packageName: this.packageName, backend: this.backend, operation, cause },
      message,
    )
  }

  /**
   * Report reachability, from a connection-level fact (the client lost or regained its
   * connection, a connection was refused or reset). Emits `connect`/`disconnect` on changes
   * only. A statement that is merely slow is no such fact: it times out and nothing else.
   */
  protected setConnected(connected: boolean, reason?: Error): void {
    if (connected === this.#connected) return
    this.#connected = connected
    if (connected) {
      clearTimeout(this.#healthCheck)
      this.#healthCheck = undefined
      this.emit('connect')
    } else {
      this.#scheduleHealthCheck()
      this.emit('disconnect', reason)
    }
  }

  /**
   * Runs a backend operation of the store's own (beyond the contract: MySQLStore's `prune`)
   * as the contract's are run: under the deadline, its failures typed, `timedOut` told.
   */
  protected withDeadline<T>(operation: string, work: (op: Operation) => Promise<T>): Promise<T> {
    return this.#run(operation, undefined, work)
  }

  /** Forward a client error to `error` listeners; with none, drop it rather than crash. */
  protected reportError(err: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', err)
  }

  /**
   * Writes an encoded value as it is, for tools that must plant bytes a foreign writer could
   * have left (the conformance suite's corrupt values). Reached through `writeRawValue`.
   */
  [RAW_WRITE](sid: string, text: string, ttlMs: number): Promise<void> {
    const key = this.#key(sid, 'set')
    return this.#run('set', key, (op) => this.write(key, text, ttlMs, op))
  }

  // ---------------------------------------------------------------------------------------
  // The machinery. The hot paths are plain functions returning the run's promise (each async
  // layer costs a promise and a microtask per operation); they may throw at once, which
  // `attempt` turns into a rejection.

  #get(sid: string): Promise<S | null> {
    const key = this.#key(sid, 'get')
    return this.#run('get', key, (op) => this.read(key, op)).then((text) => {
      const session = text === null ? null : this.#decode(text, sid, key)
      if (session === null) this.#lifecycle('miss', sid)
      return session
    })
  }

  /** The operation, followed by its lifecycle event when someone listens (no extra step otherwise). */
  #observed(event: 'saved' | 'touched' | 'destroyed', sid: string, done: Promise<void>): Promise<void> {
    return this.listenerCount(event) === 0 ? done : done.then(() => this.#lifecycle(event, sid))
  }

  /** Emits a lifecycle event, with the sid hashed; costs nothing while nobody listens. */
  #lifecycle(event: 'saved' | 'touched' | 'destroyed' | 'miss', sid: string): void {
    if (this.listenerCount(event) === 0) return
    try {
      this.emit(event, HASHED_ID_MARK + digestOf(sid))
    } catch (listenerError) {
      // A listener's failure is not the operation's.
      this.reportError(listenerError instanceof Error ? listenerError : new Error(String(listenerError)))
    }
  }

  #set(sid: string, session: S | object, explicitTtl: TtlArgument | undefined): Promise<void> {
    const key = this.#key(sid, 'set')
    if (session === null || typeof session !== 'object' || Array.isArray(session)) {
      throw new TypeError(`[${this.packageName}] [${this.backend}] set: session must be an object`)
    }
    const ttlMs = this.#ttlMs(session as S, explicitTtl)
    if (ttlMs <= 0) return this.#destroy(sid)
    const value = this.#encode(session, key)
    const written = this.#observed(
      'saved',
      sid,
      this.#run('set', key, (op) => this.write(key, value, ttlMs, op)),
    )
    return this.#touchPolicy.tracksWrites ? written.then(() => this.#touchPolicy.wrote(sid)) : written
  }

  #destroy(sid: string): Promise<void> {
    const key = this.#key(sid, 'destroy')
    this.#touchPolicy.forget(sid)
    return this.#observed(
      'destroyed',
      sid,
      this.#run('destroy', key, (op) => this.remove(key, op)),
    )
  }

  #touch(sid: string, session: S | object, explicitTtl: TtlArgument | undefined): Promise<void> {
    const key = this.#key(sid, 'touch')
    if (this.#touchPolicy.skips(sid)) return this.#openOrThrow('touch')
    const ttlMs = this.#ttlMs((session ?? {}) as S, explicitTtl)
    if (ttlMs <= 0) return this.#destroy(sid)
    const touched = this.#observed(
      'touched',
      sid,
      this.#run('touch', key, (op) => this.expire(key, ttlMs, op)),
    )
    return this.#touchPolicy.tracksWrites ? touched.then(() => this.#touchPolicy.wrote(sid)) : touched
  }

  #enumerate(operation: string): Enumeration<S> {
    const scan = this.scan
    if (scan === undefined) {
      throw this.error('EOPTIONS', `${operation}: this backend cannot enumerate sessions`, operation)
    }
    this.#enumeration ??= new Enumeration<S>({
      hooks: {
        scan: (op) => scan.call(this, op),
        scanEntries: this.scanEntries && ((op) => this.scanEntries!(op)),
        readMany: this.readMany && ((keys, op) => this.readMany!(keys, op)),
        read: (key, op) => this.read(key, op),
        count: this.count && ((op) => this.count!(op)),
        removeMany: this.removeMany && ((keys, op) => this.removeMany!(keys, op)),
        remove: (key, op) => this.remove(key, op),
      },
      run: (name, work) => this.#run(name, undefined, work),
      sidOf: this.#hashSids ? (key) => HASHED_ID_MARK + this.sidOf(key) : (key) => this.sidOf(key),
      decode: (text, sid, key) => this.#decode(text, sid, key),
    })
    return this.#enumeration
  }

  async #close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    clearTimeout(this.#healthCheck)
    this.#touchPolicy.clear()
    const shutdown = this.shutdown
    if (shutdown === undefined) return
    // Run like any operation (typed errors, the deadline), though the store is closed already.
    // close() itself always resolves: what could not be released cleanly in time is reported on
    // `error`, and the store is closed either way.
    await this.#run('close', undefined, (op) => shutdown.call(this, op), true).catch((err: Error) =>
      this.reportError(err),
    )
  }

  /** Checks the sid before any I/O (clause C11) and turns it into the backend key. */
  #key(sid: string, operation: string): string {
    // A lone surrogate has no UTF-8 form: every backend would store U+FFFD instead, so two
    // different sids would share one key. Such a sid is refused like any other bad sid.
    if (typeof sid !== 'string' || sid.length === 0 || !sid.isWellFormed()) {
      const got =
        typeof sid !== 'string' ? typeof sid : sid.length === 0 ? 'an empty string' : 'a lone surrogate'
      throw new TypeError(
        `[${this.packageName}] [${this.backend}] ${operation}: sid must be a non-empty, well-formed string, got ${got}`,
      )
    }
    return this.keyOf(this.#hashSids ? digestOf(sid) : sid)
  }

  #ttlMs(session: S, explicit: TtlArgument | undefined): number {
    if (this.#disableTtl) return Number.POSITIVE_INFINITY
    // Only `disableTtl` keeps a session forever: an explicit Infinity would do it unasked.
    if (typeof explicit === 'number' && !Number.isFinite(explicit)) {
      throw new TypeError(
        `[${this.packageName}] [${this.backend}] ttl must be a finite number of ms, got ${explicit}`,
      )
    }
    try {
      return resolveTtlMs(session, explicit, this.#ttl)
    } catch (cause) {
      // The ttl option's function, or a cookie getter, threw: the caller's code, not the backend.
      throw new TypeError(
        `[${this.packageName}] [${this.backend}] the session's ttl could not be resolved: ${describeError(cause)}`,
        { cause },
      )
    }
  }

  #encode(session: object, key: string): string {
    let text: string
    try {
      text = this.#keyBound
        ? (this.#serializer as KeyBoundSerializer).stringify(session, { key })
        : this.#serializer.stringify(session)
    } catch (cause) {
      throw this.error('EENCODE', `set: the session cannot be encoded: ${describeError(cause)}`, 'set', cause)
    }
    if (typeof text !== 'string') {
      throw this.error('EENCODE', `set: the serializer returned ${typeof text}, not a string`, 'set')
    }
    const { maxValueBytes } = this.capabilities
    // Only count bytes when the text could be too large: UTF-8 is at most 3 bytes per UTF-16 unit.
    if (text.length * 3 > maxValueBytes && Buffer.byteLength(text) > maxValueBytes) {
      throw this.error(
        'ETOOLARGE',
        `set: the encoded session is ${Buffer.byteLength(text)} bytes, over this backend's limit of ${maxValueBytes}`,
        'set',
      )
    }
    return text
  }

  #decode(text: string, sid: string, key: string): S | null {
    try {
      const value = this.#keyBound
        ? (this.#serializer as KeyBoundSerializer).parse(text, { key })
        : this.#serializer.parse(text)
      if (value !== null && typeof value === 'object' && !Array.isArray(value)) return value as S
      throw new TypeError(`decoded to ${Array.isArray(value) ? 'an array' : typeof value}, not an object`)
    } catch (cause) {
      const err = this.error(
        'EDECODE',
        `get: stored session is corrupt: ${describeError(cause)}`,
        'get',
        cause,
      )
      try {
        this.emit('corrupt', err, sid)
      } catch (listenerError) {
        // A listener's failure is not the read's: the read still resolves null.
        this.reportError(listenerError instanceof Error ? listenerError : new Error(String(listenerError)))
      }
      return null
    }
  }

  async #openOrThrow(operation: string): Promise<void> {
    if (this.#closed) throw this.error('ECLOSED', `${operation}: the store is closed`, operation)
  }

  /**
   * Runs one backend call under the store's deadline (none for an in-process backend), and
   * turns whatever it throws into a SessionStoreError. The deadline is what keeps a request
   * from hanging on a dead backend, whatever the client library does with its offline queue.
   */
  #run<T>(
    name: string,
    key: string | undefined,
    work: (op: Operation) => Promise<T>,
    evenIfClosed = false,
  ): Promise<T> {
    const channel = operationChannel(name)
    if (!channel.hasSubscribers) return this.#runUntraced(name, key, work, evenIfClosed)
    return channel.tracePromise(() => this.#runUntraced(name, key, work, evenIfClosed), {
      backend: this.backend,
      prefix: this.prefix,
      operation: name,
    })
  }

  #runUntraced<T>(
    name: string,
    key: string | undefined,
    work: (op: Operation) => Promise<T>,
    evenIfClosed: boolean,
  ): Promise<T> {
    if (this.#closed && !evenIfClosed) {
      return Promise.reject(this.error('ECLOSED', `${name}: the store is closed`, name))
    }
    if (this.#inProcess) {
      try {
        return work(UNBOUNDED).then(undefined, (cause: unknown) => {
          throw this.#failure(name, cause)
        })
      } catch (cause) {
        return Promise.reject(this.#failure(name, cause))
      }
    }
    return new Promise<T>((resolve, reject) => {
      const op = this.#deadlines.start(name, key, reject)
      const fail = (cause: unknown) => {
        if (this.#deadlines.settle(op)) reject(this.#failure(name, cause))
      }
      try {
        work(op).then((value) => {
          if (this.#deadlines.settle(op)) resolve(value)
        }, fail)
      } catch (cause) {
        fail(cause)
      }
    })
  }

  /**
   * What a failed backend call rejects with: a SessionStoreError as it is, anything else
   * (including a driver's own TypeError) as EBACKEND with it as the cause. Only the store's own
   * argument checks throw TypeErrors, and they throw before any backend call.
   */
  #failure(operation: string, cause: unknown): Error {
    return cause instanceof SessionStoreError
      ? cause
      : this.error('EBACKEND', `${operation} failed: ${describeError(cause)}`, operation, cause)
  }

  /**
   * After operations timed out: tell the backend, then ask it (once, whatever the number of
   * timeouts) whether it still answers. Only a failed ping means an outage.
   */
  #afterTimeouts(expired: Operation[]): void {
    if (this.timedOut !== undefined) {
      for (const op of expired) {
        try {
          this.timedOut(op)
        } catch (err) {
          this.reportError(err instanceof Error ? err : new Error(String(err)))
        }
      }
    }
    const ping = this.ping
    if (ping === undefined || this.#probing || !this.#connected || this.#closed) return
    this.#probing = true
    this.#run('ping', undefined, (op) => ping.call(this, op)).then(
      () => {
        this.#probing = false
      },
      (err: Error) => {
        this.#probing = false
        this.setConnected(
          false,
          this.error('EBACKEND', `the backend does not answer: ${err.message}`, 'ping', err),
        )
      },
    )
  }

  /** One ping a second while disconnected, each bounded by the timeout, never two at once. */
  #scheduleHealthCheck(): void {
    const ping = this.ping
    if (!ping || this.#healthCheck !== undefined || this.#closed || this.#connected) return
    this.#healthCheck = setTimeout(() => {
      this.#run('ping', undefined, (op) => ping.call(this, op)).then(
        () => {
          this.#healthCheck = undefined
          this.setConnected(true)
        },
        () => {
          this.#healthCheck = undefined
          this.#scheduleHealthCheck()
        },
      )
    }, HEALTH_CHECK_INTERVAL_MS)
    this.#healthCheck.unref()
  }
}

Object.defineProperty(BaseStore.prototype, STORE_BRAND, { value: true })

/** How `ids()` marks the opaque id of a store with `hashSids`: the digest itself follows. */
const HASHED_ID_MARK = 'sha256:'

/** The digest a `hashSids` store keeps for a sid; an opaque id from `ids()` is one already. */
function digestOf(sid: string): string {
  if (sid.startsWith(HASHED_ID_MARK)) return sid.slice(HASHED_ID_MARK.length)
  return createHash('sha256').update(sid).digest('base64url')
}

/** Whether a value is one of our stores, from any copy of this package. */
export function isSessionStore(value: unknown): value is BaseStore<object> {
  return isBranded(value)
}

/** The work's promise, with a synchronous throw (a bad sid, a session that cannot be encoded) as a rejection. */
function attempt<T>(work: () => Promise<T>): Promise<T> {
  try {
    return work()
  } catch (err) {
    return Promise.reject(err)
  }
}

function ttlArgument(value: unknown): TtlArgument | undefined {
  return typeof value === 'number' || value === 'session' ? value : undefined
}

function lastCallback<T>(args: unknown[]): Callback<T> | undefined {
  for (let i = args.length - 1; i >= 0; i--) {
    if (typeof args[i] === 'function') return args[i] as Callback<T>
  }
  return undefined
}

/**
 * Returns the promise, or, given a callback, settles it through the callback and returns
 * nothing: a rejected promise nobody awaits would crash the process. The callback runs on
 * its own tick so that an exception inside it is not taken for the store's failure.
 */
function settle<T>(promise: Promise<T>, callback: Callback<T> | undefined): Promise<T> | undefined {
  if (callback === undefined) return promise
  promise.then(
    (value) => process.nextTick(callback, null, value),
    (err: Error) => process.nextTick(callback, err),
  )
  return undefined
}
