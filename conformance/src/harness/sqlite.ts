import { createRequire } from 'node:module'
import { join } from 'node:path'
import { makeTempDir, removeTempDir } from './process.js'

/**
 * The SQLite version inside this Node's node:sqlite, or undefined when this Node has none
 * (before 22.13 it is missing or behind a flag). SQLite needs no server: the harness only
 * gives the run a file of its own.
 */
export function sqliteVersion(): string | undefined {
  try {
    const { DatabaseSync } = createRequire(import.meta.url)('node:sqlite') as typeof import('node:sqlite')
    const db = new DatabaseSync(':memory:')
    try {
      return String((db.prepare('SELECT sqlite_version() AS v').get() as { v: unknown }).v)
    } finally {
      db.close()
    }
  } catch {
    return undefined
  }
}

/** A database file path in a temp dir of the run's own, deleted with its WAL files by `close`. */
export async function sqliteFile(): Promise<{ path: string; close: () => Promise<void> }> {
  const dir = await makeTempDir('sqlite')
  return { path: join(dir, 'sessions.db'), close: () => removeTempDir(dir) }
}
