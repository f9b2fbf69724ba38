import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  type Endpoint,
  findBinary,
  freePort,
  LOOPBACK,
  makeTempDir,
  removeTempDir,
  requireBinary,
  run,
  ServerProcess,
  singleProcessServer,
  tcpExchange,
} from './process.js'
import type { PrivateServer } from './types.js'

/** The database every MySQL/MariaDB server the harness provides has. */
export const MYSQL_DATABASE = 'test'

/**
 * Reads the server's greeting, which it sends as soon as it accepts a connection, and resolves
 * the version in it. An error packet (e.g. "host is blocked") rejects.
 */
export async function mysqlGreetingVersion(target: Endpoint): Promise<string> {
  const complete = (received: Buffer): boolean =>
    received.length >= 4 && received.length >= 4 + received.readUIntLE(0, 3)
  const packet = await tcpExchange(target, undefined, complete)
  const payload = packet.subarray(4, 4 + packet.readUIntLE(0, 3))
  if (payload[0] === 0xff) throw new Error(`server refused: ${payload.subarray(3).toString('utf8')}`)
  if (payload[0] !== 0x0a) throw new Error(`unexpected greeting (protocol ${payload[0]})`)
  const end = payload.indexOf(0, 1)
  // MariaDB puts "5.5.5-" before its real version, for compatibility with old MySQL clients.
  return payload.toString('utf8', 1, end < 0 ? undefined : end).replace(/^5\.5\.5-/, '')
}

/** mariadbd, or a mysqld that is MariaDB under its old name. */
function mariadbBinaries(): { server: string; installDb: string } | undefined {
  const server = findBinary('mariadbd') ?? findBinary('mysqld')
  const installDb = findBinary('mariadb-install-db') ?? findBinary('mysql_install_db')
  return server && installDb ? { server, installDb } : undefined
}

/** Whether {@link startMariadb} can run here. */
export function hasMariadbBinaries(): boolean {
  return mariadbBinaries() !== undefined
}

/**
 * Starts a private MariaDB on a free loopback port: a fresh data dir made by mariadb-install-db,
 * `root` without a password over TCP, and a database named `test`.
 * Rejects when mariadbd or mariadb-install-db is not on PATH.
 */
export async function startMariadb(): Promise<PrivateServer> {
  const binaries = mariadbBinaries()
  if (!binaries) {
    requireBinary('mariadbd', 'a private MariaDB')
    requireBinary('mariadb-install-db', 'a private MariaDB (it creates the data dir)')
  }
  const { server, installDb } = binaries!
  // Both refuse to run as root unless told which user to run as.
  const asUser = process.getuid?.() === 0 ? ['--user=root'] : []

  const dir = await makeTempDir('mariadb')
  try {
    const dataDir = join(dir, 'data')
    await run(
      installDb,
      [
        '--no-defaults',
        `--datadir=${dataDir}`,
        // 'normal' makes root log in without a password, as the tests expect; the default
        // ('socket') would only let the OS root user in through the socket.
        '--auth-root-authentication-method=normal',
        '--skip-test-db',
        // No DNS lookup of this host's name: the install must not need the network.
        '--skip-name-resolve',
        ...asUser,
      ],
      60_000,
    )
    // Runs at every start, so the database exists whatever happened to the data dir.
    const initFile = join(dir, 'init.sql')
    await writeFile(initFile, `CREATE DATABASE IF NOT EXISTS \`${MYSQL_DATABASE}\`;\n`)

    for (let attempt = 1; ; attempt++) {
      const port = await freePort()
      const args = [
        '--no-defaults',
        ...asUser,
        `--datadir=${dataDir}`,
        `--socket=${join(dir, 'mysqld.sock')}`,
        `--pid-file=${join(dir, 'mysqld.pid')}`,
        `--port=${port}`,
        `--bind-address=${LOOPBACK}`,
        `--init-file=${initFile}`,
        '--skip-name-resolve',
        '--skip-log-bin',
        // MySQL 8's default character set, so a private MariaDB and the mysql:8.4 image agree.
        '--character-set-server=utf8mb4',
        '--collation-server=utf8mb4_general_ci',
        // A throwaway server: small, and not waiting on fsync.
        '--innodb-buffer-pool-size=64M',
        '--innodb-log-file-size=16M',
        '--innodb-flush-log-at-trx-commit=2',
        '--innodb-doublewrite=0',
        '--performance-schema=OFF',
        '--max-connections=500',
      ]
      const mariadb = new ServerProcess(
        `mariadbd on ${LOOPBACK}:${port}`,
        server,
        args,
        join(dir, 'server.log'),
        dir,
      )
      const target = { host: LOOPBACK, port }
      // The unix socket in our own dir proves the answer comes from our server (when another
      // process takes our port first, ours fails to bind and exits, and for a moment the other
      // one answers in its place); the server opens the TCP port before the socket.
      const ownSocket = { path: join(dir, 'mysqld.sock') }
      const ready = (): Promise<string> =>
        mariadb.waitUntilReady(async () => {
          await mysqlGreetingVersion(ownSocket)
          return mysqlGreetingVersion(target)
        }, 30_000)
      try {
        mariadb.spawn()
        await ready()
      } catch (error) {
        await mariadb.kill()
        const message = error instanceof Error ? error.message : String(error)
        if (attempt < 3 && /address already in use|Can't start server: Bind/i.test(message)) continue
        throw error
      }
      return singleProcessServer({
        name: 'MariaDB',
        server: mariadb,
        ready,
        port,
        url: `mysql://root@${LOOPBACK}:${port}/${MYSQL_DATABASE}`,
        dir,
      })
    }
  } catch (error) {
    await removeTempDir(dir)
    throw error
  }
}
