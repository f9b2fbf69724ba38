import assert from 'node:assert/strict'
import { EventEmitter, once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import { isSessionStore, type SessionData, type SessionStore } from '@session-store/core'
import { settleWithin, writeRawValue } from '@session-store/core/internal'
import type { Clause, ClauseContext, Level, StoreDialect } from './clause.js'
import { FrameworkCookie } from './inputs.js'

/**
 * Clauses C1-C14: the contract checked through the promise API alone, so the same checks
 * serve our stores and anyone's. C15 (the frameworks) lives in ./dialects.
 *
 * Every input is what the store's framework writes (ctx.session, ctx.sid): an
 * express-session store always gets a cookie and never an explicit ttl; cookie-less sessions
 * and explicit ttls are Koa input. Each part carries its level and, when required, what a
 * user of the framework sees when it fails.
 */

const required = (): Level => 'required'
/** Touch is express-session's hot path; the Koa middlewares never call it. */
const touchLevel = (dialect: StoreDialect): Level => (dialect === 'koa' ? 'recommended' : 'required')

/** A realistic session: what the framework writes, plus data of every JSON kind. */
function sampleSession(ctx: ClauseContext, extra: Record<string, unknown> = {}): SessionData {
  return ctx.session({
    cookie: new FrameworkCookie(3_600_000),
    user: { name: 'Zoë Ångström 日本 🚀', roles: ['admin', 'editor'], id: 42 },
    nested: { a: { b: { c: [1, 2, { d: null, e: [] }] } } },
    empty: {},
    emptyList: [],
    flags: { yes: true, no: false, nothing: null },
    ratio: 0.125,
    ...extra,
  })
}

/** What JSON keeps of a value: the contract's data semantics. */
function json<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T
}

/** A session with a cookie that lives `ms` from now, for expiry checks. */
function expiringIn(ms: number, extra: Record<string, unknown> = {}): SessionData {
  return { cookie: new FrameworkCookie(ms), ...extra }
}

/**
 * Short lifetimes that still work at the store's ttl granularity: a backend that counts whole
 * seconds may expire an item up to one step early, so a short ttl is two steps, and a wait
 * past it adds one more step.
 */
function shortTtl(ctx: ClauseContext): { ttl: number; wait: number } {
  const step = Math.max(1, ctx.capabilities.ttlGranularityMs)
  const ttl = Math.max(400, 2 * step)
  return { ttl, wait: ttl + step + 250 }
}

async function requireMissing(store: SessionStore, sid: string, why: string) {
  const value = await store.get(sid)
  assert.equal(value, null, `${why}: expected get to resolve null, got ${shown(value)}`)
}

async function requirePresent(store: SessionStore, sid: string, why: string): Promise<SessionData> {
  const value = await store.get(sid)
  assert.ok(value !== null && typeof value === 'object', `${why}: expected a session, got ${String(value)}`)
  return value
}

function shown(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value)
  return text.length > 120 ? `${text.slice(0, 120)}…` : text
}

/** How a call settled within `ms`: 'pending', or resolved/rejected with its value or error. */
async function outcome(call: () => unknown, ms: number) {
  const settled = await settleWithin(Promise.resolve().then(call), ms)
  if (!settled.settled) return 'pending' as const
  return 'error' in settled
    ? { state: 'rejected' as const, error: settled.error }
    : { state: 'resolved' as const, value: settled.value }
}

async function eventually(check: () => Promise<boolean>, ms: number, what: string) {
  const until = Date.now() + ms
  while (Date.now() < until) {
    try {
      if (await check()) return
    } catch {
      // not yet
    }
    await sleep(100)
  }
  assert.fail(`${what} did not happen within ${ms} ms`)
}

