import { inject } from 'vitest'
import type { BackendName, BackendStatus, HarnessReport, ServerFound } from './types.js'
import { PROVIDE_KEY } from './types.js'

function report(): HarnessReport | undefined {
  // Undefined when the run has no harness globalSetup (another vitest config).
  return inject(PROVIDE_KEY) as HarnessReport | undefined
}

/**
 * The server this run's globalSetup found or started for `backend`, or undefined when the
 * backend is skipped in this run (the run summary says why). For use in vitest test files:
 *
 * ```ts
 * const found = server('redis')
 * describe.skipIf(!found)('redis', () => { ... })
 * ```
 */
export function server(backend: BackendName): ServerFound | undefined {
  const status = report()?.backends.find((b) => b.backend === backend)
  return status?.status === 'found' ? status.server : undefined
}

/** Why `backend` has no server in this run, or undefined when it has one. */
export function skipReason(backend: BackendName): string | undefined {
  const run = report()
  if (!run) return 'the run has no session-store harness (globalSetup not configured)'
  const status: BackendStatus | undefined = run.backends.find((b) => b.backend === backend)
  if (!status) return 'unknown backend'
  return status.status === 'skipped' ? status.reason : undefined
}
