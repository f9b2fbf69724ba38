import assert from 'node:assert/strict'
import { EventEmitter, once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import { isSessionStore, type SessionData, type SessionStore } from '@session-store/core'
import { writeRawValue } from '@session-store/core/internal'
import type { Clause, ClauseContext } from './clause.js'

/**
 * Clauses C1-C14: the contract checked through the promise API alone, so the same checks
 * serve our stores and anyone's. C15 (the frameworks) lives in ./dialects.
 */

/** A realistic session: what express-session writes, plus data of every JSON kind. */
function sampleSession(extra: Record<string, unknown> = {}): SessionData {
  return {
    cookie: {
      originalMaxAge: 3_600_000,
      expires: new Date(Date.now() + 3_600_000),
      httpOnly: true,
      path: '/',
    },
    user: { name: 'Zoë Ångström 日本 🚀', roles: ['admin', 'editor'], id: 42 },
    nested: { a: { b: { c: [1, 2, { d: null, e: [] }] } } },
    empty: {},
    emptyList: [],
    flags: { yes: true, no: false, nothing: null },
    ratio: 0.125,
    ...extra,
  }
}

/** What JSON keeps of a value: the contract's data semantics. */
function json<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T
}

/** A session with a cookie that lives `ms` from now, for expiry checks. */
function expiringIn(ms: number, extra: Record<string, unknown> = {}): SessionData {
  return { cookie: { originalMaxAge: ms, expires: new Date(Date.now() + ms) }, ...extra }
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
  assert.equal(value, null, `${why}: expected get to resolve null, got ${JSON.stringify(value)}`)
}

async function requirePresent(store: SessionStore, sid: string, why: string): Promise<SessionData> {
  const value = await store.get(sid)
  assert.ok(value !== null && typeof value === 'object', `${why}: expected a session, got ${String(value)}`)
  return value
}

/** Resolves to the settled state of a promise, or 'pending' if it has not settled within ms. */
async function settleWithin(promise: Promise<unknown>, ms: number) {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<'pending'>((resolve) => {
    timer = setTimeout(() => resolve('pending'), ms)
  })
  try {
    return await Promise.race([
      promise.then(
        (value) => ({ state: 'resolved' as const, value }),
        (error: unknown) => ({ state: 'rejected' as const, error }),
      ),
      deadline,
    ])
  } finally {
    clearTimeout(timer)
  }
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
  async run(ctx: ClauseContext) {
    const store = await ctx.store()
    const sid = ctx.sid()
    const session = sampleSession()
    await store.set(sid, session)
    assert.deepEqual(await store.get(sid), json(session), 'get after set must return the same data, as JSON')

    // The stored copy is a copy: changing the object afterwards changes nothing stored.
    ;(session.user as { name: string }).name = 'changed after set'
    const again = await requirePresent(store, sid, 'second get')
    assert.notEqual((again.user as { name: string }).name, 'changed after set', 'the store kept a reference')

    const tiny = ctx.sid()
    await store.set(tiny, {})
    assert.deepEqual(await store.get(tiny), {}, 'an empty session must round-trip')

    if (ctx.capabilities.maxValueBytes >= 200_000) {
      const big = ctx.sid()
      const payload = sampleSession({ blob: 'é'.repeat(25_000) + 'x'.repeat(50_000) })
      await store.set(big, payload)
      assert.deepEqual(await store.get(big), json(payload), 'a 100 KB session must round-trip')
    }
  },
}

const C2: Clause = {
  id: 'C2',
  title: 'missing',
  async run(ctx: ClauseContext) {
    const store = await ctx.store()
    await requireMissing(store, ctx.sid(), 'an unknown sid')
    const sid = ctx.sid()
    await store.set(sid, sampleSession())
    await store.destroy(sid)
    await requireMissing(store, sid, 'a destroyed sid')
  },
}

const C3: Clause = {
  id: 'C3',
  title: 'overwrite',
  async run(ctx: ClauseContext) {
    const store = await ctx.store()
    const sid = ctx.sid()
    await store.set(sid, { cookie: { originalMaxAge: 60_000 }, first: 1, stale: { deep: true } })
    const second = { cookie: { originalMaxAge: 60_000 }, second: 2 }
    await store.set(sid, second)
    assert.deepEqual(await store.get(sid), second, 'a second set must replace the whole session')
  },
}

