import { execFile, execFileSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'

const run = promisify(execFile)
const repo = fileURLToPath(new URL('../..', import.meta.url))

describe('packaging', () => {
  it('core and the dialects can be required from CommonJS on this Node', () => {
    const script = fileURLToPath(new URL('./require-packages.cjs', import.meta.url))
    // A clean environment: nothing but Node's own resolution finds the packages.
    const out = execFileSync(process.execPath, [script], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH },
    })
    expect(out.trim()).toBe('ok')
  })

  // The runner as a store author installs it: the packed packages, installed by npm into a
  // project of its own, with nothing else. No testcontainers, no framework comes with it; the
  // dialects whose framework is missing are skipped, saying how to get it.
  const project = mkdtempSync(join(tmpdir(), 'session-store-runner-install-'))
  afterAll(() => rmSync(project, { recursive: true, force: true }))
  it('installs without testcontainers or a framework, and runs on a store of the author', async () => {
    const packed = join(project, 'packed')
    for (const dir of ['packages/core', 'packages/express', 'packages/koa', 'conformance']) {
      await run('pnpm', ['pack', '--pack-destination', packed], { cwd: join(repo, dir) })
    }
    const tarballs = readdirSync(packed).map((name) => join(packed, name))
    expect(tarballs).toHaveLength(4)
    writeFileSync(
      join(project, 'package.json'),
      JSON.stringify({ name: 'author', private: true, type: 'module' }),
    )
    // --offline: the packages need nothing from the registry.
    await run('npm', ['install', '--offline', '--no-audit', '--no-fund', ...tarballs], {
      cwd: project,
      timeout: 120_000,
    })
    expect(readdirSync(join(project, 'node_modules')).filter((name) => !name.startsWith('.'))).toEqual([
      '@session-store',
    ])
    const manifest = JSON.parse(
      readFileSync(join(project, 'node_modules/@session-store/conformance/package.json'), 'utf8'),
    )
    expect(Object.keys(manifest.dependencies).sort()).toEqual([
      '@session-store/core',
      '@session-store/express',
      '@session-store/koa',
    ])
    // A store as express-session's README describes one, on an EventEmitter.
    writeFileSync(
      join(project, 'store.mjs'),
      `import { EventEmitter } from 'node:events'
class MapStore extends EventEmitter {
  sessions = new Map()
  get(sid, cb) { const json = this.sessions.get(sid); cb(null, json === undefined ? null : JSON.parse(json)) }
  set(sid, sess, cb) { this.sessions.set(sid, JSON.stringify(sess)); cb?.() }
  destroy(sid, cb) { this.sessions.delete(sid); cb?.() }
}
export default () => new MapStore()
`,
    )
    const cli = join(project, 'node_modules/.bin/session-store-conformance')
    // A clean environment: pnpm's NODE_PATH would let the runner find this repository's frameworks.
    const { stdout } = await run(process.execPath, [cli, './store.mjs', '--json', '--only', 'C1,C2,C15'], {
      cwd: project,
      env: { PATH: process.env.PATH },
      timeout: 120_000,
    }).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }))
    const report = JSON.parse(stdout) as {
      results: Array<{ id: string; title: string; status: string; reason?: string }>
    }
    const byTitle = Object.fromEntries(report.results.map((r) => [`${r.id} ${r.title}`, r]))
    expect(byTitle['C1 round-trip']?.status).toBe('passed')
    expect(byTitle['C2 missing']?.status).toBe('passed')
    expect(byTitle['C15 dialects: express-session']).toMatchObject({
      status: 'skipped',
      reason: expect.stringContaining('express is not installed'),
    })
  }, 180_000)
})
