// @ts-check
// Store-level benchmarks: each operation is one call of the callback API express-session uses,
// timed from the call to its callback. Subjects of one backend run the same workload in
// alternation, each in its own host, with the same operation sequence and the same number of
// operations.

import { localHosts } from './hosts.js'
import { median, rotate, summarize } from './measure.js'
import { MAX_OPS_PER_RUN, WORKLOADS } from './workloads.js'

/**
 * @typedef {import('./subjects.js').Subject} Subject
 * @typedef {import('./host.js').Host} Host
 * @typedef {import('./hosts.js').HostFactory} HostFactory
 * @typedef {import('./measure.js').Summary} Summary
 * @typedef {import('./measure.js').RunResult} RunResult
 * @typedef {import('./workloads.js').Workload} Workload
 * @typedef {object} CellResult
 * @property {string} backend
 * @property {string} workload
 * @property {string} label
 * @property {boolean} singleOperation
 * @property {number} concurrency
 * @property {number} opsPerRun operations in each timed run
 * @property {Record<string, Summary | { skipped: string }>} subjects by subject name
 * @typedef {object} StoreLevelOptions
 * @property {number} repeats timed runs per subject and cell
 * @property {number} seconds target length of one timed run
 * @property {number} warmupSeconds per subject and cell, before the timed runs
 * @property {number[]} concurrencies
 * @property {number} minOpsPerWorker a run has at least this many operations per concurrent worker
 * @property {boolean} collectBetweenRuns a full GC before every run
 * @property {Workload[]} [workloads] default: all
 * @property {HostFactory} [hosts] where subjects run; default: in this process
 * @property {(line: string) => void} log
 */

/**
 * Runs every workload at every concurrency for the subjects of one backend.
 * @param {string} backend
 * @param {Subject[]} subjects
 * @param {StoreLevelOptions} options
 * @returns {Promise<CellResult[]>}
 */
export async function runStoreLevel(backend, subjects, options) {
  const { concurrencies, log } = options
  const workloads = options.workloads ?? WORKLOADS
  const hostFor = options.hosts ?? localHosts
  /** @type {Array<{ subject: Subject, host: Host }>} */
  const live = []
  /** @type {Record<string, { skipped: string }>} */
  const unavailable = {}
  try {
    // Hosts start in parallel: each is a process that loads its modules and connects.
    const opened = await Promise.all(
      subjects.map(async (subject) => {
        if (subject.unavailable) return { subject, skipped: subject.unavailable }
        const host = hostFor(subject)
        try {
          await host.open()
          return { subject, host }
        } catch (error) {
          await host.close().catch(() => {})
          return { subject, skipped: `could not start: ${/** @type {Error} */ (error).message}` }
        }
      }),
    )
    for (const { subject, host, skipped } of opened) {
      if (host) live.push({ subject, host })
      else unavailable[subject.name] = { skipped: skipped ?? 'could not start' }
    }
    /** @type {CellResult[]} */
    const cells = []
    for (const workload of workloads) {
      for (const concurrency of concurrencies) {
        const cell = await runCell(backend, workload, concurrency, live, options)
        Object.assign(cell.subjects, unavailable)
        cells.push(cell)
        log(formatCellLine(cell))
      }
    }
    return cells
  } finally {
    await Promise.all(live.map(({ host }) => host.close().catch(() => {})))
  }
}

/**
 * One workload at one concurrency: a warm-up run per subject (which also measures its rate),
 * then `repeats` rounds in which every subject runs the same operations, in an order that
 * rotates from round to round.
 * @param {string} backend
 * @param {Workload} workload
 * @param {number} concurrency
 * @param {Array<{ subject: Subject, host: Host }>} live
 * @param {StoreLevelOptions} options
 * @returns {Promise<CellResult>}
 */
async function runCell(backend, workload, concurrency, live, options) {
  const { repeats, seconds, warmupSeconds, minOpsPerWorker, collectBetweenRuns } = options
  /** @type {CellResult} */
  const cell = {
    backend,
    workload: workload.id,
    label: workload.label,
    singleOperation: workload.singleOperation,
    concurrency,
    opsPerRun: 0,
    subjects: {},
  }
  /** @type {typeof live} */
  const runnable = []
  /** @type {number[]} */
  const rates = []
  // A destroy warm-up needs its sessions written first: keep it small.
  const warmupCap = workload.kind === 'destroy' ? concurrency * 50 : MAX_OPS_PER_RUN
  for (const entry of live) {
    try {
      const warm = await entry.host.storeRun({
        workload: workload.id,
        concurrency,
        total: warmupCap,
        seed: 7,
        seconds: warmupSeconds,
      })
      if ('skipped' in warm) {
        cell.subjects[entry.subject.name] = warm
        continue
      }
      if (warm.errors > 0) throw new Error(`warm-up failed: ${warm.firstError}`)
      rates.push(warm.opsPerSec)
      runnable.push(entry)
    } catch (error) {
      cell.subjects[entry.subject.name] = { skipped: `failed: ${/** @type {Error} */ (error).message}` }
    }
  }
  // Every subject runs the same operations; their number aims at `seconds` for the median rate.
  const total = Math.max(
    concurrency * minOpsPerWorker,
    Math.min(MAX_OPS_PER_RUN, Math.round(median(rates) * seconds)),
  )
  cell.opsPerRun = total
  /** @type {Map<string, RunResult[]>} */
  const results = new Map(runnable.map(({ subject }) => [subject.name, []]))
  for (let round = 0; round < repeats; round++) {
    for (const entry of rotate(runnable, round)) {
      const result = await entry.host.storeRun({
        workload: workload.id,
        concurrency,
        total,
        seed: 1000 + round,
        collect: collectBetweenRuns,
      })
      if (!('skipped' in result)) results.get(entry.subject.name)?.push(result)
    }
  }
  for (const [name, runs] of results) cell.subjects[name] = summarize(runs)
  return cell
}

/** One line of progress for a cell. */
function formatCellLine(/** @type {CellResult} */ cell) {
  const parts = Object.entries(cell.subjects).map(([name, s]) =>
    'skipped' in s
      ? `${name}: skipped`
      : `${name} ${Math.round(s.opsPerSec)}/s${s.errors ? ` (${s.errors} errors)` : ''}`,
  )
  return `  ${cell.backend} ${cell.label} c${cell.concurrency}: ${parts.join(', ')}`
}
