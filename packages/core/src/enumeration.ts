// Enumeration: `ids`, `all`, `length` and `clear` built on a backend's scan hooks, each step of
// a scan under its own deadline, in bounded memory.

import { Operation } from './deadline.js'

/** Sessions a store with no bulk read of its own fetches per round of `all()`. */
const READ_BATCH = 100

/** The backend hooks enumeration uses, bound to their store. */
export interface ScanHooks {
  scan(op: Operation): AsyncIterable<string[]>
  scanEntries: ((op: Operation) => AsyncIterable<Array<[key: string, value: string]>>) | undefined
  readMany: ((keys: string[], op: Operation) => Promise<(string | null)[]>) | undefined
  read(key: string, op: Operation): Promise<string | null>
  count: ((op: Operation) => Promise<number>) | undefined
  removeMany: ((keys: string[], op: Operation) => Promise<void>) | undefined
  remove(key: string, op: Operation): Promise<void>
}

/** What enumeration needs from its store. */
export interface EnumerationContext<S> {
  hooks: ScanHooks
  /** Runs one backend step under the store's deadline, its failures typed. */
  run<T>(name: string, work: (op: Operation) => Promise<T>): Promise<T>
  /** The sid a backend key stands for. */
  sidOf(key: string): string
  /** The session in a stored value, or null when it cannot be decoded (reported by the store). */
  decode(text: string, sid: string, key: string): S | null
}

/** `ids`, `all`, `length` and `clear` of one store. */
export class Enumeration<S> {
  readonly #context: EnumerationContext<S>

  constructor(context: EnumerationContext<S>) {
    this.#context = context
  }

  async *ids(): AsyncIterable<string> {
    const { sidOf } = this.#context
    for await (const keys of this.#steps('ids', (op) => this.#context.hooks.scan(op))) {
      for (const key of keys) yield sidOf(key)
    }
  }

  async all(): Promise<S[]> {
    const { hooks, run, sidOf, decode } = this.#context
    const sessions: S[] = []
    const collect = (key: string, text: string | null) => {
      const session = text === null ? null : decode(text, sidOf(key), key)
      if (session !== null) sessions.push(session)
    }
    if (hooks.scanEntries) {
      const scanEntries = hooks.scanEntries
      for await (const entries of this.#steps('all', (op) => scanEntries(op))) {
        for (const [key, text] of entries) collect(key, text)
      }
      return sessions
    }
    for await (const keys of this.#steps('all', (op) => hooks.scan(op))) {
      for (let i = 0; i < keys.length; i += READ_BATCH) {
        const batch = keys.slice(i, i + READ_BATCH)
        const texts = await run('all', (op) =>
          hooks.readMany ? hooks.readMany(batch, op) : Promise.all(batch.map((key) => hooks.read(key, op))),
        )
        for (const [index, key] of batch.entries()) collect(key, texts[index] ?? null)
      }
    }
    return sessions
  }

  async length(): Promise<number> {
    const { hooks, run } = this.#context
    if (hooks.count) {
      const count = hooks.count
      return run('length', (op) => count(op))
    }
    let total = 0
    for await (const keys of this.#steps('length', (op) => hooks.scan(op))) total += keys.length
    return total
  }

  async clear(): Promise<void> {
    const { hooks, run } = this.#context
    for await (const keys of this.#steps('clear', (op) => hooks.scan(op))) {
      if (keys.length === 0) continue
      await run('clear', (op) =>
        hooks.removeMany
          ? hooks.removeMany(keys, op)
          : Promise.all(keys.map((key) => hooks.remove(key, op))).then(noop),
      )
    }
  }

  /**
   * A backend iterable with each step under the deadline. The backend's generator holds one
   * Operation for the whole scan; before each step its deadline becomes that step's, and a
   * step that times out aborts its signal.
   */
  async *#steps<T>(name: string, source: (op: Operation) => AsyncIterable<T>): AsyncIterable<T> {
    const { run } = this.#context
    const scanning = new Operation(name, undefined, Number.POSITIVE_INFINITY)
    const step = <R>(work: () => Promise<R>): Promise<R> =>
      run(name, (op) => {
        scanning.deadline = op.deadline
        return work()
      }).catch((err: unknown) => {
        scanning.abort(err instanceof Error ? err : new Error(String(err)))
        throw err
      })
    const iterator = await step(async () => source(scanning)[Symbol.asyncIterator]())
    let finished = false
    let stalled = false
    try {
      while (true) {
        const next = await step(() => iterator.next()).catch((err: unknown) => {
          stalled = true
          throw err
        })
        if (next.done) {
          finished = true
          return
        }
        yield next.value
      }
    } finally {
      if (!finished) {
        // Release the backend cursor when the consumer stops early or a step failed. After a
        // failed step, an async generator's return() queues behind the step that is still
        // pending, so it is not awaited then: the caller is not held past the deadline.
        const released = Promise.resolve()
          .then(() => iterator.return?.())
          .catch(noop)
        if (!stalled) await released
      }
    }
  }
}

function noop(): void {}
