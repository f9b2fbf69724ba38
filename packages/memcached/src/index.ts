import { createHash } from 'node:crypto'
import type { Socket } from 'node:net'
import {
  BaseStore,
  type BaseStoreOptions,
  type ExpressSessionData,
  type Operation,
  SessionStoreError,
} from '@session-store/core'
import type { Uninferred } from '@session-store/core/internal'
import Memcached from 'memcached'
import { type ClientInternals, type Query, repairClient, serverName, toError } from './client.js'

/** Where the memcached servers are, as the `memcached` client takes them. */
export type MemcachedServers = Memcached.Location

/**
 * Options of the `memcached` client, including the connection-pool settings its type
 * declarations leave out.
 */
export interface MemcachedClientOptions extends Memcached.options {
  /**
   * Delay before the first retry to open a pool connection, in ms.
   * @default 20 in a client the store creates (the client's own: 1000)
   */
  minTimeout?: number
  /**
   * Longest delay between such retries, in ms.
   * @default 200 in a client the store creates (the client's own: 60000)
   */
  maxTimeout?: number
  /**
   * Growth of the delay between such retries.
   * @default 3 in a client the store creates (the client's own: 3)
   */
  factor?: number
  /**
   * Window in which `failures` failures must occur for a server to count as dead, in ms.
   * @default 1000 in a client the store creates (the client's own: 300000)
   */
  failuresTimeout?: number
}

/** Options of {@link MemcachedStore}, besides everything {@link BaseStoreOptions} offers. */
export interface MemcachedStoreOptions<S extends object = ExpressSessionData> extends BaseStoreOptions<S> {
  /**
   * An existing `memcached` client to use instead of creating one; the servers argument is then
   * left out. It stays open after `close()` unless `closeClient` is set.
   */
  client?: Memcached
  /**
   * Close the client in `close()`. A client the store created is always its own to close; a
   * client passed in belongs to the caller.
   * @default true when the store created the client, false for `client`
   */
  closeClient?: boolean
  /**
   * Options for the client the store creates, laid over {@link defaultClientOptions}. Not
   * allowed together with `client`.
   * @default {}
   */
  clientOptions?: MemcachedClientOptions
  /**
   * The largest encoded session, in bytes. A larger one rejects with an `ETOOLARGE`
   * SessionStoreError before anything is sent, so the stored session stays as it was. Lower it
   * when the servers run with a smaller `-I` (item size limit); raise it only when they run with
   * a larger one.
   * @default 1048064 (1 MiB, memcached's default item size, less room for the item's header and key)
   */
  maxValueBytes?: number
  /**
   * How often the store checks a server it found unreachable, in ms, until it answers again.
   * The check is what emits `connect` after an outage, when the frameworks have stopped sending
   * requests to a disconnected store.
   * @default 1000
   */
  healthCheckInterval?: number
}

/**
 * memcached's item size limit is 1 MiB by default, and it counts the whole item: measured on
 * memcached 1.6, the largest value is 1 MiB less 59 bytes of header less the key. Keys are at
 * most 250 bytes, so 512 bytes of room fit every key this store writes.
 */
export const DEFAULT_MAX_VALUE_BYTES = 1024 * 1024 - 512

/**
 * What the store passes to the `memcached` client it creates, unless `clientOptions` says
 * otherwise. The client's own defaults suit a cache that may miss, not a session store that
 * must answer within its `timeout`:
 * - `retries: 3`, `minTimeout: 20`, `factor: 3`, `maxTimeout: 200`: a connection the pool
 *   cannot hand out at once (all still connecting during a burst, or refused) is asked for again
 *   after 20, 60 and 180 ms, rather than after 1, 3, 9, 27 and 60 s. With no retries at all, a
 *   burst of requests on a fresh client fails with "The connection pool is full".
 * - `retry: 1000`: after a failure the client fails that server's operations at once for one
 *   second, then tries it again (default 30 s).
 * - `failures: Number.MAX_SAFE_INTEGER`, `failuresTimeout: 1000`: never give up on a server. After
 *   `failures` failures the client would leave it dead for `reconnect` ms (5 hours by default).
 * - `reconnect: 1000`: when several operations fail at once the client still schedules that
 *   reconnection; the store makes it simply let the server be tried again, after one second.
 * - `remove: false`: a dead server keeps its place in the hash ring, so its sessions come back
 *   with it instead of being looked for on another server.
 * - `timeout: 2000`: how long opening a connection may take, in ms (default 5000).
 * - `maxValue: Number.MAX_SAFE_INTEGER`: the client's own size check (1 MiB by default) would
 *   override `maxValueBytes`; the store checks sizes itself, and memcached checks its limit.
 *
 * The client's timers (`retry`, `reconnect`, `failuresTimeout`) keep the process alive until
 * they fire, so they stay short: a process exits at most a second after `close()`.
 */
