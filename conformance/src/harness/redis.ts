import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  freePort,
  LOOPBACK,
  makeTempDir,
  removeTempDir,
  requireBinary,
  run,
  ServerProcess,
  tcpExchange,
} from './process.js'
import type { HostPort, PrivateServer } from './types.js'

/** The master name a private sentinel monitors. */
export const SENTINEL_MASTER_NAME = 'ssmaster'

type Reply = string | number | null | Reply[] | Error

/** Parses one RESP2 reply from the start of `buffer`; undefined while it is incomplete. */
function parseReply(buffer: Buffer, start = 0): { value: Reply; end: number } | undefined {
  const lineEnd = buffer.indexOf('\r\n', start)
  if (lineEnd < 0) return undefined
  const type = String.fromCharCode(buffer[start] ?? 0)
  const line = buffer.toString('utf8', start + 1, lineEnd)
  const next = lineEnd + 2
  switch (type) {
    case '+':
      return { value: line, end: next }
    case '-':
      return { value: new Error(line), end: next }
    case ':':
      return { value: Number(line), end: next }
    case '$': {
      const length = Number(line)
      if (length < 0) return { value: null, end: next }
      if (buffer.length < next + length + 2) return undefined
      return { value: buffer.toString('utf8', next, next + length), end: next + length + 2 }
    }
    case '*': {
      const count = Number(line)
      if (count < 0) return { value: null, end: next }
      const items: Reply[] = []
      let position = next
      for (let i = 0; i < count; i++) {
        const item = parseReply(buffer, position)
        if (!item) return undefined
        items.push(item.value)
        position = item.end
      }
      return { value: items, end: position }
    }
    default:
      throw new Error(`unexpected reply from redis: ${buffer.toString('utf8', start, lineEnd)}`)
  }
}

/**
 * Sends one command on a fresh connection and resolves its reply. The harness needs a handful
 * of commands at startup; a client library would be one more dependency for that.
 */
export async function redisCommand(target: HostPort, args: string[], timeoutMs = 1_000): Promise<Reply> {
  const request = `*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join('')}`
  const bytes = await tcpExchange(
    target,
    request,
    (received) => parseReply(received) !== undefined,
    timeoutMs,
  )
  const reply = parseReply(bytes)!.value
  if (reply instanceof Error) throw reply
  return reply
}

/** Reads `redis_version` from INFO server. */
export async function redisVersion(target: HostPort): Promise<string> {
  const info = await redisCommand(target, ['INFO', 'server'])
  return /redis_version:(\S+)/.exec(String(info))?.[1] ?? 'unknown version'
}

/** `cluster info` as a map. */
async function clusterInfo(target: HostPort): Promise<Map<string, string>> {
  const text = String(await redisCommand(target, ['CLUSTER', 'INFO']))
  return new Map(
    text
      .split('\r\n')
      .filter(Boolean)
      .map((line) => line.split(':', 2) as [string, string]),
  )
}

// Shared by every redis-server the harness starts: loopback only, nothing written to disk.
function redisServerArgs(port: number, dir: string): string[] {
  return ['--port', String(port), '--bind', LOOPBACK, '--dir', dir, '--save', '', '--appendonly', 'no']
}

/** One redis-server (or redis-sentinel) process in its own dir. */
async function spawnRedisProcess(
  kind: 'redis-server' | 'redis-sentinel',
  dir: string,
  port: number,
  args: string[],
  /** Extra readiness beyond "this process answers" (a sentinel must also know its master). */
  ready: (target: HostPort) => Promise<unknown> = async () => {},
): Promise<ServerProcess> {
  const binary = requireBinary(kind, `a private ${kind}`)
  const process = new ServerProcess(
    `${kind} on ${LOOPBACK}:${port}`,
    binary,
    args,
    join(dir, 'server.log'),
    dir,
  )
  process.spawn()
  try {
    const target = { host: LOOPBACK, port }
    await process.waitUntilReady(async () => {
      await answersAs(target, process)
      await ready(target)
    })
  } catch (error) {
    await process.kill()
    throw error
  }
  return process
}

/**
 * Resolves once the server at `target` answers and is `owner` itself. Ports are picked free but
 * not reserved: when another process takes ours first, our server fails to bind and exits, and
 * for a moment the other one answers in its place. INFO's process_id tells them apart.
 */