const C4: Clause = {
  id: 'C4',
  title: 'destroy',
  async run(ctx: ClauseContext) {
    const store = await ctx.store()
    const sid = ctx.sid()
    const other = ctx.sid()
    await store.set(sid, sampleSession())
    await store.set(other, sampleSession())
    await store.destroy(sid)
    await requireMissing(store, sid, 'after destroy')
    await requirePresent(store, other, 'destroy must remove only its own sid')
    await store.destroy(sid)
    await store.destroy(ctx.sid())
  },
}

const C5: Clause = {
  id: 'C5',
  title: 'ttl-explicit',
  async run(ctx: ClauseContext) {
    if (ctx.target.dialect === 'express') ctx.skip('an express-session store takes no explicit ttl')
    const store = await ctx.store()
    const { ttl, wait } = shortTtl(ctx)
    const short = ctx.sid()
    const long = ctx.sid()
    // The explicit ttl wins over the cookie's hour.
    await store.set(short, sampleSession(), ttl)
    await store.set(long, expiringIn(1000), 3_600_000)
    await requirePresent(store, short, `right after set with ttl ${ttl} ms`)
    await sleep(wait)
    await requireMissing(store, short, `${wait} ms after set with ttl ${ttl} ms`)
    await requirePresent(store, long, 'an explicit ttl of one hour must outlive a cookie of one second')

    // An explicit ttl <= 0 stores nothing and removes the old value.
    for (const ttlMs of [0, -1000]) {
      const sid = ctx.sid()
      await store.set(sid, sampleSession())
      await store.set(sid, sampleSession(), ttlMs)
      await requireMissing(store, sid, `set with ttl ${ttlMs}`)
    }
  },
}

const C6: Clause = {
  id: 'C6',
  title: 'ttl-cookie',
  async run(ctx: ClauseContext) {
    const store = await ctx.store()
    const { ttl, wait } = shortTtl(ctx)
    const expiresDate = ctx.sid()
    const expiresString = ctx.sid()
    const maxAge = ctx.sid()
    const originalMaxAge = ctx.sid()
    const browserSession = ctx.sid()
    const koaSession = ctx.sid()
    const at = new Date(Date.now() + ttl)
    await Promise.all([
      store.set(expiresDate, { cookie: { expires: at, originalMaxAge: ttl }, kind: 'date' }),
      store.set(expiresString, { cookie: { expires: at.toISOString(), originalMaxAge: null }, kind: 'iso' }),
      store.set(maxAge, { cookie: { maxAge: ttl }, kind: 'maxAge' }),
      store.set(originalMaxAge, { cookie: { originalMaxAge: ttl, expires: null }, kind: 'originalMaxAge' }),
      store.set(browserSession, { cookie: { originalMaxAge: null, expires: null }, kind: 'browser' }),
      store.set(koaSession, { kind: 'koa-session' }, 'session'),
    ])
    for (const sid of [expiresDate, expiresString, maxAge, originalMaxAge]) {
      await requirePresent(store, sid, 'right after set with a short cookie')
    }
    await sleep(wait)
    await requireMissing(store, expiresDate, 'past cookie.expires given as a Date')
    await requireMissing(store, expiresString, 'past cookie.expires given as an ISO string')
    await requireMissing(store, maxAge, 'past cookie.maxAge')
    await requireMissing(store, originalMaxAge, 'past cookie.originalMaxAge')
    await requirePresent(store, browserSession, 'a browser-session cookie gets the default ttl (1 day)')
    await requirePresent(store, koaSession, "koa-session's 'session' maxAge gets the default ttl")

    // An expiry in the past stores nothing and removes the old value.
    const past = ctx.sid()
    await store.set(past, sampleSession())
    await store.set(past, { cookie: { expires: new Date(Date.now() - 1000) }, late: true })
    await requireMissing(store, past, 'set with cookie.expires in the past')
  },
}

