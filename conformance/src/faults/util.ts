import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { SessionStoreError, type SessionStoreErrorCode } from '@session-store/core'

export { sleep }

/** How a promise settled within a deadline, and when. */
export type Outcome<T = unknown> =
  | { state: 'resolved'; value: T; ms: number }
  | { state: 'rejected'; error: unknown; ms: number }
  | { state: 'pending'; ms: number }

/** Waits for `promise` at most `ms`; says how it settled and how long it took. Never rejects. */
export async function settleWithin<T>(promise: Promise<T>, ms: number): Promise<Outcome<T>> {
  const started = performance.now()
  const elapsed = () => Math.round(performance.now() - started)
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<Outcome<T>>((resolve) => {
    timer = setTimeout(() => resolve({ state: 'pending', ms: elapsed() }), ms)
  })
  try {
    return await Promise.race([
      promise.then(
        (value): Outcome<T> => ({ state: 'resolved', value, ms: elapsed() }),
        (error: unknown): Outcome<T> => ({ state: 'rejected', error, ms: elapsed() }),
      ),
      deadline,
    ])
  } finally {
    clearTimeout(timer)
  }
}

/** One line describing an error, for assertion messages. */
export function describe(err: unknown): string {
  if (err instanceof SessionStoreError) return `SessionStoreError ${err.code}: ${err.message}`
  if (err instanceof Error) return `${err.name}: ${err.message}`
  return String(err)
}

/**
 * Asserts that an outcome is a rejection with a SessionStoreError whose code is one of
 * `codes`, and returns that error.
 */
export function requireStoreError(
  outcome: Outcome,
  codes: readonly SessionStoreErrorCode[],
  what: string,
): SessionStoreError {
  assert.notEqual(outcome.state, 'pending', `${what} did not settle within ${outcome.ms} ms`)
  assert.equal(
    outcome.state,
    'rejected',
    `${what} must reject, it resolved ${JSON.stringify((outcome as { value?: unknown }).value)}`,
  )
  const { error } = outcome as { error: unknown }
  assert.ok(
    error instanceof SessionStoreError,
    `${what} must reject with a SessionStoreError, got ${describe(error)}`,
  )
  assert.ok(
    codes.includes(error.code),
    `${what} must reject with code ${codes.join(' or ')}, got ${describe(error)}`,
  )
  return error
}

/** Polls `check` until it holds, at most `attempts` times `everyMs` apart; false when it never held. */
export async function poll(
  check: () => Promise<boolean>,
  attempts: number,
  everyMs: number,
): Promise<boolean> {
  for (let attempt = 0; attempt < attempts; attempt++) {
    try {
      if (await check()) return true
    } catch {
      // not yet
    }
    await sleep(everyMs)
  }
  return false
}

/**
 * Records what reaches the process' last-resort handlers while a scenario runs: an unhandled
 * rejection or an uncaught exception would crash (or, with a test runner, fail) an app.
 */
export function watchProcess(): { problems: string[]; stop(): void } {
  const problems: string[] = []
  const onRejection = (reason: unknown) => problems.push(`unhandledRejection: ${describe(reason)}`)
  const onException = (err: unknown) => problems.push(`uncaughtException: ${describe(err)}`)
  process.on('unhandledRejection', onRejection)
  process.on('uncaughtException', onException)
  return {
    problems,
    stop() {
      process.off('unhandledRejection', onRejection)
      process.off('uncaughtException', onException)
    },
  }
}

/**
 * Runs `count` tasks with at most `concurrency` in flight at once. Every task runs even when
 * another failed; the failures are returned, not thrown.
 */
export async function runBounded(
  count: number,
  concurrency: number,
  task: (index: number) => Promise<void>,
): Promise<unknown[]> {
  const failures: unknown[] = []
  let next = 0
  const worker = async () => {
    while (next < count) {
      const index = next++
      try {
        await task(index)
      } catch (err) {
        failures.push(err)
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker))
  return failures
}

/** A small deterministic pseudo-random sequence, so a failing run can be replayed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0 || 1
  return () => {
    // xorshift32
    state ^= state << 13
    state >>>= 0
    state ^= state >>> 17
    state ^= state << 5
    state >>>= 0
    return state / 2 ** 32
  }
}

let collectGarbage: (() => void) | undefined

/**
 * A full garbage collection, so heap sizes compare what is kept rather than what is merely not
 * collected yet. `--expose-gc` is switched on at run time for this.
 */
export function fullGc(): void {
  if (!collectGarbage) {
    setFlagsFromString('--expose-gc')
    collectGarbage = runInNewContext('gc') as () => void
  }
  collectGarbage()
}

/**
 * For a test marked as failing because of a known store bug (vitest's `it.fails`): runs the
 * scenario and rethrows its failure only when it is that bug (`symptom` matches the message),
 * so the test passes as "expected to fail". Any other failure is printed and swallowed, which
 * makes `it.fails` report it: a different problem never hides behind the known one. Once the
 * bug is fixed the scenario passes and `it.fails` reports that too.
 */
export function knownBug(run: () => Promise<void>, symptom: RegExp): () => Promise<void> {
  return async () => {
    try {
      await run()
    } catch (err) {
      if (err instanceof Error && symptom.test(err.message)) throw err
      console.error(`not the known bug (${symptom}):`, err)
    }
  }
}
