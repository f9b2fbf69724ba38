import { randomUUID } from 'node:crypto'
import { EventEmitter } from 'node:events'
import {
  isSessionStore,
  type SessionData,
  type SessionStore,
  type StoreCapabilities,
  type TtlArgument,
} from '@session-store/core'
import { settleWithin } from '@session-store/core/internal'
import {
  type ClauseId,
  type ConformanceTarget,
  type Finding,
  frameworksOf,
  type OutageControl,
  type StoreDialect,
} from './clause.js'
import { type ClauseResult, capabilitiesOf, runClause, StrayErrors } from './engine.js'
import { FrameworkCookie } from './inputs.js'
import { allClauses } from './suite.js'

/** What a store module exports: a factory, or an object with one. */
export interface StoreModule {
  /** Makes a fresh store; honour `prefix` so that two stores never share sessions (C8). */
  create(options: { prefix: string }): unknown
  /** Releases a store after a clause. Default: its `close()` when it has one. */
  cleanup?(store: unknown): unknown
  /** What the store can do, where it cannot say so itself. */
  capabilities?: Partial<StoreCapabilities>
  /** How to take the backend down and back up, for C13. */
  outage?: OutageControl
  /** Why the backend cannot be taken down: C13's skip reason when there is no `outage`. */
  outageUnavailable?: string
  /** Writes a value the store cannot decode under `sid`, for C12. */
  plantCorrupt?(store: unknown, sid: string): unknown
  /** Releases what the module holds after the run. */
  close?(): unknown
}

/** Options of {@link runConformance}. */
export interface RunOptions extends StoreModule {
  /** Only these clauses. @default every clause */
  only?: ClauseId[]
  /** Not these clauses (reported as skipped). @default none */
  skip?: ClauseId[]
  /** How long one store operation may take, in ms. @default 5000 */
  timeout?: number
  /** Count recommended failures in the verdict too. @default false */
  strict?: boolean
  /** Called as each clause finishes, for progress output. @default no progress output */
  onResult?(result: ClauseResult): void
}

/** What the runner found and what each clause gave. */
export interface ConformanceReport {
  dialect: StoreDialect
  /** The frameworks the store is judged in; the others are informational. */
  frameworks: string[]
  /** The optional contract methods the store has. */
  methods: string[]
  capabilities: StoreCapabilities
  results: ClauseResult[]
  passed: number
  /** Clauses with a required failure: these decide the exit status. */
  failed: number
  /** Clauses whose worst failure is recommended: they count with `strict`. */
  recommended: number
  /** Clauses that failed only in a framework the store does not speak. */
  informational: number
  skipped: number
  /** Whether recommended failures count. */
  strict: boolean
  /** The verdict: no required failure, and with `strict` no recommended one either. */
  ok: boolean
}

/** Runs `work` at most `ms`; its error or a timeout becomes a rejection with `what` in it. */
async function bounded<T>(work: () => T | Promise<T>, ms: number, what: string): Promise<T> {
  const settled = await settleWithin(Promise.resolve().then(work), ms)
  if (!settled.settled) throw new Error(`${what} did not settle within ${ms} ms`)
  if ('error' in settled) throw settled.error
  return settled.value
}

/**
 * Runs the whole suite (C1-C15) against a store, whatever its dialect, and resolves the
 * report. Every check has a deadline, so a store that hangs fails its clause instead of
 * hanging the run; whatever the store throws or rejects, unhandled ones included, is a
 * finding of the clause that was running. Rejects only when no store can be made at all.
 */
