import { type DockerBackend, dockerAvailable, startDockerServer } from './docker.js'
import { mysqlGreetingVersion, startMariadb } from './mariadb.js'
import { memcachedVersion, startMemcached } from './memcached.js'
import { type FerretdbServer, findFerretdb, mongodVersion, startFerretdb, startMongod } from './mongodb.js'
import { postgresBinDir, postgresVersion, startPostgres } from './postgres.js'
import { findBinary, tcpReachable } from './process.js'
import { redisCommand, redisVersion, startRedis, startRedisCluster, startRedisSentinel } from './redis.js'
import { sqliteFile, sqliteVersion } from './sqlite.js'
import {
  BACKEND_NAMES,
  type BackendName,
  type BackendStatus,
  type HarnessReport,
  type HostPort,
  type PrivateServer,
  type ServerFound,
} from './types.js'

/** What {@link resolveServers} may use; every part can be replaced, which the harness's own tests do. */
export interface ResolveOptions {
  /**
   * The environment to read: the server env vars, PATH (where the binaries are looked up),
   * SESSION_STORE_REQUIRE and SESSION_STORE_BACKENDS.
   * @default process.env
   */
  env?: NodeJS.ProcessEnv
  /**
   * Whether Docker can be used; asked at most once, and only when some backend needs it.
   * @default a `docker info` with a short timeout
   */
  dockerAvailable?: () => Promise<boolean>
  /**
   * The test files of the run (absolute paths), to start only the servers they can use; see
   * {@link backendsForFiles}. SESSION_STORE_BACKENDS, when set, wins.
   * @default every backend
   */
  testFiles?: readonly string[]
}

/** The servers a run uses, and how to release the ones the harness started. */
export interface ResolvedServers {
  report: HarnessReport
  /** Stops every server and container the harness started, and deletes their temp dirs. */
  close(): Promise<void>
}

/** Thrown when SESSION_STORE_REQUIRE names a backend the run would skip. */
export class RequiredBackendMissing extends Error {
  override name = 'RequiredBackendMissing'
}

/**
 * Parses a comma-separated list of backend names (SESSION_STORE_REQUIRE, SESSION_STORE_BACKENDS).
 * An unknown name throws: a typo must not turn a requirement into nothing.
 */
export function parseBackendList(value: string | undefined, variable: string): BackendName[] {
  const names = (value ?? '')
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean)
  for (const name of names) {
    if (!(BACKEND_NAMES as readonly string[]).includes(name)) {
      throw new Error(`${variable} names an unknown backend "${name}"; known: ${BACKEND_NAMES.join(', ')}`)
    }
  }
  return [...new Set(names)] as BackendName[]
}

/** Parses `host:port,host:port`. */
export function parseHostList(value: string, variable: string): HostPort[] {
  const nodes = value
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry) => {
      const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(entry)
      if (!match) throw new Error(`${variable}: "${entry}" is not host:port`)
      return { host: match[1]!, port: Number(match[2]) }
    })
  if (nodes.length === 0) throw new Error(`${variable} is set but lists no host:port`)
  return nodes
}

/**
 * Host and port of a URL's first host, with the scheme's default port. Parsed by hand because
 * a multi-host URL (mongodb://a:1,b:2/) is not a WHATWG URL; the rest is the client's business.
 */
function urlHostPort(value: string, variable: string, defaultPort: number): HostPort {
  const hosts = /^[a-z][a-z0-9+.-]*:\/\/(?:[^@/?#]*@)?([^/?#]+)/i.exec(value)?.[1]
  const first = /^(?:\[([^\]]+)\]|([^:,]+))(?::(\d+))?(?:,|$)/.exec(hosts ?? '')
  if (!first) throw new Error(`${variable} is not a URL with a host: ${redactUrl(value)}`)
  return { host: first[1] ?? first[2]!, port: Number(first[3]) || defaultPort }
}

/** The URL with any password replaced, for the summary and error messages. */
function redactUrl(value: string): string {
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:@/?#]*:)[^@/?#]*@/i, '$1***@')
}

const list = (nodes: HostPort[]): string => nodes.map((n) => `${n.host}:${n.port}`).join(',')

/** A server found (or started) for one backend; `close` releases what the harness started. */
interface Found {
  server: ServerFound
  close?: () => Promise<void>
}

/** How to find a server for a backend from an env var, a binary on PATH, or Docker. */
interface BackendRecipe {
  /** The env var(s) the user sets, named in skip reasons. */
  envNames: string
  fromEnv(env: NodeJS.ProcessEnv): Promise<Found | undefined>
  /** The binaries needed on PATH, named in skip reasons. */
  binaries: string
  hasBinaries(env: NodeJS.ProcessEnv): boolean
  fromBinary(env: NodeJS.ProcessEnv): Promise<Found>
  /** The image key, when there is a Docker recipe. */
  docker?: DockerBackend
}

/** An env var pointed at a server that does not answer: an error, never a silent fallback. */
async function mustAnswer(check: Promise<unknown>, variable: string, value: string): Promise<void> {
  try {
    await check
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error)
    throw new Error(`${variable}=${value} is set, but the server there does not answer (${reason})`)
  }
}

