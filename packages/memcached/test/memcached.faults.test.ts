import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type PrivateServer, startMemcached, tcpProxy } from '@session-store/conformance/harness'
import { SessionStoreError } from '@session-store/core'
import Memcached from 'memcached'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { MemcachedStore } from '../src/index.js'
import { canStartMemcached, eventually, rawValue, rejection } from './helpers.js'

function freshPrefix(): string {
  return `f${randomBytes(4).toString('hex')}:`
}

/** What a store and its client emitted, in order. */
function record(store: MemcachedStore) {
  const seen: Array<{ event: string; detail: string }> = []
  for (const event of ['connect', 'disconnect', 'error'] as const) {
    store.on(event, (error?: Error) => seen.push({ event, detail: error?.message ?? '' }))
  }
  for (const event of ['issue', 'failure', 'reconnecting', 'reconnect', 'remove'] as const) {
    store.client.on(event, (details) => seen.push({ event: `client ${event}`, detail: details.server }))
  }
  const names = () => seen.map((each) => each.event)
  return { seen, names }
}

/** Which of the servers hold each sid (read straight from the servers). */
async function holders(store: MemcachedStore, servers: PrivateServer[], sids: string[]) {
  const bySid = new Map<string, number[]>()
  for (const sid of sids) {
    const found: number[] = []
    for (const [index, each] of servers.entries()) {
      if ((await rawValue(each, store.keyFor(sid))) !== null) found.push(index)
    }
    bySid.set(sid, found)
  }
  return bySid
}

