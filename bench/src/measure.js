// @ts-check
// Timing machinery shared by every section: a closed-loop runner (N workers, each starting
// its next operation when the previous one completes), latency percentiles, and the summary
// of repeated runs (median and spread).

import { performance } from 'node:perf_hooks'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

/**
 * @typedef {object} RunResult one timed run
 * @property {number} ops operations completed
 * @property {number} seconds wall time of the run
 * @property {number} opsPerSec
 * @property {number} p50 latency in ms
 * @property {number} p99 latency in ms
 * @property {number} errors operations that failed or returned a wrong result
 * @property {string} [firstError] the first failure, for the report
 */

/**
 * Runs `op` for indexes 0..total-1 with `concurrency` operations in flight, until all are
 * done or `deadline` (a performance.now() time) passes, whichever comes first: after the
 * deadline no new operation starts and the run ends when those in flight complete.
 * `op(i, done)` must call `done(err?)` exactly once.
 * @param {{ total: number, concurrency: number, op: (i: number, done: (err?: unknown) => void) => void, deadline?: number }} options
 * @returns {Promise<RunResult>}
 */
export function runClosedLoop({ total, concurrency, op, deadline = Number.POSITIVE_INFINITY }) {
  return new Promise((resolve) => {
    const latencies = new Float64Array(total)
    let next = 0
    let inFlight = 0
    let errors = 0
    /** @type {string | undefined} */
    let firstError
    let finished = false
    const start = performance.now()

    const finish = () => {
      if (finished) return
      finished = true
      const seconds = (performance.now() - start) / 1000
      const ops = next
      const sorted = latencies.subarray(0, ops).sort()
      resolve({
        ops,
        seconds,
        opsPerSec: ops / seconds,
        p50: percentile(sorted, 0.5),
        p99: percentile(sorted, 0.99),
        errors,
        firstError,
      })
    }

    /** Starts operation after operation until this worker should stop. */
    const launch = () => {
      while (next < total && performance.now() < deadline) {
        const i = next++
        inFlight++
        const t0 = performance.now()
        let synchronous = true
        let completedSynchronously = false
        op(i, (err) => {
          latencies[i] = performance.now() - t0
          inFlight--
          if (err) {
            errors++
            firstError ??= describe(err)
          }
          // A store that calls back synchronously would otherwise recurse once per operation.
          if (synchronous) completedSynchronously = true
          else launch()
        })
        synchronous = false
        if (!completedSynchronously) return
      }
      if (inFlight === 0) finish()
    }
    const workers = Math.max(1, Math.min(concurrency, total))
    for (let w = 0; w < workers; w++) launch()
    if (total === 0) finish()
  })
}

/**
 * The value at quantile q of ascending `sorted` (nearest rank).
 * @param {ArrayLike<number>} sorted
 * @param {number} q
 */
export function percentile(sorted, q) {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))
  return /** @type {number} */ (sorted[rank])
}

/** @param {number[]} values */
export function median(values) {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b)
  if (sorted.length === 0) return Number.NaN
  const middle = sorted.length >> 1
  const upper = sorted[middle] ?? Number.NaN
  const lower = sorted[middle - 1] ?? Number.NaN
  return sorted.length % 2 ? upper : (lower + upper) / 2
}

/**
 * @typedef {object} Summary repeated runs of one subject on one workload
 * @property {number} opsPerSec median over the runs
 * @property {number} min slowest run's ops/s
 * @property {number} max fastest run's ops/s
 * @property {number} p50 median of the runs' p50, ms
 * @property {number} p99 median of the runs' p99, ms
 * @property {number[]} rates ops/s of each run, in round order (runs of one round are neighbours in time)
 * @property {number} errors summed over the runs
 * @property {string} [firstError]
 */

/**
 * @param {RunResult[]} results
 * @returns {Summary}
 */
export function summarize(results) {
  const rates = results.map((r) => r.opsPerSec)
  return {
    opsPerSec: median(rates),
    min: Math.min(...rates),
    max: Math.max(...rates),
    p50: median(results.map((r) => r.p50)),
    p99: median(results.map((r) => r.p99)),
    rates,
    errors: results.reduce((sum, r) => sum + r.errors, 0),
    firstError: results.find((r) => r.firstError)?.firstError,
  }
}

/**
 * How many times faster `a` is than `b`: the median over the rounds of a's rate over b's in
 * the same round. Runs of one round ran back to back, so a burst of load from elsewhere on the
 * machine slows both and cancels out, where a ratio of overall medians would keep it.
 * @param {{ rates: number[] }} a
 * @param {{ rates: number[] }} b
 */
export function pairedRatio(a, b) {
  const n = Math.min(a.rates.length, b.rates.length)
  const ratios = []
  for (let i = 0; i < n; i++)
    ratios.push(/** @type {number} */ (a.rates[i]) / /** @type {number} */ (b.rates[i]))
  return median(ratios)
}

/**
 * `items` rotated by `shift`, so that no subject always runs first (or right after another's
 * garbage) when runs alternate.
 * @template T
 * @param {T[]} items
 * @param {number} shift
 * @returns {T[]}
 */
export function rotate(items, shift) {
  if (items.length === 0) return items
  const k = shift % items.length
  return [...items.slice(k), ...items.slice(0, k)]
}

/** @param {unknown} err */
export function describe(err) {
  if (err instanceof Error) return `${err.name}: ${err.message}`.slice(0, 300)
  return String(err).slice(0, 300)
}

/** @type {(() => void) | undefined} */
let gcFunction
/**
 * A full garbage collection, so that one subject's garbage is not collected on another's
 * time. Uses `--expose-gc` when given, else enables it at run time.
 */
export function collectGarbage() {
  if (gcFunction === undefined) {
    const exposed = /** @type {{ gc?: () => void }} */ (globalThis).gc
    if (exposed) gcFunction = exposed
    else {
      setFlagsFromString('--expose-gc')
      gcFunction = /** @type {() => void} */ (runInNewContext('gc'))
    }
  }
  gcFunction()
}

/** Resolves after `ms`. */
export function sleep(/** @type {number} */ ms) {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** ops/s as a short human number: 12.3k, 1.05M. */
export function formatRate(/** @type {number} */ value) {
  if (!Number.isFinite(value)) return '-'
  if (value >= 1e6) return `${(value / 1e6).toFixed(2)}M`
  if (value >= 1e4) return `${(value / 1e3).toFixed(1)}k`
  if (value >= 1e3) return `${(value / 1e3).toFixed(2)}k`
  return value.toFixed(0)
}

/** A latency in ms with sensible precision. */
export function formatMs(/** @type {number} */ value) {
  if (!Number.isFinite(value)) return '-'
  if (value >= 100) return value.toFixed(0)
  if (value >= 10) return value.toFixed(1)
  if (value >= 1) return value.toFixed(2)
  return value.toFixed(3)
}

/** Bytes as MB with one decimal. */
export function formatMb(/** @type {number} */ bytes) {
  if (!Number.isFinite(bytes)) return '-'
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`
}
