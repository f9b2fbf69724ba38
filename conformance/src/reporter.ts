import { writeSync } from 'node:fs'
import type {
  Reporter,
  SerializedError,
  TestModule,
  TestRunEndReason,
  TestSpecification,
  Vitest,
} from 'vitest/node'
import { harnessRunState } from './harness/run-state.js'
import { BACKEND_NAMES, type HarnessReport, PROVIDE_KEY } from './harness/types.js'

/** Test counts of a run, as the closing line states them. */
export interface RunCounts {
  passed: number
  failed: number
  skipped: number
}

/**
 * Counts individual tests. Whatever went wrong outside a test also counts as a failure, so a
 * broken run can never end with "0 failed": a file that failed to load or whose hooks threw
 * (one per error), an unhandled error, a failed globalSetup, a test that never finished, and a
 * run vitest itself calls failed with nothing else to show for it.
 */
export function countRun(
  modules: ReadonlyArray<TestModule>,
  unhandledErrors: ReadonlyArray<unknown>,
  reason: TestRunEndReason,
  setupFailed: boolean,
): RunCounts {
  const counts: RunCounts = { passed: 0, failed: 0, skipped: 0 }
  for (const module of modules) {
    let failedHere = 0
    for (const test of module.children.allTests()) {
      const state = test.result().state
      if (state === 'passed') counts.passed++
      else if (state === 'skipped') counts.skipped++
      else failedHere++ // 'failed', or 'pending': it never finished
    }
    failedHere += module.errors().length
    if (failedHere === 0 && module.state() === 'failed') failedHere = 1
    counts.failed += failedHere
  }
  counts.failed += unhandledErrors.length
  if (setupFailed) counts.failed++
  if (reason === 'failed' && counts.failed === 0) counts.failed = 1
  return counts
}

/** The closing line CI reads: `N passed, N failed` and, when there are any, `, N skipped`. */
export function countLine(counts: RunCounts): string {
  const line = `${counts.passed} passed, ${counts.failed} failed`
  return counts.skipped > 0 ? `${line}, ${counts.skipped} skipped` : line
}

/**
 * The tests skipped with a reason (`ctx.skip(reason)`): a test that cannot run on the server this
 * run has (FerretDB lacks a MongoDB feature the test starts from) says which and why, so that a
 * skip is never silent. Tests skipped for want of a server are told by the server lines instead.
 */
export function skipNotes(modules: ReadonlyArray<TestModule>): string[] {
  const lines: string[] = []
  for (const module of modules) {
    for (const test of module.children.allTests()) {
      const result = test.result()
      if (result.state === 'skipped' && result.note) lines.push(`  ${test.fullName}: ${result.note}`)
    }
  }
  return lines
}

/** One line per backend: the server it ran against, or why it was skipped. */
export function serverLines(report: HarnessReport | undefined, setupError: string | undefined): string[] {
  const label = (name: string): string => `  ${name.padEnd(15)} `
  const lines = [`${label('memory')}MemoryStore, in process`]
  for (const backend of BACKEND_NAMES) {
    const status = report?.backends.find((b) => b.backend === backend)
    if (status?.status === 'found') {
      lines.push(`${label(backend)}${status.server.description}`)
    } else if (status?.status === 'skipped') {
      const required = report?.required.includes(backend) ? ' (REQUIRED)' : ''
      lines.push(`${label(backend)}skipped${required}: ${status.reason}`)
    } else {
      lines.push(
        `${label(backend)}no server: ${setupError ? 'the harness setup failed' : 'the harness setup did not run'}`,
      )
    }
  }
  return lines
}

/**
 * vitest reporter that closes `pnpm test` with the servers each backend ran against and a
 * plain count line, which is the line CI reads. Add it after vitest's default reporter.
 *
 * In a single run the block is written when the process exits: vitest prints some things
 * (a failed globalSetup, hanging-process notes) after the last reporter hook, and the count
 * line must stay last. In watch mode it is written at the end of each run.
 */
export default class SummaryReporter implements Reporter {
  private vitest: Vitest | undefined
  private pending: string | undefined
  private runEnded = false

  onInit(vitest: Vitest): void {
    this.vitest = vitest
    if (!vitest.config.watch) process.once('exit', () => this.flushAtExit())
  }

  onTestRunStart(specifications: ReadonlyArray<TestSpecification>): void {
    // For the harness's globalSetup, which runs next: it starts only the servers these files can use.
    harnessRunState().testFiles = specifications.map((specification) => specification.moduleId)
  }

  onTestRunEnd(
    modules: ReadonlyArray<TestModule>,
    unhandledErrors: ReadonlyArray<SerializedError>,
    reason: TestRunEndReason,
  ): void {
    this.runEnded = true
    const setupFailed = harnessRunState().setupError !== undefined
    const text = this.block(
      countRun(modules, unhandledErrors, reason, setupFailed),
      undefined,
      skipNotes(modules),
    )
    if (this.vitest?.config.watch) this.vitest.logger.log(text)
    else this.pending = text
  }

  private block(counts: RunCounts, note?: string, skips: string[] = []): string {
    const state = harnessRunState()
    const report =
      state.report ??
      (this.vitest?.getRootProject().getProvidedContext()[PROVIDE_KEY] as HarnessReport | undefined)
    const lines = ['', 'session-store servers:', ...serverLines(report, state.setupError)]
    if (skips.length > 0) lines.push('', 'skipped, with the reason:', ...skips)
    if (state.setupError) lines.push('', `harness setup failed: ${state.setupError.split('\n').join('\n  ')}`)
    if (note) lines.push('', note)
    lines.push('', countLine(counts))
    return lines.join('\n')
  }

  private flushAtExit(): void {
    // A run that never reached its end (a crash, an interrupted run) has not passed.
    const text =
      this.pending ??
      (this.runEnded
        ? undefined
        : this.block(
            { passed: 0, failed: 1, skipped: 0 },
            'the test run ended before vitest reported its results',
          ))
    // Only synchronous writes reach the terminal from an 'exit' handler.
    if (text) writeSync(1, `${text}\n`)
  }
}