const C1: Clause = {
  id: 'C1',
  title: 'round-trip',
  level: required,
  userSees: 'what the app put in the session reads back wrong or not at all',
  async run(ctx: ClauseContext) {
    const store = await ctx.store()
    const sid = ctx.sid()
    const session = sampleSession(ctx)
    await store.set(sid, session)
    assert.deepEqual(await store.get(sid), json(session), 'get after set must return the same data, as JSON')

    await ctx.part(
      {
        name: 'the stored copy is a copy',
        level: 'required',
        userSees: 'changes the app never saved show up in the session',
      },
      async () => {
        ;(session.user as { name: string }).name = 'changed after set'
        const again = await requirePresent(store, sid, 'second get')
        assert.notEqual(
          (again.user as { name: string }).name,
          'changed after set',
          'the store kept a reference',
        )
      },
    )

    // express-session always writes a cookie; only the Koa middlewares write an empty session.
    if (ctx.dialect !== 'express') {
      const tiny = ctx.sid()
      await store.set(tiny, {})
      assert.deepEqual(await store.get(tiny), {}, 'an empty session must round-trip')
    }

    if (ctx.capabilities.maxValueBytes >= 200_000) {
      const big = ctx.sid()
      const payload = sampleSession(ctx, { blob: 'é'.repeat(25_000) + 'x'.repeat(50_000) })
      await store.set(big, payload)
      assert.deepEqual(await store.get(big), json(payload), 'a 100 KB session must round-trip')
    }
  },
}

const C2: Clause = {
  id: 'C2',
  title: 'missing',
  level: required,
  userSees: 'a visitor without a session gets an error page instead of a new session',
  async run(ctx: ClauseContext) {
    const store = await ctx.store()
    await requireMissing(store, ctx.sid(), 'an unknown sid')
    const sid = ctx.sid()
    await store.set(sid, sampleSession(ctx))
    await store.destroy(sid)
    await requireMissing(store, sid, 'a destroyed sid')
  },
}

const C3: Clause = {
  id: 'C3',
  title: 'overwrite',
  level: required,
  userSees: 'what the app removed from a session comes back (a revoked role, a consumed flash message)',
  async run(ctx: ClauseContext) {
    const store = await ctx.store()
    const sid = ctx.sid()
    await store.set(sid, ctx.session({ first: 1, stale: { deep: true } }))
    const second = ctx.session({ second: 2 })
    await store.set(sid, second)
    assert.deepEqual(await store.get(sid), json(second), 'a second set must replace the whole session')
  },
}

const C4: Clause = {
  id: 'C4',
  title: 'destroy',
  level: required,
  userSees: 'a user who logged out is still logged in',
  async run(ctx: ClauseContext) {
    const store = await ctx.store()
    const sid = ctx.sid()
    const other = ctx.sid()
    await store.set(sid, sampleSession(ctx))
    await store.set(other, sampleSession(ctx))
    await store.destroy(sid)
    await requireMissing(store, sid, 'after destroy')
    await requirePresent(store, other, 'destroy must remove only its own sid')
    await ctx.part(
      {
        name: 'destroying an unknown sid resolves',
        level: 'required',
        userSees: 'logging out of a session that already ended answers an error page',
      },
      async () => {
        await store.destroy(sid)
        await store.destroy(ctx.sid())
      },
    )
  },
}

const C5: Clause = {
  id: 'C5',
  title: 'ttl-explicit',
  level: required,
  userSees: 'a session outlives the ttl the Koa middleware gave it: a replayed cookie still logs in',
  async run(ctx: ClauseContext) {
    if (ctx.dialect === 'express') ctx.skip('express-session passes no explicit ttl')
    const store = await ctx.store()
    const { ttl, wait } = shortTtl(ctx)
    const short = ctx.sid()
    await store.set(short, sampleSession(ctx), ttl)
    await requirePresent(store, short, `right after set with ttl ${ttl} ms`)
    const long = ctx.sid()
    await ctx.part({ name: 'an explicit ttl beats the cookie', level: 'recommended' }, async () => {
      await store.set(long, expiringIn(1000), 3_600_000)
    })
    await sleep(wait)
    await requireMissing(store, short, `${wait} ms after set with ttl ${ttl} ms`)
    await ctx.part({ name: 'an explicit ttl beats the cookie', level: 'recommended' }, async () => {
      await requirePresent(store, long, 'an explicit ttl of one hour must outlive a cookie of one second')
    })

    await ctx.part({ name: 'an explicit ttl <= 0 removes the session', level: 'recommended' }, async () => {
      for (const ttlMs of [0, -1000]) {
        const sid = ctx.sid()
        await store.set(sid, sampleSession(ctx))
        await store.set(sid, sampleSession(ctx), ttlMs)
        await requireMissing(store, sid, `set with ttl ${ttlMs}`)
      }
    })
  },
}

