#!/usr/bin/env node
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import type { ClauseId } from './clause.js'
import type { ClauseResult } from './engine.js'
import { type ConformanceReport, runConformance, type StoreModule } from './runner.js'

const usage = `usage: session-store-conformance <module> [--export name] [--only C1,C7] [--skip C13] [--json] [--timeout ms]

<module> exports (as default, or as --export) a factory ({ prefix }) => store, or an object
{ create, cleanup?, capabilities?, outage?: { stop, start }, close? }. The store may speak
express-session's callbacks, Koa's promises, or the session-store contract.`

/** The command: load the module, run every clause, print the report, exit 1 on a failure. */
async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>
  try {
    parsed = parse(argv)
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${usage}\n`)
    return 2
  }
  const { values, positionals } = parsed
  if (values.help || positionals.length !== 1) {
    process.stderr.write(`${usage}\n`)
    return values.help ? 0 : 2
  }
  const modulePath = resolve(positionals[0]!)
  const loaded = (await import(pathToFileURL(modulePath).href)) as Record<string, unknown>
  const exported = loaded[values.export ?? 'default'] ?? (values.export ? undefined : loaded)
  const module = toStoreModule(exported, values.export ?? 'default')
  const timeout = values.timeout === undefined ? undefined : Number(values.timeout)
  if (timeout !== undefined && !(timeout > 0))
    throw new TypeError(`--timeout must be a positive number of ms`)

  const json = values.json === true
  if (!json) process.stdout.write(`session-store conformance: ${positionals[0]}\n`)
  const report = await runConformance({
    ...module,
    ...(values.only ? { only: clauseList(values.only) } : {}),
    ...(values.skip ? { skip: clauseList(values.skip) } : {}),
    ...(timeout ? { timeout } : {}),
    onResult: json ? undefined : (result) => process.stdout.write(`${row(result)}\n`),
  })
  process.stdout.write(json ? `${JSON.stringify(toJson(report), null, 2)}\n` : summary(report))
  return report.failed > 0 ? 1 : 0
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      export: { type: 'string' },
      only: { type: 'string' },
      skip: { type: 'string' },
      json: { type: 'boolean' },
      timeout: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
}

function toStoreModule(exported: unknown, name: string): StoreModule {
  if (typeof exported === 'function') return { create: exported as StoreModule['create'] }
  if (exported && typeof (exported as StoreModule).create === 'function') return exported as StoreModule
  throw new TypeError(`the module's "${name}" export is neither a store factory nor an object with create()`)
}

function clauseList(text: string): ClauseId[] {
  return text.split(',').map((id) => {
    const clean = id.trim().toUpperCase()
    if (!/^C([1-9]|1[0-5])$/.test(clean)) throw new TypeError(`unknown clause "${id}" (C1-C15)`)
    return clean as ClauseId
  })
}

const marks = { passed: 'pass', failed: 'FAIL', skipped: 'skip' } as const

function row(result: ClauseResult): string {
  const name = `${result.id} ${result.title}`.padEnd(36)
  const time = `${result.durationMs} ms`.padStart(9)
  const reason = result.reason ? `  ${result.reason}` : ''
  return `  ${marks[result.status]}  ${name}${time}${reason}`
}

function summary(report: ConformanceReport): string {
  const found = [
    `dialect: ${report.dialect === 'express' ? "express-session's callbacks" : 'promises (contract / Koa)'}`,
    `optional methods: ${report.methods.join(', ') || 'none'}`,
    `enumeration: ${report.capabilities.enumeration ? 'yes' : 'no'}`,
    `ttl granularity: ${report.capabilities.ttlGranularityMs} ms`,
  ]
  return `${found.join('; ')}\n${report.passed} passed, ${report.failed} failed, ${report.skipped} skipped\n`
}

function toJson(report: ConformanceReport) {
  return {
    ...report,
    capabilities: {
      ...report.capabilities,
      // JSON has no Infinity.
      maxValueBytes: Number.isFinite(report.capabilities.maxValueBytes)
        ? report.capabilities.maxValueBytes
        : null,
    },
    results: report.results.map(({ error: _error, ...result }) => result),
  }
}

// Should the event loop drain before the report is out (a store promise that never settles,
// with nothing left to wake it), the run must not pass for an empty one.
let reported = false
process.on('exit', (code) => {
  if (reported) return
  process.stderr.write('session-store-conformance: the run stopped early: a store operation never settled\n')
  process.exitCode = code === 0 ? 2 : code
})

// Exit explicitly once the report is out: a store that leaks a connection or a timer must not
// keep the runner alive.
main(process.argv.slice(2)).then(
  (code) => {
    reported = true
    process.stdout.write('', () => process.exit(code))
  },
  (err: unknown) => {
    reported = true
    process.stderr.write(
      `session-store-conformance: ${err instanceof Error ? err.message : String(err)}\n`,
      () => process.exit(2),
    )
  },
)