export const defaultClientOptions: Readonly<MemcachedClientOptions> = Object.freeze({
  retries: 3,
  minTimeout: 20,
  maxTimeout: 200,
  factor: 3,
  retry: 1000,
  failures: Number.MAX_SAFE_INTEGER,
  failuresTimeout: 1000,
  reconnect: 1000,
  remove: false,
  timeout: 2000,
  maxValue: Number.MAX_SAFE_INTEGER,
})

// -----------------------------------------------------------------------------------------
// memcached's expiry times.

/** memcached reads an exptime above 30 days (in seconds) as a Unix time, not as a duration. */
const LONGEST_RELATIVE_EXPTIME = 30 * 24 * 3600

/** memcached parses an exptime as a signed 32-bit number; beyond it the item expires at once. */
const LATEST_ABSOLUTE_EXPTIME = 2 ** 31 - 1

/**
 * The memcached exptime for a ttl in ms. memcached counts whole seconds, so the ttl is rounded
 * up (a session never expires before its time). Up to 30 days it is sent as a number of seconds;
 * beyond, memcached would take that number for a Unix time in 1970 and expire the item at once,
 * so it is sent as now + ttl in Unix seconds (kept within memcached's 32-bit range: January
 * 2038). A disabled ttl (Infinity) is 0, memcached's "no expiry".
 */
function exptimeOf(ttlMs: number): number {
  if (ttlMs === Number.POSITIVE_INFINITY) return 0
  const seconds = Math.ceil(ttlMs / 1000)
  if (seconds <= LONGEST_RELATIVE_EXPTIME) return seconds
  return Math.min(Math.ceil((Date.now() + ttlMs) / 1000), LATEST_ABSOLUTE_EXPTIME)
}

// -----------------------------------------------------------------------------------------
// memcached's keys.

/** memcached's longest key, in bytes. */
const MAX_KEY_BYTES = 250

/**
 * Characters a key may keep as they are. memcached forbids spaces and control characters, and
 * the client runs every key through `String.replace`, where `$&` and the like would rewrite it;
 * `#` is left out because it marks hashed keys.
 */
const PLAIN_KEY = /^[\w.:/+=@-]*$/

/** Starts the hashed part of a key; never found in a key kept as it is. */
const HASH_MARK = '#'

/** The length of a hashed part: the mark and a base64url SHA-256. */
const HASHED_PART_LENGTH = 1 + 43

/**
 * SHA-256 of the string's UTF-16 code units, base64url. Hashing the code units rather than
 * UTF-8 keeps strings with lone surrogates distinct (UTF-8 turns them all into U+FFFD).
 */
function hashOf(text: string): string {
  return createHash('sha256').update(Buffer.from(text, 'utf16le')).digest('base64url')
}

/**
 * The memcached key prefix of a store: the prefix itself when it is plain and leaves room for a
 * hashed sid, else a hash of it (which starts with the mark, so it can never equal a plain one).
 */
function memcachedPrefixOf(prefix: string): { memcachedPrefix: string; plain: boolean } {
  if (PLAIN_KEY.test(prefix) && prefix.length + HASHED_PART_LENGTH <= MAX_KEY_BYTES) {
    return { memcachedPrefix: prefix, plain: true }
  }
  return { memcachedPrefix: `${HASH_MARK}${hashOf(prefix)}:`, plain: false }
}

// -----------------------------------------------------------------------------------------

const PACKAGE_NAME = '@session-store/memcached'
const BACKEND = 'memcached'

function optionsError(message: string): SessionStoreError {
  return new SessionStoreError({ code: 'EOPTIONS', packageName: PACKAGE_NAME, backend: BACKEND }, message)
}

function isMemcachedClient(value: unknown): value is Memcached {
  const client = value as Partial<Record<'get' | 'set' | 'touch' | 'del' | 'command', unknown>> | null
  return (
    typeof client === 'object' &&
    client !== null &&
    ['get', 'set', 'touch', 'del', 'command'].every(
      (name) => typeof client[name as keyof typeof client] === 'function',
    )
  )
}

