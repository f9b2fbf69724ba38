// A smoke test of the benchmark machinery: one tiny workload per subject that has a server in
// this run, checking the shape of what comes back (never its speed), plus the checks that make
// a broken subject fail instead of looking fast.

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { server } from '@session-store/conformance/harness'
import { afterAll, describe, expect, it } from 'vitest'
import { runEndToEnd } from '../src/end-to-end.js'
import { childHosts } from '../src/hosts.js'
import type { Summary } from '../src/measure.js'
import { markdown, verdicts } from '../src/report.js'
import { runStoreLevel } from '../src/store-level.js'
import { allSubjects, type ServerUrls, type Subject } from '../src/subjects.js'
import { inWorker } from '../src/worker-client.js'
import { WORKLOADS } from '../src/workloads.js'

const urls: ServerUrls = {
  redis: server('redis')?.url,
  memcached: server('memcached')
    ?.nodes.map(({ host, port }) => `${host}:${port}`)
    .join(','),
  mysql: server('mysql')?.url,
  postgres: server('postgres')?.url,
  mongodb: server('mongodb')?.url,
  // No server: a directory of this file's own for the SQLite subjects' files.
  sqlite: server('sqlite') ? mkdtempSync(join(tmpdir(), 'session-store-bench-test-sqlite-')) : undefined,
}
afterAll(() => {
  if (urls.sqlite) rmSync(urls.sqlite, { recursive: true, force: true })
})

// Every subject in a process of its own, as in `pnpm bench`.
const hosts = childHosts(urls)

const tiny = {
  hosts,
  repeats: 3,
  seconds: 0.01,
  warmupSeconds: 0.005,
  concurrencies: [4],
  minOpsPerWorker: 3,
  collectBetweenRuns: false,
  log: () => {},
}

const someWorkloads = WORKLOADS.filter((w) => w.id === 'get-hit' || w.id === 'touch')

function expectSummary(value: unknown, repeats: number): asserts value is Summary {
  expect(value).not.toHaveProperty('skipped')
  const s = value as Summary
  expect(s.errors, s.firstError).toBe(0)
  expect(s.rates).toHaveLength(repeats)
  for (const figure of [s.opsPerSec, s.min, s.max, s.p50, s.p99]) {
    expect(Number.isFinite(figure) && figure > 0).toBe(true)
  }
  expect(s.min).toBeLessThanOrEqual(s.opsPerSec)
  expect(s.opsPerSec).toBeLessThanOrEqual(s.max)
  expect(s.p50).toBeLessThanOrEqual(s.p99)
}

const backends = ['memory', 'redis', 'memcached', 'mysql', 'postgres', 'mongodb', 'sqlite'] as const
const hasServer = (backend: (typeof backends)[number]) => backend === 'memory' || urls[backend] !== undefined

