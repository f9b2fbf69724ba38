import {
  BaseStore,
  type BaseStoreOptions,
  type ExpressSessionData,
  type Operation,
} from '@session-store/core'
import type { Uninferred } from '@session-store/core/internal'
import {
  type Collection,
  type ConnectionCheckOutFailedEvent,
  Db,
  type Document,
  type Filter,
  type FindCursor,
  MongoClient,
  type MongoClientOptions,
  MongoServerError,
  type ReadPreferenceLike,
  type TopologyDescriptionChangedEvent,
  type WriteConcern,
  type WriteConcernSettings,
} from 'mongodb'

/** Who deletes expired sessions: see {@link MongoStoreOptions.autoRemove}. */
export type AutoRemove = 'native' | 'interval' | 'disabled'

/** Options of {@link MongoStore}, besides everything {@link BaseStoreOptions} offers. */
export interface MongoStoreOptions<S extends object = ExpressSessionData> extends BaseStoreOptions<S> {
  /**
   * The database holding the sessions collection. Not allowed when the store is given a `Db`,
   * which already names one.
   * @default the database named in the connection string, else the driver's default (`test`)
   */
  dbName?: string
  /**
   * The collection holding one document per session. Several stores may share it as long as
   * their `prefix`es differ.
   * @default 'sessions'
   */
  collection?: string
  /**
   * Who deletes expired sessions (they are never read either way, since every read checks
   * `expires`):
   * - `'native'`: the server's TTL monitor, through a TTL index on `expires`. On a server without
   *   TTL indexes (FerretDB 1.x answers NotImplemented) the store switches to `'interval'` by
   *   itself and emits one `warning`.
   * - `'interval'`: the store, every `autoRemoveInterval`, in batches. For servers whose TTL
   *   monitor is missing or cannot be trusted with this collection.
   * - `'disabled'`: nobody; something else prunes the collection.
   * @default 'native'
   */
  autoRemove?: AutoRemove
  /**
   * How often `autoRemove: 'interval'` deletes expired sessions, in ms, give or take a quarter so
   * that app instances started together do not prune together. The timer is unref'd: it never
   * keeps the process alive. At least 1000 (connect-mongo's option of this name is in minutes).
   * @default 600000 (10 minutes)
   */
  autoRemoveInterval?: number
  /**
   * Create the index `autoRemove` needs on `expires` before the first operation: the TTL index
   * (`expireAfterSeconds: 0`) for `'native'`, a plain one for `'interval'` (so pruning does not
   * scan the collection). Turn it off when the database user may not create indexes and the
   * index is managed elsewhere.
   * @default true
   */
  createIndex?: boolean
  /**
   * Close the client in `close()`. A client the store created from a URL is always its own to
   * close; a `MongoClient` or `Db` passed in belongs to the caller and stays open unless this is
   * `true`.
   * @default true when the store was given a URL, false otherwise
   */
  closeClient?: boolean
  /**
   * Options for the client the store creates when given a URL; ignored otherwise. Unless they are
   * given here or in the URL, the store sets `serverSelectionTimeoutMS` and `connectTimeoutMS` to
   * its `timeout`, so that connecting takes no longer than an operation may (the driver's
   * default is 30 s).
   * @default {}
   */
  clientOptions?: MongoClientOptions
  /**
   * The write concern of every write (set, touch, destroy, clear, pruning).
   * @default the client's or database's write concern
   */
  writeConcern?: WriteConcern | WriteConcernSettings
  /**
   * Where reads (get, ids, all, length) go. Reading from secondaries may return a session
   * one replication lag behind its last write.
   * @default the client's or database's read preference (`primary` unless set)
   */
  readPreference?: ReadPreferenceLike
}

/** One stored session. */
export interface SessionDocument {
  /** The store's prefix followed by the sid. */
  _id: string
  /** The session as encoded by the store's serializer. */
  session: string
  /** When the session expires; the TTL index, pruning and every read go by it. */
  expires: Date
}

/**
 * The index MongoDB's TTL monitor uses to delete documents once `expires` has passed. Its
 * default name, `expires_1`, is also what other stores create, so an existing one is reused.
 */
export const TTL_INDEX = { key: { expires: 1 }, options: { expireAfterSeconds: 0 } } as const

/**
 * The expiry of a session kept without one (`disableTtl`): the last millisecond of year 9999,
 * far enough to never pass and still an ordinary date for every tool that reads it.
 */
