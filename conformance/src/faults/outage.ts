import assert from 'node:assert/strict'
import type { BaseStore, SessionData, SessionStoreError } from '@session-store/core'
import { AppClient, startCounterApp, stopApp } from './app.js'
import {
  DEFAULT_FAULT_TIMEOUT,
  type FaultTarget,
  SETTLE_MARGIN_MS,
  type ServerControl,
  withStore,
} from './target.js'
import { describe, type Outcome, poll, requireStoreError, settleWithin, sleep, watchProcess } from './util.js'

/** Browsers hitting the app at once during the outage scenario. */
export const OUTAGE_CLIENTS = 64

/** Requests each browser sends while the backend is down. */
const REQUESTS_DURING_OUTAGE = 4

/** The shortest outage: long enough for clients to notice, and for reconnect timers to run. */
const MIN_OUTAGE_MS = 3000

/** How long recovery may take after the server is back: attempts of each browser, and their spacing. */
const RECOVERY_ATTEMPTS = 60
const RECOVERY_SPACING_MS = 250

/** The server controls of a target, or a failure naming what is missing. */
function requireServer(target: FaultTarget): ServerControl {
  assert.ok(target.server, `${target.name}: the target has no server controls`)
  return target.server
}

/** Records the store's connect/disconnect events in order. */
function recordEvents(store: BaseStore<SessionData>): string[] {
  const events: string[] = []
  store.on('connect', () => events.push('connect'))
  store.on('disconnect', () => events.push('disconnect'))
  return events
}

/**
 * Outage under load: a real express-session app on the store, {@link OUTAGE_CLIENTS} browsers
 * with their own keep-alive connection and cookie. The backend server is stopped for a few
 * seconds and started again, while the browsers go on. Checks that:
 * - every request during the outage is answered, with a 503, within the store's timeout plus a
 *   margin (none hangs);
 * - nothing reaches the process' unhandledRejection/uncaughtException handlers;
 * - the store emits `disconnect`, then `connect`;
 * - after the restart every browser is served again by the same store object, and finds the
 *   session it had before the outage (`keeps data`) or a new one (`loses data`);
 * - after that, every request succeeds.
 */
