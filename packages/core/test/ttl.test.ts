import { DEFAULT_TTL_SECONDS, resolveTtlMs } from '@session-store/core/internal'
import { describe, expect, it } from 'vitest'

const now = 1_700_000_000_000
const day = DEFAULT_TTL_SECONDS

describe('resolveTtlMs', () => {
  it('takes an explicit ttl in ms over the cookie', () => {
    expect(resolveTtlMs({ cookie: { maxAge: 5000 } }, 1234, day, now)).toBe(1234)
  })
  it("reads koa-session's 'session' as a browser-session cookie: the default", () => {
    expect(resolveTtlMs({}, 'session', day, now)).toBe(day * 1000)
    expect(resolveTtlMs({ cookie: { maxAge: 5000 } }, 'session', day, now)).toBe(5000)
  })
  it('takes cookie.expires as a Date or an ISO string, before maxAge', () => {
    const expires = new Date(now + 7000)
    expect(resolveTtlMs({ cookie: { expires, maxAge: 1 } }, undefined, day, now)).toBe(7000)
    expect(resolveTtlMs({ cookie: { expires: expires.toISOString() } }, undefined, day, now)).toBe(7000)
  })
  it('falls back to maxAge, then originalMaxAge', () => {
    expect(resolveTtlMs({ cookie: { maxAge: 3000, originalMaxAge: 9000 } }, undefined, day, now)).toBe(3000)
    expect(resolveTtlMs({ cookie: { originalMaxAge: 9000 } }, undefined, day, now)).toBe(9000)
  })
  it('gives a browser-session cookie the default ttl, never forever', () => {
    const browser = { cookie: { expires: null, maxAge: null, originalMaxAge: null } }
    expect(resolveTtlMs(browser, undefined, day, now)).toBe(day * 1000)
    expect(resolveTtlMs({ cookie: { expires: false } }, undefined, 60, now)).toBe(60_000)
  })
  it('ignores an unparsable expires instead of expiring at once', () => {
    expect(resolveTtlMs({ cookie: { expires: 'not a date', maxAge: 2000 } }, undefined, day, now)).toBe(2000)
  })
  it('returns <= 0 for an expiry in the past (the caller deletes)', () => {
    expect(resolveTtlMs({ cookie: { expires: new Date(now - 1) } }, undefined, day, now)).toBeLessThanOrEqual(
      0,
    )
  })
  it('lets a ttl function decide alone, in seconds; a bad result means expired', () => {
    const ttl = (s: { role?: string }) => (s.role === 'admin' ? 60 : 3600)
    expect(resolveTtlMs({ role: 'admin' }, 99_999, ttl, now)).toBe(60_000)
    expect(resolveTtlMs({}, undefined, () => Number.NaN, now)).toBe(0)
  })
})
