import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { ClauseId, Finding, Level, StoreDialect } from './clause.js'

/** The `--json` report of the runner CLI: the report of `runConformance`, without the errors. */
export interface CliReport {
  dialect: StoreDialect
  frameworks: string[]
  methods: string[]
  results: Array<{
    id: ClauseId
    title: string
    status: 'passed' | 'failed' | 'skipped'
    level?: Level
    reason?: string
    userSees?: string
    findings: Array<Omit<Finding, 'error'>>
    notes: string[]
    durationMs: number
  }>
  passed: number
  failed: number
  recommended: number
  informational: number
  skipped: number
  strict: boolean
  ok: boolean
}

/**
 * Runs the `session-store-conformance` CLI in a child process on a store module, as a store
 * author's CI would, and resolves its JSON report and exit code. Rejects when the CLI printed
 * no report.
 */
export function runConformanceCli(
  module: string | URL,
  options: { env?: Record<string, string>; args?: string[]; timeoutMs?: number } = {},
): Promise<{ code: number; report: CliReport }> {
  const cli = fileURLToPath(new URL('./cli.js', import.meta.url))
  const path = module instanceof URL ? fileURLToPath(module) : module
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [cli, path, ...(options.args ?? []), '--json'],
      { env: { ...process.env, ...options.env }, timeout: options.timeoutMs ?? 240_000, maxBuffer: 64 << 20 },
      (error, stdout, stderr) => {
        const code = error ? Number(error.code ?? 1) : 0
        try {
          resolve({ code, report: JSON.parse(stdout) as CliReport })
        } catch {
          reject(
            new Error(`the runner printed no JSON report (exit ${code}): ${stderr || stdout}`.slice(0, 2000)),
          )
        }
      },
    )
  })
}