const C7: Clause = {
  id: 'C7',
  title: 'touch',
  async run(ctx: ClauseContext) {
    const store = await ctx.store()
    if (typeof store.touch !== 'function') ctx.skip('the store has no touch')
    const touch = store.touch.bind(store)
    const { ttl, wait } = shortTtl(ctx)

    // touch extends the expiry and leaves the data alone, even if handed different data.
    const kept = ctx.sid()
    const original = expiringIn(ttl, { data: 'original' })
    await store.set(kept, original)
    await touch(kept, expiringIn(3_600_000, { data: 'changed by touch' }))
    await sleep(wait)
    const after = await requirePresent(
      store,
      kept,
      'a session touched with a one-hour cookie, after its first ttl',
    )
    assert.equal(after.data, 'original', 'touch must not change the stored data')

    // touch never re-creates a destroyed session.
    const destroyed = ctx.sid()
    await store.set(destroyed, sampleSession())
    await store.destroy(destroyed)
    await touch(destroyed, sampleSession())
    await requireMissing(store, destroyed, 'touch after destroy')

    // touch never revives an expired session.
    const expired = ctx.sid()
    await store.set(expired, expiringIn(ttl))
    await sleep(wait)
    await touch(expired, expiringIn(3_600_000))
    await requireMissing(store, expired, 'touch after expiry')
  },
}

const C8: Clause = {
  id: 'C8',
  title: 'isolation',
  async run(ctx: ClauseContext) {
    const one = await ctx.store()
    const two = await ctx.store()
    const sid = ctx.sid()
    await one.set(sid, { owner: 'one' })
    await two.set(sid, { owner: 'two' })
    assert.deepEqual(await one.get(sid), { owner: 'one' }, 'store one must see its own session')
    assert.deepEqual(await two.get(sid), { owner: 'two' }, 'store two must see its own session')
    await one.destroy(sid)
    await requireMissing(one, sid, 'after destroy in store one')
    assert.deepEqual(
      await two.get(sid),
      { owner: 'two' },
      "destroy in one namespace must not touch the other's",
    )

    if (!ctx.capabilities.enumeration) return
    const onlyTwo = ctx.sid()
    await two.set(onlyTwo, { owner: 'two' })
    await one.set(ctx.sid(), { owner: 'one' })
    const idsOfOne = await collect(one.ids?.())
    assert.ok(!idsOfOne.includes(onlyTwo), "store one enumerated store two's sid")
    assert.equal(await one.length?.(), 1, 'length must count only its own namespace')
    await one.clear?.()
    assert.deepEqual(
      await two.get(onlyTwo),
      { owner: 'two' },
      "clear in one namespace removed the other's session",
    )
  },
}

const C9: Clause = {
  id: 'C9',
  title: 'enumeration',
  async run(ctx: ClauseContext) {
    const store = await ctx.store()
    if (!ctx.capabilities.enumeration) ctx.skip('the store declares no enumeration')
    const neighbour = await ctx.store()
    const { ttl, wait } = shortTtl(ctx)
    const live = Array.from({ length: 30 }, () => ctx.sid())
    await Promise.all(
      live.map((sid, index) => store.set(sid, { index, cookie: { originalMaxAge: 3_600_000 } })),
    )
    const expiring = ctx.sid()
    await store.set(expiring, expiringIn(ttl, { index: -1 }))
    const neighbourSid = ctx.sid()
    await neighbour.set(neighbourSid, { index: 'neighbour' })
    await sleep(wait)

    const ids = await collect(store.ids?.())
    assert.deepEqual([...ids].sort(), [...live].sort(), 'ids() must list exactly the live sids of this store')
    const all = await store.all?.()
    assert.ok(Array.isArray(all), `all() must resolve an array, got ${typeof all}`)
    assert.deepEqual(
      all.map((s) => s.index as number).sort((a, b) => a - b),
      live.map((_, index) => index),
      'all() must return exactly the live sessions of this store',
    )
    assert.equal(await store.length?.(), live.length, 'length() must count the live sessions only')

    // Stopping early must be fine (the store's cursor is released).
    for await (const _ of store.ids?.() ?? []) break

    await store.clear?.()
    assert.equal(await store.length?.(), 0, 'length() after clear()')
    await requireMissing(store, live[0]!, 'a session after clear()')
    await requirePresent(neighbour, neighbourSid, "clear() must leave other namespaces' sessions")
  },
}

