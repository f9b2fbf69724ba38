import { BaseStore, type BaseStoreOptions, type ExpressSessionData } from '@session-store/core'
import type { Uninferred } from '@session-store/core/internal'
import {
  type Collection,
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
   * Create the TTL index on `expires` (`expireAfterSeconds: 0`) before the first operation, so
   * MongoDB deletes expired sessions by itself. Turn it off when the database user may not create
   * indexes and the index is managed elsewhere. Expired sessions are never read either way.
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
   * given here or in the URL, the store sets `serverSelectionTimeoutMS` to 80 % of its `timeout`
   * and `connectTimeoutMS` to its `timeout`, so that a request does not wait the driver's default
   * 30 s for a server.
   * @default {}
   */
  clientOptions?: MongoClientOptions
  /**
   * The write concern of every write (set, touch, destroy, clear).
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
  /** When the session expires; the TTL index and every read go by it. */
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

/**
 * A session store on MongoDB, through the official driver: one document per session
 * (`{ _id: prefix + sid, session, expires }`) in one collection, with a TTL index on `expires`.
 *
 * It takes a connected (or not yet connected) `MongoClient`, a `Db`, or a connection string.
 * A client or database passed in stays the caller's: `close()` leaves it open unless
 * `closeClient` is set. A URL makes the store create, own and close its client.
 *
 * MongoDB's TTL monitor deletes expired documents only once a minute, so every read also checks
 * `expires` itself: an expired session is never returned, enumerated or counted.
 *
 * `connect`/`disconnect` follow the driver's view of the deployment: the store is connected
 * while a writable server (standalone, primary, mongos or load balancer) is known.
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
  /** Server-side limit of each command: the store gives up on it after `timeout` anyway. */
  readonly #maxTimeMS: number
  /** Connecting and index creation, shared by the first operations; dropped again if it fails. */
  #readiness: Promise<void> | undefined
  #ready = false

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
          'createIndex',
          'closeClient',
          'clientOptions',
          'writeConcern',
          'readPreference',
        ],
      },
      options,
    )
    const { dbName, collection = 'sessions', createIndex = true } = options
    const timeout = options.timeout ?? 5000
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
    if (options.closeClient !== undefined && typeof options.closeClient !== 'boolean') {
      throw this.error('EOPTIONS', `closeClient must be a boolean, got ${describeValue(options.closeClient)}`)
    }

    let db: Db
    if (typeof connection === 'string') {
      this.client = this.#createClient(connection, options.clientOptions, timeout)
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
    this.#maxTimeMS = timeout
    this.client.on('topologyDescriptionChanged', this.#onTopologyChanged)
  }

  protected async read(key: string): Promise<string | null> {
    const collection = await this.#prepared()
    const found = await collection.findOne(
      { _id: key, expires: { $gt: new Date() } },
      { projection: { _id: 0, session: 1 }, maxTimeMS: this.#maxTimeMS },
    )
    if (found === null) return null
    // A document written by something else may hold anything; text that cannot be decoded makes
    // the read resolve null and emit `corrupt`, as for any other undecodable value.
    return typeof found.session === 'string' ? found.session : ''
  }

  protected async write(key: string, value: string, ttlMs: number): Promise<void> {
    const collection = await this.#prepared()
    // An upsert that races another one on the same new _id is retried by the server itself
    // (MongoDB 4.2 and later), so parallel first writes of one session do not fail.
    await collection.replaceOne(
      { _id: key },
      { session: value, expires: expiryDate(ttlMs) },
      { upsert: true, maxTimeMS: this.#maxTimeMS },
    )
  }

  protected async remove(key: string): Promise<void> {
    const collection = await this.#prepared()
    await collection.deleteOne({ _id: key }, { maxTimeMS: this.#maxTimeMS })
  }

  protected async expire(key: string, ttlMs: number): Promise<void> {
    const collection = await this.#prepared()
    // Only a live session moves: no upsert, and a session already expired (but not yet deleted
    // by the TTL monitor) or destroyed is left alone, without an error.
    await collection.updateOne(
      { _id: key, expires: { $gt: new Date() } },
      { $set: { expires: expiryDate(ttlMs) } },
      { maxTimeMS: this.#maxTimeMS },
    )
  }

  protected override scan(): AsyncIterable<string[]> {
    return this.#batches({ _id: 1 }, (document) => document._id)
  }

  protected override scanEntries(): AsyncIterable<Array<[key: string, value: string]>> {
    return this.#batches({ _id: 1, session: 1 }, (document): [string, string] => [
      document._id,
      typeof document.session === 'string' ? document.session : '',
    ])
  }

  protected override async count(): Promise<number> {
    const collection = await this.#prepared()
    return collection.countDocuments(this.#liveInPrefix(), { maxTimeMS: this.#maxTimeMS })
  }

  protected override async removeMany(keys: string[]): Promise<void> {
    const collection = await this.#prepared()
    // The keys come from this store's own scan, so they all lie within its prefix.
    await collection.deleteMany({ _id: { $in: keys } }, { maxTimeMS: this.#maxTimeMS })
  }

  protected override async shutdown(): Promise<void> {
    this.client.off('topologyDescriptionChanged', this.#onTopologyChanged)
    if (this.#closeClient) await this.client.close()
  }

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
    projection: Document,
    pick: (document: SessionDocument) => T,
  ): AsyncIterableIterator<T[], undefined> {
    let cursor: FindCursor<SessionDocument> | undefined
    let finished = false
    const done = { done: true, value: undefined } as const
    return {
      next: async () => {
        if (finished) return done
        // No maxTimeMS: it would bound the whole enumeration, while the store bounds each step.
        cursor ??= (await this.#prepared()).find(this.#liveInPrefix(), { projection, batchSize: SCAN_BATCH })
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

  /** The collection, once the client is connected and the TTL index exists. */
  async #prepared(): Promise<Collection<SessionDocument>> {
    if (!this.#ready) {
      this.#readiness ??= this.#prepare().then(
        () => {
          this.#ready = true
        },
        (err: unknown) => {
          this.#readiness = undefined
          throw err
        },
      )
      await this.#readiness
    }
    return this.collection
  }

  async #prepare(): Promise<void> {
    // The driver connects on the first operation by itself, but when that first connection
    // fails it keeps the closed topology, and every later operation fails with "Topology is
    // closed" even once the server is back. Connecting explicitly, again after each failure,
    // lets a store created while MongoDB is down recover. On a connected client it is a no-op.
    await this.client.connect()
    if (!this.#createIndex) return
    try {
      // Idempotent: creating an index that exists with the same key and options does nothing.
      await this.collection.createIndex(TTL_INDEX.key, { ...TTL_INDEX.options, maxTimeMS: this.#maxTimeMS })
    } catch (cause) {
      // The server refused (no permission, or an index on `expires` with other options): sessions
      // still work and expired ones are still never read, they are just not deleted by MongoDB.
      // Say so once and carry on. Anything else (the server unreachable) fails this operation
      // and the next one tries again.
      if (!(cause instanceof MongoServerError)) throw cause
      this.reportError(
        this.error(
          'EBACKEND',
          `cannot create the TTL index on ${this.collection.collectionName}.expires, so MongoDB will not ` +
            `delete expired sessions: ${cause.message}. Create it yourself or set createIndex: false.`,
          'createIndex',
          cause,
        ),
      )
    }
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

  /** Creates the store's own client, with timeouts that fit the store's. */
  #createClient(url: string, clientOptions: MongoClientOptions | undefined, timeout: number): MongoClient {
    if (!/^mongodb(\+srv)?:\/\//.test(url)) {
      throw this.error('EOPTIONS', 'a connection string must start with mongodb:// or mongodb+srv://')
    }
    if (!/^mongodb(\+srv)?:\/\/[^\s/?]+(?:[/?]|$)/.test(url)) {
      throw this.error('EOPTIONS', 'the connection string names no valid host (hosts cannot contain spaces)')
    }
    const options: MongoClientOptions = { ...clientOptions }
    // The driver waits up to 30 s for a server by default. Give up a little before the store
    // does, so the caller sees the driver's reason (e.g. ECONNREFUSED) rather than a bare
    // timeout. Options given here or in the URL win (the driver would let these win over the URL).
    const defaults = { serverSelectionTimeoutMS: Math.ceil(timeout * 0.8), connectTimeoutMS: timeout }
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