export async function outageUnderLoad(target: FaultTarget): Promise<void> {
  const server = requireServer(target)
  const timeout = target.timeout ?? DEFAULT_FAULT_TIMEOUT
  const deadline = timeout + SETTLE_MARGIN_MS
  const guard = watchProcess()
  let serverStopped = false
  try {
    await withStore(target, 'outage', async (store) => {
      const events = recordEvents(store)
      const app = await startCounterApp(store)
      const clients = Array.from({ length: OUTAGE_CLIENTS }, () => new AppClient(app, deadline))
      try {
        // Before: every browser writes twice and reads once; all of it must succeed.
        const before = await Promise.all(
          clients.map(async (client, index) => {
            for (const path of ['/write', '/read', '/write']) {
              const answer = await client.get(path)
              assert.equal(
                answer.status,
                200,
                `client ${index} ${path} before the outage: ${answer.status} ${JSON.stringify(answer.body)}`,
              )
            }
            const { body } = await client.get('/read')
            return body
          }),
        )
        const sids = new Set(before.map((body) => body.sid))
        assert.equal(sids.size, OUTAGE_CLIENTS, 'every client must have a session of its own')
        for (const body of before)
          assert.equal(body.n, 2, `a session before the outage: ${JSON.stringify(body)}`)

        await target.beforeStop?.()
        await server.stop()
        serverStopped = true
        const stoppedAt = Date.now()

        // During: every request is answered with an error status, in bounded time.
        const during = (
          await Promise.all(
            clients.map(async (client) => {
              const answers = []
              for (let i = 0; i < REQUESTS_DURING_OUTAGE; i++) {
                answers.push(await client.get(i % 2 === 0 ? '/write' : '/read'))
              }
              return answers
            }),
          )
        ).flat()
        const unanswered = during.filter((answer) => answer.status === 0)
        assert.deepEqual(
          unanswered.slice(0, 3),
          [],
          `${unanswered.length} of ${during.length} requests during the outage got no answer within ${deadline} ms`,
        )
        const slow = during.filter((answer) => answer.ms > deadline)
        assert.deepEqual(slow.slice(0, 3), [], `answers during the outage later than ${deadline} ms`)
        const succeeded = during.filter((answer) => answer.status !== 503)
        assert.deepEqual(
          succeeded.slice(0, 3),
          [],
          `${succeeded.length} of ${during.length} requests during the outage were not answered 503`,
        )
        assert.ok(
          events.includes('disconnect'),
          `the store must emit 'disconnect' (events: ${events.join(', ')})`,
        )
        await sleep(Math.max(0, MIN_OUTAGE_MS - (Date.now() - stoppedAt)))

        await server.start()
        serverStopped = false

        // After: every browser is served again, by the same store, within a bounded time.
        const recovered = await Promise.all(
          clients.map(async (client) => {
            let last: Awaited<ReturnType<AppClient['get']>> | undefined
            const ok = await poll(
              async () => {
                last = await client.get('/read')
                return last.status === 200
              },
              RECOVERY_ATTEMPTS,
              RECOVERY_SPACING_MS,
            )
            return { ok, last }
          }),
        )
        const stuck = recovered.filter((each) => !each.ok)
        assert.equal(
          stuck.length,
          0,
          `${stuck.length} of ${OUTAGE_CLIENTS} clients were still refused ${(RECOVERY_ATTEMPTS * RECOVERY_SPACING_MS) / 1000} s ` +
            `after the server was back; last answer: ${JSON.stringify(stuck[0]?.last)}; store events: ${events.join(', ')}`,
        )
        const lastDisconnect = events.lastIndexOf('disconnect')
        assert.ok(
          events.indexOf('connect', lastDisconnect) > lastDisconnect,
          `the store must emit 'connect' after 'disconnect' (events: ${events.join(', ')})`,
        )
        assert.equal(store.closed, false)

        const expected = target.restart === 'loses data' ? null : 2
        for (const [index, { last }] of recovered.entries()) {
          assert.equal(
            last?.body.n,
            expected,
            `client ${index}'s session after the restart (${target.restart ?? 'keeps data'}): ${JSON.stringify(last?.body)}`,
          )
        }

        // And from now on, everything works.
        await Promise.all(
          clients.map(async (client, index) => {
            const written = await client.get('/write')
            const read = await client.get('/read')
            assert.deepEqual(
              [written.status, read.status, read.body.n],
              [200, 200, (expected ?? 0) + 1],
              `client ${index} after recovery: ${JSON.stringify([written.body, read.body])}`,
            )
          }),
        )
      } finally {
        for (const client of clients) client.close()
        await stopApp(app)
      }
    })
  } finally {
    if (serverStopped) await server.start()
    guard.stop()
  }
  assert.deepEqual(guard.problems, [], 'the process must not see unhandled rejections or uncaught exceptions')
}

/**
 * Restart with the same store, without a framework in between: sessions are written, the server
 * is stopped (every call meanwhile rejects with ETIMEOUT or EBACKEND within the timeout plus a
 * margin) and started again; the same store object then reads every session as it was
 * (`keeps data`) or finds none (`loses data`), and emits `disconnect` then `connect`. A write
 * refused with EBACKEND never shows up later; one refused with ETIMEOUT has an unknown outcome
 * and may.
 */
