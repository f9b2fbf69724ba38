import { type ChildProcess, execFile, spawn } from 'node:child_process'
import {
  closeSync,
  existsSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import type { HostPort, PrivateServer } from './types.js'

/** Every private server listens here and nowhere else. */
export const LOOPBACK = '127.0.0.1'

/** How long a server may take to become ready before the harness gives up on it. */
export const READY_TIMEOUT_MS = 20_000

// Everything this process spawned or created, so that an exit, a crash or Ctrl-C
// leaves no server running and no temp dir behind. Each child maps to its exit.
const liveChildren = new Map<ChildProcess, Promise<void>>()
const liveDirs = new Set<string>()
let exitHooksInstalled = false

/** Kills every child and deletes every temp dir at once; resolves when the children are gone. */
function killEverythingNow(): Promise<unknown> {
  const exits = [...liveChildren.values()]
  for (const child of liveChildren.keys()) {
    try {
      child.kill('SIGKILL')
    } catch {}
  }
  liveChildren.clear()
  for (const dir of liveDirs) {
    try {
      rmSync(dir, { recursive: true, force: true })
    } catch {}
  }
  liveDirs.clear()
  return Promise.all(exits)
}

function installExitHooks(): void {
  if (exitHooksInstalled) return
  exitHooksInstalled = true
  // 'exit' runs for a normal end and for process.exit(); only synchronous work is possible there.
  process.on('exit', () => void killEverythingNow())
  // A signal with no listener kills Node without running 'exit' handlers, so listen to the
  // usual ones. When we are the only listener, re-raise the signal afterwards so the process
  // still dies the way the sender asked; otherwise the other listener (vitest) decides.
  // Waiting (briefly) for the children to die first lets this process reap them, instead of
  // leaving zombies to an init that may not collect them (containers).
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      const reaped = killEverythingNow()
      if (process.listenerCount(signal) !== 1) return
      process.removeListener(signal, onSignal)
      const reraise = (): void => {
        process.kill(process.pid, signal)
      }
      Promise.race([reaped, new Promise((resolve) => setTimeout(resolve, 2_000).unref())]).then(
        reraise,
        reraise,
      )
    }
    process.on(signal, onSignal)
  }
}

/** Creates a temp dir that is deleted at process exit unless {@link removeTempDir} deletes it first. */
export async function makeTempDir(label: string): Promise<string> {
  installExitHooks()
  const dir = await mkdtemp(join(tmpdir(), `session-store-${label}-`))
  liveDirs.add(dir)
  return dir
}

export async function removeTempDir(dir: string): Promise<void> {
  liveDirs.delete(dir)
  await rm(dir, { recursive: true, force: true, maxRetries: 3 })
}

/** Full path of an executable on PATH, or undefined. */
export function findBinary(name: string, searchPath = process.env.PATH): string | undefined {
  for (const dir of (searchPath ?? '').split(delimiter)) {
    if (!dir) continue
    const candidate = join(dir, name)
    if (existsSync(candidate)) return candidate
  }
  return undefined
}

/** Like {@link findBinary}, but rejects with a message that says what to install. */
export function requireBinary(name: string, purpose: string): string {
  const found = findBinary(name)
  if (!found) throw new Error(`${name} is not on PATH; it is needed to start ${purpose}`)
  return found
}

/** Runs a command to completion and resolves its stdout; rejects with its stderr on failure. */
export function run(file: string, args: string[], timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) {
        reject(new Error(`${file} ${args.join(' ')} failed: ${error.message}\n${stderr || stdout}`.trim()))
      } else {
        resolve(stdout)
      }
    })
  })
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer()
    probe.once('error', () => resolve(false))
    probe.listen({ port, host: LOOPBACK, exclusive: true }, () => probe.close(() => resolve(true)))
  })
}

// Ports this process already handed out. The kernel may offer a port again as soon as the
// probe closes it, so two servers starting side by side could otherwise get the same one.
const handedOut = new Set<number>()

/**
 * A loopback port nobody listens on right now. There is a window between this check and the
 * server binding it; the starters retry on a bind failure. `alsoFree` checks companion ports
 * (a cluster node also binds port + 10000 for its bus).
 */
