import { once } from 'node:events'
import { server, skipReason } from '@session-store/conformance/harness'
import { type SessionData, SessionStoreError } from '@session-store/core'
import { type Collection, type Db, MongoClient, MongoServerSelectionError } from 'mongodb'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MongoStore, NEVER_EXPIRES, prefixRange, type SessionDocument, TTL_INDEX } from '../src/index.js'
import { serverKind } from './server-kind.js'

/** A port nothing listens on (the TCP port multiplexer, never served on loopback). */
const NOTHING_LISTENS = 'mongodb://127.0.0.1:1'

/** How a store's operation failed: the error, or a failure of the test when it resolved. */
async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise
  } catch (error) {
    return error as Error
  }
  throw new Error('expected the operation to reject, it resolved')
}

describe('MongoStore without a server', () => {
  describe('options', () => {
    const expectOptionsError = (create: () => unknown, message: RegExp) => {
      let thrown: unknown
      try {
        create()
      } catch (error) {
        thrown = error
      }
      expect(thrown).toBeInstanceOf(SessionStoreError)
      expect((thrown as SessionStoreError).code).toBe('EOPTIONS')
      expect((thrown as SessionStoreError).message).toMatch(/^\[@session-store\/mongodb\] \[mongodb\] /)
      expect((thrown as SessionStoreError).message).toMatch(message)
    }

    it('rejects anything but a MongoClient, a Db or a connection string', () => {
      for (const connection of [undefined, null, 42, {}, { db: () => ({}) }, []]) {
        expectOptionsError(
          () => new MongoStore(connection as unknown as string),
          /expected a MongoClient, a Db or a connection string/,
        )
      }
      expectOptionsError(() => new MongoStore('redis://127.0.0.1:6379'), /must start with mongodb:\/\//)
      expectOptionsError(() => new MongoStore('mongodb://127.0.0.1:notaport'), /invalid connection string/)
    })

    it('rejects bad store options before creating anything', () => {
      expectOptionsError(
        () => new MongoStore(NOTHING_LISTENS, { dbName: '' }),
        /dbName must be a non-empty name/,
      )
      expectOptionsError(
        () => new MongoStore(NOTHING_LISTENS, { collection: 7 as unknown as string }),
        /collection must be a non-empty name/,
      )
      expectOptionsError(
        () => new MongoStore(NOTHING_LISTENS, { createIndex: 'yes' as unknown as boolean }),
        /createIndex must be a boolean/,
      )
      expectOptionsError(
        () => new MongoStore(NOTHING_LISTENS, { closeClient: 1 as unknown as boolean }),
        /closeClient must be a boolean/,
      )
      expectOptionsError(
        () => new MongoStore(NOTHING_LISTENS, { autoRemove: 'ttl' as unknown as 'native' }),
        /autoRemove must be 'native', 'interval' or 'disabled'/,
      )
      // connect-mongo's autoRemoveInterval is in minutes: 10 would prune every 10 ms here.
      expectOptionsError(
        () => new MongoStore(NOTHING_LISTENS, { autoRemove: 'interval', autoRemoveInterval: 10 }),
        /autoRemoveInterval must be a number of ms of at least 1000, got number 10 \(connect-mongo counts it in minutes/,
      )
      expectOptionsError(() => new MongoStore(NOTHING_LISTENS, { timeout: -1 }), /timeout must be/)
      const client = new MongoClient(NOTHING_LISTENS)
      expectOptionsError(
        () => new MongoStore(client.db('app'), { dbName: 'other' }),
        /cannot be combined with a Db/,
      )
    })

    it('uses the database, collection, write concern and read preference it was given', async () => {
      const client = new MongoClient(NOTHING_LISTENS)
      const fromClient = new MongoStore(client, {
        dbName: 'app',
        collection: 'web_sessions',
        writeConcern: { w: 'majority' },
        readPreference: 'secondaryPreferred',
      })
      expect(fromClient.collection.namespace).toBe('app.web_sessions')
      expect(fromClient.collection.writeConcern?.w).toBe('majority')
      expect(fromClient.collection.readPreference?.mode).toBe('secondaryPreferred')
      const fromDb = new MongoStore(client.db('other'))
      expect(fromDb.collection.namespace).toBe('other.sessions')
      expect(fromDb.client).toBe(client)
      const fromUrl = new MongoStore(`${NOTHING_LISTENS}/named`)
      expect(fromUrl.collection.namespace).toBe('named.sessions')
      await Promise.all([fromClient.close(), fromDb.close(), fromUrl.close()])
    })

    it('bounds connecting of a client it creates by its own timeout, unless told otherwise', async () => {
      const own = new MongoStore(NOTHING_LISTENS, { timeout: 2000 })
      expect(own.client.options.serverSelectionTimeoutMS).toBe(2000)
      expect(own.client.options.connectTimeoutMS).toBe(2000)
      const fromUrl = new MongoStore(`${NOTHING_LISTENS}/?serverSelectionTimeoutMS=1234`, { timeout: 2000 })
      expect(fromUrl.client.options.serverSelectionTimeoutMS).toBe(1234)
      const fromOptions = new MongoStore(NOTHING_LISTENS, { clientOptions: { connectTimeoutMS: 777 } })
      expect(fromOptions.client.options.connectTimeoutMS).toBe(777)
      await Promise.all([own.close(), fromUrl.close(), fromOptions.close()])
    })

    it('declares millisecond ttls and a value limit under the 16 MiB BSON document limit', () => {
      const store = new MongoStore(NOTHING_LISTENS)
      expect(store.capabilities.ttlGranularityMs).toBe(1)
      expect(store.capabilities.maxValueBytes).toBeLessThan(16 * 1024 * 1024)
      expect(store.capabilities.maxValueBytes).toBeGreaterThan(15 * 1024 * 1024)
      expect(store.capabilities.enumeration).toBe(true)
      return store.close()
    })

    it('asks for a TTL index on expires that deletes documents as soon as they expire', () => {
      expect(TTL_INDEX).toEqual({ key: { expires: 1 }, options: { expireAfterSeconds: 0 } })
      expect(NEVER_EXPIRES.getUTCFullYear()).toBe(9999)
    })
  })

  describe('before any I/O', () => {
    /**
     * A real client, watched: any connection attempt, command or call to connect() is recorded.
     * Nothing listens on its port, so a query would fail anyway, but with a SessionStoreError,
     * not a TypeError.
     */
    function watchedClient() {
      const client = new MongoClient(NOTHING_LISTENS, { monitorCommands: true })
      const used: string[] = []
      for (const event of ['topologyOpening', 'serverHeartbeatStarted', 'commandStarted'] as const) {
        client.on(event, () => used.push(event))
      }
      client.connect = () => {
        used.push('connect')
        throw new Error('this client must not be used')
      }
      return { client, used }
    }

    it('rejects a sid that is not a non-empty string with a TypeError and sends nothing', async () => {
      const { client, used } = watchedClient()
      const store = new MongoStore(client)
      const badSids: unknown[] = [
        { $gt: '' },
        { $ne: null },
        { $regex: '.*' },
        ['sid'],
        42,
        null,
        undefined,
        '',
      ]
      for (const sid of badSids) {
        const calls = [
          store.get(sid as string),
          store.set(sid as string, { user: 'x' }),
          store.destroy(sid as string),
          store.touch(sid as string, { user: 'x' }),
        ]
        for (const call of calls) {
          const error = await rejection(call)
          expect(error, `sid ${JSON.stringify(sid)}`).toBeInstanceOf(TypeError)
          expect(error.message).toMatch(/sid must be a non-empty, well-formed string/)
        }
      }
      expect(used).toEqual([])
      await store.close()
    })

    it('refuses a session over the value limit without sending it', async () => {
      const { client, used } = watchedClient()
      const store = new MongoStore(client)
      const huge: SessionData = { blob: 'x'.repeat(store.capabilities.maxValueBytes + 1) }
      const error = await rejection(store.set('big', huge))
      expect(error).toBeInstanceOf(SessionStoreError)
      expect((error as SessionStoreError).code).toBe('ETOOLARGE')
      expect(used).toEqual([])
      await store.close()
    })
  })

  describe('prefixRange', () => {
    /** MongoDB's string order without a collation: the UTF-8 bytes. */
    const compare = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b))
    const inRange = (key: string, range: { $gte: string; $lt?: string }) =>
      compare(key, range.$gte) >= 0 && (range.$lt === undefined || compare(key, range.$lt) < 0)

    const prefixes = [
      'sess:',
      'koa:sess:',
      'p.*',
      'é',
      '😀',
      'a\u{10ffff}',
      '\u{10ffff}',
      'x\ud7ff',
      '\uffff',
      '',
    ]
    const tails = [
      '',
      'a',
      'sid',
      '\u0000',
      '~',
      '\u00ff',
      '\ud7ff',
      '\ue000',
      '\uffff',
      '😀',
      '\u{10ffff}',
      ':x',
    ]

    it('holds exactly the keys that start with the prefix, in UTF-8 byte order', () => {
      const candidates = new Set<string>()
      for (const prefix of prefixes) {
        const chars = Array.from(prefix)
        const stem = chars.slice(0, -1).join('')
        for (const tail of tails) {
          candidates.add(prefix + tail)
          candidates.add(stem + tail)
          candidates.add(tail + prefix)
        }
      }
      for (const prefix of prefixes) {
        const range = prefixRange(prefix)
        for (const key of candidates) {
          expect(inRange(key, range), `${JSON.stringify(key)} against prefix ${JSON.stringify(prefix)}`).toBe(
            key.startsWith(prefix),
          )
        }
      }
    })

    it("includes keys that continue beyond U+FFFF, which a prefix + '\\uffff' bound misses", () => {
      const key = 'sess:😀'
      expect(inRange(key, { $gte: 'sess:', $lt: 'sess:\uffff' })).toBe(false)
      expect(inRange(key, prefixRange('sess:'))).toBe(true)
      expect(prefixRange('sess:')).toEqual({ $gte: 'sess:', $lt: 'sess;' })
      expect(prefixRange('')).toEqual({ $gte: '' })
    })
  })

  describe('with nothing listening', () => {
    it("rejects, emits 'disconnect' with the driver's reason, and tries again on the next call", async () => {
      // A driver that gives up on finding a server before the store's deadline, so that the
      // rejection carries the driver's error rather than the store's timeout.
      const store = new MongoStore(NOTHING_LISTENS, {
        timeout: 2000,
        clientOptions: { serverSelectionTimeoutMS: 500 },
      })
      const disconnected = once(store, 'disconnect')
      const first = await rejection(store.get('sid'))
      expect(first).toBeInstanceOf(SessionStoreError)
      expect((first as SessionStoreError).code).toBe('EBACKEND')
      expect((first as SessionStoreError).cause).toBeInstanceOf(MongoServerSelectionError)
      const [reason] = await disconnected
      expect(String(reason)).toMatch(/ECONNREFUSED/)
      // A failed first connection leaves the driver's client closed for good ("Topology is
      // closed"); the store connects again, so the next call meets the real cause once more.
      const second = await rejection(store.set('sid', { n: 1 }))
      expect((second as SessionStoreError).cause).toBeInstanceOf(MongoServerSelectionError)
      expect(second.message).not.toMatch(/Topology is closed/)
      await store.close()
    })
  })

  describe('close', () => {
    /** Records calls to the client's close(), and still closes it. */
    function recordClose(client: MongoClient): string[] {
      const calls: string[] = []
      const close = client.close.bind(client)
      client.close = async (...args) => {
        calls.push('close')
        return close(...args)
      }
      return calls
    }

    it("closes a client it created, leaves the caller's open unless told otherwise, and stops listening", async () => {
      const own = new MongoStore(NOTHING_LISTENS)
      const ownCalls = recordClose(own.client)
      await own.close()
      expect(ownCalls).toEqual(['close'])

      const client = new MongoClient(NOTHING_LISTENS)
      const calls = recordClose(client)
      const listeners = client.listenerCount('topologyDescriptionChanged')
      const injected = new MongoStore(client)
      const fromDb = new MongoStore(client.db('app'))
      expect(client.listenerCount('topologyDescriptionChanged')).toBe(listeners + 2)
      await injected.close()
      await injected.close()
      await fromDb.close()
      expect(calls).toEqual([])
      expect(client.listenerCount('topologyDescriptionChanged')).toBe(listeners)

      const told = new MongoStore(client.db('app'), { closeClient: true })
      await told.close()
      expect(calls).toEqual(['close'])
      const after = await rejection(told.get('sid'))
      expect((after as SessionStoreError).code).toBe('ECLOSED')
    })
  })
})