export const NEVER_EXPIRES = new Date('9999-12-31T23:59:59.999Z')

/**
 * BSON documents are limited to 16 MiB; the headroom leaves space for the `_id`, the `expires`
 * date and the field names around the encoded session.
 */
const MAX_VALUE_BYTES = 16 * 1024 * 1024 - 16 * 1024

/** Documents handed to BaseStore per step of an enumeration; also the cursor's batch size. */
const SCAN_BATCH = 1000

/** Expired documents deleted per pruning step, so a large backlog never holds the server long. */
const PRUNE_BATCH = 1000

/** A first write of a session that loses a race with another is tried this many times in all. */
const UPSERT_ATTEMPTS = 3

/**
 * The `_id` range that holds exactly the keys starting with `prefix`.
 *
 * Without a collation MongoDB compares strings by their UTF-8 bytes, which orders them by code
 * point. Every key that starts with the prefix therefore lies between the prefix itself and the
 * prefix with its last code point raised by one, and so does no other key; the query then walks
 * the `_id` index instead of the whole collection. (The common `prefix + '\uffff'` bound misses
 * keys whose next character lies beyond U+FFFF, such as an emoji: their UTF-8 bytes sort above
 * those of U+FFFF.) The empty prefix has no upper bound: every string `_id` is in range.
 */
export function prefixRange(prefix: string): { $gte: string; $lt?: string } {
  const codePoints = Array.from(prefix)
  while (codePoints.length > 0) {
    const last = codePoints.pop()!.codePointAt(0)!
    if (last < 0x10ffff) {
      // The code points after U+D7FF are surrogates, which no UTF-8 string contains.
      const next = last === 0xd7ff ? 0xe000 : last + 1
      return { $gte: prefix, $lt: codePoints.join('') + String.fromCodePoint(next) }
    }
  }
  return { $gte: prefix }
}

// ---------------------------------------------------------------------------------------------
// Where servers of MongoDB's wire protocol differ, in one place.

/**
 * Error codes of a server that has no TTL indexes at all, as opposed to one that refused this
 * index (a conflicting index on `expires`, no permission): NotImplemented (FerretDB 1.x: 'Index
 * option "expireAfterSeconds" is not implemented yet') and CommandNotSupported.
 */
const NO_TTL_INDEXES = new Set([238, 115])

/** An index on `expires` already exists, with other options or under another name. */
const INDEX_CONFLICT = new Set([85, 86])

/**
 * Two first writes of one session race: the server inserts the document for one upsert and
 * fails the other with E11000. MongoDB 4.2 and later retry such an upsert themselves (its filter
 * is an equality on `_id`); FerretDB 1.x and older MongoDB do not. The losing write then finds the
 * document and replaces it, as if it had come second, which it did.
 */
function isDuplicateKey(err: unknown): boolean {
  return err instanceof MongoServerError && err.code === 11000
}

/**
 * FerretDB 1.x finds a document through its `_id` index only when `_id` is the filter's one and
 * only field; `{ _id, expires }` scans the whole collection (5 ms for 1000 sessions here, and
 * linear in their number). So reads filter on `_id` alone everywhere and check `expires`
 * themselves, and a touch on FerretDB 1.x reads the expiry by `_id` first and then updates by
 * `_id`: no weaker than FerretDB's own conditional update, which is such a read and write too.
 * MongoDB keeps the one atomic conditional update.
 */
function lookupsByIdOnly(buildInfo: Document): boolean {
  return typeof buildInfo.ferretdbVersion === 'string' && /^v?1\./.test(buildInfo.ferretdbVersion)
}

/** Whether a stored expiry is still ahead: a date in the future (anything else is expired). */
function isLive(expires: unknown, now: number): boolean {
  return expires instanceof Date && expires.getTime() > now
}

/**
 * Driver options that carry an operation's deadline: `maxTimeMS` stops the work on the server,
 * the signal stops it in the driver (server selection, the wait for a pooled connection, the
 * wait for the answer, whose connection the driver then closes), so a command whose caller
 * gave up is never sent late. The driver's per-operation `timeoutMS` is not used: it does
 * nothing from driver 7.8 on, and before that its timeouts could leave a pooled connection out
 * of step with the server. (The driver declares `signal` on its read methods only; every
 * operation takes it, writes included, and writes need it most.)
 */
