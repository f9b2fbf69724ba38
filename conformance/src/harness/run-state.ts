import type { HarnessReport } from './types.js'

/**
 * What the harness's globalSetup tells the run summary. Both run in vitest's main process, so a
 * process-wide slot is enough; a registered symbol finds the same slot even when the two are
 * loaded as separate module instances.
 */
export interface HarnessRunState {
  /** The run's test files, as the summary reporter saw them queued (before globalSetup runs). */
  testFiles?: string[]
  /** Set once globalSetup has found or started the servers. */
  report?: HarnessReport
  /** Set when globalSetup failed: the run must then count as failed. */
  setupError?: string
}

const SLOT = Symbol.for('@session-store/conformance/harness-run')

/** The run's shared state (created empty on first use). */
export function harnessRunState(): HarnessRunState {
  const holder = globalThis as { [SLOT]?: HarnessRunState }
  holder[SLOT] ??= {}
  return holder[SLOT]
}