export async function runConformance(options: RunOptions): Promise<ConformanceReport> {
  if (typeof options?.create !== 'function') {
    throw new TypeError('[@session-store/conformance] runConformance needs a create({ prefix }) function')
  }
  const timeout = options.timeout ?? 5000
  const strays = new StrayErrors().start()
  const results: ClauseResult[] = []
  try {
    let probeStore: unknown
    let dialect: StoreDialect
    try {
      probeStore = await bounded(
        () => options.create({ prefix: `conf:probe:${randomUUID().slice(0, 8)}:` }),
        timeout * 2,
        'create()',
      )
      dialect = await detectDialect(probeStore)
    } catch (err) {
      if (err instanceof TypeError && /must return a store/.test(err.message)) throw err
      // No store at all: every clause fails on it, and the report still comes out.
      return noStore(options, err)
    }
    const methods = ['touch', 'ids', 'all', 'length', 'clear', 'close'].filter(
      (name) => typeof (probeStore as Record<string, unknown>)[name] === 'function',
    )
    const adapt = (store: unknown): SessionStore => toContract(store, dialect)
    const target: ConformanceTarget = {
      create: async ({ prefix }) => adapt(await options.create({ prefix })),
      cleanup: async (store) => {
        const original = originalOf(store)
        if (options.cleanup) await options.cleanup(original)
        else await store.close?.()
      },
      ...(options.capabilities ? { capabilities: options.capabilities } : {}),
      operationTimeout: timeout,
      ...(options.outage ? { outage: options.outage } : {}),
      ...(options.outageUnavailable ? { outageUnavailable: options.outageUnavailable } : {}),
      ...(options.plantCorrupt
        ? {
            plantCorrupt: async (store: SessionStore, sid: string) =>
              void (await options.plantCorrupt?.(originalOf(store), sid)),
          }
        : {}),
      dialect,
    }
    const capabilities = capabilitiesOf(adapt(probeStore), target)
    await settleWithin(
      Promise.resolve().then(() =>
        options.cleanup ? options.cleanup(probeStore) : adapt(probeStore).close?.(),
      ),
      timeout,
    )
    // What the store raised while it was probed belongs to the first clause.
    const early = strays.outside.splice(0)

    for (const clause of allClauses) {
      const excluded =
        (options.only !== undefined && !options.only.includes(clause.id)) || options.skip?.includes(clause.id)
      let result: ClauseResult
      if (excluded) {
        result = {
          id: clause.id,
          title: clause.title,
          status: 'skipped',
          reason: 'not selected',
          findings: [],
          notes: [],
          durationMs: 0,
        }
      } else {
        result = await runClause(clause, target, { strays })
        if (early.length > 0) result = withFindings(result, early.splice(0))
      }
      results.push(result)
      options.onResult?.(result)
    }
    await settleWithin(
      Promise.resolve().then(() => options.close?.()),
      timeout * 2,
    )
    // Late stray errors, raised after the last clause ended, go to the last clause run.
    await new Promise((resolve) => setTimeout(resolve, 50))
    const late = strays.outside.splice(0)
    const lastRun = results.findLastIndex((r) => r.reason !== 'not selected')
    if (late.length > 0 && lastRun >= 0) results[lastRun] = withFindings(results[lastRun]!, late)
    return summarize(dialect, methods, capabilities, results, options.strict === true)
  } finally {
    strays.stop()
  }
}

function noStore(options: RunOptions, err: unknown): ConformanceReport {
  const reason = `no store could be made: ${err instanceof Error ? err.message : String(err)}`.split('\n')[0]!
  const results: ClauseResult[] = allClauses.map((clause) => ({
    id: clause.id,
    title: clause.title,
    status: 'failed',
    level: 'required',
    reason,
    userSees: 'the app cannot start its session store',
    findings: [{ part: 'create()', level: 'required', reason, error: err }],
    notes: [],
    durationMs: 0,
  }))
  for (const result of results) options.onResult?.(result)
  const capabilities = { enumeration: false, ttlGranularityMs: 1000, maxValueBytes: Number.POSITIVE_INFINITY }
  return summarize('express', [], capabilities, results, options.strict === true)
}

/** A clause result with more findings (stray errors that arrived outside it). */
function withFindings(result: ClauseResult, extra: Finding[]): ClauseResult {
  const findings = [...extra, ...result.findings]
  const worst = findings.find((f) => f.level === 'required') ?? findings[0]!
  return {
    ...result,
    status: 'failed',
    level: worst.level,
    reason: findings.length > 1 ? `${worst.reason} (and ${findings.length - 1} more)` : worst.reason,
    ...(worst.userSees ? { userSees: worst.userSees } : {}),
    findings,
  }
}

/** Counts a run's results into its report. */
export function summarize(
  dialect: StoreDialect,
  methods: string[],
  capabilities: StoreCapabilities,
  results: ClauseResult[],
  strict: boolean,
): ConformanceReport {
  const count = (test: (r: ClauseResult) => boolean) => results.filter(test).length
  const failed = count((r) => r.status === 'failed' && r.level === 'required')
  const recommended = count((r) => r.status === 'failed' && r.level === 'recommended')
  return {
    dialect,
    frameworks: frameworksOf(dialect),
    methods,
    capabilities,
    results,
    passed: count((r) => r.status === 'passed'),
    failed,
    recommended,
    informational: count((r) => r.status === 'failed' && r.level === 'informational'),
    skipped: count((r) => r.status === 'skipped'),
    strict,
    ok: failed === 0 && (!strict || recommended === 0),
  }
}

/**
 * Tells the store shapes apart. Our own stores carry a brand. Otherwise `set` is asked with a
 * callback as its third argument: an express-session store calls it back (even one that also
 * returns a promise, like connect-redis); a Koa store (koa-redis, or any store written for
 * koa-generic-session or koa-session) takes the third argument for a ttl and only settles the
 * promise it returns. Whatever the store does, the probe ends within two seconds.
 */
export async function detectDialect(store: unknown): Promise<StoreDialect> {
  const candidate = store as Partial<Record<'get' | 'set' | 'destroy', (...args: unknown[]) => unknown>>
  if (
    store === null ||
    typeof store !== 'object' ||
    typeof candidate.get !== 'function' ||
    typeof candidate.set !== 'function' ||
    typeof candidate.destroy !== 'function'
  ) {
    throw new TypeError(
      '[@session-store/conformance] the factory must return a store with get, set and destroy',
    )
  }
  if (isSessionStore(store)) return 'contract'
  const sid = `conf-probe-${randomUUID()}`
  let calledBack = false
  let returned: unknown
  const session = { cookie: new FrameworkCookie(60_000), probe: true }
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 2000)
    try {
      returned = candidate.set!(sid, session, () => {
        calledBack = true
        clearTimeout(timer)
        resolve()
      })
    } catch {
      clearTimeout(timer)
      resolve()
    }
    if (isThenable(returned)) {
      Promise.resolve(returned).then(
        () => setTimeout(resolve, 50),
        () => setTimeout(resolve, 50),
      )
    }
  })
  const dialect: StoreDialect = calledBack || !isThenable(returned) ? 'express' : 'koa'
  // Remove the probe, but never wait on a store that does not answer.
  await settleWithin(
    Promise.resolve().then(() => toContract(store, dialect).destroy(sid)),
    2000,
  )
  return dialect
}