function deadlineOf(op: Operation): { maxTimeMS: number; signal: AbortSignal } {
  return { maxTimeMS: op.remaining(), signal: op.signal }
}

/**
 * A session store on MongoDB (or FerretDB, DocumentDB, Cosmos DB), through the official driver:
 * one document per session (`{ _id: prefix + sid, session, expires }`) in one collection.
 *
 * It takes a connected (or not yet connected) `MongoClient`, a `Db`, or a connection string.
 * A client or database passed in stays the caller's: `close()` leaves it open unless
 * `closeClient` is set. A URL makes the store create, own and close its client.
 *
 * Every read checks `expires` itself, so an expired session is never returned, enumerated or
 * counted, whoever deletes it later (`autoRemove`): MongoDB's TTL monitor runs only once a
 * minute, and some servers have none.
 *
 * `connect`/`disconnect` follow the driver's view of the deployment: the store is connected
 * while a writable server (standalone, primary, mongos or load balancer) is known, and after an
 * operation timed out, while the server answers a ping.
 *
 * @example
 * const client = await new MongoClient(process.env.MONGO_URL!).connect()
 * app.use(session({ store: new MongoStore(client, { dbName: 'app' }), secret }))
 */
export class MongoStore<S extends object = ExpressSessionData> extends BaseStore<S> {
  /** The client the store talks through (created by the store when it was given a URL). */
  readonly client: MongoClient
  /** The sessions collection. */
  readonly collection: Collection<SessionDocument>

  readonly #closeClient: boolean
  readonly #createIndex: boolean
  readonly #autoRemoveInterval: number
  /** As configured, until a server without TTL indexes turns `'native'` into `'interval'`. */
  #autoRemove: AutoRemove
  /** Connecting and index creation, shared by the first operations; dropped again if it fails. */
  #readiness: Promise<void> | undefined
  /** The operation whose deadline the current attempt at readiness runs under. */
  #readinessOwner: Operation | undefined
  #ready = false
  /** The server looks documents up by `_id` only when nothing else is in the filter. */
  #lookupsByIdOnly = false
  #pruneTimer: NodeJS.Timeout | undefined
  #pruning: Promise<number> | undefined

