import { randomUUID } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import {
  isSessionStore,
  type SessionData,
  type SessionStore,
  type StoreCapabilities,
  type TtlArgument,
} from '@session-store/core'
import type { ClauseId, ConformanceTarget, OutageControl, StoreDialect } from './clause.js'
import { type ClauseResult, capabilitiesOf, runClause } from './engine.js'
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
  /** Called as each clause finishes, for progress output. @default no progress output */
  onResult?(result: ClauseResult): void
}

/** What the runner found and what each clause gave. */
export interface ConformanceReport {
  dialect: StoreDialect
  /** The optional contract methods the store has. */
  methods: string[]
  capabilities: StoreCapabilities
  results: ClauseResult[]
  passed: number
  failed: number
  skipped: number
}

/**
 * Runs the whole suite (C1-C15) against a store, whatever its dialect, and resolves the
 * report. Every check has a deadline, so a store that hangs fails its clause instead of
 * hanging the run.
 */
export async function runConformance(options: RunOptions): Promise<ConformanceReport> {
  if (typeof options?.create !== 'function') {
    throw new TypeError('[@session-store/conformance] runConformance needs a create({ prefix }) function')
  }
  const probeStore = await options.create({ prefix: `conf:probe:${randomUUID().slice(0, 8)}:` })
  const dialect = await detectDialect(probeStore)
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
    operationTimeout: options.timeout ?? 5000,
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
  await Promise.resolve(options.cleanup ? options.cleanup(probeStore) : adapt(probeStore).close?.()).catch(
    () => {},
  )

  const results: ClauseResult[] = []
  try {
    for (const clause of allClauses) {
      const excluded =
        (options.only !== undefined && !options.only.includes(clause.id)) || options.skip?.includes(clause.id)
      const result: ClauseResult = excluded
        ? { id: clause.id, title: clause.title, status: 'skipped', reason: 'not selected', durationMs: 0 }
        : await runClause(clause, target)
      results.push(result)
      options.onResult?.(result)
    }
  } finally {
    await options.close?.()
  }
  const count = (status: ClauseResult['status']) => results.filter((r) => r.status === status).length
  return {
    dialect,
    methods,
    capabilities,
    results,
    passed: count('passed'),
    failed: count('failed'),
    skipped: count('skipped'),
  }
}

/**
 * Tells express-session stores from promise stores by asking `set` with a callback as its
 * third argument: an express-session store calls it back (even one that also returns a
 * promise, like connect-redis); a Koa or contract store takes the third argument for a ttl
 * and only settles its promise. Our own stores are contract stores.
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
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 2000)
    try {
      returned = candidate.set!(sid, { cookie: { originalMaxAge: 60_000 }, probe: true }, () => {
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
  const dialect: StoreDialect = calledBack || !isThenable(returned) ? 'express' : 'contract'
  // Remove the probe, but never wait on a store that does not answer.
  await Promise.race([toContract(store, dialect).destroy(sid), sleep(2000)]).catch(() => {})
  return dialect
}

const ORIGINAL = Symbol('original store')

function originalOf(store: SessionStore): unknown {
  return (store as { [ORIGINAL]?: unknown })[ORIGINAL] ?? store
}

/** The store as the clauses speak to it: promises, with `all()` as an array. */
export function toContract(store: unknown, dialect: StoreDialect): SessionStore {
  if (dialect === 'contract') return store as SessionStore
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
 * An express-session store behind the promise contract. express-session never passes a ttl,
 * so an explicit one is dropped (the clauses that need it know, from the target). `all()`
 * may answer an array or an object keyed by sid (express-session's own MemoryStore does the
 * latter); `ids()` is derived from the object's keys when that is what it answers.
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
    this.get = (sid) => call<SessionData | null | undefined>(store.get, sid).then((value) => value ?? null)
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
      const entries = async (): Promise<Array<[string | undefined, SessionData]>> => {
        const answer = await call<unknown>(all)
        if (Array.isArray(answer)) return answer.map((session) => [undefined, session as SessionData])
        return Object.entries((answer ?? {}) as Record<string, SessionData>)
      }
      this.all = async () => (await entries()).map(([, session]) => session)
      this.ids ??= async function* () {
        for (const [sid] of await entries()) {
          if (sid === undefined) throw new Error('all() answers an array, so the sids cannot be listed')
          yield sid
        }
      }
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
