import { execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { Socket } from 'node:net'
import { fileURLToPath } from 'node:url'
import {
  BACKEND_NAMES,
  type PrivateServer,
  parseBackendList,
  RequiredBackendMissing,
  resolveServers,
  server,
  startMariadb,
  startMemcached,
  startRedis,
  startRedisCluster,
  startRedisSentinel,
  tcpProxy,
} from '@session-store/conformance/harness'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import type { TestModule } from 'vitest/node'
import { mysqlGreetingVersion } from '../src/harness/mariadb.js'
import { memcachedVersion } from '../src/harness/memcached.js'
import { postgresBinDir } from '../src/harness/postgres.js'
import { findBinary } from '../src/harness/process.js'
import { redisCommand } from '../src/harness/redis.js'
import { backendsForFiles } from '../src/harness/resolve.js'
import { countLine, countRun } from '../src/reporter.js'

const hasRedis = findBinary('redis-server') !== undefined
const hasCluster = hasRedis && findBinary('redis-cli') !== undefined
const hasSentinel = hasRedis && findBinary('redis-sentinel') !== undefined
const hasMemcached = findBinary('memcached') !== undefined
const hasMariadb = findBinary('mariadbd') !== undefined && findBinary('mariadb-install-db') !== undefined

const ping = (target: { host: string; port: number }, timeoutMs = 500) =>
  redisCommand(target, ['PING'], timeoutMs)

/** A long-lived connection speaking Redis' inline protocol, to watch one connection through faults. */
class RedisConnection {
  private readonly socket = new Socket()
  private received = ''
  readonly closed: Promise<unknown>

  private constructor(target: { host: string; port: number }) {
    this.socket.on('data', (chunk) => {
      this.received += chunk.toString('utf8')
    })
    this.socket.on('error', () => {})
    // Not events.once: it rejects when 'error' comes first, which a killed server's reset does.
    this.closed = new Promise((resolve) => this.socket.once('close', resolve))
    this.socket.connect(target.port, target.host)
  }

  static async open(target: { host: string; port: number }): Promise<RedisConnection> {
    const connection = new RedisConnection(target)
    await once(connection.socket, 'connect')
    return connection
  }

  send(command: string): void {
    this.socket.write(`${command}\r\n`)
  }

  /** The next reply line, or a rejection when none arrives in time. */
  async reply(timeoutMs = 500): Promise<string> {
    const deadline = Date.now() + timeoutMs
    while (!this.received.includes('\r\n')) {
      if (Date.now() > deadline) throw new Error('no reply')
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    const end = this.received.indexOf('\r\n')
    const line = this.received.slice(0, end)
    this.received = this.received.slice(end + 2)
    return line
  }

  destroy(): void {
    this.socket.destroy()
  }
}

describe('globalSetup wiring', () => {
  it('hands every test file the status of every backend', () => {
    const report = inject('sessionStoreHarness')
    expect(report?.backends.map((b) => b.backend)).toEqual([...BACKEND_NAMES])
    // This file needs redis-server and memcached; the run found or started them.
    if (hasRedis) expect(server('redis')?.url).toMatch(/^redis:\/\/127\.0\.0\.1:\d+$/)
    if (hasMemcached) expect(server('memcached')?.nodes.length).toBeGreaterThan(0)
  })

  it('decides which servers a run needs from where its test files live', () => {
    expect(backendsForFiles(['/r/packages/core/test/ttl.test.ts'])).toEqual([])
    expect(
      backendsForFiles(['/r/packages/redis/test/a.test.ts', '/r/packages/mysql/test/b.test.ts']),
    ).toEqual(['redis', 'redis-cluster', 'redis-sentinel', 'mysql'])
    expect(backendsForFiles(['/r/conformance/test/x.test.ts'])).toEqual([...BACKEND_NAMES])
  })
})

describe('SESSION_STORE_REQUIRE', () => {
  // An empty PATH and no Docker: nothing can be found, and nothing is started.
  const nothingAvailable = { PATH: '' }
  const noDocker = async () => false

  it('turns a backend that would be skipped into an error naming it and why', async () => {
    const attempt = resolveServers({
      env: { ...nothingAvailable, SESSION_STORE_REQUIRE: 'memcached,mysql' },
      dockerAvailable: noDocker,
    })
    await expect(attempt).rejects.toThrow(RequiredBackendMissing)
    await expect(attempt).rejects.toThrow(
      /memcached: no MEMCACHED_SERVERS, no memcached on PATH, Docker not running/,
    )
    await expect(attempt).rejects.toThrow(/mysql: no MYSQL_URL/)
  })

  it('without it, the same backends are skipped with their reason and the run goes on', async () => {
    const resolved = await resolveServers({ env: nothingAvailable, dockerAvailable: noDocker })
    // SQLite is inside Node: it needs no PATH, no Docker and no server; PostgreSQL is also
    // looked for where Debian installs it, off PATH.
    // FerretDB is also looked for in Go's bin directory.
    const offPath = ['sqlite', 'mongodb', ...(postgresBinDir('') === undefined ? [] : ['postgres'])]
    const servers = resolved.report.backends.filter((b) => !offPath.includes(b.backend))
    expect(servers.every((b) => b.status === 'skipped')).toBe(true)
    expect(resolved.report.backends.find((b) => b.backend === 'sqlite')?.status).toBe('found')
    const memcached = resolved.report.backends.find((b) => b.backend === 'memcached')
    expect(memcached).toMatchObject({
      status: 'skipped',
      reason: expect.stringContaining('no memcached on PATH'),
    })
    await resolved.close()
  })

  it('fails on an env var whose server does not answer, without showing its password', async () => {
    const attempt = resolveServers({
      env: { PATH: '', MONGO_URL: 'mongodb://app:hunter2@127.0.0.1:1,127.0.0.1:2/db' },
      dockerAvailable: noDocker,
    })
    await expect(attempt).rejects.toThrow(
      /MONGO_URL=mongodb:\/\/app:\*\*\*@127\.0\.0\.1:1,.* does not answer/,
    )
    await expect(attempt).rejects.not.toThrow(/hunter2/)
  })

  it('rejects an unknown backend name instead of ignoring it', () => {
    expect(() => parseBackendList('redis,memcache', 'SESSION_STORE_REQUIRE')).toThrow(
      /unknown backend "memcache"/,
    )
    expect(parseBackendList(' redis , mysql ,redis', 'X')).toEqual(['redis', 'mysql'])
  })

  it.skipIf(!hasRedis)('is satisfied by a server named in an env var, which must answer', async () => {
    const redis = await startRedis()
    try {
      const resolved = await resolveServers({
        env: { PATH: '', REDIS_URL: redis.url, SESSION_STORE_REQUIRE: 'redis' },
        dockerAvailable: noDocker,
      })
      expect(resolved.report.backends.find((b) => b.backend === 'redis')).toMatchObject({
        status: 'found',
        server: { source: 'env', port: redis.port, url: redis.url },
      })
      await resolved.close()
      // close() releases only what the harness started: the env server still answers.
      expect(await ping(redis)).toBe('PONG')
      await redis.stop()
      await expect(
        resolveServers({ env: { PATH: '', REDIS_URL: redis.url }, dockerAvailable: noDocker }),
      ).rejects.toThrow(/REDIS_URL=.* is set, but the server there does not answer/)
    } finally {
      await redis.close()
    }
  })
})

describe.skipIf(!hasRedis)('private redis-server', () => {
  let redis: PrivateServer
  beforeAll(async () => {
    redis = await startRedis()
  })
  afterAll(() => redis?.close())

  it('pause makes a client time out, resume brings it back', async () => {
    const connection = await RedisConnection.open(redis)
    try {
      await redis.pause()
      connection.send('PING')
      await expect(connection.reply(300)).rejects.toThrow('no reply')
      await expect(ping(redis, 300)).rejects.toThrow(/no answer/)
      await redis.resume()
      // The command sent while the server was frozen is answered once it thaws.
      expect(await connection.reply(5_000)).toBe('+PONG')
      expect(await ping(redis)).toBe('PONG')
    } finally {
      connection.destroy()
      await redis.resume()
    }
  })

  it('stop kills the server (connections drop, new ones are refused), start brings it back on the same port', async () => {
    const port = redis.port
    const connection = await RedisConnection.open(redis)
    await redis.stop()
    await connection.closed
    await expect(ping(redis)).rejects.toThrow(/ECONNREFUSED/)
    await redis.start()
    expect(redis.port).toBe(port)
    expect(await ping(redis)).toBe('PONG')
  })

  it('close stops it for good', async () => {
    const other = await startRedis()
    expect(other.port).not.toBe(redis.port)
    await other.close()
    await expect(ping(other)).rejects.toThrow(/ECONNREFUSED/)
    await expect(other.start()).rejects.toThrow(/closed/)
    await other.close()
  })
})

describe.skipIf(!hasRedis)('tcpProxy', () => {
  let redis: PrivateServer
  beforeAll(async () => {
    redis = await startRedis()
  })
  afterAll(() => redis?.close())

  it('forwards, cut drops every connection and refuses new ones, restore reopens', async () => {
    const proxy = await tcpProxy(redis)
    try {
      expect(proxy.host).toBe('127.0.0.1')
      expect(await ping(proxy)).toBe('PONG')
      const connection = await RedisConnection.open(proxy)
      connection.send('PING')
      expect(await connection.reply()).toBe('+PONG')

      await proxy.cut()
      await connection.closed
      await expect(ping(proxy)).rejects.toThrow(/ECONNREFUSED/)
      // The server itself was never touched.
      expect(await ping(redis)).toBe('PONG')

      await proxy.restore()
      expect(await ping(proxy)).toBe('PONG')
    } finally {
      await proxy.close()
    }
    await expect(ping(proxy)).rejects.toThrow(/ECONNREFUSED/)
  })

  it('stall holds every byte without closing anything, restore delivers what was held', async () => {
    const proxy = await tcpProxy(redis)
    const before = await RedisConnection.open(proxy)
    let during: RedisConnection | undefined
    try {
      before.send('PING')
      expect(await before.reply()).toBe('+PONG')

      await proxy.stall()
      before.send('ECHO held')
      await expect(before.reply(300)).rejects.toThrow('no reply')
      // A new connection is accepted but goes nowhere.
      during = await RedisConnection.open(proxy)
      during.send('PING')
      await expect(during.reply(300)).rejects.toThrow('no reply')

      await proxy.restore()
      expect(await before.reply(5_000)).toBe('$4')
      expect(await before.reply()).toBe('held')
      expect(await during.reply(5_000)).toBe('+PONG')
    } finally {
      before.destroy()
      during?.destroy()
      await proxy.close()
    }
  })
})

// Independent servers, started side by side to keep this file quick.
describe.concurrent('private servers', () => {
  it.skipIf(!hasMemcached)('memcached serves, honours its options, stops and starts', async () => {
    const memcached = await startMemcached({ memoryMb: 16, maxItemSize: '2m' })
    try {
      expect(memcached.url).toBe(`127.0.0.1:${memcached.port}`)
      expect(await memcachedVersion(memcached)).toMatch(/^\d+\.\d+/)
      const settings = await memcachedSettings(memcached)
      expect(settings.get('maxbytes')).toBe(String(16 * 1024 * 1024))
      expect(settings.get('item_size_max')).toBe(String(2 * 1024 * 1024))
      await memcached.stop()
      await expect(memcachedVersion(memcached)).rejects.toThrow(/ECONNREFUSED/)
      await memcached.start()
      expect(await memcachedVersion(memcached)).toMatch(/^\d+\.\d+/)
    } finally {
      await memcached.close()
    }
  })

  // The login and the database are checked with the command-line client, which comes with the
  // server in Debian's packages; without it the test is skipped, not half run.
  const mariadbClient = findBinary('mariadb') ?? findBinary('mysql')
  it.skipIf(!hasMariadb || !mariadbClient)(
    'MariaDB lets root in without a password over TCP, has a `test` database, stops and starts',
    async () => {
      const mariadb = await startMariadb()
      try {
        expect(mariadb.url).toBe(`mysql://root@127.0.0.1:${mariadb.port}/test`)
        const query = (sql: string) =>
          new Promise<string>((resolve, reject) =>
            execFile(
              mariadbClient!,
              [
                '--no-defaults',
                '-h',
                '127.0.0.1',
                '-P',
                String(mariadb.port),
                '-u',
                'root',
                '-N',
                '-e',
                sql,
                'test',
              ],
              { timeout: 10_000 },
              (error, stdout, stderr) =>
                error ? reject(new Error(stderr || error.message)) : resolve(stdout.trim()),
            ),
          )
        expect(await query('SELECT DATABASE()')).toBe('test')
        await mariadb.stop()
        await expect(mysqlGreetingVersion(mariadb)).rejects.toThrow(/ECONNREFUSED/)
        await mariadb.start()
        expect(await mysqlGreetingVersion(mariadb)).toMatch(/MariaDB/)
        expect(await query('SELECT 1')).toBe('1')
      } finally {
        await mariadb.close()
      }
    },
  )

  it.skipIf(!hasCluster)(
    'a Redis Cluster has three masters sharing every slot, and recovers after stop/start',
    async () => {
      const cluster = await startRedisCluster()
      const clusterState = async (node: { host: string; port: number }) =>
        /cluster_state:(\w+)/.exec(String(await redisCommand(node, ['CLUSTER', 'INFO'])))?.[1]
      try {
        expect(cluster.nodes).toHaveLength(3)
        expect(cluster.url).toBe(`redis://127.0.0.1:${cluster.nodes[0]!.port}`)
        const slots = (await redisCommand(cluster.nodes[0]!, ['CLUSTER', 'SLOTS'])) as unknown[][]
        expect(slots.reduce((sum, range) => sum + Number(range[1]) - Number(range[0]) + 1, 0)).toBe(16384)
        for (const node of cluster.nodes) expect(await clusterState(node)).toBe('ok')

        await cluster.stop()
        for (const node of cluster.nodes) await expect(ping(node)).rejects.toThrow(/ECONNREFUSED/)
        await cluster.start()
        for (const node of cluster.nodes) expect(await clusterState(node)).toBe('ok')
      } finally {
        await cluster.close()
      }
    },
  )

  it.skipIf(!hasSentinel)(
    'Redis Sentinel: a sentinel that knows the master; stop takes down the master only',
    async () => {
      const sentinel = await startRedisSentinel()
      try {
        expect(sentinel.sentinelMasterName).toBe('ssmaster')
        expect(sentinel.nodes).toEqual([{ host: '127.0.0.1', port: sentinel.port }])
        const address = (await redisCommand(sentinel, [
          'SENTINEL',
          'get-master-addr-by-name',
          'ssmaster',
        ])) as string[]
        const master = { host: address[0]!, port: Number(address[1]) }
        expect(await ping(master)).toBe('PONG')

        await sentinel.stop()
        await expect(ping(master)).rejects.toThrow(/ECONNREFUSED/)
        expect(await ping(sentinel)).toBe('PONG')
        await sentinel.start()
        expect(await ping(master)).toBe('PONG')
      } finally {
        await sentinel.close()
      }
    },
  )
})

/** memcached's `stats settings`, as a map. */
async function memcachedSettings(target: { host: string; port: number }): Promise<Map<string, string>> {
  const socket = new Socket()
  socket.connect(target.port, target.host)
  await once(socket, 'connect')
  socket.write('stats settings\r\n')
  let text = ''
  for await (const chunk of socket) {
    text += chunk.toString('utf8')
    if (text.endsWith('END\r\n')) break
  }
  socket.destroy()
  return new Map(
    text
      .split('\r\n')
      .filter((line) => line.startsWith('STAT '))
      .map((line) => line.split(' ').slice(1, 3) as [string, string]),
  )
}

describe.skipIf(!hasRedis)('cleanup when the process ends', () => {
  const redisModule = fileURLToPath(new URL('../dist/harness/redis.js', import.meta.url))

  // A child process starts a private redis, prints its port, then ends the way `how` says.
  async function portLeftBehind(how: 'exit' | 'SIGINT' | 'SIGTERM'): Promise<number> {
    const script = `
      const { startRedis } = await import(${JSON.stringify(redisModule)})
      const redis = await startRedis()
      console.log(redis.port)
      if (${JSON.stringify(how)} === 'exit') process.exit(0)
      setInterval(() => {}, 1000)
    `
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    const [line] = (await once(child.stdout!, 'data')) as [Buffer]
    const port = Number(line.toString().trim())
    if (how !== 'exit') child.kill(how)
    const [code, signal] = (await once(child, 'exit')) as [number | null, string | null]
    // A signal still ends the process by that signal after the cleanup.
    if (how === 'exit') expect(code).toBe(0)
    else expect(signal).toBe(how)
    return port
  }

  for (const how of ['exit', 'SIGINT', 'SIGTERM'] as const) {
    it(`kills its servers on ${how}`, async () => {
      const port = await portLeftBehind(how)
      expect(port).toBeGreaterThan(0)
      await expect(ping({ host: '127.0.0.1', port })).rejects.toThrow(/ECONNREFUSED/)
    })
  }
})

describe('run summary', () => {
  type FakeTest = { result: () => { state: string } }
  const module = (states: string[], errors: unknown[] = [], state = 'passed') =>
    ({
      children: {
        *allTests(): Generator<FakeTest> {
          for (const s of states) yield { result: () => ({ state: s }) }
        },
      },
      errors: () => errors,
      state: () => state,
    }) as unknown as TestModule

  it('counts individual tests', () => {
    const counts = countRun(
      [module(['passed', 'passed', 'skipped']), module(['failed'])],
      [],
      'failed',
      false,
    )
    expect(counts).toEqual({ passed: 2, failed: 1, skipped: 1 })
    expect(countLine(counts)).toBe('2 passed, 1 failed, 1 skipped')
    expect(countLine({ passed: 3, failed: 0, skipped: 0 })).toBe('3 passed, 0 failed')
  })

  it('never says 0 failed for a broken run', () => {
    // A file that failed to load has no tests, only an error.
    expect(countRun([module([], [new Error('syntax')], 'failed')], [], 'failed', false).failed).toBe(1)
    expect(countRun([module(['passed'])], [{ message: 'unhandled' }], 'failed', false).failed).toBe(1)
    expect(countRun([], [], 'failed', true).failed).toBe(1)
    expect(countRun([module(['pending'])], [], 'interrupted', false).failed).toBe(1)
    expect(countRun([module(['passed'])], [], 'failed', false).failed).toBe(1)
  })
})
