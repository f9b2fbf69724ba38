import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { BaseStore, MemoryStore, type Operation, SessionStoreError } from '@session-store/core'
import { describe, expect, it } from 'vitest'

/** A BaseStore over a Map that records every backend call and can be made to hang. */
class RecordingStore extends BaseStore {
  readonly calls: string[] = []
  readonly data = new Map<string, string>()
  hang = false
  constructor(options: ConstructorParameters<typeof MemoryStore>[0] = {}) {
    super(
      {
        packageName: '@session-store/test',
        backend: 'recording',
        capabilities: { ttlGranularityMs: 1, maxValueBytes: 64 },
        options: [],
      },
      options,
    )
  }
  #call<T>(name: string, result: () => T): Promise<T> {
    this.calls.push(name)
    return this.hang ? new Promise<T>(() => {}) : Promise.resolve(result())
  }
  protected read(key: string, _op?: Operation): Promise<string | null> {
    return this.#call('read', () => this.data.get(key) ?? null)
  }
  protected write(key: string, value: string, ttlMs: number): Promise<void> {
    return this.#call(`write ${ttlMs}`, () => void this.data.set(key, value))
  }
  protected remove(key: string) {
    return this.#call('remove', () => void this.data.delete(key))
  }
  protected expire(_key: string, ttlMs: number) {
    return this.#call(`expire ${ttlMs}`, () => undefined)
  }
  planted(key: string, value: string) {
    this.data.set(this.prefix + key, value)
  }
}

/** A RecordingStore whose backend hook for timeouts throws, as a faulty backend or listener might. */
class ThrowsOnTimeout extends RecordingStore {
  readonly timedOutKeys: (string | undefined)[] = []
  protected override timedOut(op: Operation): void {
    this.timedOutKeys.push(op.key)
    throw new Error('the timeout hook failed')
  }
}

