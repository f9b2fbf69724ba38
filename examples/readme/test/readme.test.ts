// The READMEs are a test: every TypeScript block compiles in a strict user project (ESM,
// CommonJS, and TypeScript 5.0 with bundler resolution) with no cast, and every block that
// starts an app is run, as written, against this run's real servers.
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { join } from 'node:path'
import { type BackendName, server, skipReason } from '@session-store/conformance/harness'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import {
  compile,
  type Diagnostic,
  extractSnippets,
  PROJECTS,
  type ProjectName,
  projectDir,
  type Snippet,
  writeProject,
} from './snippets.js'

const snippets = extractSnippets()

describe('README code blocks', () => {
  it('finds the code blocks of every README', () => {
    expect(snippets.length).toBeGreaterThan(10)
    expect(snippets.filter((s) => s.isApp).length).toBeGreaterThan(3)
  })

  for (const project of Object.keys(PROJECTS) as ProjectName[]) {
    describe(`compile as a ${project} project`, () => {
      let diagnostics: Diagnostic[] = []
      // One compiler run per project; each block then reports its own errors.
      beforeAll(async () => {
        diagnostics = await compile(project, snippets)
      }, 120_000)

      it('has no error outside the blocks (our declaration files)', () => {
        const outside = diagnostics.filter((d) => !snippets.some((s) => s.name === d.snippet))
        expect(outside.map((d) => d.text)).toEqual([])
      })

      for (const snippet of snippets) {
        it(`${snippet.readme}:${snippet.line}`, () => {
          const own = diagnostics.filter((d) => d.snippet === snippet.name)
          expect(own.map((d) => d.text)).toEqual([])
        })
      }
    })
  }
})

/** The servers an app needs, from the packages it imports, and the env vars that name them. */
const BACKEND_ENV: Record<string, { backend: BackendName; env: string; value: 'url' | 'nodes' }> = {
  '@session-store/redis': { backend: 'redis', env: 'REDIS_URL', value: 'url' },
  '@session-store/memcached': { backend: 'memcached', env: 'MEMCACHED_SERVERS', value: 'nodes' },
  '@session-store/mysql': { backend: 'mysql', env: 'MYSQL_URL', value: 'url' },
  '@session-store/mongodb': { backend: 'mongodb', env: 'MONGO_URL', value: 'url' },
  '@session-store/postgres': { backend: 'postgres', env: 'POSTGRES_URL', value: 'url' },
  '@session-store/sqlite': { backend: 'sqlite', env: 'SQLITE_FILE', value: 'url' },
}

function backendsOf(snippet: Snippet) {
  return Object.entries(BACKEND_ENV)
    .filter(([pkg]) => snippet.code.includes(`'${pkg}'`))
    .map(([, need]) => need)
}

function appEnv(snippet: Snippet, port: number): NodeJS.ProcessEnv | string {
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port) }
  for (const need of backendsOf(snippet)) {
    const found = server(need.backend)
    if (!found) return `${need.backend}: ${skipReason(need.backend) ?? 'no server'}`
    env[need.env] = need.value === 'url' ? found.url : found.nodes.map((n) => `${n.host}:${n.port}`).join(',')
  }
  return env
}

async function freePort(): Promise<number> {
  const probe = createServer().listen(0, '127.0.0.1')
  await once(probe, 'listening')
  const address = probe.address()
  probe.close()
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}

const started: ChildProcess[] = []
afterEach(async () => {
  for (const child of started.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await once(child, 'exit')
    }
  }
})

/** A browser with a cookie jar. */
async function visit(base: string, times: number): Promise<string[]> {
  const jar = new Map<string, string>()
  const bodies: string[] = []
  for (let i = 0; i < times; i++) {
    const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ')
    const response = await fetch(base, { headers: cookie ? { cookie } : {} })
    for (const line of response.headers.getSetCookie()) {
      const pair = line.slice(0, line.indexOf(';'))
      jar.set(pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1))
    }
    bodies.push(`${response.status} ${await response.text()}`)
  }
  return bodies
}

/** Whether something accepts TCP connections on the port (no request, so no session made). */
async function accepts(port: number): Promise<boolean> {
  const socket = connect(port, '127.0.0.1')
  try {
    await once(socket, 'connect')
    return true
  } catch {
    return false
  } finally {
    socket.destroy()
  }
}

/** Starts `file` with node and waits until it answers on `port`. */
async function startApp(file: string, env: NodeJS.ProcessEnv, port: number): Promise<string> {
  const child = spawn(process.execPath, [file], { env, stdio: ['ignore', 'ignore', 'pipe'] })
  started.push(child)
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
  })
  const base = `http://127.0.0.1:${port}/`
  const deadline = Date.now() + 20_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the app exited (${child.exitCode}): ${stderr}`)
    if (await accepts(port)) return base
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`the app did not listen on ${port} within 20 s: ${stderr}`)
}

describe('README apps, run as written against the real servers', () => {
  beforeAll(async () => {
    // Node runs the ESM copies as they are (type stripping); the CommonJS ones as the
    // compiler emits them from the .cts copies.
    writeProject('esm', snippets)
    if (!existsSync(join(projectDir('cjs'), 'out'))) await compile('cjs', snippets)
  }, 120_000)

  for (const snippet of snippets.filter((s) => s.isApp)) {
    for (const flavour of ['esm', 'cjs'] as const) {
      it(`${snippet.readme}:${snippet.line} (${flavour})`, async (context) => {
        const port = await freePort()
        const env = appEnv(snippet, port)
        if (typeof env === 'string') {
          context.skip(env)
          return
        }
        const file =
          flavour === 'esm'
            ? join(projectDir('esm'), `${snippet.name}.ts`)
            : join(projectDir('cjs'), 'out', `${snippet.name}.cjs`)
        const base = await startApp(file, env, port)
        // Every README app counts the visits of its session.
        const bodies = await visit(base, 3)
        expect(bodies.map((body) => /^(\d+) \D*(\d+)/.exec(body)?.slice(1))).toEqual([
          ['200', '1'],
          ['200', '2'],
          ['200', '3'],
        ])
      }, 60_000)
    }
  }
})
