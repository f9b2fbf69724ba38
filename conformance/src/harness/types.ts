/** The backends the harness can provide a server for. */
export type BackendName =
  | 'redis'
  | 'redis-cluster'
  | 'redis-sentinel'
  | 'memcached'
  | 'mysql'
  | 'postgres'
  | 'mongodb'
  | 'sqlite'

/** Every backend name, in the order the run summary lists them. */
export const BACKEND_NAMES: readonly BackendName[] = [
  'redis',
  'redis-cluster',
  'redis-sentinel',
  'memcached',
  'mysql',
  'postgres',
  'mongodb',
  'sqlite',
]

/** A host and port, as a client connects to it. */
export interface HostPort {
  host: string
  port: number
}

/** Where a server found by the harness came from. */
export type ServerSource = 'env' | 'binary' | 'docker'

/** The server the run uses for one backend. Plain data: it travels from globalSetup to the test workers. */
export interface ServerFound {
  backend: BackendName
  /** An env var named it, the harness started the binary from PATH, or a Docker container. */
  source: ServerSource
  /** One line for humans, e.g. "redis-server 7.0.15, private instance on 127.0.0.1:40123 (from PATH)". */
  description: string
  /** The first (or only) node. */
  host: string
  port: number
  /**
   * What a client connects to: `redis://HOST:PORT`, `HOST:PORT` for memcached,
   * `mysql://root@HOST:PORT/test`, `postgres://postgres@HOST:PORT/test`, `mongodb://HOST:PORT`,
   * a file path for sqlite. For a cluster, the first master.
   */
  url: string
  /** Every node: all memcached servers, the cluster's masters, or the sentinels. */
  nodes: HostPort[]
  /** Only for redis-sentinel: the master name the sentinels monitor. */
  sentinelMasterName?: string
}

/** What the harness decided for one backend. */
export type BackendStatus =
  | { backend: BackendName; status: 'found'; server: ServerFound }
  | { backend: BackendName; status: 'skipped'; reason: string }

/** What globalSetup hands to the test workers (through vitest's provide/inject) and to the run summary. */
export interface HarnessReport {
  /** One entry per backend, in BACKEND_NAMES order. */
  backends: BackendStatus[]
  /** Backends SESSION_STORE_REQUIRE named. */
  required: BackendName[]
}

/**
 * A server a test file starts and owns, so it may stop or pause it (fault tests) or run several
 * (multi-server tests). Always on 127.0.0.1, in a temp dir of its own.
 */
export interface PrivateServer {
  host: string
  port: number
  /** Same forms as {@link ServerFound.url}. */
  url: string
  /** Every node a client needs (memcached: the one server; cluster: the masters; sentinel: the sentinels). */
  nodes: HostPort[]
  /** Only for a sentinel setup: the master name the sentinel monitors. */
  sentinelMasterName?: string
  /** Kills the server (SIGKILL, like a crash) and waits for it to exit; keeps its data dir. */
  stop(): Promise<void>
  /** Starts it again on the same port with the same data dir, and waits until it serves. */
  start(): Promise<void>
  /** Freezes the server (SIGSTOP): connections stay open but nothing answers. */
  pause(): Promise<void>
  /** Unfreezes it (SIGCONT). */
  resume(): Promise<void>
  /** Stops the server and deletes its temp dir. Safe to call twice. */
  close(): Promise<void>
}

/** The key under which globalSetup provides the {@link HarnessReport} to the test workers. */
export const PROVIDE_KEY = 'sessionStoreHarness'

declare module 'vitest' {
  export interface ProvidedContext {
    sessionStoreHarness: HarnessReport
  }
}
