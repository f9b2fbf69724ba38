// connect-pg-simple against the PostgreSQL in POSTGRES_URL. It has no key prefix, so each
// namespace the suite asks for gets a schema of its own, with the "session" table the store
// creates itself. (Tables of other names in one schema collide: the table it creates always
// names its primary key "session_pkey".)
import { createHash } from 'node:crypto'
import pgSession from 'connect-pg-simple'
import session from 'express-session'
import pg from 'pg'

const PgStore = pgSession(session)
const pool = new pg.Pool({ connectionString: process.env.POSTGRES_URL })
pool.on('error', () => {})
const schemas = new Set()

export default {
  create: async ({ prefix }) => {
    const schemaName = `cps_${createHash('sha256').update(prefix).digest('hex').slice(0, 16)}`
    schemas.add(schemaName)
    await pool.query(`CREATE SCHEMA IF NOT EXISTS "${schemaName}"`)
    // Pruning off: the suite checks that expired sessions are never read, not who deletes them.
    return new PgStore({ pool, schemaName, createTableIfMissing: true, pruneSessionInterval: false })
  },
  cleanup: () => {},
  close: async () => {
    for (const schema of schemas) await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
    await pool.end()
  },
}
