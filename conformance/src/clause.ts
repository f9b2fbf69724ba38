import type { SessionStore, StoreCapabilities } from '@session-store/core'

/** The contract's clause ids; conformance/README.md lists what each one checks. */
export type ClauseId =
  | 'C1'
  | 'C2'
  | 'C3'
  | 'C4'
  | 'C5'
  | 'C6'
  | 'C7'
  | 'C8'
  | 'C9'
  | 'C10'
  | 'C11'
  | 'C12'
  | 'C13'
  | 'C14'
  | 'C15'

/**
 * How a store talks:
 * - `contract`: our promise contract, which is also what koa-generic-session and koa-session
 *   call (promises, `set(sid, session, ttlMs)`);
 * - `express`: express-session's callbacks, `set(sid, session, cb)`, with no way to pass a ttl.
 */
export type StoreDialect = 'contract' | 'express'

/** Takes the backend down and brings it back, for clause C13. */
export interface OutageControl {
  /** Make the backend unreachable for the store (stop the server, cut the connection). */
  stop(): Promise<void>
  /** Make it reachable again. */
  start(): Promise<void>
}

/** What the suite needs to know about the store under test. */
export interface ConformanceTarget {
  /**
   * Creates a fresh store. `prefix` names the namespace the store must keep to (clause C8);
   * every store the suite creates gets a fresh one, so runs can share a server.
   */
  create(options: { prefix: string }): SessionStore | Promise<SessionStore>
  /** Releases a store the suite created. Default: `store.close()` when it has one. */
  cleanup?(store: SessionStore): void | Promise<void>
  /** What the store can do. Default: the store's own `capabilities`, else conservative guesses. */
  capabilities?: Partial<StoreCapabilities>
  /**
   * The calls the store speaks. An express-session store takes no explicit ttl (C5 is
   * skipped) and is not a Koa store (C15's Koa parts are skipped).
   * @default 'contract'
   */
  dialect?: StoreDialect
  /** How to take the backend down for C13; without it C13 is skipped, with that reason. */
  outage?: OutageControl
  /** Why the backend cannot be taken down, given as C13's skip reason when there is no `outage`. */
  outageUnavailable?: string
  /** How long one store operation may take before the store must have settled it, in ms. Default 5000. */
  operationTimeout?: number
  /**
   * Writes a value the store cannot decode under `sid`, straight into the backend, for C12.
   * Default for stores built on BaseStore: through the store's own backend writer.
   * Without either, the corrupt-value part of C12 is skipped.
   */
  plantCorrupt?(store: SessionStore, sid: string): Promise<void>
  /** Releases what the target itself holds (clients, proxies) after the whole suite. */
  close?(): void | Promise<void>
}

/** What a clause check gets. */
export interface ClauseContext {
  /** A store under test with a fresh prefix; cleaned up after the clause. */
  store(): Promise<SessionStore>
  /** A fresh sid, unique within the run. */
  sid(): string
  /** The capabilities of the store under test. */
  capabilities: StoreCapabilities
  /** The target, for clauses that need more than a store (C13's outage control). */
  target: ConformanceTarget
  /** Marks the clause as not applicable to this store, with the reason. Never returns. */
  skip(reason: string): never
}

/** One check of the contract. A failure throws (node:assert), with what was expected and what happened. */
export interface Clause {
  id: ClauseId
  /** e.g. 'round-trip'; a clause with several parts has one entry per part. */
  title: string
  run(ctx: ClauseContext): Promise<void>
}

/** Thrown by `ClauseContext.skip`. */
export class ClauseSkipped extends Error {
  override name = 'ClauseSkipped'
}
