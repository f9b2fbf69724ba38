import { createRequire } from 'node:module'
import type { DatabaseSync, SQLOutputValue, StatementSync } from 'node:sqlite'
import { setImmediate as nextTurn } from 'node:timers/promises'
import {
  BaseStore,
  type BaseStoreOptions,
  type ExpressSessionData,
  type Operation,
} from '@session-store/core'
import type { Uninferred } from '@session-store/core/internal'

/** Options of {@link SQLiteStore}, besides everything {@link BaseStoreOptions} offers. */
export interface SQLiteStoreOptions<S extends object = ExpressSessionData> extends BaseStoreOptions<S> {
  /**
   * The table holding the sessions, optionally qualified by the name of an attached database
   * (`main.sessions`). Letters, digits and `_` only, not starting with `sqlite_`; it is quoted
   * in every statement.
   * @default 'sessions'
   */
  table?: string
  /**
   * Create the table (and its index on `expires`) when it is missing, once, before the first
   * operation. Turn it off when the schema is migrated by hand; the README gives the statements.
   * @default true
   */
  createTable?: boolean
  /**
   * How often expired rows are deleted, in ms, give or take a quarter so that processes started
   * together do not prune together. The timer is unref'd: it never keeps the process alive.
   * `0` or `false` turns pruning off (expired rows still read as absent); `prune()` runs it on
   * demand.
   * @default 900000 (15 minutes)
   */
  pruneInterval?: number | false
  /**
   * Close the database in `close()`.
   * @default true when the store opened the database from a path, false for a DatabaseSync passed in
   */
  closeDatabaseOnClose?: boolean
}

// ---------------------------------------------------------------------------------------------
// How the store keeps the event loop responsive. node:sqlite is synchronous: every statement
// runs to its end on the main thread, and nothing else in the process runs meanwhile. So:
// - every statement the store runs touches a bounded number of rows: one for get, set, touch and
//   destroy (a primary-key lookup, well under 0.1 ms for an ordinary session), at most
//   PAGE_SIZE for a page of enumeration or a batch of clear(), at most PRUNE_BATCH for a batch of
//   pruning (each one commit of its own, a few ms at most);
// - between two pages or batches the store waits for the next turn of the event loop
//   (setImmediate), so timers, sockets and other requests run between them: a clear() or a prune
//   of 100 000 rows is 100s of short steps, never one long statement. length() counts in pages too;
// - a database locked by another connection is waited for without blocking: SQLite's own busy
//   handler waits at most BUSY_SLICE_MS in a statement (short enough not to matter, long enough for
//   the usual sub-millisecond commit of another process to end), and past that the operation
//   waits on a timer and tries again (see the lock wait queue below), until its deadline.
// What stays synchronous is the size of a session: writing or reading a 1 MB session costs a few
// ms of the main thread, as its JSON.stringify and JSON.parse do anyway. The README has the
// measurements (bench/src/event-loop.js).

/** Rows per page of an enumeration, and ids deleted per statement by `clear()`. */
const PAGE_SIZE = 500

/** Rows deleted per prune statement: one short commit that holds the write lock briefly. */
const PRUNE_BATCH = 500

/** Rows counted per statement by `length()`. */
const COUNT_PAGE = 5000

/** The `expires` of a session stored with ttl disabled: beyond any real date, still exact. */
const FAR_FUTURE = Number.MAX_SAFE_INTEGER

/** The most SQLite's busy handler may block the main thread in one statement, in ms. */
const BUSY_SLICE_MS = 10

/** The longest wait between two attempts on a locked database, in ms. */
const RETRY_MAX_MS = 20

/** An operation still locked out this close to its deadline (in ms) gives up with ETIMEOUT. */
const GIVE_UP_MS = 5

/**
 * SQLITE_MAX_LENGTH, the most bytes a row may hold (SQLite's default, which node:sqlite keeps),
 * less room for the key and the expiry.
 */
const MAX_VALUE_BYTES = 1_000_000_000 - 1024 * 1024

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/

/** The statements the store runs, prepared once. */
interface Statements {
  read: StatementSync
  write: StatementSync
  remove: StatementSync
  expire: StatementSync
  scan: StatementSync
  entries: StatementSync
  countPage: StatementSync
  removeMany: StatementSync
  prune: StatementSync
  ping: StatementSync
}