const C6: Clause = {
  id: 'C6',
  title: 'ttl-cookie',
  level: (dialect) => (dialect === 'koa' ? 'recommended' : 'required'),
  userSees: "a session outlives its cookie's expiry: a copied or replayed cookie still logs in",
  async run(ctx: ClauseContext) {
    const store = await ctx.store()
    const { ttl, wait } = shortTtl(ctx)
    const express = ctx.dialect !== 'koa'
    const koa = ctx.dialect !== 'express'
    // The Koa middlewares pass the ttl explicitly; cookie rules are hygiene for their stores.
    const asWritten: Level = express ? 'required' : 'recommended'

    const cases: Array<{
      name: string
      level: Level
      session: SessionData | (() => SessionData)
      ttlArgument?: 'session'
      kept: boolean
      userSees?: string
    }> = [
      {
        name: 'cookie.expires as express-session writes it',
        level: asWritten,
        session: () => expiringIn(ttl, { kind: 'express' }),
        kept: false,
        userSees:
          'a session outlives the expiry express-session gave it: a copied or replayed cookie still logs in',
      },
      {
        name: 'a browser-session cookie gets the default ttl',
        level: asWritten,
        session: () => ({ cookie: new FrameworkCookie(null), kind: 'browser' }),
        kept: true,
        userSees: 'users with a browser-session cookie are logged out at once',
      },
      {
        name: 'cookie.expires as an ISO string',
        level: 'recommended',
        session: () => ({
          cookie: { expires: new Date(Date.now() + ttl).toISOString(), originalMaxAge: null },
          kind: 'iso',
        }),
        kept: false,
      },
      {
        name: 'cookie.maxAge without expires',
        level: 'recommended',
        session: () => ({ cookie: { maxAge: ttl }, kind: 'maxAge' }),
        kept: false,
      },
      {
        name: 'cookie.originalMaxAge without expires',
        level: 'recommended',
        session: () => ({ cookie: { originalMaxAge: ttl, expires: null }, kind: 'originalMaxAge' }),
        kept: false,
      },
    ]
    if (koa) {
      cases.push({
        name: "koa-session's 'session' maxAge gets the default ttl",
        level: ctx.dialect === 'koa' || ctx.dialect === 'contract' ? 'required' : 'recommended',
        session: { kind: 'koa-session' },
        ttlArgument: 'session',
        kept: true,
        userSees: 'koa-session users with a browser-session cookie lose their session',
      })
    }
    const sids = cases.map(() => ctx.sid())
    const written = await Promise.all(
      cases.map((c, index) =>
        ctx.part(c, async () => {
          const session = typeof c.session === 'function' ? c.session() : c.session
          await (c.ttlArgument
            ? store.set(sids[index]!, session, c.ttlArgument)
            : store.set(sids[index]!, session))
          await requirePresent(store, sids[index]!, `right after set (${c.name})`)
        }),
      ),
    )
    await sleep(wait)
    for (const [index, c] of cases.entries()) {
      if (!written[index]) continue
      await ctx.part(c, async () => {
        if (c.kept) await requirePresent(store, sids[index]!, `${c.name}, ${wait} ms later`)
        else await requireMissing(store, sids[index]!, `${wait} ms after set, past ${c.name}`)
      })
    }

    await ctx.part({ name: 'an expiry in the past removes the session', level: 'recommended' }, async () => {
      const past = ctx.sid()
      await store.set(past, sampleSession(ctx))
      const cookie = new FrameworkCookie(3_600_000)
      cookie.expires = new Date(Date.now() - 1000)
      await store.set(past, { cookie, late: true })
      await requireMissing(store, past, 'set with cookie.expires in the past')
    })
  },
}

