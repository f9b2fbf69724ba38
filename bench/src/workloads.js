// @ts-check
// The store-level workloads: what one operation of each is, on the callback API express-session
// uses, and the sessions it needs written beforehand.

import { runClosedLoop } from './measure.js'
import { makeSession, seededRandom, sidList } from './sessions.js'

/**
 * @typedef {import('./subjects.js').CallbackStore} CallbackStore
 * @typedef {object} Workload
 * @property {string} id
 * @property {string} label
 * @property {boolean} singleOperation whether each operation is one kind of call (the raw-client target applies)
 * @property {number} bytes encoded session size
 * @property {'set' | 'get' | 'touch' | 'destroy' | 'mix'} kind
 * @property {boolean} [hit] for gets: read sessions that exist
 * @property {boolean} [fresh] for sets: write new sids
 */

/** Sessions per pool that gets, touches and the mix pick from. */
export const POOL_SIZE = 1000

/** Operations in one run at most, which bounds what a run writes (and later cleans up). */
export const MAX_OPS_PER_RUN = 200_000

/** A run of new sessions that wrote more than this many bytes deletes them afterwards. */
const CLEANUP_ABOVE_BYTES = 16 * 1024 * 1024

/** @type {Workload[]} */
export const WORKLOADS = [
  { id: 'set', label: 'set new 300 B', singleOperation: true, bytes: 300, kind: 'set', fresh: true },
  { id: 'get-hit', label: 'get hit 300 B', singleOperation: true, bytes: 300, kind: 'get', hit: true },
  { id: 'get-miss', label: 'get miss', singleOperation: true, bytes: 300, kind: 'get', hit: false },
  { id: 'touch', label: 'touch', singleOperation: true, bytes: 300, kind: 'touch' },
  { id: 'destroy', label: 'destroy', singleOperation: true, bytes: 300, kind: 'destroy' },
  { id: 'mix', label: 'mix 80/15/5 get/set/touch', singleOperation: false, bytes: 300, kind: 'mix' },
  { id: 'set-4k', label: 'set new 4 KB', singleOperation: true, bytes: 4096, kind: 'set', fresh: true },
  { id: 'get-4k', label: 'get hit 4 KB', singleOperation: true, bytes: 4096, kind: 'get', hit: true },
]

/**
 * Calls `method` for every sid at concurrency 64 and rejects on the first error: the untimed
 * preparation of sessions a workload needs.
 * @param {CallbackStore} store
 * @param {string[]} sids
 * @param {Record<string, unknown>} session
 */
export async function populate(store, sids, session) {
  const result = await runClosedLoop({
    total: sids.length,
    concurrency: 64,
    op: (i, done) => store.set(/** @type {string} */ (sids[i]), session, done),
  })
  if (result.errors > 0) throw new Error(`populating ${sids.length} sessions failed: ${result.firstError}`)
}

/**
 * The operation of `workload` on `store`, for operations 0..total-1, plus whatever sessions it
 * needs written beforehand (untimed). Wrong answers (a hit that reads null, a miss that reads
 * something) count as errors: a subject that does nothing must not look fast.
 * @param {Workload} workload
 * @param {CallbackStore} store
 * @param {string[]} pool sids that exist, written with a session of workload.bytes
 * @param {number} total
 * @param {number} seed
 * @returns {Promise<{ op: (i: number, done: (err?: unknown) => void) => void, cleanup?: (used: number) => Promise<void> }>}
 */
export async function prepare(workload, store, pool, total, seed) {
  const session = makeSession(workload.bytes, seed)
  const random = seededRandom(seed)
  const picks = Uint32Array.from({ length: total }, () => Math.floor(random() * pool.length))
  const pick = (/** @type {number} */ i) => /** @type {string} */ (pool[/** @type {number} */ (picks[i])])
  const touch = store.touch?.bind(store)
  switch (workload.kind) {
    case 'set': {
      const sids = sidList(total, 'n')
      return {
        op: (i, done) => store.set(/** @type {string} */ (sids[i]), session, done),
        // New sessions would pile up run after run (in memory, or in a server's RAM); removing
        // them costs as much as writing them, so only when a run wrote more than a little.
        cleanup: (used) =>
          used * workload.bytes > CLEANUP_ABOVE_BYTES
            ? destroyAll(store, sids.slice(0, used))
            : Promise.resolve(),
      }
    }
    case 'get': {
      if (workload.hit) {
        return {
          op: (i, done) =>
            store.get(pick(i), (err, value) =>
              done(err ?? (value ? undefined : new Error('get of a stored sid read nothing'))),
            ),
        }
      }
      const sids = sidList(total, 'm')
      return {
        op: (i, done) =>
          store.get(/** @type {string} */ (sids[i]), (err, value) =>
            done(err ?? (value ? new Error('get of an unknown sid read a session') : undefined)),
          ),
      }
    }
    case 'touch': {
      if (!touch) throw new Skip('no touch method')
      return { op: (i, done) => touch(pick(i), session, done) }
    }
    case 'destroy': {
      const sids = sidList(total, 'd')
      await populate(store, sids, session)
      return { op: (i, done) => store.destroy(/** @type {string} */ (sids[i]), done) }
    }
    case 'mix': {
      const kinds = Float64Array.from({ length: total }, () => random())
      // A store without touch gets a set where the mix has a touch: what a Koa app with
      // rolling sessions does, and the only way such a store can extend a session.
      const extend = touch ?? store.set.bind(store)
      return {
        op: (i, done) => {
          const sid = pick(i)
          const k = /** @type {number} */ (kinds[i])
          if (k < 0.8) store.get(sid, (err) => done(err))
          else if (k < 0.95) store.set(sid, session, done)
          else extend(sid, session, done)
        },
      }
    }
  }
}

/**
 * Destroys every sid, untimed, at concurrency 64.
 * @param {CallbackStore} store
 * @param {string[]} sids
 */
async function destroyAll(store, sids) {
  await runClosedLoop({
    total: sids.length,
    concurrency: 64,
    op: (i, done) => store.destroy(/** @type {string} */ (sids[i]), done),
  })
}

/** A workload a subject cannot run (koa-redis has no touch). */
export class Skip extends Error {}