  /**
   * @param connection a `MongoClient`, a `Db`, or a `mongodb://` / `mongodb+srv://` connection string
   * @param options where to keep sessions, and everything {@link BaseStoreOptions} offers
   */
  constructor(connection: MongoClient | Db | string, options: MongoStoreOptions<Uninferred<S>> = {}) {
    super(
      {
        packageName: '@session-store/mongodb',
        backend: 'mongodb',
        capabilities: { ttlGranularityMs: 1, maxValueBytes: MAX_VALUE_BYTES },
        options: [
          'dbName',
          'collection',
          'autoRemove',
          'autoRemoveInterval',
          'createIndex',
          'closeClient',
          'clientOptions',
          'writeConcern',
          'readPreference',
        ],
      },
      options,
    )
    const {
      dbName,
      collection = 'sessions',
      createIndex = true,
      autoRemove = 'native',
      autoRemoveInterval = 600_000,
    } = options
    // The server's naming rules, checked here: the driver lets most of these through and the
    // first request would fail instead.
    if (
      dbName !== undefined &&
      (typeof dbName !== 'string' || dbName.length === 0 || BAD_DB_NAME.test(dbName))
    ) {
      throw this.error(
        'EOPTIONS',
        `dbName must be a non-empty name without / \\ . " $ * < > : | ? or spaces, got ${describeValue(dbName)}`,
      )
    }
    if (typeof collection !== 'string' || collection.length === 0 || BAD_COLLECTION_NAME.test(collection)) {
      throw this.error(
        'EOPTIONS',
        `collection must be a non-empty name without $ that does not start with system., got ${describeValue(collection)}`,
      )
    }
    if (typeof createIndex !== 'boolean') {
      throw this.error('EOPTIONS', `createIndex must be a boolean, got ${describeValue(createIndex)}`)
    }
    if (autoRemove !== 'native' && autoRemove !== 'interval' && autoRemove !== 'disabled') {
      throw this.error(
        'EOPTIONS',
        `autoRemove must be 'native', 'interval' or 'disabled', got ${describeValue(autoRemove)}`,
      )
    }
    if (
      !(typeof autoRemoveInterval === 'number' && autoRemoveInterval >= 1000 && autoRemoveInterval < 2 ** 31)
    ) {
      throw this.error(
        'EOPTIONS',
        `autoRemoveInterval must be a number of ms of at least 1000, got ${describeValue(autoRemoveInterval)}` +
          ' (connect-mongo counts it in minutes; this store in ms)',
      )
    }
    if (options.closeClient !== undefined && typeof options.closeClient !== 'boolean') {
      throw this.error('EOPTIONS', `closeClient must be a boolean, got ${describeValue(options.closeClient)}`)
    }

    let db: Db
    if (typeof connection === 'string') {
      this.client = this.#createClient(connection, options.clientOptions)
      db = this.client.db(dbName)
      this.#closeClient = options.closeClient ?? true
    } else if (connection instanceof MongoClient) {
      this.client = connection
      db = connection.db(dbName)
      this.#closeClient = options.closeClient ?? false
    } else if (connection instanceof Db) {
      if (dbName !== undefined) {
        throw this.error('EOPTIONS', 'dbName cannot be combined with a Db, which already names its database')
      }
      // Db.client is public from driver 6 on; without it the store could not follow the topology.
      if (!(connection.client instanceof MongoClient)) {
        throw this.error('EOPTIONS', 'this Db does not expose its MongoClient; pass the MongoClient instead')
      }
      this.client = connection.client
      db = connection
      this.#closeClient = options.closeClient ?? false
    } else {
      throw this.error(
        'EOPTIONS',
        `expected a MongoClient, a Db or a connection string, got ${describeValue(connection)}` +
          ' (a MongoClient from another copy of the mongodb package is not recognised either)',
      )
    }

    try {
      this.collection = db.collection<SessionDocument>(collection, {
        ...(options.writeConcern !== undefined && { writeConcern: options.writeConcern }),
        ...(options.readPreference !== undefined && { readPreference: options.readPreference }),
      })
    } catch (cause) {
      throw this.error('EOPTIONS', `cannot use collection ${JSON.stringify(collection)}: ${String(cause)}`)
    }
    this.#createIndex = createIndex
    this.#autoRemove = autoRemove
    this.#autoRemoveInterval = autoRemoveInterval
    this.client.on('topologyDescriptionChanged', this.#onTopologyChanged)
    this.client.on('connectionCheckOutFailed', this.#onCheckOutFailed)
    if (autoRemove === 'interval') this.#schedulePrune()
  }

  /** Who deletes expired sessions now: as configured, or `'interval'` after a fallback. */
  get autoRemove(): AutoRemove {
    return this.#autoRemove
  }

  /**
   * Deletes expired sessions now, in batches, and resolves how many it deleted. Documents of
   * every prefix in the collection go: an expired session is nobody's. `autoRemove: 'interval'`
   * calls it on its timer; it works in every mode.
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
    const collection = await this.#prepared(op)
    const found = await collection.findOne(
      { _id: key },
      { projection: { _id: 0, session: 1, expires: 1 }, ...deadlineOf(op) },
    )
    if (found === null || !isLive(found.expires, Date.now())) return null
    // A document written by something else may hold anything; text that cannot be decoded makes
    // the read resolve null and emit `corrupt`, as for any other undecodable value.
    return typeof found.session === 'string' ? found.session : ''
  }

  protected async write(key: string, value: string, ttlMs: number, op: Operation): Promise<void> {
    const collection = await this.#prepared(op)
    const document = { session: value, expires: expiryDate(ttlMs) }
    const options = { upsert: true, ...deadlineOf(op) }
    for (let attempt = 1; ; attempt++) {
      try {
        await collection.replaceOne({ _id: key }, document, options)
        return
      } catch (err) {
        if (!isDuplicateKey(err) || attempt >= UPSERT_ATTEMPTS || op.expired) throw err
        options.maxTimeMS = op.remaining()
      }
    }
  }

  protected async remove(key: string, op: Operation): Promise<void> {
    const collection = await this.#prepared(op)
    await collection.deleteOne({ _id: key }, deadlineOf(op))
  }

  protected async expire(key: string, ttlMs: number, op: Operation): Promise<void> {
    const collection = await this.#prepared(op)
    // Only a live session moves: no upsert, and a session already expired (but not yet deleted)
    // or destroyed is left alone, without an error.
    const update = { $set: { expires: expiryDate(ttlMs) } }
    if (!this.#lookupsByIdOnly) {
      await collection.updateOne({ _id: key, expires: { $gt: new Date() } }, update, deadlineOf(op))
      return
    }
    const found = await collection.findOne(
      { _id: key },
      { projection: { _id: 0, expires: 1 }, ...deadlineOf(op) },
    )
    if (found === null || !isLive(found.expires, Date.now())) return
    await collection.updateOne({ _id: key }, update, deadlineOf(op))
  }

  protected override scan(op: Operation): AsyncIterable<string[]> {
    return this.#batches(op, { _id: 1 }, (document) => document._id)
  }

  protected override scanEntries(op: Operation): AsyncIterable<Array<[key: string, value: string]>> {
    return this.#batches(op, { _id: 1, session: 1 }, (document): [string, string] => [
      document._id,
      typeof document.session === 'string' ? document.session : '',
    ])
  }

  protected override async count(op: Operation): Promise<number> {
    const collection = await this.#prepared(op)
    return collection.countDocuments(this.#liveInPrefix(), deadlineOf(op))
  }

  protected override async removeMany(keys: string[], op: Operation): Promise<void> {
    const collection = await this.#prepared(op)
    // The keys come from this store's own scan, so they all lie within its prefix.
    await collection.deleteMany({ _id: { $in: keys } }, deadlineOf(op))
  }

  /**
   * After an operation timed out, core asks this once: a server that answers is slow on one
   * command, not gone. While disconnected, core asks it every second. It goes through the
   * store's connect step, so a client whose first connection failed connects again.
   */
  protected override async ping(op: Operation): Promise<void> {
    await this.#prepared(op)
    await this.client.db('admin').command({ ping: 1 }, { signal: op.signal })
  }

  protected override async shutdown(): Promise<void> {
    clearTimeout(this.#pruneTimer)
    this.client.off('topologyDescriptionChanged', this.#onTopologyChanged)
    this.client.off('connectionCheckOutFailed', this.#onCheckOutFailed)
    // A prune in flight stops after its current batch (it checks `closed`). The driver's close()
    // closes in-use connections first, so it settles on a stalled server too; core bounds it.
    if (this.#closeClient) await this.client.close()
  }

  // ---------------------------------------------------------------------------------------
  // The machinery.

  /** The live sessions of this store's prefix. */
  #liveInPrefix(): Filter<SessionDocument> {
    return { _id: prefixRange(this.prefix), expires: { $gt: new Date() } }
  }

  /**
   * The live documents of this store's prefix, one cursor batch at a time. Written out rather
   * than as an async generator so that `return()` (the consumer stopping, or giving up after a
   * timeout) does not queue behind a `next()` still waiting on an unreachable server, and does
   * not wait for the cursor to be killed on the server either.
   */
  #batches<T>(
    op: Operation,
    projection: Document,
    pick: (document: SessionDocument) => T,
  ): AsyncIterableIterator<T[], undefined> {
    let cursor: FindCursor<SessionDocument> | undefined
    let finished = false
    const done = { done: true, value: undefined } as const
    return {
      next: async () => {
        if (finished) return done
        // No maxTimeMS: it would bound the whole enumeration, while core bounds each step (and
        // aborts the signal, which ends the cursor, when a step fails).
        cursor ??= (await this.#prepared(op)).find(this.#liveInPrefix(), {
          projection,
          batchSize: SCAN_BATCH,
          signal: op.signal,
        })
        if (await cursor.hasNext()) {
          return { done: false, value: cursor.readBufferedDocuments(SCAN_BATCH).map(pick) }
        }
        finished = true
        await cursor.close()
        return done
      },
      return: async () => {
        finished = true
        cursor?.close().catch(() => {})
        return done
      },
      [Symbol.asyncIterator]() {
        return this
      },
    }
  }

  /**
   * The collection, once the client is connected and the index `autoRemove` needs exists. The
   * first operations share one attempt, which runs under the deadline of the operation that
   * started it; an operation whose own deadline has not passed when another's attempt failed
   * makes an attempt of its own.
   */
  async #prepared(op: Operation): Promise<Collection<SessionDocument>> {
    while (!this.#ready) {
      if (this.#readiness === undefined) {
        this.#readinessOwner = op
        this.#readiness = this.#prepare(op).then(
          () => {
            this.#ready = true
          },
          (err: unknown) => {
            this.#readiness = undefined
            throw err
          },
        )
      }
      const owner = this.#readinessOwner
      try {
        await this.#readiness
      } catch (err) {
        if (owner === op || op.expired) throw err
      }
    }
    return this.collection
  }

  /** Runs under the deadline of the operation that found the store unprepared. */
  async #prepare(op: Operation): Promise<void> {
    // The driver connects on the first operation by itself, but when that first connection
    // fails it keeps the closed topology, and every later operation fails with "Topology is
    // closed" even once the server is back. Connecting explicitly, again after each failure,
    // lets a store created while MongoDB is down recover. On a connected client it is a no-op.
    await this.client.connect()
    this.#lookupsByIdOnly = lookupsByIdOnly(
      await this.client.db('admin').command({ buildInfo: 1 }, { signal: op.signal }),
    )
    if (!this.#createIndex || this.#autoRemove === 'disabled') return
    if (this.#autoRemove === 'native') {
      try {
        // Idempotent: creating an index that exists with the same key and options does nothing.
        await this.collection.createIndex(TTL_INDEX.key, { ...TTL_INDEX.options, ...deadlineOf(op) })
        return
      } catch (cause) {
        // Anything but the server's refusal (the server unreachable) fails this operation, and
        // the next one tries again.
        if (!(cause instanceof MongoServerError)) throw cause
        if (!lacksTtlIndexes(cause)) {
          // No permission, or an index on `expires` with other options: sessions still work and
          // expired ones are still never read, but the server may not delete them. Said once.
          this.reportError(
            this.error(
              'EBACKEND',
              `cannot create the TTL index on ${this.collection.collectionName}.expires, so the server may not ` +
                `delete expired sessions: ${cause.message}. Create it yourself, or set autoRemove: 'interval' ` +
                `or createIndex: false.`,
              'createIndex',
              cause,
            ),
          )
          return
        }
        this.#fallBackToInterval(cause)
      }
    }
    try {
      // The index pruning walks; any index on `expires` serves (a TTL one left from 'native').
      await this.collection.createIndex(TTL_INDEX.key, deadlineOf(op))
    } catch (cause) {
      if (!(cause instanceof MongoServerError)) throw cause
      if (!(typeof cause.code === 'number' && INDEX_CONFLICT.has(cause.code))) {
        this.reportError(
          this.error(
            'EBACKEND',
            `cannot create an index on ${this.collection.collectionName}.expires, so pruning scans the collection: ` +
              `${cause.message}. Create it yourself or set createIndex: false.`,
            'createIndex',
            cause,
          ),
        )
      }
    }
  }