const C7: Clause = {
  id: 'C7',
  title: 'touch',
  level: touchLevel,
  userSees: 'an active user is logged out, or a logged-out one comes back',
  async run(ctx: ClauseContext) {
    const store = await ctx.store()
    if (typeof store.touch !== 'function') ctx.skip('the store has no touch')
    const touch = store.touch.bind(store)
    const { ttl, wait } = shortTtl(ctx)
    const level = touchLevel(ctx.dialect)

    const kept = ctx.sid()
    await store.set(kept, expiringIn(ttl, { data: 'original' }))
    await touch(kept, expiringIn(3_600_000, { data: 'changed by touch' }))
    await sleep(wait)
    let after: SessionData | null = null
    await ctx.part(
      {
        name: 'touch moves the expiry',
        level,
        userSees: 'a user is logged out while active, at the maxAge of the first request',
      },
      async () => {
        after = await requirePresent(
          store,
          kept,
          'a session touched with a one-hour cookie, after its first ttl',
        )
      },
    )
    if (after) {
      const data = (after as SessionData).data
      await ctx.part(
        {
          name: 'touch leaves the data',
          level,
          userSees: 'a change saved by a parallel request is overwritten by the touch of another: data lost',
        },
        async () => assert.equal(data, 'original', 'touch must not change the stored data'),
      )
    }

    await ctx.part(
      {
        name: 'touch after destroy',
        level,
        userSees: 'a session destroyed at logout is readable again after touch: the user is logged back in',
      },
      async () => {
        const destroyed = ctx.sid()
        await store.set(destroyed, sampleSession(ctx))
        await store.destroy(destroyed)
        await touch(destroyed, sampleSession(ctx))
        await requireMissing(store, destroyed, 'touch after destroy')
      },
    )

    await ctx.part(
      {
        name: 'touch after expiry',
        level,
        userSees: 'an expired session comes back after touch: an idle user is logged back in',
      },
      async () => {
        const expired = ctx.sid()
        await store.set(expired, expiringIn(ttl))
        await sleep(wait)
        await touch(expired, expiringIn(3_600_000))
        await requireMissing(store, expired, 'touch after expiry')
      },
    )
  },
}

/** The sessions `all()` answered, whether as an array (express-session's documented shape) or an object keyed by sid. */
async function allSessions(store: SessionStore): Promise<SessionData[]> {
  const all: unknown = await store.all?.()
  if (Array.isArray(all)) return all as SessionData[]
  assert.ok(all !== null && typeof all === 'object', `all() must resolve sessions, got ${shown(all)}`)
  return Object.values(all as Record<string, SessionData>)
}

const C8: Clause = {
  id: 'C8',
  title: 'isolation',
  level: required,
  userSees: 'sessions of one app are seen, listed or removed by another app sharing the backend',
  async run(ctx: ClauseContext) {
    const one = await ctx.store()
    const two = await ctx.store()
    const sid = ctx.sid()
    await one.set(sid, ctx.session({ owner: 'one' }))
    await two.set(sid, ctx.session({ owner: 'two' }))
    assert.equal((await one.get(sid))?.owner, 'one', 'store one must see its own session')
    assert.equal((await two.get(sid))?.owner, 'two', 'store two must see its own session')
    await one.destroy(sid)
    await requireMissing(one, sid, 'after destroy in store one')
    assert.equal((await two.get(sid))?.owner, 'two', "destroy in one namespace must not touch the other's")

    if (!ctx.capabilities.enumeration) return
    const onlyTwo = ctx.sid()
    await two.set(onlyTwo, ctx.session({ owner: 'two' }))
    await one.set(ctx.sid(), ctx.session({ owner: 'one' }))
    if (typeof one.ids === 'function') {
      const idsOfOne = await collect(one.ids())
      assert.ok(!idsOfOne.includes(onlyTwo), "store one enumerated store two's sid")
    }
    if (typeof one.all === 'function') {
      const owners = (await allSessions(one)).map((s) => s?.owner)
      assert.deepEqual(
        owners,
        ['one'],
        `all() of store one must list only its own session, got owners ${shown(owners)}`,
      )
    }
    if (typeof one.length === 'function') {
      assert.equal(await one.length(), 1, 'length must count only its own namespace')
    }
    if (typeof one.clear === 'function') {
      await one.clear()
      assert.equal(
        (await two.get(onlyTwo))?.owner,
        'two',
        "clear in one namespace removed the other's session",
      )
    }
  },
}