const C10: Clause = {
  id: 'C10',
  title: 'concurrency',
  async run(ctx: ClauseContext) {
    const store = await ctx.store()
    const sids = Array.from({ length: 200 }, () => ctx.sid())
    await Promise.all(sids.map((sid, n) => store.set(sid, { n, cookie: { originalMaxAge: 600_000 } })))
    const read = await Promise.all(sids.map((sid) => store.get(sid)))
    read.forEach((session, n) => {
      assert.equal(
        session?.n,
        n,
        `parallel writes to distinct sids: sid #${n} read ${JSON.stringify(session)}`,
      )
    })

    const shared = ctx.sid()
    const writers = Array.from({ length: 50 }, (_, writer) => ({
      writer,
      payload: `${'x'.repeat(2000)}${writer}`,
      copies: [writer, writer, writer],
    }))
    await Promise.all(writers.map((value) => store.set(shared, value)))
    const final = await requirePresent(store, shared, 'after parallel writes to one sid')
    const writer = final.writer as number
    assert.deepEqual(
      final,
      writers[writer],
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
  `long-${'x'.repeat(1000)}`,
  `long-${'x'.repeat(999)}y`,
  '.',
  '..',
  '$gt',
]

const C11: Clause = {
  id: 'C11',
  title: 'sids',
  async run(ctx: ClauseContext) {
    const store = await ctx.store()
    await Promise.all(trickySids.map((sid, index) => store.set(sid, { index, sid })))
    for (const [index, sid] of trickySids.entries()) {
      const session = await store.get(sid)
      assert.deepEqual(
        session,
        { index, sid },
        `sid ${JSON.stringify(sid.slice(0, 40))} read back wrong data`,
      )
    }
    assert.equal(({} as Record<string, unknown>).index, undefined, 'a sid polluted Object.prototype')
    await Promise.all(trickySids.map((sid) => store.destroy(sid)))
    for (const sid of trickySids)
      await requireMissing(store, sid, `destroyed sid ${JSON.stringify(sid.slice(0, 40))}`)

    const invalid: unknown[] = ['', undefined, null, 42, { $gt: '' }, ['a'], true]
    for (const bad of invalid) {
      for (const [name, call] of [
        ['get', () => store.get(bad as string)],
        ['set', () => store.set(bad as string, { a: 1 })],
        ['destroy', () => store.destroy(bad as string)],
      ] as Array<[string, () => Promise<unknown>]>) {
        const outcome = await settleWithin(Promise.resolve().then(call), ctx.target.operationTimeout ?? 5000)
        const shown = JSON.stringify(bad) ?? String(bad)
        assert.ok(outcome !== 'pending', `${name}(${shown}) did not settle`)
        assert.equal(outcome.state, 'rejected', `${name}(${shown}) must reject, it resolved`)
        assert.ok(
          outcome.error instanceof TypeError,
          `${name}(${shown}) must reject with a TypeError, got ${String(outcome.error)}`,
        )
      }
    }
  },
}

const C12: Clause = {
  id: 'C12',
  title: 'bad data',
  async run(ctx: ClauseContext) {
    const store = await ctx.store()
    const sid = ctx.sid()
    const before = { cookie: { originalMaxAge: 60_000 }, kept: true }
    await store.set(sid, before)
    const cyclic: Record<string, unknown> = { a: 1 }
    cyclic.self = cyclic
    for (const [what, bad] of [
      ['a cycle', cyclic],
      ['a BigInt', { n: 10n }],
    ] as const) {
      await assert.rejects(store.set(sid, bad as SessionData), (err: unknown) => {
        assert.ok(
          err instanceof Error && err.message.length > 0,
          `encoding ${what} must reject with a clear error`,
        )
        return true
      })
      assert.deepEqual(await store.get(sid), before, `a failed set with ${what} must write nothing`)
    }
    const fresh = ctx.sid()
    await assert.rejects(store.set(fresh, cyclic as SessionData))
    await requireMissing(store, fresh, 'a sid whose only set failed to encode')

    const corrupt = ctx.sid()
    const plant = ctx.target.plantCorrupt ?? plantThroughBackendWriter(store)
    if (!plant) ctx.skip('no way to plant a corrupt value in this backend')
    await plant(store, corrupt)
    const reported: unknown[] = []
    if (store instanceof EventEmitter) store.on('corrupt', (err) => reported.push(err))
    await requireMissing(store, corrupt, 'a corrupt stored value')
    // Our stores report it on 'corrupt'; the contract does not name an event for anyone else's.
    if (isSessionStore(store)) {
      assert.equal(reported.length, 1, "a corrupt value must be reported on the store's 'corrupt' event")
    }
    await store.set(corrupt, { healed: true })
    assert.deepEqual(await store.get(corrupt), { healed: true }, 'the next set must heal a corrupt value')
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
  async run(ctx: ClauseContext) {
    const outage = ctx.target.outage
    if (!outage) ctx.skip(ctx.target.outageUnavailable ?? 'the target offers no way to take the backend down')
    const store = await ctx.store()
    const timeout = ctx.target.operationTimeout ?? 5000
    const before = ctx.sid()
    await store.set(before, { written: 'before the outage' })
    const events = store instanceof EventEmitter ? store : undefined
    const disconnected = events ? once(events, 'disconnect') : undefined
    disconnected?.catch(() => {})

    await outage.stop()
    let restarted = false
    try {
      const sid = ctx.sid()
      const calls: Array<[string, Promise<unknown>]> = [
        ['get', store.get(sid)],
        ['set', store.set(sid, { during: 'outage' })],
        ['destroy', store.destroy(sid)],
      ]
      if (store.touch) calls.push(['touch', store.touch(before, { cookie: { originalMaxAge: 60_000 } })])
      const outcomes = await Promise.all(calls.map(([, call]) => settleWithin(call, timeout + 1500)))
      outcomes.forEach((outcome, index) => {
        const name = calls[index]![0]
        assert.ok(
          outcome !== 'pending',
          `${name} hung during the outage (not settled ${timeout + 1500} ms later)`,
        )
        assert.equal(outcome.state, 'rejected', `${name} must reject while the backend is down, it resolved`)
      })
      if (disconnected) {
        const emitted = await settleWithin(disconnected, timeout)
        assert.ok(emitted !== 'pending', "the store did not emit 'disconnect' during the outage")
      }
      const connected = events ? once(events, 'connect') : undefined
      connected?.catch(() => {})
      await outage.start()
      restarted = true
      const after = ctx.sid()
      await eventually(
        async () => {
          await store.set(after, { written: 'after the outage' })
          return (await store.get(after)) !== null
        },
        Math.max(15_000, timeout * 3),
        'the same store working again after the backend returned',
      )
      if (connected) {
        const emitted = await settleWithin(connected, timeout)
        assert.ok(emitted !== 'pending', "the store did not emit 'connect' after the backend returned")
      }
    } finally {
      if (!restarted) await outage.start()
    }
  },
}

const C14: Clause = {
  id: 'C14',
  title: 'close',
  async run(ctx: ClauseContext) {
    const store = await ctx.store()
    if (typeof store.close !== 'function') ctx.skip('the store has no close')
    const sid = ctx.sid()
    await store.set(sid, sampleSession())
    await store.close()
    await store.close()
    const timeout = ctx.target.operationTimeout ?? 5000
    for (const [name, call] of [
      ['get', () => store.get(sid)],
      ['set', () => store.set(sid, sampleSession())],
      ['destroy', () => store.destroy(sid)],
    ] as Array<[string, () => Promise<unknown>]>) {
      const outcome = await settleWithin(Promise.resolve().then(call), timeout)
      assert.ok(outcome !== 'pending', `${name} after close() hung`)
      assert.equal(outcome.state, 'rejected', `${name} after close() must reject clearly, it resolved`)
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
