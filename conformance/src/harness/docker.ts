import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { findBinary } from './process.js'
import type { BackendName, HostPort } from './types.js'

/**
 * The pinned images the harness runs when a backend has neither an env var nor a binary on
 * PATH. docker-compose.yml uses the same images; change both together.
 */
export const DOCKER_IMAGES = {
  redis: 'redis:7.4-alpine',
  memcached: 'memcached:1.6-alpine',
  mongodb: 'mongo:8.0',
  mysql: 'mysql:8.4',
  postgres: 'postgres:17-alpine',
} as const satisfies Partial<Record<BackendName, string>>

/** The backends that have a Docker recipe (a cluster or a sentinel setup has none). */
export type DockerBackend = keyof typeof DOCKER_IMAGES

/** A container the harness started. */
export interface StartedDockerServer extends HostPort {
  image: string
  stop(): Promise<void>
}

/**
 * Whether a Docker daemon answers, decided within a few seconds. `docker info` asks the daemon
 * itself, so a CLI without a daemon (or a stopped Docker Desktop) counts as unavailable.
 * Without the CLI, a DOCKER_HOST or the default socket is taken as a sign of life and
 * testcontainers gets to try.
 */
export function dockerAvailable(env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  const cli = findBinary('docker', env.PATH)
  if (!cli) return Promise.resolve(Boolean(env.DOCKER_HOST) || existsSync('/var/run/docker.sock'))
  return new Promise((resolve) => {
    execFile(cli, ['info', '--format', '{{.ServerVersion}}'], { timeout: 4_000, env }, (error, stdout) => {
      resolve(!error && stdout.trim().length > 0)
    })
  })
}

/**
 * Starts the pinned image for `backend` with testcontainers and resolves once it serves.
 * testcontainers' reaper removes the container even if this process dies.
 */
export async function startDockerServer(backend: DockerBackend): Promise<StartedDockerServer> {
  // Loaded only when Docker is used: it is large and most runs never need it.
  // An optional peer: a store author who runs only the clauses never installs it.
  const { GenericContainer, Wait } = await import('testcontainers').catch((err: unknown) => {
    const code = (err as { code?: unknown } | null)?.code
    if (code !== 'ERR_MODULE_NOT_FOUND') throw err
    throw new Error(
      'testcontainers is not installed (npm install --save-dev testcontainers to start servers in Docker)',
    )
  })
  const image = DOCKER_IMAGES[backend]
  const recipes = {
    redis: () =>
      new GenericContainer(image)
        .withExposedPorts(6379)
        .withCommand(['redis-server', '--save', '', '--appendonly', 'no'])
        .withWaitStrategy(Wait.forLogMessage(/Ready to accept connections/)),
    memcached: () =>
      new GenericContainer(image).withExposedPorts(11211).withWaitStrategy(Wait.forListeningPorts()),
    mongodb: () =>
      new GenericContainer(image)
        .withExposedPorts(27017)
        .withWaitStrategy(Wait.forLogMessage(/Waiting for connections/)),
    mysql: () =>
      new GenericContainer(image)
        .withExposedPorts(3306)
        .withEnvironment({ MYSQL_ALLOW_EMPTY_PASSWORD: 'yes', MYSQL_DATABASE: 'test', MYSQL_ROOT_HOST: '%' })
        // The entrypoint first runs a temporary server without networking to initialise the
        // data dir; only the final server logs "ready for connections" together with port 3306.
        .withWaitStrategy(Wait.forLogMessage(/ready for connections.*port: 3306/))
        .withStartupTimeout(120_000),
    postgres: () =>
      new GenericContainer(image)
        .withExposedPorts(5432)
        .withEnvironment({ POSTGRES_HOST_AUTH_METHOD: 'trust', POSTGRES_DB: 'test' })
        // Like MySQL's, the entrypoint first runs a temporary server; the final one logs this twice.
        .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
        .withStartupTimeout(120_000),
  } satisfies Record<DockerBackend, () => InstanceType<typeof GenericContainer>>
  const containerPort = { redis: 6379, memcached: 11211, mongodb: 27017, mysql: 3306, postgres: 5432 }[
    backend
  ]
  const container = await recipes[backend]().start()
  // testcontainers may report "localhost"; the stores' clients then try ::1 first.
  const host = container.getHost() === 'localhost' ? '127.0.0.1' : container.getHost()
  return {
    image,
    host,
    port: container.getMappedPort(containerPort),
    async stop() {
      await container.stop({ timeout: 2_000 })
    },
  }
}
