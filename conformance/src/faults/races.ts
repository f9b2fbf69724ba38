import assert from 'node:assert/strict'
import type { BaseStore, SessionData } from '@session-store/core'
import { type FaultTarget, withStore } from './target.js'
import { describe, settleWithin, sleep } from './util.js'

/** Sessions raced in each part of the scenario. */
const ROUNDS = 120

/** What every touch in this scenario carries: different data and a long lifetime. */
const TOUCHED: SessionData = { cookie: { originalMaxAge: 3_600_000 }, data: 'from touch, never stored' }

const original = (index: number): SessionData => ({ cookie: { originalMaxAge: 3_600_000 }, index })

/**
 * Touch racing expiry and destroy. A touch only moves an expiry: it must never bring back a
 * session that was destroyed or has expired, whatever the order in which the backend sees
 * the two, and it must never fail for a session that is gone.
 *
 * - destroy: {@link ROUNDS} sessions, each destroyed and touched at once, in both orders and
 *   a tick apart; afterwards every one of them is gone.
 * - expiry: {@link ROUNDS} sessions with a short ttl, each touched at a moment spread from well
 *   before to well after its expiry; afterwards each one is either alive with its original data
 *   (the touch came first) or gone (it came too late), and stays so.
 */
export async function touchRaces(target: FaultTarget): Promise<void> {
  await withStore(
    target,
    'races',
    async (store) => {
      await destroyRace(store)
      await expiryRace(store)
    },
    // Generous: the races run hundreds of operations at once on a busy machine.
    10_000,
  )
}

async function destroyRace(store: BaseStore<SessionData>): Promise<void> {
  const sids = Array.from({ length: ROUNDS }, (_, i) => `destroy-${i}`)
  await Promise.all(sids.map((sid, i) => store.set(sid, original(i))))
  const outcomes = await Promise.all(
    sids
      .map(async (sid, i) => {
        const touch = () => store.touch(sid, TOUCHED)
        const destroy = () => store.destroy(sid)
        switch (i % 4) {
          case 0:
            return Promise.all([touch(), destroy()])
          case 1:
            return Promise.all([destroy(), touch()])
          case 2:
            return Promise.all([destroy(), new Promise((resolve) => setImmediate(resolve)).then(touch)])
          default:
            return Promise.all([touch(), destroy(), touch()])
        }
      })
      .map((race) => settleWithin(race, 30_000)),
  )
  for (const [i, outcome] of outcomes.entries()) {
    assert.equal(
      outcome.state,
      'resolved',
      `touch and destroy of ${sids[i]} at once must both resolve: ${outcome.state === 'rejected' ? describe(outcome.error) : outcome.state}`,
    )
  }
  const after = await Promise.all(sids.map((sid) => store.get(sid)))
  const revived = sids.filter((_, i) => after[i] !== null)
  assert.deepEqual(revived, [], 'a touch racing a destroy brought sessions back')
}

async function expiryRace(store: BaseStore<SessionData>): Promise<void> {
  const step = Math.max(1, store.capabilities.ttlGranularityMs)
  // Long enough that timers on a busy machine still land on both sides of the expiry.
  const ttl = Math.max(1000, 2 * step)
  const sids = Array.from({ length: ROUNDS }, (_, i) => `expiry-${i}`)
  // Touch moments from a quarter of the ttl to twice the ttl plus a granularity step.
  const firstTouch = ttl / 4
  const lastTouch = 2 * ttl + step
  const touchAt = (i: number) => firstTouch + ((lastTouch - firstTouch) * i) / (ROUNDS - 1)

  const touched = await Promise.all(
    sids.map(async (sid, i) => {
      await store.set(sid, original(i), ttl)
      await sleep(touchAt(i))
      return settleWithin(store.touch(sid, TOUCHED), 30_000)
    }),
  )
  for (const [i, outcome] of touched.entries()) {
    assert.equal(
      outcome.state,
      'resolved',
      `a touch ${Math.round(touchAt(i))} ms after a set with ttl ${ttl} ms must resolve: ${outcome.state === 'rejected' ? describe(outcome.error) : outcome.state}`,
    )
  }
  const check = async (when: string) => {
    const read = await Promise.all(sids.map((sid) => store.get(sid)))
    for (const [i, session] of read.entries()) {
      if (session === null) continue
      assert.deepEqual(
        session,
        original(i),
        `${when}: ${sids[i]} (touched ${Math.round(touchAt(i))} ms after a set with ttl ${ttl} ms) holds data it was never given`,
      )
    }
    return read.map((session) => session !== null)
  }
  const first = await check('right after the touches')
  // Past every original expiry: what is gone stays gone, what was extended stays.
  await sleep(ttl + step + 250)
  const second = await check('later')
  const revived = sids.filter((_, i) => !first[i] && second[i])
  assert.deepEqual(revived, [], 'sessions gone after their touch came back later')
  const alive = second.filter(Boolean).length
  assert.ok(
    alive > 0 && alive < ROUNDS,
    `the touches must land on both sides of the expiry: ${alive} of ${ROUNDS} sessions alive (touches at ${firstTouch}-${lastTouch} ms, ttl ${ttl} ms)`,
  )
  // The early touches extended their sessions; the late ones found nothing to extend.
  assert.equal(second[0], true, `${sids[0]}, touched at a quarter of its ttl, must have been extended`)
  assert.equal(second[ROUNDS - 1], false, `${sids[ROUNDS - 1]}, touched long after its expiry, must be gone`)
  await Promise.all(sids.map((sid) => store.destroy(sid)))
}
