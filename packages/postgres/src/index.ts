import { createHash } from 'node:crypto'
import {
  BaseStore,
  type BaseStoreOptions,
  type ExpressSessionData,
  type Operation,
} from '@session-store/core'
import { settleWithin, type Uninferred } from '@session-store/core/internal'
import pg from 'pg'

/** What the store runs its statements on: a `pg.Pool` (the usual case) or one `pg.Client`. */
export type PostgresClient = pg.Pool | pg.Client

/** Options of {@link PostgresStore}, besides everything {@link BaseStoreOptions} offers. */
export interface PostgresStoreOptions<S extends object = ExpressSessionData> extends BaseStoreOptions<S> {
  /**
   * The schema of the table. Letters, digits, `_` and `$`, not starting with a digit; it is
   * double-quoted in every statement (so it is case-sensitive).
   * @default 'public'
   */
  schema?: string
  /**
   * The table holding the sessions, named like `schema`.
   * @default 'sessions'
   */
  table?: string
  /**
   * Create the table and its index on `expires` when they are missing, once, before the first
   * operation. Turn it off when the schema is migrated by hand; the README gives the statements.
   * @default true
   */
  createTable?: boolean
  /**
   * How often expired rows are deleted, in ms, give or take a quarter so that instances
   * started together do not prune together (several may prune at once: each batch skips the
   * rows another one holds). The timer is unref'd. `0` or `false` turns pruning off (expired
   * rows still read as absent); `prune()` runs it on demand.
   * @default 900000 (15 minutes)
   */
  pruneInterval?: number | false
  /**
   * End the pool (or client) in `close()`.
   * @default true when the store created the pool from a URL, false for a pool or client passed in
   */
  endPoolOnClose?: boolean
}

/** Rows read per page of an enumeration, and ids deleted per statement by `clear()`. */
const PAGE_SIZE = 100

/** Rows deleted per prune statement, so a large backlog never holds long locks. */
const PRUNE_BATCH = 1000

/** The `expires` of a session stored with ttl disabled: beyond any real date, still exact in bigint. */
const FAR_FUTURE = Number.MAX_SAFE_INTEGER

/** SQLSTATEs of a concurrent `CREATE … IF NOT EXISTS` that lost the race: the object exists. */
const ALREADY_CREATED = new Set(['42P07', '23505'])

/** A schema or table name we accept, and quote. */
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/

/**
 * PostgreSQL's one key quirk, in one place: `text` cannot hold U+0000. Core already refuses
 * sids that are not well-formed UTF-16, so NUL is the only character left that the column
 * cannot store. A key whose sid contains one (or starts with the escape mark, so that the two
 * forms never meet) is stored as the prefix, the mark and the sid's UTF-8 in base64url; every
 * other key as it is. Both keep the prefix in front, so a search by prefix finds them.
 */
const ESCAPE_MARK = '\u0001'

/**
 * Server-side sessions in PostgreSQL, on `pg` (node-postgres): one row per session, keyed by
 * prefix + sid, with its expiry (ms since the epoch, indexed) and the encoded session as text.
 * Reads and touches filter on the expiry, so an expired row is never served nor revived, and
 * expired rows are pruned in batches on an unref'd timer. Every statement is one round trip,
 * carries the store's deadline to the driver (`query_timeout`), and is a named prepared
 * statement, parsed once per connection.
 */
export class PostgresStore<S extends object = ExpressSessionData> extends BaseStore<S> {
  /** The pool or client the store runs its statements on. */
  readonly client: PostgresClient
  readonly #sql: ReturnType<typeof statements>
  readonly #createTable: boolean
  readonly #pruneInterval: number
  readonly #endPoolOnClose: boolean
  readonly #range: { from: string; to: string | null }
  #ready: Promise<void> | undefined
  #pruneTimer: NodeJS.Timeout | undefined
  #pruning: Promise<number> | undefined

