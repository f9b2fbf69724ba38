import { randomBytes } from 'node:crypto'
import type { EventEmitter } from 'node:events'
import { existsSync } from 'node:fs'
import { delimiter, join } from 'node:path'
import {
  badOptions,
  commonBadOptions,
  type FaultTarget,
  faultScenarios,
  type RawValue,
} from '@session-store/conformance/faults'
import { type PrivateServer, startMariadb } from '@session-store/conformance/harness'
import type { BaseStore } from '@session-store/core'
import mysql, { type Pool } from 'mysql2/promise'
import { afterAll, beforeAll, describe, it } from 'vitest'
import { MySQLStore } from '../src/index.js'

// The reliability scenarios of @session-store/conformance/faults on a private MariaDB that this
// file kills and freezes. Every store has a pool of its own, which it ends on close; sessions
// live in one table of this file's own, on disk, so they survive the server's restart.

const canStartMariadb = ['mariadbd', 'mysqld'].some((name) =>
  (process.env.PATH ?? '').split(delimiter).some((dir) => dir && existsSync(join(dir, name))),
)

describe.skipIf(!canStartMariadb)('reliability: MySQLStore on MariaDB', () => {
  let mariadb: PrivateServer
  /** Plants raw rows with SQL, as another program would. */
  let admin: Pool
  const table = `sessions_faults_${randomBytes(4).toString('hex')}`
  const env = { url: '', table }
  beforeAll(async () => {
    mariadb = await startMariadb()
    env.url = mariadb.url
    admin = mysql.createPool({ uri: mariadb.url, connectionLimit: 2 })
  })
  afterAll(async () => {
    await admin?.query(`DROP TABLE IF EXISTS \`${table}\``)
    await admin?.end()
    await mariadb?.close()
  })

  async function plant(store: BaseStore, sid: string, value: RawValue): Promise<void> {
    // utf8mb4 refuses invalid UTF-8, so raw bytes arrive as a latin1 client would have sent them.
    const data = Buffer.isBuffer(value) ? value.toString('latin1') : value
    await admin.execute(
      `INSERT INTO \`${table}\` (id, expires, data, full_id) VALUES (?, ?, ?, NULL)
       ON DUPLICATE KEY UPDATE expires = VALUES(expires), data = VALUES(data)`,
      [store.prefix + sid, Date.now() + 600_000, data],
    )
  }

  const pools = new WeakMap<BaseStore, Pool>()
  const target: FaultTarget = {
    name: 'mysql',
    create: ({ prefix, timeout }) => {
      const pool = mysql.createPool({ uri: mariadb.url, connectTimeout: timeout })
      const store = new MySQLStore(pool, { prefix, timeout, table, endPoolOnClose: true })
      pools.set(store, pool)
      return store
    },
    server: {
      stop: () => mariadb.stop(),
      start: () => mariadb.start(),
      pause: () => mariadb.pause(),
      resume: () => mariadb.resume(),
    },
    restart: 'keeps data',
    plant,
    clients: (store) => {
      const pool = pools.get(store)!
      return [pool as unknown as EventEmitter, pool.pool as unknown as EventEmitter]
    },
  }
  const url = 'mysql://root@127.0.0.1:3306/test'
  const scenarios = faultScenarios(target, {
    badOptions: [
      ...commonBadOptions((options) => new MySQLStore(url, options as never)),
      { what: 'a postgres:// URL', create: () => new MySQLStore('postgres://root@127.0.0.1:5432/test') },
      { what: 'an unparsable URL', create: () => new MySQLStore('not a url') },
      { what: 'a port out of range', create: () => new MySQLStore('mysql://root@127.0.0.1:99999/test') },
      { what: 'no pool', create: () => new MySQLStore(undefined as never) },
      {
        what: 'SQL in the table name',
        create: () => new MySQLStore(url, { table: 'sessions; DROP TABLE x' }),
      },
      { what: 'a negative pruneInterval', create: () => new MySQLStore(url, { pruneInterval: -1 }) },
      {
        what: 'two columns of the same name',
        create: () => new MySQLStore(url, { columns: { id: 'data' } }),
      },
      {
        what: 'a prefix too long for the id column',
        create: () => new MySQLStore(url, { prefix: 'p'.repeat(200) }),
      },
    ],
    exit: {
      'the store creates and ends its pool': {
        base: import.meta.url,
        imports: { mysql: '@session-store/mysql' },
        env,
        setup: 'return { store: new modules.mysql.MySQLStore(env.url, { table: env.table }) }',
      },
      'the caller ends its pool': {
        base: import.meta.url,
        imports: { mysql: '@session-store/mysql', mysql2: 'mysql2/promise' },
        env,
        setup: `const pool = modules.mysql2.createPool(env.url)
                return { store: new modules.mysql.MySQLStore(pool, { table: env.table }), closeClient: () => pool.end() }`,
      },
    },
  })
  for (const scenario of scenarios) {
    it.skipIf(scenario.skip !== undefined)(scenario.title, scenario.run, scenario.timeoutMs)
  }

  // Settings mysql2 would take and then fail every request with ('No database selected', a
  // port it quietly replaces with 3306, a pool that never hands out a connection).
  it('bad options: connection settings that can never work are refused at construction', () =>
    badOptions([
      { what: 'a URL without a database', create: () => new MySQLStore('mysql://root@127.0.0.1:3306') },
      {
        what: 'a port that is not a number',
        create: () => new MySQLStore({ host: '127.0.0.1', port: 'x' as never }),
      },
      {
        what: 'a negative connectionLimit',
        create: () => new MySQLStore({ uri: url, connectionLimit: -1 }),
      },
    ]))
})
