import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import {
  freePort,
  LOOPBACK,
  makeTempDir,
  removeTempDir,
  requireBinary,
  run,
  ServerProcess,
  singleProcessServer,
  tcpReachable,
} from './process.js'
import type { PrivateServer } from './types.js'

/** `mongod --version`'s "db version vX.Y.Z". */
export async function mongodVersion(binary: string): Promise<string> {
  const output = await run(binary, ['--version'])
  return /db version v(\S+)/.exec(output)?.[1] ?? 'unknown version'
}

/**
 * Starts a private mongod (standalone, no auth) on a free loopback port. Rejects when mongod is
 * not on PATH.
 */
export async function startMongod(): Promise<PrivateServer> {
  const binary = requireBinary('mongod', 'a private MongoDB')
  const dir = await makeTempDir('mongod')
  try {
    const dbPath = join(dir, 'db')
    await mkdir(dbPath)
    for (let attempt = 1; ; attempt++) {
      const port = await freePort()
      const args = ['--dbpath', dbPath, '--port', String(port), '--bind_ip', LOOPBACK]
      const mongod = new ServerProcess(
        `mongod on ${LOOPBACK}:${port}`,
        binary,
        args,
        join(dir, 'server.log'),
        dir,
      )
      const target = { host: LOOPBACK, port }
      // mongod logs this line only once it listens on our port (it exits when the bind fails),
      // so the answer below is ours and not another process that took the port first.
      const ready = (): Promise<void> =>
        mongod.waitUntilReady(async () => {
          if (!mongod.logSinceSpawn().includes('Waiting for connections'))
            throw new Error('not listening yet')
          await tcpReachable(target)
        }, 30_000)
      try {
        mongod.spawn()
        await ready()
      } catch (error) {
        await mongod.kill()
        const message = error instanceof Error ? error.message : String(error)
        if (attempt < 3 && /address already in use/i.test(message)) continue
        throw error
      }
      return singleProcessServer({
        name: 'mongod',
        server: mongod,
        ready,
        port,
        url: `mongodb://${LOOPBACK}:${port}`,
        dir,
      })
    }
  } catch (error) {
    await removeTempDir(dir)
    throw error
  }
}
