import { randomUUID } from 'node:crypto'
import type { SessionStore, StoreCapabilities } from '@session-store/core'
import {
  type Clause,
  type ClauseContext,
  type ClauseId,
  ClauseSkipped,
  type ConformanceTarget,
} from './clause.js'

/** The outcome of one clause. */
export interface ClauseResult {
  id: ClauseId
  title: string
  status: 'passed' | 'failed' | 'skipped'
  /** Why it failed or was skipped, in one line. */
  reason?: string
  /** The error a failure threw, for a test runner to show in full. */
  error?: unknown
  durationMs: number
}

/** How long a whole clause may run before it counts as hung. */
const CLAUSE_DEADLINE_MS = 90_000

/**
 * Runs one clause against a target: fresh stores with fresh prefixes, every store operation
 * watched by a deadline (so a hanging store fails the clause with a one-line reason instead
 * of hanging the run), and every store it created cleaned up afterwards.
 */
export async function runClause(clause: Clause, target: ConformanceTarget): Promise<ClauseResult> {
  const started = performance.now()
  const created: SessionStore[] = []
  const operationTimeout = target.operationTimeout ?? 5000
  const runId = randomUUID().slice(0, 8)
  let counter = 0
  let capabilities: StoreCapabilities | undefined

  const ctx: ClauseContext = {
    async store() {
      const prefix = `conf:${runId}:${clause.id}:${++counter}:`
      const store = await target.create({ prefix })
      created.push(store)
      capabilities ??= capabilitiesOf(store, target)
      return watchdog(store, operationTimeout * 2 + 2000)
    },
    sid: () => `sid-${randomUUID()}`,
    get capabilities() {
      if (!capabilities) throw new Error('capabilities are known once the first store is created')
      return capabilities
    },
    target,
    skip(reason: string): never {
      throw new ClauseSkipped(reason)
    },
  }

  const finish = (status: ClauseResult['status'], reason?: string, error?: unknown): ClauseResult => ({
    id: clause.id,
    title: clause.title,
    status,
    ...(reason === undefined ? {} : { reason }),
    ...(error === undefined ? {} : { error }),
    durationMs: Math.round(performance.now() - started),
  })

  let result: ClauseResult
  try {
    await withDeadline(
      clause.run(ctx),
      CLAUSE_DEADLINE_MS,
      `${clause.id} did not finish within ${CLAUSE_DEADLINE_MS} ms`,
    )
    result = finish('passed')
  } catch (err) {
    result =
      err instanceof ClauseSkipped ? finish('skipped', err.message) : finish('failed', oneLine(err), err)
  }
  await Promise.all(
    created.map((store) =>
      withDeadline(
        Promise.resolve().then(() => (target.cleanup ? target.cleanup(store) : store.close?.())),
        operationTimeout + 1000,
        'cleanup hung',
      ).catch(() => {}),
    ),
  )
  return result
}

/** The capabilities of a store: declared by the target, else by the store, else guessed from its methods. */
export function capabilitiesOf(store: SessionStore, target: ConformanceTarget): StoreCapabilities {
  const declared = (store as { capabilities?: Partial<StoreCapabilities> }).capabilities ?? {}
  const guessedEnumeration =
    typeof store.ids === 'function' &&
    typeof store.all === 'function' &&
    typeof store.length === 'function' &&
    typeof store.clear === 'function'
  return {
    enumeration: guessedEnumeration,
    // Unknown stores are assumed to count whole seconds, the coarsest common granularity.
    ttlGranularityMs: 1000,
    maxValueBytes: Number.POSITIVE_INFINITY,
    ...declared,
    ...target.capabilities,
  }
}

/**
 * The store, with every promise it returns raced against a deadline. Methods run on the real
 * store (private fields need the real `this`).
 */
function watchdog(store: SessionStore, ms: number): SessionStore {
  return new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver)
      if (typeof value !== 'function' || property === 'ids' || property === 'constructor') {
        return typeof value === 'function' ? value.bind(target) : value
      }
      return (...args: unknown[]) => {
        const result = value.apply(target, args)
        return result instanceof Promise
          ? withDeadline(result, ms, `store.${String(property)}() did not settle within ${ms} ms`)
          : result
      }
    },
  })
}

function withDeadline<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(message)), ms)
    }),
  ]).finally(() => clearTimeout(timer))
}

/** The first line of an error's message: what was expected and what happened. */
function oneLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err)
  return message.split('\n')[0] ?? message
}
