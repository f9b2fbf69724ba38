/**
 * Reliability scenarios: faults, bad input and hygiene, run against real servers. Each
 * scenario is a plain async function that takes a {@link FaultTarget} (how to create the
 * store, how to stop, start, pause and resume its server, how to plant raw data in it) and
 * throws (node:assert) when the store misbehaves, so a backend's test file is a short call site:
 *
 * ```ts
 * for (const scenario of faultScenarios(target)) {
 *   it.skipIf(scenario.skip !== undefined)(scenario.title, scenario.run, scenario.timeoutMs)
 * }
 * ```
 */
import { type BadOptionsCase, badOptions, badSessions, badSids, corruptData } from './bad-input.js'
import { type ExitSpec, exitsAfterClose } from './exit.js'
import { noLeaks, parallelWritesStayWhole } from './load.js'
import {
  outageUnderLoad,
  type PartialOutage,
  partialOutage,
  restartWithSameStore,
  slowBackend,
} from './outage.js'
import { touchRaces } from './races.js'
import type { FaultScenario, FaultTarget } from './target.js'

export { type AppAnswer, AppClient, startCounterApp } from './app.js'
export {
  type BadOptionsCase,
  badOptions,
  badSessions,
  badSids,
  commonBadOptions,
  corruptData,
  corruptValues,
  invalidSids,
  validOddSids,
} from './bad-input.js'
export { EXIT_AFTER_CLOSE_LIMIT_MS, type ExitSpec, exitsAfterClose } from './exit.js'
export { CONSISTENCY_OPERATIONS, LEAK_OPERATIONS, noLeaks, parallelWritesStayWhole } from './load.js'
export {
  OUTAGE_CLIENTS,
  outageUnderLoad,
  type PartialOutage,
  partialOutage,
  restartWithSameStore,
  slowBackend,
} from './outage.js'
export { touchRaces } from './races.js'
export {
  DEFAULT_FAULT_TIMEOUT,
  type FaultScenario,
  type FaultTarget,
  freshPrefix,
  proxyControl,
  type RawValue,
  type RestartBehaviour,
  SETTLE_MARGIN_MS,
  type ServerControl,
  withStore,
} from './target.js'
export { fullGc, knownBug, type Outcome, settleWithin, watchProcess } from './util.js'

/** What a backend adds to the common scenarios. */
export interface FaultScenarioOptions {
  /** Constructions the store must refuse with EOPTIONS (see `commonBadOptions`). @default none beyond the common ones */
  badOptions?: BadOptionsCase[]
  /** The child process of the exit scenario, once per way of giving the store its client. @default none (the scenario does not run) */
  exit?: Record<string, ExitSpec>
  /** A part of the backend to take down while the rest serves (a Cluster master). @default none (the scenario does not run) */
  partialOutage?: PartialOutage
}

/**
 * Every scenario for one target, in a fixed order, with the titles tests and RELIABILITY.md
 * use. Scenarios that stop or pause the server are skipped (with the reason) when the target
 * has no server controls.
 */
export function faultScenarios(target: FaultTarget, options: FaultScenarioOptions = {}): FaultScenario[] {
  const noServer = target.server ? undefined : `${target.name} has no server to stop or pause`
  const scenario = (
    title: string,
    timeoutMs: number,
    run: () => Promise<void>,
    skip: string | undefined = undefined,
  ): FaultScenario => ({ title, timeoutMs, run, skip })
  const scenarios = [
    scenario('outage under load', 120_000, () => outageUnderLoad(target), noServer),
    scenario('restart with the same store', 60_000, () => restartWithSameStore(target), noServer),
    scenario('slow backend', 60_000, () => slowBackend(target), noServer),
    scenario('touch racing expiry and destroy', 60_000, () => touchRaces(target)),
  ]
  if (options.partialOutage) {
    const part = options.partialOutage
    scenarios.push(scenario(part.title ?? 'one part down', 90_000, () => partialOutage(target, part)))
  }
  scenarios.push(
    scenario('bad sids', 60_000, () => badSids(target)),
    scenario('bad sessions', 90_000, () => badSessions(target)),
    scenario('corrupt data', 60_000, () => corruptData(target)),
  )
  if (options.badOptions) {
    const cases = options.badOptions
    scenarios.push(scenario('bad options', 30_000, () => badOptions(cases)))
  }
  scenarios.push(scenario('parallel writes stay whole', 120_000, () => parallelWritesStayWhole(target)))
  for (const [how, spec] of Object.entries(options.exit ?? {})) {
    scenarios.push(scenario(`exits after close (${how})`, 60_000, () => exitsAfterClose(spec)))
  }
  scenarios.push(scenario('no leaks over 100 000 operations', 180_000, () => noLeaks(target)))
  return scenarios
}
