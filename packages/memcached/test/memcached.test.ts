import { randomBytes } from 'node:crypto'
import { type PrivateServer, server, skipReason, startMemcached } from '@session-store/conformance/harness'
import { SessionStoreError } from '@session-store/core'
import Memcached from 'memcached'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEFAULT_MAX_VALUE_BYTES, MemcachedStore, type MemcachedStoreOptions } from '../src/index.js'
import { canStartMemcached, exchange, type Node, rawValue, rejection, remainingTtl } from './helpers.js'

const found = server('memcached')
const DAY_MS = 86_400_000
const DAY_S = 86_400

/** A prefix no other test (or run) uses. */
function freshPrefix(): string {
  return `t${randomBytes(4).toString('hex')}:`
}

function sessionOfBytes(bytes: number): { a: string } {
  // {"a":"..."} is 8 bytes around the string.
  return { a: 'x'.repeat(bytes - 8) }
}

describe.skipIf(!found)(
  `MemcachedStore on ${found?.description ?? `memcached (skipped: ${skipReason('memcached')})`}`,
  () => {
    const node: Node = found?.nodes[0] ?? { host: '127.0.0.1', port: 11211 }
    const stores: MemcachedStore[] = []
    const open = (options: MemcachedStoreOptions = {}) => {
      const store = new MemcachedStore(`${node.host}:${node.port}`, { prefix: freshPrefix(), ...options })
      stores.push(store)
      return store
    }
    afterAll(async () => {
      await Promise.all(stores.map((store) => store.close()))
    })

    describe('ttl in whole seconds, and the 30-day rule', () => {
      it('keeps a session with a 40-day ttl, expiring 40 days from now', async () => {
        const store = open()
        await store.set('forty-days', { kept: true }, 40 * DAY_MS)
        expect(await store.get('forty-days')).toEqual({ kept: true })
        const ttl = await remainingTtl(node, store.keyFor('forty-days'))
        expect(ttl).toBeGreaterThanOrEqual(40 * DAY_S - 10)
        // Rounding up adds at most a second, and memcached's clock lags real time by up to one.
        expect(ttl).toBeLessThanOrEqual(40 * DAY_S + 2)
      })

      it('keeps a cookie that expires in a year, the way express-session sets it', async () => {
        const store = open()
        const expires = new Date(Date.now() + 365 * DAY_MS)
        await store.set('a-year', { cookie: { expires, originalMaxAge: 365 * DAY_MS } })
        expect(await store.get('a-year')).toMatchObject({ cookie: { expires: expires.toISOString() } })
        expect(await remainingTtl(node, store.keyFor('a-year'))).toBeGreaterThan(364 * DAY_S)
      })

      it('sends exactly 30 days as a duration', async () => {
        const store = open()
        await store.set('thirty-days', { kept: true }, 30 * DAY_MS)
        const ttl = await remainingTtl(node, store.keyFor('thirty-days'))
        expect(ttl).toBeGreaterThanOrEqual(30 * DAY_S - 10)
        expect(ttl).toBeLessThanOrEqual(30 * DAY_S)
      })

      it("keeps a ttl beyond memcached's 32-bit clock (100 years) readable, until 2038", async () => {
        const store = open()
        await store.set('a-century', { kept: true }, 100 * 365 * DAY_MS)
        expect(await store.get('a-century')).toEqual({ kept: true })
        const ttl = await remainingTtl(node, store.keyFor('a-century'))
        expect(ttl).toBeGreaterThan(0)
        expect(Date.now() / 1000 + (ttl ?? 0)).toBeLessThanOrEqual(2 ** 31 + 2)
      })

      it('rounds up to whole seconds: a 1 ms ttl lives one second, never forever', async () => {
        const store = open()
        await store.set('one-ms', { brief: true }, 1)
        const ttl = await remainingTtl(node, store.keyFor('one-ms'))
        // 1 before memcached's clock ticks, 0 after; -1 would mean no expiry, null already gone.
        expect(ttl === 0 || ttl === 1 || ttl === null).toBe(true)
      })

      it('stores without expiry when ttl is disabled', async () => {
        const store = open({ disableTtl: true })
        await store.set('forever', { kept: true })
        expect(await remainingTtl(node, store.keyFor('forever'))).toBe(-1)
      })

      it('applies the same rule to touch', async () => {
        const store = open()
        await store.set('touched-long', { kept: true }, 60_000)
        await store.touch('touched-long', {}, 40 * DAY_MS)
        expect(await remainingTtl(node, store.keyFor('touched-long'))).toBeGreaterThanOrEqual(40 * DAY_S - 10)
        expect(await store.get('touched-long')).toEqual({ kept: true })
      })
    })

    describe("touch is memcached's touch", () => {
      it('moves the expiry without rewriting the data', async () => {
        const store = open()
        await store.set('touched', { version: 1 }, 60_000)
        // Another app instance rewrites the session meanwhile (straight on the server).
        const key = store.keyFor('touched')
        const newer = '{"version":2}'
        await expect(setRaw(node, key, newer, 60)).resolves.toBe('STORED')
        // A stale instance touches it with its old copy: the newer data must survive.
        await store.touch('touched', { version: 3 }, 3_600_000)
        expect(await rawValue(node, key)).toBe(newer)
        expect(await remainingTtl(node, key)).toBeGreaterThanOrEqual(3590)
      })

      it('never creates a session that is not there', async () => {
        const store = open()
        await store.touch('never-set', { cookie: { originalMaxAge: 60_000 } })
        expect(await rawValue(node, store.keyFor('never-set'))).toBeNull()
        await store.set('destroyed', { a: 1 })
        await store.destroy('destroyed')
        await store.touch('destroyed', { a: 1 })
        expect(await rawValue(node, store.keyFor('destroyed'))).toBeNull()
      })
    })

    describe('keys', () => {
      const trickySids = [
        'plain-Sid_0123456789',
        'koa:sess:Yx9_-abc',
        'with space',
        'line\r\nbreak',
        'tab\there',
        'nul\u0000char',
        'unicode Zoë 日本',
        'emoji 🚀',
        '$&',
        '$1$`',
        '{ "$gt": "" }',
        '/ : * ? $ { }',
        '__proto__',
        'constructor',
        '#starts-with-the-hash-mark',
        '\uFFFD',
        'x'.repeat(1000),
        'y'.repeat(1001),
        'z'.repeat(241),
      ]

      it('maps every sid to a valid memcached key of its own', async () => {
        const store = open()
        // Lone surrogates too (BaseStore refuses them as sids): the hash is of UTF-16 code units,
        // where UTF-8 would have turned both into U+FFFD.
        const sids = [...trickySids, '\uD800', '\uDBFF']
        const keys = sids.map((sid) => store.keyFor(sid))
        for (const key of keys) {
          expect(Buffer.byteLength(key)).toBeLessThanOrEqual(250)
          // Printable ASCII, no space, and no `$` (the client feeds keys to String.replace).
          expect(key).toMatch(/^[\x21-\x23\x25-\x7e]+$/)
        }
        expect(new Set(keys).size).toBe(sids.length)
        // Plain sids stay readable on the server; the others are hashed.
        expect(store.keyFor('plain-Sid_0123456789')).toBe(`${store.prefix}plain-Sid_0123456789`)
        expect(store.keyFor('koa:sess:Yx9_-abc')).toBe(`${store.prefix}koa:sess:Yx9_-abc`)
        expect(store.keyFor('with space')).toMatch(new RegExp(`^${store.prefix}#[\\w-]{43}$`))
        // Too long to keep with the 10-byte prefix: 241 + 10 > 250 bytes; 240 just fits.
        expect(store.keyFor('z'.repeat(241))).toMatch(/#/)
        expect(store.keyFor('z'.repeat(240))).toBe(store.prefix + 'z'.repeat(240))
      })

      it('stores and reads every such sid on the real server, exactly as encoded', async () => {
        const store = open()
        await Promise.all(trickySids.map((sid, index) => store.set(sid, { index, sid })))
        for (const [index, sid] of trickySids.entries()) {
          expect(await store.get(sid)).toEqual({ index, sid })
          // What memcached holds is the very string the codec produced.
          expect(await rawValue(node, store.keyFor(sid))).toBe(JSON.stringify({ index, sid }))
        }
        await Promise.all(trickySids.map((sid) => store.destroy(sid)))
        for (const sid of trickySids) expect(await store.get(sid)).toBeNull()
      })

      it('never lets a hashed key equal a plain one', async () => {
        const store = open()
        const hashedPart = store.keyFor('with space').slice(store.prefix.length)
        expect(store.keyFor(hashedPart)).not.toBe(store.keyFor('with space'))
        await store.set('with space', { which: 'spaced' })
        await store.set(hashedPart, { which: 'look-alike' })
        expect(await store.get('with space')).toEqual({ which: 'spaced' })
        expect(await store.get(hashedPart)).toEqual({ which: 'look-alike' })
      })

      it('works, and isolates, with prefixes memcached could not take as they are', async () => {
        const spaced = open({ prefix: 'my app: ' })
        const similar = open({ prefix: 'my app; ' })
        const long = open({ prefix: 'p'.repeat(300) })
        for (const store of [spaced, similar, long]) {
          const key = store.keyFor('abc')
          expect(Buffer.byteLength(key)).toBeLessThanOrEqual(250)
          expect(key).toMatch(/^[\x21-\x23\x25-\x7e]+$/)
        }
        await spaced.set('abc', { owner: 'spaced' })
        await similar.set('abc', { owner: 'similar' })
        await long.set('abc', { owner: 'long' })
        expect(await spaced.get('abc')).toEqual({ owner: 'spaced' })
        expect(await similar.get('abc')).toEqual({ owner: 'similar' })
        expect(await long.get('abc')).toEqual({ owner: 'long' })
        await Promise.all([spaced, similar, long].map((store) => store.destroy('abc')))
      })

      it('rejects an empty or non-string sid in keyFor too', () => {
        const store = open()
        expect(() => store.keyFor('')).toThrow(TypeError)
        expect(() => store.keyFor(42 as unknown as string)).toThrow(TypeError)
      })
    })

    describe('values', () => {
      it('gives back the exact string a serializer produced, line breaks and all', async () => {
        // The client escapes line breaks on the way in and unescapes them on the way out; a
        // serializer that writes protocol-looking lines must still get its text back.
        const texts: string[] = []
        const store = open({
          serializer: {
            stringify: (value) => {
              const text = `line one\r\nEND\r\nVALUE x 0 1\r\n\\\r\n${JSON.stringify(value)}`
              texts.push(text)
              return text
            },
            parse: (text) => {
              expect(text).toBe(texts.at(-1))
              return JSON.parse(text.split('\r\n').at(-1)!)
            },
          },
        })
        await store.set('multiline', { kept: 'yes' })
        expect(await store.get('multiline')).toEqual({ kept: 'yes' })
      })

      it('reads a value another writer stored with the client as JSON, for the codec to judge', async () => {
        const store = open()
        const client = new Memcached(`${node.host}:${node.port}`)
        try {
          await new Promise<void>((resolve, reject) =>
            client.set(store.keyFor('foreign'), { written: 'elsewhere' }, 60, (err) =>
              err ? reject(err) : resolve(),
            ),
          )
          expect(await store.get('foreign')).toEqual({ written: 'elsewhere' })
        } finally {
          client.end()
        }
      })
    })

    describe('size limit', () => {
      it('declares ttlGranularityMs 1000, maxValueBytes and no enumeration', async () => {
        const store = open()
        expect(store.capabilities).toEqual({
          enumeration: false,
          ttlGranularityMs: 1000,
          maxValueBytes: DEFAULT_MAX_VALUE_BYTES,
        })
        expect(DEFAULT_MAX_VALUE_BYTES).toBe(1024 * 1024 - 512)
        await expect(store.clear()).rejects.toThrow(/cannot enumerate/)
      })

      it("fits memcached's default 1 MiB item with the longest key", async () => {
        const store = open()
        // A plain sid that makes the key exactly 250 bytes, memcached's longest.
        const sid = 's'.repeat(250 - store.prefix.length)
        expect(store.keyFor(sid)).toHaveLength(250)
        const session = sessionOfBytes(DEFAULT_MAX_VALUE_BYTES)
        await store.set(sid, session)
        expect(await rawValue(node, store.keyFor(sid))).toHaveLength(DEFAULT_MAX_VALUE_BYTES)
        expect(await store.get(sid)).toEqual(session)
        await store.destroy(sid)
      })

      it('rejects a larger session with ETOOLARGE before any I/O, and keeps the stored one', async () => {
        const store = open()
        await store.set('sized', { small: true })
        const error = await rejection(store.set('sized', sessionOfBytes(DEFAULT_MAX_VALUE_BYTES + 1)))
        expect(error).toBeInstanceOf(SessionStoreError)
        expect(error).toMatchObject({ code: 'ETOOLARGE' })
        expect(await store.get('sized')).toEqual({ small: true })
      })

      it('honours a lower maxValueBytes', async () => {
        const store = open({ maxValueBytes: 1000 })
        expect(store.capabilities.maxValueBytes).toBe(1000)
        await store.set('limited', sessionOfBytes(1000))
        await expect(store.set('limited', sessionOfBytes(1001))).rejects.toMatchObject({ code: 'ETOOLARGE' })
        expect(await store.get('limited')).toEqual(sessionOfBytes(1000))
      })

      it("turns the client's own maxValue refusal into ETOOLARGE", async () => {
        const client = new Memcached(`${node.host}:${node.port}`, { maxValue: 1000 })
        const store = new MemcachedStore({ client, prefix: freshPrefix() })
        try {
          await expect(store.set('client-limited', sessionOfBytes(2000))).rejects.toMatchObject({
            code: 'ETOOLARGE',
            message: expect.stringMatching(/maxValue/),
          })
        } finally {
          await store.close()
          client.end()
        }
      })
    })

    describe('options and the client', () => {
      it('rejects unusable arguments with EOPTIONS', () => {
        const client = new Memcached(`${node.host}:${node.port}`)
        try {
          const attempts: Array<() => unknown> = [
            () => new MemcachedStore(undefined as unknown as string),
            () => new MemcachedStore(''),
            () => new MemcachedStore([]),
            () => new MemcachedStore({} as unknown as string),
            () => new MemcachedStore({ client: {} as Memcached }),
            () => new MemcachedStore('127.0.0.1:11211', { client } as MemcachedStoreOptions),
            () => new MemcachedStore({ client, clientOptions: { retries: 1 } }),
            () => new MemcachedStore('127.0.0.1:11211', { maxValueBytes: 0 }),
            () => new MemcachedStore('127.0.0.1:11211', { maxValueBytes: 1.5 }),
            () => new MemcachedStore('127.0.0.1:11211', { healthCheckInterval: -1 }),
            () => new MemcachedStore('127.0.0.1:11211', { closeClient: 'yes' as unknown as boolean }),
          ]
          for (const attempt of attempts) {
            expect(attempt).toThrow(expect.objectContaining({ code: 'EOPTIONS' }))
          }
        } finally {
          client.end()
        }
      })

      it('takes a weights map of servers', async () => {
        const store = new MemcachedStore({ [`${node.host}:${node.port}`]: 1 }, { prefix: freshPrefix() })
        stores.push(store)
        await store.set('weighted', { ok: 1 })
        expect(await store.get('weighted')).toEqual({ ok: 1 })
      })

      it('leaves a client passed in open after close(), unless closeClient is set', async () => {
        const client = new Memcached(`${node.host}:${node.port}`)
        try {
          const kept = new MemcachedStore({ client, prefix: freshPrefix() })
          await kept.set('shared', { a: 1 })
          await kept.close()
          expect(poolSize(client)).toBeGreaterThan(0)
          const closing = new MemcachedStore({ client, prefix: freshPrefix(), closeClient: true })
          await closing.set('shared', { a: 1 })
          await closing.close()
          expect(poolSize(client)).toBe(0)
        } finally {
          client.end()
        }
      })

      it('closes the client it created', async () => {
        const store = new MemcachedStore(`${node.host}:${node.port}`, { prefix: freshPrefix() })
        await store.set('owned', { a: 1 })
        expect(poolSize(store.client)).toBeGreaterThan(0)
        await store.close()
        expect(poolSize(store.client)).toBe(0)
        await expect(store.get('owned')).rejects.toMatchObject({ code: 'ECLOSED' })
      })

      it('takes many parallel operations on a fresh client without "pool is full"', async () => {
        const store = open()
        const sids = Array.from({ length: 300 }, (_, i) => `burst-${i}`)
        await Promise.all(sids.map((sid) => store.set(sid, { sid })))
        const read = await Promise.all(sids.map((sid) => store.get(sid)))
        expect(read).toEqual(sids.map((sid) => ({ sid })))
        expect(store.connected).toBe(true)
      })
    })
  },
)

describe.skipIf(!found || !canStartMemcached())('MemcachedStore on private memcached servers', () => {
  const servers: PrivateServer[] = []
  beforeAll(async () => {
    for (let i = 0; i < 3; i++) servers.push(await startMemcached())
    servers.push(await startMemcached({ maxItemSize: '512k' }))
  })
  afterAll(async () => {
    await Promise.all(servers.map((each) => each.close()))
  })

  it('spreads sessions over three servers by consistent hashing, and reads them all back', async () => {
    const three = servers.slice(0, 3)
    const store = new MemcachedStore(
      three.map((each) => each.url),
      { prefix: freshPrefix() },
    )
    try {
      const sids = Array.from({ length: 90 }, (_, i) => `spread-${i}`)
      await Promise.all(sids.map((sid) => store.set(sid, { sid })))
      const perServer = three.map(() => 0)
      for (const sid of sids) {
        const holders: number[] = []
        for (const [index, each] of three.entries()) {
          if ((await rawValue(each, store.keyFor(sid))) !== null) holders.push(index)
        }
        expect(holders, `servers holding ${sid}`).toHaveLength(1)
        perServer[holders[0]!]!++
        expect(await store.get(sid)).toEqual({ sid })
      }
      for (const count of perServer) expect(count).toBeGreaterThan(0)
    } finally {
      await store.close()
    }
  })

  it("leaves sizes above 1 MiB to maxValueBytes and the server, not the client's own check", async () => {
    const store = new MemcachedStore(servers[0]!.url, {
      prefix: freshPrefix(),
      maxValueBytes: 2 * 1024 * 1024,
    })
    try {
      // The server has memcached's default 1 MiB limit: the refusal is memcached's own.
      await expect(store.set('over-a-mebibyte', sessionOfBytes(1536 * 1024))).rejects.toMatchObject({
        code: 'ETOOLARGE',
        message: expect.stringMatching(/memcached refused the session as too large/),
      })
      expect(store.connected).toBe(true)
      await store.set('over-a-mebibyte', { small: true })
      expect(await store.get('over-a-mebibyte')).toEqual({ small: true })
    } finally {
      await store.close()
    }
  })

  it('turns a smaller server limit (-I 512k) into ETOOLARGE, and keeps using the server', async () => {
    const small = servers[3]!
    const store = new MemcachedStore(small.url, { prefix: freshPrefix() })
    const errors: Error[] = []
    store.on('error', (error) => errors.push(error))
    try {
      await store.set('big', { small: true })
      const error = await rejection(store.set('big', sessionOfBytes(600 * 1024)))
      expect(error).toMatchObject({
        code: 'ETOOLARGE',
        message: expect.stringMatching(/too large.*maxValueBytes/s),
      })
      // The server is not taken for dead: the next operations go through at once.
      expect(store.connected).toBe(true)
      expect(errors).toEqual([])
      await store.set('after', { fine: true })
      expect(await store.get('after')).toEqual({ fine: true })
      // memcached itself dropped the old value when it refused the new one; the default
      // maxValueBytes must be lowered to match -I so that the store refuses first.
      expect(await store.get('big')).toBeNull()
      const matched = new MemcachedStore(small.url, {
        prefix: freshPrefix(),
        maxValueBytes: 512 * 1024 - 512,
      })
      try {
        await matched.set('big', { small: true })
        await expect(matched.set('big', sessionOfBytes(600 * 1024))).rejects.toMatchObject({
          code: 'ETOOLARGE',
        })
        expect(await matched.get('big')).toEqual({ small: true })
        // and the lowered limit still fits that server.
        await matched.set('big', sessionOfBytes(512 * 1024 - 512))
        expect(await matched.get('big')).toEqual(sessionOfBytes(512 * 1024 - 512))
      } finally {
        await matched.close()
      }
    } finally {
      await store.close()
    }
  })
})

/** Connections in the client's pools (memcached 2.2 keeps one pool per server). */
function poolSize(client: Memcached): number {
  const pools = (client as unknown as { connections: Record<string, { pool: unknown[] }> }).connections
  return Object.values(pools).reduce((total, each) => total + each.pool.length, 0)
}

/** Writes a value straight on the server, as another app instance's store would. */
async function setRaw(node: Node, key: string, value: string, exptime: number): Promise<string> {
  const request = `set ${key} 0 ${exptime} ${Buffer.byteLength(value)}\r\n${value}\r\n`
  return (await exchange(node, request, (a) => a.includes('\r\n'))).toString('latin1').trim()
}