const ORIGINAL = Symbol('original store')

function originalOf(store: SessionStore): unknown {
  return (store as { [ORIGINAL]?: unknown })[ORIGINAL] ?? store
}

/** The store as the clauses speak to it: promises. Koa stores speak them already. */
export function toContract(store: unknown, dialect: StoreDialect): SessionStore {
  if (dialect !== 'express') return store as SessionStore
  return new CallbackStoreAsContract(store as CallbackStore)
}

type Cb = (err?: unknown, value?: unknown) => void
interface CallbackStore {
  get(sid: string, cb: Cb): void
  set(sid: string, session: SessionData, cb: Cb): void
  destroy(sid: string, cb: Cb): void
  touch?(sid: string, session: SessionData, cb: Cb): void
  ids?(cb: Cb): unknown
  all?(cb: Cb): void
  length?(cb: Cb): void
  clear?(cb: Cb): void
  close?(cb?: Cb): unknown
  on?(event: string, listener: (...args: unknown[]) => void): unknown
}

/**
 * An express-session store behind the promise contract, read as express-session reads it:
 * `get` answering an error with code `ENOENT` is "not found" (the middleware treats it so),
 * and so is an `undefined` session. express-session never passes a ttl, so an explicit one is
 * dropped (the clauses that need one skip express stores). `all()` answers what the store
 * answers: an array (express-session's documented shape) or an object keyed by sid (its own
 * MemoryStore's), and the clauses check either through what it holds.
 */
class CallbackStoreAsContract extends EventEmitter implements SessionStore {
  readonly [ORIGINAL]: CallbackStore
  declare touch?: SessionStore['touch']
  declare ids?: SessionStore['ids']
  declare all?: SessionStore['all']
  declare length?: SessionStore['length']
  declare clear?: SessionStore['clear']
  declare close?: SessionStore['close']

  constructor(store: CallbackStore) {
    super()
    this[ORIGINAL] = store
    store.on?.('connect', () => this.emit('connect'))
    store.on?.('disconnect', (...args) => this.emit('disconnect', ...args))
    // Settles on the callback or on a returned promise, whichever comes first: many stores
    // (connect-redis among them) answer both ways, and a promise nobody listens to would end
    // as an unhandled rejection.
    const call = <T>(method: (...args: never[]) => unknown, ...args: unknown[]) =>
      new Promise<T>((resolve, reject) => {
        const returned = (method as (...a: unknown[]) => unknown).call(
          store,
          ...args,
          (err: unknown, value: T) => (err ? reject(err) : resolve(value)),
        )
        if (isThenable(returned)) Promise.resolve(returned).then((value) => resolve(value as T), reject)
      })
    this.get = (sid) =>
      call<SessionData | null | undefined>(store.get, sid).then(
        (value) => value ?? null,
        (err: unknown) => {
          if ((err as { code?: unknown } | null)?.code === 'ENOENT') return null
          throw err
        },
      )
    this.set = (sid, session, _ttl?: TtlArgument) => call<void>(store.set, sid, session)
    this.destroy = (sid) => call<void>(store.destroy, sid)
    if (store.touch) this.touch = (sid, session) => call<void>(store.touch!, sid, session)
    if (store.ids) {
      const ids = store.ids
      this.ids = async function* () {
        const answer = await new Promise<unknown>((resolve, reject) => {
          const returned = ids.call(store, (err: unknown, value: unknown) =>
            err ? reject(err) : resolve(value),
          )
          if (isThenable(returned)) Promise.resolve(returned).then(resolve, reject)
        })
        if (answer && typeof answer === 'object' && Symbol.asyncIterator in answer) {
          yield* answer as AsyncIterable<string>
        } else yield* answer as Iterable<string>
      }
    }
    if (store.all) {
      const all = store.all
      // As answered: the clauses read an array and an object keyed by sid alike.
      this.all = () => call<SessionData[]>(all)
    }
    if (store.length) this.length = () => call<number>(store.length!)
    if (store.clear) this.clear = () => call<void>(store.clear!)
    if (typeof store.close === 'function') {
      const close = store.close
      this.close = async () => {
        await close.call(store)
      }
    }
  }

  get: SessionStore['get']
  set: SessionStore['set']
  destroy: SessionStore['destroy']

  get capabilities(): Partial<StoreCapabilities> | undefined {
    return (this[ORIGINAL] as { capabilities?: Partial<StoreCapabilities> }).capabilities
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null && typeof value === 'object' && typeof (value as { then?: unknown }).then === 'function'
  )
}
