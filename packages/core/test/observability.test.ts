import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { describe, expect, it } from 'vitest'
import { MemoryStore, type OperationTrace } from '../src/index.js'

/** Collects what the tracing channels of the given operations publish. */
function record(operations: string[]) {
  const seen: Array<{ event: string; context: OperationTrace }> = []
  const handlers = new Map<string, (message: unknown) => void>()
  for (const operation of operations) {
    for (const event of ['start', 'asyncEnd', 'error']) {
      const name = `tracing:session-store:${operation}:${event}`
      const handler = (message: unknown) =>
        seen.push({ event: `${operation}:${event}`, context: message as OperationTrace })
      handlers.set(name, handler)
      subscribe(name, handler)
    }
  }
  return {
    seen,
    stop: () => {
      for (const [name, handler] of handlers) unsubscribe(name, handler)
    },
  }
}

describe('diagnostics channels', () => {
  it('publish start and end once per operation, with backend, prefix and operation', async () => {
    const store = new MemoryStore({ prefix: 'obs:' })
    const recorder = record(['get', 'set', 'touch', 'destroy'])
    try {
      await store.set('a', { n: 1 })
      await store.get('a')
      await store.touch('a', { n: 1 })
      await store.destroy('a')
    } finally {
      recorder.stop()
    }
    expect(recorder.seen.map((s) => s.event)).toEqual([
      'set:start',
      'set:asyncEnd',
      'get:start',
      'get:asyncEnd',
      'touch:start',
      'touch:asyncEnd',
      'destroy:start',
      'destroy:asyncEnd',
    ])
    expect(recorder.seen[0]?.context).toMatchObject({ backend: 'memory', prefix: 'obs:', operation: 'set' })
  })

  it('publish the error of a failed operation', async () => {
    const store = new MemoryStore()
    await store.close()
    const recorder = record(['get'])
    try {
      await expect(store.get('a')).rejects.toMatchObject({ code: 'ECLOSED' })
    } finally {
      recorder.stop()
    }
    const failure = recorder.seen.find((s) => s.event === 'get:error')
    expect(failure?.context.error).toMatchObject({ code: 'ECLOSED' })
  })

  it('stay silent when nobody subscribes', async () => {
    const recorder = record(['get'])
    recorder.stop()
    const store = new MemoryStore()
    await store.get('a')
    expect(recorder.seen).toEqual([])
  })
})

describe('lifecycle events', () => {
  it('report saved, touched, miss and destroyed with the sid hashed', async () => {
    const store = new MemoryStore()
    const events: string[] = []
    for (const event of ['saved', 'touched', 'miss', 'destroyed'] as const) {
      store.on(event, (id) => events.push(`${event} ${id}`))
    }
    await store.set('secret-sid', { n: 1 })
    await store.touch('secret-sid', { n: 1 })
    await store.destroy('secret-sid')
    await store.get('secret-sid')
    expect(events.map((e) => e.split(' ')[0])).toEqual(['saved', 'touched', 'destroyed', 'miss'])
    for (const event of events) {
      expect(event).not.toContain('secret-sid')
      expect(event).toMatch(/ sha256:[A-Za-z0-9_-]{43}$/)
    }
    // One sid, one id, whatever the event.
    expect(new Set(events.map((e) => e.split(' ')[1])).size).toBe(1)
  })

  it('a throwing listener does not fail the operation', async () => {
    const store = new MemoryStore()
    const errors: Error[] = []
    store.on('error', (err) => errors.push(err))
    store.on('saved', () => {
      throw new Error('listener bug')
    })
    await expect(store.set('a', { n: 1 })).resolves.toBeUndefined()
    expect(errors.map((e) => e.message)).toEqual(['listener bug'])
  })
})

describe('hashSids', () => {
  it('keeps digests, and the opaque ids that ids() yields reach the same sessions', async () => {
    const store = new MemoryStore({ hashSids: true })
    await store.set('sid-one', { n: 1 })
    const ids: string[] = []
    for await (const id of store.ids()) ids.push(id)
    expect(ids).toHaveLength(1)
    expect(ids[0]).toMatch(/^sha256:[A-Za-z0-9_-]{43}$/)
    expect(ids[0]).not.toContain('sid-one')
    expect(await store.get(ids[0]!)).toEqual({ n: 1 })
    expect(await store.get('sid-one')).toEqual({ n: 1 })
    await store.destroy(ids[0]!)
    expect(await store.get('sid-one')).toBeNull()
  })

  it('is refused when not a boolean', () => {
    expect(() => new MemoryStore({ hashSids: 'yes' as never })).toThrow(/hashSids must be a boolean/)
  })
})
