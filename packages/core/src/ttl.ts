import type { SessionCookie, SessionData, TtlArgument } from './types.js'

/** The lifetime a session gets when nothing else decides it: one day, in seconds. */
export const DEFAULT_TTL_SECONDS = 86_400

/** A store's `ttl` option: seconds, or a function of the session returning seconds. */
export type TtlOption<S extends object = SessionData> = number | ((session: S) => number)

/**
 * The time to live of a write, in ms, by the contract's rules (clauses C5 and C6):
 * 1. a `ttl` option that is a function decides alone (the user asked for it);
 * 2. an explicit ttl argument in ms (Koa passes one), where koa-session's `'session'`
 *    means a browser-session cookie and so the default;
 * 3. the cookie's `expires` (a Date, or an ISO string after JSON);
 * 4. the cookie's `maxAge`, then `originalMaxAge`;
 * 5. the `ttl` option as a number of seconds (default one day).
 * A result <= 0 means the session has already expired: the caller deletes instead of writing.
 * A browser-session cookie (no expiry) falls through to the default: nothing is kept forever.
 */
export function resolveTtlMs<S extends object>(
  session: S,
  explicit: TtlArgument | undefined,
  ttlOption: TtlOption<S>,
  now: number = Date.now(),
): number {
  if (typeof ttlOption === 'function') return secondsToMs(ttlOption(session))
  if (typeof explicit === 'number') return explicit
  const fromCookie = cookieTtlMs((session as SessionData).cookie, now)
  if (fromCookie !== undefined) return fromCookie
  return secondsToMs(ttlOption)
}

function cookieTtlMs(cookie: SessionCookie | undefined, now: number): number | undefined {
  if (cookie === null || typeof cookie !== 'object') return undefined
  const { expires } = cookie
  if (expires instanceof Date || typeof expires === 'string') {
    const at = expires instanceof Date ? expires.getTime() : Date.parse(expires)
    // An unparsable date is treated as absent rather than as "already expired".
    if (Number.isFinite(at)) return at - now
  }
  if (typeof cookie.maxAge === 'number' && Number.isFinite(cookie.maxAge)) return cookie.maxAge
  if (typeof cookie.originalMaxAge === 'number' && Number.isFinite(cookie.originalMaxAge)) {
    return cookie.originalMaxAge
  }
  return undefined
}

function secondsToMs(seconds: number): number {
  // A ttl function returning NaN or a non-number must not store forever or throw later.
  return Number.isFinite(seconds) ? seconds * 1000 : 0
}
