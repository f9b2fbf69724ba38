import { MemoryStore, type SessionData, type SessionStore, type TtlArgument } from '@session-store/core'
import { writeRawValue } from '@session-store/core/internal'
import type { ClauseId, ConformanceTarget } from '../src/clause.js'

/**
 * Stores that each break one rule of the contract, to prove the suite catches it: a suite
 * that cannot fail proves nothing. Each is paired with the exact clauses it must fail.
 */

/** A contract store delegating to a MemoryStore; each fixture overrides what it breaks. */
class Delegating implements SessionStore {
  readonly inner: MemoryStore<SessionData>
  constructor(inner: MemoryStore<SessionData>) {
    this.inner = inner
  }
  get capabilities() {
    return this.inner.capabilities
  }
  get(sid: string) {
    return this.inner.get(sid)
  }
  set(sid: string, session: SessionData, ttlMs?: TtlArgument) {
    return this.inner.set(sid, session, asTtl(ttlMs))
  }
  destroy(sid: string) {
    return this.inner.destroy(sid)
  }
  touch(sid: string, session: SessionData, ttlMs?: TtlArgument) {
    return this.inner.touch(sid, session, asTtl(ttlMs))
  }
  ids() {
    return this.inner.ids()
  }
  all() {
    return this.inner.all()
  }
  length() {
    return this.inner.length()
  }
  clear() {
    return this.inner.clear()
  }
  close() {
    return this.inner.close()
  }
}

class IgnoresExplicitTtl extends Delegating {
  override set(sid: string, session: SessionData) {
    return this.inner.set(sid, session)
  }
}

class TouchRewritesSession extends Delegating {
  override touch(sid: string, session: SessionData) {
    return this.inner.set(sid, session)
  }
}

class OverwriteMerges extends Delegating {
  override async set(sid: string, session: SessionData, ttlMs?: TtlArgument) {
    const old = await this.inner.get(sid)
    return this.inner.set(sid, { ...old, ...session }, asTtl(ttlMs))
  }
}

class AcceptsAnySid extends Delegating {
  override get(sid: string) {
    return this.inner.get(String(sid) || 'empty')
  }
  override set(sid: string, session: SessionData, ttlMs?: TtlArgument) {
    return this.inner.set(String(sid) || 'empty', session, asTtl(ttlMs))
  }
  override destroy(sid: string) {
    return this.inner.destroy(String(sid) || 'empty')
  }
}

/** Keeps sessions in plain objects keyed by sid, so `__proto__` and friends misbehave. */
class PlainObjectStore implements SessionStore {
  readonly capabilities = { enumeration: false, ttlGranularityMs: 1, maxValueBytes: Number.POSITIVE_INFINITY }
  readonly #values: Record<string, string> = {}
  readonly #expires: Record<string, number> = {}
  #closed = false
  #check(sid: string) {
    if (typeof sid !== 'string' || sid === '') throw new TypeError('sid')
    if (this.#closed) throw new Error('closed')
  }
  async get(sid: string) {
    this.#check(sid)
    const value = this.#values[sid]
    if (value === undefined || (this.#expires[sid] ?? 0) <= Date.now()) return null
    return (typeof value === 'string' ? JSON.parse(value) : value) as SessionData
  }
  async set(sid: string, session: SessionData, ttlMs?: TtlArgument) {
    this.#check(sid)
    const ttl = ttlFor(session, ttlMs)
    if (ttl <= 0) return this.destroy(sid)
    this.#values[sid] = JSON.stringify(session)
    this.#expires[sid] = Date.now() + ttl
  }
  async destroy(sid: string) {
    this.#check(sid)
    delete this.#values[sid]
    delete this.#expires[sid]
  }
  async touch(sid: string, session: SessionData, ttlMs?: TtlArgument) {
    if ((await this.get(sid)) !== null) this.#expires[sid] = Date.now() + ttlFor(session, ttlMs)
  }
  async close() {
    this.#closed = true
  }
}

/** Reads stored text with a bare JSON.parse: a corrupt value throws out of get. */
class CrashesOnCorrupt extends Delegating {
  override async get(sid: string) {
    if ((await this.inner.get(sid)) !== null) return this.inner.get(sid)
    // MemoryStore keys its Map by sid.
    const raw = await (this.inner as unknown as { read(key: string): Promise<string | null> }).read(sid)
    return raw === null ? null : (JSON.parse(raw) as SessionData)
  }
}

/** Its "backend" can go down, and then its operations never settle. */
class HangsWhenDown extends Delegating {
  down = false
  #gate<T>(work: () => Promise<T>): Promise<T> {
    return this.down ? new Promise<T>(() => {}) : work()
  }
  override get(sid: string) {
    return this.#gate(() => super.get(sid))
  }
  override set(sid: string, session: SessionData, ttlMs?: TtlArgument) {
    return this.#gate(() => super.set(sid, session, ttlMs))
  }
  override destroy(sid: string) {
    return this.#gate(() => super.destroy(sid))
  }
  override touch(sid: string, session: SessionData, ttlMs?: TtlArgument) {
    return this.#gate(() => super.touch(sid, session, ttlMs))
  }
}

/** A promise-only store takes its third argument for a ttl, never for a callback. */
function asTtl(value: unknown): TtlArgument | undefined {
  return typeof value === 'number' || value === 'session' ? value : undefined
}

function ttlFor(session: SessionData, ttlMs: TtlArgument | undefined): number {
  if (typeof ttlMs === 'number') return ttlMs
  const expires = session.cookie?.expires
  if (expires) return new Date(expires).getTime() - Date.now()
  return session.cookie?.originalMaxAge ?? session.cookie?.maxAge ?? 86_400_000
}

/** Writes garbage straight into a MemoryStore behind a fixture, for C12. */
function plantInto(
  inner: (store: SessionStore) => MemoryStore<SessionData>,
): ConformanceTarget['plantCorrupt'] {
  return async (store, sid) => {
    await writeRawValue(inner(store), sid, '{"truncated', 60_000)
  }
}

function delegatingTarget(make: (inner: MemoryStore<SessionData>) => Delegating): ConformanceTarget {
  return {
    create: ({ prefix }) => make(new MemoryStore({ prefix })),
    plantCorrupt: plantInto((store) => (store as Delegating).inner),
  }
}

/** A view of a shared MemoryStore that closes itself, not the shared backend. */
class SharedView extends Delegating {
  #closed = false
  #open<T>(work: () => Promise<T>): Promise<T> {
    return this.#closed ? Promise.reject(new Error('closed')) : work()
  }
  override get(sid: string) {
    return this.#open(() => super.get(sid))
  }
  override set(sid: string, session: SessionData, ttlMs?: TtlArgument) {
    return this.#open(() => super.set(sid, session, ttlMs))
  }
  override destroy(sid: string) {
    return this.#open(() => super.destroy(sid))
  }
  override async close() {
    this.#closed = true
  }
}