/** An operation waiting for another connection to release its lock on the database. */
interface Waiter {
  op: Operation
  work: () => unknown
  resolve(value: unknown): void
  reject(reason: unknown): void
}

/** Whether statements may read or also write: writers wait in order, readers do not wait for writers. */
type Access = 'read' | 'write'

/** node:sqlite, loaded on first use so that an older Node fails with a clear error, not at import. */
let sqlite: typeof import('node:sqlite') | undefined

function loadSqlite(): typeof import('node:sqlite') | undefined {
  try {
    sqlite ??= createRequire(import.meta.url)('node:sqlite') as typeof import('node:sqlite')
  } catch {
    // Node before 22.5 has no node:sqlite; 22.5 to 22.12 have it behind --experimental-sqlite.
  }
  return sqlite
}

/**
 * SQLITE_BUSY and SQLITE_LOCKED, with any extended code: another connection holds a lock the
 * statement needs. The statement did nothing and may be run again.
 */
function isLocked(err: unknown): boolean {
  const code = (err as { errcode?: unknown } | null)?.errcode
  return typeof code === 'number' && ((code & 0xff) === 5 || (code & 0xff) === 6)
}

/**
 * A session store on SQLite through Node's built-in node:sqlite: one row per session in a table
 * it creates when missing, expiry checked on every read, expired rows pruned in the background.
 * Several processes of one machine can share the file: the store puts it in WAL mode, so readers
 * never wait for a writer, and waits for the lock of a writer in another process without
 * blocking its own event loop.
 *
 * ```ts
 * app.use(session({ store: new SQLiteStore('./sessions.db'), secret }))
 * ```
 */
export class SQLiteStore<S extends object = ExpressSessionData> extends BaseStore<S> {
  readonly #db: DatabaseSync
  readonly #closeDatabase: boolean
  readonly #createTable: boolean
  readonly #pruneInterval: number
  readonly #table: string
  readonly #indexName: string
  /** Above every key under the prefix: the prefix with its last character raised by one, or a BLOB. */
  readonly #upper: string | Uint8Array
  #sql: Statements | undefined
  #ready: Promise<void> | undefined
  #pruneTimer: NodeJS.Timeout | undefined
  #pruning: Promise<number> | undefined
  /** Writers waiting for the lock, in the order they were issued. */
  #writers: Waiter[] = []
  /** Readers waiting for the lock (only while another connection holds it exclusively). */
  #readers: Waiter[] = []
  #retryTimer: NodeJS.Timeout | undefined
  #retryDelay = 0

