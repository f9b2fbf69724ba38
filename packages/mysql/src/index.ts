import { createHash } from 'node:crypto'
import {
  BaseStore,
  type BaseStoreOptions,
  type ExpressSessionData,
  type Operation,
} from '@session-store/core'
import { settleWithin, type Uninferred } from '@session-store/core/internal'
import type { Pool as CallbackPool } from 'mysql2'
import mysql, { type PoolOptions } from 'mysql2'
import type { Pool as PromisePool } from 'mysql2/promise'

/**
 * A mysql2 pool, in either flavour: `mysql2/promise`'s `createPool()` or the callback
 * `mysql2`'s `createPool()`. A single connection of either flavour works too.
 */
export type MySQLPool = PromisePool | CallbackPool

/** The names of the store's columns, for a table laid out by hand. */
export interface MySQLColumnNames {
  /**
   * The primary key: prefix + sid, or a shortened form of it when it does not fit.
   * @default 'id'
   */
  id?: string
  /**
   * When the session expires, in ms since the epoch; indexed.
   * @default 'expires'
   */
  expires?: string
  /**
   * The encoded session.
   * @default 'data'
   */
  data?: string
  /**
   * The whole prefix + sid, as a JSON string, of a row whose `id` holds the shortened form;
   * NULL for every other row.
   * @default 'full_id'
   */
  fullId?: string
}

/** Options of {@link MySQLStore}, besides everything {@link BaseStoreOptions} offers. */
export interface MySQLStoreOptions<S extends object = ExpressSessionData> extends BaseStoreOptions<S> {
  /**
   * The table holding the sessions, optionally qualified by its database (`db.sessions`).
   * Letters, digits, `_` and `$` only; it is quoted with backticks in every statement.
   * @default 'sessions'
   */
  table?: string
  /**
   * The column names, each validated like the table name.
   * @default { id: 'id', expires: 'expires', data: 'data', fullId: 'full_id' }
   */
  columns?: MySQLColumnNames
  /**
   * Create the table (and its index on `expires`) when it is missing, once, before the first
   * operation. Turn it off when the schema is migrated by hand or the database user may not
   * run `CREATE TABLE`; the README gives the statement.
   * @default true
   */
  createTable?: boolean
  /**
   * How often expired rows are deleted, in ms, give or take a quarter so that app instances
   * started together do not prune together. The timer is unref'd: it never keeps the
   * process alive. `0` or `false` turns pruning off (expired rows still read as absent);
   * `prune()` runs it on demand.
   * @default 900000 (15 minutes)
   */
  pruneInterval?: number | false
  /**
   * End the pool in `close()`.
   * @default true when the store created the pool from options or a URL, false for a pool passed in
   */
  endPoolOnClose?: boolean
  /**
   * The most statements that may wait for a pool connection at once. Past it an operation
   * rejects at once with EBACKEND instead of queueing behind a stalled server (koa-session, for
   * one, keeps sending while the store is down). A statement whose caller timed out while it
   * waited is dropped unsent.
   * @default 1000
   */
  queueLimit?: number
}

/** Rows read per page of an enumeration, and ids deleted per statement by `clear()`. */
const PAGE_SIZE = 100

/** Rows deleted per prune statement, so a large backlog never holds long locks. */
const PRUNE_BATCH = 1000

/** The `expires` of a session stored with ttl disabled: beyond any real date, still exact. */
const FAR_FUTURE = Number.MAX_SAFE_INTEGER

/** A deadlocked statement is retried this many times in all before its error is returned. */
const DEADLOCK_ATTEMPTS = 3

/**
 * Sids as keys: the one place that decides what goes into the `id` column.
 *
 * `id` is VARCHAR(255) with the utf8mb4_bin collation: exact and case-sensitive, but, like
 * every `_bin` collation that MySQL 8 and MariaDB share, PAD SPACE: `'a'` and `'a '` compare
 * equal and would be one primary key. A key is stored as it is when it is shorter than 255
 * characters, does not end with a space and is well-formed UTF-16 (a lone surrogate cannot
 * be stored in utf8mb4 and would turn into U+FFFD, merging different sids). Every other key
 * is stored as its first 190 code points, a filler of `#` and the SHA-256 of the whole key
 * (hex, 64 characters), exactly 255 code points in all, with the whole key in `full_id` so
 * that enumeration can return it (as a JSON string, which spells a lone surrogate out as
 * `\udXXX` and so keeps every key exact). The two forms never meet: stored keys are at most 254
 * characters long, shortened ones exactly 255; and shortened ones keep the head, so a
 * search by prefix still finds them (which is why the prefix is limited to 190 characters).
 */
