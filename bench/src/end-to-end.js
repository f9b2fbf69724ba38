// @ts-check
// End-to-end benchmarks: for one framework and backend, each variant (our store, with and
// without touchAfter, and the alternatives that work in that framework) gets its own host
// with the app and its logged-in virtual users (apps.js); then the variants run in
// alternation.

import { localHosts } from './hosts.js'
import { rotate, summarize } from './measure.js'

/**
 * @typedef {import('./subjects.js').Subject} Subject
 * @typedef {import('./host.js').Host} Host
 * @typedef {import('./hosts.js').HostFactory} HostFactory
 * @typedef {import('./measure.js').RunResult} RunResult
 * @typedef {import('./measure.js').Summary} Summary
 * @typedef {object} AppVariant one subject as an app, under a name
 * @property {string} name
 * @property {Subject} subject
 * @property {{ touchAfter?: number }} [options] passed to subject.create
 * @typedef {object} EndToEndCell
 * @property {string} backend
 * @property {'express' | 'koa'} framework
 * @property {number} users
 * @property {Record<string, Summary | { skipped: string }>} subjects
 * @typedef {object} EndToEndOptions
 * @property {string} backend
 * @property {'express' | 'koa'} framework
 * @property {AppVariant[]} variants
 * @property {number} users virtual users per app
 * @property {number} repeats
 * @property {number} seconds per run
 * @property {number} warmupSeconds
 * @property {boolean} [collectBetweenRuns]
 * @property {HostFactory} [hosts] where the apps run; default: in this process
 * @property {(line: string) => void} log
 */

/**
 * @param {EndToEndOptions} options
 * @returns {Promise<EndToEndCell>}
 */
export async function runEndToEnd(options) {
  const { backend, framework, variants, users, repeats, seconds, warmupSeconds, log } = options
  const hostFor = options.hosts ?? localHosts
  /** @type {EndToEndCell} */
  const cell = { backend, framework, users, subjects: {} }
  /** @type {Array<{ variant: AppVariant, host: Host, runs: RunResult[] }>} */
  const live = []
  try {
    // Hosts start in parallel (each is a process that loads its modules, connects and logs
    // its users in); warm-ups run one at a time.
    const started = await Promise.all(
      variants.map(async (variant) => {
        if (variant.subject.unavailable) return { variant, skipped: variant.subject.unavailable }
        const host = hostFor(variant.subject, variant.options)
        try {
          await host.open()
          // A store that does not work in this framework (koa-redis in Express) is left out.
          if (await host.appStart({ framework, users })) {
            await host.close()
            return { variant }
          }
          return { variant, host }
        } catch (error) {
          await host.close().catch(() => {})
          return { variant, skipped: `failed: ${/** @type {Error} */ (error).message}` }
        }
      }),
    )
    for (const { variant, host, skipped } of started) {
      if (skipped) cell.subjects[variant.name] = { skipped }
      if (!host) continue
      try {
        const warm = await host.appRun({ seconds: warmupSeconds, seed: 3 })
        if (warm.errors > 0) throw new Error(`warm-up failed: ${warm.firstError}`)
        live.push({ variant, host, runs: [] })
      } catch (error) {
        cell.subjects[variant.name] = { skipped: `failed: ${/** @type {Error} */ (error).message}` }
        await host.close().catch(() => {})
      }
    }
    for (let round = 0; round < repeats; round++) {
      for (const entry of rotate(live, round)) {
        entry.runs.push(
          await entry.host.appRun({ seconds, seed: 100 + round, collect: options.collectBetweenRuns }),
        )
      }
    }
    for (const entry of live) cell.subjects[entry.variant.name] = summarize(entry.runs)
  } finally {
    await Promise.all(live.map(({ host }) => host.close().catch(() => {})))
  }
  const parts = Object.entries(cell.subjects).map(([name, s]) =>
    'skipped' in s
      ? `${name}: skipped`
      : `${name} ${Math.round(s.opsPerSec)} req/s${s.errors ? ` (${s.errors} errors)` : ''}`,
  )
  log(`  ${framework} ${backend}: ${parts.join(', ')}`)
  return cell
}