async function answersAs(target: HostPort, owner: ServerProcess): Promise<void> {
  const info = String(await redisCommand(target, ['INFO', 'server']))
  const pid = Number(/process_id:(\d+)/.exec(info)?.[1])
  if (pid !== owner.pid) {
    throw new Error(
      `${target.host}:${target.port} is served by another process (pid ${pid}), not ${owner.label}`,
    )
  }
}

/** A standalone server plus the ways to control it. */
interface RedisGroup {
  processes: ServerProcess[]
  dirs: string[]
  /** Waits until the whole group serves again after a restart. */
  ready(): Promise<void>
}

function privateServer(
  group: RedisGroup,
  fields: Pick<PrivateServer, 'host' | 'port' | 'url' | 'nodes' | 'sentinelMasterName'>,
  /** The processes stop/start/pause/resume act on (default: all of them). */
  faultTargets: ServerProcess[] = group.processes,
): PrivateServer {
  let closed = false
  return {
    ...fields,
    async stop() {
      await Promise.all(faultTargets.map((p) => p.kill()))
    },
    async start() {
      if (closed) throw new Error('this private server was closed')
      for (const p of faultTargets) if (p.hasExited) p.spawn()
      await group.ready()
    },
    async pause() {
      await Promise.all(faultTargets.map((p) => p.freeze()))
    },
    async resume() {
      for (const p of faultTargets) p.signal('SIGCONT')
    },
    async close() {
      if (closed) return
      closed = true
      await Promise.all(group.processes.map((p) => p.kill()))
      await Promise.all(group.dirs.map(removeTempDir))
    },
  }
}

/** Retries a start whose port another process took between {@link freePort} and the bind. */
async function withPortRetry<T>(start: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start()
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error)
      if (attempt >= 3 || !/address already in use|EADDRINUSE/i.test(message)) throw error
    }
  }
}

/**
 * Starts a private standalone redis-server (no persistence) on a free loopback port.
 * Rejects when redis-server is not on PATH.
 */
export function startRedis(): Promise<PrivateServer> {
  requireBinary('redis-server', 'a private Redis')
  return withPortRetry(async () => {
    const dir = await makeTempDir('redis')
    const port = await freePort()
    try {
      const process = await spawnRedisProcess('redis-server', dir, port, redisServerArgs(port, dir))
      const group: RedisGroup = {
        processes: [process],
        dirs: [dir],
        ready: () => process.waitUntilReady(() => answersAs({ host: LOOPBACK, port }, process)),
      }
      return privateServer(group, {
        host: LOOPBACK,
        port,
        url: `redis://${LOOPBACK}:${port}`,
        nodes: [{ host: LOOPBACK, port }],
      })
    } catch (error) {
      await removeTempDir(dir)
      throw error
    }
  })
}

/**
 * Starts a private Redis Cluster of three masters (no replicas) on free loopback ports, joined
 * with `redis-cli --cluster create`, and waits until every node reports cluster_state:ok.
 * stop/start/pause/resume act on all three nodes.
 */
export function startRedisCluster(): Promise<PrivateServer> {
  requireBinary('redis-server', 'a private Redis Cluster')
  const cli = requireBinary('redis-cli', 'a private Redis Cluster (it joins the nodes)')
  return withPortRetry(async () => {
    const dirs: string[] = []
    const processes: ServerProcess[] = []
    try {
      // Each node also binds port + 10000 for the cluster bus.
      const ports: number[] = []
      for (let i = 0; i < 3; i++) ports.push(await freePort((p) => [p + 10_000]))
      // allSettled, not all: a node that fails must not leave its siblings starting unowned.
      const started = await Promise.allSettled(
        ports.map(async (port) => {
          const dir = await makeTempDir('redis-cluster')
          dirs.push(dir)
          const args = [
            ...redisServerArgs(port, dir),
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            join(dir, 'nodes.conf'),
            // Short enough that a test which stops a node sees the cluster notice it.
            '--cluster-node-timeout',
            '2000',
          ]
          return spawnRedisProcess('redis-server', dir, port, args)
        }),
      )
      for (const outcome of started) if (outcome.status === 'fulfilled') processes.push(outcome.value)
      for (const outcome of started) if (outcome.status === 'rejected') throw outcome.reason
      const nodes = ports.map((port) => ({ host: LOOPBACK, port }))
      await run(
        cli,
        [
          '--cluster',
          'create',
          ...nodes.map((n) => `${n.host}:${n.port}`),
          '--cluster-replicas',
          '0',
          '--cluster-yes',
        ],
        20_000,
      )
      const clusterOk = async (): Promise<void> => {
        for (const node of nodes) {
          const state = (await clusterInfo(node)).get('cluster_state')
          if (state !== 'ok') throw new Error(`node ${node.port} says cluster_state:${state}`)
        }
      }
      const ready = async (): Promise<void> => {
        // Each node first (this also notices a node that crashed), then the cluster as a whole.
        await Promise.all(processes.map((p, i) => p.waitUntilReady(() => answersAs(nodes[i]!, p))))
        await processes[0]!.waitUntilReady(clusterOk)
      }
      await ready()
      return privateServer(
        { processes, dirs, ready },
        { host: LOOPBACK, port: ports[0]!, url: `redis://${LOOPBACK}:${ports[0]}`, nodes },
      )
    } catch (error) {
      await Promise.all(processes.map((p) => p.kill()))
      await Promise.all(dirs.map(removeTempDir))
      throw error
    }
  })
}