const ID_LENGTH = 255
const SHORTENED_HEAD = ID_LENGTH - 1 - 64
const LONE_SURROGATE = /[\uD800-\uDFFF]/u

/** The `id` of a key, and the key itself for `full_id` when `id` is its shortened form. */
function rowId(key: string): [id: string, fullId: string | null] {
  if (key.length < ID_LENGTH && !key.endsWith(' ') && !LONE_SURROGATE.test(key)) return [key, null]
  const head = Array.from(key).slice(0, SHORTENED_HEAD)
  const digest = createHash('sha256').update(key, 'utf16le').digest('hex')
  return [`${head.join('')}${'#'.repeat(ID_LENGTH - 64 - head.length)}${digest}`, JSON.stringify(key)]
}

/** The key of a row read back: `id`, or the whole key kept in `full_id`. */
function rowKey(id: unknown, fullId: unknown): string {
  return typeof fullId === 'string' ? (JSON.parse(fullId) as string) : (id as string)
}

/**
 * Selecting a prefix's rows: the other place where the collation bites. `id LIKE 'prefix%'`
 * alone misses rows (seen on MariaDB 10.11), because the optimizer turns it into an index
 * range that ignores PAD SPACE (`'p:\t…'` sorts below `'p:'`, since the tab is compared with a
 * padding space, and falls out of the range) and ends the range at U+FFFF (so `'p:😀…'`
 * falls out too). MySQL 8's utf8mb4_bin is PAD SPACE as well, and the same bounds serve it. So the index range is spelled out with bounds that hold under
 * PAD SPACE: from the prefix followed by NULs up to the column's length (nothing that starts
 * with the prefix sorts lower) to the prefix with its last code point raised by one. That
 * range may also hold a few ids that do not start with the prefix, so the exact test is a
 * LIKE on the id's bytes, which the optimizer cannot turn into a range of its own.
 */
interface PrefixSelection {
  /** The lowest id that can start with the prefix. */
  from: string
  /** Above every id that starts with the prefix. */
  to: string
  /** A byte-wise LIKE pattern for ids that start with the prefix (`!` escapes). */
  pattern: string
}

function prefixSelection(prefix: string): PrefixSelection {
  const codePoints = Array.from(prefix, (char) => char.codePointAt(0)!)
  const from = prefix + '\u0000'.repeat(ID_LENGTH - codePoints.length)
  const pattern = `${prefix.replace(/[!%_]/g, '!$&')}%`
  while (codePoints.length > 0) {
    let last = codePoints.pop()! + 1
    if (last === 0xd800) last = 0xe000 // surrogates are no characters in utf8mb4
    if (last <= 0x10ffff) return { from, to: String.fromCodePoint(...codePoints, last), pattern }
  }
  // An empty prefix (or one of U+10FFFF only): above every id the table can hold.
  return { from, to: '\u{10FFFF}'.repeat(ID_LENGTH), pattern }
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$]{0,63}$/

/** What the store runs statements on: a query without values, a prepared statement with them. */
interface Client {
  run(sql: string, values: unknown[] | undefined, op: Operation): Promise<unknown>
  end(): Promise<void>
  /** Statements waiting for a pool connection now. */
  readonly queued: number
}

/** A connection of a mysql2 pool: `stream` is its socket, which `destroy()` only half-closes. */
interface PooledConnection {
  destroy(): void
  stream?: { destroy(): void; unref?(): void }
  once(event: 'end' | 'error', listener: () => void): unknown
}