/** `host`, `host:port` or `[ipv6]:port` (the client's default port is 11211), or a socket path. */
const SERVER_ADDRESS = /^(?:(?:\[[\da-fA-F:.]+\]|[\w.-]+)(?::(\d{1,5}))?|\/\S+)$/

function checkServers(servers: unknown): MemcachedServers {
  // Checked here, not at the first request: the client would take 'memcached://host' or a
  // port of 99999 and only fail every operation later.
  const isName = (name: unknown) => {
    if (typeof name !== 'string') return false
    const match = SERVER_ADDRESS.exec(name)
    return match !== null && (match[1] === undefined || (Number(match[1]) > 0 && Number(match[1]) < 65536))
  }
  if (isName(servers)) return servers as string
  if (Array.isArray(servers) && servers.length > 0 && servers.every(isName)) return servers as string[]
  if (
    typeof servers === 'object' &&
    servers !== null &&
    !Array.isArray(servers) &&
    Object.keys(servers).length > 0 &&
    Object.entries(servers).every(
      ([name, weight]) => isName(name) && typeof weight === 'number' && weight > 0,
    )
  ) {
    return servers as Record<string, number>
  }
  throw optionsError(
    `servers must be a "host:port" string, an array of them, or a map of them to weights; ` +
      `or pass an existing client as { client }. Got ${JSON.stringify(servers)}`,
  )
}

/**
 * A session store on memcached, through the `memcached` client: one server or several, over
 * which the client spreads sessions by consistent hashing.
 *
 * memcached cannot list its keys, so this store has no `ids`, `all`, `length` or `clear`:
 * clearing by `flush_all` would wipe every other entry on the servers too.
 *
 * The store is connected while at least one server answers. A server that stops answering makes
 * the operations on its sessions fail fast (the others go on), is reported as an `error` event,
 * and is checked every `healthCheckInterval` ms until it answers again; `disconnect` is emitted
 * when every server is unreachable, `connect` when one answers again.
 *
 * @example
 * app.use(session({ store: new MemcachedStore(['127.0.0.1:11211', '127.0.0.1:11212'], { prefix: 'sess:' }) }))
 * @example
 * const client = new Memcached('127.0.0.1:11211', { ...defaultClientOptions })
 * const store = new MemcachedStore({ client })
 */
export class MemcachedStore<S extends object = ExpressSessionData> extends BaseStore<S> {
  /** The client the store talks through (created by the store unless one was passed in). */
  readonly client: Memcached

  readonly #closeClient: boolean
  readonly #healthCheckInterval: number
  /** What the store's memcached keys start with (see memcachedPrefixOf). */
  readonly #memcachedPrefix: string
  readonly #plainPrefix: boolean
  /** The client's servers, by the name it gives them on its connections. */
  readonly #servers = new Map<string, string>()
  /** Servers found unreachable, with why. */
  readonly #down = new Map<string, Error>()
  readonly #checking = new Set<string>()
  #healthCheck: NodeJS.Timeout | undefined
  /** The sockets corked in this turn of the event loop, until they are uncorked. */
  #corked: Socket[] | undefined
  /** Whether a command left in this turn of the event loop (the next ones are corked). */
  #sentThisTurn = false
  readonly #listeners: Array<[Memcached.EventNames, (details: Memcached.IssueData) => void]>

