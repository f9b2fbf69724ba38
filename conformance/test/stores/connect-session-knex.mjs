// connect-session-knex on knex and pg, against the PostgreSQL in POSTGRES_URL. A table per
// namespace the suite asks for (it has no key prefix), created by the store.
import { createHash } from 'node:crypto'
import { ConnectSessionKnexStore } from 'connect-session-knex'
import knexFactory from 'knex'

const knex = knexFactory({ client: 'pg', connection: process.env.POSTGRES_URL, pool: { min: 0, max: 10 } })
const tables = new Set()

export default {
  create: async ({ prefix }) => {
    const tableName = `csk_${createHash('sha256').update(prefix).digest('hex').slice(0, 16)}`
    tables.add(tableName)
    // cleanupInterval 0: no pruning timer; the suite checks reads, not who deletes.
    const store = new ConnectSessionKnexStore({ knex, tableName, createTable: true, cleanupInterval: 0 })
    await store.ready
    return store
  },
  cleanup: () => {},
  close: async () => {
    for (const table of tables) await knex.schema.dropTableIfExists(table)
    await knex.destroy()
  },
}