/** The callback flavour of a mysql2 pool or connection, which every flavour wraps. */
interface CallbackClient {
  execute(
    options: { sql: string; rowsAsArray: boolean; timeout?: number },
    values: unknown[],
    callback: (err: Error | null, result?: unknown) => void,
  ): unknown
  query(
    options: { sql: string; timeout?: number },
    callback: (err: Error | null, result?: unknown) => void,
  ): unknown
  end(callback?: (err?: Error | null) => void): unknown
  /** A pool's; a single connection has none. */
  getConnection?(callback: (err: Error | null, connection?: CallbackConnection) => void): void
}

/** A connection a pool lent out. */
interface CallbackConnection extends CallbackClient {
  release(): void
  destroy(): void
}

/** What a DELETE or UPDATE answers. */
interface Changed {
  affectedRows: number
}

type Row = unknown[]

/**
 * Error codes that mean the server could not be reached or the connection died, as opposed
 * to the server answering with an error. They flip the store to disconnected.
 */
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'PROTOCOL_CONNECTION_LOST',
  'ER_SERVER_SHUTDOWN',
  'ER_CONNECTION_KILLED',
])

function isUnreachable(err: unknown): boolean {
  if (err === null || typeof err !== 'object') return false
  const { code, fatal, sqlState } = err as { code?: unknown; fatal?: unknown; sqlState?: unknown }
  // A fatal error without an SQL state never came from the server: the socket failed.
  return (typeof code === 'string' && UNREACHABLE.has(code)) || (fatal === true && sqlState === undefined)
}

function isDeadlock(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 'ER_LOCK_DEADLOCK'
}

/**
 * A session store on MySQL 8 or MariaDB through mysql2: one row per session in a table it
 * creates when missing, expiry checked on every read and expired rows pruned in the
 * background by an index range scan.
 *
 * ```ts
 * import mysql from 'mysql2/promise'
 * app.use(session({ store: new MySQLStore(mysql.createPool(process.env.MYSQL_URL!)), secret }))
 * ```
 */
export class MySQLStore<S extends object = ExpressSessionData> extends BaseStore<S> {
  readonly #client: Client
  readonly #endPoolOnClose: boolean
  readonly #createTable: boolean
  readonly #pruneInterval: number
  readonly #queueLimit: number
  readonly #sql: ReturnType<typeof statements>
  readonly #selection: PrefixSelection
  #tableReady: Promise<void> | undefined
  #tableCreated = false
  #pruneTimer: NodeJS.Timeout | undefined
  #pruning: Promise<number> | undefined
  /** The open connections of a pool the store ends on close, for a hard stop. */
  readonly #connections = new Set<PooledConnection>()

