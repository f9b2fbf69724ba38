// @ts-check
// `pnpm bench [--quick] [--only=redis,mysql,...] [--sections=store,e2e,memory,enumeration] [--out=FILE]`
// `pnpm bench --render=bench/RESULTS.json` rewrites RESULTS.md from the numbers of that run.
//
// Starts private servers (or uses REDIS_URL, MEMCACHED_SERVERS, MYSQL_URL, POSTGRES_URL,
// MONGO_URL), runs every section, prints the ratio table with the targets and writes
// bench/RESULTS.md and RESULTS.json (a full run of every section) or bench/RESULTS.quick.md and
// .json (anything less).

import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import os from 'node:os'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import Memcached from 'memcached'
import mysql from 'mysql2/promise'
import pg from 'pg'
import { runEndToEnd } from './end-to-end.js'
import { childHosts } from './hosts.js'
import { consoleReport, markdown, verdicts } from './report.js'
import { startServers } from './servers.js'
import { runStoreLevel } from './store-level.js'
import { allSubjects, versionOf } from './subjects.js'
import { inWorker } from './worker-client.js'

/**
 * @typedef {import('./report.js').Run} Run
 * @typedef {import('./report.js').EnumerationResult} EnumerationResult
 * @typedef {import('./subjects.js').Subject} Subject
 * @typedef {import('./subjects.js').ServerUrls} ServerUrls
 */

const ALL_BACKENDS = ['memory', 'redis', 'memcached', 'mysql', 'postgres', 'mongodb', 'sqlite']
const ALL_SECTIONS = ['store', 'e2e', 'memory', 'enumeration']

/**
 * The knobs of a run. --quick keeps every workload and subject but shortens each run so the
 * whole thing takes under two minutes; its numbers are noisier.
 */
const SETTINGS = {
  full: {
    storeSeconds: 0.1,
    storeWarmup: 0.1,
    repeats: 9,
    minOpsPerWorker: 20,
    collectBetweenRuns: false,
    e2eSeconds: 1,
    e2eWarmup: 0.5,
    e2eRepeats: 6,
    memoryOps: 1_000_000,
    enumerationCount: 100_000,
    enumerationRepeats: 3,
  },
  quick: {
    storeSeconds: 0.05,
    storeWarmup: 0.02,
    repeats: 3,
    minOpsPerWorker: 5,
    collectBetweenRuns: false,
    e2eSeconds: 0.3,
    e2eWarmup: 0.1,
    e2eRepeats: 3,
    memoryOps: 100_000,
    enumerationCount: 20_000,
    enumerationRepeats: 1,
  },
}

const VIRTUAL_USERS = 64
const CONCURRENCIES = [1, 64]

/** Command-line options; `--` separators (from `pnpm bench -- --quick`) are ignored. */
function parseArgs(/** @type {string[]} */ argv) {
  const args = argv.filter((a) => a !== '--')
  const value = (/** @type {string} */ name) => args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1]
  const list = (/** @type {string} */ name, /** @type {string[]} */ all) => {
    const given = value(name)?.split(',').filter(Boolean)
    const unknown = given?.filter((item) => !all.includes(item)) ?? []
    if (unknown.length) throw new Error(`--${name}: unknown ${unknown.join(', ')} (known: ${all.join(', ')})`)
    return given ?? all
  }
  for (const arg of args) {
    if (!/^--(quick|only=.*|sections=.*|out=.*|render=.*)$/.test(arg))
      throw new Error(`unknown argument ${arg}`)
  }
  const backends = list('only', ALL_BACKENDS)
  const sections = list('sections', ALL_SECTIONS)
  const quick = args.includes('--quick')
  const complete =
    !quick && backends.length === ALL_BACKENDS.length && sections.length === ALL_SECTIONS.length
  const benchDir = fileURLToPath(new URL('..', import.meta.url))
  const out = value('out') ?? `${benchDir}${complete ? 'RESULTS.md' : 'RESULTS.quick.md'}`
  return { quick, backends, sections, out, render: value('render') }
}

/**
 * The version each server reports, appended to its description.
 * @param {ServerUrls} urls
 * @param {Record<string, string>} descriptions
 */
async function describeServers(urls, descriptions) {
  const out = { ...descriptions }
  if (urls.redis) {
    const client = new Redis(urls.redis)
    try {
      const info = await client.info('server')
      out.redis = `redis-server ${/redis_version:(\S+)/.exec(info)?.[1]}, ${descriptions.redis}`
    } finally {
      client.disconnect()
    }
  }
  if (urls.memcached) {
    const client = new Memcached(urls.memcached.split(','))
    const version = await new Promise((resolve) =>
      client.version((/** @type {unknown} */ err, /** @type {any} */ data) =>
        resolve(err ? 'unknown' : /** @type {any} */ (data)?.[0]?.version),
      ),
    )
    client.end()
    out.memcached = `memcached ${version}, ${descriptions.memcached}`
  }
  if (urls.mysql) {
    const connection = await mysql.createConnection(urls.mysql)
    try {
      const [rows] = await connection.query('SELECT VERSION() AS version')
      out.mysql = `${/** @type {any} */ (rows)[0].version}, ${descriptions.mysql}`
    } finally {
      await connection.end()
    }
  }
  if (urls.postgres) {
    const client = new pg.Client({ connectionString: urls.postgres })
    await client.connect()
    try {
      const { rows } = await client.query('SHOW server_version')
      out.postgres = `PostgreSQL ${rows[0].server_version}, ${descriptions.postgres}`
    } finally {
      await client.end()
    }
  }
  return out
}

