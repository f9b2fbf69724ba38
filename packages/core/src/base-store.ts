import { EventEmitter } from 'node:events'
import { jsonSerializer } from './codec.js'
import { describeError, SessionStoreError, type SessionStoreErrorCode } from './errors.js'
import { DEFAULT_TTL_SECONDS, resolveTtlMs, type TtlOption } from './ttl.js'
import type {
  Callback,
  Serializer,
  SessionData,
  SessionStore,
  StoreCapabilities,
  TtlArgument,
} from './types.js'

/** Options every store accepts; a backend adds its own. */
export interface BaseStoreOptions<S extends SessionData = SessionData> {
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
   * SessionStoreError. This is what keeps requests from hanging while the backend is down.
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
}

/** Who a store is, for error messages and capability checks. */
export interface StoreIdentity {
  /** The npm package, e.g. `@session-store/redis`. */
  packageName: string
  /** The backend name, e.g. `redis`. */
  backend: string
  /** What the backend can do. `enumeration` is derived from the store's methods. */
  capabilities: Omit<StoreCapabilities, 'enumeration'>
  /**
   * Whether backend keys are `prefix + sid`. A store whose storage belongs to it alone (an
   * in-process Map) passes false: its keys are the sids themselves, which spares building and
   * hashing a new string on every operation.
   * @default true
   */
  prefixedKeys?: boolean
  /**
   * Whether the backend is this process's own memory. Its operations cannot hang, so they run
   * without a deadline: no clock read and no queue entry per operation.
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
}

/** How many recent writes `touchAfter` remembers at most, so its memory stays bounded. */
const RECENT_WRITES_LIMIT = 100_000

/** How often a disconnected store with a `ping` asks whether the backend is back. */
const HEALTH_CHECK_INTERVAL_MS = 1000

/** Sessions a store with no native bulk read fetches per round of `all()`. */
const ENUMERATION_BATCH = 100

/**
 * Everything that is the same for every backend: argument checks, ttl rules, key prefix,
 * codec, touch policy, timeouts, typed errors, events, callbacks and express-session's
 * `Store.prototype` methods. A backend extends it and implements five small methods on raw
 * keys and encoded strings (`read`, `write`, `remove`, `expire`, and optionally `scan`).
 *
 * Every public method returns a promise, or calls a trailing Node callback instead when one
 * is given, so the same store works in express-session, koa-generic-session and koa-session.
 */
export abstract class BaseStore<S extends SessionData = SessionData>
  extends EventEmitter<StoreEvents>
  implements SessionStore<S>
{
  /** The prefix that turns a sid into a backend key. */
  readonly prefix: string
  /**
   * What the keys handed to the backend methods (`read`, `write`...) start with: `prefix`, or
   * '' for a store keyed by sid alone (see {@link StoreIdentity.prefixedKeys}). Tools that
   * plant data through those methods use it.
   */
  readonly keyPrefix: string
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
  /** The deadline of every operation, in ms; backends reuse it for their clients' own timeouts. */
  protected get timeout(): number {
    return this.#timeout
  }

  /** Assigned by express-session's middleware: creates a fresh session on a request. */
  declare generate?: (req: ExpressRequestLike) => void

  readonly #inProcess: boolean
  readonly #ttl: TtlOption<S>
  readonly #disableTtl: boolean
  readonly #disableTouch: boolean
  readonly #touchAfterMs: number
  readonly #timeout: number
  readonly #serializer: Serializer
  /** sid -> time of this store's last write or touch, oldest first, for `touchAfter`. */
  readonly #recentWrites = new Map<string, number>()
  #connected = true
  #closed = false
  #healthCheck: NodeJS.Timeout | undefined
  /** Operations in start order (so in deadline order), settled ones dropped when the timer fires. */
  readonly #deadlines: Pending[] = []
  /** Where the unsettled part of `#deadlines` starts. */
  #head = 0
  #unsettled = 0
  #deadlineTimer: NodeJS.Timeout | undefined

  constructor(identity: StoreIdentity, options: BaseStoreOptions<S> = {}) {
    super()
    this.packageName = identity.packageName
    this.backend = identity.backend
    this.capabilities = { ...identity.capabilities, enumeration: typeof this.scan === 'function' }
    const fail = (message: string) => {
      throw new SessionStoreError({ code: 'EOPTIONS', ...identity }, message)
    }
    if (options === null || typeof options !== 'object') fail('options must be an object')
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
    const serializer = options.serializer ?? jsonSerializer
    if (typeof serializer?.parse !== 'function' || typeof serializer.stringify !== 'function') {
      fail('serializer must have parse and stringify functions')
    }
    this.prefix = prefix
    this.keyPrefix = identity.prefixedKeys === false ? '' : prefix
    this.#inProcess = identity.inProcess === true
    this.#ttl = ttl
    this.#disableTtl = options.disableTtl === true
    this.#disableTouch = options.disableTouch === true
    this.#touchAfterMs = touchAfter * 1000
    this.#timeout = timeout
    this.#serializer = serializer
  }

  // ---------------------------------------------------------------------------------------
  // What a backend implements. Keys already carry the prefix (unless `prefixedKeys` is false); values are encoded strings;
  // ttlMs is > 0, and Infinity when ttl is disabled. Errors thrown here reach the caller
  // wrapped in an EBACKEND SessionStoreError, and each call is bounded by `timeout` (unless the
  // identity says `inProcess`).

  /** The stored value, or null when the key is absent or expired. */
  protected abstract read(key: string): Promise<string | null>
  /** Store the value, replacing any old one, to expire after ttlMs. */
  protected abstract write(key: string, value: string, ttlMs: number): Promise<void>
  /** Delete the key; absent keys are fine. */
  protected abstract remove(key: string): Promise<void>
  /** Move the expiry of an existing, unexpired key. Must never create the key. */
  protected abstract expire(key: string, ttlMs: number): Promise<void>
  /**
   * Live keys of this store (those starting with `this.keyPrefix`), in batches, in bounded
   * memory. Defining it declares the
   * enumeration capability (`ids`, `all`, `length`, `clear`).
   */
  protected scan?(): AsyncIterable<string[]>
  /** Read many keys in one round trip; `all()` uses it when present. */
  protected readMany?(keys: string[]): Promise<(string | null)[]>
  /** Live entries of this store with their values, when the backend reads both at once. */
  protected scanEntries?(): AsyncIterable<Array<[key: string, value: string]>>
  /** Count live keys of this store without reading them. */
  protected count?(): Promise<number>
  /** Delete many keys in one round trip; `clear()` uses it when present. */
  protected removeMany?(keys: string[]): Promise<void>
  /** Release what the store created. */
  protected shutdown?(): Promise<void>
  /**
   * Ask the backend whether it answers. Defined by backends whose client does not say by
   * itself when the backend is back: while the store is disconnected, it is called every
   * second until it succeeds, and the store then emits `connect`. Without it such a store would
   * never come back behind express-session, which sends no request to a store it believes down.
   */
  protected ping?(): Promise<void>
  /**
   * Called when an operation got no answer within the timeout: a backend whose client does not
   * notice a stalled server may take it as the sign of an outage (and call setConnected(false)).
   * `key` is the backend key of a one-session operation (get, set, destroy, touch), so a
   * backend spread over several servers can tell which one stalled; undefined otherwise.
   */
  protected timedOut?(operation: string, key: string | undefined): void

  // ---------------------------------------------------------------------------------------
  // The contract, with callbacks.

  /** Resolves the session, or `null` when there is none or it cannot be decoded. */
  get(sid: string): Promise<S | null>
  get(sid: string, callback: Callback<S | null>): void
  /** koa-session passes `(key, maxAge, options)`; the extra arguments are ignored. */
  get(sid: string, ...rest: unknown[]): Promise<S | null> | undefined
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
  set(sid: string, session: S, ttlMs?: TtlArgument): Promise<void>
  set(sid: string, session: S, callback: Callback): void
  set(sid: string, session: S, ttlMs: TtlArgument | undefined, callback: Callback): void
  set(sid: string, session: S, ...rest: unknown[]): Promise<void> | undefined
  set(sid: string, session: S, ...rest: unknown[]): Promise<void> | undefined {
    return settle(
      attempt(() => this.#set(sid, session, ttlArgument(rest[0]))),
      lastCallback(rest),
    )
  }

  /** Deletes the session; resolves also when there was none. */
  destroy(sid: string): Promise<void>
  destroy(sid: string, callback: Callback): void
  destroy(sid: string, ...rest: unknown[]): Promise<void> | undefined
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
  touch(sid: string, session: S, ttlMs?: TtlArgument): Promise<void>
  touch(sid: string, session: S, callback: Callback): void
  touch(sid: string, session: S, ...rest: unknown[]): Promise<void> | undefined
  touch(sid: string, session: S, ...rest: unknown[]): Promise<void> | undefined {
    return settle(
      attempt(() => this.#touch(sid, session, ttlArgument(rest[0]))),
      lastCallback(rest),
    )
  }

  /** Every live sid of this store's prefix, streamed in batches. */
  async *ids(): AsyncIterable<string> {
    const scan = this.#requireScan('ids')
    const start = this.keyPrefix.length
    for await (const keys of this.#guardIterable('ids', scan)) {
      for (const key of keys) yield key.slice(start)
    }
  }

  /** Every live session of this store's prefix, as an array (express-session's shape). */
  all(): Promise<S[]>
  all(callback: Callback<S[]>): void
  all(...rest: unknown[]): Promise<S[]> | undefined {
    return settle(this.#all(), lastCallback(rest))
  }

  /** How many live sessions this store's prefix holds. */
  length(): Promise<number>
  length(callback: Callback<number>): void
  length(...rest: unknown[]): Promise<number> | undefined {
    return settle(this.#length(), lastCallback(rest))
  }

  /** Deletes every session of this store's prefix, and nothing else. */
  clear(): Promise<void>
  clear(callback: Callback): void
  clear(...rest: unknown[]): Promise<void> | undefined {
    return settle(this.#clear(), lastCallback(rest))
  }

  /**
   * Releases what the store created (connections it opened, timers). A client the caller
   * passed in stays open unless the backend's options say otherwise. Later operations reject
   * with an `ECLOSED` SessionStoreError. Calling it twice is fine.
   */
  close(): Promise<void>
  close(callback: Callback): void
  close(...rest: unknown[]): Promise<void> | undefined {
    return settle(this.#close(), lastCallback(rest))
  }

  // ---------------------------------------------------------------------------------------
  // express-session's Store.prototype, so a store goes straight into `session({ store })`.
  // Session and Cookie are express-session's own classes; @session-store/express supplies
  // them (core imports no framework).

  /** express-session: destroy the old session, then let the middleware generate a new one. */
  regenerate(req: ExpressRequestLike, callback: (err?: Error | null) => void): void {
    this.destroy(req.sessionID, (err) => {
      req.sessionStore.generate?.(req)
      callback(err)
    })
  }

  /** express-session: load a session by sid as a live Session object. */
  load(sid: string, callback: (err: Error | null, session?: unknown) => void): void {
    this.get(sid, (err, session) => {
      if (err) return callback(err)
      if (!session) return callback(null)
      // This runs on its own tick: a throw here (express-session support not loaded) would
      // crash the process instead of reaching the caller.
      let live: unknown
      try {
        live = this.createSession({ sessionID: sid, sessionStore: this }, session)
      } catch (cause) {
        return callback(cause instanceof Error ? cause : new Error(String(cause)))
      }
      callback(null, live)
    })
  }

  /** express-session: turn loaded data into its Session, with `cookie.expires` as a Date. */
  createSession(req: ExpressRequestLike, session: S): unknown {
    if (expressSessionFactory === undefined) {
      throw this.error('EOPTIONS', "express-session support is not loaded: import '@session-store/express'")
    }
    return expressSessionFactory(req, session)
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

  /** Report reachability. Emits `connect`/`disconnect` on changes only, never twice in a row. */
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

  /** Forward a client error to `error` listeners; with none, drop it rather than crash. */
  /**
   * Runs a backend operation of the store's own (beyond the contract: MySQLStore's `prune`)
   * as the contract's are run: bounded by `timeout`, its failures typed, and `timedOut` told.
   */
  protected withDeadline<T>(operation: string, work: () => Promise<T>): Promise<T> {
    return this.#guard(operation, work)
  }

  protected reportError(err: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', err)
  }

  // ---------------------------------------------------------------------------------------
  // The machinery.

  // The hot paths are plain functions returning the guard's promise (each async layer costs a
  // promise and a microtask per operation); they may throw at once, which `attempt` turns into
  // a rejection.

  #get(sid: string): Promise<S | null> {
    const key = this.#key(sid, 'get')
    return this.#guard('get', () => this.read(key), key).then((text) =>
      text === null ? null : this.#decode(text, sid),
    )
  }

  #set(sid: string, session: S, explicitTtl: TtlArgument | undefined): Promise<void> {
    const key = this.#key(sid, 'set')
    if (session === null || typeof session !== 'object' || Array.isArray(session)) {
      throw new TypeError(`[${this.packageName}] [${this.backend}] set: session must be an object`)
    }
    const ttlMs = this.#ttlMs(session, explicitTtl)
    if (ttlMs <= 0) return this.#destroy(sid)
    const value = this.#encode(session)
    const written = this.#guard('set', () => this.write(key, value, ttlMs), key)
    return this.#touchAfterMs === 0 ? written : written.then(() => this.#rememberWrite(sid))
  }

  #destroy(sid: string): Promise<void> {
    const key = this.#key(sid, 'destroy')
    if (this.#touchAfterMs !== 0) this.#recentWrites.delete(sid)
    return this.#guard('destroy', () => this.remove(key), key)
  }

  #touch(sid: string, session: S, explicitTtl: TtlArgument | undefined): Promise<void> {
    const key = this.#key(sid, 'touch')
    if (this.#disableTouch || this.#touchedRecently(sid)) return this.#openOrThrow('touch')
    const ttlMs = this.#ttlMs(session ?? {}, explicitTtl)
    if (ttlMs <= 0) return this.#destroy(sid)
    const touched = this.#guard('touch', () => this.expire(key, ttlMs), key)
    return this.#touchAfterMs === 0 ? touched : touched.then(() => this.#rememberWrite(sid))
  }

  async #all(): Promise<S[]> {
    const scan = this.#requireScan('all')
    const sessions: S[] = []
    const start = this.keyPrefix.length
    const collect = (key: string, text: string | null) => {
      const session = text === null ? null : this.#decode(text, key.slice(start))
      if (session !== null) sessions.push(session)
    }
    if (this.scanEntries) {
      for await (const entries of this.#guardIterable('all', () => this.scanEntries!())) {
        for (const [key, text] of entries) collect(key, text)
      }
      return sessions
    }
    for await (const keys of this.#guardIterable('all', scan)) {
      for (let i = 0; i < keys.length; i += ENUMERATION_BATCH) {
        const batch = keys.slice(i, i + ENUMERATION_BATCH)
        const texts = await this.#guard('all', () =>
          this.readMany ? this.readMany(batch) : Promise.all(batch.map((key) => this.read(key))),
        )
        for (const [index, key] of batch.entries()) collect(key, texts[index] ?? null)
      }
    }
    return sessions
  }

  async #length(): Promise<number> {
    const scan = this.#requireScan('length')
    if (this.count) return this.#guard('length', () => this.count!())
    let total = 0
    for await (const keys of this.#guardIterable('length', scan)) total += keys.length
    return total
  }

  async #clear(): Promise<void> {
    const scan = this.#requireScan('clear')
    this.#recentWrites.clear()
    for await (const keys of this.#guardIterable('clear', scan)) {
      if (keys.length === 0) continue
      await this.#guard('clear', () =>
        this.removeMany ? this.removeMany(keys) : Promise.all(keys.map((key) => this.remove(key))).then(noop),
      )
    }
  }

  async #close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    clearTimeout(this.#healthCheck)
    this.#recentWrites.clear()
    await this.shutdown?.()
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
    return this.keyPrefix + sid
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

  #encode(session: S): string {
    let text: string
    try {
      text = this.#serializer.stringify(session)
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

  #decode(text: string, sid: string): S | null {
    try {
      const value = this.#serializer.parse(text)
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

  /** One ping a second while disconnected, each bounded by the timeout, never two at once. */
  #scheduleHealthCheck(): void {
    if (!this.ping || this.#healthCheck !== undefined || this.#closed || this.#connected) return
    this.#healthCheck = setTimeout(() => {
      this.#guard('ping', () => this.ping!()).then(
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

  #touchedRecently(sid: string): boolean {
    if (this.#touchAfterMs === 0) return false
    const at = this.#recentWrites.get(sid)
    return at !== undefined && Date.now() - at < this.#touchAfterMs
  }

  #rememberWrite(sid: string): void {
    if (this.#touchAfterMs === 0) return
    const writes = this.#recentWrites
    writes.delete(sid) // re-insert so the map stays ordered oldest first
    writes.set(sid, Date.now())
    if (writes.size > RECENT_WRITES_LIMIT) {
      // Forget the oldest entries; at worst a session is touched once more than needed.
      for (const oldest of writes.keys()) {
        writes.delete(oldest)
        if (writes.size <= RECENT_WRITES_LIMIT / 2) break
      }
    }
  }

  #requireScan(operation: string): () => AsyncIterable<string[]> {
    if (!this.scan) {
      throw this.error('EOPTIONS', `${operation}: this backend cannot enumerate sessions`, operation)
    }
    return () => this.scan!()
  }

  async #openOrThrow(operation: string): Promise<void> {
    if (this.#closed) throw this.error('ECLOSED', `${operation}: the store is closed`, operation)
  }

  /**
   * Runs one backend call under the store's deadline (none for an in-process backend), and
   * turns whatever it throws into a SessionStoreError. The deadline is what keeps a request
   * from hanging on a dead backend, whatever the client library does with its offline queue.
   */
  #guard<T>(operation: string, work: () => Promise<T>, key?: string): Promise<T> {
    if (this.#closed)
      return Promise.reject(this.error('ECLOSED', `${operation}: the store is closed`, operation))
    if (this.#inProcess) return this.#unguarded(operation, work)
    return new Promise<T>((resolve, reject) => {
      const pending: Pending = {
        deadline: performance.now() + this.#timeout,
        operation,
        key,
        reject,
        settled: false,
      }
      this.#track(pending)
      const fail = (cause: unknown) => {
        if (pending.settled) return
        this.#settle(pending)
        reject(this.#failure(operation, cause))
      }
      try {
        work().then((value) => {
          if (pending.settled) return
          this.#settle(pending)
          resolve(value)
        }, fail)
      } catch (cause) {
        fail(cause)
      }
    })
  }

  /** An in-process backend's call: its errors typed like any other, and no deadline. */
  #unguarded<T>(operation: string, work: () => Promise<T>): Promise<T> {
    try {
      return work().then(undefined, (cause: unknown) => {
        throw this.#failure(operation, cause)
      })
    } catch (cause) {
      return Promise.reject(this.#failure(operation, cause))
    }
  }

  /** What a failed backend call rejects with: a typed error, EBACKEND unless it is one already. */
  #failure(operation: string, cause: unknown): Error {
    return cause instanceof SessionStoreError || cause instanceof TypeError
      ? cause
      : this.error('EBACKEND', `${operation} failed: ${describeError(cause)}`, operation, cause)
  }

  // Deadlines. Every operation of a store has the same timeout, so deadlines come in the order
  // operations start: one queue and one timer per store (armed at the oldest unsettled deadline)
  // replace a timer per operation, which cost a tenth of the CPU of a fast backend. The timer
  // keeps the process alive only while some operation is unsettled.

  #track(pending: Pending): void {
    this.#deadlines.push(pending)
    if (this.#unsettled++ === 0) this.#deadlineTimer?.ref()
    if (this.#deadlineTimer === undefined) this.#armDeadline(pending.deadline)
  }

  #settle(pending: Pending): void {
    pending.settled = true
    if (--this.#unsettled === 0) {
      this.#deadlineTimer?.unref()
      // Everything settled: forget it all at once (the common case at low concurrency).
      this.#deadlines.length = 0
      this.#head = 0
      return
    }
    // Operations mostly settle in the order they started: drop settled ones from the front, so
    // the queue holds little more than what is in flight.
    const queue = this.#deadlines
    while (queue[this.#head]?.settled) this.#head++
    if (this.#head > 1024 && this.#head * 2 > queue.length) {
      queue.splice(0, this.#head)
      this.#head = 0
    }
  }

  #armDeadline(deadline: number): void {
    this.#deadlineTimer = setTimeout(this.#expireDeadlines, Math.max(1, deadline - performance.now()))
    if (this.#unsettled === 0) this.#deadlineTimer.unref()
  }

  readonly #expireDeadlines = (): void => {
    this.#deadlineTimer = undefined
    const queue = this.#deadlines
    // Deadlines are on the monotonic clock, as Node's timers are: a wall clock stepped back (NTP,
    // a resumed VM) must not stretch them. Node's timers count whole milliseconds from the
    // loop's cached time, so one may fire a millisecond before the exact deadline; that counts
    // as on time, or a backend's own timer of the same length could settle the caller first.
    const now = performance.now() + 2
    const expired: Pending[] = []
    for (let pending = queue[this.#head]; pending !== undefined; pending = queue[this.#head]) {
      if (!pending.settled) {
        if (pending.deadline > now) {
          this.#armDeadline(pending.deadline)
          break
        }
        pending.reject(
          this.error(
            'ETIMEOUT',
            `${pending.operation} timed out after ${this.#timeout} ms`,
            pending.operation,
          ),
        )
        this.#settle(pending)
        expired.push(pending)
      }
      if (queue[this.#head] === pending) this.#head++
    }
    // The backend hears of the timeouts only once the queue is consistent and the timer armed
    // again: its hook may emit events whose listeners start operations, or throw.
    if (this.timedOut === undefined) return
    for (const pending of expired) {
      try {
        this.timedOut(pending.operation, pending.key)
      } catch (err) {
        this.reportError(err instanceof Error ? err : new Error(String(err)))
      }
    }
  }

  /** Each step of an enumeration under the deadline. */
  async *#guardIterable<T>(operation: string, source: () => AsyncIterable<T>): AsyncIterable<T> {
    const iterator = await this.#guard(operation, async () => source()[Symbol.asyncIterator]())
    let finished = false
    let stalled = false
    try {
      while (true) {
        const step = await this.#guard(operation, () => iterator.next()).catch((err: unknown) => {
          stalled = true
          throw err
        })
        if (step.done) {
          finished = true
          return
        }
        yield step.value
      }
    } finally {
      if (!finished) {
        // Release the backend cursor when the consumer stops early or a step failed. After a
        // failed step, an async generator's return() queues behind the step that is still
        // pending, so it is not awaited then: the caller is not held past the deadline.
        const released = Promise.resolve()
          .then(() => iterator.return?.())
          .catch(noop)
        if (!stalled) await released
      }
    }
  }
}

/** An operation under its deadline. */
interface Pending {
  deadline: number
  operation: string
  /** The backend key of a one-session operation, for `timedOut`. */
  key: string | undefined
  reject: (err: Error) => void
  settled: boolean
}

/** What express-session's Store methods read from a request. */
export interface ExpressRequestLike {
  sessionID: string
  sessionStore: object & { generate?: (req: ExpressRequestLike) => void }
  [key: string]: unknown
}

/** Builds express-session's Session (with its Cookie) from loaded data. */
export type ExpressSessionFactory = (req: ExpressRequestLike, session: SessionData) => unknown

let expressSessionFactory: ExpressSessionFactory | undefined

/**
 * Installs the express-session half of `createSession`. Called by `@session-store/express`
 * when it loads; core itself imports no framework.
 */
export function registerExpressSessionFactory(factory: ExpressSessionFactory): void {
  expressSessionFactory = factory
}

function noop(): void {}

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
