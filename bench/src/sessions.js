// @ts-check
// The data every subject is fed: express-session-shaped sessions of a fixed encoded size,
// sids like express-session's, and a seeded random sequence so every subject sees the same
// operations in the same order.

import { randomBytes } from 'node:crypto'
import session from 'express-session'

/** One day, in ms: the cookie maxAge of every benchmark session. */
export const SESSION_MAX_AGE_MS = 86_400_000

/**
 * A session as express-session hands it to a store: a real `Cookie` (with its `expires` Date
 * and `originalMaxAge`) and some user data, padded so that `JSON.stringify` of the whole
 * session is exactly `bytes` long.
 * @param {number} bytes the encoded size, at least ~250
 * @param {number} [seed] varies the user id so sessions differ
 * @returns {Record<string, any>}
 */
export function makeSession(bytes, seed = 1) {
  const cookie = new session.Cookie({ maxAge: SESSION_MAX_AGE_MS, httpOnly: true, path: '/' })
  /** @type {Record<string, unknown>} */
  const data = {
    cookie,
    user: { id: 100_000 + seed, name: 'Ada Lovelace', roles: ['reader', 'writer'] },
    csrfSecret: 'q2Xn1VbKx0c9oPz7LrTm4sYw',
    pad: '',
  }
  const base = JSON.stringify(data).length
  if (base > bytes) throw new Error(`a session cannot be smaller than ${base} bytes`)
  data.pad = 'x'.repeat(bytes - base)
  return /** @type {Record<string, any>} */ (data)
}

/** A new sid: 24 random bytes in base64url, as express-session's uid-safe makes them. */
export function newSid() {
  return randomBytes(24).toString('base64url')
}

/**
 * `count` fresh sids, made in one go (one random buffer), so that making them costs nothing
 * inside a timed loop.
 * @param {number} count
 * @param {string} [tag] mixed in so that two lists never share a sid
 */
export function sidList(count, tag = '') {
  const bytes = randomBytes(count * 24)
  const sids = new Array(count)
  for (let i = 0; i < count; i++) sids[i] = tag + bytes.toString('base64url', i * 24, i * 24 + 24)
  return sids
}

/**
 * A small seeded generator (mulberry32): the same seed gives every subject the same sequence
 * of keys and operations.
 * @param {number} seed
 * @returns {() => number} uniform in [0, 1)
 */
export function seededRandom(seed) {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
