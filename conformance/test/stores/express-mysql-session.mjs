// express-mysql-session against the MySQL/MariaDB in MYSQL_URL. It has no key prefix, so
// each namespace the suite asks for gets a table of its own (its way of isolating stores).
import { createHash } from 'node:crypto'
import MySQLStoreFactory from 'express-mysql-session'
import session from 'express-session'
import mysql from 'mysql2/promise'

const MySQLStore = MySQLStoreFactory(session)
const pool = mysql.createPool(process.env.MYSQL_URL)
const tables = new Set()

export default {
  create: async ({ prefix }) => {
    const tableName = `ems_${createHash('sha256').update(prefix).digest('hex').slice(0, 16)}`
    tables.add(tableName)
    const store = new MySQLStore({ clearExpired: false, schema: { tableName } }, pool)
    await store.onReady()
    return store
  },
  cleanup: () => {},
  close: async () => {
    for (const table of tables) await pool.query(`DROP TABLE IF EXISTS \`${table}\``)
    await pool.end()
  },
}