/** One MemoryStore for every store the suite creates, prefixes ignored: namespaces leak. */
function sharedBackendTarget(): ConformanceTarget {
  const shared = new MemoryStore({ prefix: 'shared:' })
  return {
    create: () => new SharedView(shared),
    plantCorrupt: plantInto(() => shared),
    close: () => shared.close(),
  }
}

function outageTarget(): ConformanceTarget {
  const stores = new Set<HangsWhenDown>()
  return {
    create: ({ prefix }) => {
      const store = new HangsWhenDown(new MemoryStore({ prefix }))
      stores.add(store)
      return store
    },
    operationTimeout: 500,
    outage: {
      stop: async () => {
        for (const store of stores) store.down = true
      },
      start: async () => {
        for (const store of stores) store.down = false
      },
    },
  }
}

/** Each broken store, the clauses it must fail, and nothing else. */
export const brokenStores: Array<{
  /** Its export name in stores/broken.mjs, for the runner CLI. */
  slug: string
  name: string
  target: () => ConformanceTarget
  fails: ClauseId[]
}> = [
  {
    slug: 'ignoresExplicitTtl',
    name: 'ignores the explicit ttl',
    target: () => delegatingTarget((m) => new IgnoresExplicitTtl(m)),
    fails: ['C5'],
  },
  {
    slug: 'touchRewritesSession',
    name: 'touch rewrites the session',
    target: () => delegatingTarget((m) => new TouchRewritesSession(m)),
    fails: ['C7'],
  },
  {
    slug: 'overwriteMerges',
    name: 'overwrite merges',
    target: () => delegatingTarget((m) => new OverwriteMerges(m)),
    fails: ['C3'],
  },
  {
    slug: 'plainObjectSids',
    name: 'sids index a plain object',
    target: () => ({ create: () => new PlainObjectStore() }),
    fails: ['C11'],
  },
  {
    slug: 'acceptsAnySid',
    name: 'accepts any sid',
    target: () => delegatingTarget((m) => new AcceptsAnySid(m)),
    fails: ['C11'],
  },
  {
    slug: 'crashesOnCorrupt',
    name: 'crashes on corrupt data',
    target: () => delegatingTarget((m) => new CrashesOnCorrupt(m)),
    fails: ['C12'],
  },
  {
    slug: 'ignoresNamespace',
    name: 'ignores its namespace',
    target: sharedBackendTarget,
    fails: ['C8', 'C9'],
  },
  { slug: 'hangsWhenDown', name: 'hangs while the backend is down', target: outageTarget, fails: ['C13'] },
]
