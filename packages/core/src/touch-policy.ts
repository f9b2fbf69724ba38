// The touch policy: whether a `touch` reaches the backend (`disableTouch`, `touchAfter`).

/** How many recent writes `touchAfter` remembers at most, so its memory stays bounded. */
const RECENT_WRITES_LIMIT = 100_000

/**
 * Decides which touches are sent. express-session touches on every request that leaves the
 * session unchanged, which makes touch the most frequent write; `touchAfter` skips a touch when
 * this store wrote or touched the same session less than that long ago.
 */
export class TouchPolicy {
  readonly #disabled: boolean
  readonly #afterMs: number
  /** sid -> time of this store's last write or touch, oldest first. */
  readonly #recentWrites = new Map<string, number>()

  constructor(disableTouch: boolean, touchAfterSeconds: number) {
    this.#disabled = disableTouch
    this.#afterMs = touchAfterSeconds * 1000
  }

  /** Whether writes need remembering at all (so the hot path can skip the calls). */
  get tracksWrites(): boolean {
    return this.#afterMs > 0
  }

  /** Whether a touch of this session can be skipped. */
  skips(sid: string): boolean {
    if (this.#disabled) return true
    if (this.#afterMs === 0) return false
    const at = this.#recentWrites.get(sid)
    return at !== undefined && Date.now() - at < this.#afterMs
  }

  /** The session was written or touched just now. */
  wrote(sid: string): void {
    if (this.#afterMs === 0) return
    const writes = this.#recentWrites
    writes.delete(sid) // re-inserted so the map stays ordered oldest first
    writes.set(sid, Date.now())
    if (writes.size > RECENT_WRITES_LIMIT) {
      // Forget the oldest entries; at worst a session is touched once more than needed.
      for (const oldest of writes.keys()) {
        writes.delete(oldest)
        if (writes.size <= RECENT_WRITES_LIMIT / 2) break
      }
    }
  }

  /** The session is gone: a later touch must reach the backend (which then finds nothing). */
  forget(sid: string): void {
    if (this.#afterMs !== 0) this.#recentWrites.delete(sid)
  }

  /** Every session is gone. */
  clear(): void {
    this.#recentWrites.clear()
  }
}