const found = server('mongodb')
/** FerretDB's version when it serves this run (it has no TTL indexes), else undefined. */
const ferretdb = found ? (await serverKind(found.url)).ferretdb : undefined

/** Expired documents, as they sit until someone deletes them. */
function expiredDocuments(prefix: string, count: number): SessionDocument[] {
  const expires = new Date(Date.now() - 1000)
  return Array.from({ length: count }, (_, i) => ({
    _id: `${prefix}${String(i).padStart(5, '0')}`,
    session: JSON.stringify({ i }),
    expires,
  }))
}

/** Polls until `check` holds, at most `ms`. */
async function eventually(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const until = Date.now() + ms
  while (Date.now() < until) {
    if (await check()) return true
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return check()
}

describe.skipIf(!found)(
  `MongoStore on ${found?.description ?? `MongoDB (skipped: ${skipReason('mongodb')})`}`,
  () => {
    const url = found?.url ?? ''
    const dbName = 'session_store_test'
    const run = `${process.pid}_${Date.now()}`
    let client: MongoClient
    let db: Db
    let collectionNumber = 0
    const created: string[] = []

    /** A collection of its own for each test, dropped at the end. */
    function freshCollection(): string {
      const name = `sessions_${run}_${++collectionNumber}`
      created.push(name)
      return name
    }

    beforeAll(async () => {
      client = await new MongoClient(url, { serverSelectionTimeoutMS: 5000 }).connect()
      db = client.db(dbName)
    })

    afterAll(async () => {
      if (!client) return
      for (const name of created)
        await db
          .collection(name)
          .drop()
          .catch(() => {})
      await client.close()
    })

    function storeOn(collection: string, options: ConstructorParameters<typeof MongoStore>[1] = {}) {
      return new MongoStore(client, { dbName, collection, ...options })
    }

    it('creates the TTL index on expires with expireAfterSeconds 0, once', async (ctx) => {
      if (ferretdb) return ctx.skip(`FerretDB ${ferretdb} has no TTL indexes (the fallback test covers it)`)
      const name = freshCollection()
      const stores = [storeOn(name, { prefix: 'a:' }), storeOn(name, { prefix: 'b:' })]
      const warnings: Error[] = []
      for (const store of stores) store.on('warning', (warning) => warnings.push(warning))
      await Promise.all(stores.flatMap((store) => [store.set('one', { n: 1 }), store.get('two')]))
      const indexes = await db.collection(name).listIndexes().toArray()
      const ttl = indexes.filter((index) => index.key.expires !== undefined)
      expect(ttl).toHaveLength(1)
      expect(ttl[0]).toMatchObject({ key: { expires: 1 }, expireAfterSeconds: 0 })
      expect(stores.map((store) => store.autoRemove)).toEqual(['native', 'native'])
      expect(warnings).toEqual([])
      await Promise.all(stores.map((store) => store.close()))
    })

    it('creates no index without createIndex or with autoRemove disabled, and a plain one for interval', async () => {
      const indexKeys = async (name: string) =>
        (await db.collection(name).listIndexes().toArray()).map((index) => ({
          key: index.key,
          ttl: index.expireAfterSeconds,
        }))
      for (const options of [{ createIndex: false }, { autoRemove: 'disabled' as const }]) {
        const name = freshCollection()
        const store = storeOn(name, options)
        await store.set('one', { n: 1 })
        expect(await indexKeys(name), JSON.stringify(options)).toEqual([{ key: { _id: 1 }, ttl: undefined }])
        await store.close()
      }
      const name = freshCollection()
      const store = storeOn(name, { autoRemove: 'interval' })
      await store.set('one', { n: 1 })
      expect(await indexKeys(name)).toEqual([
        { key: { _id: 1 }, ttl: undefined },
        { key: { expires: 1 }, ttl: undefined },
      ])
      await store.close()
    })

    it("falls back from 'native' to 'interval' on a server without TTL indexes, with one warning", async (ctx) => {
      if (!ferretdb) return ctx.skip('the server has TTL indexes: MongoDB itself, not FerretDB')
      const name = freshCollection()
      const sessions = db.collection<SessionDocument>(name)
      await sessions.insertMany(expiredDocuments('other:', 3))
      const store = storeOn(name, { prefix: 'p:', autoRemoveInterval: 1000 })
      const warnings: Error[] = []
      const errors: Error[] = []
      store.on('warning', (warning) => warnings.push(warning))
      store.on('error', (error) => errors.push(error))
      const unhandled: unknown[] = []
      const onUnhandled = (reason: unknown) => unhandled.push(reason)
      process.on('unhandledRejection', onUnhandled)
      try {
        // Several first operations at once share the one attempt at the index.
        await Promise.all([
          store.set('a', { n: 1 }),
          store.get('b'),
          store.set('c', { n: 2 }),
          store.length(),
        ])
        expect(await store.get('a')).toEqual({ n: 1 })
        expect(store.autoRemove).toBe('interval')
        expect(warnings).toHaveLength(1)
        expect(warnings[0]).toBeInstanceOf(SessionStoreError)
        expect(warnings[0]!.message).toMatch(
          /^\[@session-store\/mongodb\] \[mongodb\] the server has no TTL indexes \(Index option "expireAfterSeconds" is not implemented yet\).*autoRemove is 'interval' now/,
        )
        expect(errors).toEqual([])
        // The index pruning walks is there, and the timer prunes every prefix's expired documents.
        const keys = (await sessions.listIndexes().toArray()).map((index) => index.key)
        expect(keys).toContainEqual({ expires: 1 })
        expect(
          await eventually(async () => (await sessions.countDocuments({ _id: /^other:/ })) === 0, 5000),
        ).toBe(true)
        expect(await store.get('c')).toEqual({ n: 2 })
        // A second store on the same server finds the same, and says so once too.
        const second = storeOn(name, { prefix: 'q:' })
        const secondWarnings: Error[] = []
        second.on('warning', (warning) => secondWarnings.push(warning))
        await second.set('x', { n: 3 })
        await second.get('x')
        expect(secondWarnings).toHaveLength(1)
        await second.close()
        expect(warnings).toHaveLength(1)
        expect(unhandled).toEqual([])
      } finally {
        process.off('unhandledRejection', onUnhandled)
        await store.close()
      }
    })

    it("'interval' deletes expired sessions of every prefix in batches, on its timer and on demand", async () => {
      const name = freshCollection()
      const sessions = db.collection<SessionDocument>(name)
      const store = storeOn(name, { prefix: 'p:', autoRemove: 'interval', autoRemoveInterval: 1000 })
      await store.set('live', { n: 1 }, 60_000)
      await sessions.insertMany([...expiredDocuments('p:old', 5), ...expiredDocuments('other:', 5)])
      // On its timer, 750 to 1250 ms after the store was created and again after each round.
      expect(await eventually(async () => (await sessions.countDocuments()) === 1, 5000)).toBe(true)
      expect(await store.get('live')).toEqual({ n: 1 })

      // On demand, more than one batch.
      await sessions.insertMany(expiredDocuments('bulk:', 2500))
      const removed = await store.prune()
      expect(removed).toBe(2500)
      expect(await sessions.countDocuments({ _id: /^bulk:/ })).toBe(0)
      expect(await sessions.countDocuments()).toBe(1)

      // After close the timer is gone: what expires now stays.
      await store.close()
      await expect(store.prune()).rejects.toMatchObject({ code: 'ECLOSED' })
      await sessions.insertMany(expiredDocuments('late:', 3))
      await new Promise((resolve) => setTimeout(resolve, 1500))
      expect(await sessions.countDocuments({ _id: /^late:/ })).toBe(3)
    })

    it('keeps one document per session: _id = prefix + sid, the encoded session, and expires as a Date', async () => {
      const name = freshCollection()
      const store = storeOn(name, { prefix: 'app:' })
      const before = Date.now()
      await store.set('abc', { user: 'zoë' }, 60_000)
      const document = await db.collection<SessionDocument>(name).findOne({ _id: 'app:abc' })
      expect(document?.session).toBe(JSON.stringify({ user: 'zoë' }))
      expect(document?.expires).toBeInstanceOf(Date)
      expect(document!.expires.getTime()).toBeGreaterThanOrEqual(before + 60_000)
      expect(document!.expires.getTime()).toBeLessThanOrEqual(Date.now() + 60_000)

      const forever = storeOn(name, { prefix: 'forever:', disableTtl: true })
      await forever.set('abc', { user: 'zoë' })
      const kept = await db.collection<SessionDocument>(name).findOne({ _id: 'forever:abc' })
      expect(kept?.expires).toEqual(NEVER_EXPIRES)
      await Promise.all([store.close(), forever.close()])
    })

    it('never returns, enumerates, counts or revives a document whose expires has passed', async () => {
      const name = freshCollection()
      const store = storeOn(name, { prefix: 'p:' })
      const sessions = db.collection<SessionDocument>(name)
      const past = new Date(Date.now() - 1000)
      // Written directly, as it would sit until the TTL monitor's next pass (up to 60 s later).
      await sessions.insertOne({ _id: 'p:expired', session: JSON.stringify({ stale: true }), expires: past })
      await store.set('live', { fresh: true })

      expect(await store.get('expired')).toBeNull()
      const ids: string[] = []
      for await (const id of store.ids()) ids.push(id)
      expect(ids).toEqual(['live'])
      expect(await store.all()).toEqual([{ fresh: true }])
      expect(await store.length()).toBe(1)

      await store.touch('expired', { cookie: { maxAge: 60_000 } })
      expect((await sessions.findOne({ _id: 'p:expired' }))?.expires).toEqual(past)
      expect(await store.get('expired')).toBeNull()

      // A touch never creates a session either.
      await store.touch('never-written', { cookie: { maxAge: 60_000 } })
      expect(await sessions.countDocuments({ _id: 'p:never-written' })).toBe(0)
      await store.close()
    })

    it('treats operator-looking sids, prefixes and session keys as plain data', async () => {
      const name = freshCollection()
      const sessions = db.collection<SessionDocument>(name)
      const store = storeOn(name, { prefix: 'p.*' })
      const neighbour = storeOn(name, { prefix: 'p.x' })
      await neighbour.set('other', { owner: 'neighbour' })

      const sids = [
        '{"$gt":""}',
        '$where',
        '$ne',
        '.*',
        '^',
        '[a-z]+',
        'a.b',
        '$',
        '{$regex:".*"}',
        '😀 first',
        '\\',
      ]
      for (const sid of sids) await store.set(sid, { sid })
      for (const sid of sids) expect(await store.get(sid)).toEqual({ sid })
      expect(await store.get('anything')).toBeNull()
      const ids: string[] = []
      for await (const id of store.ids()) ids.push(id)
      expect(ids.sort()).toEqual([...sids].sort())

      const hostile: SessionData = { $set: { admin: true }, $where: 'sleep(1000)', 'a.b': 1, __proto__x: 2 }
      await store.set('data', hostile)
      expect(await store.get('data')).toEqual(hostile)
      expect(typeof (await sessions.findOne({ _id: 'p.*data' }))?.session).toBe('string')

      await store.clear()
      expect(await store.length()).toBe(0)
      expect(await neighbour.get('other')).toEqual({ owner: 'neighbour' })
      await Promise.all([store.close(), neighbour.close()])
    })

    it('works from a Db and from a connection string, and closes only the client it created', async () => {
      const name = freshCollection()
      const fromDb = new MongoStore(db, { collection: name, prefix: 'db:' })
      await fromDb.set('sid', { via: 'db' })
      await fromDb.close()
      expect(await client.db(dbName).collection(name).countDocuments()).toBe(1)

      const fromUrl = new MongoStore(url, { dbName, collection: name, prefix: 'url:' })
      await fromUrl.set('sid', { via: 'url' })
      expect(await fromUrl.get('sid')).toEqual({ via: 'url' })
      await fromUrl.close()
      expect(await client.db(dbName).collection(name).countDocuments()).toBe(2)
    })

    it('reports a TTL index it cannot create, and keeps working', async (ctx) => {
      if (ferretdb) {
        return ctx.skip(`FerretDB ${ferretdb} cannot create the other TTL index this test starts from`)
      }
      const name = freshCollection()
      await db.collection(name).createIndex({ expires: 1 }, { expireAfterSeconds: 3600 })
      const store = storeOn(name)
      const errors: Error[] = []
      store.on('error', (error) => errors.push(error))
      await store.set('sid', { n: 1 })
      expect(await store.get('sid')).toEqual({ n: 1 })
      expect(errors).toHaveLength(1)
      expect(errors[0]).toBeInstanceOf(SessionStoreError)
      expect(errors[0]!.message).toMatch(/cannot create the TTL index/)
      await store.set('sid', { n: 2 })
      expect(errors).toHaveLength(1)
      await store.close()
    })

    it('enumerates in batches across more documents than one cursor batch', async () => {
      const name = freshCollection()
      const store = storeOn(name, { prefix: 'many:' })
      const expires = new Date(Date.now() + 60_000)
      const documents = Array.from({ length: 2500 }, (_, i) => ({
        _id: `many:${String(i).padStart(5, '0')}`,
        session: JSON.stringify({ i }),
        expires,
      }))
      await (db.collection(name) as unknown as Collection<SessionDocument>).insertMany(documents)
      let seen = 0
      for await (const _ of store.ids()) seen++
      expect(seen).toBe(2500)
      expect((await store.all()).length).toBe(2500)
      expect(await store.length()).toBe(2500)
      // Stopping early closes the cursor and lets the store go on.
      for await (const _ of store.ids()) break
      await store.clear()
      expect(await store.length()).toBe(0)
      await store.close()
    })
  },
)
