import { randomBytes, randomUUID } from 'node:crypto'
import { type PrivateServer, server, startRedis } from '@session-store/conformance/harness'
import { encryptedSerializer, SessionStoreError } from '@session-store/core'
import { Cluster, Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { hashSlot } from '../src/hash-slot.js'
import { RedisStore, type RedisStoreOptions } from '../src/index.js'
import { collect, expectTtlNear, freshPrefix, literalPattern, scanAll } from './helpers.js'

// Checks that read the server itself: what the store really writes, where, with which expiry,
// and how its commands travel. What happens when the connection fails is in redis.faults.test.ts.

const found = server('redis')

const DAY_MS = 86_400_000

describe.skipIf(!found)('RedisStore on a real Redis', () => {
  let raw: Redis
  const stores: RedisStore[] = []
  const clients: Redis[] = []

  /** A store on a client of its own; everything is closed after the file. */
  const makeStore = (options: RedisStoreOptions = {}, client = new Redis(found!.url)) => {
    clients.push(client)
    const store = new RedisStore(client, { prefix: freshPrefix('store'), ...options })
    stores.push(store)
    return store
  }

  beforeAll(() => {
    raw = new Redis(found!.url)
  })

  afterAll(async () => {
    await Promise.all(stores.map((store) => store.close()))
    // Stores closed by a test still leave keys behind: remove them straight from the server.
    for (const store of stores) {
      const namespace = (store.client.options.keyPrefix ?? '') + store.prefix
      const keys = await scanAll(raw, `${literalPattern(namespace)}*`)
      if (keys.length > 0) await raw.unlink(...keys)
    }
    for (const client of clients) client.disconnect()
    raw.disconnect()
  })

  describe('expiry, read back with PTTL', () => {
    it('takes the ttl from cookie.expires, as a Date or as an ISO string', async () => {
      const store = makeStore()
      const expires = new Date(Date.now() + 60_000)
      await store.set('date', { cookie: { expires } })
      await store.set('iso', { cookie: { expires: expires.toISOString() } })
      expectTtlNear(await raw.pttl(`${store.prefix}date`), 60_000)
      expectTtlNear(await raw.pttl(`${store.prefix}iso`), 60_000)
    })

    it('takes the ttl from cookie.maxAge, then originalMaxAge', async () => {
      const store = makeStore()
      await store.set('max-age', { cookie: { maxAge: 30_000 } })
      await store.set('original', { cookie: { originalMaxAge: 40_000 } })
      expectTtlNear(await raw.pttl(`${store.prefix}max-age`), 30_000)
      expectTtlNear(await raw.pttl(`${store.prefix}original`), 40_000)
    })

    it('lets an explicit ttl in ms win over the cookie, to the millisecond', async () => {
      const store = makeStore()
      await store.set('explicit', { cookie: { maxAge: 30_000 } }, 12_345)
      expectTtlNear(await raw.pttl(`${store.prefix}explicit`), 12_345)
      // A fraction of a millisecond is rounded up: PX takes whole ms, and 0 would be refused.
      await store.set('fraction', { cookie: {} }, 7_000.2)
      expectTtlNear(await raw.pttl(`${store.prefix}fraction`), 7_001)
    })

    it('falls back to the default of one day, also for a browser-session cookie', async () => {
      const store = makeStore()
      await store.set('plain', { user: 1 })
      await store.set('browser-session', { cookie: { expires: null, maxAge: null } })
      await store.set('koa-session', { user: 1 }, 'session')
      for (const sid of ['plain', 'browser-session', 'koa-session']) {
        expectTtlNear(await raw.pttl(`${store.prefix}${sid}`), DAY_MS)
      }
    })

    it('lets a ttl function decide alone, in seconds', async () => {
      const store = makeStore({ ttl: (session) => (session.short ? 10 : 100) })
      await store.set('short', { short: true, cookie: { maxAge: DAY_MS } })
      await store.set('long', { short: false }, 5_000)
      expectTtlNear(await raw.pttl(`${store.prefix}short`), 10_000)
      expectTtlNear(await raw.pttl(`${store.prefix}long`), 100_000)
    })

    it('deletes instead of writing when the expiry has passed', async () => {
      const store = makeStore()
      await store.set('past', { a: 1 })
      await store.set('past', { cookie: { expires: new Date(Date.now() - 1000) } })
      expect(await raw.exists(`${store.prefix}past`)).toBe(0)
    })

    it('touch moves the expiry with PEXPIRE and leaves the stored bytes alone', async () => {
      const store = makeStore()
      await store.set('touched', { data: 'kept', cookie: { maxAge: 10_000 } })
      const before = await raw.get(`${store.prefix}touched`)
      await store.touch('touched', { data: 'ignored by touch', cookie: { maxAge: 50_000 } })
      expectTtlNear(await raw.pttl(`${store.prefix}touched`), 50_000)
      expect(await raw.get(`${store.prefix}touched`)).toBe(before)
      await store.touch('touched', { cookie: {} }, 20_000)
      expectTtlNear(await raw.pttl(`${store.prefix}touched`), 20_000)
    })

    it('touch never re-creates a session that is gone', async () => {
      const store = makeStore()
      await store.touch('never-written', { cookie: { maxAge: 50_000 } })
      await store.set('destroyed', { a: 1 })
      await store.destroy('destroyed')
      await store.touch('destroyed', { cookie: { maxAge: 50_000 } })
      expect(await raw.exists(`${store.prefix}never-written`, `${store.prefix}destroyed`)).toBe(0)
    })

    it('stores without expiry when ttl is disabled, and touch then changes nothing', async () => {
      const store = makeStore({ disableTtl: true })
      await store.set('forever', { cookie: { maxAge: 1000 } })
      expect(await raw.pttl(`${store.prefix}forever`)).toBe(-1)
      await store.touch('forever', { cookie: { maxAge: 1000 } })
      expect(await raw.pttl(`${store.prefix}forever`)).toBe(-1)
    })
  })

  describe('keys', () => {
    it('writes only under its prefix, and clear leaves neighbouring keys alone', async () => {
      const prefix = freshPrefix('only')
      // Keys that a sloppy pattern or a prefix test without the separator would catch.
      const neighbours = [
        prefix.slice(0, -1),
        `${prefix.slice(0, -1)};x`,
        `${prefix.toUpperCase()}x`,
        `x${prefix}y`,
      ]
      for (const key of neighbours) await raw.set(key, 'neighbour', 'PX', 60_000)
      const store = makeStore({ prefix })
      await store.set('a', { a: 1 })
      await store.set('b', { b: 1 })
      await store.touch('a', { cookie: { maxAge: 60_000 } })
      await store.destroy('b')
      await store.set('c', { c: 1 }, 60_000)
      expect((await scanAll(raw, `${prefix}*`)).sort()).toEqual([`${prefix}a`, `${prefix}c`])
      expect(await store.length()).toBe(2)
      await store.clear()
      expect(await scanAll(raw, `${prefix}*`)).toEqual([])
      for (const key of neighbours) expect(await raw.get(key)).toBe('neighbour')
      await raw.unlink(...neighbours)
    })

    it('enumerates a prefix holding glob characters literally', async () => {
      const run = randomUUID().slice(0, 8)
      // Each prefix as an unescaped MATCH pattern would also match its neighbour's keys, or
      // (the backslash) miss its own.
      const cases = [
        { prefix: `glob:${run}:p*:`, neighbour: `glob:${run}:pz:` },
        { prefix: `glob:${run}:q?:`, neighbour: `glob:${run}:qx:` },
        { prefix: `glob:${run}:r[ab]:`, neighbour: `glob:${run}:ra:` },
        { prefix: `glob:${run}:s\\:`, neighbour: `glob:${run}:s:` },
        { prefix: `glob:${run}:t]:`, neighbour: `glob:${run}:t:` },
      ]
      for (const { prefix, neighbour } of cases) {
        const store = makeStore({ prefix })
        const other = makeStore({ prefix: neighbour })
        await store.set('mine', { mine: true })
        await other.set('theirs', { mine: false })
        expect(await collect(store.ids()), prefix).toEqual(['mine'])
        expect(await store.length(), prefix).toBe(1)
        expect(await store.all(), prefix).toEqual([{ mine: true }])
        await store.clear()
        expect(await raw.exists(`${prefix}mine`), prefix).toBe(0)
        expect(await other.get('theirs'), prefix).toEqual({ mine: false })
        await other.clear()
      }
    })

    it("works with a client that has ioredis' own keyPrefix", async () => {
      const clientPrefix = freshPrefix('client')
      const store = makeStore({ prefix: 'sess:' }, new Redis(found!.url, { keyPrefix: clientPrefix }))
      await store.set('one', { n: 1 })
      await store.set('two', { n: 2 })
      expect(await raw.exists(`${clientPrefix}sess:one`)).toBe(1)
      expect((await collect(store.ids())).sort()).toEqual(['one', 'two'])
      expect(await store.length()).toBe(2)
      expect((await store.all()).map((s) => s.n).sort()).toEqual([1, 2])
      await store.clear()
      expect(await scanAll(raw, `${clientPrefix}*`)).toEqual([])
    })

    it('streams a large enumeration in SCAN-sized batches', async () => {
      const store = makeStore({ scanCount: 50 })
      const sids = Array.from({ length: 1200 }, (_, i) => `s${i}`)
      await Promise.all(sids.map((sid) => store.set(sid, { sid })))
      expect((await collect(store.ids())).sort()).toEqual([...sids].sort())
      expect((await store.all()).length).toBe(sids.length)
      expect(await store.length()).toBe(sids.length)
      await store.clear()
      expect(await store.length()).toBe(0)
    })
  })

  describe('batching', () => {
    it('sends the commands issued in one turn in two socket writes (the first alone), each reply to its caller', async () => {
      const store = makeStore()
      const client = store.client as Redis
      const sids = Array.from({ length: 200 }, (_, i) => `p${i}`)
      await Promise.all(sids.map((sid) => store.set(sid, { sid })))
      // A key of another type makes exactly one command of the batch fail.
      await raw.rpush(`${store.prefix}a-list`, 'x')
      const writes = countSocketWrites(client)
      const results = await Promise.allSettled([
        ...sids.map((sid) => store.get(sid)),
        store.get('a-list'),
        store.touch('p0', { cookie: { maxAge: 60_000 } }),
        store.destroy('p1'),
      ])
      // The first command leaves at once, since nothing was in flight; the other 202 together.
      expect(writes.stop()).toBe(2)
      for (const [i, sid] of sids.entries())
        expect(results[i]).toEqual({ status: 'fulfilled', value: { sid } })
      const failed = results[sids.length]!
      expect(failed.status).toBe('rejected')
      expect((failed as PromiseRejectedResult).reason).toMatchObject({ code: 'EBACKEND' })
      expect(String((failed as PromiseRejectedResult).reason.message)).toMatch(/WRONGTYPE/)
      expect(results.slice(sids.length + 1).map((r) => r.status)).toEqual(['fulfilled', 'fulfilled'])
      expectTtlNear(await raw.pttl(`${store.prefix}p0`), 60_000)
      expect(await raw.exists(`${store.prefix}p1`)).toBe(0)
    })
  })

  describe('close', () => {
    it('leaves a client it was given open, and lets go of it', async () => {
      const client = new Redis(found!.url)
      await client.ping()
      const listenersBefore = client.listenerCount('ready') + client.listenerCount('close')
      const store = makeStore({}, client)
      await store.set('x', { a: 1 })
      await store.close()
      expect(client.status).toBe('ready')
      expect(await client.ping()).toBe('PONG')
      expect(client.listenerCount('ready') + client.listenerCount('close')).toBe(listenersBefore)
      await expect(store.get('x')).rejects.toMatchObject({ code: 'ECLOSED' })
    })

    it('closes the client when closeClient is set, after sending what was issued before', async () => {
      const client = new Redis(found!.url)
      const store = makeStore({ closeClient: true }, client)
      await client.ping()
      const written = store.set('last-words', { a: 1 })
      await store.close()
      await written
      expect(client.status).toBe('end')
      expect(await raw.exists(`${store.prefix}last-words`)).toBe(1)
      await raw.unlink(`${store.prefix}last-words`)
    })
  })

  describe('order and integrity', () => {
    it('sends commands issued before the first ready ahead of those issued as it arrives', async () => {
      const client = new Redis(found!.url, { lazyConnect: true })
      const store = makeStore({}, client)
      const first = store.set('order', { v: 1 }) // waits in the store for 'ready'
      // Registered after the store's own listener: runs once the client is ready, before the
      // store has released what waited.
      let second: Promise<void> | undefined
      client.once('ready', () => {
        second = store.set('order', { v: 2 })
      })
      await first
      await second
      expect(await store.get('order')).toEqual({ v: 2 })
    })

    it('reads an encrypted value copied under another sid as null, and reports it', async () => {
      const serializer = encryptedSerializer({ keys: { k1: randomBytes(32) } })
      const store = makeStore({ serializer })
      const corrupt: string[] = []
      store.on('corrupt', (_err, sid) => corrupt.push(sid))
      await store.set('victim', { user: 'alice' })
      // Anyone who can write to Redis copies the victim's value under their own sid.
      const stolen = await raw.get(`${store.prefix}victim`)
      expect(stolen).not.toBeNull()
      await raw.set(`${store.prefix}attacker`, stolen!, 'PX', 60_000)
      expect(await store.get('attacker')).toBeNull()
      expect(corrupt).toEqual(['attacker'])
      expect(await store.get('victim')).toEqual({ user: 'alice' })
    })
  })

  describe('options', () => {
    it('refuses an option it does not take, naming ours for connect-redis spellings', () => {
      const client = new Redis(found!.url, { lazyConnect: true })
      clients.push(client)
      for (const [options, hint] of [
        [{ disableTTL: true }, 'use disableTtl'],
        [{ client }, 'first argument'],
        [{ scancount: 10 }, "unknown option 'scancount'"],
      ] as const) {
        const err = (() => {
          try {
            new RedisStore(client, options as never)
          } catch (error) {
            return error
          }
        })()
        expect(err).toBeInstanceOf(SessionStoreError)
        expect(err).toMatchObject({ code: 'EOPTIONS', backend: 'redis' })
        expect(String(err)).toContain(hint)
      }
    })

    it('rejects what is not an ioredis client, and says how to pass one', () => {
      expect(() => new RedisStore(undefined as unknown as Redis)).toThrow(SessionStoreError)
      const client = new Redis(found!.url, { lazyConnect: true })
      clients.push(client)
      expect(() => new RedisStore({ client } as unknown as Redis)).toThrow(/pass the client itself/)
      expect(() => new RedisStore(client, { scanCount: 0 })).toThrow(/scanCount/)
      expect(() => new RedisStore(client, { closeClient: 'yes' as unknown as boolean })).toThrow(
        /closeClient/,
      )
    })

    it('declares millisecond expiry and Redis’ 512 MiB value limit', () => {
      const store = makeStore()
      expect(store.capabilities).toMatchObject({
        enumeration: true,
        ttlGranularityMs: 1,
        maxValueBytes: 512 * 1024 * 1024,
      })
    })
  })
})

describe('RedisStore on a server without UNLINK', () => {
  let redis: PrivateServer | undefined
  afterAll(async () => {
    await redis?.close()
  })

  it('falls back to DEL when the server refuses UNLINK', async () => {
    // A private server, because the test adds a user: UNLINK is denied to it, as a
    // pre-4.0 server or a managed one with the command renamed away would refuse it.
    redis = await startRedis()
    const admin = new Redis(redis.url)
    await admin.acl('SETUSER', 'no-unlink', 'on', 'nopass', '~*', '+@all', '-unlink')
    const client = new Redis(redis.url, { username: 'no-unlink', password: 'any' })
    const store = new RedisStore(client, { prefix: 'legacy:', closeClient: true })
    await expect(client.unlink('legacy:probe')).rejects.toThrow(/NOPERM/)
    for (const sid of ['a', 'b', 'c']) await store.set(sid, { sid })
    await store.destroy('a')
    expect(await admin.exists('legacy:a')).toBe(0)
    await store.clear()
    expect(await admin.dbsize()).toBe(0)
    await store.close()
    admin.disconnect()
  })
})

const cluster = server('redis-cluster')
describe.skipIf(!cluster)('RedisStore on a real Redis Cluster', () => {
  let client: Cluster
  beforeAll(() => {
    client = new Cluster(cluster!.nodes)
  })
  afterAll(async () => {
    await client.quit()
  })

  it('computes the same hash slots as the server', async () => {
    const keys = [
      '',
      'a',
      'sess:abc',
      'sess:{user1}:x',
      '{}x',
      '{a',
      'a}{b}',
      'sess:ünïcödé',
      'sess:😀',
      'x'.repeat(300),
    ]
    for (const key of keys) expect(hashSlot(key), key).toBe(await client.cluster('KEYSLOT', key))
  })

  it('batches the writes to every node, for keys of one slot and of many slots alike', async () => {
    const tagged = new RedisStore(client, { prefix: `{${randomUUID()}}:` })
    const spread = new RedisStore(client, { prefix: freshPrefix('spread') })
    for (const store of [tagged, spread]) {
      const sids = Array.from({ length: 100 }, (_, i) => `k${i}`)
      await Promise.all(sids.map((sid) => store.set(sid, { sid })))
      // The nodes this store's keys live on are connected by now; a node the Cluster has not
      // needed yet has no socket, and no write to count.
      const writes = client
        .nodes('all')
        .filter((node) => node.stream !== undefined)
        .map((node) => countSocketWrites(node))
      const sessions = await Promise.all(sids.map((sid) => store.get(sid)))
      // At most one write per node for the hundred GETs.
      expect(writes.reduce((total, each) => total + each.stop(), 0)).toBeLessThanOrEqual(
        client.nodes('all').length,
      )
      expect(sessions).toEqual(sids.map((sid) => ({ sid })))
      await Promise.all(sids.map((sid) => store.touch(sid, { cookie: { maxAge: 60_000 } })))
      expect((await store.all()).length).toBe(sids.length)
      await store.clear()
      expect(await store.length()).toBe(0)
      await store.close()
    }
  })
})

/**
 * Counts the writes that reach the client's socket (each one system call) until `stop()`.
 * A net.Socket hands its data to `_write`, or, for data gathered while corked, to `_writev`.
 */
function countSocketWrites(client: Redis): { stop(): number } {
  const socket = client.stream as unknown as Record<string, (...args: unknown[]) => void>
  const names = ['_write', '_writev'] as const
  let writes = 0
  for (const name of names) {
    const original = socket[name]!
    socket[name] = function (this: unknown, ...args: unknown[]) {
      writes++
      return original.apply(this, args)
    }
  }
  return {
    stop() {
      for (const name of names) delete socket[name]
      return writes
    },
  }
}