const C9: Clause = {
  id: 'C9',
  title: 'enumeration',
  level: () => 'recommended',
  userSees: '',
  async run(ctx: ClauseContext) {
    const store = await ctx.store()
    if (!ctx.capabilities.enumeration) ctx.skip('the store declares no enumeration')
    const neighbour = await ctx.store()
    const { ttl, wait } = shortTtl(ctx)
    const live = Array.from({ length: 30 }, () => ctx.sid())
    await Promise.all(live.map((sid, index) => store.set(sid, ctx.session({ index }))))
    const expiring = ctx.sid()
    await store.set(expiring, expiringIn(ttl, { index: -1 }))
    const neighbourSid = ctx.sid()
    await neighbour.set(neighbourSid, ctx.session({ index: 'neighbour' }))
    await sleep(wait)

    if (typeof store.ids === 'function') {
      await ctx.part({ name: 'ids() lists the live sessions', level: 'recommended' }, async () => {
        const ids = await collect(store.ids?.())
        assert.deepEqual(
          [...ids].sort(),
          [...live].sort(),
          'ids() must list exactly the live sids of this store',
        )
        // Stopping early must be fine (the store's cursor is released).
        for await (const _ of store.ids?.() ?? []) break
      })
    }
    if (typeof store.all === 'function') {
      await ctx.part({ name: 'all() lists the live sessions', level: 'recommended' }, async () => {
        const indices = (await allSessions(store)).map((s) => s?.index as number).sort((a, b) => a - b)
        assert.deepEqual(
          indices,
          live.map((_, index) => index),
          'all() must return exactly the live sessions of this store',
        )
      })
    }
    if (typeof store.length === 'function') {
      await ctx.part({ name: 'length() counts the live sessions', level: 'recommended' }, async () => {
        assert.equal(await store.length?.(), live.length, 'length() must count the live sessions only')
      })
    }
    if (typeof store.clear === 'function') {
      await ctx.part(
        {
          name: 'clear() removes exactly this store’s sessions',
          level: 'required',
          userSees:
            'sessions survive clear(): users signed out by it stay logged in, or another app loses its sessions',
        },
        async () => {
          await store.clear?.()
          await requireMissing(store, live[0]!, 'a session after clear()')
          await requirePresent(neighbour, neighbourSid, "clear() must leave other namespaces' sessions")
        },
      )
      if (typeof store.length === 'function') {
        await ctx.part({ name: 'length() after clear()', level: 'recommended' }, async () => {
          assert.equal(await store.length?.(), 0, 'length() after clear()')
        })
      }
    }
  },
}

const C10: Clause = {
  id: 'C10',
  title: 'concurrency',
  level: required,
  userSees: "under load, users' sessions are lost or mixed",
  async run(ctx: ClauseContext) {
    const store = await ctx.store()
    const sids = Array.from({ length: 200 }, () => ctx.sid())
    await Promise.all(sids.map((sid, n) => store.set(sid, ctx.session({ n }))))
    const read = await Promise.all(sids.map((sid) => store.get(sid)))
    read.forEach((session, n) => {
      assert.equal(session?.n, n, `parallel writes to distinct sids: sid #${n} read ${shown(session)}`)
    })

    const shared = ctx.sid()
    const writers = Array.from({ length: 50 }, (_, writer) =>
      ctx.session({ writer, payload: `${'x'.repeat(2000)}${writer}`, copies: [writer, writer, writer] }),
    )
    await Promise.all(writers.map((value) => store.set(shared, value)))
    const final = await requirePresent(store, shared, 'after parallel writes to one sid')
    const writer = final.writer as number
    assert.deepEqual(
      final,
      json(writers[writer]),
      'parallel writes to one sid must leave one complete written value',
    )
    await Promise.all(sids.map((sid) => store.destroy(sid)))
  },
}

