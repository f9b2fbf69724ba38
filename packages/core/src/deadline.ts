// Owns every operation's deadline: the Operation a backend receives, the per-store queue that
// rejects operations at their deadline, and the one helper that races a promise against a time.

/**
 * One backend call, as core hands it to the backend method that carries it out. It says how
 * long the caller still waits, so the backend can pass that on to its driver (mysql2's
 * per-statement `timeout`, pg's `query_timeout`, MongoDB's `timeoutMS`), and its `signal`
 * aborts at the deadline, so work that has not started by then (a command waiting for a
 * connection) is dropped instead of landing after its caller was told it failed.
 *
 * The caller is rejected at the deadline by core whatever the backend does; a backend never
 * keeps a timer of its own for that.
 */
export class Operation {
  /** The store operation, e.g. `get`, `set`, `prune`. */
  readonly name: string
  /** The backend key of a one-session operation (get, set, destroy, touch); undefined otherwise. */
  readonly key: string | undefined
  /** When the caller stops waiting, on the `performance.now()` clock; Infinity for none. */
  deadline: number
  /** Whether the caller has had its answer (a result, an error, or the timeout). */
  settled = false
  /** @internal Rejects the caller; set by the queue. */
  reject: (reason: Error) => void = noop
  #controller: AbortController | undefined
  /** Set when the queue timed the operation out, which may be a millisecond before `deadline`. */
  #timedOut = false

  constructor(name: string, key: string | undefined, deadline: number) {
    this.name = name
    this.key = key
    this.deadline = deadline
  }

  /**
   * Whole milliseconds left before the deadline, at least 1 (drivers take 0 for "no limit"):
   * what a driver's own timeout should be. Infinity for an operation without a deadline.
   */
  remaining(): number {
    if (this.deadline === Number.POSITIVE_INFINITY) return this.deadline
    return Math.max(1, Math.ceil(this.deadline - performance.now()))
  }

  /** Whether the deadline has passed: work for this operation must not start any more. */
  get expired(): boolean {
    return this.#timedOut || performance.now() >= this.deadline
  }

  /**
   * Aborted when the deadline passes, for drivers that take an AbortSignal and for work that
   * waits. Made on first use only: most backends never need one on the hot path.
   */
  get signal(): AbortSignal {
    this.#controller ??= new AbortController()
    return this.#controller.signal
  }

  /** @internal Called by the queue at the deadline. */
  abort(reason: Error): void {
    this.#timedOut = true
    this.#controller?.abort(reason)
  }
}

/** An operation that cannot hang (an in-process backend's): no deadline, no signal ever aborted. */
export const UNBOUNDED = new Operation('in-process', undefined, Number.POSITIVE_INFINITY)

/**
 * The deadlines of one store's operations. Every operation of a store has the same timeout, so
 * deadlines come in the order operations start: one queue and one timer (armed at the oldest
 * unsettled deadline) replace a timer per operation, which cost a tenth of the CPU of a fast
 * backend. The timer keeps the process alive only while some operation is unsettled.
 */
export class DeadlineQueue {
  readonly #timeoutMs: number
  readonly #onExpired: (expired: Operation[]) => void
  readonly #timedOutError: (operation: Operation) => Error
  /** Operations in start order (so in deadline order); settled ones are dropped from the front. */
  readonly #queue: Operation[] = []
  /** Where the part of `#queue` that may hold unsettled operations starts. */
  #head = 0
  #unsettled = 0
  #timer: NodeJS.Timeout | undefined

  /**
   * @param timeoutMs how long each operation may take
   * @param timedOutError the error an operation is rejected with at its deadline
   * @param onExpired told of the operations that timed out, once the queue is consistent
   *   again (its listeners may start new operations, or throw)
   */
  constructor(
    timeoutMs: number,
    timedOutError: (operation: Operation) => Error,
    onExpired: (expired: Operation[]) => void,
  ) {
    this.#timeoutMs = timeoutMs
    this.#timedOutError = timedOutError
    this.#onExpired = onExpired
  }

  /** Starts an operation whose caller is rejected through `reject` at its deadline. */
  start(name: string, key: string | undefined, reject: (reason: Error) => void): Operation {
    const operation = new Operation(name, key, performance.now() + this.#timeoutMs)
    operation.reject = reject
    this.#queue.push(operation)
    if (this.#unsettled++ === 0) this.#timer?.ref()
    if (this.#timer === undefined) this.#arm(operation.deadline)
    return operation
  }

  /**
   * Marks an operation as answered. Returns false when it was settled already (its deadline
   * passed first), in which case the late answer must be dropped.
   */
  settle(operation: Operation): boolean {
    if (operation.settled) return false
    operation.settled = true
    if (--this.#unsettled === 0) {
      this.#timer?.unref()
      // Everything settled: forget it all at once (the common case at low concurrency).
      this.#queue.length = 0
      this.#head = 0
      return true
    }
    // Operations mostly settle in the order they started: drop settled ones from the front, so
    // the queue holds little more than what is in flight.
    const queue = this.#queue
    while (queue[this.#head]?.settled) this.#head++
    if (this.#head > 1024 && this.#head * 2 > queue.length) {
      queue.splice(0, this.#head)
      this.#head = 0
    }
    return true
  }

  #arm(deadline: number): void {
    this.#timer = setTimeout(this.#expire, Math.max(1, deadline - performance.now()))
    if (this.#unsettled === 0) this.#timer.unref()
  }

  readonly #expire = (): void => {
    this.#timer = undefined
    const queue = this.#queue
    // Deadlines are on the monotonic clock, as Node's timers are: a wall clock stepped back (NTP,
    // a resumed VM) must not stretch them. Node's timers count whole milliseconds from the
    // loop's cached time, so one may fire a millisecond before the exact deadline; that counts
    // as on time, or a driver's own timer of the same length could settle the caller first.
    const now = performance.now() + 2
    const expired: Operation[] = []
    for (let operation = queue[this.#head]; operation !== undefined; operation = queue[this.#head]) {
      if (!operation.settled) {
        if (operation.deadline > now) {
          this.#arm(operation.deadline)
          break
        }
        const error = this.#timedOutError(operation)
        this.settle(operation)
        operation.reject(error)
        operation.abort(error)
        expired.push(operation)
      }
      if (queue[this.#head] === operation) this.#head++
    }
    if (expired.length > 0) this.#onExpired(expired)
  }
}

/**
 * How `promise` ended within `ms`: `{ settled: true, value }` or `{ settled: true, error }`, or
 * `{ settled: false }` when it was still pending then.
 * For work outside an operation's deadline (a driver's `end()` in `close()`); the operations
 * themselves are bounded by the store's deadline queue.
 */
export async function settleWithin<T>(promise: Promise<T>, ms: number): Promise<Settled<T>> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<Settled<T>>((resolve) => {
    timer = setTimeout(resolve, ms, { settled: false })
  })
  try {
    return await Promise.race([
      promise.then(
        (value): Settled<T> => ({ settled: true, value }),
        (error: unknown): Settled<T> => ({ settled: true, error }),
      ),
      late,
    ])
  } finally {
    clearTimeout(timer)
  }
}

/** What {@link settleWithin} resolves. */
export type Settled<T> = { settled: true; value: T } | { settled: true; error: unknown } | { settled: false }

function noop(): void {}