for (const backend of backends) {
  describe.skipIf(!hasServer(backend))(`bench subjects on ${backend}`, () => {
    it('every subject runs a tiny store-level workload through the callback API', async () => {
      const subjects = (await allSubjects(urls))[backend] ?? []
      expect(subjects.map((s) => s.role)).toContain('ours')
      expect(subjects.map((s) => s.role)).toContain('alt')
      const cells = await runStoreLevel(backend, subjects, { ...tiny, workloads: someWorkloads })
      expect(cells).toHaveLength(someWorkloads.length * tiny.concurrencies.length)
      for (const cell of cells) {
        expect(cell.opsPerRun).toBeGreaterThan(0)
        for (const subject of subjects) {
          const result = cell.subjects[subject.name]
          // Only a subject without touch (koa-redis) may skip, and only the touch workload.
          if (cell.workload === 'touch' && subject.name === 'koa-redis') {
            expect(result).toEqual({ skipped: 'no touch method' })
          } else expectSummary(result, tiny.repeats)
        }
      }
      const run = {
        subjects: subjects.map((s) => ({ ...s, version: 'test' })),
        storeLevel: cells,
        endToEnd: [],
        memory: [],
        enumeration: [],
      } as unknown as Parameters<typeof verdicts>[0]
      const list = verdicts(run)
      const ourOverAlternative = list.filter((v) => v.column.startsWith('ours / ') && v.target !== undefined)
      expect(ourOverAlternative.length).toBeGreaterThan(0)
      for (const v of ourOverAlternative) expect(Number.isFinite(v.value)).toBe(true)
    })

    it('the Express app serves 2 users with our store and each alternative', async () => {
      const subjects = (await allSubjects(urls))[backend] ?? []
      const ours = subjects.find((s) => s.role === 'ours')!
      const cell = await runEndToEnd({
        backend,
        framework: 'express',
        variants: [
          { name: 'ours', subject: ours },
          { name: 'ours touchAfter', subject: ours, options: { touchAfter: 60 } },
          ...subjects.filter((s) => s.role === 'alt').map((subject) => ({ name: subject.name, subject })),
        ],
        users: 2,
        repeats: 3,
        seconds: 0.05,
        warmupSeconds: 0.02,
        hosts,
        log: () => {},
      })
      expectSummary(cell.subjects.ours, 3)
      expectSummary(cell.subjects['ours touchAfter'], 3)
    })

    it.skipIf(backend !== 'redis' && backend !== 'memcached')('the Koa app serves 2 users', async () => {
      const subjects = (await allSubjects(urls))[backend] ?? []
      const cell = await runEndToEnd({
        backend,
        framework: 'koa',
        variants: subjects
          .filter((s) => s.role !== 'raw')
          .map((subject) => ({ name: subject.name, subject })),
        users: 2,
        repeats: 3,
        seconds: 0.05,
        warmupSeconds: 0.02,
        hosts,
        log: () => {},
      })
      // Our store and the alternative that works in Koa (koa-redis; connect-memcached promisified).
      expect(Object.keys(cell.subjects).length).toBeGreaterThanOrEqual(2)
      for (const result of Object.values(cell.subjects)) expectSummary(result, 3)
    })

    it('the memory worker reports a checkpoint per tenth of the operations', async () => {
      const result = await inWorker({ mode: 'memory', backend, urls, ops: 400, concurrency: 8 })
      expect(result.failed).toBeUndefined()
      expect(result.errors).toBe(0)
      expect(result.ops).toBe(400)
      expect(result.checkpoints).toHaveLength(10)
      for (const point of result.checkpoints) {
        expect(point.heapUsed).toBeGreaterThan(0)
        expect(point.rss).toBeGreaterThan(point.heapUsed)
      }
    })

    it.skipIf(backend !== 'redis' && backend !== 'mysql')(
      'the enumeration worker sees exactly the sessions it wrote, then none after clear()',
      async () => {
        for (const subject of ['ours', 'alt'] as const) {
          const result = await inWorker({
            mode: 'enumeration',
            backend: backend as 'redis' | 'mysql',
            subject,
            urls,
            count: 150,
          })
          expect(result.failed).toBeUndefined()
          const { ids, length, clear } = result.operations
          if (!ids.skipped) expect(ids.result).toBe(150)
          expect(length.result).toBe(150)
          expect(clear.result).toBe(0)
          for (const op of [length, clear]) {
            expect(op.ms).toBeGreaterThan(0)
            expect(Number.isFinite(op.peakBytes)).toBe(true)
          }
        }
      },
    )
  })
}

describe('bench checks', () => {
  it('a subject whose reads come back empty fails its get-hit workload instead of being timed', async () => {
    const forgetful: Subject = {
      name: 'forgetful',
      backend: 'memory',
      role: 'alt',
      package: 'none',
      async create() {
        const store = {
          get: (_sid: string, cb: (err?: Error | null, value?: unknown) => void) =>
            setImmediate(cb, null, null),
          set: (_sid: string, _s: object, cb: (err?: Error | null) => void) => setImmediate(cb, null),
          destroy: (_sid: string, cb: (err?: Error | null) => void) => setImmediate(cb, null),
        }
        return { store, close: async () => {} }
      },
    }
    // This subject exists only here: it runs in this process.
    const [cell] = await runStoreLevel('memory', [forgetful], {
      ...tiny,
      hosts: undefined,
      workloads: WORKLOADS.filter((w) => w.id === 'get-hit'),
    })
    expect(cell?.subjects.forgetful).toEqual({
      skipped: expect.stringContaining('get of a stored sid read nothing'),
    })
  })
})

describe('RESULTS.md', () => {
  it('carries the analysis of the misses next to their table, when there are misses', async () => {
    const { readFile } = await import('node:fs/promises')
    const run = JSON.parse(await readFile(new URL('../RESULTS.json', import.meta.url), 'utf8'))
    const list = verdicts(run)
    const withAnalysis = markdown(run, list, 'The server is the limit.')
    expect(list.some((v) => v.pass === false)).toBe(true)
    expect(withAnalysis).toMatch(
      /## Targets missed[\s\S]*### Why they are missed[\s\S]*The server is the limit\./,
    )
    expect(markdown(run, list)).not.toContain('### Why they are missed')
  })
})
