import { randomUUID } from 'node:crypto'
import type { EventEmitter } from 'node:events'
import type { BaseStore, SessionData, SessionStoreErrorCode } from '@session-store/core'
import type { TcpProxy } from '../harness/proxy.js'

/**
 * Takes the backend away from the store and gives it back. A private server of the harness
 * (`startRedis()`, `startMariadb()`, ...) is one as it is; {@link proxyControl} makes one of a
 * TCP proxy, for a server the test may not stop.
 */
export interface ServerControl {
  /** The backend is gone: a killed server, or refused connections. */
  stop(): Promise<void>
  /** The backend serves again. */
  start(): Promise<void>
  /** The backend is there but answers nothing: a frozen server, or a stalled network. */
  pause(): Promise<void>
  /** The backend answers again, including what it held back. */
  resume(): Promise<void>
}

/** What a store keeps across a stop and start of its server. */
export type RestartBehaviour =
  /** Every acknowledged write is there after the restart (a database, or a snapshot). */
  | 'keeps data'
  /** Everything is gone after the restart (a cache). */
  | 'loses data'

/** A value planted straight into the backend, as a foreign or broken writer leaves it. */
export type RawValue = string | Buffer | number

/**
 * A backend, as the fault scenarios drive it. Everything is bound lazily, so a test file can
 * declare its target before its `beforeAll` has started the servers.
 */
export interface FaultTarget {
  /** Shown in failure messages, e.g. `redis`. */
  name: string
  /**
   * Creates a store on the backend under test with this prefix and operation timeout. The
   * scenario closes it; a client the store does not close must be closed by `cleanup`.
   */
  create(options: {
    prefix: string
    timeout: number
  }): BaseStore<SessionData> | Promise<BaseStore<SessionData>>
  /** Releases what `create` made besides the store (e.g. a client the store leaves open). */
  cleanup?(store: BaseStore<SessionData>): void | Promise<void>
  /**
   * The operation timeout of stores in the fault scenarios, in ms: every request during an
   * outage must be answered within it (plus a margin).
   * @default 2000
   */
  timeout?: number
  /** The server the stores talk to. Without it, the scenarios that stop or pause it are skipped. */
  server?: ServerControl
  /**
   * The codes an operation may reject with while the server is frozen (`pause()`). A frozen
   * server keeps its connections open and answers nothing, so only the store's deadline ends
   * the wait; a client that gives up earlier by itself rejects with EBACKEND.
   * @default ['ETIMEOUT']
   */
  frozenServerCodes?: SessionStoreErrorCode[]
  /** What a stop and start of `server` does to sessions written before it. */
  restart?: RestartBehaviour
  /**
   * Runs right before the outage scenario stops the server, e.g. a Redis `SAVE` so that a
   * server without persistence still keeps what was acknowledged before it was killed.
   */
  beforeStop?(): Promise<void>
  /**
   * Writes `value` under `sid` of `store`'s prefix straight into the backend, with the
   * backend's own client (not through the store), with a lifetime of at least a minute.
   */
  plant(store: BaseStore<SessionData>, sid: string, value: RawValue): Promise<void>
  /** The emitters the store listens on (its client), for the leak check. */
  clients?(store: BaseStore<SessionData>): EventEmitter[]
}

/** One scenario, ready to be registered as one test. */
export interface FaultScenario {
  /** The test name, e.g. `outage under load`. */
  title: string
  /** Why the scenario does not apply to this target; undefined when it does. */
  skip: string | undefined
  /** A generous limit for the whole scenario, for the test runner. */
  timeoutMs: number
  /** Runs the scenario; a failure throws (node:assert) with what was expected and what happened. */
  run(): Promise<void>
}

/** The default operation timeout of stores in the fault scenarios. */
export const DEFAULT_FAULT_TIMEOUT = 2000

/**
 * How much later than the store's timeout an answer may come and still count as bounded: the
 * event loop of a busy 2-core machine, an HTTP round trip, the server's reply in flight.
 */
export const SETTLE_MARGIN_MS = 2500

/** A prefix that no other scenario, file or run uses. */
export function freshPrefix(target: FaultTarget, label: string): string {
  return `faults:${target.name.replace(/[^\w-]/g, '-')}:${label}:${randomUUID().slice(0, 8)}:`
}

/**
 * Runs `body` with a store of the target's, and always closes it (and the target's own
 * leftovers), even when the body failed.
 */
export async function withStore<T>(
  target: FaultTarget,
  label: string,
  body: (store: BaseStore<SessionData>) => Promise<T>,
  timeout = target.timeout ?? DEFAULT_FAULT_TIMEOUT,
): Promise<T> {
  const store = await target.create({ prefix: freshPrefix(target, label), timeout })
  try {
    return await body(store)
  } finally {
    await store.close().catch(() => {})
    await target.cleanup?.(store)
  }
}

/**
 * A {@link ServerControl} made of a TCP proxy: stop cuts every connection and refuses new
 * ones, pause stalls them, start and resume restore. For a server the test does not own (an
 * env URL, a shared server), where stopping the server itself is not an option.
 */
export function proxyControl(proxy: TcpProxy): ServerControl {
  return {
    stop: () => proxy.cut(),
    start: () => proxy.restore(),
    pause: () => proxy.stall(),
    resume: () => proxy.restore(),
  }
}
