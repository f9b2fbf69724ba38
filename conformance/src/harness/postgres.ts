import { execFileSync } from 'node:child_process'
import { realpathSync } from 'node:fs'
import { chown, mkdir, readdir } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import {
  findBinary,
  freePort,
  LOOPBACK,
  makeTempDir,
  removeTempDir,
  run,
  ServerProcess,
  singleProcessServer,
  tcpReachable,
} from './process.js'
import type { PrivateServer } from './types.js'

/** The database every PostgreSQL server the harness provides has. */
export const POSTGRES_DATABASE = 'test'

/** Where Debian puts the server binaries, which are not on PATH there. */
const DEBIAN_ROOT = '/usr/lib/postgresql'

/** The directory with initdb and postgres: PATH first, then Debian's newest version. */
export function postgresBinDir(searchPath = process.env.PATH): string | undefined {
  // On PATH the binaries are often links into their real directory, which also has pg_isready
  // and psql.
  const initdb = findBinary('initdb', searchPath)
  if (initdb && findBinary('postgres', searchPath)) return dirname(realpathSync(initdb))
  try {
    const versions = execFileSync('ls', [DEBIAN_ROOT], { encoding: 'utf8' })
      .split('\n')
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(b) - Number(a))
    for (const version of versions) {
      const dir = join(DEBIAN_ROOT, version, 'bin')
      if (findBinary('initdb', dir) && findBinary('postgres', dir)) return dir
    }
  } catch {
    // no Debian layout
  }
  return undefined
}

/** `postgres (PostgreSQL) 15.19 (Debian …)` → `15.19`. */
export async function postgresVersion(binDir: string): Promise<string> {
  const out = await run(join(binDir, 'postgres'), ['--version'])
  return /(\d+(\.\d+)+)/.exec(out)?.[1] ?? out.trim()
}

/**
 * PostgreSQL refuses to run as root. As root, the binaries run as the `postgres` user that the
 * Debian package creates (setpriv execs in place, so the pid the harness holds is the server's).
 */
function asServerUser(binary: string, args: string[]): [string, string[]] {
  if (process.getuid?.() !== 0) return [binary, args]
  return ['setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', '--', binary, ...args]]
}

async function chownTree(path: string, uid: number, gid: number): Promise<void> {
  await chown(path, uid, gid)
  for (const entry of await readdir(path, { withFileTypes: true })) {
    const child = join(path, entry.name)
    if (entry.isDirectory()) await chownTree(child, uid, gid)
    else await chown(child, uid, gid)
  }
}

/**
 * Starts a private PostgreSQL on a free loopback port: a fresh cluster made by initdb (trust
 * authentication, UTF-8, C locale), its socket in its own temp dir, durability off (a
 * throwaway server), and a database named `test`. Rejects when the binaries are missing.
 */
export async function startPostgres(): Promise<PrivateServer> {
  const binDir = postgresBinDir()
  if (!binDir) throw new Error(`initdb and postgres are neither on PATH nor in ${DEBIAN_ROOT}/*/bin`)
  const dir = await makeTempDir('postgres')
  try {
    const dataDir = join(dir, 'data')
    await mkdir(dataDir)
    if (process.getuid?.() === 0) {
      const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim())
      const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim())
      await chownTree(dir, uid, gid)
    }
    await run(
      ...asServerUser(join(binDir, 'initdb'), [
        '-D',
        dataDir,
        '-A',
        'trust',
        '-U',
        'postgres',
        '-E',
        'UTF8',
        '--locale=C',
        '--no-sync',
      ]),
      60_000,
    )
    for (let attempt = 1; ; attempt++) {
      const port = await freePort()
      const [binary, args] = asServerUser(join(binDir, 'postgres'), [
        '-D',
        dataDir,
        '-k',
        dir,
        '-h',
        LOOPBACK,
        '-p',
        String(port),
        '-c',
        'fsync=off',
        '-c',
        'synchronous_commit=off',
        '-c',
        'full_page_writes=off',
        '-c',
        'max_connections=300',
      ])
      const server = new ServerProcess(
        `postgres on ${LOOPBACK}:${port}`,
        binary,
        args,
        join(dir, 'server.log'),
        dir,
      )
      const ready = () =>
        server.waitUntilReady(async () => {
          // pg_isready through our own socket dir proves the answer is from our server.
          await run(join(binDir, 'pg_isready'), ['-q', '-h', dir, '-p', String(port)], 2_000)
          await tcpReachable({ host: LOOPBACK, port })
        }, 30_000)
      try {
        server.spawn()
        await ready()
        await run(join(binDir, 'psql'), [
          '-h',
          LOOPBACK,
          '-p',
          String(port),
          '-U',
          'postgres',
          '-d',
          'postgres',
          '-qc',
          `CREATE DATABASE ${POSTGRES_DATABASE}`,
        ])
      } catch (error) {
        await server.kill()
        const message = error instanceof Error ? error.message : String(error)
        if (attempt < 3 && /address already in use|could not bind/i.test(message)) continue
        throw error
      }
      return singleProcessServer({
        name: 'PostgreSQL',
        server,
        ready,
        port,
        url: `postgres://postgres@${LOOPBACK}:${port}/${POSTGRES_DATABASE}`,
        dir,
      })
    }
  } catch (error) {
    await removeTempDir(dir)
    throw error
  }
}