export async function restartWithSameStore(target: FaultTarget): Promise<void> {
  const server = requireServer(target)
  const timeout = target.timeout ?? DEFAULT_FAULT_TIMEOUT
  const guard = watchProcess()
  let serverStopped = false
  try {
    await withStore(target, 'restart', async (store) => {
      const events = recordEvents(store)
      const sids = Array.from({ length: 100 }, (_, i) => `restart-${i}`)
      const value = (sid: string): SessionData => ({ cookie: { originalMaxAge: 600_000 }, sid })
      await Promise.all(sids.map((sid) => store.set(sid, value(sid))))

      await target.beforeStop?.()
      await server.stop()
      serverStopped = true
      const bound = timeout + SETTLE_MARGIN_MS
      const reads = await Promise.all(sids.slice(0, 5).map((sid) => settleWithin(store.get(sid), bound)))
      const [refusedSet, refusedTouch, refusedDestroy] = await Promise.all([
        settleWithin(store.set('during', value('during')), bound),
        settleWithin(store.touch(sids[0]!, value(sids[0]!)), bound),
        settleWithin(store.destroy(sids[1]!), bound),
      ])
      for (const [what, outcome] of [
        ...reads.map((outcome, index) => [`get #${index}`, outcome] as const),
        ['set', refusedSet],
        ['touch', refusedTouch],
        ['destroy', refusedDestroy],
      ] as const) {
        requireStoreError(outcome, ['ETIMEOUT', 'EBACKEND'], `${what} while the server is stopped`)
      }
      assert.ok(
        events.includes('disconnect'),
        `the store must emit 'disconnect' (events: ${events.join(', ')})`,
      )

      await server.start()
      serverStopped = false
      const back = await poll(
        async () => (await settleWithin(store.get(sids[2]!), timeout)).state === 'resolved',
        60,
        250,
      )
      assert.ok(back, 'the same store must work again within 15 s of the restart')
      const lastDisconnect = events.lastIndexOf('disconnect')
      assert.ok(
        events.indexOf('connect', lastDisconnect) > lastDisconnect,
        `the store must emit 'connect' after 'disconnect' (events: ${events.join(', ')})`,
      )

      // An EBACKEND rejection means the command was not carried out. An ETIMEOUT one means its
      // outcome is unknown, as on any network: a command the client had already taken may still
      // be carried out once the server is back (ioredis resends what it had in flight), so
      // either state is right for that one session.
      const unknownOutcome = (outcome: Outcome) =>
        outcome.state === 'rejected' && (outcome.error as SessionStoreError).code === 'ETIMEOUT'
      const keeps = target.restart !== 'loses data'
      const read = await Promise.all(sids.map((sid) => store.get(sid)))
      const wrong = sids.filter((sid, index) => {
        const got = JSON.stringify(read[index])
        if (!keeps) return got !== 'null'
        if (index === 1 && unknownOutcome(refusedDestroy) && got === 'null') return false
        return got !== JSON.stringify(value(sid))
      })
      assert.deepEqual(
        wrong.slice(0, 5),
        [],
        `${wrong.length} of ${sids.length} sessions are not as expected after the restart (${target.restart ?? 'keeps data'}); ` +
          `the destroy during the outage: ${describe((refusedDestroy as { error?: unknown }).error)}`,
      )
      const during = await store.get('during')
      if (
        !(keeps && unknownOutcome(refusedSet) && JSON.stringify(during) === JSON.stringify(value('during')))
      ) {
        assert.equal(
          during,
          null,
          `a write refused during the outage (${describe((refusedSet as { error?: unknown }).error)}) appeared later`,
        )
      }
      await store.set('after', value('after'))
      assert.deepEqual(await store.get('after'), value('after'), 'a write after the restart')
    })
  } finally {
    if (serverStopped) await server.start()
    guard.stop()
  }
  assert.deepEqual(guard.problems, [], 'the process must not see unhandled rejections or uncaught exceptions')
}

/**
 * Slow backend: the server is frozen (SIGSTOP, or a stalled proxy) past the store's timeout.
 * Every operation rejects with a SessionStoreError of the target's `frozenServerCodes`
 * (ETIMEOUT unless it says otherwise) within the timeout plus a margin; after the server resumes, the same store works again and the session written
 * before is intact.
 */
export async function slowBackend(target: FaultTarget): Promise<void> {
  const server = requireServer(target)
  const timeout = Math.min(target.timeout ?? DEFAULT_FAULT_TIMEOUT, 1500)
  const codes = target.frozenServerCodes ?? ['ETIMEOUT']
  const guard = watchProcess()
  try {
    await withStore(
      target,
      'slow',
      async (store) => {
        const session: SessionData = { cookie: { originalMaxAge: 600_000 }, kept: 'before the freeze' }
        await store.set('kept', session)
        await store.set('destroyed', session)
        // pause() resolves once every thread of the server is stopped.
        await server.pause()
        try {
          const calls: Array<[string, () => Promise<unknown>]> = [
            ['get', () => store.get('kept')],
            ['touch', () => store.touch('kept', session)],
            ['set', () => store.set('written-while-frozen', session)],
            ['destroy', () => store.destroy('destroyed')],
          ]
          const outcomes = await Promise.all(
            calls.map(([, call]) => settleWithin(call(), timeout + SETTLE_MARGIN_MS)),
          )
          for (const [index, outcome] of outcomes.entries()) {
            requireStoreError(outcome, codes, `${calls[index]![0]} on a frozen ${target.name}`)
          }
          // Once more, now that the store may know the server is gone: still bounded.
          const again = await settleWithin(store.get('kept'), timeout + SETTLE_MARGIN_MS)
          requireStoreError(again, codes, `a second get on a frozen ${target.name}`)
        } finally {
          await server.resume()
        }
        const back = await poll(
          async () => JSON.stringify(await store.get('kept')) === JSON.stringify(session),
          60,
          250,
        )
        assert.ok(back, `the same store must read the session again after the server resumed`)
        await store.set('after', session)
        assert.deepEqual(await store.get('after'), session, 'a write after the freeze')
      },
      timeout,
    )
  } finally {
    guard.stop()
  }
  assert.deepEqual(guard.problems, [], 'the process must not see unhandled rejections or uncaught exceptions')
}

