import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import type { SessionStore, StoreCapabilities } from '@session-store/core'
import { toExpressStore } from '@session-store/express'
import { type Clause, type ClauseContext, frameworksOf } from '../clause.js'
import {
  type App,
  type AppOptions,
  type Dialect,
  expressDialect,
  fastifyDialect,
  koaGenericDialect,
  koaSessionDialect,
} from './apps.js'
import { CookieJar, call, type Instance, serve, stop } from './http.js'

export type { Dialect } from './apps.js'

/**
 * Clause C15: each framework's real session middleware, in two app instances sharing one
 * store, driven over real HTTP with a cookie jar. Requests alternate between the instances,
 * as a load balancer would send them, and what the apps say is checked against the store.
 * A store is judged in the frameworks it speaks; the others run for information.
 */
export const dialectClauses: Clause[] = [
  expressDialect,
  koaGenericDialect,
  koaSessionDialect,
  fastifyDialect,
].map((dialect) => ({
  id: 'C15',
  title: `dialects: ${dialect.name}`,
  level: (storeDialect) => (frameworksOf(storeDialect).includes(dialect.name) ? 'required' : 'informational'),
  userSees: `with ${dialect.name} on two app instances, users lose their session or one that ended comes back`,
  run: (ctx: ClauseContext) => runDialect(ctx, dialect),
}))

/** The waits of the rolling and expiry checks, from the store's ttl granularity. */
export function dialectTiming(capabilities: Pick<StoreCapabilities, 'ttlGranularityMs'>) {
  const granularity = Math.max(1, capabilities.ttlGranularityMs)
  // Three ttl steps at least, so rounding a ttl to whole steps cannot cut it to nothing.
  const maxAge = Math.max(1500, 3 * granularity)
  return {
    maxAge,
    // A backend counting whole steps may round a ttl up and read its clock in whole steps:
    // a key can live up to two steps past its ttl. The rest is headroom for a busy machine.
    expiryWait: maxAge + 2 * granularity + 500,
    // Requests that keep a session alive come three times per maxAge.
    keepAliveEvery: Math.round(maxAge / 3),
  }
}

interface Run {
  dialect: Dialect
  store: SessionStore
  a: Instance
  b: Instance
  hooks: AppOptions['hooks']
  timing: ReturnType<typeof dialectTiming>
  /** Per HTTP request; a request may wait on a few store operations. */
  requestTimeout: number
}

async function runDialect(ctx: ClauseContext, dialect: Dialect): Promise<void> {
  const store = await ctx.store()
  const timing = dialectTiming(ctx.capabilities)
  const hooks: AppOptions['hooks'] = {}
  const options: AppOptions = { maxAge: timing.maxAge, hooks }
  const instances: Instance[] = []
  const apps: App[] = []
  try {
    for (const name of ['A', 'B']) {
      const app = await dialect.createApp(store, options)
      apps.push(app)
      instances.push(await serve(name, app.listener))
    }
    const [a, b] = instances as [Instance, Instance]
    const requestTimeout = 3 * (ctx.target.operationTimeout ?? 5000) + 1000
    const run: Run = { dialect, store, a, b, hooks, timing, requestTimeout }
    const jar = new CookieJar()
    const sid = await sharedSession(run, jar)
    if (dialect.canReload) await reload(run, jar, sid)
    await regenerate(run, jar)
    await destroy(run, jar)
    await rollingAndExpiry(run)
  } finally {
    hooks.beforeReload = undefined
    await Promise.all(instances.map(stop))
    await Promise.all(apps.map((app) => app.close()))
  }
}