  /**
   * @param database A file path (the store opens it, and closes it on close), `':memory:'` for a
   *   database of this process alone, or a `DatabaseSync` of node:sqlite, which the store uses and
   *   leaves open on close unless `closeDatabaseOnClose`.
   * @param options The store's options.
   */
  constructor(database: string | DatabaseSync, options: SQLiteStoreOptions<Uninferred<S>> = {}) {
    super(
      {
        packageName: '@session-store/sqlite',
        backend: 'sqlite',
        capabilities: { ttlGranularityMs: 1, maxValueBytes: MAX_VALUE_BYTES },
        options: ['table', 'createTable', 'pruneInterval', 'closeDatabaseOnClose'],
      },
      options,
    )
    const { table = 'sessions', createTable = true, pruneInterval = 900_000 } = options
    if (!this.prefix.isWellFormed()) {
      throw this.error('EOPTIONS', `prefix must be well-formed text, got ${JSON.stringify(this.prefix)}`)
    }
    const parts = typeof table === 'string' ? table.split('.') : []
    if (
      parts.length < 1 ||
      parts.length > 2 ||
      !parts.every((part) => IDENTIFIER.test(part)) ||
      parts.at(-1)!.toLowerCase().startsWith('sqlite_')
    ) {
      throw this.error(
        'EOPTIONS',
        `table must be a name like sessions or main.sessions, got ${String(table)}`,
      )
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
    for (const flag of ['createTable', 'closeDatabaseOnClose'] as const) {
      if (options[flag] !== undefined && typeof options[flag] !== 'boolean') {
        throw this.error('EOPTIONS', `${flag} must be a boolean, got ${typeof options[flag]}`)
      }
    }
    this.#createTable = createTable
    this.#pruneInterval = pruneInterval === false ? 0 : pruneInterval
    const name = parts.at(-1)!
    const schema = parts.length === 2 ? `${quote(parts[0]!)}.` : ''
    this.#table = `${schema}${quote(name)}`
    this.#indexName = `${schema}${quote(`${name}_expires`)}`
    this.#upper = upperBound(this.prefix)

    const owned = typeof database === 'string'
    this.#db = owned ? this.#open(database) : this.#given(database)
    this.#closeDatabase = options.closeDatabaseOnClose ?? owned
    this.#setBusyTimeout(BUSY_SLICE_MS)
    this.#schedulePrune()
  }

  /**
   * Deletes expired rows now, in batches, and resolves how many it deleted. Rows of every prefix
   * in the table go: an expired session is nobody's. The background timer calls it.
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

  protected read(key: string, op: Operation): Promise<string | null> {
    return this.#run('read', op, (sql) => (sql.read.get(key, Date.now())?.data as string | undefined) ?? null)
  }

  protected write(key: string, value: string, ttlMs: number, op: Operation): Promise<void> {
    return this.#run('write', op, (sql) => {
      sql.write.run(key, expiresAt(ttlMs), value)
    })
  }

  protected remove(key: string, op: Operation): Promise<void> {
    return this.#run('write', op, (sql) => {
      sql.remove.run(key)
    })
  }

  protected expire(key: string, ttlMs: number, op: Operation): Promise<void> {
    // `expires > now` in the statement itself: a row that expired meanwhile stays expired.
    return this.#run('write', op, (sql) => {
      sql.expire.run(expiresAt(ttlMs), key, Date.now())
    })
  }

  protected override async *scan(op: Operation): AsyncIterable<string[]> {
    for await (const rows of this.#pages('scan', op)) yield rows.map((row) => row.id)
  }

  protected override async *scanEntries(op: Operation): AsyncIterable<Array<[key: string, value: string]>> {
    for await (const rows of this.#pages('entries', op)) yield rows.map((row) => [row.id, row.data as string])
  }

  protected override async count(op: Operation): Promise<number> {
    // In pages of COUNT_PAGE keys, each from where the last ended: one statement over 100 000
    // rows would hold the main thread for tens of ms.
    let total = 0
    let after = this.prefix
    while (true) {
      const page = await this.#run(
        'read',
        op,
        (sql) => sql.countPage.get(after, this.#upper, Date.now()) as { n: number; last: string | null },
      )
      total += page.n
      if (page.n < COUNT_PAGE || page.last === null) return total
      after = page.last
      await nextTurn()
    }
  }

  protected override removeMany(keys: string[], op: Operation): Promise<void> {
    return this.#run('write', op, (sql) => {
      for (let start = 0; start < keys.length; start += PAGE_SIZE) {
        const batch = keys.slice(start, start + PAGE_SIZE)
        // Always PAGE_SIZE parameters, the last key repeated, so one prepared statement serves
        // every batch.
        while (batch.length < PAGE_SIZE) batch.push(batch[batch.length - 1]!)
        sql.removeMany.run(...batch)
      }
    })
  }

  protected override async shutdown(): Promise<void> {
    clearTimeout(this.#pruneTimer)
    clearTimeout(this.#retryTimer)
    this.#retryTimer = undefined
    const waiting = [...this.#writers, ...this.#readers]
    this.#writers = []
    this.#readers = []
    for (const waiter of waiting) {
      waiter.reject(
        this.error(
          'ECLOSED',
          `${waiter.op.name}: the store was closed while the database was locked`,
          waiter.op.name,
        ),
      )
    }
    if (!this.#closeDatabase) return
    // Closing checkpoints the WAL when no other connection uses the file; it must not wait for
    // another process' lock.
    this.#setBusyTimeout(0)
    this.#db.close()
  }

  /** One read of the database file (its schema version): does it answer, or is it locked? */
  protected override ping(op: Operation): Promise<void> {
    // Not through #run: a ping needs no table, and must not wait for the schema to be set up.
    return this.#execute('read', op, () => this.#readHeader())
  }

  // ---------------------------------------------------------------------------------------
  // The machinery.

  #open(path: string): DatabaseSync {
    if (path === '') {
      throw this.error('EOPTIONS', "expected a file path or ':memory:', got an empty string")
    }
    const module = loadSqlite()
    if (module === undefined) {
      throw this.error(
        'EOPTIONS',
        `node:sqlite is not available in Node ${process.version}; @session-store/sqlite needs Node 22.13 or later`,
      )
    }
    try {
      return new module.DatabaseSync(path)
    } catch (cause) {
      throw this.error('EOPTIONS', `cannot open the database ${path}: ${String(cause)}`, undefined, cause)
    }
  }

