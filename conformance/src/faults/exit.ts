import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

/**
 * What the exit scenario's child process does: import `imports` (resolved from the file at
 * `base`, so each backend's own dependencies are found), then run `setup` as the body of an
 * async function of `(modules, env)` that returns `{ store, closeClient? }`.
 *
 * @example
 * {
 *   base: import.meta.url,
 *   imports: { redis: '@session-store/redis', ioredis: 'ioredis' },
 *   env: { url },
 *   setup: `const client = new modules.ioredis.Redis(env.url)
 *           return { store: new modules.redis.RedisStore(client), closeClient: () => client.quit() }`,
 * }
 */
export interface ExitSpec {
  /** The file URL imports are resolved from: the calling test file's `import.meta.url`. */
  base: string
  /** Local name -> module specifier; `modules[name]` is the module's namespace. */
  imports: Record<string, string>
  /** Strings the setup reads as `env.<name>`, such as the server's URL. */
  env: Record<string, string>
  /** The body of `async (modules, env) => ({ store, closeClient })`. */
  setup: string
}

/** How long the child may take in all: starting Node, connecting, its operations, and exiting. */
const CHILD_LIMIT_MS = 20_000

/** How long after `close()` the process must have ended: a client's last timers run out (about a second). */
export const EXIT_AFTER_CLOSE_LIMIT_MS = 5000

const childScript = fileURLToPath(new URL('./exit-child.js', import.meta.url))

/**
 * Exits after close: a child Node process creates the store against the server, works with
 * it, closes it (and the client, when the caller passed one), and must then end by itself,
 * with exit code 0, within {@link EXIT_AFTER_CLOSE_LIMIT_MS}; it is killed otherwise, and the
 * failure lists what was still keeping it alive.
 */
export async function exitsAfterClose(spec: ExitSpec): Promise<void> {
  const result = await new Promise<{
    code: number | null
    signal: NodeJS.Signals | null
    stdout: string
    stderr: string
    killedBy: string | undefined
  }>((resolve) => {
    const child = spawn(process.execPath, [childScript], {
      env: { ...process.env, SESSION_STORE_EXIT_SPEC: JSON.stringify(spec) },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    let killedBy: string | undefined
    const kill = (why: string) => {
      killedBy = why
      child.kill('SIGKILL')
    }
    const overall = setTimeout(() => kill(`did not finish within ${CHILD_LIMIT_MS} ms`), CHILD_LIMIT_MS)
    let afterClose: NodeJS.Timeout | undefined
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8')
      if (afterClose === undefined && stdout.includes('closed\n')) {
        afterClose = setTimeout(
          () => kill(`still running ${EXIT_AFTER_CLOSE_LIMIT_MS} ms after close()`),
          EXIT_AFTER_CLOSE_LIMIT_MS,
        )
      }
    })
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8')
    })
    child.on('close', (code, signal) => {
      clearTimeout(overall)
      clearTimeout(afterClose)
      resolve({ code, signal, stdout, stderr, killedBy })
    })
  })
  assert.equal(
    result.killedBy,
    undefined,
    `the process was killed: it ${result.killedBy}. ${result.stderr.trim()}`,
  )
  assert.ok(result.stdout.includes('closed\n'), `the child never reached close(): ${result.stderr.trim()}`)
  assert.deepEqual(
    { code: result.code, signal: result.signal },
    { code: 0, signal: null },
    `the child must exit with code 0 by itself: ${result.stderr.trim()}`,
  )
}