// The version is a nicety for the summary: a server that needs a password may refuse INFO.
const versionOrNothing = (version: Promise<string>): Promise<string> =>
  version.then(
    (v) => ` ${v}`,
    () => '',
  )

function fromPrivate(
  backend: BackendName,
  start: () => Promise<PrivateServer>,
  describe: (server: PrivateServer) => Promise<string>,
  origin = 'from PATH',
): () => Promise<Found> {
  return async () => {
    const server = await start()
    try {
      const what = await describe(server)
      return {
        server: {
          backend,
          source: 'binary',
          description: `${what} (${origin})`,
          host: server.host,
          port: server.port,
          url: server.url,
          nodes: server.nodes,
          ...(server.sentinelMasterName ? { sentinelMasterName: server.sentinelMasterName } : {}),
        },
        close: () => server.close(),
      }
    } catch (error) {
      await server.close()
      throw error
    }
  }
}

const RECIPES: Record<BackendName, BackendRecipe> = {
  redis: {
    envNames: 'REDIS_URL',
    async fromEnv(env) {
      const value = env.REDIS_URL
      if (!value) return undefined
      const target = urlHostPort(value, 'REDIS_URL', 6379)
      await mustAnswer(tcpReachable(target, 3_000), 'REDIS_URL', redactUrl(value))
      const version = await versionOrNothing(redisVersion(target))
      return {
        server: {
          backend: 'redis',
          source: 'env',
          description: `redis${version} at ${redactUrl(value)} (from REDIS_URL)`,
          ...target,
          url: value,
          nodes: [target],
        },
      }
    },
    binaries: 'redis-server',
    hasBinaries: ({ PATH: path }) => findBinary('redis-server', path) !== undefined,
    fromBinary: fromPrivate(
      'redis',
      startRedis,
      async (s) => `redis-server ${await redisVersion(s)}, private instance on ${s.host}:${s.port}`,
    ),
    docker: 'redis',
  },
  'redis-cluster': {
    envNames: 'REDIS_CLUSTER_NODES',
    async fromEnv(env) {
      const value = env.REDIS_CLUSTER_NODES
      if (!value) return undefined
      const nodes = parseHostList(value, 'REDIS_CLUSTER_NODES')
      await mustAnswer(Promise.all(nodes.map((n) => tcpReachable(n, 3_000))), 'REDIS_CLUSTER_NODES', value)
      const first = nodes[0]!
      const version = await versionOrNothing(redisVersion(first))
      return {
        server: {
          backend: 'redis-cluster',
          source: 'env',
          description: `redis${version} cluster at ${list(nodes)} (from REDIS_CLUSTER_NODES)`,
          ...first,
          url: `redis://${first.host}:${first.port}`,
          nodes,
        },
      }
    },
    binaries: 'redis-server and redis-cli',
    hasBinaries: ({ PATH: path }) =>
      findBinary('redis-server', path) !== undefined && findBinary('redis-cli', path) !== undefined,
    fromBinary: fromPrivate(
      'redis-cluster',
      startRedisCluster,
      async (s) => `redis-server ${await redisVersion(s)}, private cluster of 3 masters on ${list(s.nodes)}`,
    ),
  },
  'redis-sentinel': {
    envNames: 'REDIS_SENTINELS (+ REDIS_SENTINEL_MASTER)',
    async fromEnv(env) {
      const value = env.REDIS_SENTINELS
      if (!value) return undefined
      const nodes = parseHostList(value, 'REDIS_SENTINELS')
      // "mymaster" is the name Redis' own sample sentinel.conf uses.
      const masterName = env.REDIS_SENTINEL_MASTER || 'mymaster'
      const first = nodes[0]!
      await mustAnswer(
        redisCommand(first, ['SENTINEL', 'get-master-addr-by-name', masterName], 3_000).then((address) => {
          if (!Array.isArray(address))
            throw new Error(`the sentinel does not know a master named "${masterName}"`)
        }),
        'REDIS_SENTINELS',
        value,
      )
      return {
        server: {
          backend: 'redis-sentinel',
          source: 'env',
          description: `redis sentinels ${list(nodes)}, master "${masterName}" (from REDIS_SENTINELS)`,
          ...first,
          url: `redis://${first.host}:${first.port}`,
          nodes,
          sentinelMasterName: masterName,
        },
      }
    },
    binaries: 'redis-server and redis-sentinel',
    hasBinaries: ({ PATH: path }) =>
      findBinary('redis-server', path) !== undefined && findBinary('redis-sentinel', path) !== undefined,
    fromBinary: fromPrivate(
      'redis-sentinel',
      startRedisSentinel,
      async (s) =>
        `redis-sentinel ${await redisVersion(s)}, private sentinel on ${s.host}:${s.port} watching a private master "${s.sentinelMasterName}"`,
    ),
  },
  memcached: {
    envNames: 'MEMCACHED_SERVERS',
    async fromEnv(env) {
      const value = env.MEMCACHED_SERVERS
      if (!value) return undefined
      const nodes = parseHostList(value, 'MEMCACHED_SERVERS')
      await mustAnswer(Promise.all(nodes.map((n) => memcachedVersion(n))), 'MEMCACHED_SERVERS', value)
      const first = nodes[0]!
      const version = await versionOrNothing(memcachedVersion(first))
      return {
        server: {
          backend: 'memcached',
          source: 'env',
          description: `memcached${version} at ${list(nodes)} (from MEMCACHED_SERVERS)`,
          ...first,
          url: `${first.host}:${first.port}`,
          nodes,
        },
      }
    },
    binaries: 'memcached',
    hasBinaries: ({ PATH: path }) => findBinary('memcached', path) !== undefined,
    fromBinary: fromPrivate(
      'memcached',
      startMemcached,
      async (s) => `memcached ${await memcachedVersion(s)}, private instance on ${s.host}:${s.port}`,
    ),
    docker: 'memcached',
  },
  mysql: {
    envNames: 'MYSQL_URL',
    async fromEnv(env) {
      const value = env.MYSQL_URL
      if (!value) return undefined
      const target = urlHostPort(value, 'MYSQL_URL', 3306)
      await mustAnswer(mysqlGreetingVersion(target), 'MYSQL_URL', redactUrl(value))
      const version = await versionOrNothing(mysqlGreetingVersion(target))
      return {
        server: {
          backend: 'mysql',
          source: 'env',
          description: `mysql${version} at ${redactUrl(value)} (from MYSQL_URL)`,
          ...target,
          url: value,
          nodes: [target],
        },
      }
    },
    binaries: 'mariadbd and mariadb-install-db',
    hasBinaries: ({ PATH: path }) =>
      (findBinary('mariadbd', path) ?? findBinary('mysqld', path)) !== undefined &&
      (findBinary('mariadb-install-db', path) ?? findBinary('mysql_install_db', path)) !== undefined,
    fromBinary: fromPrivate(
      'mysql',
      startMariadb,
      async (s) => `mariadbd ${await mysqlGreetingVersion(s)}, private instance on ${s.host}:${s.port}`,
    ),
    docker: 'mysql',
  },
  postgres: {
    envNames: 'POSTGRES_URL',
    async fromEnv(env) {
      const value = env.POSTGRES_URL
      if (!value) return undefined
      const target = urlHostPort(value, 'POSTGRES_URL', 5432)
      await mustAnswer(tcpReachable(target, 3_000), 'POSTGRES_URL', redactUrl(value))
      return {
        server: {
          backend: 'postgres',
          source: 'env',
          description: `postgres at ${redactUrl(value)} (from POSTGRES_URL)`,
          ...target,
          url: value,
          nodes: [target],
        },
      }
    },
    binaries: 'initdb and postgres (on PATH or in /usr/lib/postgresql/*/bin)',
    hasBinaries: ({ PATH: path }) => postgresBinDir(path) !== undefined,
    fromBinary: fromPrivate(
      'postgres',
      startPostgres,
      async (s) =>
        `PostgreSQL ${await postgresVersion(postgresBinDir()!)}, private instance on ${s.host}:${s.port}`,
    ),
    docker: 'postgres',
  },
  mongodb: {
    envNames: 'MONGO_URL',
    async fromEnv(env) {
      const value = env.MONGO_URL
      if (!value) return undefined
      // A mongodb+srv URL names a DNS record, not a host to probe; the driver will tell.
      const target = urlHostPort(value, 'MONGO_URL', 27017)
      if (!value.startsWith('mongodb+srv:'))
        await mustAnswer(tcpReachable(target, 3_000), 'MONGO_URL', redactUrl(value))
      return {
        server: {
          backend: 'mongodb',
          source: 'env',
          description: `mongodb at ${redactUrl(value)} (from MONGO_URL)`,
          ...target,
          url: value,
          nodes: [target],
        },
      }
    },
    // MongoDB itself first; FerretDB (MongoDB's wire protocol on SQLite) where mongod is missing,
    // which is the case wherever MongoDB's own packages cannot be had (Debian ships none).
    binaries: 'mongod or ferretdb',
    hasBinaries: (env) => findBinary('mongod', env.PATH) !== undefined || findFerretdb(env) !== undefined,
    fromBinary: (env) =>
      findBinary('mongod', env.PATH) !== undefined
        ? fromPrivate(
            'mongodb',
            startMongod,
            async (s) =>
              `mongod ${await mongodVersion(findBinary('mongod', env.PATH)!)}, private instance on ${s.host}:${s.port}`,
          )()
        : fromPrivate(
            'mongodb',
            () => startFerretdb(env),
            async (s) =>
              `FerretDB ${(s as FerretdbServer).version} (MongoDB wire protocol) on ${s.host}:${s.port}, private instance on SQLite`,
            findBinary('ferretdb', env.PATH) !== undefined ? 'from PATH' : `from ${findFerretdb(env)}`,
          )(),
    docker: 'mongodb',
  },
  // Embedded in Node: no server, only a file of the run's own.
  sqlite: {
    envNames: 'node:sqlite',
    fromEnv: async () => undefined,
    binaries: 'Node 22.13 or later',
    hasBinaries: () => sqliteVersion() !== undefined,
    async fromBinary() {
      const file = await sqliteFile()
      return {
        server: {
          backend: 'sqlite',
          source: 'binary',
          description: `node:sqlite (SQLite ${sqliteVersion()}) on a temp file`,
          host: '',
          port: 0,
          url: file.path,
          nodes: [],
        },
        close: file.close,
      }
    },
  },
}