  /**
   * @param pool A mysql2 pool (promise or callback flavour), which the store uses and leaves
   *   open on close unless `endPoolOnClose`; or mysql2 pool options, or a URL such as
   *   `mysql://user:password@host:3306/database`, from which the store creates a pool of its own.
   * @param options The store's options.
   */
  constructor(pool: MySQLPool | PoolOptions | string, options: MySQLStoreOptions<Uninferred<S>> = {}) {
    super(
      {
        packageName: '@session-store/mysql',
        backend: 'mysql',
        // MEDIUMTEXT holds 16 MiB - 1 bytes; the server's max_allowed_packet must also admit
        // the statement carrying it (16 MiB by default on MariaDB, 64 MiB on MySQL 8).
        capabilities: { ttlGranularityMs: 1, maxValueBytes: 16 * 1024 * 1024 - 1 },
        options: ['table', 'columns', 'createTable', 'pruneInterval', 'endPoolOnClose', 'queueLimit'],
      },
      options,
    )
    const {
      table = 'sessions',
      columns = {},
      createTable = true,
      pruneInterval = 900_000,
      queueLimit = 1000,
    } = options
    if (Array.from(this.prefix).length > SHORTENED_HEAD || LONE_SURROGATE.test(this.prefix)) {
      throw this.error(
        'EOPTIONS',
        `prefix must be well-formed text of at most ${SHORTENED_HEAD} characters, got ${JSON.stringify(this.prefix)}`,
      )
    }
    if (!(Number.isInteger(queueLimit) && queueLimit > 0)) {
      throw this.error('EOPTIONS', `queueLimit must be a whole number > 0, got ${String(queueLimit)}`)
    }
    this.#queueLimit = queueLimit
    this.#selection = prefixSelection(this.prefix)
    const tableParts = typeof table === 'string' ? table.split('.') : []
    if (
      tableParts.length < 1 ||
      tableParts.length > 2 ||
      !tableParts.every((part) => IDENTIFIER.test(part))
    ) {
      throw this.error('EOPTIONS', `table must be a name like sessions or db.sessions, got ${String(table)}`)
    }
    const names = { id: 'id', expires: 'expires', data: 'data', fullId: 'full_id', ...columns }
    for (const [column, name] of Object.entries(names)) {
      if (typeof name !== 'string' || !IDENTIFIER.test(name)) {
        throw this.error('EOPTIONS', `columns.${column} must be a column name, got ${String(name)}`)
      }
    }
    if (new Set(Object.values(names)).size !== 4) {
      throw this.error('EOPTIONS', 'columns must name four different columns')
    }
    if (
      !(
        pruneInterval === false ||
        (typeof pruneInterval === 'number' && pruneInterval >= 0 && pruneInterval < 2 ** 31)
      )
    ) {
      throw this.error(
        'EOPTIONS',
        `pruneInterval must be a number of ms >= 0, or false, got ${String(pruneInterval)}`,
      )
    }
    this.#createTable = createTable !== false
    this.#pruneInterval = pruneInterval === false ? 0 : pruneInterval
    this.#sql = statements(tableParts.map(quote).join('.'), {
      id: quote(names.id),
      expires: quote(names.expires),
      data: quote(names.data),
      fullId: quote(names.fullId),
    })

    const owned = typeof pool === 'string' || !isClient(pool)
    const given = owned ? this.#createPool(pool) : pool
    this.#client = toClient(given)
    this.#endPoolOnClose = options.endPoolOnClose ?? owned
    if (this.#endPoolOnClose) this.#track(callbackFlavour(given))
    this.#schedulePrune()
  }

  /**
   * Deletes expired rows now, in batches, and resolves how many it deleted. Rows of every
   * prefix in the table go: an expired session is nobody's. The background timer calls it.
   */
  prune(): Promise<number> {
    if (this.closed) return Promise.reject(this.error('ECLOSED', 'prune: the store is closed', 'prune'))
    this.#pruning ??= this.#prune().finally(() => {
      this.#pruning = undefined
    })
    return this.#pruning
  }

  // ---------------------------------------------------------------------------------------
  // BaseStore's backend methods. Keys carry the prefix; values are encoded sessions.

  protected async read(key: string, op: Operation): Promise<string | null> {
    const rows = await this.#query<Row[]>(this.#sql.read, [rowId(key)[0], Date.now()], op)
    return (rows[0]?.[0] as string | undefined) ?? null
  }

  protected async write(key: string, value: string, ttlMs: number, op: Operation): Promise<void> {
    const [id, fullId] = rowId(key)
    await this.#query(this.#sql.write, [id, expiresAt(ttlMs), value, fullId], op)
  }

  protected async remove(key: string, op: Operation): Promise<void> {
    await this.#query(this.#sql.remove, [rowId(key)[0]], op)
  }

  protected async expire(key: string, ttlMs: number, op: Operation): Promise<void> {
    await this.#query(this.#sql.expire, [expiresAt(ttlMs), rowId(key)[0], Date.now()], op)
  }

  protected override async *scan(op: Operation): AsyncIterable<string[]> {
    for await (const rows of this.#pages(this.#sql.scanFirst, this.#sql.scanNext, op)) {
      yield rows.map(([id, fullId]) => rowKey(id, fullId))
    }
  }

  protected override async *scanEntries(op: Operation): AsyncIterable<Array<[key: string, value: string]>> {
    for await (const rows of this.#pages(this.#sql.entriesFirst, this.#sql.entriesNext, op)) {
      yield rows.map(([id, fullId, data]) => [rowKey(id, fullId), data as string])
    }
  }

  protected override async count(op: Operation): Promise<number> {
    const { from, to, pattern } = this.#selection
    const rows = await this.#query<Row[]>(this.#sql.count, [from, to, pattern, Date.now()], op)
    return Number(rows[0]?.[0] ?? 0)
  }

  protected override async removeMany(keys: string[], op: Operation): Promise<void> {
    for (let start = 0; start < keys.length; start += PAGE_SIZE) {
      const ids = keys.slice(start, start + PAGE_SIZE).map((key) => rowId(key)[0])
      // Always PAGE_SIZE placeholders, the last id repeated, so that one prepared statement
      // serves every batch instead of one per batch length.
      while (ids.length < PAGE_SIZE) ids.push(ids[ids.length - 1]!)
      await this.#query(this.#sql.removeMany, ids, op)
    }
  }

  protected override async shutdown(op: Operation): Promise<void> {
    clearTimeout(this.#pruneTimer)
    // A prune in flight stops after its current batch (it checks `closed`); its statement ends
    // with the pool, or at its own deadline.
    if (!this.#endPoolOnClose) return
    // mysql2 ends a pool by queueing a QUIT behind each connection's statement in flight, so on
    // a stalled server pool.end() never settles. Past `timeout` (or when ending failed), the
    // store destroys the connections it tracks: close() settles, and no socket holds the
    // process open. The failure goes to 'error' listeners; the store is closed either way.
    const outcome = await settleWithin(this.#client.end(), Math.max(1, op.remaining() - 50))
    const connections = [...this.#connections]
    this.#connections.clear()
    const destroy = () => {
      for (const connection of connections) {
        connection.destroy()
        connection.stream?.destroy()
      }
    }
    if (outcome.settled && !('error' in outcome)) {
      // mysql2 calls back once QUIT is written, not once the server has closed the socket. A
      // server that answers closes it at once; one that stalls never does, so the sockets stop
      // holding the process now, and are destroyed after `timeout` if still open.
      for (const connection of connections) connection.stream?.unref?.()
      setTimeout(destroy, this.timeout).unref()
      return
    }
    destroy()
    this.reportError(
      outcome.settled
        ? this.error(
            'EBACKEND',
            `close: ending the pool failed: ${String(outcome.error)}`,
            'close',
            outcome.error,
          )
        : this.error(
            'ETIMEOUT',
            `close: the pool did not end within ${this.timeout} ms; its connections were destroyed`,
            'close',
          ),
    )
  }

  /**
   * After a statement timed out, core asks this once: a server that answers it is slow on one
   * statement, not gone. While disconnected, core asks it every second (express-session sends
   * nothing meanwhile).
   */
  protected override async ping(op: Operation): Promise<void> {
    await this.#run('SELECT 1', undefined, op)
  }

  // ---------------------------------------------------------------------------------------
  // The machinery.

  /**
   * mysql2's connect timeout for a pool the store creates: a little past the store's own, so
   * that a frozen server is reported as the store's ETIMEOUT rather than whichever timer won.
   */
  get #connectTimeout(): number {
    return this.timeout + 1000
  }

  /** Keeps the connections a pool opens from now on, until each ends. */
  #track(client: CallbackClient): void {
    const pool = client as Partial<Pick<CallbackPool, 'on' | 'getConnection'>>
    // A single connection, rather than a pool, has no 'connection' event to follow.
    if (typeof pool.on !== 'function' || typeof pool.getConnection !== 'function') return
    pool.on('connection', (connection: unknown) => {
      const pooled = connection as unknown as PooledConnection
      this.#connections.add(pooled)
      const forget = () => this.#connections.delete(pooled)
      pooled.once('end', forget)
      pooled.once('error', forget)
    })
  }

  #createPool(config: PoolOptions | string): CallbackPool {
    let options: PoolOptions
    if (typeof config === 'string') {
      let url: URL
      try {
        url = new URL(config)
      } catch {
        throw this.error('EOPTIONS', 'expected a URL like mysql://user:password@host:3306/database')
      }
      if (url.protocol !== 'mysql:' && url.protocol !== 'mariadb:') {
        throw this.error('EOPTIONS', `expected a mysql:// URL, got the protocol ${url.protocol}`)
      }
      if (url.pathname.length <= 1) {
        throw this.error('EOPTIONS', 'the URL names no database: expected mysql://user@host:3306/database')
      }
      // A connectTimeout given in the URL's query string wins over the store's default.
      options = {
        uri: config,
        connectTimeout: url.searchParams.has('connectTimeout') ? undefined : this.#connectTimeout,
      }
    } else if (config !== null && typeof config === 'object') {
      // mysql2 quietly replaces settings it cannot use (a port 'x' becomes 3306) or fails every
      // request later (a pool of -1 connections); refuse them now instead.
      const { port, connectionLimit, database } = config
      if (
        port !== undefined &&
        !(Number.isInteger(Number(port)) && Number(port) > 0 && Number(port) < 65536)
      ) {
        throw this.error('EOPTIONS', `port must be a TCP port number, got ${String(port)}`)
      }
      if (connectionLimit !== undefined && !(Number.isInteger(connectionLimit) && connectionLimit > 0)) {
        throw this.error(
          'EOPTIONS',
          `connectionLimit must be a whole number > 0, got ${String(connectionLimit)}`,
        )
      }
      if (database !== undefined && (typeof database !== 'string' || database === '')) {
        throw this.error('EOPTIONS', `database must be a name, got ${String(database)}`)
      }
      options = { ...config, connectTimeout: config.connectTimeout ?? this.#connectTimeout }
    } else {
      throw this.error('EOPTIONS', `expected a mysql2 pool, pool options or a URL, got ${typeof config}`)
    }
    try {
      return mysql.createPool(options)
    } catch (cause) {
      throw this.error('EOPTIONS', `mysql2 rejected the pool options: ${String(cause)}`, undefined, cause)
    }
  }

  /** Runs a statement once the table exists. */
  async #query<T = Changed>(sql: string, values: unknown[], op: Operation): Promise<T> {
    if (!this.#tableCreated) await this.#ensureTable(op)
    return this.#run<T>(sql, values, op)
  }

  /** Creates the table once; concurrent first calls share the attempt, a failed one is retried. */
  #ensureTable(op: Operation): Promise<void> {
    if (!this.#createTable) {
      this.#tableCreated = true
      return Promise.resolve()
    }
    this.#tableReady ??= this.#run(this.#sql.createTable, undefined, op).then(
      () => {
        this.#tableCreated = true
      },
      (err: unknown) => {
        this.#tableReady = undefined
        throw err
      },
    )
    return this.#tableReady
  }

  /**
   * Runs one statement and keeps `connected` in step with what happened: an answer from the
   * server (even an error) means it is reachable; a socket failure means it is not. A statement
   * that merely times out says neither (core's ping after it decides). A deadlock (two first
   * writes of one sid can meet in InnoDB's key locks) is retried, since the losing statement was
   * rolled back whole.
   */
  async #run<T>(sql: string, values: unknown[] | undefined, op: Operation): Promise<T> {
    if (this.#client.queued >= this.#queueLimit) {
      throw this.error(
        'EBACKEND',
        `${op.name}: ${this.#client.queued} statements already wait for a connection (queueLimit)`,
        op.name,
      )
    }
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await this.#client.run(sql, values, op)
        this.setConnected(true)
        return result as T
      } catch (err) {
        // mysql2's own statement timeout: the same deadline as core's, reported the same way.
        if ((err as { code?: unknown } | null)?.code === 'PROTOCOL_SEQUENCE_TIMEOUT') {
          throw this.error('ETIMEOUT', `${op.name} timed out after ${this.timeout} ms`, op.name, err)
        }
        if (isUnreachable(err)) {
          this.setConnected(false, err as Error)
          // mysql2 gives up on a connection attempt that began before this statement (an
          // earlier statement's, or a health-check ping's), so its timeout can come before the
          // store's: it is the same outcome, and callers see one code for a stalled server.
          if ((err as { code?: unknown }).code === 'ETIMEDOUT') {
            throw this.error(
              'ETIMEOUT',
              `no answer from the server: ${(err as Error).message}`,
              undefined,
              err,
            )
          }
          throw err
        }
        // Only the server's own answer (an error packet carries an SQLSTATE) proves it is
        // reachable; mysql2's client-side errors ("Pool is closed.", a full queue) do not.
        if (typeof (err as { sqlState?: unknown }).sqlState === 'string') this.setConnected(true)
        if (!isDeadlock(err) || attempt >= DEADLOCK_ATTEMPTS) throw err
      }
    }
  }

  /** Live rows under the prefix, a page at a time, by keyset pagination on the primary key. */
  async *#pages(first: string, next: string, op: Operation): AsyncIterable<Row[]> {
    const { from, to, pattern } = this.#selection
    let after: string | undefined
    while (true) {
      const rows = await this.#query<Row[]>(
        after === undefined ? first : next,
        [after ?? from, to, pattern, Date.now()],
        op,
      )
      if (rows.length > 0) yield rows
      if (rows.length < PAGE_SIZE) return
      after = rows[rows.length - 1]![0] as string
    }
  }

  async #prune(): Promise<number> {
    let deleted = 0
    while (!this.closed) {
      // Each batch under the store's deadline: a stalled server must not hold prune(), nor
      // close(), which waits for a prune in flight, forever.
      const { affectedRows } = await this.withDeadline('prune', (op) =>
        this.#query(this.#sql.prune, [Date.now()], op),
      )
      deleted += affectedRows
      if (affectedRows < PRUNE_BATCH) break
    }
    return deleted
  }

  #schedulePrune(): void {
    if (this.#pruneInterval === 0 || this.closed) return
    const delay = Math.round(this.#pruneInterval * (0.75 + Math.random() * 0.5))
    this.#pruneTimer = setTimeout(() => {
      this.prune()
        .catch((err: Error) => {
          if (!this.closed) this.reportError(err)
        })
        .finally(() => this.#schedulePrune())
    }, delay)
    this.#pruneTimer.unref()
  }
}

