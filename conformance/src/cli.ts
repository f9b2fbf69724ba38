#!/usr/bin/env node
import { writeSync } from 'node:fs'
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import type { ClauseId, StoreDialect } from './clause.js'
import type { ClauseResult } from './engine.js'
import { explain } from './explain.js'
import { type ConformanceReport, runConformance, type StoreModule, summarize } from './runner.js'

const usage = `usage: session-store-conformance <module> [--export name] [--only C1,C7] [--skip C13] [--strict] [--json] [--timeout ms] [--explain C7]

<module> exports (as default, or as --export) a factory ({ prefix }) => store, or an object
{ create, cleanup?, capabilities?, outage?: { stop, start }, plantCorrupt?, close? }. The store
may speak express-session's callbacks, Koa's promises, or the session-store contract.

The exit status is 1 when a required part fails (what a user of the framework would see),
and with --strict when a recommended one fails too; 2 on a usage error. --explain C7 runs
that clause, says what a user would see, and prints a reproduction through the framework.`

/** What has been reported so far, for the report printed should the run stop early. */
const progress: {
  json: boolean
  results: ClauseResult[]
  dialect: StoreDialect
  strict: boolean
  printed: boolean
} = {
  json: false,
  results: [],
  dialect: 'express',
  strict: false,
  printed: false,
}

/** The command: load the module, run the clauses, print the report, exit by the verdict. */
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
  let module: StoreModule
  let only: ClauseId[] | undefined
  let skip: ClauseId[] | undefined
  let explained: ClauseId | undefined
  let timeout: number | undefined
  try {
    const modulePath = resolve(positionals[0]!)
    const loaded = (await import(pathToFileURL(modulePath).href)) as Record<string, unknown>
    const exported = loaded[values.export ?? 'default'] ?? (values.export ? undefined : loaded)
    module = toStoreModule(exported, values.export ?? 'default')
    only = values.only ? clauseList(values.only) : undefined
    skip = values.skip ? clauseList(values.skip) : undefined
    explained = values.explain ? clauseList(values.explain)[0] : undefined
    timeout = values.timeout === undefined ? undefined : Number(values.timeout)
    if (timeout !== undefined && !(timeout > 0))
      throw new TypeError('--timeout must be a positive number of ms')
  } catch (err) {
    process.stderr.write(`session-store-conformance: ${err instanceof Error ? err.message : String(err)}\n`)
    return 2
  }

  const json = values.json === true
  const strict = values.strict === true
  progress.json = json
  progress.strict = strict
  if (!json) process.stdout.write(`session-store conformance: ${positionals[0]}\n`)
  const report = await runConformance({
    ...module,
    ...(explained ? { only: [explained] } : only ? { only } : {}),
    ...(skip ? { skip } : {}),
    ...(timeout ? { timeout } : {}),
    strict,
    onResult: (result) => {
      progress.results.push(result)
      if (!json && !explained) process.stdout.write(`${row(result)}\n`)
    },
  })
  progress.printed = true
  if (explained) {
    process.stdout.write(explain(explained, report, positionals[0]!))
  } else {
    process.stdout.write(json ? `${JSON.stringify(toJson(report), null, 2)}\n` : summary(report))
  }
  return report.ok ? 0 : 1
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
      strict: { type: 'boolean' },
      explain: { type: 'string' },
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

/** The mark of a result: a failure is marked by the level it weighs. */
export function mark(result: ClauseResult): string {
  if (result.status === 'passed') return 'pass'
  if (result.status === 'skipped') return 'skip'
  return result.level === 'required' ? 'FAIL' : result.level === 'recommended' ? 'warn' : 'info'
}

function row(result: ClauseResult): string {
  const name = `${result.id} ${result.title}`.padEnd(38)
  const time = `${result.durationMs} ms`.padStart(9)
  const reason = result.reason ? `  ${result.reason}` : ''
  const lines = [`  ${mark(result)}  ${name}${time}${reason}`]
  if (result.userSees) lines.push(`        a user sees: ${result.userSees}`)
  for (const note of result.notes) lines.push(`        ${note}`)
  return lines.join('\n')
}

function summary(report: ConformanceReport): string {
  const names = {
    express: "express-session's callbacks",
    koa: "Koa's promises",
    contract: 'the session-store contract',
  }
  const found = [
    `dialect: ${names[report.dialect]} (judged in ${report.frameworks.join(', ')})`,
    `optional methods: ${report.methods.join(', ') || 'none'}`,
    `enumeration: ${report.capabilities.enumeration ? 'yes' : 'no'}`,
    `ttl granularity: ${report.capabilities.ttlGranularityMs} ms`,
  ]
  const levels = `required: ${report.failed === 0 ? 'pass' : 'FAIL'}; recommended: ${report.recommended === 0 ? 'pass' : `${report.recommended} warned`}${report.informational ? `; informational: ${report.informational}` : ''}${report.strict ? ' (--strict: recommended counts)' : ''}`
  return `${found.join('; ')}\n${levels}\n${countLine(report)}\n`
}

/** The closing line: `N passed, N failed, N skipped`, where failed counts what decides the exit status. */
function countLine(report: ConformanceReport): string {
  const failed = report.failed + (report.strict ? report.recommended : 0)
  const passed = report.results.length - failed - report.skipped
  return `${passed} passed, ${failed} failed, ${report.skipped} skipped`
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
    results: report.results.map(({ error: _error, findings, ...result }) => ({
      ...result,
      findings: findings.map(({ error: _e, ...finding }) => finding),
    })),
  }
}

/**
 * Should the process end before the report is out (the event loop drained on a promise that
 * never settles, or a store called process.exit), the report of what ran is printed anyway,
 * synchronously, with the run marked as failed.
 */
process.on('exit', (code) => {
  if (progress.printed) return
  progress.printed = true
  const stopped = {
    id: 'C15' as ClauseId,
    title: 'the run stopped early',
    status: 'failed' as const,
    level: 'required' as const,
    reason: 'the run stopped before every clause had finished: the process was about to exit',
    userSees: "the app's process ends",
    findings: [],
    notes: [],
    durationMs: 0,
  }
  const report = summarize(
    progress.dialect,
    [],
    { enumeration: false, ttlGranularityMs: 1000, maxValueBytes: 0 },
    [...progress.results, stopped],
    progress.strict,
  )
  writeSync(
    1,
    progress.json ? `${JSON.stringify(toJson(report), null, 2)}\n` : `${row(stopped)}\n${summary(report)}`,
  )
  process.exitCode = code === 0 ? 1 : code
})

// Exit explicitly once the report is out: a store that leaks a connection or a timer must not
// keep the runner alive.
main(process.argv.slice(2)).then(
  (code) => {
    process.stdout.write('', () => process.exit(code))
  },
  (err: unknown) => {
    progress.printed = true
    process.stderr.write(
      `session-store-conformance: ${err instanceof Error ? err.message : String(err)}\n`,
      () => process.exit(2),
    )
  },
)
