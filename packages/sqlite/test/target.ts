import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ConformanceTarget } from '@session-store/conformance'
import { SQLiteStore } from '@session-store/sqlite'

/** Each store's operations are bounded by this. */
const TIMEOUT = 2000

/**
 * Why C13 does not apply. In WAL mode another process can hold the write lock, which stops
 * writes and never reads; a lock that stops reads too needs the file to itself and cannot be
 * taken while this store has it open. There is no backend to take down: the lock scenarios of
 * sqlite.faults.test.ts check what a second process can do instead.
 */
export const NO_OUTAGE =
  'an embedded database has no server to take down: another process can only hold the write lock, ' +
  'which in WAL mode stops writes and never reads (checked by the lock scenarios of sqlite.faults.test.ts)'

/**
 * The conformance target for SQLite on a file at `path` (a temp file of its own by default),
 * used by the vitest binding and, as this module's default export, by the runner CLI. Every
 * store opens a connection of its own on the one file, as separate processes would.
 */
export function sqliteTarget(path?: string): ConformanceTarget {
  // Made on first use: importing this module (for its default export) creates nothing.
  let dir: string | undefined
  let file = path
  const fileOf = (): string => {
    if (file === undefined) {
      dir = mkdtempSync(join(tmpdir(), 'session-store-sqlite-conformance-'))
      file = join(dir, 'sessions.db')
    }
    return file
  }
  return {
    create: ({ prefix }) => new SQLiteStore(fileOf(), { prefix, timeout: TIMEOUT, pruneInterval: 1000 }),
    operationTimeout: TIMEOUT,
    outageUnavailable: NO_OUTAGE,
    close() {
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
    },
  }
}

export default sqliteTarget(process.env.SQLITE_FILE)

/** What another process can hold: the write lock (`BEGIN IMMEDIATE`), or the whole file. */
export type LockKind = 'write' | 'exclusive'

/** A lock held by another process; `release` ends it and waits for the process to exit. */
export interface HeldLock {
  readonly pid: number
  release(): Promise<void>
}

// The other process: a plain node:sqlite connection that takes the lock, says so, and keeps it
// until its stdin closes. `exclusive` works only on a file no other connection has open.
const HOLDER = `
const { DatabaseSync } = require('node:sqlite')
const [file, kind] = process.argv.slice(1)
const db = new DatabaseSync(file)
db.exec('PRAGMA busy_timeout = 10000')
if (kind === 'exclusive') {
  db.exec('PRAGMA locking_mode = EXCLUSIVE')
  db.exec('BEGIN EXCLUSIVE')
  db.exec('COMMIT')
} else {
  db.exec('BEGIN IMMEDIATE')
}
process.stdout.write('locked\\n')
process.stdin.resume()
process.stdin.on('end', () => {
  if (kind !== 'exclusive') db.exec('ROLLBACK')
  db.close()
  process.exit(0)
})
`

/** Starts a process that holds a lock on `file`, and resolves once it holds it. */
export async function holdLock(file: string, kind: LockKind): Promise<HeldLock> {
  const child: ChildProcess = spawn(process.execPath, ['-e', HOLDER, file, kind], {
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let stderr = ''
  child.stderr!.setEncoding('utf8').on('data', (text: string) => {
    stderr += text
  })
  const exited = once(child, 'exit')
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve())
    exited.then(([code]) => reject(new Error(`the lock holder exited (${code}) before locking: ${stderr}`)))
  })
  let released: Promise<void> | undefined
  return {
    pid: child.pid!,
    release() {
      released ??= (async () => {
        child.stdin!.end()
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
        await exited
        clearTimeout(timer)
      })()
      return released
    },
  }
}