/** Every statement the store runs, built once from the quoted table and column names. */
function statements(table: string, c: { id: string; expires: string; data: string; fullId: string }) {
  // Parameters: the lower bound (or the last id of the previous page), the upper bound, the
  // LIKE pattern, now.
  const live = (lower: '>=' | '>') =>
    `${c.id} ${lower} ? AND ${c.id} < ? AND CAST(${c.id} AS BINARY) LIKE ? ESCAPE '!' AND ${c.expires} > ?`
  const page = (columns: string, after: boolean) =>
    `SELECT ${columns} FROM ${table} WHERE ${live(after ? '>' : '>=')} ORDER BY ${c.id} LIMIT ${PAGE_SIZE}`
  const keyColumns = `${c.id}, ${c.fullId}`
  return {
    createTable: `CREATE TABLE IF NOT EXISTS ${table} (
  ${c.id} VARCHAR(${ID_LENGTH}) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  ${c.expires} BIGINT NOT NULL,
  ${c.data} MEDIUMTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  ${c.fullId} TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
  PRIMARY KEY (${c.id}),
  KEY ${quote(`${c.expires.slice(1, -1).slice(0, 58)}_index`)} (${c.expires})
) ENGINE=InnoDB`,
    read: `SELECT ${c.data} FROM ${table} WHERE ${c.id} = ? AND ${c.expires} > ?`,
    // VALUES() is the upsert syntax both servers accept; MySQL 8.0.20+ deprecates it in favour
    // of a row alias that MariaDB lacks, with a warning only. It keeps the data off the wire
    // a second time, which matters for values near max_allowed_packet.
    write: `INSERT INTO ${table} (${c.id}, ${c.expires}, ${c.data}, ${c.fullId}) VALUES (?, ?, ?, ?)
  ON DUPLICATE KEY UPDATE ${c.expires} = VALUES(${c.expires}), ${c.data} = VALUES(${c.data})`,
    remove: `DELETE FROM ${table} WHERE ${c.id} = ?`,
    expire: `UPDATE ${table} SET ${c.expires} = ? WHERE ${c.id} = ? AND ${c.expires} > ?`,
    scanFirst: page(keyColumns, false),
    scanNext: page(keyColumns, true),
    entriesFirst: page(`${keyColumns}, ${c.data}`, false),
    entriesNext: page(`${keyColumns}, ${c.data}`, true),
    count: `SELECT COUNT(*) FROM ${table} WHERE ${live('>=')}`,
    removeMany: `DELETE FROM ${table} WHERE ${c.id} IN (${Array(PAGE_SIZE).fill('?').join(', ')})`,
    // Ordered by the index (InnoDB appends the primary key to it) so the range scan on
    // `expires` is the plan and the rows deleted are deterministic, as replication wants.
    prune: `DELETE FROM ${table} WHERE ${c.expires} < ? ORDER BY ${c.expires}, ${c.id} LIMIT ${PRUNE_BATCH}`,
  }
}