/**
 * Starts a private redis-server master plus one redis-sentinel that monitors it under
 * {@link SENTINEL_MASTER_NAME} with quorum 1, and waits until the sentinel reports the master.
 * `nodes` lists the sentinel; stop/start/pause/resume act on the master only, so a client
 * can still ask the sentinel while the master is down.
 */
export function startRedisSentinel(): Promise<PrivateServer> {
  requireBinary('redis-server', 'a private Redis master for Sentinel')
  requireBinary('redis-sentinel', 'a private Redis Sentinel')
  return withPortRetry(async () => {
    const dirs: string[] = []
    const processes: ServerProcess[] = []
    try {
      const masterDir = await makeTempDir('redis-master')
      dirs.push(masterDir)
      const masterPort = await freePort()
      const master = await spawnRedisProcess(
        'redis-server',
        masterDir,
        masterPort,
        redisServerArgs(masterPort, masterDir),
      )
      processes.push(master)

      const sentinelDir = await makeTempDir('redis-sentinel')
      dirs.push(sentinelDir)
      const sentinelPort = await freePort()
      // Sentinel rewrites its config file at runtime, so it must be a writable file of its own.
      const configFile = join(sentinelDir, 'sentinel.conf')
      await writeFile(
        configFile,
        [
          `port ${sentinelPort}`,
          `bind ${LOOPBACK}`,
          `dir ${sentinelDir}`,
          `sentinel monitor ${SENTINEL_MASTER_NAME} ${LOOPBACK} ${masterPort} 1`,
          `sentinel down-after-milliseconds ${SENTINEL_MASTER_NAME} 5000`,
          `sentinel failover-timeout ${SENTINEL_MASTER_NAME} 10000`,
          '',
        ].join('\n'),
      )
      const sentinelTarget = { host: LOOPBACK, port: sentinelPort }
      const sentinelKnowsMaster = async (target: HostPort): Promise<void> => {
        const address = await redisCommand(target, [
          'SENTINEL',
          'get-master-addr-by-name',
          SENTINEL_MASTER_NAME,
        ])
        if (!Array.isArray(address) || Number(address[1]) !== masterPort) {
          throw new Error(`sentinel reports master ${JSON.stringify(address)}`)
        }
      }
      const sentinel = await spawnRedisProcess(
        'redis-sentinel',
        sentinelDir,
        sentinelPort,
        [configFile],
        sentinelKnowsMaster,
      )
      processes.push(sentinel)
      const ready = async (): Promise<void> => {
        await master.waitUntilReady(() => answersAs({ host: LOOPBACK, port: masterPort }, master))
        await sentinel.waitUntilReady(async () => {
          await answersAs(sentinelTarget, sentinel)
          await sentinelKnowsMaster(sentinelTarget)
        })
      }
      return privateServer(
        { processes, dirs, ready },
        {
          host: LOOPBACK,
          port: sentinelPort,
          url: `redis://${LOOPBACK}:${sentinelPort}`,
          nodes: [sentinelTarget],
          sentinelMasterName: SENTINEL_MASTER_NAME,
        },
        [master],
      )
    } catch (error) {
      await Promise.all(processes.map((p) => p.kill()))
      await Promise.all(dirs.map(removeTempDir))
      throw error
    }
  })
}
