import { randomUUID } from 'node:crypto'
import { MemoryStore, type SessionData, type SessionStore, type TtlArgument } from '@session-store/core'
import { afterEach, describe, expect, it } from 'vitest'
import { type Clause, type ClauseContext, ClauseSkipped } from '../src/clause.js'
import { dialectClauses } from '../src/dialects/index.js'
import { frameworkSession, frameworkSid } from '../src/inputs.js'

const TIMEOUT = 30_000

const clause = (name: string): Clause => {
  const found = dialectClauses.find((c) => c.title === `dialects: ${name}`)
  if (!found) throw new Error(`no clause for ${name}`)
  return found
}
const express = clause('express-session')
const koaGeneric = clause('koa-generic-session')
const koaSession = clause('koa-session')
const fastify = clause('@fastify/session')

const created: MemoryStore[] = []
afterEach(async () => {
  await Promise.all(created.splice(0).map((store) => store.close()))
})

/** A MemoryStore with a fresh prefix, closed after the test. */
function memoryStore(options: ConstructorParameters<typeof MemoryStore>[0] = {}): MemoryStore {
  const store = new MemoryStore({ prefix: `dialects:${randomUUID()}:`, ...options })
  created.push(store)
  return store
}

/** The context the suite's runner would give a clause, around stores made by `make`. */
function contextFor(make: () => { store: SessionStore; inner: MemoryStore }): ClauseContext {
  let capabilities: ClauseContext['capabilities'] | undefined
  return {
    async store() {
      const { store, inner } = make()
      capabilities ??= inner.capabilities
      return store
    },
    sid: frameworkSid,
    dialect: 'contract',
    session: (data, maxAgeMs) => frameworkSession('contract', data, maxAgeMs),
    async part(_part, check) {
      // Every part counts here: these tests check the clauses themselves.
      await check()
      return true
    },
    note() {},
    get capabilities() {
      if (!capabilities) throw new Error('no store created yet')
      return capabilities
    },
    target: { create: () => make().store },
    skip(reason: string): never {
      throw new ClauseSkipped(reason)
    },
  }
}

/**
 * A store that only speaks the promise contract (no BaseStore, no callbacks, no events), so
 * the dialects wrap it. The broken variants below override one method each.
 */
class ContractOnlyStore implements SessionStore {
  constructor(readonly inner: MemoryStore) {}
  get(sid: string): Promise<SessionData | null> {
    return this.inner.get(sid)
  }
  set(sid: string, session: SessionData, ttlMs?: TtlArgument): Promise<void> {
    return this.inner.set(sid, session, ttlMs)
  }
  destroy(sid: string): Promise<void> {
    return this.inner.destroy(sid)
  }
  touch(sid: string, session: SessionData, ttlMs?: TtlArgument): Promise<void> {
    return this.inner.touch(sid, session, ttlMs)
  }
}

/** Every other read comes back empty, as if one of the two instances could not see the session. */
class ForgetfulStore extends ContractOnlyStore {
  #reads = 0
  override get(sid: string): Promise<SessionData | null> {
    return this.#reads++ % 2 === 1 ? Promise.resolve(null) : super.get(sid)
  }
}

/** `destroy` does nothing. */
class UndestroyableStore extends ContractOnlyStore {
  override destroy(): Promise<void> {
    return Promise.resolve()
  }
}

/** `touch` does nothing, so sessions expire after their last change, not their last use. */
class UntouchableStore extends ContractOnlyStore {
  override touch(): Promise<void> {
    return Promise.resolve()
  }
}

const ours = () => {
  const store = memoryStore()
  return { store, inner: store }
}
const wrapped =
  (
    Store: new (inner: MemoryStore) => ContractOnlyStore,
    options: ConstructorParameters<typeof MemoryStore>[0] = {},
  ) =>
  () => {
    const inner = memoryStore(options)
    return { store: new Store(inner), inner }
  }