  /**
   * @param target a `pg.Pool` or `pg.Client` (the store leaves it open on close), or a
   *   connection string (the store creates a pool, and ends it on close)
   */
  constructor(target: PostgresClient | string, options: Uninferred<PostgresStoreOptions<S>> = {}) {
    super(
      {
        packageName: '@session-store/postgres',
        backend: 'postgres',
        // Expiry in ms; a text value has no practical limit (1 GB), keep sessions sane.
        capabilities: { ttlGranularityMs: 1, maxValueBytes: 64 * 1024 * 1024 },
        options: ['schema', 'table', 'createTable', 'pruneInterval', 'endPoolOnClose'],
      },
      options,
    )
    const fail = (message: string): never => {
      throw this.error('EOPTIONS', message)
    }
    const { schema = 'public', table = 'sessions', createTable = true, pruneInterval = 900_000 } = options
    for (const [name, value] of [
      ['schema', schema],
      ['table', table],
    ] as const) {
      if (typeof value !== 'string' || !IDENTIFIER.test(value)) {
        fail(`${name} must be letters, digits, _ or $ (not starting with a digit), got ${String(value)}`)
      }
    }
    if (typeof createTable !== 'boolean') fail(`createTable must be a boolean, got ${typeof createTable}`)
    if (
      !(
        pruneInterval === false ||
        (typeof pruneInterval === 'number' && pruneInterval >= 0 && pruneInterval < 2 ** 31)
      )
    ) {
      fail(`pruneInterval must be a number of ms >= 0, or false, got ${String(pruneInterval)}`)
    }
    let owned = false
    if (typeof target === 'string') {
      if (!/^postgres(ql)?:\/\//.test(target)) fail('the connection string must start with postgres://')
      // Our own pool: the server cancels a statement that outlives the store's deadline, and a
      // wait for a connection is bounded too.
      this.client = new pg.Pool({
        connectionString: target,
        statement_timeout: this.timeout,
        connectionTimeoutMillis: this.timeout,
      })
      owned = true
    } else if (target instanceof pg.Pool || target instanceof pg.Client || isQueryable(target)) {
      this.client = target
    } else {
      this.client = fail('expected a pg.Pool, a pg.Client or a postgres:// connection string')
    }
    if (options.endPoolOnClose !== undefined && typeof options.endPoolOnClose !== 'boolean') {
      fail(`endPoolOnClose must be a boolean, got ${typeof options.endPoolOnClose}`)
    }
    this.#endPoolOnClose = options.endPoolOnClose ?? owned
    this.#createTable = createTable
    this.#pruneInterval = pruneInterval === false ? 0 : pruneInterval
    this.#sql = statements(`"${schema}"."${table}"`, `${table}_expires_idx`)
    this.#range = prefixRange(this.prefix)
    // An idle pooled connection that the server drops is reported on the pool's 'error' event,
    // which crashes the process when nobody listens. The store listens (the pool replaces the
    // connection by itself) and tells its own listeners.
    const reportError = (err: Error) => this.reportError(err)
    if (this.client instanceof pg.Pool) this.client.on('error', reportError)
    else this.client.on('error', reportError)
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

  protected override keyOf(sid: string): string {
    if (!sid.includes('\u0000') && !sid.startsWith(ESCAPE_MARK)) return this.prefix + sid
    return this.prefix + ESCAPE_MARK + Buffer.from(sid, 'utf8').toString('base64url')
  }

  protected override sidOf(key: string): string {
    const stored = key.slice(this.prefix.length)
    if (!stored.startsWith(ESCAPE_MARK)) return stored
    return Buffer.from(stored.slice(ESCAPE_MARK.length), 'base64url').toString('utf8')
  }

  protected async read(key: string, op: Operation): Promise<string | null> {
    const { rows } = await this.#query(this.#sql.read, [key, Date.now()], op)
    return (rows[0]?.data as string | undefined) ?? null
  }

  protected async write(key: string, value: string, ttlMs: number, op: Operation): Promise<void> {
    await this.#query(this.#sql.write, [key, expiresAt(ttlMs), value], op)
  }

  protected async remove(key: string, op: Operation): Promise<void> {
    await this.#query(this.#sql.remove, [key], op)
  }

  protected async expire(key: string, ttlMs: number, op: Operation): Promise<void> {
    await this.#query(this.#sql.expire, [key, expiresAt(ttlMs), Date.now()], op)
  }

  protected override async *scan(op: Operation): AsyncIterable<string[]> {
    for await (const rows of this.#pages(this.#sql.scan, op)) yield rows.map((row) => row.id as string)
  }

  protected override async *scanEntries(op: Operation): AsyncIterable<Array<[key: string, value: string]>> {
    for await (const rows of this.#pages(this.#sql.entries, op)) {
      yield rows.map((row) => [row.id as string, row.data as string])
    }
  }

  protected override async count(op: Operation): Promise<number> {
    const { from, to } = this.#range
    const { rows } = await this.#query(this.#sql.count, [from, to, this.prefix, Date.now()], op)
    return Number(rows[0]?.n ?? 0)
  }

  protected override async removeMany(keys: string[], op: Operation): Promise<void> {
    for (let start = 0; start < keys.length; start += PAGE_SIZE) {
      await this.#query(this.#sql.removeMany, [keys.slice(start, start + PAGE_SIZE)], op)
    }
  }

  protected override async ping(op: Operation): Promise<void> {
    await this.#query(this.#sql.ping, [], op, false)
  }

  protected override async shutdown(op: Operation): Promise<void> {
    clearTimeout(this.#pruneTimer)
    if (!this.#endPoolOnClose) return
    // pg ends a pool by waiting for its checked-out connections; on a stalled server that never
    // happens. Past the deadline the failure goes to 'error' listeners and close() settles.
    const outcome = await settleWithin(this.client.end(), Math.max(1, op.remaining()))
    if (!outcome.settled) throw this.error('ETIMEOUT', 'close: the pool did not end in time', 'close')
    if ('error' in outcome) throw outcome.error
  }

  // ---------------------------------------------------------------------------------------
  // Statements.

  /**
   * Runs one named statement, after the schema step. The rest of the deadline goes to pg as
   * `query_timeout`, so the driver gives up on a statement when the caller does; a statement
   * whose caller timed out while it waited for the schema step is not sent at all.
   */
  async #query(
    statement: { name: string; text: string },
    values: unknown[],
    op: Operation,
    needsSchema = true,
  ): Promise<pg.QueryResult> {
    if (needsSchema) await this.#schema(op)
    if (op.expired) throw this.error('ETIMEOUT', `${op.name}: timed out before it was sent`, op.name)
    const config: pg.QueryConfig & { query_timeout?: number } = {
      ...statement,
      values,
      query_timeout: Math.max(1, Math.ceil(op.remaining())),
    }
    try {
      const result = await this.client.query(config)
      // A statement that came back proves the connection: no need to wait for the health check.
      if (!this.connected) this.setConnected(true)
      return result
    } catch (err) {
      // A lost connection is an outage (express-session stops using the store until the
      // health check, core's ping, succeeds); a failed or slow statement is not.
      if (isConnectionError(err))
        this.setConnected(false, this.error('EBACKEND', describe(err), op.name, err))
      throw err
    }
  }

  /** Creates the table and index once, when asked to; a failed attempt is retried by the next operation. */
  #schema(op: Operation): Promise<void> {
    if (!this.#createTable) return Promise.resolve()
    this.#ready ??= (async () => {
      for (const statement of [this.#sql.createTable, this.#sql.createIndex]) {
        try {
          await this.#query(statement, [], op, false)
        } catch (err) {
          if (!ALREADY_CREATED.has((err as { code?: string }).code ?? '')) throw err
        }
      }
    })().catch((err: unknown) => {
      this.#ready = undefined
      throw err
    })
    return this.#ready
  }

  /** Keyset pages of this store's live rows, in id order. */
  async *#pages(
    statement: { name: string; text: string },
    op: Operation,
  ): AsyncIterable<Array<Record<string, unknown>>> {
    const { from, to } = this.#range
    let after: string | null = null
    for (;;) {
      const { rows } = await this.#query(statement, [from, to, this.prefix, Date.now(), after], op)
      if (rows.length > 0) yield rows
      if (rows.length < PAGE_SIZE) return
      after = rows[rows.length - 1]!.id as string
    }
  }

  async #prune(): Promise<number> {
    let deleted = 0
    while (!this.closed) {
      const { rowCount } = await this.withDeadline('prune', (op) =>
        this.#query(this.#sql.prune, [Date.now()], op),
      )
      deleted += rowCount ?? 0
      if ((rowCount ?? 0) < PRUNE_BATCH) break
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

/** A pool or client from another copy of pg (instanceof fails across copies). */
function isQueryable(value: unknown): value is PostgresClient {
  const candidate = value as { query?: unknown; end?: unknown; on?: unknown } | null
  return (
    typeof candidate === 'object' &&
    candidate !== null &&
    typeof candidate.query === 'function' &&
    typeof candidate.end === 'function' &&
    typeof candidate.on === 'function'
  )
}

/** Socket-level failures, and the SQLSTATE classes of a connection that is gone. */
function isConnectionError(err: unknown): boolean {
  const { code, message } = (err ?? {}) as { code?: unknown; message?: unknown }
  if (typeof code === 'string') {
    if (/^(ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH)$/.test(code)) return true
    // 08: connection exception; 57P01-57P03: the server is shutting down or not accepting.
    if (/^08|^57P0[123]$/.test(code)) return true
  }
  return (
    typeof message === 'string' && /Connection terminated|connection timeout|Connection ended/i.test(message)
  )
}

function describe(err: unknown): string {
  return `the connection failed: ${err instanceof Error ? err.message : String(err)}`
}

/** The `expires` of a write with this ttl. */
function expiresAt(ttlMs: number): number {
  return Number.isFinite(ttlMs) ? Date.now() + ttlMs : FAR_FUTURE
}

/**
 * The ids that start with `prefix`, as a range the primary key's index can serve (the column
 * compares bytes, `COLLATE "C"`): from the prefix to the prefix with its last character
 * bumped; no upper bound for an empty prefix. Statements also check `starts_with`, so the
 * range only has to be wide enough.
 */
function prefixRange(prefix: string): { from: string; to: string | null } {
  const last = prefix.codePointAt(prefix.length - 1)
  if (prefix.length === 0 || last === undefined || last >= 0x10ffff) return { from: prefix, to: null }
  const head = prefix.slice(0, prefix.length - (last > 0xffff ? 2 : 1))
  // Past the surrogate block when bumping lands in it: those code points never occur.
  const next = last + 1 === 0xd800 ? 0xe000 : last + 1
  return { from: prefix, to: head + String.fromCodePoint(next) }
}

/** Every statement the store runs, each named after its text so that pg prepares it once per connection. */
function statements(table: string, index: string) {
  const named = (text: string) => ({
    name: `session_store_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`,
    text,
  })
  // $1 from, $2 to (or null), $3 prefix, $4 now, $5 the last id of the previous page (or null).
  const page = (columns: string) =>
    named(
      `SELECT ${columns} FROM ${table} WHERE id >= $1 AND ($2::text IS NULL OR id < $2) ` +
        `AND starts_with(id, $3) AND expires > $4 AND ($5::text IS NULL OR id > $5) ` +
        `ORDER BY id LIMIT ${PAGE_SIZE}`,
    )
  return {
    createTable: named(
      `CREATE TABLE IF NOT EXISTS ${table} (id text COLLATE "C" PRIMARY KEY, expires bigint NOT NULL, data text NOT NULL)`,
    ),
    createIndex: named(`CREATE INDEX IF NOT EXISTS "${index}" ON ${table} (expires)`),
    read: named(`SELECT data FROM ${table} WHERE id = $1 AND expires > $2`),
    write: named(
      `INSERT INTO ${table} (id, expires, data) VALUES ($1, $2, $3) ` +
        'ON CONFLICT (id) DO UPDATE SET expires = EXCLUDED.expires, data = EXCLUDED.data',
    ),
    remove: named(`DELETE FROM ${table} WHERE id = $1`),
    // Only a live row moves: a touch never revives an expired session.
    expire: named(`UPDATE ${table} SET expires = $2 WHERE id = $1 AND expires > $3`),
    scan: page('id'),
    entries: page('id, data'),
    count: named(
      `SELECT count(*) AS n FROM ${table} WHERE id >= $1 AND ($2::text IS NULL OR id < $2) ` +
        'AND starts_with(id, $3) AND expires > $4',
    ),
    removeMany: named(`DELETE FROM ${table} WHERE id = ANY($1::text[])`),
    // SKIP LOCKED: instances pruning at the same moment take different rows instead of waiting.
    prune: named(
      `DELETE FROM ${table} WHERE id IN (SELECT id FROM ${table} WHERE expires <= $1 ` +
        `ORDER BY expires LIMIT ${PRUNE_BATCH} FOR UPDATE SKIP LOCKED)`,
    ),
    ping: named('SELECT 1'),
  }
}