/**
 * Formats written files the way the repository's `pnpm lint` expects (Biome aligns Markdown
 * tables and wraps JSON), with the workspace's own Biome; skipped where there is none.
 * @param {string[]} files
 */
function formatWithBiome(files) {
  const biome = fileURLToPath(new URL('../../node_modules/.bin/biome', import.meta.url))
  if (!existsSync(biome)) return
  const result = spawnSync(biome, ['format', '--write', ...files], { encoding: 'utf8' })
  if (result.status !== 0) console.warn(`biome could not format ${files.join(', ')}: ${result.stderr.trim()}`)
}

/**
 * The analysis of the misses, kept once in bench/README.md ("What the misses come from"), for
 * RESULTS.md to carry next to the table of misses; undefined when the section is not there.
 */
async function missAnalysis() {
  const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8').catch(() => '')
  const match = /^## What the misses come from\n([\s\S]*?)(?=^## |(?![\s\S]))/m.exec(readme)
  return match?.[1]?.trim()
}

async function main() {
  const { quick, backends, sections, out, render } = parseArgs(process.argv.slice(2))
  if (render) {
    // Rewrite the Markdown of an earlier run from its JSON, measuring nothing.
    const run = /** @type {Run} */ (JSON.parse(await readFile(render, 'utf8')))
    const rendered = render.replace(/\.json$/, '.md')
    await writeFile(rendered, markdown(run, verdicts(run), await missAnalysis()))
    formatWithBiome([rendered])
    return
  }
  const settings = quick ? SETTINGS.quick : SETTINGS.full
  const started = Date.now()
  const log = (/** @type {string} */ line) => console.log(line)
  let sectionStart = Date.now()
  const sectionDone = () => {
    log(`  (${((Date.now() - sectionStart) / 1000).toFixed(0)} s)`)
    sectionStart = Date.now()
  }
  const loadBefore = os.loadavg()
  log(
    `session-store benchmarks (${quick ? 'quick' : 'full'}): ${backends.join(', ')}; sections ${sections.join(', ')}`,
  )
  log('servers:')
  const servers = await startServers({ backends, log })
  try {
    const subjectsByBackend = await allSubjects(servers.urls)
    const active = backends.filter((b) => subjectsByBackend[b])
    // Every subject runs in a process of its own (see host.js).
    const hosts = childHosts(servers.urls)
    /** @type {Run} */
    const run = {
      machine: {
        date: new Date().toISOString(),
        mode: quick ? 'quick' : 'full',
        command: process.argv.slice(2).join(' '),
        cpus: os.cpus()[0]?.model ?? 'unknown',
        cores: os.cpus().length,
        memory: `${Math.round(os.totalmem() / 1024 ** 3)} GB`,
        node: process.version,
        os: `${os.type()} ${os.release()} ${os.arch()}`,
        loadBefore,
        loadAfter: [],
        minutes: 0,
      },
      servers: await describeServers(servers.urls, servers.descriptions),
      subjects: active.flatMap((b) =>
        (subjectsByBackend[b] ?? []).map((s) => ({
          name: s.name,
          backend: s.backend,
          role: s.role,
          package: s.package,
          version: s.unavailable ? `not available: ${s.unavailable}` : versionOf(s.package),
        })),
      ),
      storeLevel: [],
      endToEnd: [],
      memory: [],
      enumeration: [],
      settings: {
        seconds: settings.storeSeconds,
        repeats: settings.repeats,
        e2eSeconds: settings.e2eSeconds,
        e2eRepeats: settings.e2eRepeats,
        memoryOps: settings.memoryOps,
        enumerationCount: settings.enumerationCount,
      },
    }
    for (const skipped of backends.filter((b) => !subjectsByBackend[b])) {
      log(`${skipped}: ${servers.descriptions[skipped] ?? 'skipped'}`)
    }

    sectionDone()
    if (sections.includes('store')) {
      log('store level:')
      for (const backend of active) {
        run.storeLevel.push(
          ...(await runStoreLevel(backend, subjectsByBackend[backend] ?? [], {
            repeats: settings.repeats,
            seconds: settings.storeSeconds,
            warmupSeconds: settings.storeWarmup,
            concurrencies: CONCURRENCIES,
            minOpsPerWorker: settings.minOpsPerWorker,
            collectBetweenRuns: settings.collectBetweenRuns,
            hosts,
            log,
          })),
        )
      }
      sectionDone()
    }

    if (sections.includes('e2e')) {
      log('end to end:')
      for (const backend of active) {
        const subjects = subjectsByBackend[backend] ?? []
        const ours = subjects.find((s) => s.role === 'ours')
        // The alternatives, and a reference to show next to them (our MemoryStore, for SQLite).
        const alternatives = subjects.filter((s) => s.role === 'alt' || s.role === 'reference')
        if (!ours) continue
        const common = {
          backend,
          users: VIRTUAL_USERS,
          repeats: settings.e2eRepeats,
          seconds: settings.e2eSeconds,
          warmupSeconds: settings.e2eWarmup,
          collectBetweenRuns: settings.collectBetweenRuns,
          hosts,
          log,
        }
        run.endToEnd.push(
          await runEndToEnd({
            ...common,
            framework: 'express',
            variants: [
              { name: 'ours', subject: ours },
              { name: 'ours touchAfter', subject: ours, options: { touchAfter: 60 } },
              ...alternatives.map((subject) => ({ name: subject.name, subject })),
            ],
          }),
        )
        if (backend === 'redis' || backend === 'memcached') {
          run.endToEnd.push(
            await runEndToEnd({
              ...common,
              framework: 'koa',
              variants: [
                { name: 'ours', subject: ours },
                ...alternatives.map((subject) => ({ name: subject.name, subject })),
              ],
            }),
          )
        }
      }
      sectionDone()
    }

    if (sections.includes('memory')) {
      log(`memory (${settings.memoryOps.toLocaleString('en')} operations per store):`)
      for (const backend of active) {
        const result = /** @type {any} */ (
          await inWorker({
            mode: 'memory',
            backend,
            urls: servers.urls,
            ops: settings.memoryOps,
            concurrency: 64,
          })
        )
        run.memory.push({ backend, ...result, skipped: result.skipped ?? result.failed })
        const points = result.checkpoints
        log(
          points
            ? `  ${backend}: heap ${(points[0].heapUsed / 2 ** 20).toFixed(1)} -> ${(points.at(-1).heapUsed / 2 ** 20).toFixed(1)} MB in ${result.seconds.toFixed(1)} s`
            : `  ${backend}: ${result.skipped ?? result.failed}`,
        )
      }
      sectionDone()
    }

    if (sections.includes('enumeration')) {
      log('enumeration:')
      for (const backend of /** @type {const} */ (['redis', 'mysql'])) {
        if (!active.includes(backend)) continue
        const altName = backend === 'redis' ? 'connect-redis' : 'express-mysql-session'
        for (const count of [settings.enumerationCount / 10, settings.enumerationCount]) {
          /** @type {Record<string, EnumerationResult>} */
          const results = {
            ours: { backend, subject: 'ours', role: 'ours', count, operations: {} },
            alt: { backend, subject: altName, role: 'alt', count, operations: {} },
          }
          for (let round = 0; round < settings.enumerationRepeats; round++) {
            /** @type {Array<'ours' | 'alt'>} */
            const order = round % 2 ? ['alt', 'ours'] : ['ours', 'alt']
            for (const subject of order) {
              const result = /** @type {any} */ (
                await inWorker({ mode: 'enumeration', backend, subject, urls: servers.urls, count })
              )
              const entry = /** @type {EnumerationResult} */ (results[subject])
              if (result.failed) entry.failed = result.failed
              else {
                for (const [operation, measurement] of Object.entries(result.operations)) {
                  const runs = entry.operations[operation] ?? []
                  runs.push(measurement)
                  entry.operations[operation] = runs
                }
              }
            }
          }
          for (const entry of Object.values(results)) {
            run.enumeration.push(entry)
            log(
              `  ${backend} ${entry.subject} ${count}: ${
                entry.failed ??
                Object.entries(entry.operations)
                  .map(([op, runs]) => {
                    const first = /** @type {any} */ (runs[0])
                    return first.skipped
                      ? `${op} n/a`
                      : `${op} ${first.ms.toFixed(0)} ms / ${(first.peakBytes / 2 ** 20).toFixed(1)} MB`
                  })
                  .join(', ')
              }`,
            )
          }
        }
      }
      sectionDone()
    }

    run.machine.loadAfter = os.loadavg()
    run.machine.minutes = (Date.now() - started) / 60_000
    const list = verdicts(run)
    log('')
    log(consoleReport(run, list))
    await writeFile(out, markdown(run, list, await missAnalysis()))
    // Every number of the run, for other tools (and `--render` to rewrite the Markdown).
    const json = out.replace(/\.md$/, '.json')
    await writeFile(json, `${JSON.stringify(run, null, 2)}\n`)
    formatWithBiome([out, json])
    log(`\nwrote ${out} (${run.machine.minutes.toFixed(1)} min)`)
  } finally {
    await servers.close()
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error)
    process.exit(1)
  },
)