export async function freePort(alsoFree: (port: number) => number[] = () => []): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const probe = createServer()
      probe.once('error', reject)
      probe.listen({ port: 0, host: LOOPBACK }, () => {
        const address = probe.address()
        probe.close(() => resolve(typeof address === 'object' && address ? address.port : 0))
      })
    })
    const companions = alsoFree(port)
    if ([port, ...companions].some((p) => p > 65535 || handedOut.has(p))) continue
    const free = await Promise.all(companions.map(canListen))
    if (!free.every(Boolean)) continue
    for (const p of [port, ...companions]) handedOut.add(p)
    return port
  }
  throw new Error('no free loopback port found')
}

/** A server process whose output goes to a log file, so that a failure can show its tail. */
export class ServerProcess {
  child: ChildProcess | undefined
  private exited: Promise<void> = Promise.resolve()
  private exitCode: number | null | undefined
  private logOffset = 0

  constructor(
    /** Shown in errors, e.g. "redis-server on 127.0.0.1:40123". */
    readonly label: string,
    readonly binary: string,
    readonly args: string[],
    readonly logFile: string,
    readonly cwd: string,
  ) {}

  /** Spawns the process (not waiting for readiness). */
  spawn(): void {
    installExitHooks()
    // Output goes straight to a file: a pipe nobody reads could fill up and block the server.
    const logFd = openSync(this.logFile, 'a')
    this.logOffset = statSync(this.logFile).size
    try {
      this.child = spawn(this.binary, this.args, { cwd: this.cwd, stdio: ['ignore', logFd, logFd] })
    } finally {
      closeSync(logFd)
    }
    const child = this.child
    this.exitCode = undefined
    this.exited = new Promise((resolve) => {
      const done = (code: number | null): void => {
        liveChildren.delete(child)
        this.exitCode = code
        resolve()
      }
      child.once('exit', done)
      // A spawn failure (ENOENT, EACCES) emits 'error' and may never emit 'exit'.
      child.once('error', (error) => {
        this.appendNote(`spawn failed: ${error.message}`)
        done(-1)
      })
    })
    liveChildren.set(child, this.exited)
  }

  /** The pid of the current process; readiness checks compare it with the pid the server reports. */
  get pid(): number | undefined {
    return this.hasExited ? undefined : this.child?.pid
  }

  /** Whether the process has exited since it was last spawned. */
  get hasExited(): boolean {
    return this.exitCode !== undefined
  }

  /** Kills the process (SIGKILL works on a paused process too) and waits until it is gone. */
  async kill(): Promise<void> {
    if (this.child && !this.hasExited) this.child.kill('SIGKILL')
    await this.exited
  }

  signal(signal: 'SIGSTOP' | 'SIGCONT'): void {
    if (this.child && !this.hasExited) this.child.kill(signal)
  }

