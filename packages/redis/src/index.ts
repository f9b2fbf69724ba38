import type { Socket } from 'node:net'
import {
  BaseStore,
  type BaseStoreOptions,
  type ExpressSessionData,
  type Operation,
} from '@session-store/core'
import { describeError, settleWithin, type Uninferred } from '@session-store/core/internal'
import type { Cluster, Redis } from 'ioredis'
import { hashSlot } from './hash-slot.js'

/** The ioredis clients a {@link RedisStore} works with: standalone, Sentinel-configured, or Cluster. */
export type RedisClient = Redis | Cluster

/** Options of {@link RedisStore}, besides everything {@link BaseStoreOptions} offers. */
export interface RedisStoreOptions<S extends object = ExpressSessionData> extends BaseStoreOptions<S> {
  /**
   * How many keys each SCAN step asks Redis to look at when enumerating (`ids`, `all`,
   * `length`, `clear`). Larger means fewer round trips, but longer single steps on the server.
   * @default 100
   */
  scanCount?: number
  /**
   * Close the client (QUIT, then disconnect if that does not finish within `timeout`) when the
   * store is closed. Leave it off when the client is shared with other code.
   * @default false
   */
  closeClient?: boolean
}

/** Redis refuses string values larger than 512 MiB (`proto-max-bulk-len`'s default). */
const MAX_VALUE_BYTES = 512 * 1024 * 1024

/** The longest PX Redis and a JavaScript number both hold exactly; far beyond any session. */
const MAX_PX = Number.MAX_SAFE_INTEGER

/** The commands the store sends. `ping` only waits for the connection (see `scan`). */
type Verb = 'get' | 'mget' | 'set' | 'pexpire' | 'unlink' | 'del' | 'ping'

/** A command issued before the client's first `ready`, and the caller waiting for its reply. */
class Waiting {
  declare resolve: (reply: unknown) => void
  declare reject: (reason: unknown) => void
  readonly promise: Promise<unknown>
  /** Drops the command once its caller has stopped waiting (the operation's deadline). */
  onAbort: (() => void) | undefined

  constructor(
    readonly verb: Verb,
    readonly key: string,
    readonly keys: string[] | undefined,
    readonly value: string | undefined,
    readonly ms: number,
  ) {
    this.promise = new Promise((resolve, reject) => {
      this.resolve = resolve
      this.reject = reject
    })
  }
}

/** The command methods the store uses, as a Redis and a Cluster both have them. */
interface Commands {
  get(key: string): Promise<unknown>
  mget(keys: string[]): Promise<unknown>
  set(key: string, value: string): Promise<unknown>
  set(key: string, value: string, unit: 'PX', ms: number): Promise<unknown>
  pexpire(key: string, ms: number): Promise<unknown>
  unlink(keys: string[]): Promise<unknown>
  del(keys: string[]): Promise<unknown>
  ping(): Promise<unknown>
}

/**
 * A session store on Redis through an ioredis client that the caller creates and passes in:
 * `new Redis(url)`, a Sentinel-configured `new Redis({ sentinels, name })`, or a `Cluster`.
 *
 * Each operation is one command: GET, SET with PX, UNLINK, PEXPIRE (which never re-creates a
 * missing key). Commands issued in the same turn of the event loop leave in one socket
 * write, so many concurrent requests cost one system call, not one each. Enumeration SCANs
 * every master for this store's prefix and nothing else.
 */
export class RedisStore<S extends object = ExpressSessionData> extends BaseStore<S> {
  /** The ioredis client the store sends its commands through. */
  readonly client: RedisClient

