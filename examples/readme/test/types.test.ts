// What the frameworks' own type declarations expect of a store, checked against every store we
// ship, with no cast. These assertions are checked by `pnpm typecheck` (this package's tsconfig
// includes the tests); at run time they only make sure the stores construct.
import type { FastifySessionOptions } from '@fastify/session'
import { type ExpressSessionData, MemoryStore } from '@session-store/core'
import type { MemcachedStore } from '@session-store/memcached'
import type { MongoStore } from '@session-store/mongodb'
import type { MySQLStore } from '@session-store/mysql'
import type { RedisStore } from '@session-store/redis'
import type { Store as ExpressStore } from 'express-session'
import type { Redis } from 'ioredis'
import type { SessionStore as KoaGenericStore } from 'koa-generic-session'
import type { CreateSessionOptions as KoaSessionOptions } from 'koa-session'
import { describe, expect, expectTypeOf, it } from 'vitest'

type KoaSessionStore = NonNullable<KoaSessionOptions['store']>
type FastifyStore = NonNullable<FastifySessionOptions['store']>

describe('store types, as the frameworks declare them', () => {
  it('every store is assignable to express-session, koa-generic-session, koa-session and @fastify/session', () => {
    expectTypeOf<MemoryStore>().toExtend<ExpressStore>()
    expectTypeOf<MemoryStore>().toExtend<KoaGenericStore>()
    expectTypeOf<MemoryStore>().toExtend<KoaSessionStore>()
    expectTypeOf<MemoryStore>().toExtend<FastifyStore>()
    expectTypeOf<RedisStore>().toExtend<ExpressStore & KoaGenericStore & KoaSessionStore & FastifyStore>()
    expectTypeOf<MemcachedStore>().toExtend<ExpressStore & KoaGenericStore & KoaSessionStore & FastifyStore>()
    expectTypeOf<MySQLStore>().toExtend<ExpressStore & KoaGenericStore & KoaSessionStore & FastifyStore>()
    expectTypeOf<MongoStore>().toExtend<ExpressStore & KoaGenericStore & KoaSessionStore & FastifyStore>()
    expect(new MemoryStore()).toBeInstanceOf(MemoryStore)
  })

  it('a promise when called without a callback, void with one, nothing in between', () => {
    const store = new MemoryStore()
    expectTypeOf(store.get('sid')).toEqualTypeOf<Promise<ExpressSessionData | null>>()
    expectTypeOf(store.get('sid', () => {})).toEqualTypeOf<void>()
    expectTypeOf(store.set('sid', { cookie: { maxAge: 1000 } })).toEqualTypeOf<Promise<void>>()
    expectTypeOf(store.set('sid', { cookie: { maxAge: 1000 } }, () => {})).toEqualTypeOf<void>()
    expectTypeOf(store.destroy('sid')).toEqualTypeOf<Promise<void>>()
    expectTypeOf(store.destroy('sid', () => {})).toEqualTypeOf<void>()
    expectTypeOf(store.length()).toEqualTypeOf<Promise<number>>()
    expectTypeOf(store.length(() => {})).toEqualTypeOf<void>()
  })

  it('the session type follows the app: declared once, typed everywhere', () => {
    interface Cart {
      items: string[]
    }
    const carts = new MemoryStore<Cart>()
    expectTypeOf(carts.get('sid')).toEqualTypeOf<Promise<Cart | null>>()
    expectTypeOf<RedisStore<Cart>>().toExtend<ExpressStore>()
    expectTypeOf<Redis>().not.toBeAny()
  })
})
