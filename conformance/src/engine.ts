import { randomUUID } from 'node:crypto'
import type { SessionStore, StoreCapabilities } from '@session-store/core'
import { settleWithin } from '@session-store/core/internal'
import {
  type Clause,
  type ClauseContext,
  type ClauseId,
  ClauseSkipped,
  type ConformanceTarget,
  type Finding,
  type Level,
  type Part,
  type StoreDialect,
} from './clause.js'
import { frameworkSession, frameworkSid } from './inputs.js'

/** The outcome of one clause. */
export interface ClauseResult {
  id: ClauseId
  title: string
  /** `failed` when any part failed, at any level; `level` says how much that weighs. */
  status: 'passed' | 'failed' | 'skipped'
  /** For a failed clause: the heaviest level among its findings. */
  level?: Level
  /** Why it failed (its heaviest finding) or was skipped, in one line. */
  reason?: string
  /** For a required failure: what a user of the framework would see, in one line. */
  userSees?: string
  /** Every failed part, heaviest first. */
  findings: Finding[]
  /** What the clause measured beyond pass or fail (C11's longest sid that worked). */
  notes: string[]
  /** The error the heaviest finding threw, for a test runner to show in full. */
  error?: unknown
  durationMs: number
}

/** How long a whole clause may run before it is cut and counts as hung. */
export const CLAUSE_DEADLINE_MS = 90_000

const WEIGHT: Record<Level, number> = { required: 0, recommended: 1, informational: 2 }

/** Thrown by a failed required part, so the clause stops there with its finding. */
class PartFailed extends Error {
  constructor(readonly finding: Finding) {
    super(finding.reason)
  }
}

/**
 * Where errors that reach the process' last-resort handlers go while a run is on: the
 * findings of the clause that is running. An unhandled rejection or an uncaught exception
 * would end an app's process, so it is a required failure of that clause, and the run goes on.
 */
export class StrayErrors {
  /** The findings of the running clause; undefined between clauses. */
  current: Finding[] | undefined
  /** What arrived while no clause ran (before the first one, after the last). */
  readonly outside: Finding[] = []
  readonly #onRejection = (reason: unknown) => this.#record('an unhandled rejection', reason)
  readonly #onException = (err: unknown) => this.#record('an uncaught exception', err)

