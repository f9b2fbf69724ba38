import {
  commonBadOptions,
  type ExitSpec,
  type FaultTarget,
  faultScenarios,
  type RawValue,
} from '@session-store/conformance/faults'
import { type PrivateServer, startRedis, startRedisCluster } from '@session-store/conformance/harness'
import type { BaseStore } from '@session-store/core'
import { Cluster, Redis } from 'ioredis'
import { afterAll, beforeAll, describe, it } from 'vitest'
import { hashSlot } from '../src/hash-slot.js'
import { RedisStore } from '../src/index.js'
import { onPath } from './helpers.js'

// The reliability scenarios of @session-store/conformance/faults, on private servers this file
// starts, kills and freezes. They run without persistence, so the outage scenarios take a
// snapshot (SAVE) right before they kill a server: what was acknowledged before the kill is on
// disk and comes back with the restart, as it would with appendonly.

/** Every client of this file swallows its connection errors, so ioredis never prints them. */
function quiet<T extends Redis | Cluster>(client: T): T {
  client.on('error', () => {})
  return client
}

function controlsOf(server: () => PrivateServer) {
  return {
    stop: () => server().stop(),
    start: () => server().start(),
    pause: () => server().pause(),
    resume: () => server().resume(),
  }
}

function plantWith(admin: () => Redis | Cluster) {
  return async (store: BaseStore, sid: string, value: RawValue): Promise<void> => {
    await admin().set(store.prefix + sid, value, 'PX', 600_000)
  }
}

/** The child process of the exit scenario; `env` is filled in once the server runs. */
function exitSpec(env: Record<string, string>, setup: string): ExitSpec {
  return { base: import.meta.url, imports: { redis: '@session-store/redis', ioredis: 'ioredis' }, env, setup }
}

function register(scenarios: ReturnType<typeof faultScenarios>): void {
  for (const scenario of scenarios) {
    it.skipIf(scenario.skip !== undefined)(scenario.title, scenario.run, scenario.timeoutMs)
  }
}

describe.skipIf(!onPath('redis-server'))('reliability: RedisStore on a standalone server', () => {
  let redis: PrivateServer
  let admin: Redis
  const env = { url: '' }
  beforeAll(async () => {
    redis = await startRedis()
    env.url = redis.url
    admin = quiet(new Redis(redis.url))
  })
  afterAll(async () => {
    admin?.disconnect()
    await redis?.close()
  })

  const target: FaultTarget = {
    name: 'redis',
    create: ({ prefix, timeout }) =>
      new RedisStore(quiet(new Redis(redis.url)), { prefix, timeout, closeClient: true }),
    server: controlsOf(() => redis),
    restart: 'keeps data',
    beforeStop: async () => void (await admin.save()),
    plant: plantWith(() => admin),
    clients: (store) => [(store as RedisStore).client],
  }
  const lazyClient = () => new Redis({ lazyConnect: true })
  register(
    faultScenarios(target, {
      badOptions: [
        ...commonBadOptions((options) => new RedisStore(lazyClient(), options as never)),
        {
          what: 'a URL instead of a client',
          create: () => new RedisStore('redis://127.0.0.1:6379' as never),
        },
        { what: 'an unparsable URL', create: () => new RedisStore('redis://:::' as never) },
        {
          what: 'connection options instead of a client',
          create: () => new RedisStore({ port: 6379 } as never),
        },
        { what: 'no client', create: () => new RedisStore(undefined as never) },
        { what: 'a fractional scanCount', create: () => new RedisStore(lazyClient(), { scanCount: 1.5 }) },
        {
          what: 'closeClient as a string',
          create: () => new RedisStore(lazyClient(), { closeClient: 'yes' as never }),
        },
      ],
      exit: {
        'the store closes the client': exitSpec(
          env,
          'return { store: new modules.redis.RedisStore(new modules.ioredis.Redis(env.url), { closeClient: true }) }',
        ),
        'the caller closes the client': exitSpec(
          env,
          `const client = new modules.ioredis.Redis(env.url)
           return { store: new modules.redis.RedisStore(client), closeClient: () => client.quit() }`,
        ),
      },
    }),
  )
})

describe.skipIf(!onPath('redis-server') || !onPath('redis-cli'))(
  'reliability: RedisStore on a Cluster',
  () => {
    let cluster: PrivateServer
    let admin: Cluster
    const env = { nodes: '' }
    beforeAll(async () => {
      cluster = await startRedisCluster()
      env.nodes = JSON.stringify(cluster.nodes)
      admin = quiet(new Cluster(cluster.nodes))
    })
    afterAll(async () => {
      admin?.disconnect()
      await cluster?.close()
    })

    /** Runs `command` on every master, each on a connection of its own. */
    async function onEveryMaster(command: (node: Redis) => Promise<unknown>): Promise<void> {
      await Promise.all(
        cluster.nodes.map(async (node) => {
          const connection = quiet(new Redis(node))
          try {
            await command(connection)
          } finally {
            connection.disconnect()
          }
        }),
      )
    }

    const target: FaultTarget = {
      name: 'redis-cluster',
      create: ({ prefix, timeout }) =>
        new RedisStore(quiet(new Cluster(cluster.nodes)), { prefix, timeout, closeClient: true }),
      server: controlsOf(() => cluster),
      restart: 'keeps data',
      beforeStop: () => onEveryMaster((node) => node.save()),
      plant: plantWith(() => admin),
      clients: (store) => [(store as RedisStore).client],
    }

    /** The last master: the one the partial outage kills. */
    const victim = () => cluster.nodes[cluster.nodes.length - 1]!

    register(
      faultScenarios(target, {
        partialOutage: {
          title: 'one cluster master down',
          restart: 'keeps data',
          // Longer than the cluster's node timeout (2 s): the other masters have marked it failed.
          downForMs: 5000,
          async affected(store, sids) {
            const slots = (await admin.cluster('SLOTS')) as unknown as Array<
              [number, number, [string, number]]
            >
            const owned = slots.filter(([, , [, port]]) => port === victim().port)
            return new Set(
              sids.filter((sid) => {
                const slot = hashSlot(store.prefix + sid)
                return owned.some(([from, to]) => slot >= from && slot <= to)
              }),
            )
          },
          async stop() {
            // By default a cluster refuses every key once any slot has no master
            // (cluster-require-full-coverage yes); a deployment that wants the other masters to go
            // on serving says so, as done here.
            await onEveryMaster((node) => node.config('SET', 'cluster-require-full-coverage', 'no'))
            const connection = quiet(new Redis(victim()))
            try {
              await connection.save()
              const info = await connection.info('server')
              const pid = Number(/process_id:(\d+)/.exec(info)?.[1])
              // This file's own server process (the harness started it for this file).
              process.kill(pid, 'SIGKILL')
            } finally {
              connection.disconnect()
            }
          },
          // The harness restarts whichever node has exited, and waits for cluster_state:ok.
          start: () => cluster.start(),
        },
        exit: {
          'the store closes the Cluster client': {
            base: import.meta.url,
            imports: { redis: '@session-store/redis', ioredis: 'ioredis' },
            env,
            setup:
              'return { store: new modules.redis.RedisStore(new modules.ioredis.Cluster(JSON.parse(env.nodes)), { closeClient: true }) }',
          },
        },
      }),
    )
  },
)