/** One part of a backend taken down while the rest serves: a Cluster master, one of several servers. */
export interface PartialOutage {
  /**
   * The test title, e.g. `one cluster master down`.
   * @default 'one part down'
   */
  title?: string
  /** Which of `sids` (of `store`) live on the part that `stop` takes down. */
  affected(store: BaseStore<SessionData>, sids: string[]): Promise<Set<string>>
  /** Takes that part down (e.g. kills one master). */
  stop(): Promise<void>
  /** Brings it back, and resolves once the whole backend serves again. */
  start(): Promise<void>
  /** What the part keeps across its restart. */
  restart: 'keeps data' | 'loses data'
  /**
   * How long the part stays down while operations are checked, in ms: long enough for the
   * backend to notice (a Cluster's node timeout).
   * @default 4000
   */
  downForMs?: number
}

/**
 * Partial outage: sessions on the part that is down fail within the store's timeout, sessions
 * elsewhere go on as if nothing happened, for the whole time the part is down; when it is back,
 * every session works again.
 */
export async function partialOutage(target: FaultTarget, part: PartialOutage): Promise<void> {
  const timeout = target.timeout ?? DEFAULT_FAULT_TIMEOUT
  const guard = watchProcess()
  let down = false
  try {
    await withStore(target, 'partial', async (store) => {
      const sids = Array.from({ length: 60 }, (_, i) => `sid-${i}`)
      const value = (sid: string) => ({ cookie: { originalMaxAge: 600_000 }, sid })
      await Promise.all(sids.map((sid) => store.set(sid, value(sid))))
      const affected = await part.affected(store, sids)
      const unaffected = sids.filter((sid) => !affected.has(sid))
      assert.ok(affected.size > 0 && unaffected.length > 0, `sids on the part taken down: ${affected.size}`)

      await part.stop()
      down = true
      const until = Date.now() + (part.downForMs ?? 4000)
      let rounds = 0
      while (Date.now() < until || rounds < 2) {
        rounds++
        const failing = await Promise.all(
          [...affected].slice(0, 5).map((sid) => settleWithin(store.get(sid), timeout + SETTLE_MARGIN_MS)),
        )
        for (const outcome of failing) {
          requireStoreError(
            outcome,
            ['ETIMEOUT', 'EBACKEND'],
            `round ${rounds}: get of a sid on the stopped part`,
          )
        }
        const writes = await settleWithin(
          store.set([...affected][0]!, value('x')),
          timeout + SETTLE_MARGIN_MS,
        )
        requireStoreError(
          writes,
          ['ETIMEOUT', 'EBACKEND'],
          `round ${rounds}: set of a sid on the stopped part`,
        )
        const reads = await Promise.all(unaffected.map((sid) => settleWithin(store.get(sid), timeout)))
        for (const [index, outcome] of reads.entries()) {
          const sid = unaffected[index]!
          assert.equal(
            outcome.state,
            'resolved',
            `round ${rounds}: get of ${sid}, on a part still up: ${outcome.state === 'rejected' ? describe(outcome.error) : outcome.state}`,
          )
          assert.deepEqual((outcome as { value: unknown }).value, value(sid), `round ${rounds}: ${sid}`)
        }
        const updates = await Promise.all(
          unaffected.map((sid) => settleWithin(store.touch(sid, value(sid)), timeout)),
        )
        const failedUpdates = updates.filter((outcome) => outcome.state !== 'resolved')
        assert.equal(failedUpdates.length, 0, `round ${rounds}: touches on parts still up failed`)
        await sleep(250)
      }

      await part.start()
      down = false
      const back = await poll(async () => (await store.get([...affected][0]!)) !== undefined, 60, 250)
      assert.ok(back, 'the sessions of the restarted part must be readable again')
      for (const sid of sids) {
        const expected = affected.has(sid) && part.restart === 'loses data' ? null : value(sid)
        assert.deepEqual(await store.get(sid), expected, `${sid} after the part came back (${part.restart})`)
      }
      await Promise.all(sids.map((sid) => store.set(sid, value(`${sid} again`))))
      for (const sid of sids) assert.deepEqual(await store.get(sid), value(`${sid} again`))
    })
  } finally {
    if (down) await part.start()
    guard.stop()
  }
  assert.deepEqual(guard.problems, [], 'the process must not see unhandled rejections or uncaught exceptions')
}