  /** Starts listening on the process. */
  start(): this {
    process.on('unhandledRejection', this.#onRejection)
    process.on('uncaughtException', this.#onException)
    return this
  }

  /** Stops listening. */
  stop(): void {
    process.off('unhandledRejection', this.#onRejection)
    process.off('uncaughtException', this.#onException)
  }

  #record(what: string, err: unknown): void {
    const finding: Finding = {
      part: 'no crash',
      level: 'required',
      reason: `the store raised ${what}: ${oneLine(err)}`,
      userSees: `the app's process crashes (Node ends a process on ${what})`,
      error: err,
    }
    ;(this.current ?? this.outside).push(finding)
  }
}

/** Options of {@link runClause}. */
export interface RunClauseOptions {
  /** Collects unhandled rejections and uncaught exceptions into the running clause. */
  strays?: StrayErrors
  /** How long the clause may run. @default {@link CLAUSE_DEADLINE_MS} */
  deadlineMs?: number
}

/**
 * Runs one clause against a target: fresh stores with fresh prefixes, every store operation
 * watched by a deadline (so a hanging store fails the clause with a one-line reason instead
 * of hanging the run), the clause itself cut at its deadline, and every store it created
 * cleaned up afterwards (within a deadline too). Never rejects.
 */
export async function runClause(
  clause: Clause,
  target: ConformanceTarget,
  options: RunClauseOptions = {},
): Promise<ClauseResult> {
  const started = performance.now()
  const created: SessionStore[] = []
  const operationTimeout = target.operationTimeout ?? 5000
  const dialect: StoreDialect = target.dialect ?? 'contract'
  const runId = randomUUID().slice(0, 8)
  const findings: Finding[] = []
  const notes: string[] = []
  let counter = 0
  let capabilities: StoreCapabilities | undefined
  const opDeadline = operationTimeout * 2 + 2000

  const ctx: ClauseContext = {
    async store() {
      const prefix = `conf:${runId}:${clause.id}:${++counter}:`
      const made = await settleWithin(
        Promise.resolve().then(() => target.create({ prefix })),
        opDeadline,
      )
      if (!made.settled) throw new Error(`creating a store did not settle within ${opDeadline} ms`)
      if ('error' in made) throw made.error
      const store = made.value
      created.push(store)
      capabilities ??= capabilitiesOf(store, target)
      return watchdog(store, opDeadline)
    },
    sid: frameworkSid,
    dialect,
    session: (data, maxAgeMs) => frameworkSession(dialect, data, maxAgeMs),
    get capabilities() {
      if (!capabilities) throw new Error('capabilities are known once the first store is created')
      return capabilities
    },
    target,
    skip(reason: string): never {
      throw new ClauseSkipped(reason)
    },
    async part(part: Part, check: () => Promise<void>) {
      try {
        await check()
        return true
      } catch (err) {
        if (err instanceof ClauseSkipped || err instanceof PartFailed) throw err
        const finding = findingOf(part, err)
        if (part.level === 'required') throw new PartFailed(finding)
        findings.push(finding)
        return false
      }
    },
    note(text: string) {
      notes.push(text)
    },
  }

  let skipped: string | undefined
  if (options.strays) options.strays.current = findings
  const ran = await settleWithin(
    Promise.resolve().then(() => clause.run(ctx)),
    options.deadlineMs ?? CLAUSE_DEADLINE_MS,
  )
  if (!ran.settled) {
    findings.push({
      part: 'settles',
      level: clause.level(dialect),
      reason: `${clause.id} did not finish within ${options.deadlineMs ?? CLAUSE_DEADLINE_MS} ms; it was cut there`,
      userSees: 'requests hang',
    })
  } else if ('error' in ran) {
    const err = ran.error
    if (err instanceof ClauseSkipped) skipped = err.message
    else if (err instanceof PartFailed) findings.push(err.finding)
    else {
      const level = clause.level(dialect)
      findings.push({
        part: clause.title,
        level,
        reason: oneLine(err),
        ...(level === 'required' ? { userSees: clause.userSees } : {}),
        error: err,
      })
    }
  }
  await Promise.all(
    created.map((store) =>
      settleWithin(
        Promise.resolve().then(() => (target.cleanup ? target.cleanup(store) : store.close?.())),
        operationTimeout + 1000,
      ),
    ),
  )
  if (options.strays?.current === findings) options.strays.current = undefined

  const base = { id: clause.id, title: clause.title, notes }
  const durationMs = Math.round(performance.now() - started)
  // A skipped clause that raised a stray error still failed.
  if (skipped !== undefined && findings.length === 0) {
    return { ...base, status: 'skipped', reason: skipped, findings, durationMs }
  }
  if (findings.length === 0) return { ...base, status: 'passed', findings, durationMs }
  findings.sort((a, b) => WEIGHT[a.level] - WEIGHT[b.level])
  const worst = findings[0]!
  return {
    ...base,
    status: 'failed',
    level: worst.level,
    reason: findings.length > 1 ? `${worst.reason} (and ${findings.length - 1} more)` : worst.reason,
    ...(worst.userSees ? { userSees: worst.userSees } : {}),
    findings,
    ...(worst.error === undefined ? {} : { error: worst.error }),
    durationMs,
  }
}

function findingOf(part: Part, err: unknown): Finding {
  return {
    part: part.name,
    level: part.level,
    reason: `${part.name}: ${oneLine(err)}`,
    ...(part.level === 'required' && part.userSees ? { userSees: part.userSees } : {}),
    error: err,
  }
}

/** The capabilities of a store: declared by the target, else by the store, else guessed from its methods. */
export function capabilitiesOf(store: SessionStore, target: ConformanceTarget): StoreCapabilities {
  const declared = (store as { capabilities?: Partial<StoreCapabilities> }).capabilities ?? {}
  // Any of the enumeration methods counts: each is checked only where the store has it.
  const guessedEnumeration = ['ids', 'all', 'length', 'clear'].some(
    (name) => typeof (store as unknown as Record<string, unknown>)[name] === 'function',
  )
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
 * The store, with every promise it returns bounded by a deadline and a synchronous throw
 * turned into a rejection. Methods run on the real store (private fields need the real `this`).
 */
function watchdog(store: SessionStore, ms: number): SessionStore {
  return new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver)
      if (typeof value !== 'function' || property === 'ids' || property === 'constructor') {
        return typeof value === 'function' ? value.bind(target) : value
      }
      return (...args: unknown[]) => {
        let result: unknown
        try {
          result = value.apply(target, args)
        } catch (err) {
          return Promise.reject(err)
        }
        if (!(result instanceof Promise)) return result
        return settleWithin(result, ms).then((outcome) => {
          if (!outcome.settled) throw new Error(`store.${String(property)}() did not settle within ${ms} ms`)
          if ('error' in outcome) throw outcome.error
          return outcome.value
        })
      }
    },
  })
}

/** The first line of an error's message: what was expected and what happened. */
export function oneLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err)
  return (message.split('\n')[0] ?? message).slice(0, 400)
}