/** Sids that stores tend to mishandle: path, glob, SQL and template characters, prototype names. */
export const trickySids = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  'with space',
  ' leading and trailing ',
  'a/b:c*d?e$f{g}h',
  '*',
  '?',
  '[abc]',
  'a%b_c',
  "x'; DROP TABLE sessions; --",
  'back\\slash',
  '"quoted"',
  'tab\tnew\nline',
  'Zoë-日本-🚀',
  'CaseSensitive',
  'casesensitive',
  '.',
  '..',
  '$gt',
]

/** The sid lengths C11 probes, beyond the frameworks' 32 characters. */
const SID_LENGTHS = [64, 128, 255, 256, 512, 1000, 4096]

const C11: Clause = {
  id: 'C11',
  title: 'sids',
  // The frameworks generate 32 characters of base64url and sign their cookies: no user can
  // make them send any other sid. What follows is hygiene for custom `genid`s and direct use.
  level: () => 'recommended',
  userSees: '',
  async run(ctx: ClauseContext) {
    const store = await ctx.store()
    await ctx.part({ name: 'odd sids are opaque keys', level: 'recommended' }, async () => {
      await Promise.all(trickySids.map((sid, index) => store.set(sid, ctx.session({ index, sid }))))
      for (const [index, sid] of trickySids.entries()) {
        const session = await store.get(sid)
        assert.equal(session?.index, index, `sid ${JSON.stringify(sid)} read back ${shown(session)}`)
        assert.equal(session?.sid, sid, `sid ${JSON.stringify(sid)} read back ${shown(session)}`)
      }
      assert.equal(({} as Record<string, unknown>).index, undefined, 'a sid polluted Object.prototype')
      await Promise.all(trickySids.map((sid) => store.destroy(sid)))
      for (const sid of trickySids) await requireMissing(store, sid, `destroyed sid ${JSON.stringify(sid)}`)
    })

    let longest = 32
    let failure: string | undefined
    for (const length of SID_LENGTHS) {
      const sid = `${ctx.sid()}${'x'.repeat(length - 32)}`
      try {
        await store.set(sid, ctx.session({ length }))
        const back = await store.get(sid)
        assert.equal(back?.length, length, `a ${length}-character sid read back ${shown(back)}`)
        await store.destroy(sid)
        longest = length
      } catch (err) {
        failure = `a ${length}-character sid failed: ${err instanceof Error ? err.message : String(err)}`
        break
      }
    }
    ctx.note(`longest sid that worked: ${longest} characters${failure ? ` (${failure.split('\n')[0]})` : ''}`)
    await ctx.part({ name: 'long sids (up to 4096 characters)', level: 'recommended' }, async () => {
      if (failure) assert.fail(`${failure.split('\n')[0]}; the longest that worked had ${longest}`)
    })

    const timeout = ctx.target.operationTimeout ?? 5000
    await ctx.part({ name: 'an empty or non-string sid is refused', level: 'recommended' }, async () => {
      const invalid: unknown[] = ['', undefined, null, 42, { $gt: '' }, ['a'], true]
      for (const bad of invalid) {
        for (const [name, call] of [
          ['get', () => store.get(bad as string)],
          ['set', () => store.set(bad as string, ctx.session({ a: 1 }))],
          ['destroy', () => store.destroy(bad as string)],
        ] as Array<[string, () => Promise<unknown>]>) {
          const settled = await outcome(call, timeout)
          const what = `${name}(${JSON.stringify(bad) ?? String(bad)})`
          assert.ok(settled !== 'pending', `${what} did not settle`)
          assert.equal(settled.state, 'rejected', `${what} must reject, it resolved`)
          assert.ok(
            (settled as { error: unknown }).error instanceof TypeError,
            `${what} must reject with a TypeError, got ${String((settled as { error: unknown }).error)}`,
          )
        }
      }
    })
  },
}