  /** `'native'` met a server without TTL indexes: the store prunes by itself from now on. */
  #fallBackToInterval(cause: MongoServerError): void {
    this.#autoRemove = 'interval'
    this.#schedulePrune()
    const warning = this.error(
      'EBACKEND',
      `the server has no TTL indexes (${cause.message}), so the store deletes expired sessions itself, ` +
        `every ${this.#autoRemoveInterval} ms: autoRemove is 'interval' now. Set it so to skip this check.`,
      'createIndex',
      cause,
    )
    try {
      this.emit('warning', warning)
    } catch (listenerError) {
      // A listener's failure is not the operation's, which goes on.
      this.reportError(listenerError instanceof Error ? listenerError : new Error(String(listenerError)))
    }
  }

  async #prune(): Promise<number> {
    let deleted = 0
    while (!this.closed) {
      // Each batch under the store's deadline: a stalled server must not hold prune() forever.
      const { found, removed } = await this.withDeadline('prune', (op) => this.#pruneBatch(op))
      deleted += removed
      if (found < PRUNE_BATCH) break
    }
    return deleted
  }

  /**
   * One batch: the `_id`s of up to {@link PRUNE_BATCH} expired documents (through the index on
   * `expires`), then those of them still expired. A session written again meanwhile has a new
   * `expires` and stays.
   */
  async #pruneBatch(op: Operation): Promise<{ found: number; removed: number }> {
    const collection = await this.#prepared(op)
    const now = new Date()
    const expired = await collection
      .find({ expires: { $lte: now } }, { projection: { _id: 1 }, limit: PRUNE_BATCH, ...deadlineOf(op) })
      .toArray()
    if (expired.length === 0) return { found: 0, removed: 0 }
    const { deletedCount } = await collection.deleteMany(
      { _id: { $in: expired.map((document) => document._id) }, expires: { $lte: now } },
      deadlineOf(op),
    )
    return { found: expired.length, removed: deletedCount }
  }

  #schedulePrune(): void {
    if (this.closed || this.#pruneTimer !== undefined) return
    const delay = Math.round(this.#autoRemoveInterval * (0.75 + Math.random() * 0.5))
    this.#pruneTimer = setTimeout(() => {
      this.prune()
        .catch((err: Error) => {
          if (!this.closed) this.reportError(err)
        })
        .finally(() => {
          this.#pruneTimer = undefined
          this.#schedulePrune()
        })
    }, delay)
    this.#pruneTimer.unref()
  }

  /**
   * The driver folds every heartbeat of every server into its topology description; the store
   * is connected while that description knows a writable server. A failed heartbeat of one
   * replica set member is therefore no outage, and a description still being discovered
   * (servers unknown, but none failed yet) changes nothing.
   */
  readonly #onTopologyChanged = (event: TopologyDescriptionChangedEvent): void => {
    const servers = [...event.newDescription.servers.values()]
    if (servers.some((server) => server.isWritable)) {
      this.setConnected(true)
      return
    }
    const failed = servers.find((server) => server.error !== null)
    if (failed?.error) this.setConnected(false, failed.error)
  }

  /**
   * A new connection could not be made (refused, reset, handshake failed): an outage, even
   * when the topology says nothing of it. Driver 7 keeps a standalone server in its topology
   * as long as its monitor's next heartbeat (10 s away by default) has not failed, so without
   * this the store would stay connected through an outage. Core's health check (a ping a
   * second) reports the way back.
   */
  readonly #onCheckOutFailed = (event: ConnectionCheckOutFailedEvent): void => {
    if (event.reason !== 'connectionError') return
    this.setConnected(
      false,
      this.error('EBACKEND', `cannot open a connection to ${event.address}`, 'connect'),
    )
  }

  /** Creates the store's own client, with connection timeouts that fit the store's. */
  #createClient(url: string, clientOptions: MongoClientOptions | undefined): MongoClient {
    if (!/^mongodb(\+srv)?:\/\//.test(url)) {
      throw this.error('EOPTIONS', 'a connection string must start with mongodb:// or mongodb+srv://')
    }
    if (!/^mongodb(\+srv)?:\/\/[^\s/?]+(?:[/?]|$)/.test(url)) {
      throw this.error('EOPTIONS', 'the connection string names no valid host (hosts cannot contain spaces)')
    }
    const options: MongoClientOptions = { ...clientOptions }
    // The driver waits up to 30 s for a server, and for a TCP connection, by default; the store's
    // connect step (a driver call that takes no signal) would hold every first operation that
    // long. Options given here or in the URL win (the driver would let these win over the URL).
    const defaults = { serverSelectionTimeoutMS: this.timeout, connectTimeoutMS: this.timeout }
    for (const [name, value] of Object.entries(defaults) as Array<[keyof typeof defaults, number]>) {
      if (options[name] === undefined && !new RegExp(`[?&]${name}=`, 'i').test(url)) options[name] = value
    }
    try {
      return new MongoClient(url, options)
    } catch (cause) {
      throw this.error('EOPTIONS', `invalid connection string or client options: ${String(cause)}`)
    }
  }
}

/** Whether the server refused a TTL index because it has none (see {@link NO_TTL_INDEXES}). */
function lacksTtlIndexes(err: MongoServerError): boolean {
  return typeof err.code === 'number' && NO_TTL_INDEXES.has(err.code)
}

/** Characters MongoDB refuses in database names (on every platform, plus the NUL byte). */
const BAD_DB_NAME = /[/\\. "$*<>:|?\0]/

/** What MongoDB refuses in collection names: `$`, NUL, and the reserved `system.` namespace. */
const BAD_COLLECTION_NAME = /[$\0]|^system\./

/** The absolute expiry of a write; `Infinity` (ttl disabled) and dates past year 9999 never expire. */
function expiryDate(ttlMs: number): Date {
  return new Date(Math.min(Date.now() + ttlMs, NEVER_EXPIRES.getTime()))
}

function describeValue(value: unknown): string {
  if (value === null || value === undefined) return String(value)
  if (typeof value === 'string') return JSON.stringify(value)
  if (typeof value === 'object') return `an object (${value.constructor?.name ?? 'no prototype'})`
  return `${typeof value} ${String(value)}`
}
