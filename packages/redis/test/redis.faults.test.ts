import { once } from 'node:events'
import { server, startRedis, startRedisCluster, tcpProxy } from '@session-store/conformance/harness'
import { Cluster, Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { RedisStore, type RedisStoreOptions } from '../src/index.js'
import { freshPrefix, literalPattern, onPath, scanAll } from './helpers.js'

// What the store does when the connection to Redis is not there: proxies cut or stall the
// connection to the run's server, and private servers (standalone, Cluster) are killed and
// restarted.

const found = server('redis')

describe.skipIf(!found)('RedisStore when the connection to Redis fails', () => {
  let raw: Redis
  const stores: RedisStore[] = []

  /** A store with its own client; the store closes the client, and its keys go after the file. */
  const makeStore = (client: Redis, options: RedisStoreOptions = {}) => {
    const store = new RedisStore(client, { prefix: freshPrefix('faults'), closeClient: true, ...options })
    stores.push(store)
    return store
  }

  beforeAll(() => {
    raw = new Redis(found!.url)
  })

  afterAll(async () => {
    await Promise.all(stores.map((store) => store.close()))
    for (const store of stores) {
      const keys = await scanAll(raw, `${literalPattern(store.prefix)}*`)
      if (keys.length > 0) await raw.unlink(...keys)
    }
    raw.disconnect()
  })

  it('fails at once, without queueing, while the connection is down, and works again after', async () => {
    const proxy = await tcpProxy({ host: found!.host, port: found!.port })
    const client = new Redis({ host: proxy.host, port: proxy.port })
    // A deadline far beyond the test's own: only an immediate failure can pass.
    const store = makeStore(client, { timeout: 600_000 })
    await store.set('before', { a: 1 })
    const disconnected = once(store, 'disconnect')
    await proxy.cut()
    await disconnected
    expect(store.connected).toBe(false)
    for (const call of [
      () => store.set('during', { written: 'during the outage' }),
      () => store.get('before'),
      () => store.touch('before', { cookie: { maxAge: 60_000 } }),
      () => store.destroy('before'),
      () => store.length(),
    ]) {
      await expect(call()).rejects.toMatchObject({
        code: 'EBACKEND',
        message: expect.stringMatching(/not sent/),
      })
    }
    const connected = once(store, 'connect')
    await proxy.restore()
    await connected
    // What failed during the outage was never sent, so nothing of it arrives late.
    await store.set('after', { a: 2 })
    expect(await raw.exists(`${store.prefix}during`)).toBe(0)
    expect(await store.get('before')).toEqual({ a: 1 })
    expect(await store.get('after')).toEqual({ a: 2 })
    await store.close()
    await proxy.close()
  })

  it('settles commands on a stalled connection by the store timeout, and goes on after', async () => {
    const proxy = await tcpProxy({ host: found!.host, port: found!.port })
    const store = makeStore(new Redis({ host: proxy.host, port: proxy.port }), { timeout: 500 })
    await store.set('x', { a: 1 })
    // The connection stays open and the client stays ready, but nothing answers.
    await proxy.stall()
    await expect(store.get('x')).rejects.toMatchObject({ code: 'ETIMEOUT' })
    await expect(store.touch('x', { cookie: { maxAge: 60_000 } })).rejects.toMatchObject({ code: 'ETIMEOUT' })
    await proxy.restore()
    expect(await store.get('x')).toEqual({ a: 1 })
    await store.close()
    await proxy.close()
  })

  it('waits for the first connection, and drops a command whose caller has timed out meanwhile', async () => {
    const proxy = await tcpProxy({ host: found!.host, port: found!.port })
    await proxy.stall()
    // The TCP connection opens but the handshake gets no answer: the client is not ready.
    const store = makeStore(new Redis({ host: proxy.host, port: proxy.port }), { timeout: 300 })
    await expect(store.set('early', { a: 1 })).rejects.toMatchObject({ code: 'ETIMEOUT' })
    const connected = new Promise((resolve) => store.client.once('ready', resolve))
    await proxy.restore()
    await connected
    await store.set('later', { a: 2 })
    expect(await raw.exists(`${store.prefix}early`)).toBe(0)
    expect(await raw.exists(`${store.prefix}later`)).toBe(1)
    await store.close()
    await proxy.close()
  })

  it('sends what arrives before the first connection once the client is ready, lazy clients included', async () => {
    const eager = makeStore(new Redis(found!.url))
    const lazy = makeStore(new Redis(found!.url, { lazyConnect: true }))
    expect(lazy.client.status).toBe('wait')
    await eager.set('first', { eager: true })
    await lazy.set('first', { lazy: true })
    expect(await eager.get('first')).toEqual({ eager: true })
    expect(await lazy.get('first')).toEqual({ lazy: true })
    expect(eager.connected && lazy.connected).toBe(true)
  })

  it("forwards the client's errors to the store's error listeners", async () => {
    const proxy = await tcpProxy({ host: found!.host, port: found!.port })
    const store = makeStore(new Redis({ host: proxy.host, port: proxy.port }))
    await store.set('x', { a: 1 })
    const errors: Error[] = []
    store.on('error', (err) => errors.push(err))
    await proxy.cut()
    await once(store, 'error')
    expect(errors[0]?.message).toMatch(/ECONNREFUSED|ECONNRESET|closed/)
    await proxy.restore()
    await once(store, 'connect')
    await store.close()
    await proxy.close()
  })
})

describe.skipIf(!onPath('redis-server'))('RedisStore when Redis servers are killed and restarted', () => {
  it('a standalone server: disconnect, fast failures, then connect and work again', async () => {
    const redis = await startRedis()
    const store = new RedisStore(new Redis(redis.url), { closeClient: true, timeout: 600_000 })
    try {
      await store.set('before', { a: 1 })
      const disconnected = once(store, 'disconnect')
      await redis.stop()
      const [reason] = await disconnected
      expect(reason).toMatchObject({ code: 'EBACKEND' })
      await expect(store.get('before')).rejects.toMatchObject({ code: 'EBACKEND' })
      await expect(store.set('during', { a: 2 })).rejects.toMatchObject({ code: 'EBACKEND' })
      const connected = once(store, 'connect')
      await redis.start()
      await connected
      // The private server keeps nothing across a restart; the store just works on.
      await store.set('after', { a: 3 })
      expect(await store.get('after')).toEqual({ a: 3 })
      expect(await store.get('during')).toBeNull()
    } finally {
      await store.close()
      await redis.close()
    }
  })

  it('a whole Cluster: disconnect, fast failures, then connect and work again on every master', async () => {
    const cluster = await startRedisCluster()
    const store = new RedisStore(new Cluster(cluster.nodes), { closeClient: true, timeout: 600_000 })
    try {
      const sids = Array.from({ length: 30 }, (_, i) => `sid-${i}`)
      await Promise.all(sids.map((sid) => store.set(sid, { sid })))
      const disconnected = once(store, 'disconnect')
      await cluster.stop()
      await disconnected
      await expect(store.get('sid-0')).rejects.toMatchObject({ code: 'EBACKEND' })
      await expect(store.set('during', { a: 2 })).rejects.toMatchObject({ code: 'EBACKEND' })
      await expect(store.length()).rejects.toMatchObject({ code: 'EBACKEND' })
      const connected = once(store, 'connect')
      await cluster.start()
      await connected
      await Promise.all(sids.map((sid) => store.set(sid, { sid, again: true })))
      expect(await store.length()).toBe(sids.length)
      expect(await store.get('during')).toBeNull()
    } finally {
      await store.close()
      await cluster.close()
    }
  })
})