describe('BaseStore', () => {
  it('serves callbacks (express-session) and promises (Koa) from the same methods', async () => {
    const store = new RecordingStore()
    await new Promise<void>((resolve, reject) =>
      store.set('a', { n: 1 }, (err) => (err ? reject(err) : resolve())),
    )
    const viaCallback = await new Promise((resolve, reject) =>
      store.get('a', (err, value) => (err ? reject(err) : resolve(value))),
    )
    expect(viaCallback).toEqual({ n: 1 })
    // koa-session: get(key, maxAge, opts) and set(key, sess, maxAge, opts)
    await store.set('b', { n: 2 }, 5000, { rolling: false, changed: true })
    expect(store.calls).toContain('write 5000')
    expect(await store.get('b', 5000, { rolling: false })).toEqual({ n: 2 })
  })

  it('delivers an error to the callback, never as an unhandled rejection', async () => {
    const store = new RecordingStore()
    const err = await new Promise((resolve) => store.get('', (e) => resolve(e)))
    expect(err).toBeInstanceOf(TypeError)
    expect(String(err)).toContain('[@session-store/test] [recording]')
  })

  it('rejects bad sids with a TypeError before any I/O', async () => {
    const store = new RecordingStore()
    for (const bad of ['', undefined, null, 1, { $gt: '' }]) {
      await expect(store.get(bad as string)).rejects.toBeInstanceOf(TypeError)
      await expect(store.set(bad as string, {})).rejects.toBeInstanceOf(TypeError)
    }
    await expect(store.set('ok', 'not an object' as never)).rejects.toBeInstanceOf(TypeError)
    // Lone surrogates have no UTF-8 form, so '\ud800' and '\ud801' would share one backend key.
    await expect(store.set('\ud800', {})).rejects.toThrow(/lone surrogate/)
    expect(store.calls).toEqual([])
  })

  it('deletes instead of writing when the expiry is in the past', async () => {
    const store = new RecordingStore()
    await store.set('gone', { cookie: { expires: new Date(Date.now() - 1000) } })
    expect(store.calls).toEqual(['remove'])
  })

  it('rejects what cannot be encoded or is too large, and writes nothing', async () => {
    const store = new RecordingStore()
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    await expect(store.set('c', cyclic)).rejects.toMatchObject({ code: 'EENCODE', backend: 'recording' })
    await expect(store.set('big', { blob: 'x'.repeat(100) })).rejects.toMatchObject({ code: 'ETOOLARGE' })
    expect(store.calls).toEqual([])
  })

  it("reads a corrupt value as null and reports it on 'corrupt'", async () => {
    const store = new RecordingStore()
    const reports: unknown[] = []
    store.on('corrupt', (err, sid) => reports.push([err.code, sid]))
    store.planted('bad', '{"trunc')
    store.planted('array', '[1,2]')
    expect(await store.get('bad')).toBeNull()
    expect(await store.get('array')).toBeNull()
    expect(reports).toEqual([
      ['EDECODE', 'bad'],
      ['EDECODE', 'array'],
    ])
  })

  it('turns what user code gets wrong into typed errors, and writes nothing', async () => {
    const badSerializer = new RecordingStore({
      serializer: { stringify: () => undefined as unknown as string, parse: JSON.parse },
    })
    await expect(badSerializer.set('a', { n: 1 })).rejects.toMatchObject({
      code: 'EENCODE',
      backend: 'recording',
    })
    const throwingTtl = new RecordingStore({
      ttl: () => {
        throw new Error('no ttl today')
      },
    })
    await expect(throwingTtl.set('a', { n: 1 })).rejects.toThrow(
      /^\[@session-store\/test\] \[recording\] the session's ttl could not be resolved: no ttl today/,
    )
    await expect(throwingTtl.touch('a', { n: 1 })).rejects.toBeInstanceOf(TypeError)
    // Only disableTtl keeps a session forever; an explicit Infinity is refused like NaN.
    const plain = new RecordingStore()
    await expect(plain.set('a', { n: 1 }, Number.POSITIVE_INFINITY)).rejects.toThrow(/finite number of ms/)
    await expect(plain.touch('a', { n: 1 }, Number.POSITIVE_INFINITY)).rejects.toBeInstanceOf(TypeError)
    expect([...badSerializer.calls, ...throwingTtl.calls, ...plain.calls]).toEqual([])
  })

  it("still reads a corrupt value as null when a 'corrupt' listener throws", async () => {
    const store = new RecordingStore()
    const errors: Error[] = []
    store.on('corrupt', () => {
      throw new Error('listener failed')
    })
    store.on('error', (err) => errors.push(err))
    store.planted('bad', '{"trunc')
    expect(await store.get('bad')).toBeNull()
    expect(errors.map((err) => err.message)).toEqual(['listener failed'])
  })

  it('keeps its deadlines when the wall clock steps back', async () => {
    const store = new RecordingStore({ timeout: 100 })
    store.hang = true
    const realNow = Date.now
    const started = performance.now()
    try {
      const pending = store.get('x')
      // An NTP step or a resumed VM: the wall clock goes back a minute.
      Date.now = () => realNow() - 60_000
      await expect(pending).rejects.toMatchObject({ code: 'ETIMEOUT' })
    } finally {
      Date.now = realNow
    }
    expect(performance.now() - started).toBeLessThan(5_000)
  })

  it('bounds every operation by the timeout with a typed error', async () => {
    const store = new RecordingStore({ timeout: 50 })
    store.hang = true
    const err = await store.get('x').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(SessionStoreError)
    expect(err).toMatchObject({ code: 'ETIMEOUT', operation: 'get', packageName: '@session-store/test' })
  })

  it('times out exactly the operations that hang, however they interleave with answered ones', async () => {
    class Selective extends RecordingStore {
      protected override read(key: string) {
        return key.endsWith('hang') ? new Promise<string | null>(() => {}) : Promise.resolve(null)
      }
    }
    const store = new Selective({ timeout: 150 })
    const outcomes = await Promise.all(
      Array.from({ length: 400 }, (_, i) =>
        store.get(i % 3 === 0 ? `${i}-hang` : `${i}`).then(
          () => 'answered',
          (err: { code?: string }) => err.code,
        ),
      ),
    )
    expect(outcomes.filter((o) => o === 'ETIMEOUT')).toHaveLength(134)
    expect(outcomes.filter((o) => o === 'answered')).toHaveLength(266)
    // The store keeps working after a round of timeouts.
    expect(await store.get('after')).toBeNull()
  })

  it('tells the backend which key timed out, and survives a hook that throws', async () => {
    const store = new ThrowsOnTimeout({ timeout: 50 })
    const reported: Error[] = []
    store.on('error', (err) => reported.push(err))
    store.hang = true
    const outcomes = await Promise.allSettled([store.get('a'), store.set('b', { n: 1 }), store.destroy('c')])
    expect(outcomes.map((o) => o.status === 'rejected' && (o.reason as { code?: string }).code)).toEqual([
      'ETIMEOUT',
      'ETIMEOUT',
      'ETIMEOUT',
    ])
    expect(store.timedOutKeys.sort()).toEqual(['sess:a', 'sess:b', 'sess:c'])
    expect(reported.map((err) => err.message)).toEqual(Array(3).fill('the timeout hook failed'))
    // The deadline machinery still works after the hook threw.
    await expect(store.get('d')).rejects.toMatchObject({ code: 'ETIMEOUT' })
    store.hang = false
    expect(await store.get('a')).toBeNull()
  })

  it('does not keep the process alive once every operation has settled', () => {
    // With a 30 s timeout, a deadline timer left holding the event loop would keep this child
    // alive far past the 10 s the spawn allows. The backend answers on a later turn, as a
    // network backend does, so its operations run under a deadline (MemoryStore's do not);
    // MemoryStore is there for its sweep timer.
    const script = `
      import { BaseStore, MemoryStore } from '@session-store/core'
      const later = (value) => new Promise((resolve) => setImmediate(resolve, value))
      class LaterStore extends BaseStore {
        data = new Map()
        constructor() {
          super({ packageName: 'test', backend: 'later', capabilities: { ttlGranularityMs: 1, maxValueBytes: 1e6 }, options: [] }, { timeout: 30000 })
        }
        read(key) { return later(this.data.get(key) ?? null) }
        write(key, value) { this.data.set(key, value); return later() }
        remove(key) { this.data.delete(key); return later() }
        expire() { return later() }
      }
      for (const store of [new LaterStore(), new MemoryStore({ timeout: 30000 })]) {
        await store.set('a', { n: 1 })
        if ((await store.get('a'))?.n !== 1) throw new Error('lost the session')
      }
      console.log('done')
    `
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 10_000,
      cwd: fileURLToPath(new URL('..', import.meta.url)),
    })
    expect(out.trim()).toBe('done')
  })

  it("rebuilds express-session's Session in load(), with nothing else imported", async () => {
    // Nothing from @session-store/express is imported here: core loads express-session itself.
    const store = new MemoryStore()
    const expires = new Date(Date.now() + 60_000)
    await store.set('a', { n: 1, cookie: { originalMaxAge: 60_000, expires, path: '/' } })
    const live = await new Promise<unknown>((resolve, reject) =>
      store.load('a', (error, session) => (error ? reject(error) : resolve(session))),
    )
    expect(live).toMatchObject({ n: 1, id: 'a' })
    expect((live as { cookie: { expires: unknown } }).cookie.expires).toEqual(expires)
    expect(typeof (live as { save?: unknown }).save).toBe('function')
  })

  it("refuses unknown options, naming what to write instead for another store's spelling", () => {
    expect(() => new RecordingStore({ disableTTL: true } as never)).toThrowError(
      /unknown option 'disableTTL' \(use disableTtl\)/,
    )
    expect(() => new RecordingStore({ ttl: 60, mongoUrl: 'mongodb://x' } as never)).toThrowError(
      expect.objectContaining({ code: 'EOPTIONS', message: expect.stringContaining('first argument') }),
    )
    expect(() => new MemoryStore({ sweepinterval: 5 } as never)).toThrowError(
      /unknown option 'sweepinterval'/,
    )
    expect(() => new RecordingStore({ disableTouch: 'yes' } as never)).toThrowError(
      /disableTouch must be a boolean/,
    )
  })

  it("types what a backend call throws, a driver's own TypeError too, as EBACKEND with its cause", async () => {
    class Throwing extends RecordingStore {
      protected override read(): Promise<string | null> {
        throw new TypeError('Bind parameters must not contain undefined')
      }
      protected override write(): Promise<void> {
        return Promise.reject(new TypeError('rejected by the driver'))
      }
    }
    const store = new Throwing()
    for (const outcome of [store.get('a'), store.set('a', {})]) {
      const err = await outcome.catch((e: unknown) => e)
      expect(err).toBeInstanceOf(SessionStoreError)
      expect(err).toMatchObject({ code: 'EBACKEND', backend: 'recording', cause: expect.any(TypeError) })
    }
  })

  it('hands each backend call the time left before its deadline, and aborts its signal at the deadline', async () => {
    const seen: Operation[] = []
    class Watching extends RecordingStore {
      protected override read(_key: string, op?: Operation): Promise<string | null> {
        if (op) seen.push(op)
        return new Promise(() => {})
      }
    }
    const store = new Watching({ timeout: 300 })
    const pending = store.get('a').catch((e: unknown) => e)
    const [op] = seen
    expect(op?.name).toBe('get')
    expect(op?.key).toBe('sess:a')
    expect(op?.remaining()).toBeGreaterThan(200)
    expect(op?.remaining()).toBeLessThanOrEqual(300)
    const signal = op!.signal
    expect(signal.aborted).toBe(false)
    expect(await pending).toMatchObject({ code: 'ETIMEOUT' })
    // The caller is told first; the signal aborts in the same turn of the timer.
    await new Promise((resolve) => setImmediate(resolve))
    expect(signal.aborted).toBe(true)
    expect(op?.expired).toBe(true)
  })

  it('after a timeout, asks the backend once; only a failed ping emits disconnect', async () => {
    class Slow extends RecordingStore {
      pings = 0
      pingAnswers = true
      protected override read(): Promise<string | null> {
        return new Promise(() => {}) // one slow statement
      }
      protected override async ping(): Promise<void> {
        this.pings++
        if (!this.pingAnswers) await new Promise(() => {})
      }
    }
    const store = new Slow({ timeout: 80 })
    const events: string[] = []
    store.on('disconnect', () => events.push('disconnect'))
    await Promise.allSettled([store.get('a'), store.get('b'), store.get('c')])
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(store.pings).toBe(1)
    expect(events).toEqual([])
    expect(store.connected).toBe(true)
    store.pingAnswers = false
    await store.get('d').catch(() => {})
    await new Promise((resolve) => setTimeout(resolve, 250))
    expect(events).toEqual(['disconnect'])
    await store.close()
  })

  it('skips touches with disableTouch, and within touchAfter of the last write', async () => {
    const off = new RecordingStore({ disableTouch: true })
    await off.touch('a', {})
    expect(off.calls).toEqual([])

    const throttled = new RecordingStore({ touchAfter: 60 })
    await throttled.touch('a', {}) // nothing known about 'a': touch
    await throttled.touch('a', {}) // touched just now: skip
    await throttled.set('b', {})
    await throttled.touch('b', {}) // written just now: skip
    expect(throttled.calls.filter((c) => c.startsWith('expire'))).toHaveLength(1)
    await throttled.destroy('b')
    await throttled.touch('b', {}) // destroyed: forgotten, so the touch goes to the backend
    expect(throttled.calls.filter((c) => c.startsWith('expire'))).toHaveLength(2)
  })

  it('stores without expiry only when ttl is disabled', async () => {
    const store = new RecordingStore({ disableTtl: true })
    await store.set('a', { cookie: { maxAge: 10 } })
    expect(store.calls).toEqual(['write Infinity'])
  })

  it('refuses bad options at construction, naming package and backend', () => {
    for (const options of [
      { ttl: -1 },
      { ttl: Number.NaN },
      { timeout: 0 },
      { touchAfter: -5 },
      { prefix: 3 },
    ]) {
      expect(() => new RecordingStore(options as never)).toThrowError(
        /\[@session-store\/test\] \[recording\]/,
      )
    }
    expect(() => new MemoryStore({ max: 0 })).toThrowError(SessionStoreError)
  })

  it('emits connect/disconnect on changes only', () => {
    class Flappy extends RecordingStore {
      flip(up: boolean) {
        this.setConnected(up)
      }
    }
    const store = new Flappy()
    const events: string[] = []
    store.on('connect', () => events.push('connect'))
    store.on('disconnect', () => events.push('disconnect'))
    for (const up of [true, false, false, true, true, false]) store.flip(up)
    expect(events).toEqual(['disconnect', 'connect', 'disconnect'])
  })

  it('pings a disconnected backend until it answers, then emits connect', async () => {
    class Pinged extends RecordingStore {
      answers = false
      pings = 0
      down() {
        this.setConnected(false)
      }
      protected override async ping() {
        this.pings++
        if (!this.answers) throw new Error('still down')
      }
    }
    const store = new Pinged({ timeout: 200 })
    const connected = new Promise<void>((resolve) => store.once('connect', () => resolve()))
    store.down()
    await new Promise((resolve) => setTimeout(resolve, 2300))
    expect(store.pings).toBe(2)
    expect(store.connected).toBe(false)
    store.answers = true
    await connected
    expect(store.connected).toBe(true)
    await store.close()
  })

  it('rejects operations after close, and closes twice without error', async () => {
    const store = new MemoryStore()
    await store.close()
    await store.close()
    await expect(store.get('a')).rejects.toMatchObject({ code: 'ECLOSED' })
    await expect(store.touch('a', {})).rejects.toMatchObject({ code: 'ECLOSED' })
  })
})

it('gives up a stalled enumeration at the deadline, without waiting for the cursor', async () => {
  class StalledScan extends RecordingStore {
    protected override async *scan(): AsyncIterable<string[]> {
      yield ['sess:a']
      await new Promise(() => {})
    }
  }
  const store = new StalledScan({ timeout: 100 })
  const seen: string[] = []
  const err = await (async () => {
    for await (const sid of store.ids()) seen.push(sid)
  })().catch((e: unknown) => e)
  expect(seen).toEqual(['a'])
  expect(err).toMatchObject({ code: 'ETIMEOUT', operation: 'ids' })
})

describe('MemoryStore', () => {
  it('evicts the least recently used session past max', async () => {
    const store = new MemoryStore({ max: 2 })
    await store.set('a', { n: 1 })
    await store.set('b', { n: 2 })
    await store.get('a') // a is now the most recently used
    await store.set('c', { n: 3 })
    expect(await store.get('b')).toBeNull()
    expect(await store.get('a')).toEqual({ n: 1 })
    expect(await store.length()).toBe(2)
  })
})