  /**
   * @param servers what the `memcached` client takes: `'host:port'`, an array of them, or a map
   *   of them to weights
   */
  constructor(servers: MemcachedServers, options?: MemcachedStoreOptions<Uninferred<S>>)
  /** With an existing client: `new MemcachedStore({ client, prefix })`. */
  constructor(options: MemcachedStoreOptions<Uninferred<S>> & { client: Memcached })
  constructor(
    serversOrOptions: MemcachedServers | (MemcachedStoreOptions<S> & { client: Memcached }),
    maybeOptions?: MemcachedStoreOptions<S>,
  ) {
    const withClient =
      typeof serversOrOptions === 'object' &&
      serversOrOptions !== null &&
      !Array.isArray(serversOrOptions) &&
      'client' in serversOrOptions
    // null is not "no options": BaseStore refuses it like any other non-object.
    const options = (
      withClient ? serversOrOptions : maybeOptions === undefined ? {} : maybeOptions
    ) as MemcachedStoreOptions<S>
    const given = typeof options === 'object' && options !== null ? options : {}
    const { maxValueBytes = DEFAULT_MAX_VALUE_BYTES } = given
    if (!(Number.isSafeInteger(maxValueBytes) && maxValueBytes > 0)) {
      throw optionsError(
        `maxValueBytes must be a positive whole number of bytes, got ${String(maxValueBytes)}`,
      )
    }
    super(
      {
        packageName: PACKAGE_NAME,
        backend: BACKEND,
        capabilities: { ttlGranularityMs: 1000, maxValueBytes },
        options: ['client', 'closeClient', 'clientOptions', 'maxValueBytes', 'healthCheckInterval'],
      },
      options,
    )

    const { healthCheckInterval = 1000, closeClient, clientOptions } = given
    if (
      !(typeof healthCheckInterval === 'number' && healthCheckInterval > 0 && healthCheckInterval < 2 ** 31)
    ) {
      throw optionsError(
        `healthCheckInterval must be a positive number of ms, got ${String(healthCheckInterval)}`,
      )
    }
    if (closeClient !== undefined && typeof closeClient !== 'boolean') {
      throw optionsError(`closeClient must be a boolean, got ${typeof closeClient}`)
    }
    if (withClient) {
      if (maybeOptions !== undefined) {
        throw optionsError('pass either servers and options, or { client, ...options }, not both')
      }
      if (!isMemcachedClient(given.client)) {
        throw optionsError('client must be a client of the `memcached` package')
      }
      if (clientOptions !== undefined) {
        throw optionsError('clientOptions only apply to a client the store creates, not to options.client')
      }
      this.client = given.client
      this.#closeClient = closeClient ?? false
    } else {
      if (given.client !== undefined) {
        throw optionsError('pass either servers and options, or { client, ...options }, not both')
      }
      if (clientOptions !== undefined && (typeof clientOptions !== 'object' || clientOptions === null)) {
        throw optionsError('clientOptions must be an object')
      }
      this.client = new Memcached(checkServers(serversOrOptions), {
        ...defaultClientOptions,
        ...clientOptions,
      })
      this.#closeClient = closeClient ?? true
    }

    this.#healthCheckInterval = healthCheckInterval
    ;({ memcachedPrefix: this.#memcachedPrefix, plain: this.#plainPrefix } = memcachedPrefixOf(this.prefix))
    for (const server of this.#internals.servers) this.#servers.set(serverName(server), server)

    repairClient(this.client)
    // What the client's events mean (memcached 2.2, with the repair above):
    // - issue: an operation could not reach a server; the client refuses it for `retry` ms.
    // - failure, remove: the client gave up on a server (only with `remove: true`); `remove`
    //   takes it out of the hash ring, for good, and its keys go to another server.
    // - reconnecting: the client lets a server be tried again; the health check tries it now.
    // - reconnect: the client's ping of the host succeeded (never, once repaired).
    const down = (details: Memcached.IssueData) =>
      this.#serverDown(details.server, new Error(String(details.messages?.at(-1) ?? 'connection failed')))
    const check = () => this.#scheduleHealthCheck(0)
    this.#listeners = [
      ['issue', down],
      ['failure', down],
      ['remove', down],
      ['reconnecting', check],
      ['reconnect', check],
    ]
    for (const [event, listener] of this.#listeners) this.client.on(event, listener)
  }

  /** Servers the store currently finds unreachable, as `host:port`. */
  get unreachableServers(): string[] {
    return [...this.#down.keys()]
  }

  /**
   * The memcached key a session is kept under. It is the prefix and the sid as they are when
   * both are plain (letters, digits and `_ . : / + = @ -`) and short enough; otherwise the sid,
   * and if need be the prefix, is replaced by `#` and its SHA-256. memcached keys are at most
   * 250 bytes without spaces or control characters, while a sid may be any string: this way any
   * sid works, no two sids share a key, and a hashed key (which has a `#`) never equals a plain
   * one (which has none).
   */
  keyFor(sid: string): string {
    if (typeof sid !== 'string' || sid.length === 0) {
      throw new TypeError(`[${PACKAGE_NAME}] [${BACKEND}] keyFor: sid must be a non-empty string`)
    }
    return this.#memcachedKey(sid)
  }

  #memcachedKey(sid: string): string {
    if (
      this.#plainPrefix &&
      this.#memcachedPrefix.length + sid.length <= MAX_KEY_BYTES &&
      PLAIN_KEY.test(sid)
    ) {
      return this.#memcachedPrefix + sid
    }
    return `${this.#memcachedPrefix}${HASH_MARK}${hashOf(sid)}`
  }

  /** Every key core hands to the hooks below is already the memcached key. */
  protected override keyOf(sid: string): string {
    return this.#memcachedKey(sid)
  }

  protected read(memcachedKey: string): Promise<string | null> {
    return this.#send(memcachedKey, (callback) => this.client.get(memcachedKey, callback), textOf)
  }

  protected write(memcachedKey: string, value: string, ttlMs: number): Promise<void> {
    return this.#send(
      memcachedKey,
      (callback) => this.client.set(memcachedKey, value, exptimeOf(ttlMs), callback),
      (stored, query) => {
        if (stored === true) return
        // The client answers false without an error when memcached refused the item.
        const answer = query?.serverError
        if (answer !== undefined && /too large/i.test(answer)) {
          throw this.error(
            'ETOOLARGE',
            `set: memcached refused the session as too large ("${answer}"): the server's item size ` +
              `limit (-I) is below maxValueBytes (${this.capabilities.maxValueBytes}); lower maxValueBytes. ` +
              'memcached also dropped the previous value of this session.',
            'set',
          )
        }
        throw this.error(
          'EBACKEND',
          `set: memcached did not store the session${answer === undefined ? '' : ` ("${answer}")`}`,
          'set',
        )
      },
      (err) => {
        // The client's own size check (its `maxValue` option), before sending anything.
        if (/length of the value is greater than/i.test(err.message)) {
          return this.error('ETOOLARGE', `set: ${err.message} (the client's maxValue option)`, 'set', err)
        }
        return err
      },
    )
  }

  protected remove(memcachedKey: string): Promise<void> {
    return this.#send(memcachedKey, (callback) => this.client.del(memcachedKey, callback), noop)
  }

  /** memcached's `touch` moves the expiry of an existing item, and never creates one. */
  protected expire(memcachedKey: string, ttlMs: number): Promise<void> {
    return this.#send(
      memcachedKey,
      (callback) => this.client.touch(memcachedKey, exptimeOf(ttlMs), callback),
      noop,
    )
  }

  protected override async shutdown(): Promise<void> {
    clearTimeout(this.#healthCheck)
    this.#healthCheck = undefined
    for (const [event, listener] of this.#listeners) this.client.removeListener(event, listener)
    if (!this.#closeClient) return
    this.client.end()
    // The client never clears its timer that resets a server's failure count, and remembers
    // only the latest; the others end within `failuresTimeout` (a second by default here).
    for (const log of Object.values(this.#internals.issues)) clearTimeout(log?.failuresResetId)
  }

  /**
   * The client writes every command to its socket as it is issued: one system call each. The
   * first command of a turn of the event loop leaves at once (a lone request waits for
   * nothing); then the sockets of every server are corked until that turn's I/O callbacks have
   * run, so what concurrent requests issue meanwhile leaves in one write per socket. Each
   * command still settles its own caller. Nothing here counts commands in flight: the client
   * drops the callbacks of a connection that closes, so no such count could be trusted.
   */
  #corkForThisTurn(): void {
    if (this.#corked !== undefined) return
    if (!this.#sentThisTurn) {
      this.#sentThisTurn = true
      setImmediate(this.#uncork)
      return
    }
    const sockets: Socket[] = []
    for (const pool of Object.values(this.#internals.connections ?? {})) {
      for (const socket of pool?.pool ?? []) if (typeof socket?.cork === 'function') sockets.push(socket)
    }
    for (const socket of sockets) socket.cork()
    this.#corked = sockets
  }

  readonly #uncork = (): void => {
    const sockets = this.#corked ?? []
    this.#corked = undefined
    this.#sentThisTurn = false
    for (const socket of sockets) socket.uncork()
  }

  get #internals(): ClientInternals {
    return this.client as unknown as ClientInternals
  }

  /**
   * Sends one command and settles with its interpreted answer. A server the store found
   * unreachable (it timed out, or the client could not connect) is not asked at all until its
   * health check passes: its sessions fail at once instead of each waiting out the timeout.
   * (Core rejects the operation at `timeout` whatever happens, since the client would keep a
   * command forever when its connection dies.)
   */
  #send<T>(
    memcachedKey: string,
    send: (callback: (this: Query | undefined, err: unknown, result?: unknown) => void) => void,
    interpret: (result: unknown, query: Query | undefined) => T,
    mapError: (err: Error) => Error = (err) => err,
  ): Promise<T> {
    if (this.#down.size > 0) {
      const server = this.#serverOf(memcachedKey)
      const reason = server === undefined ? undefined : this.#down.get(server)
      if (reason !== undefined) {
        // A server that stopped answering is reported as what it did (ETIMEOUT), one that
        // refused or dropped connections as EBACKEND.
        const stalled = reason instanceof SessionStoreError && reason.code === 'ETIMEOUT'
        return Promise.reject(
          this.error(
            stalled ? 'ETIMEOUT' : 'EBACKEND',
            `memcached server ${server} is unreachable: ${reason.message}`,
            undefined,
            reason,
          ),
        )
      }
    }
    this.#corkForThisTurn()
    return new Promise<T>((resolve, reject) => {
      send(function answered(this: Query | undefined, err, result) {
        if (err !== undefined && err !== null) {
          reject(mapError(toError(err)))
          return
        }
        try {
          resolve(interpret(result, this))
        } catch (error) {
          reject(error)
        }
      })
    })
  }

  /**
   * An operation got no answer within `timeout` (BaseStore's deadline): the server its key
   * maps to counts as down. The client itself would keep waiting on a connection that died.
   */
  protected override timedOut(op: Operation): void {
    if (op.key === undefined) return
    const server = this.#serverOf(op.key)
    if (server) {
      this.#serverDown(server, this.error('ETIMEOUT', `no answer within ${this.timeout} ms`, op.name))
    }
  }

  /** The server the client sends this key to. */
  #serverOf(memcachedKey: string): string | undefined {
    const { servers, namespace, HashRing } = this.#internals
    const server = servers.length === 1 ? servers[0] : HashRing.get(namespace + memcachedKey)
    return server === undefined ? undefined : serverName(server)
  }

  #serverDown(server: string, reason: Error): void {
    if (this.closed) return
    const name = serverName(server)
    const known = this.#down.has(name)
    this.#down.set(name, reason)
    if (!known) {
      this.reportError(
        this.error(
          'EBACKEND',
          `memcached server ${name} is unreachable: ${reason.message}`,
          undefined,
          reason,
        ),
      )
      if (![...this.#servers.keys()].some((each) => !this.#down.has(each))) {
        this.setConnected(
          false,
          this.error('EBACKEND', `no memcached server is reachable: ${reason.message}`),
        )
      }
    }
    this.#scheduleHealthCheck(this.#healthCheckInterval)
  }

  #serverUp(server: string): void {
    if (!this.#down.delete(server)) return
    if ([...this.#servers.keys()].some((each) => !this.#down.has(each))) this.setConnected(true)
  }

  /** Checks every unreachable server after `delay` ms, unless a check is already due. */
  #scheduleHealthCheck(delay: number): void {
    if (this.closed || this.#healthCheck !== undefined || this.#down.size === 0) return
    this.#healthCheck = setTimeout(() => {
      this.#healthCheck = undefined
      for (const server of [...this.#down.keys()]) this.#check(server)
    }, delay)
    // Pending checks alone do not keep the process alive.
    this.#healthCheck.unref()
  }

  /** Asks one server for a key nobody writes, under the store's deadline; any answer proves it is back. */
  #check(server: string): void {
    if (this.closed || this.#checking.has(server)) return
    this.#checking.add(server)
    const command = `get ${this.#internals.namespace}${HASH_MARK}health-check`
    this.withDeadline(
      'ping',
      () =>
        new Promise<void>((resolve, reject) =>
          this.#internals.command(
            () => ({
              type: 'get',
              command,
              callback: (err: unknown) => (err ? reject(toError(err)) : resolve()),
            }),
            this.#servers.get(server) ?? server,
          ),
        ),
    ).then(
      () => {
        this.#checking.delete(server)
        this.#serverUp(server)
        this.#scheduleHealthCheck(this.#healthCheckInterval)
      },
      (reason: Error) => {
        this.#checking.delete(server)
        if (this.#down.has(server)) this.#down.set(server, reason)
        this.#scheduleHealthCheck(this.#healthCheckInterval)
      },
    )
  }
}

function noop(): void {}

/**
 * What the store wrote comes back as written: it writes strings, which the client stores with
 * flags 0 and returns unchanged. Another writer's value may come back as a number, a Buffer or
 * parsed JSON (the client's flags); it is turned into text, for the codec to accept or reject.
 */
function textOf(value: unknown): string | null {
  if (value === undefined || value === null || value === false) return null
  if (typeof value === 'string') return value
  if (Buffer.isBuffer(value)) return value.toString('utf8')
  return typeof value === 'object' ? JSON.stringify(value) : String(value)
}
