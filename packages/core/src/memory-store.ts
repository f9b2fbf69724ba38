import { BaseStore, type BaseStoreOptions } from './base-store.js'
import type { ExpressSessionData } from './express-session.js'
import type { Uninferred } from './types.js'

/** Options of {@link MemoryStore}, besides everything {@link BaseStoreOptions} offers. */
export interface MemoryStoreOptions<S extends object = ExpressSessionData> extends BaseStoreOptions<S> {
  /**
   * The most sessions kept; past it, the least recently used one is evicted. Bounds memory,
   * which express-session's own MemoryStore does not.
   * @default Infinity (bounded only by expiry)
   */
  max?: number
  /**
   * How often expired sessions are swept out, in ms. The timer is unref'd, so it never keeps
   * the process alive. 0 turns sweeping off (expired sessions still read as absent).
   * @default 60000
   */
  sweepInterval?: number
}

interface Entry {
  value: string
  expiresAt: number
}

/** Keys handed out per step of an enumeration, so `ids()` streams even in memory. */
const SCAN_BATCH = 1000

/**
 * A real store for one process: expiry honoured on every read and swept by an unref'd timer,
 * an optional bound with least-recently-used eviction, and values kept encoded, so a caller
 * mutating a session object never changes what is stored. Several app instances in one
 * process can share it; across processes, use a backend.
 */
export class MemoryStore<S extends object = ExpressSessionData> extends BaseStore<S> {
  // A Map keeps insertion order; moving an entry to the end on use makes the first entry
  // the least recently used one.
  readonly #entries = new Map<string, Entry>()
  readonly #max: number
  readonly #sweeper: NodeJS.Timeout | undefined

  constructor(options: MemoryStoreOptions<Uninferred<S>> = {}) {
    super(
      {
        packageName: '@session-store/core',
        backend: 'memory',
        capabilities: { ttlGranularityMs: 1, maxValueBytes: Number.POSITIVE_INFINITY },
        options: ['max', 'sweepInterval'],
        // A Map operation cannot hang: no deadline to keep.
        inProcess: true,
      },
      options,
    )
    const { max = Number.POSITIVE_INFINITY, sweepInterval = 60_000 } = options
    if (!(typeof max === 'number' && max >= 1)) {
      throw this.error('EOPTIONS', `max must be a number >= 1, got ${String(max)}`)
    }
    if (!(typeof sweepInterval === 'number' && sweepInterval >= 0 && sweepInterval < 2 ** 31)) {
      throw this.error('EOPTIONS', `sweepInterval must be a number of ms >= 0, got ${String(sweepInterval)}`)
    }
    this.#max = max
    if (sweepInterval > 0) {
      this.#sweeper = setInterval(() => this.#sweep(), sweepInterval)
      this.#sweeper.unref()
    }
  }

  /**
   * The Map is this store's alone, so it is keyed by sid: building `prefix + sid` per operation
   * gives V8 a fresh string to hash, which cost as much as the Map lookup (bench/RESULTS.md).
   */
  protected override keyOf(sid: string): string {
    return sid
  }

  protected override sidOf(key: string): string {
    return key
  }

  protected async read(key: string): Promise<string | null> {
    const entry = this.#live(key)
    if (entry === undefined) return null
    if (this.#max !== Number.POSITIVE_INFINITY) {
      this.#entries.delete(key)
      this.#entries.set(key, entry)
    }
    return entry.value
  }

  protected async write(key: string, value: string, ttlMs: number): Promise<void> {
    this.#entries.delete(key)
    this.#entries.set(key, { value, expiresAt: Date.now() + ttlMs })
    if (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next().value
      if (oldest !== undefined) this.#entries.delete(oldest)
    }
  }

  protected async remove(key: string): Promise<void> {
    this.#entries.delete(key)
  }

  protected async expire(key: string, ttlMs: number): Promise<void> {
    const entry = this.#live(key)
    if (entry !== undefined) entry.expiresAt = Date.now() + ttlMs
  }

  protected override async *scan(): AsyncIterable<string[]> {
    let batch: string[] = []
    const now = Date.now()
    for (const [key, entry] of this.#entries) {
      if (entry.expiresAt <= now) continue
      batch.push(key)
      if (batch.length === SCAN_BATCH) {
        yield batch
        batch = []
      }
    }
    if (batch.length > 0) yield batch
  }

  protected override async count(): Promise<number> {
    let total = 0
    const now = Date.now()
    for (const entry of this.#entries.values()) {
      if (entry.expiresAt > now) total++
    }
    return total
  }

  protected override async shutdown(): Promise<void> {
    clearInterval(this.#sweeper)
    this.#entries.clear()
  }

  /** The entry if present and unexpired; an expired one is dropped on the way. */
  #live(key: string): Entry | undefined {
    const entry = this.#entries.get(key)
    if (entry === undefined) return undefined
    if (entry.expiresAt > Date.now()) return entry
    this.#entries.delete(key)
    return undefined
  }

  #sweep(): void {
    const now = Date.now()
    for (const [key, entry] of this.#entries) {
      if (entry.expiresAt <= now) this.#entries.delete(key)
    }
  }
}