const C12: Clause = {
  id: 'C12',
  title: 'bad data',
  level: required,
  userSees: 'one bad session breaks its user’s every request, or the app',
  async run(ctx: ClauseContext) {
    const store = await ctx.store()
    const sid = ctx.sid()
    const before = ctx.session({ kept: true })
    await store.set(sid, before)
    const cyclic: Record<string, unknown> = ctx.session({ a: 1 })
    cyclic.self = cyclic
    for (const [what, bad] of [
      ['a cycle', cyclic],
      ['a BigInt', ctx.session({ n: 10n })],
    ] as const) {
      await ctx.part(
        { name: `a session with ${what} is refused with an error`, level: 'recommended' },
        async () => {
          await assert.rejects(store.set(sid, bad as SessionData), (err: unknown) => {
            assert.ok(
              err instanceof Error && err.message.length > 0,
              `encoding ${what} must reject with a clear error`,
            )
            return true
          })
        },
      )
      await ctx.part(
        {
          name: `a failed set with ${what} writes nothing`,
          level: 'required',
          userSees: 'a session that could not be saved is lost, and its user logged out',
        },
        async () => {
          assert.deepEqual(await store.get(sid), json(before), `a failed set with ${what} must write nothing`)
        },
      )
    }
    await ctx.part({ name: 'a sid whose only set failed stays missing', level: 'recommended' }, async () => {
      const fresh = ctx.sid()
      await store.set(fresh, cyclic as SessionData).catch(() => {})
      await requireMissing(store, fresh, 'a sid whose only set failed to encode')
    })

    const corrupt = ctx.sid()
    const plant = ctx.target.plantCorrupt ?? plantThroughBackendWriter(store)
    if (!plant) ctx.skip('no way to plant a corrupt value in this backend')
    await plant(store, corrupt)
    const reported: unknown[] = []
    if (store instanceof EventEmitter) store.on('corrupt', (err) => reported.push(err))
    await ctx.part(
      {
        name: 'a corrupt stored value reads as null',
        level: 'required',
        userSees: 'a user whose stored session is corrupt gets an error page on every request',
      },
      async () => requireMissing(store, corrupt, 'a corrupt stored value'),
    )
    // Our stores report it on 'corrupt'; the contract does not name an event for anyone else's.
    if (isSessionStore(store)) {
      await ctx.part({ name: "a corrupt value is reported on 'corrupt'", level: 'recommended' }, async () => {
        assert.equal(reported.length, 1, "a corrupt value must be reported on the store's 'corrupt' event")
      })
    }
    await store.set(corrupt, ctx.session({ healed: true }))
    assert.equal((await store.get(corrupt))?.healed, true, 'the next set must heal a corrupt value')
  },
}

/**
 * For our own stores: plant through the store's own backend writer, which takes an
 * already-encoded string, so the bytes land in the real backend exactly as a foreign writer
 * (or a truncated write) would have left them.
 */
function plantThroughBackendWriter(store: SessionStore) {
  if (!isSessionStore(store)) return undefined
  return async (target: SessionStore, sid: string) => {
    await writeRawValue(target, sid, '{"truncated": "sess', 60_000)
  }
}