  readonly #isCluster: boolean
  /** ioredis' own `keyPrefix` option, which it adds to every key argument but not to patterns. */
  readonly #clientPrefix: string
  readonly #scanCount: number
  readonly #closeClient: boolean
  /** The sockets corked in this turn of the event loop, until they are uncorked. */
  #corked: Socket[] | undefined
  /** Commands issued before the client's first `ready`, oldest first. */
  readonly #waiting = new Set<Waiting>()
  /** Cleared the first time the server does not know UNLINK (Redis < 4, or renamed away). */
  #unlinkKnown = true
  #lastClientError: Error | undefined
  readonly #listeners: Array<[event: string, listener: (arg?: unknown) => void]>

  /**
   * @param client an ioredis `Redis` (standalone or Sentinel) or `Cluster`; the store never
   *   closes it unless `closeClient` is set.
   * @param options the store's options; see {@link RedisStoreOptions}.
   */
  constructor(client: RedisClient, options: RedisStoreOptions<Uninferred<S>> = {}) {
    super(
      {
        packageName: '@session-store/redis',
        backend: 'redis',
        capabilities: { ttlGranularityMs: 1, maxValueBytes: MAX_VALUE_BYTES },
        options: ['scanCount', 'closeClient'],
      },
      options,
    )
    if (!isIoredisClient(client)) {
      const hint =
        client !== null && typeof client === 'object' && 'client' in client
          ? ' (pass the client itself as the first argument, and the options second)'
          : ''
      throw this.error(
        'EOPTIONS',
        `expected an ioredis Redis or Cluster client, got ${describe(client)}${hint}`,
      )
    }
    const { scanCount = 100, closeClient = false } = options
    if (!(Number.isInteger(scanCount) && scanCount > 0)) {
      throw this.error('EOPTIONS', `scanCount must be a positive integer, got ${String(scanCount)}`)
    }
    if (typeof closeClient !== 'boolean') {
      throw this.error('EOPTIONS', `closeClient must be a boolean, got ${describe(closeClient)}`)
    }
    this.client = client
    this.#isCluster = client.isCluster === true
    const { keyPrefix } = client.options as { keyPrefix?: unknown }
    this.#clientPrefix = typeof keyPrefix === 'string' ? keyPrefix : ''
    this.#scanCount = scanCount
    this.#closeClient = closeClient

    this.#listeners = [
      ['ready', () => this.#onReady()],
      ['close', () => this.#onDown()],
      ['reconnecting', () => this.#onDown()],
      ['end', () => this.#onDown()],
      ['error', (err) => this.#onClientError(err)],
    ]
    for (const [event, listener] of this.#listeners) client.on(event, listener)
    if (!this.#canSend(client.status) && !this.#mayWait(client.status)) this.#onDown()
  }

  // ---------------------------------------------------------------------------------------
  // The contract on Redis. Keys carry the prefix; BaseStore checked everything else.

  protected read(key: string, op: Operation): Promise<string | null> {
    return this.#send('get', key, undefined, undefined, 0, op) as Promise<string | null>
  }

  protected write(key: string, value: string, ttlMs: number, op: Operation): Promise<void> {
    // The reply ('OK') means nothing more; the caller only waits for it.
    return this.#send('set', key, undefined, value, wholeMs(ttlMs), op) as Promise<unknown> as Promise<void>
  }

  protected expire(key: string, ttlMs: number, op: Operation): Promise<void> {
    // With ttl disabled nothing expires, so there is nothing to move. PEXPIRE on a missing key
    // does nothing and answers 0: a touch never re-creates a session.
    if (ttlMs === Number.POSITIVE_INFINITY) return Promise.resolve()
    return this.#send(
      'pexpire',
      key,
      undefined,
      undefined,
      wholeMs(ttlMs),
      op,
    ) as Promise<unknown> as Promise<void>
  }

  protected remove(key: string, op: Operation): Promise<void> {
    return this.#unlink(key, undefined, op)
  }

  /** After a timeout, and every second while disconnected: a stalled server answers no PING. */
  protected override async ping(op: Operation): Promise<void> {
    await this.#send('ping', '', undefined, undefined, 0, op)
  }

  protected override async readMany(keys: string[], op: Operation): Promise<(string | null)[]> {
    if (keys.length === 0) return []
    if (!this.#isCluster)
      return (await this.#send('mget', keys[0]!, keys, undefined, 0, op)) as (string | null)[]
    const values: (string | null)[] = new Array(keys.length).fill(null)
    await Promise.all(
      this.#bySlot(keys).map(async (indexes) => {
        const slotKeys = indexes.map((index) => keys[index]!)
        const slotValues = (await this.#send('mget', slotKeys[0]!, slotKeys, undefined, 0, op)) as (
          | string
          | null
        )[]
        for (const [i, index] of indexes.entries()) values[index] = slotValues[i] ?? null
      }),
    )
    return values
  }

  protected override async removeMany(keys: string[], op: Operation): Promise<void> {
    if (keys.length === 0) return
    if (!this.#isCluster) return this.#unlink(keys[0]!, keys, op)
    await Promise.all(
      this.#bySlot(keys).map((indexes) => {
        const slotKeys = indexes.map((index) => keys[index]!)
        return this.#unlink(slotKeys[0]!, slotKeys, op)
      }),
    )
  }

  /**
   * SCAN with MATCH on this store's prefix, on every master of a Cluster (each holds only its
   * own slots, so no key is seen twice across masters). Memory stays bounded by one SCAN
   * reply. Redis itself skips expired keys; as documented for SCAN, a key may show up twice
   * while the server resizes its table, and keys written or moved during the scan may be
   * missed.
   */
  protected override async *scan(op: Operation): AsyncIterable<string[]> {
    // Before the first connection a Cluster knows no masters yet; wait for it like any command.
    if (!this.#canSend(this.client.status)) await this.#send('ping', '', undefined, undefined, 0, op)
    const pattern = `${escapeGlob(this.#clientPrefix + this.prefix)}*`
    const nodes = this.#isCluster ? (this.client as Cluster).nodes('master') : [this.client as Redis]
    for (const node of nodes) {
      let cursor = '0'
      do {
        this.#assertCanSend()
        const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', this.#scanCount)
        cursor = next
        if (keys.length > 0) yield this.#stripClientPrefix(keys)
      } while (cursor !== '0')
    }
  }

  protected override async shutdown(op: Operation): Promise<void> {
    for (const [event, listener] of this.#listeners) this.client.off(event, listener)
    // What callers issued before close() goes out now, ahead of any QUIT.
    this.#uncork()
    this.#releaseWaiting(new Error('the store was closed before Redis was ready'))
    if (this.#closeClient) await quitWithin(this.client, op.remaining())
  }

  // ---------------------------------------------------------------------------------------
  // Connectivity.
  //
  // The ioredis quirk this store works around: a client that is not connected keeps commands
  // in its offline queue and sends them whenever it reconnects, however late; a write whose
  // caller was told long ago that it failed would still change the session then. So the
  // store hands a command to the client only while the client is `ready`:
  // - while the first connection is being made (`wait`, `connecting`, `connect`, before any
  //   outage) a command waits in the store for `ready`, and is dropped unsent once its caller
  //   has timed out (its operation's signal); a request that arrives as the app starts still
  //   succeeds. While any command waits, later ones wait behind it, even once the client is
  //   ready: commands leave in the order they were issued;
  // - once the connection is lost (`close`, `reconnecting`, `end`, and the reconnect attempts
  //   until the next `ready`) a command fails at once with an EBACKEND error: nothing piles
  //   up behind a dead server, and `disconnect` tells express-session to stop asking.
  // A command already written when the connection drops has an unknown outcome, as on any
  // network: ioredis resends it on reconnection (unless the client was created with
  // `autoResendUnfulfilledCommands: false`), ahead of anything newer, and its caller gets
  // the reply if that comes within `timeout`, an ETIMEOUT error otherwise.

  #canSend(status: string): boolean {
    return status === 'ready'
  }

  #mayWait(status: string): boolean {
    return this.connected && (status === 'wait' || status === 'connecting' || status === 'connect')
  }

  #notReady(): Error {
    return new Error(
      `Redis is not reachable (client status '${this.client.status}'); the command was not sent`,
    )
  }

  #assertCanSend(): void {
    if (!this.#canSend(this.client.status)) throw this.#notReady()
  }

  #onReady(): void {
    this.#lastClientError = undefined
    this.setConnected(true)
    // After ioredis has sent what it queued itself, which it does right after this event.
    if (this.#waiting.size > 0) setImmediate(() => this.#releaseWaiting(undefined))
  }

  #onDown(): void {
    const cause = this.#lastClientError
    this.setConnected(
      false,
      this.error('EBACKEND', `lost the connection to Redis${cause ? `: ${describeError(cause)}` : ''}`),
    )
    this.#releaseWaiting(this.#notReady())
  }

  #onClientError(err: unknown): void {
    const error = err instanceof Error ? err : new Error(String(err))
    this.#lastClientError = error
    this.reportError(error)
  }

  // ---------------------------------------------------------------------------------------
  // Sending, in one place. ioredis writes each command to its socket as it is issued: one
  // system call per command. The store corks the socket at its first command in a turn of
  // the event loop and uncorks it once that turn's I/O callbacks have run (setImmediate), so
  // what every concurrent request issued meanwhile leaves in one write, as a pipeline would,
  // without a pipeline's extra objects per command; each command still settles its own
  // caller, straight from ioredis. In a Cluster every node's socket is corked the same way.

  #send(
    verb: Verb,
    key: string,
    keys: string[] | undefined,
    value: string | undefined,
    ms: number,
    op: Operation,
  ): Promise<unknown> {
    const status = this.client.status
    if (this.#canSend(status) && this.#waiting.size === 0) {
      this.#corkForThisTurn()
      return issue(this.client as unknown as Commands, verb, key, keys, value, ms)
    }
    if (!this.#canSend(status) && !this.#mayWait(status)) return Promise.reject(this.#notReady())
    const waiting = new Waiting(verb, key, keys, value, ms)
    // Core rejects the caller at the operation's deadline and then aborts its signal: from then
    // on nobody waits for the command any more, and it must never be sent.
    const signal = op.signal
    waiting.onAbort = () => {
      if (this.#waiting.delete(waiting)) waiting.reject(signal.reason)
    }
    signal.addEventListener('abort', waiting.onAbort, { once: true })
    this.#waiting.add(waiting)
    if (status === 'wait') this.client.connect().catch(noop)
    return waiting.promise
  }

  /** Sends the waiting commands (the client is ready), or fails them with `error`. */
  #releaseWaiting(error: Error | undefined): void {
    if (this.#waiting.size === 0) return
    const waiting = [...this.#waiting]
    this.#waiting.clear()
    // Released on a turn after `ready`: the connection may have dropped again meanwhile.
    if (error === undefined && !this.#canSend(this.client.status)) error = this.#notReady()
    for (const each of waiting) {
      if (error === undefined) {
        // This runs on a turn of its own (setImmediate after `ready`): a throw from the client
        // here would be uncaught, so it goes to the command's caller instead.
        try {
          this.#corkForThisTurn()
          issue(this.client as unknown as Commands, each.verb, each.key, each.keys, each.value, each.ms).then(
            each.resolve,
            each.reject,
          )
        } catch (err) {
          each.reject(err)
        }
      } else {
        each.reject(error)
      }
    }
  }

  #corkForThisTurn(): void {
    if (this.#corked !== undefined) return
    // With nothing in flight there is nothing to wait for: the first command of a turn leaves
    // at once (a lone request gains a turn of the event loop), and the socket is corked for
    // what follows it in the same turn, which then finds that command in flight.
    if (
      !this.#isCluster &&
      (this.client as unknown as { commandQueue?: { length: number } }).commandQueue?.length === 0
    ) {
      return
    }
    const sockets: Socket[] = []
    if (this.#isCluster) {
      for (const node of (this.client as Cluster).nodes('all')) if (node.stream) sockets.push(node.stream)
    } else if ((this.client as Redis).stream) {
      sockets.push((this.client as Redis).stream)
    }
    for (const socket of sockets) socket.cork()
    this.#corked = sockets
    setImmediate(this.#uncork)
  }

  readonly #uncork = (): void => {
    const sockets = this.#corked
    if (sockets === undefined) return
    this.#corked = undefined
    for (const socket of sockets) socket.uncork()
  }

  /** UNLINK frees large values off the main thread; DEL where the server lacks it. */
  async #unlink(key: string, keys: string[] | undefined, op: Operation): Promise<void> {
    if (this.#unlinkKnown) {
      try {
        await this.#send('unlink', key, keys, undefined, 0, op)
        return
      } catch (err) {
        if (!/unknown command|NOPERM/i.test(describeError(err))) throw err
        this.#unlinkKnown = false
      }
    }
    await this.#send('del', key, keys, undefined, 0, op)
  }

  /** Indexes of `keys` grouped by Cluster hash slot, for multi-key commands. */
  #bySlot(keys: string[]): number[][] {
    const groups = new Map<number, number[]>()
    for (const [index, key] of keys.entries()) {
      const slot = hashSlot(this.#clientPrefix + key)
      const group = groups.get(slot)
      if (group === undefined) groups.set(slot, [index])
      else group.push(index)
    }
    return [...groups.values()]
  }

  #stripClientPrefix(keys: string[]): string[] {
    const length = this.#clientPrefix.length
    return length === 0 ? keys : keys.map((key) => key.slice(length))
  }
}

function issue(
  client: Commands,
  verb: Verb,
  key: string,
  keys: string[] | undefined,
  value: string | undefined,
  ms: number,
): Promise<unknown> {
  switch (verb) {
    case 'get':
      return client.get(key)
    case 'mget':
      return client.mget(keys ?? [key])
    case 'set':
      // Infinity (ttl disabled) arrives as 0: a plain SET that never expires.
      return ms > 0 ? client.set(key, value!, 'PX', ms) : client.set(key, value!)
    case 'pexpire':
      return client.pexpire(key, ms)
    case 'unlink':
      return client.unlink(keys ?? [key])
    case 'del':
      return client.del(keys ?? [key])
    case 'ping':
      return client.ping()
  }
}

/** A ttl as the whole positive number of ms PX takes; 0 for none (Infinity). */
function wholeMs(ttlMs: number): number {
  if (ttlMs === Number.POSITIVE_INFINITY) return 0
  return Math.min(Math.max(Math.ceil(ttlMs), 1), MAX_PX)
}

/** The prefix as a SCAN MATCH pattern that matches it literally: glob characters escaped. */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&')
}

/** QUIT (lets replies in flight arrive) and wait for the end; a hard disconnect if that takes too long. */
async function quitWithin(client: RedisClient, ms: number): Promise<void> {
  if (client.status === 'end') return
  if (client.status === 'wait') {
    client.disconnect()
    return
  }
  const ended = new Promise<void>((resolve) => client.once('end', () => resolve()))
  client.quit().catch(noop)
  // Within the store's deadline for close(), which then rejects with ETIMEOUT all the same.
  const outcome = await settleWithin(ended, Math.max(1, ms - 50))
  if (!outcome.settled) client.disconnect()
}

function isIoredisClient(client: unknown): client is RedisClient {
  return (
    client !== null &&
    typeof client === 'object' &&
    typeof (client as RedisClient).pipeline === 'function' &&
    typeof (client as RedisClient).on === 'function' &&
    typeof (client as RedisClient).status === 'string' &&
    typeof (client as RedisClient).options === 'object'
  )
}

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (typeof value === 'object') return value.constructor?.name ?? 'an object'
  return typeof value
}

function noop(): void {}
