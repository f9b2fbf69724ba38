import type { SessionData, SessionStore, StoreCapabilities } from '@session-store/core'

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
 * How a store talks, and so which frameworks it is judged in:
 * - `contract`: one of our stores (recognised by its brand): every framework;
 * - `express`: express-session's callbacks, `set(sid, session, cb)`, with no way to pass a
 *   ttl: judged through express-session; other frameworks are informational;
 * - `koa`: promises, `set(sid, session, ttlMs)`, as koa-generic-session and koa-session call
 *   them: judged through those two; other frameworks are informational.
 */
export type StoreDialect = 'contract' | 'express' | 'koa'

/** The frameworks a store of `dialect` is judged in; it is run through the others for information. */
export function frameworksOf(dialect: StoreDialect): string[] {
  if (dialect === 'express') return ['express-session']
  if (dialect === 'koa') return ['koa-generic-session', 'koa-session']
  return ['express-session', 'koa-generic-session', 'koa-session', '@fastify/session']
}

/**
 * How much a failure weighs:
 * - `required`: a user of the framework can observe it (data lost or mixed, a session that
 *   outlives the expiry the framework wrote, a destroyed or expired session coming back,
 *   namespaces leaking, a hang, a crash). The exit status follows this level.
 * - `recommended`: contract hygiene (empty sids, explicit ttl edge cases, cookies the
 *   frameworks never write, calls after close). Counted with `--strict`.
 * - `informational`: a framework the store does not speak. Reported, never counted.
 */
export type Level = 'required' | 'recommended' | 'informational'

/** One failed check of a clause. */
export interface Finding {
  /** The part of the clause that failed, e.g. 'touch after destroy'. */
  part: string
  level: Level
  /** What was expected and what happened, in one line. */
  reason: string
  /** For a required failure: what a user of the framework would see, in one line. */
  userSees?: string
  /** The error the check threw, for a test runner to show in full. */
  error?: unknown
}

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
   * The calls the store speaks, and so the inputs the clauses write and the frameworks it is
   * judged in (see {@link StoreDialect}).
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

/** A part of a clause with a level of its own. */
export interface Part {
  /** What the part checks, e.g. 'touch after destroy'. */
  name: string
  level: Level
  /** For a required part: what a user of the framework sees when it fails, in one line. */
  userSees?: string
}

/** What a clause check gets. */
export interface ClauseContext {
  /** A store under test with a fresh prefix; cleaned up after the clause. */
  store(): Promise<SessionStore>
  /**
   * A fresh sid of the frameworks' shape (32 characters of base64url, as express-session and
   * koa-generic-session generate them), unique within the run.
   */
  sid(): string
  /** The dialect of the store under test: which inputs the frameworks would write. */
  dialect: StoreDialect
  /**
   * A session as the store's framework would write it: for an express-session store, `data`
   * with a cookie as express-session's Cookie (`originalMaxAge`, `expires`, `httpOnly`,
   * `path`) living `maxAgeMs` (default one hour) unless `data` has a cookie already; for the
   * others, `data` itself (cookie-less sessions are Koa input).
   */
  session(data?: Record<string, unknown>, maxAgeMs?: number | null): SessionData
  /** The capabilities of the store under test. */
  capabilities: StoreCapabilities
  /** The target, for clauses that need more than a store (C13's outage control). */
  target: ConformanceTarget
  /** Marks the clause as not applicable to this store, with the reason. Never returns. */
  skip(reason: string): never
  /**
   * Runs one part of the clause. A failed required part ends the clause (what follows may
   * depend on it); a failed recommended or informational part is recorded and the clause
   * goes on. Resolves whether the part passed.
   */
  part(part: Part, check: () => Promise<void>): Promise<boolean>
  /** Records what the clause measured beyond pass or fail, for the report. */
  note(text: string): void
}

/** One check of the contract. A failure throws (node:assert), with what was expected and what happened. */
export interface Clause {
  id: ClauseId
  /** e.g. 'round-trip'; a clause with several parts has one entry per part. */
  title: string
  /**
   * The level of a failure outside any part (an operation that fails, a check not wrapped
   * in a part), for a store of `dialect`.
   */
  level(dialect: StoreDialect): Level
  /** What a user sees when a required failure outside any part happens, in one line. */
  userSees: string
  run(ctx: ClauseContext): Promise<void>
}

/** Thrown by `ClauseContext.skip`. */
export class ClauseSkipped extends Error {
  override name = 'ClauseSkipped'
}
