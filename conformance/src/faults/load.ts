import assert from 'node:assert/strict'
import type { EventEmitter } from 'node:events'
import type { SessionData } from '@session-store/core'
import { type FaultTarget, withStore } from './target.js'
import { describe, fullGc, runBounded, seededRandom, sleep } from './util.js'

/** Operations of the consistency scenario, sids they spread over, and how many run at once. */
export const CONSISTENCY_OPERATIONS = 10_000
const CONSISTENCY_SIDS = 500
const CONCURRENCY = 64
/** Sids that get a large share of the writes, so that writes to one sid overlap all the time. */
const HOT_SIDS = 8

/** Operations of the leak scenario. */
export const LEAK_OPERATIONS = 100_000
const LEAK_WARMUP = 5_000
const LEAK_SIDS = 1000

/** Load scenarios give the store room: a busy machine must not turn load into timeouts. */
const LOAD_TIMEOUT = 15_000

/**
 * The value writer `writer` stores under `sid`: its parts all derive from the two, and its
 * length varies with the writer, so a mix of two writes, a truncated one or one stored under
 * the wrong sid cannot pass {@link checkWhole}.
 */
function payload(sid: string, writer: number): SessionData {
  const length = 20 + ((writer * 7919) % 3000)
  return {
    cookie: { originalMaxAge: 600_000 },
    sid,
    writer,
    body: String.fromCharCode(97 + (writer % 26)).repeat(length),
    list: Array.from({ length: 1 + (writer % 7) }, (_, i) => writer + i),
    tail: `${sid}#${writer}`,
  }
}

/** Whether `value` is exactly one value some writer stored under `sid`; the reason when it is not. */
function checkWhole(sid: string, value: SessionData, issued: Set<number> | undefined): string | undefined {
  const writer = value.writer
  if (typeof writer !== 'number') return `no writer in ${JSON.stringify(value).slice(0, 200)}`
  if (JSON.stringify(value) !== JSON.stringify(payload(sid, writer))) {
    return `not the whole value writer ${writer} stored: ${JSON.stringify(value).slice(0, 200)}`
  }
  if (!issued?.has(writer)) return `writer ${writer} never wrote ${sid}`
  return undefined
}

/**
 * Parallel writes stay whole: {@link CONSISTENCY_OPERATIONS} operations (half writes, half
 * reads) over 500 sids, {@link CONCURRENCY} at a time, with a share of them on a few hot sids
 * so that writes to one sid overlap, then bursts of 20 simultaneous writes to each of 50 sids.
 * Every value read back, during and after, is one complete value that was written to that sid;
 * a sid whose write was acknowledged never reads as missing; no operation fails.
 */
export async function parallelWritesStayWhole(target: FaultTarget): Promise<void> {
  await withStore(
    target,
    'consistency',
    async (store) => {
      const random = seededRandom(20_240_601)
      const sids = Array.from({ length: CONSISTENCY_SIDS }, (_, i) => `load-${i}`)
      const issued = new Map<string, Set<number>>()
      const acknowledged = new Map<string, number>()
      const problems: string[] = []
      let writers = 0

      const write = async (sid: string) => {
        const writer = ++writers
        const writersOfSid = issued.get(sid) ?? new Set<number>()
        issued.set(sid, writersOfSid)
        writersOfSid.add(writer)
        await store.set(sid, payload(sid, writer))
        acknowledged.set(sid, (acknowledged.get(sid) ?? 0) + 1)
      }
      const read = async (sid: string) => {
        const ackedBefore = acknowledged.get(sid) ?? 0
        const value = await store.get(sid)
        if (value === null) {
          if (ackedBefore > 0)
            problems.push(`${sid} read as missing after ${ackedBefore} acknowledged writes`)
          return
        }
        const wrong = checkWhole(sid, value, issued.get(sid))
        if (wrong) problems.push(`${sid}: ${wrong}`)
      }

      const bursts = 50
      const perBurst = 20
      const mixed = CONSISTENCY_OPERATIONS - bursts * (perBurst + 1)
      const failures = await runBounded(mixed, CONCURRENCY, async () => {
        const hot = random() < 0.3
        const sid = hot ? sids[Math.floor(random() * HOT_SIDS)]! : sids[Math.floor(random() * sids.length)]!
        await (random() < 0.5 ? write(sid) : read(sid))
      })
      const burstFailures = await runBounded(bursts, 2, async (index) => {
        const sid = sids[sids.length - 1 - index]!
        await Promise.all(Array.from({ length: perBurst }, () => write(sid)))
        await read(sid)
      })
      failures.push(...burstFailures)
      assert.deepEqual(
        failures.slice(0, 3).map(describe),
        [],
        `${failures.length} operations failed under load`,
      )
      assert.deepEqual(problems.slice(0, 5), [], `${problems.length} reads were not one whole written value`)

      // At rest, every sid holds one whole value of its own.
      const finals = await Promise.all(sids.map((sid) => store.get(sid)))
      for (const [index, value] of finals.entries()) {
        const sid = sids[index]!
        if (!issued.has(sid)) {
          assert.equal(value, null, `${sid} was never written`)
          continue
        }
        assert.ok(value !== null, `${sid} was written and acknowledged, and reads as missing`)
        assert.equal(checkWhole(sid, value, issued.get(sid)), undefined, `${sid} at rest`)
      }
      assert.ok(writers > CONSISTENCY_OPERATIONS / 3, `writes issued: ${writers}`)
      await Promise.all(sids.map((sid) => store.destroy(sid)))
    },
    LOAD_TIMEOUT,
  )
}