const C13: Clause = {
  id: 'C13',
  title: 'outage',
  level: required,
  userSees: 'while the backend is down, requests hang instead of failing, or the store never recovers',
  async run(ctx: ClauseContext) {
    const outage = ctx.target.outage
    if (!outage) ctx.skip(ctx.target.outageUnavailable ?? 'the target offers no way to take the backend down')
    const store = await ctx.store()
    const timeout = ctx.target.operationTimeout ?? 5000
    const before = ctx.sid()
    await store.set(before, ctx.session({ written: 'before the outage' }))
    const events = store instanceof EventEmitter ? store : undefined
    const disconnected = events ? once(events, 'disconnect') : undefined
    disconnected?.catch(() => {})

    await outage.stop()
    let restarted = false
    try {
      const sid = ctx.sid()
      const calls: Array<[string, () => unknown]> = [
        ['get', () => store.get(sid)],
        ['set', () => store.set(sid, ctx.session({ during: 'outage' }))],
        ['destroy', () => store.destroy(sid)],
      ]
      if (store.touch) calls.push(['touch', () => store.touch?.(before, ctx.session())])
      const outcomes = await Promise.all(calls.map(([, call]) => outcome(call, timeout + 1500)))
      outcomes.forEach((settled, index) => {
        const name = calls[index]![0]
        assert.ok(
          settled !== 'pending',
          `${name} hung during the outage (not settled ${timeout + 1500} ms later)`,
        )
        assert.equal(settled.state, 'rejected', `${name} must reject while the backend is down, it resolved`)
      })
      if (disconnected) {
        const emitted = await settleWithin(disconnected, timeout)
        await ctx.part({ name: "'disconnect' is emitted", level: 'recommended' }, async () =>
          assert.ok(emitted.settled, "the store did not emit 'disconnect' during the outage"),
        )
      }
      const connected = events ? once(events, 'connect') : undefined
      connected?.catch(() => {})
      await outage.start()
      restarted = true
      const after = ctx.sid()
      await eventually(
        async () => {
          await store.set(after, ctx.session({ written: 'after the outage' }))
          return (await store.get(after)) !== null
        },
        Math.max(15_000, timeout * 3),
        'the same store working again after the backend returned',
      )
      if (connected) {
        const emitted = await settleWithin(connected, timeout)
        await ctx.part({ name: "'connect' is emitted", level: 'recommended' }, async () =>
          assert.ok(emitted.settled, "the store did not emit 'connect' after the backend returned"),
        )
      }
    } finally {
      if (!restarted) await outage.start()
    }
  },
}

const C14: Clause = {
  id: 'C14',
  title: 'close',
  level: required,
  userSees: 'the app cannot shut down: close() never finishes',
  async run(ctx: ClauseContext) {
    const store = await ctx.store()
    if (typeof store.close !== 'function') ctx.skip('the store has no close')
    const sid = ctx.sid()
    await store.set(sid, sampleSession(ctx))
    await store.close()
    await ctx.part({ name: 'close() twice resolves', level: 'recommended' }, async () => {
      await store.close?.()
    })
    const timeout = ctx.target.operationTimeout ?? 5000
    for (const [name, call] of [
      ['get', () => store.get(sid)],
      ['set', () => store.set(sid, sampleSession(ctx))],
      ['destroy', () => store.destroy(sid)],
    ] as Array<[string, () => Promise<unknown>]>) {
      const settled = await outcome(call, timeout)
      await ctx.part(
        {
          name: `${name} after close() settles`,
          level: 'required',
          userSees: 'requests during shutdown hang',
        },
        async () => assert.ok(settled !== 'pending', `${name} after close() hung`),
      )
      await ctx.part({ name: `${name} after close() rejects`, level: 'recommended' }, async () =>
        assert.equal(
          (settled as { state: string }).state,
          'rejected',
          `${name} after close() must reject clearly, it resolved`,
        ),
      )
    }
  },
}

async function collect(source: AsyncIterable<string> | undefined): Promise<string[]> {
  assert.ok(source && Symbol.asyncIterator in source, 'ids() must return an async iterable')
  const out: string[] = []
  for await (const sid of source) out.push(sid)
  return out
}

/** C1-C14, in order. */
export const contractClauses: Clause[] = [C1, C2, C3, C4, C5, C6, C7, C8, C9, C10, C11, C12, C13, C14]
