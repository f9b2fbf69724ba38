import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { server, skipReason } from '@session-store/conformance/harness'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { startDemo } from '../src/demo.js'

const MAIN = fileURLToPath(new URL('../src/main.js', import.meta.url))

// The SQLite files of this test file's demos, in a directory of its own.
const dir = mkdtempSync(join(tmpdir(), 'session-store-demo-test-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
let files = 0
const sqliteEnv = () => ({ SQLITE_FILE: join(dir, `demo-${++files}.db`) })

/** What /api/session answers. */
interface Answer {
  instance: string
  count: number
  pid: number
}

/** Whether a process is still running. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** A visitor with a cookie jar, talking to one base URL. */
class Visitor {
  readonly #cookies = new Map<string, string>()
  constructor(readonly base: string) {}

  async request(path: string, method = 'GET'): Promise<Response> {
    const cookie = [...this.#cookies].map(([name, value]) => `${name}=${value}`).join('; ')
    const response = await fetch(new URL(path, this.base), {
      method,
      redirect: 'manual',
      headers: cookie ? { cookie } : {},
    })
    for (const line of response.headers.getSetCookie()) {
      const pair = line.slice(0, line.indexOf(';'))
      const name = pair.slice(0, pair.indexOf('='))
      const value = pair.slice(pair.indexOf('=') + 1)
      if (value === '') this.#cookies.delete(name)
      else this.#cookies.set(name, value)
    }
    return response
  }

  async session(): Promise<Answer> {
    const response = await this.request('/api/session')
    expect(response.status).toBe(200)
    return (await response.json()) as Answer
  }

  /** Calls /api/session `times` times, one after the other. */
  async sessions(times: number): Promise<Answer[]> {
    const answers: Answer[] = []
    for (let i = 0; i < times; i++) answers.push(await this.session())
    return answers
  }

  /** The session id inside the signed cookie (`s:<sid>.<signature>`). */
  sid(): string {
    const cookie = decodeURIComponent(this.#cookies.get('connect.sid') ?? '')
    return cookie.slice(2, cookie.lastIndexOf('.'))
  }

  /** Uses the same cookies against another base URL. */
  at(base: string): Visitor {
    const other = new Visitor(base)
    for (const [name, value] of this.#cookies) other.#cookies.set(name, value)
    return other
  }
}

/** Demos started by a test, closed after it even when it fails. */
const running: Array<{ close: () => Promise<void> }> = []
afterEach(async () => {
  await Promise.all(running.splice(0).map((demo) => demo.close()))
})

async function start(options: Parameters<typeof startDemo>[0]) {
  const demo = await startDemo(options)
  running.push(demo)
  return demo
}

describe('the demo, in process, on the shared MemoryStore', () => {
  it('keeps one session counting while the instances take turns', async () => {
    const demo = await start({ port: 0, store: 'memory' })
    expect(demo.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(demo.instances.map((instance) => instance.name)).toEqual(['app-1', 'app-2'])

    const answers = await new Visitor(demo.url).sessions(6)
    expect(answers).toMatchObject([
      { instance: 'app-1', count: 1 },
      { instance: 'app-2', count: 2 },
      { instance: 'app-1', count: 3 },
      { instance: 'app-2', count: 4 },
      { instance: 'app-1', count: 5 },
      { instance: 'app-2', count: 6 },
    ])
  })

  it('gives each visitor a session of its own', async () => {
    const demo = await start({ port: 0, store: 'memory' })
    const alice = new Visitor(demo.url)
    const bob = new Visitor(demo.url)
    await alice.sessions(3)
    expect((await bob.session()).count).toBe(1)
    expect((await alice.session()).count).toBe(4)
    // Without a cookie, every call is a new session.
    expect((await new Visitor(demo.url).session()).count).toBe(1)
    expect((await new Visitor(demo.url).session()).count).toBe(1)
  })

  it('lets each instance, called directly, carry on the same session', async () => {
    const demo = await start({ port: 0, store: 'memory', instances: 3 })
    const visitor = new Visitor(demo.url)
    expect((await visitor.session()).count).toBe(1)
    let count = 1
    for (const { name, url } of demo.instances) {
      expect(await visitor.at(url).session()).toMatchObject({
        instance: name,
        count: ++count,
        pid: process.pid,
      })
    }
    expect(count).toBe(4)
  })

  it('rotates through every instance when there are more than two', async () => {
    const demo = await start({ port: 0, store: 'memory', instances: 3 })
    const answers = await new Visitor(demo.url).sessions(6)
    expect(answers.map((answer) => answer.instance)).toEqual([
      'app-1',
      'app-2',
      'app-3',
      'app-1',
      'app-2',
      'app-3',
    ])
    expect(answers.map((answer) => answer.count)).toEqual([1, 2, 3, 4, 5, 6])
  })

  it('shows the instance and the count on its page, which counts too', async () => {
    const demo = await start({ port: 0, store: 'memory' })
    const visitor = new Visitor(demo.url)
    const first = await visitor.request('/')
    expect(first.headers.get('content-type')).toMatch(/^text\/html/)
    const html = await first.text()
    expect(html).toContain('Answered by app-1')
    expect(html).toContain('<strong>1</strong> time,')
    expect(html).toContain('<a href="/">Reload</a>')
    expect(await (await visitor.request('/')).text()).toContain('Answered by app-2')
    expect(await visitor.session()).toMatchObject({ instance: 'app-1', count: 3 })
  })

  it('destroys the session on POST /logout, so the count starts again', async () => {
    const demo = await start({ port: 0, store: 'memory' })
    const visitor = new Visitor(demo.url)
    await visitor.sessions(3)
    expect(await demo.store.length()).toBe(1)
    const logout = await visitor.request('/logout', 'POST')
    expect(logout.status).toBe(303)
    expect(logout.headers.get('location')).toBe('/')
    expect(await demo.store.length()).toBe(0)
    expect((await visitor.session()).count).toBe(1)
  })

  it('falls back to a free port when the asked one is taken', async () => {
    const first = await start({ port: 0, store: 'memory' })
    const second = await start({ port: first.port, store: 'memory' })
    expect(second.port).not.toBe(first.port)
    expect((await new Visitor(second.url).session()).count).toBe(1)
  })

  it('rejects bad options before opening anything', async () => {
    await expect(startDemo({ port: 0, instances: 0 })).rejects.toThrow(TypeError)
    await expect(startDemo({ port: -1 })).rejects.toThrow(TypeError)
    // @ts-expect-error: not a store kind
    await expect(startDemo({ port: 0, store: 'floppy' })).rejects.toThrow(/store must be one of/)
    await expect(startDemo({ port: 0, store: 'memory', processes: true })).rejects.toThrow(
      /a MemoryStore lives in one process/,
    )
  })

  it('close() stops the proxy and the instances, and closes the store', async () => {
    const demo = await startDemo({ port: 0, store: 'memory' })
    await new Visitor(demo.url).sessions(2)
    await demo.close()
    expect(demo.store.closed).toBe(true)
    await expect(fetch(demo.url)).rejects.toThrow()
    for (const { url } of demo.instances) await expect(fetch(url)).rejects.toThrow()
  })
})

describe('the demo by default: one Node process per instance, sharing one SQLite file', () => {
  it('serves one session across separate processes while they take turns', async () => {
    const demo = await start({ port: 0, env: sqliteEnv() })
    expect(demo.storeKind).toBe('sqlite')
    expect(demo.processes).toBe(true)
    const pids = demo.instances.map((instance) => instance.pid)
    expect(new Set([...pids, process.pid]).size).toBe(3)
    for (const pid of pids) expect(alive(pid)).toBe(true)

    const visitor = new Visitor(demo.url)
    const answers = await visitor.sessions(6)
    expect(answers).toEqual(
      [1, 2, 3, 4, 5, 6].map((count) => {
        const instance = demo.instances[(count - 1) % 2]!
        return { instance: instance.name, count, pid: instance.pid }
      }),
    )
    // A third process, this one, reads the same session from the file.
    const sid = visitor.sid()
    expect(await demo.store.get(sid)).toMatchObject({ count: 6 })
    expect((await visitor.request('/logout', 'POST')).status).toBe(303)
    expect(await demo.store.get(sid)).toBeNull()
  })

  it('lets each process, called directly, carry on the same session', async () => {
    const demo = await start({ port: 0, instances: 3, env: sqliteEnv() })
    const visitor = new Visitor(demo.url)
    expect((await visitor.session()).count).toBe(1)
    let count = 1
    for (const { name, url, pid } of demo.instances) {
      expect(await visitor.at(url).session()).toEqual({ instance: name, count: ++count, pid })
    }
    expect(count).toBe(4)
  })

  it('close() ends every instance process', async () => {
    const demo = await startDemo({ port: 0, env: sqliteEnv() })
    await new Visitor(demo.url).sessions(2)
    await demo.close()
    expect(demo.store.closed).toBe(true)
    for (const { pid, url } of demo.instances) {
      expect(alive(pid)).toBe(false)
      await expect(fetch(url)).rejects.toThrow()
    }
  })

  it('fails to start, with the store’s message, when the file cannot be opened', async () => {
    await expect(
      startDemo({ port: 0, env: { SQLITE_FILE: join(dir, 'no', 'such', 'dir.db') } }),
    ).rejects.toThrow(/cannot open the database/)
  })
})

describe('the demo as a command', () => {
  let child: ChildProcess | undefined
  afterEach(() => {
    // Only when a test failed half-way; a passing test has already seen it exit.
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })

  it('prints its URL, serves one session across instance processes, and exits 0 on SIGINT', async () => {
    child = spawn(process.execPath, [MAIN, '--port', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...sqliteEnv() },
    })
    const exited = once(child, 'exit')
    let stdout = ''
    let stderr = ''
    child.stdout?.setEncoding('utf8').on('data', (text: string) => {
      stdout += text
    })
    child.stderr?.setEncoding('utf8').on('data', (text: string) => {
      stderr += text
    })
    const url = await new Promise<string>((resolve, reject) => {
      const look = () => {
        const match = /^Open (http:\/\/127\.0\.0\.1:\d+)/m.exec(stdout)
        if (match?.[1]) resolve(match[1])
      }
      child?.stdout?.on('data', look)
      child?.once('exit', (code) =>
        reject(new Error(`the demo exited (${code}) before printing its URL:\n${stderr}`)),
      )
    })

    expect(stdout).toMatch(/2 Express processes share one sqlite store/)
    const answers = await new Visitor(url).sessions(4)
    expect(answers).toMatchObject([
      { instance: 'app-1', count: 1 },
      { instance: 'app-2', count: 2 },
      { instance: 'app-1', count: 3 },
      { instance: 'app-2', count: 4 },
    ])
    const pids = new Set(answers.map((answer) => answer.pid))
    expect(pids.size).toBe(2)
    expect(pids.has(child.pid!)).toBe(false)

    child.kill('SIGINT')
    const [code, signal] = await exited
    // Node 22 calls node:sqlite experimental, once per process; nothing else may be printed.
    const printed = stderr.replace(/^\(node:\d+\) ExperimentalWarning: SQLite .*\n(\(Use .*\n)?/gm, '')
    expect({ code, signal, stderr: printed }).toEqual({ code: 0, signal: null, stderr: '' })
    expect(stdout).toContain('SIGINT: stopped.')
    for (const pid of pids) expect(alive(pid)).toBe(false)
  })

  it('refuses an unknown store with exit code 1 and the usage', async () => {
    child = spawn(process.execPath, [MAIN, '--port', '0', '--store', 'floppy'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stderr = ''
    child.stderr?.setEncoding('utf8').on('data', (text: string) => {
      stderr += text
    })
    const [code] = await once(child, 'exit')
    expect(code).toBe(1)
    expect(stderr).toContain(
      'store must be one of sqlite, memory, redis, memcached, mongodb, mysql, postgres',
    )
    expect(stderr).toContain('Usage:')
  })
})

/**
 * Each backend through the proxy, on the server this run's harness found or started for it
 * (the run summary says why a backend is skipped; SESSION_STORE_REQUIRE turns a skip into a
 * failure).
 */
const backends = [
  ['redis', 'REDIS_URL'],
  ['memcached', 'MEMCACHED_SERVERS'],
  ['mongodb', 'MONGO_URL'],
  ['mysql', 'MYSQL_URL'],
  ['postgres', 'POSTGRES_URL'],
] as const
describe.each(backends)('the demo on the %s backend', (kind, variable) => {
  const found = server(kind)
  // `pnpm test` builds every package first; this only matters when running this file alone.
  const built = existsSync(
    fileURLToPath(new URL(`../node_modules/@session-store/${kind}/dist/index.js`, import.meta.url)),
  )
  const skip = !found ? skipReason(kind) : !built ? `@session-store/${kind} is not built` : undefined
  it.skipIf(skip !== undefined)(
    `shares one session across instances${skip ? ` (skipped: ${skip})` : ''}`,
    async () => {
      // The same variable a user sets, pointing at this run's server (all nodes for memcached).
      const url =
        kind === 'memcached' ? found!.nodes.map(({ host, port }) => `${host}:${port}`).join(',') : found!.url
      const demo = await start({ port: 0, store: kind, env: { [variable]: url } })
      const visitor = new Visitor(demo.url)
      const answers = await visitor.sessions(4)
      expect(answers).toMatchObject([
        { instance: 'app-1', count: 1 },
        { instance: 'app-2', count: 2 },
        { instance: 'app-1', count: 3 },
        { instance: 'app-2', count: 4 },
      ])
      const sid = visitor.sid()
      expect(await demo.store.get(sid)).toMatchObject({ count: 4 })
      // Leave nothing behind on a shared server.
      expect((await visitor.request('/logout', 'POST')).status).toBe(303)
      expect(await demo.store.get(sid)).toBeNull()
    },
  )
})