function dockerFound(backend: BackendName, docker: DockerBackend): () => Promise<Found> {
  return async () => {
    const container = await startDockerServer(docker)
    const hostPort = `${container.host}:${container.port}`
    const url = {
      redis: `redis://${hostPort}`,
      memcached: hostPort,
      mysql: `mysql://root@${hostPort}/test`,
      postgres: `postgres://postgres@${hostPort}/test`,
      mongodb: `mongodb://${hostPort}`,
    }[docker]
    return {
      server: {
        backend,
        source: 'docker',
        description: `${container.image} container on ${hostPort} (Docker)`,
        host: container.host,
        port: container.port,
        url,
        nodes: [{ host: container.host, port: container.port }],
      },
      close: () => container.stop(),
    }
  }
}

// The servers the tests of each package can use. A file anywhere else (conformance/, examples/,
// bench/, a package not listed) may use any of them.
const PACKAGE_BACKENDS: Record<string, readonly BackendName[]> = {
  core: [],
  express: [],
  koa: [],
  redis: ['redis', 'redis-cluster', 'redis-sentinel'],
  memcached: ['memcached'],
  mysql: ['mysql'],
  postgres: ['postgres'],
  mongodb: ['mongodb'],
  sqlite: ['sqlite'],
}

/**
 * The backends a set of test files can use, judged by where they live: a run of the redis
 * package's tests needs no MariaDB. Starting only those keeps a one-file run quick.
 */
