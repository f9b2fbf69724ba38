import { randomBytes } from 'node:crypto'
import type { SessionCookie, SessionData } from '@session-store/core'
import type { StoreDialect } from './clause.js'

/**
 * The inputs the frameworks write, so that a store is checked on what it will really be
 * given: sids of their shape, and for express-session stores, sessions with its cookie.
 */

/**
 * A sid as express-session (uid-safe, 24 random bytes) and koa-generic-session generate one:
 * 32 characters of base64url.
 */
export function frameworkSid(): string {
  return randomBytes(24).toString('base64url')
}

/**
 * A cookie shaped as express-session's own `Cookie`: the same own fields (`path`, `_expires`,
 * `originalMaxAge`, `httpOnly`), `expires` and a live `maxAge` (ms left) as accessors, and
 * the same JSON. Stores read any of these (connect-memcached and connect-session-knex read
 * `maxAge`, connect-redis `expires`), so the runner hands them exactly what the middleware does.
 */
export class FrameworkCookie implements SessionCookie {
  [key: string]: unknown
  path = '/'
  _expires: Date | null
  originalMaxAge: number | null
  httpOnly = true

  /** A cookie that lives `maxAgeMs` from now; null for a browser-session cookie. */
  constructor(maxAgeMs: number | null) {
    this._expires = maxAgeMs === null ? null : new Date(Date.now() + maxAgeMs)
    this.originalMaxAge = maxAgeMs
  }

  get expires(): Date | null {
    return this._expires
  }

  set expires(date: Date | null) {
    this._expires = date
  }

  /** What express-session's getter answers: the ms left, or null for a browser-session cookie. */
  get maxAge(): number | null {
    return this._expires instanceof Date ? this._expires.valueOf() - Date.now() : this._expires
  }

  /** What express-session's Cookie serializes to. */
  toJSON(): Record<string, unknown> {
    return {
      originalMaxAge: this.originalMaxAge,
      expires: this._expires,
      httpOnly: this.httpOnly,
      path: this.path,
    }
  }
}

/** One hour: the default lifetime of the sessions the clauses write. */
const HOUR = 3_600_000

/**
 * A session as a store of `dialect` is given one: express-session always writes a cookie;
 * the Koa middlewares (and our contract) may write none.
 */
export function frameworkSession(
  dialect: StoreDialect,
  data: Record<string, unknown> = {},
  maxAgeMs: number | null = HOUR,
): SessionData {
  if (dialect !== 'express' || 'cookie' in data) return { ...data }
  return { cookie: new FrameworkCookie(maxAgeMs), ...data }
}
