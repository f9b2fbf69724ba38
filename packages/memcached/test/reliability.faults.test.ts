import {
  badOptions,
  commonBadOptions,
  type FaultTarget,
  faultScenarios,
  type RawValue,
} from '@session-store/conformance/faults'
import { type PrivateServer, startMemcached } from '@session-store/conformance/harness'
import type { BaseStore } from '@session-store/core'
import Memcached from 'memcached'
import { afterAll, beforeAll, describe, it } from 'vitest'
import { defaultClientOptions, MemcachedStore } from '../src/index.js'
import { canStartMemcached } from './helpers.js'

// The reliability scenarios of @session-store/conformance/faults on a private memcached that
// this file kills and freezes. memcached keeps nothing across a restart: the outage scenario
// checks that every session is gone afterwards, and that the store serves new ones.

describe.skipIf(!canStartMemcached())('reliability: MemcachedStore', () => {
  let memcached: PrivateServer
  /** Plants raw values with the memcached client itself, as another program would. */
  let admin: Memcached
  const env = { url: '' }
  beforeAll(async () => {
    memcached = await startMemcached()
    env.url = memcached.url
    admin = new Memcached(memcached.url, { ...defaultClientOptions })
  })
  afterAll(async () => {
    admin?.end()
    await memcached?.close()
  })

  async function plant(store: BaseStore, sid: string, value: RawValue): Promise<void> {
    const key = (store as MemcachedStore).keyFor(sid)
    await new Promise<void>((resolve, reject) =>
      admin.set(key, value, 600, (err) => (err ? reject(err) : resolve())),
    )
  }

  const target: FaultTarget = {
    name: 'memcached',
    create: ({ prefix, timeout }) =>
      new MemcachedStore(memcached.url, { prefix, timeout, healthCheckInterval: 250 }),
    server: {
      stop: () => memcached.stop(),
      start: () => memcached.start(),
      pause: () => memcached.pause(),
      resume: () => memcached.resume(),
    },
    restart: 'loses data',
    plant,
    clients: (store) => [(store as MemcachedStore).client],
  }
  const scenarios = faultScenarios(target, {
    badOptions: [
      ...commonBadOptions((options) => new MemcachedStore('127.0.0.1:11211', options as never)),
      { what: 'no servers', create: () => new MemcachedStore(undefined as never) },
      { what: 'an empty list of servers', create: () => new MemcachedStore([]) },
      { what: 'a server that is not a string', create: () => new MemcachedStore([42] as never) },
      {
        what: 'a zero maxValueBytes',
        create: () => new MemcachedStore('127.0.0.1:11211', { maxValueBytes: 0 }),
      },
      {
        what: 'a negative healthCheckInterval',
        create: () => new MemcachedStore('127.0.0.1:11211', { healthCheckInterval: -1 }),
      },
      {
        what: 'a client that is not a memcached client',
        create: () => new MemcachedStore({ client: {} as never }),
      },
    ],
    exit: {
      'the store creates and closes its client': {
        base: import.meta.url,
        imports: { memcached: '@session-store/memcached' },
        env,
        setup: 'return { store: new modules.memcached.MemcachedStore(env.url) }',
      },
      'the caller closes its client': {
        base: import.meta.url,
        imports: { memcached: '@session-store/memcached', client: 'memcached' },
        env,
        setup: `const client = new modules.client.default(env.url, { ...modules.memcached.defaultClientOptions })
                return { store: new modules.memcached.MemcachedStore({ client }), closeClient: () => client.end() }`,
      },
    },
  })
  for (const scenario of scenarios) {
    it.skipIf(scenario.skip !== undefined)(scenario.title, scenario.run, scenario.timeoutMs)
  }

  // Addresses the client would accept and then fail every request with.
  const addresses = ['not a host:port', 'memcached://127.0.0.1:11211', '127.0.0.1:99999', 'localhost:port']
  it('bad options: server addresses that can never work are refused at construction', () =>
    badOptions(
      addresses.map((address) => ({
        what: `the server address ${JSON.stringify(address)}`,
        create: () => new MemcachedStore(address),
      })),
    ))
})