export function backendsForFiles(files: readonly string[]): BackendName[] {
  const needed = new Set<BackendName>()
  for (const file of files) {
    const packageName = /[\\/]packages[\\/]([^\\/]+)[\\/]/.exec(file)?.[1]
    const backends = packageName === undefined ? undefined : PACKAGE_BACKENDS[packageName]
    for (const backend of backends ?? BACKEND_NAMES) needed.add(backend)
  }
  return BACKEND_NAMES.filter((backend) => needed.has(backend))
}

/**
 * Finds a server for every backend: an env var, else the binary on PATH (a private instance),
 * else Docker, else skipped with the reason. All backends are resolved in parallel.
 * Rejects when SESSION_STORE_REQUIRE names a backend that would be skipped, or when a server
 * fails to start, after stopping whatever it had already started.
 */
export async function resolveServers(options: ResolveOptions = {}): Promise<ResolvedServers> {
  const env = options.env ?? process.env
  const required = parseBackendList(env.SESSION_STORE_REQUIRE, 'SESSION_STORE_REQUIRE')
  let wanted: readonly BackendName[] = BACKEND_NAMES
  let notWanted = ''
  if (env.SESSION_STORE_BACKENDS) {
    wanted = parseBackendList(env.SESSION_STORE_BACKENDS, 'SESSION_STORE_BACKENDS')
    notWanted = `not selected (SESSION_STORE_BACKENDS=${env.SESSION_STORE_BACKENDS})`
  } else if (options.testFiles) {
    wanted = backendsForFiles(options.testFiles)
    notWanted = 'not needed: no test file of this run uses it'
  }
  let dockerCheck: Promise<boolean> | undefined
  const docker = (): Promise<boolean> => {
    dockerCheck ??= (options.dockerAvailable ?? (() => dockerAvailable(env)))()
    return dockerCheck
  }

  const resolveOne = async (backend: BackendName): Promise<Found | { skipped: string }> => {
    // A required backend is always looked for, so that its absence fails the run.
    if (!wanted.includes(backend) && !required.includes(backend)) return { skipped: notWanted }
    const recipe = RECIPES[backend]
    const fromEnv = await recipe.fromEnv(env)
    if (fromEnv) return fromEnv
    if (recipe.hasBinaries(env)) return recipe.fromBinary(env)
    const reasons = [`no ${recipe.envNames}`, `no ${recipe.binaries} on PATH`]
    if (recipe.docker) {
      if (await docker()) return dockerFound(backend, recipe.docker)()
      reasons.push('Docker not running')
    } else {
      reasons.push('no Docker recipe for it')
    }
    return { skipped: reasons.join(', ') }
  }

  const outcomes = await Promise.allSettled(BACKEND_NAMES.map(resolveOne))
  const closers = outcomes.flatMap((o) =>
    o.status === 'fulfilled' && 'close' in o.value && o.value.close ? [o.value.close] : [],
  )
  const close = async (): Promise<void> => {
    await Promise.allSettled(closers.map((c) => c()))
  }

  const failures = outcomes.flatMap((o, i) =>
    o.status === 'rejected'
      ? [`${BACKEND_NAMES[i]}: ${o.reason instanceof Error ? o.reason.message : String(o.reason)}`]
      : [],
  )
  if (failures.length > 0) {
    await close()
    throw new Error(`the test harness could not provide every server:\n${failures.join('\n')}`)
  }

  const backends: BackendStatus[] = outcomes.map((o, i) => {
    const backend = BACKEND_NAMES[i]!
    const value = (o as PromiseFulfilledResult<Found | { skipped: string }>).value
    return 'skipped' in value
      ? { backend, status: 'skipped', reason: value.skipped }
      : { backend, status: 'found', server: value.server }
  })
  const missing = backends.filter((b) => b.status === 'skipped' && required.includes(b.backend))
  if (missing.length > 0) {
    await close()
    throw new RequiredBackendMissing(
      `SESSION_STORE_REQUIRE=${env.SESSION_STORE_REQUIRE} but the run has no server for:\n${missing
        .map((b) => `${b.backend}: ${b.status === 'skipped' ? b.reason : ''}`)
        .join('\n')}`,
    )
  }
  return { report: { backends, required }, close }
}
