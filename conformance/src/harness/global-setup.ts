import type { TestProject } from 'vitest/node'
import { resolveServers } from './resolve.js'
import { harnessRunState } from './run-state.js'
import { PROVIDE_KEY } from './types.js'

/**
 * vitest globalSetup: finds or starts a server for every backend before any test file runs,
 * hands the result to the test workers (`server()` reads it) and to the run summary, and
 * returns the teardown that stops what it started.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const state = harnessRunState()
  try {
    // The summary reporter records the queued files before vitest runs globalSetup; without
    // that reporter every backend gets a server.
    const resolved = await resolveServers({ testFiles: state.testFiles })
    state.report = resolved.report
    project.provide(PROVIDE_KEY, resolved.report)
    return () => resolved.close()
  } catch (error) {
    state.setupError = error instanceof Error ? error.message : String(error)
    throw error
  }
}