describe.skipIf(!canStartMemcached())('MemcachedStore when memcached servers fail', () => {
  const servers: PrivateServer[] = []
  const stores: MemcachedStore[] = []
  beforeAll(async () => {
    for (let i = 0; i < 3; i++) servers.push(await startMemcached())
  })
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((store) => store.close()))
    // Every test leaves all three servers running for the next.
    for (const each of servers) await each.start()
  })
  afterAll(async () => {
    await Promise.all(servers.map((each) => each.close()))
  })

  it('one of three down: its sessions fail fast, the others go on, and all is back when it returns', async () => {
    const store = new MemcachedStore(
      servers.map((each) => each.url),
      { prefix: freshPrefix(), timeout: 2000, healthCheckInterval: 200 },
    )
    stores.push(store)
    const { seen, names } = record(store)
    const sids = Array.from({ length: 60 }, (_, i) => `three-${i}`)
    await Promise.all(sids.map((sid) => store.set(sid, { sid })))
    const where = await holders(store, servers, sids)
    const counts = servers.map((_, index) => sids.filter((sid) => where.get(sid)?.[0] === index).length)
    const victim = counts.indexOf(Math.max(...counts))
    const victimName = servers[victim]!.url
    const lost = sids.filter((sid) => where.get(sid)?.[0] === victim)
    const kept = sids.filter((sid) => where.get(sid)?.[0] !== victim)
    expect(lost.length).toBeGreaterThan(0)
    expect(kept.length).toBeGreaterThan(0)

    await servers[victim]!.stop()
    for (const sid of lost) {
      const error = await rejection(store.get(sid))
      expect(error).toBeInstanceOf(SessionStoreError)
      expect(['EBACKEND', 'ETIMEOUT']).toContain((error as SessionStoreError).code)
    }
    await expect(store.set(lost[0]!, { during: 'outage' })).rejects.toBeInstanceOf(SessionStoreError)
    for (const sid of kept) expect(await store.get(sid)).toEqual({ sid })
    await store.set(kept[0]!, { during: 'outage' })
    expect(await store.get(kept[0]!)).toEqual({ during: 'outage' })

    // The client reported the server, the store named it, and stays connected: the others answer.
    expect(seen).toContainEqual({ event: 'client issue', detail: victimName })
    expect(seen.filter((each) => each.event === 'error').map((each) => each.detail)).toEqual([
      expect.stringContaining(`memcached server ${victimName} is unreachable`),
    ])
    expect(store.unreachableServers).toEqual([victimName])
    expect(store.connected).toBe(true)

    // Back with no request in between: the health check notices.
    await servers[victim]!.start()
    await eventually(() => store.unreachableServers.length === 0, 'the store to find the server back')
    // memcached keeps nothing over a restart: those sessions are gone, and new ones work.
    for (const sid of lost) expect(await store.get(sid)).toBeNull()
    await store.set(lost[0]!, { after: 'restart' })
    expect(await store.get(lost[0]!)).toEqual({ after: 'restart' })
    expect(names()).not.toContain('disconnect')
    expect(names()).not.toContain('connect')
  })

  it('every server down: disconnect, then connect when one returns, without a request in between', async () => {
    const [first, second] = servers
    const store = new MemcachedStore([first!.url, second!.url], {
      prefix: freshPrefix(),
      timeout: 2000,
      healthCheckInterval: 200,
    })
    stores.push(store)
    const { names } = record(store)
    await store.set('a', { a: 1 })
    await first!.stop()
    await second!.stop()
    // One request per server finds it down.
    const sids = Array.from({ length: 20 }, (_, i) => `down-${i}`)
    await Promise.all(sids.map((sid) => rejection(store.get(sid))))
    await eventually(() => names().includes('disconnect'), "'disconnect'")
    expect(store.connected).toBe(false)
    expect(store.unreachableServers.sort()).toEqual([first!.url, second!.url].sort())

    await second!.start()
    await eventually(() => names().includes('connect'), "'connect'")
    expect(store.connected).toBe(true)
    expect(names().filter((name) => name === 'disconnect' || name === 'connect')).toEqual([
      'disconnect',
      'connect',
    ])
    // Sessions on the server that is back work again; those on the other still fail.
    const after = Array.from({ length: 10 }, (_, i) => `after-${i}`)
    const written = await Promise.allSettled(after.map((sid) => store.set(sid, { sid })))
    const working = after.filter((_, index) => written[index]!.status === 'fulfilled')
    expect(working.length).toBeGreaterThan(0)
    expect(working.length).toBeLessThan(after.length)
    for (const sid of working) expect(await store.get(sid)).toEqual({ sid })
  })

  it('a server that stops answering is found by the operation deadline', async () => {
    // A stalled proxy holds every byte back at once, unlike SIGSTOP, which a busy machine may
    // deliver only after the server has answered one more request.
    const proxy = await tcpProxy(servers[0]!)
    const store = new MemcachedStore(`${proxy.host}:${proxy.port}`, {
      prefix: freshPrefix(),
      timeout: 2000,
      healthCheckInterval: 200,
    })
    stores.push(store)
    const { names } = record(store)
    try {
      await store.set('a', { a: 1 })
      await proxy.stall()
      try {
        await expect(store.get('a')).rejects.toMatchObject({ code: 'ETIMEOUT' })
        await eventually(() => names().includes('disconnect'), "'disconnect'")
      } finally {
        await proxy.restore()
      }
      await eventually(() => names().includes('connect'), "'connect'")
      expect(await store.get('a')).toEqual({ a: 1 })
    } finally {
      await store.close()
      await proxy.close()
    }
  })

  it('once a server has timed out, fails its sessions at once, naming it, until its health check passes', async () => {
    const proxy = await tcpProxy(servers[0]!)
    const store = new MemcachedStore(`${proxy.host}:${proxy.port}`, {
      prefix: freshPrefix(),
      timeout: 1000,
      healthCheckInterval: 200,
    })
    stores.push(store)
    try {
      await store.set('a', { a: 1 })
      await proxy.stall()
      try {
        await expect(store.get('a')).rejects.toMatchObject({ code: 'ETIMEOUT' })
        // Known to be stalled now: no second wait of the whole timeout.
        const started = performance.now()
        const again = await rejection(store.get('a'))
        expect(performance.now() - started).toBeLessThan(200)
        expect(again).toMatchObject({ code: 'ETIMEOUT' })
        expect(String(again)).toContain(`${proxy.host}:${proxy.port}`)
      } finally {
        await proxy.restore()
      }
      await eventually(async () => (await store.get('a').catch(() => null)) !== null, 'the server back')
      expect(await store.get('a')).toEqual({ a: 1 })
    } finally {
      await store.close()
      await proxy.close()
    }
  })

  it('keys move to another server only with the client option remove: true, and it says so', async () => {
    const [first, second] = servers
    const store = new MemcachedStore([first!.url, second!.url], {
      prefix: freshPrefix(),
      timeout: 2000,
      clientOptions: { remove: true },
    })
    stores.push(store)
    const { seen } = record(store)
    const sids = Array.from({ length: 20 }, (_, i) => `moving-${i}`)
    await Promise.all(sids.map((sid) => store.set(sid, { sid })))
    const where = await holders(store, [first!, second!], sids)
    const onSecond = sids.filter((sid) => where.get(sid)?.[0] === 1)
    expect(onSecond.length).toBeGreaterThan(1)

    await second!.stop()
    // Failures at the same time make the client drop the server from its hash ring.
    await Promise.all(onSecond.map((sid) => rejection(store.get(sid))))
    await eventually(() => seen.some((each) => each.event === 'client remove'), "the client's 'remove'")
    expect(seen).toContainEqual({ event: 'client failure', detail: second!.url })
    // From now on those sessions live on the first server (the old ones are lost).
    expect(await store.get(onSecond[0]!)).toBeNull()
    await store.set(onSecond[0]!, { moved: true })
    expect(await rawValue(first!, store.keyFor(onSecond[0]!))).toBe('{"moved":true}')
    expect(store.connected).toBe(true)
  })

  it('never runs the ping program to bring a server back', async () => {
    // A fake `ping` first on PATH records any run. The client would spawn it when operations
    // fail at the same time; where ping is missing that spawn crashes the process.
    const bin = await mkdtemp(join(tmpdir(), 'fake-ping-'))
    const marker = join(bin, 'ran')
    await writeFile(join(bin, 'ping'), `#!/bin/sh\ntouch '${marker}'\n`)
    await chmod(join(bin, 'ping'), 0o755)
    const path = process.env.PATH
    process.env.PATH = `${bin}${delimiter}${path}`
    const dead = servers[2]!
    await dead.stop()
    // The client's own defaults, with short delays so that the reconnection comes quickly.
    const client = new Memcached(dead.url, { retries: 0, retry: 100, reconnect: 100 })
    const store = new MemcachedStore({ client, prefix: freshPrefix(), timeout: 2000 })
    stores.push(store)
    const { names } = record(store)
    try {
      await Promise.all(Array.from({ length: 5 }, (_, i) => rejection(store.get(`ping-${i}`))))
      await eventually(() => names().includes('client reconnecting'), "the client's reconnection")
      await new Promise((resolve) => setTimeout(resolve, 300))
      expect(existsSync(marker)).toBe(false)
      // And the server is used again once it is back.
      await dead.start()
      await eventually(
        () =>
          store.set('ping-after', { ok: true }).then(
            () => true,
            () => false,
          ),
        'a write after the server returned',
      )
    } finally {
      process.env.PATH = path
      client.end()
      await rm(bin, { recursive: true, force: true })
    }
  })

  it('lets the process exit right after close(), even after an outage', async () => {
    const dead = servers[1]!
    await dead.stop()
    const entry = fileURLToPath(new URL('../dist/index.js', import.meta.url))
    const script = `
      const { MemcachedStore } = await import(${JSON.stringify(entry)})
      const store = new MemcachedStore(${JSON.stringify(dead.url)}, { timeout: 1000 })
      const results = await Promise.allSettled(
        Array.from({ length: 5 }, (_, i) => store.set('sid' + i, { i })),
      )
      await store.close()
      if (results.some((result) => result.status === 'fulfilled')) process.exitCode = 2
    `
    // The client's timers are short (about a second), so the process ends well before the limit.
    const outcome = await new Promise<{ code: number | null; killed: boolean; stderr: string }>((resolve) => {
      const child = execFile(
        process.execPath,
        ['--input-type=module', '-e', script],
        { timeout: 20_000 },
        (error, _stdout, stderr) => resolve({ code: child.exitCode, killed: error?.killed ?? false, stderr }),
      )
    })
    expect(outcome).toEqual({ code: 0, killed: false, stderr: '' })
  })
})