function quote(identifier: string): string {
  return `\`${identifier}\``
}

function expiresAt(ttlMs: number): number {
  return Math.min(Date.now() + Math.ceil(ttlMs), FAR_FUTURE)
}

function isClient(value: unknown): value is MySQLPool {
  return (
    value !== null && typeof value === 'object' && typeof (value as CallbackClient).execute === 'function'
  )
}

/**
 * Statements run on the callback flavour underneath any pool or connection: mysql2's promise
 * flavour captures a stack trace for every statement, which cost a third of a fast read here.
 * A promise pool keeps its callback pool in `pool`, a promise connection in `connection`.
 */
/** The callback flavour under any flavour of mysql2 pool or connection. */
function callbackFlavour(given: MySQLPool): CallbackClient {
  const wrapped = given as unknown as { pool?: CallbackClient; connection?: CallbackClient }
  return typeof (given as { promise?: unknown }).promise === 'function'
    ? (given as unknown as CallbackClient)
    : (wrapped.pool ?? wrapped.connection ?? (given as unknown as CallbackClient))
}

/**
 * Statements under the store's deadline: mysql2's quirks there, in one place.
 * - A pool keeps a statement waiting for a free connection with no timer of its own. One whose
 *   caller timed out meanwhile is dropped when its connection comes (which goes straight back),
 *   so a write reported as failed for want of a connection never lands later.
 * - A statement gets the time its caller still waits as mysql2's `timeout`. At that timeout
 *   mysql2 calls back, but leaves the statement on its connection, which would run the next
 *   statement only once the server answered the old one: such a connection is destroyed (the
 *   pool opens another). The statement itself may still have run on the server, so a write that
 *   timed out has an unknown outcome, as on any network.
 */
