/**
 * The cookie part of a session, as express-session and koa-generic-session keep it.
 * Only the fields that decide a session's lifetime matter to a store.
 */
export interface SessionCookie {
  /** Absolute expiry: a Date in memory, an ISO string once it has been through JSON. */
  expires?: Date | string | null | false
  /** Remaining lifetime in ms (express-session computes it from `expires`). */
  maxAge?: number | null
  /** The lifetime the cookie was created with, in ms. */
  originalMaxAge?: number | null
  [key: string]: unknown
}

/** A session as the frameworks hand it to a store: any JSON object, usually with a cookie. */
export interface SessionData {
  cookie?: SessionCookie
  [key: string]: unknown
}

/** A Node-style callback, as express-session passes to every store method. */
export type Callback<T = void> = (err: Error | null, value?: T) => void

/**
 * A time to live for `set` and `touch`: milliseconds, or koa-session's `'session'`
 * (a browser-session cookie, which gets the store's default ttl).
 */
export type TtlArgument = number | 'session'

/**
 * The contract every store speaks: promises, an opaque string sid, JSON session data.
 * Stores are also EventEmitters that emit `connect` and `disconnect`.
 */
export interface SessionStore<S extends object = SessionData> {
  /** Resolves the session, or `null` when there is none (never an error for absence). */
  get(sid: string): Promise<S | null>
  /** Replaces the whole session; `ttlMs` overrides the lifetime taken from the cookie. */
  set(sid: string, session: S | object, ttlMs?: TtlArgument): Promise<void>
  /** Removes the session; resolves also when there was none. */
  destroy(sid: string): Promise<void>
  /** Moves the expiry without changing the data, and never re-creates a missing session. */
  touch?(sid: string, session: S | object, ttlMs?: TtlArgument): Promise<void>
  /** Every live sid of this store's namespace, streamed. */
  ids?(): AsyncIterable<string>
  /** Every live session of this store's namespace. */
  all?(): Promise<S[]>
  /** How many live sessions this store's namespace holds. */
  length?(): Promise<number>
  /** Removes exactly this store's sessions, nothing else on the backend. */
  clear?(): Promise<void>
  /** Releases what the store created (connections, timers). */
  close?(): Promise<void>
}

/** What a store can do, so the conformance suite skips what a backend cannot do. */
export interface StoreCapabilities {
  /** `ids`, `all`, `length` and `clear` are supported. */
  enumeration: boolean
  /** The smallest ttl step the backend honours, in ms (1000 for backends that count seconds). */
  ttlGranularityMs: number
  /** The largest encoded session the backend accepts, in bytes; `Infinity` when unbounded. */
  maxValueBytes: number
}

/** Where a value is kept, for a serializer that binds values to their place. */
export interface SerializerContext {
  /** The backend key the value is stored under (the prefix and the sid, in the backend's form). */
  key: string
}

/** Turns a session into the string kept by the backend, and back. */
export interface Serializer {
  /** Must throw on data that cannot be encoded; nothing is written then. */
  stringify(value: unknown): string
  /** Must throw on data that cannot be decoded; the read then resolves `null`. */
  parse(text: string): unknown
  /**
   * When true, stores call `stringify(value, context)` and `parse(text, context)` with the
   * backend key the value is kept under, so the serializer can bind a value to its place
   * (`encryptedSerializer` does: a value copied under another sid does not decode). Others are
   * called with one argument.
   * @default false
   */
  readonly keyBound?: boolean
}

/** A serializer that binds every value to the key it is stored under. */
export interface KeyBoundSerializer extends Serializer {
  readonly keyBound: true
  stringify(value: unknown, context?: SerializerContext): string
  parse(text: string, context?: SerializerContext): unknown
}

/**
 * `T`, in a position the compiler must not infer `T` from: a store's session type comes from
 * its type argument or its default, never from the shape of its options. (What TypeScript 5.4
 * calls `NoInfer`, written so that older compilers read it too.)
 */
export type Uninferred<T> = [T][T extends unknown ? 0 : never]