/** A session created on A is read and updated on B, and the other way round. */
async function sharedSession(run: Run, jar: CookieJar): Promise<string> {
  const { dialect, store, a, b } = run
  const get = (instance: Instance, path: string) => call(instance, path, jar, run.requestTimeout)
  let sid: string | null = null
  for (const [index, instance] of [a, b, a, b].entries()) {
    const reply = await get(instance, '/count')
    const count = index + 1
    check(
      reply.count === count,
      `instance ${instance.name} counted ${String(reply.count)}, expected ${count}: the session written by the other instance was not read back from the store`,
    )
    if (sid === null) sid = expectSid(reply, instance)
    check(reply.sid === sid, `instance ${instance.name} served sid ${String(reply.sid)}, expected ${sid}`)
  }
  if (sid === null) assert.fail('no session was created')
  const stored = await store.get(dialect.storeKey(sid))
  check(
    stored?.count === 4,
    `store.get('${dialect.storeKey(sid)}') holds count ${String(stored?.count)}, expected 4 (what the apps counted)`,
  )

  await get(a, '/note?value=from-A')
  const seen = await get(b, '/state')
  check(
    seen.note === 'from-A',
    `instance B read note ${String(seen.note)}, expected 'from-A' as set on instance A`,
  )
  return sid
}

/** express-session: `req.session.reload()` on A sees what B wrote meanwhile; expires is a Date. */
async function reload(run: Run, jar: CookieJar, sid: string): Promise<void> {
  const { a, b, hooks } = run
  let entered!: () => void
  const inside = new Promise<void>((resolve) => {
    entered = resolve
  })
  let release!: () => void
  const released = new Promise<void>((resolve) => {
    release = resolve
  })
  hooks.beforeReload = () => {
    entered()
    return released
  }
  try {
    const pending = call(a, '/reload', jar, run.requestTimeout)
    // Awaited below; this only keeps a failure from going unhandled if B fails first.
    pending.catch(() => {})
    // If A fails before reaching the hook, its answer ends the wait (and the check).
    await Promise.race([inside, pending])
    await call(b, '/note?value=from-B', jar, run.requestTimeout)
    release()
    const reply = await pending
    check(
      reply.before === 'from-A',
      `instance A read note ${String(reply.before)} before reloading, expected 'from-A'`,
    )
    check(
      reply.after === 'from-B',
      `after req.session.reload() instance A read note ${String(reply.after)}, expected 'from-B' as written by instance B meanwhile`,
    )
    check(
      reply.expiresIsDate,
      `after req.session.reload() req.session.cookie.expires is ${String(reply.expires)}, expected a Date`,
    )
  } finally {
    release()
    hooks.beforeReload = undefined
  }

  // Store.prototype.load, as express-session's users call it, rebuilds the cookie too.
  const loaded = await new Promise<unknown>((resolve, reject) =>
    toExpressStore(run.store).load(sid, (err, session) => (err ? reject(err) : resolve(session))),
  )
  const cookie = (loaded as { cookie?: { expires?: unknown } } | undefined)?.cookie
  check(
    cookie?.expires instanceof Date,
    `store.load('${sid}') gave cookie.expires ${String(cookie?.expires)}, expected a Date`,
  )
}

/** A new sid on B; the old one is gone from the store; A sees the new session; replaying the old cookie gets nothing. */
async function regenerate(run: Run, jar: CookieJar): Promise<void> {
  const { dialect, store, a, b } = run
  const oldCookies = jar.copy()
  const reply = await call(b, '/regenerate', jar, run.requestTimeout)
  const oldSid = expectSid({ sid: reply.oldSid }, b)
  const after = await call(a, '/state', jar, run.requestTimeout)
  const newSid = expectSid(after, a)
  check(newSid !== oldSid, `after regenerating, instance A still serves the old sid ${oldSid}`)
  check(
    after.user === 'regenerated',
    `instance A read user ${String(after.user)} in the regenerated session ${newSid}, expected 'regenerated' as set on instance B`,
  )
  const old = await store.get(dialect.storeKey(oldSid))
  check(!old, `after regenerating, store.get('${dialect.storeKey(oldSid)}') still holds the old session`)

  const replay = await call(a, '/state', oldCookies, run.requestTimeout)
  check(
    replay.sid !== oldSid && replay.sid !== newSid && replay.user === null && replay.count === null,
    `replaying the cookie of the regenerated sid ${oldSid} got ${JSON.stringify(replay)}, expected a new empty session`,
  )
}