/** Listeners on an emitter, by event name, for the events that have any. */
function listenerCounts(emitter: EventEmitter): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const name of emitter.eventNames()) counts[String(name)] = emitter.listenerCount(name)
  return counts
}

/** What keeps the event loop busy, counted by kind (TCPSocketWrap, Timeout, ...). */
function activeResources(): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1
  return counts
}

/** Resources of a kind may vary by this much at rest (a pooled connection more or less, a timer). */
const RESOURCE_SLACK = 3
const HEAP_SLACK_BYTES = 64 * 1024 * 1024
const RSS_SLACK_BYTES = 256 * 1024 * 1024

/**
 * No leaks: {@link LEAK_OPERATIONS} operations (get, set, touch, destroy) over 1000 sids, 64 at
 * a time. Afterwards, at rest, the store and its client have exactly the listeners they had
 * before, the process holds no more handles and timers of any kind than before (give or take a
 * few), and the heap and RSS are roughly where they were (a generous bound; no timing).
 */
export async function noLeaks(target: FaultTarget): Promise<void> {
  await withStore(
    target,
    'leaks',
    async (store) => {
      const clients = target.clients?.(store) ?? []
      const random = seededRandom(7)
      const session = (n: number): SessionData => ({
        cookie: { originalMaxAge: 600_000 },
        n,
        pad: 'p'.repeat(200),
      })
      const operation = async (index: number) => {
        const sid = `leak-${Math.floor(random() * LEAK_SIDS)}`
        const pick = random()
        if (pick < 0.4) await store.get(sid)
        else if (pick < 0.7) await store.set(sid, session(index))
        else if (pick < 0.9) await store.touch(sid, session(index))
        else await store.destroy(sid)
      }
      const settle = async () => {
        await sleep(300)
        fullGc()
      }

      const warmup = await runBounded(LEAK_WARMUP, CONCURRENCY, operation)
      assert.deepEqual(warmup.slice(0, 3).map(describe), [], 'operations failed while warming up')
      await settle()
      const before = {
        store: listenerCounts(store),
        clients: clients.map(listenerCounts),
        resources: activeResources(),
        memory: process.memoryUsage(),
      }

      const failures = await runBounded(LEAK_OPERATIONS, CONCURRENCY, operation)
      assert.deepEqual(
        failures.slice(0, 3).map(describe),
        [],
        `${failures.length} of ${LEAK_OPERATIONS} operations failed`,
      )
      await settle()
      const after = {
        store: listenerCounts(store),
        clients: clients.map(listenerCounts),
        resources: activeResources(),
        memory: process.memoryUsage(),
      }

      assert.deepEqual(after.store, before.store, "the store's listeners changed over the operations")
      assert.deepEqual(after.clients, before.clients, "the client's listeners changed over the operations")
      const grown = Object.entries(after.resources).filter(
        ([kind, count]) => count > (before.resources[kind] ?? 0) + RESOURCE_SLACK,
      )
      assert.deepEqual(
        grown,
        [],
        `active resources grew: before ${JSON.stringify(before.resources)}, after ${JSON.stringify(after.resources)}`,
      )
      const mb = (bytes: number) => `${Math.round(bytes / 1024 / 1024)} MB`
      assert.ok(
        after.memory.heapUsed - before.memory.heapUsed < HEAP_SLACK_BYTES,
        `the heap grew from ${mb(before.memory.heapUsed)} to ${mb(after.memory.heapUsed)}`,
      )
      assert.ok(
        after.memory.rss - before.memory.rss < RSS_SLACK_BYTES,
        `RSS grew from ${mb(before.memory.rss)} to ${mb(after.memory.rss)}`,
      )
      await Promise.all(Array.from({ length: LEAK_SIDS }, (_, i) => store.destroy(`leak-${i}`)))
    },
    LOAD_TIMEOUT,
  )
}