describe('C15 dialects against MemoryStore', () => {
  it('declares four C15 clauses, one per framework', () => {
    expect(dialectClauses.map((c) => [c.id, c.title])).toEqual([
      ['C15', 'dialects: express-session'],
      ['C15', 'dialects: koa-generic-session'],
      ['C15', 'dialects: koa-session'],
      ['C15', 'dialects: @fastify/session'],
    ])
  })

  for (const c of [express, koaGeneric, koaSession, fastify]) {
    it(`${c.title} passes with our MemoryStore, used as it is`, { timeout: TIMEOUT }, async () => {
      await c.run(contextFor(ours))
    })

    it(`${c.title} passes with a store that only speaks the contract, wrapped by the dialect`, {
      timeout: TIMEOUT,
    }, async () => {
      await c.run(contextFor(wrapped(ContractOnlyStore)))
    })

    it(`${c.title} fails when one instance cannot read the session the other wrote`, {
      timeout: TIMEOUT,
    }, async () => {
      await expect(c.run(contextFor(wrapped(ForgetfulStore)))).rejects.toThrow(
        /^instance [AB] counted 1, expected [234]: the session written by the other instance was not read back/,
      )
    })

    it(`${c.title} fails when destroy leaves the session in the store`, { timeout: TIMEOUT }, async () => {
      await expect(c.run(contextFor(wrapped(UndestroyableStore)))).rejects.toThrow(
        /^after regenerating, store\.get\('.+'\) still holds the old session$/,
      )
    })
  }

  it('express-session fails when touch does not move the expiry', { timeout: TIMEOUT }, async () => {
    await expect(express.run(contextFor(wrapped(UntouchableStore)))).rejects.toThrow(
      /^a session kept alive by a request every \d+ ms \(maxAge \d+ ms\) was lost after \d+ ms/,
    )
  })

  it('express-session fails when cookie.expires does not come back as a Date', {
    timeout: TIMEOUT,
  }, async () => {
    // A serializer that keeps Dates as epoch numbers: neither express-session nor our dialect
    // turns a number back into a Date, so the loaded session's cookie is unusable.
    const epochDates = {
      stringify: (value: unknown) =>
        JSON.stringify(value, function (this: Record<string, unknown>, key, field) {
          const raw = this[key]
          return raw instanceof Date ? raw.getTime() : field
        }),
      parse: (text: string) => JSON.parse(text) as unknown,
    }
    await expect(
      express.run(contextFor(wrapped(ContractOnlyStore, { serializer: epochDates }))),
    ).rejects.toThrow(
      /^after req\.session\.reload\(\) req\.session\.cookie\.expires is \d+, expected a Date$/,
    )
  })

  // The Koa middlewares roll sessions with set, never touch: the same store serves them.
  for (const c of [koaGeneric, koaSession]) {
    it(`${c.title} does not need touch`, { timeout: TIMEOUT }, async () => {
      await c.run(contextFor(wrapped(UntouchableStore)))
    })
  }

  for (const c of [express, koaGeneric]) {
    it(`${c.title} fails when the store keeps sessions past their cookie's maxAge`, {
      timeout: TIMEOUT,
    }, async () => {
      await expect(c.run(contextFor(wrapped(ContractOnlyStore, { disableTtl: true })))).rejects.toThrow(
        /^store\.get\('.+'\) still holds a session idle for \d+ ms, past its maxAge of \d+ ms$/,
      )
    })
  }

  // koa-session keeps sessions 10 s past the cookie and ends them by their own `_expire`.
  it('koa-session ends an idle session itself, even when the store keeps it', {
    timeout: TIMEOUT,
  }, async () => {
    await koaSession.run(contextFor(wrapped(ContractOnlyStore, { disableTtl: true })))
  })

  it('waits for whole-second stores: maxAge and waits grow with ttlGranularityMs', async () => {
    const { dialectTiming } = await import('../src/dialects/index.js')
    expect(dialectTiming({ ttlGranularityMs: 1 })).toEqual({
      maxAge: 1500,
      expiryWait: 2002,
      keepAliveEvery: 500,
    })
    expect(dialectTiming({ ttlGranularityMs: 1000 })).toEqual({
      maxAge: 3000,
      expiryWait: 5500,
      keepAliveEvery: 1000,
    })
  })
})