function toClient(given: MySQLPool): Client {
  const client = callbackFlavour(given)
  let queued = 0
  const runOn = (
    target: CallbackClient,
    sql: string,
    values: unknown[] | undefined,
    op: Operation,
    done: (err: Error | null, result?: unknown) => void,
  ) => {
    const remaining = op.remaining()
    const timeout = Number.isFinite(remaining) ? remaining : undefined
    if (values === undefined) target.query({ sql, timeout }, done)
    else target.execute({ sql, rowsAsArray: true, timeout }, values, done)
  }
  return {
    get queued() {
      return queued
    },
    run: (sql, values, op) =>
      new Promise((resolve, reject) => {
        const done = (err: Error | null, result?: unknown) => (err ? reject(err) : resolve(result))
        const { getConnection } = client
        // A single connection, rather than a pool, runs the statement itself.
        if (typeof getConnection !== 'function') return runOn(client, sql, values, op, done)
        queued++
        getConnection.call(client, (err, connection) => {
          queued--
          if (err || connection === undefined) return done(err ?? new Error('the pool gave no connection'))
          if (op.expired) {
            connection.release()
            return done(new Error(`${op.name}: not sent, the caller stopped waiting for a connection`))
          }
          runOn(connection, sql, values, op, (failure, result) => {
            if ((failure as { code?: unknown } | null)?.code === 'PROTOCOL_SEQUENCE_TIMEOUT')
              connection.destroy()
            else connection.release()
            done(failure, result)
          })
        })
      }),
    end: () =>
      new Promise<void>((resolve, reject) => void client.end((err) => (err ? reject(err) : resolve()))),
  }
}