/** Destroyed on A: gone from the store, and the next request (B) starts a new empty session. */
async function destroy(run: Run, jar: CookieJar): Promise<void> {
  const { dialect, store, a, b } = run
  const before = await call(a, '/count', jar, run.requestTimeout)
  const sid = expectSid(before, a)
  const oldCookies = jar.copy()
  await call(a, '/destroy', jar, run.requestTimeout)
  const stored = await store.get(dialect.storeKey(sid))
  check(!stored, `after destroying, store.get('${dialect.storeKey(sid)}') still holds the session`)

  for (const [how, cookies] of [
    ['the next request', jar],
    ['replaying the destroyed cookie', oldCookies],
  ] as const) {
    const next = await call(b, '/state', cookies, run.requestTimeout)
    check(
      next.sid !== sid && next.count === null && next.user === null,
      `after destroying ${sid} on instance A, ${how} on instance B got ${JSON.stringify(next)}, expected a new empty session`,
    )
  }
}

/**
 * Two users start a session at the same time. One keeps making requests that change nothing,
 * alternating instances; the other goes idle. Past the idle one's maxAge (plus the store's
 * granularity), the kept-alive session is still there (express-session touched it,
 * the Koa middlewares rolled it with `set`) and the idle one is over: its cookie, sent
 * again, starts a new session whose count restarts at 1.
 */
async function rollingAndExpiry(run: Run): Promise<void> {
  const { dialect, store, a, b, timing } = run
  const live = new CookieJar()
  const idle = new CookieJar()
  const started = await call(a, '/count', live, run.requestTimeout)
  const liveSid = expectSid(started, a)
  const idleStart = await call(b, '/count', idle, run.requestTimeout)
  const idleSid = expectSid(idleStart, b)
  const idleSince = Date.now()
  const deadline = idleSince + timing.expiryWait

  let turn = 0
  while (Date.now() < deadline) {
    await sleep(Math.min(timing.keepAliveEvery, Math.max(0, deadline - Date.now())))
    const instance = turn++ % 2 === 0 ? b : a
    const seen = await call(instance, '/state', live, run.requestTimeout)
    check(
      seen.sid === liveSid && seen.count === 1,
      `a session kept alive by a request every ${timing.keepAliveEvery} ms (maxAge ${timing.maxAge} ms) was lost after ${Date.now() - idleSince} ms: instance ${instance.name} got ${JSON.stringify(seen)}, expected sid ${liveSid} with count 1`,
    )
  }
  const kept = await call(a, '/count', live, run.requestTimeout)
  check(
    kept.sid === liveSid && kept.count === 2,
    `a session kept alive past its maxAge of ${timing.maxAge} ms got ${JSON.stringify(kept)} on instance A, expected sid ${liveSid} with count 2`,
  )

  if (dialect.storeExpiresWithCookie) {
    const stored = await store.get(dialect.storeKey(idleSid))
    check(
      !stored,
      `store.get('${dialect.storeKey(idleSid)}') still holds a session idle for ${Date.now() - idleSince} ms, past its maxAge of ${timing.maxAge} ms`,
    )
  }
  const restarted = await call(a, '/count', idle, run.requestTimeout)
  check(
    restarted.sid !== idleSid && restarted.count === 1,
    `the cookie of a session idle for ${Date.now() - idleSince} ms (maxAge ${timing.maxAge} ms) got ${JSON.stringify(restarted)} on instance A, expected a new session with count 1`,
  )
}

/** Fails the clause with `message` alone, one line saying what was expected and what happened. */
function check(condition: unknown, message: string): asserts condition {
  if (!condition) assert.fail(message)
}

function expectSid(reply: Record<string, unknown>, instance: Instance): string {
  const { sid } = reply
  check(
    typeof sid === 'string' && sid.length > 0,
    `instance ${instance.name} reported sid ${String(sid)}, expected a session id`,
  )
  return sid
}
