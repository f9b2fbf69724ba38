import { join } from 'node:path'
import {
  freePort,
  LOOPBACK,
  makeTempDir,
  removeTempDir,
  requireBinary,
  ServerProcess,
  singleProcessServer,
  tcpExchange,
} from './process.js'
import type { HostPort, PrivateServer } from './types.js'

/** Options for {@link startMemcached}. */
export interface MemcachedOptions {
  /**
   * Memory for items, in megabytes (`-m`).
   * @default 64
   */
  memoryMb?: number
  /**
   * Largest item the server accepts (`-I`), e.g. '1m' or '512k'.
   * @default '1m' (memcached's own default)
   */
  maxItemSize?: string
}

/** Asks `version` and resolves the version string; proves the server answers its protocol. */
export async function memcachedVersion(target: HostPort): Promise<string> {
  const answer = await tcpExchange(target, 'version\r\n', (received) => received.includes('\r\n'))
  const match = /^VERSION (\S+)/.exec(answer.toString('utf8'))
  if (!match) throw new Error(`unexpected answer to version: ${answer.toString('utf8').trim()}`)
  return match[1]!
}

/**
 * Resolves the version once the memcached at `target` answers and is `owner` itself: when
 * another process takes our port first, ours fails to bind and exits, and for a moment the
 * other one answers in its place. `stats` reports the pid.
 */
async function answersAs(target: HostPort, owner: ServerProcess): Promise<string> {
  const answer = await tcpExchange(target, 'stats\r\n', (received) => received.includes('END\r\n'))
  const text = answer.toString('utf8')
  const pid = Number(/STAT pid (\d+)/.exec(text)?.[1])
  if (pid !== owner.pid) {
    throw new Error(
      `${target.host}:${target.port} is served by another process (pid ${pid}), not ${owner.label}`,
    )
  }
  return /STAT version (\S+)/.exec(text)?.[1] ?? 'unknown version'
}

/**
 * Starts a private memcached on a free loopback port (TCP only, `-U 0`). Rejects when
 * memcached is not on PATH.
 */
export async function startMemcached(options: MemcachedOptions = {}): Promise<PrivateServer> {
  const binary = requireBinary('memcached', 'a private memcached')
  for (let attempt = 1; ; attempt++) {
    const dir = await makeTempDir('memcached')
    const port = await freePort()
    const args = ['-l', LOOPBACK, '-p', String(port), '-U', '0', '-m', String(options.memoryMb ?? 64)]
    if (options.maxItemSize) args.push('-I', options.maxItemSize)
    // memcached refuses to run as root unless told which user to run as.
    if (process.getuid?.() === 0) args.push('-u', 'root')
    const server = new ServerProcess(
      `memcached on ${LOOPBACK}:${port}`,
      binary,
      args,
      join(dir, 'server.log'),
      dir,
    )
    const target = { host: LOOPBACK, port }
    const ready = (): Promise<string> => server.waitUntilReady(() => answersAs(target, server))
    try {
      server.spawn()
      await ready()
    } catch (error) {
      await server.kill()
      await removeTempDir(dir)
      const message = error instanceof Error ? error.message : String(error)
      if (attempt < 3 && /address already in use/i.test(message)) continue
      throw error
    }
    return singleProcessServer({
      name: 'memcached',
      server,
      ready,
      port,
      url: `${LOOPBACK}:${port}`,
      dir,
    })
  }
}