  #given(database: unknown): DatabaseSync {
    const candidate = database as Partial<DatabaseSync> | null
    if (
      candidate === null ||
      typeof candidate !== 'object' ||
      typeof candidate.prepare !== 'function' ||
      typeof candidate.exec !== 'function'
    ) {
      throw this.error(
        'EOPTIONS',
        `expected a file path, ':memory:' or a DatabaseSync of node:sqlite, got ${candidate === null ? 'null' : typeof candidate}`,
      )
    }
    // `isOpen` exists from Node 22.15 on; before, a closed database fails its first statement.
    if (candidate.isOpen === false) throw this.error('EOPTIONS', 'the DatabaseSync passed in is closed')
    return candidate as DatabaseSync
  }

  /** The connection's busy timeout: SQLite's own wait, inside a statement, on the main thread. */
  #setBusyTimeout(ms: number): void {
    this.#db.exec(`PRAGMA busy_timeout = ${ms}`)
  }

  /**
   * Runs `work` on the prepared statements once the schema is there. The first operation sets
   * the database up; the ones that arrive meanwhile wait for the same attempt, and a failed one
   * (the file locked, say) is tried again by the next operation.
   */
  #run<T>(access: Access, op: Operation, work: (sql: Statements) => T): Promise<T> {
    const sql = this.#sql
    if (sql !== undefined) return this.#execute(access, op, () => work(sql))
    this.#ready ??= this.#execute('write', op, () => this.#setUp()).then(
      () => undefined,
      (err: unknown) => {
        this.#ready = undefined
        throw err
      },
    )
    return this.#ready.then(() => this.#execute(access, op, () => work(this.#sql!)))
  }

  /**
   * WAL mode (readers never wait for a writer, a writer waits only for another writer), the
   * table and its index, and every statement prepared. Run again after a failure; every step is
   * idempotent.
   */
  #setUp(): void {
    const mode = (
      this.#db.prepare('PRAGMA journal_mode = WAL').get() as { journal_mode?: string } | undefined
    )?.journal_mode
    // ':memory:' stays 'memory'; a file that cannot do WAL (some network file systems) keeps its
    // mode, and then a writer blocks readers: say so once.
    if (mode !== 'wal' && mode !== 'memory') {
      this.emit(
        'warning',
        this.error(
          'EBACKEND',
          `the database stays in journal_mode ${String(mode)}, not WAL: readers wait for writers`,
        ),
      )
    }
    if (this.#closeDatabase) {
      // Durable across a crash of the process, not of the machine; in WAL mode, commits then
      // write the log without an fsync each. Only for a connection the store opened itself.
      this.#db.exec('PRAGMA synchronous = NORMAL')
    }
    if (this.#createTable) {
      // STRICT refuses values of the wrong type; WITHOUT ROWID keeps the row in the primary
      // key's tree, one lookup per read instead of two.
      this.#db.exec(`CREATE TABLE IF NOT EXISTS ${this.#table} (
  id TEXT PRIMARY KEY NOT NULL,
  expires INTEGER NOT NULL,
  data TEXT NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ${this.#indexName} ON ${this.#table.split('.').at(-1)} (expires);`)
    }
    this.#sql = prepare(this.#db, this.#table)
  }

  /**
   * Runs a statement, and waits for the lock when another connection holds it. The lock wait
   * queue, in one place:
   * - a statement first runs at once; SQLite's busy handler waits up to BUSY_SLICE_MS for a lock;
   * - one still locked out joins the queue: writers in issue order (so a later write never lands
   *   before an earlier one), readers apart (in WAL mode a reader waits only for a connection that
   *   holds the file exclusively). While anything waits, the busy handler is off (0 ms), and one
   *   timer, backing off from 1 to RETRY_MAX_MS, tries the queue again: readers all, writers from
   *   the head until one is still locked out. New writers queue behind waiting ones;
   * - an operation still locked out GIVE_UP_MS before its deadline rejects with ETIMEOUT, with
   *   SQLite's error as the cause; one whose deadline passed meanwhile is dropped unrun, so a write
   *   reported as failed never lands later.
   * The main thread is never blocked for longer than one slice, however long the lock is held.
   */
  #execute<T>(access: Access, op: Operation, work: () => T): Promise<T> {
    if (access === 'read' || this.#writers.length === 0) {
      try {
        const result = work()
        this.setConnected(true)
        return Promise.resolve(result)
      } catch (err) {
        if (!isLocked(err)) return Promise.reject(err)
      }
    }
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter = { op, work, resolve: resolve as (value: unknown) => void, reject }
      ;(access === 'write' ? this.#writers : this.#readers).push(waiter)
      if (this.#retryTimer === undefined) {
        this.#setBusyTimeout(0)
        this.#retryDelay = 0
        this.#armRetry()
      }
    })
  }

  #armRetry(): void {
    this.#retryDelay = Math.min(RETRY_MAX_MS, Math.max(1, this.#retryDelay * 2))
    let delay = this.#retryDelay
    for (const { op } of [...this.#readers, ...this.#writers]) {
      delay = Math.min(delay, op.remaining() - GIVE_UP_MS)
    }
    // Unref'd: a waiting operation's deadline keeps the process alive, this timer need not.
    this.#retryTimer = setTimeout(this.#retry, Math.max(1, delay))
    this.#retryTimer.unref()
  }

  readonly #retry = (): void => {
    this.#retryTimer = undefined
    let lockedOut: unknown
    this.#readers = this.#readers.filter((waiter) => {
      const outcome = this.#attempt(waiter)
      if (outcome !== true) lockedOut = outcome
      return outcome !== true
    })
    while (this.#writers.length > 0) {
      const outcome = this.#attempt(this.#writers[0]!)
      if (outcome !== true) {
        lockedOut = outcome
        break
      }
      this.#writers.shift()
    }
    // The writers behind the head are locked out as the head is.
    this.#writers = this.#writers.filter((waiter, index) => index === 0 || !this.#gaveUp(waiter, lockedOut))
    if (this.#writers.length + this.#readers.length > 0) this.#armRetry()
    else if (!this.closed) this.#setBusyTimeout(BUSY_SLICE_MS)
  }

  /** Runs a waiting operation: true when it is done with (settled or dropped), else SQLite's lock error. */
  #attempt(waiter: Waiter): true | unknown {
    if (waiter.op.settled) return true
    try {
      waiter.resolve(waiter.work())
      this.setConnected(true)
      return true
    } catch (err) {
      if (!isLocked(err)) {
        waiter.reject(err)
        return true
      }
      return this.#gaveUp(waiter, err) ? true : err
    }
  }

  /** Rejects a waiter whose deadline is about to pass, and says whether it did. */
  #gaveUp(waiter: Waiter, cause: unknown): boolean {
    if (waiter.op.settled) return true
    if (waiter.op.remaining() > GIVE_UP_MS) return false
    const { name } = waiter.op
    waiter.reject(
      this.error(
        'ETIMEOUT',
        `${name} timed out after ${this.timeout} ms: another connection held a lock on the database (${String((cause as Error | undefined)?.message ?? cause)})`,
        name,
        cause,
      ),
    )
    this.#checkReachable()
    return true
  }

  /**
   * After an operation gave up on a lock: can the file still be read? In WAL mode only a
   * connection holding it exclusively (`locking_mode = EXCLUSIVE`, or a crashed writer's log
   * being recovered) stops readers; that is an outage, a writer's lock is not.
   */
  #checkReachable(): void {
    if (!this.connected) return
    try {
      this.#readHeader()
    } catch (err) {
      if (isLocked(err)) {
        this.setConnected(
          false,
          this.error('EBACKEND', `the database file is locked: ${String(err)}`, 'ping', err),
        )
      }
    }
  }

  /** Reads the schema version from the file's header, under a read lock like any query. */
  #readHeader(): void {
    ;(this.#sql?.ping ?? this.#db.prepare('PRAGMA schema_version')).get()
  }

  /** Live rows under the prefix, a page at a time, by keyset pagination on the primary key. */
  async *#pages(statement: 'scan' | 'entries', op: Operation): AsyncIterable<Row[]> {
    let after = this.prefix
    while (true) {
      const rows = await this.#run(
        'read',
        op,
        (sql) => sql[statement].all(after, this.#upper, Date.now()) as Row[],
      )
      if (rows.length > 0) yield rows
      if (rows.length < PAGE_SIZE) return
      after = rows[rows.length - 1]!.id
      await nextTurn()
    }
  }

  async #prune(): Promise<number> {
    let deleted = 0
    while (!this.closed) {
      // Each batch under the store's deadline, a turn of the event loop between two.
      const { changes } = await this.withDeadline('prune', (op) =>
        this.#run('write', op, (sql) => sql.prune.run(Date.now())),
      )
      deleted += Number(changes)
      if (Number(changes) < PRUNE_BATCH) break
      await nextTurn()
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

/** A row as the page statements return it: its id, and its data for `entries`. */
type Row = Record<string, SQLOutputValue> & { id: string }

/** Every statement the store runs, prepared once on the quoted table name. */
function prepare(db: DatabaseSync, table: string): Statements {
  // Parameters of a page: the last id of the previous page (the prefix itself at first, which
  // no key equals: sids are never empty), the upper bound, now.
  const live = 'id > ? AND id < ? AND expires > ?'
  const page = (columns: string) =>
    `SELECT ${columns} FROM ${table} WHERE ${live} ORDER BY id LIMIT ${PAGE_SIZE}`
  return {
    read: db.prepare(`SELECT data FROM ${table} WHERE id = ? AND expires > ?`),
    write: db.prepare(`INSERT INTO ${table} (id, expires, data) VALUES (?, ?, ?)
  ON CONFLICT (id) DO UPDATE SET expires = excluded.expires, data = excluded.data`),
    remove: db.prepare(`DELETE FROM ${table} WHERE id = ?`),
    expire: db.prepare(`UPDATE ${table} SET expires = ? WHERE id = ? AND expires > ?`),
    scan: db.prepare(page('id')),
    entries: db.prepare(page('id, data')),
    countPage: db.prepare(
      `SELECT count(*) AS n, max(id) AS last FROM (SELECT id FROM ${table} WHERE ${live} ORDER BY id LIMIT ${COUNT_PAGE})`,
    ),
    removeMany: db.prepare(`DELETE FROM ${table} WHERE id IN (${Array(PAGE_SIZE).fill('?').join(', ')})`),
    // Oldest first by the index on expires; a subquery, since DELETE … LIMIT needs a build
    // option that node:sqlite's SQLite lacks.
    prune: db.prepare(
      `DELETE FROM ${table} WHERE id IN (SELECT id FROM ${table} WHERE expires <= ? ORDER BY expires LIMIT ${PRUNE_BATCH})`,
    ),
    ping: db.prepare('PRAGMA schema_version'),
  }
}

/**
 * Above every key that starts with the prefix, in SQLite's BINARY order (the bytes of UTF-8, so
 * code point order): the prefix with its last code point raised by one. With none to raise (an
 * empty prefix, or one of U+10FFFF only), a BLOB, which sorts above every TEXT.
 */
function upperBound(prefix: string): string | Uint8Array {
  const codePoints = Array.from(prefix, (char) => char.codePointAt(0)!)
  while (codePoints.length > 0) {
    let last = codePoints.pop()! + 1
    if (last === 0xd800) last = 0xe000 // surrogates are no characters in UTF-8
    if (last <= 0x10ffff) return String.fromCodePoint(...codePoints, last)
  }
  return new Uint8Array(0)
}

function quote(identifier: string): string {
  return `"${identifier}"`
}

function expiresAt(ttlMs: number): number {
  return Math.min(Date.now() + Math.ceil(ttlMs), FAR_FUTURE)
}