  /**
   * Freezes the process and resolves once every thread of it is really stopped: SIGSTOP takes
   * hold a moment after kill() returns, and a request sent in that moment is still answered.
   * Where /proc cannot tell (not Linux), it resolves after the signal.
   */
  async freeze(): Promise<void> {
    this.signal('SIGSTOP')
    const pid = this.pid
    if (pid === undefined) return
    const until = Date.now() + 2000
    while (Date.now() < until) {
      let states: string[]
      try {
        states = readdirSync(`/proc/${pid}/task`).map(
          // The state follows the parenthesised command name: "pid (name) T ...".
          (task) => readFileSync(`/proc/${pid}/task/${task}/stat`, 'utf8').split(') ')[1]?.[0] ?? '',
        )
      } catch {
        return
      }
      if (states.every((state) => state === 'T' || state === 't')) return
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
  }

  /** What the process wrote since it was last spawned (the log survives restarts). */
  logSinceSpawn(): string {
    try {
      return readFileSync(this.logFile).subarray(this.logOffset).toString('utf8')
    } catch {
      return ''
    }
  }

  /** The last lines the process wrote, for error messages. */
  logTail(lines = 20): string {
    try {
      const text = readFileSync(this.logFile, 'utf8').trimEnd()
      return text.split('\n').slice(-lines).join('\n')
    } catch {
      return '(no log)'
    }
  }

  private appendNote(note: string): void {
    try {
      const fd = openSync(this.logFile, 'a')
      try {
        writeSync(fd, `[harness] ${note}\n`)
      } finally {
        closeSync(fd)
      }
    } catch {}
  }

  /**
   * Polls `check` until it resolves, the process exits, or the deadline passes; a failure
   * names the server and shows its log tail.
   */
  async waitUntilReady<T>(check: () => Promise<T>, timeoutMs = READY_TIMEOUT_MS): Promise<T> {
    const deadline = Date.now() + timeoutMs
    let lastError: unknown
    for (let delay = 25; ; delay = Math.min(delay * 2, 250)) {
      if (this.hasExited) {
        throw new Error(
          `${this.label} exited (code ${this.exitCode}) before it was ready.\n--- log tail (${this.logFile}) ---\n${this.logTail()}`,
        )
      }
      try {
        return await check()
      } catch (error) {
        lastError = error
      }
      if (Date.now() + delay > deadline) break
      await new Promise((resolve) => setTimeout(resolve, delay))
    }
    const reason = lastError instanceof Error ? lastError.message : String(lastError)
    throw new Error(
      `${this.label} was not ready within ${timeoutMs} ms (last check: ${reason}).\n--- log tail (${this.logFile}) ---\n${this.logTail()}`,
    )
  }
}

/** Where to connect: a TCP host and port, or a unix socket path. */
export type Endpoint = HostPort | { path: string }

const endpointName = (target: Endpoint): string =>
  'path' in target ? target.path : `${target.host}:${target.port}`

/**
 * Opens a connection, sends `request` (if any) and resolves the bytes received once
 * `isComplete` says the answer is whole. Rejects on error, close or timeout.
 */
export function tcpExchange(
  target: Endpoint,
  request: string | undefined,
  isComplete: (received: Buffer) => boolean,
  timeoutMs = 1_000,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = new Socket()
    let received = Buffer.alloc(0)
    const finish = (error?: Error): void => {
      clearTimeout(timer)
      socket.destroy()
      if (error) reject(error)
      else resolve(received)
    }
    const timer = setTimeout(
      () => finish(new Error(`no answer from ${endpointName(target)} within ${timeoutMs} ms`)),
      timeoutMs,
    )
    socket.once('error', (error) => finish(error))
    socket.once('close', () => finish(new Error(`${endpointName(target)} closed the connection`)))
    socket.on('data', (chunk) => {
      received = Buffer.concat([received, chunk])
      if (isComplete(received)) finish()
    })
    const onConnect = (): void => {
      if (request !== undefined) socket.write(request)
    }
    if ('path' in target) socket.connect(target.path, onConnect)
    else socket.connect(target.port, target.host, onConnect)
  })
}

/** Resolves once something accepts a TCP connection at `target`. */
export function tcpReachable(target: HostPort, timeoutMs = 1_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = new Socket()
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`no connection to ${target.host}:${target.port} within ${timeoutMs} ms`))
    }, timeoutMs)
    socket.once('error', (error) => {
      clearTimeout(timer)
      socket.destroy()
      reject(error)
    })
    socket.connect(target.port, target.host, () => {
      clearTimeout(timer)
      socket.destroy()
      resolve()
    })
  })
}

/**
 * A private server that is one process: `stop` kills it (its data dir stays), `start` spawns it
 * again on the same port and dir and waits until it is ready, `pause`/`resume` freeze and thaw
 * it, and `close` kills it for good and deletes its dir.
 */
export function singleProcessServer(options: {
  /** For the error a closed server's start() throws, e.g. `memcached`. */
  name: string
  server: ServerProcess
  ready: () => Promise<unknown>
  port: number
  url: string
  dir: string
}): PrivateServer {
  const { name, server, ready, port, url, dir } = options
  let closed = false
  return {
    host: LOOPBACK,
    port,
    url,
    nodes: [{ host: LOOPBACK, port }],
    async stop() {
      await server.kill()
    },
    async start() {
      if (closed) throw new Error(`this private ${name} was closed`)
      if (server.hasExited) server.spawn()
      await ready()
    },
    async pause() {
      await server.freeze()
    },
    async resume() {
      server.signal('SIGCONT')
    },
    async close() {
      if (closed) return
      closed = true
      await server.kill()
      await removeTempDir(dir)
    },
  }
}
