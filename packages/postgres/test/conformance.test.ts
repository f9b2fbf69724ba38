import { runConformanceCli } from '@session-store/conformance'
import { server, skipReason } from '@session-store/conformance/harness'
import { describeConformance } from '@session-store/conformance/vitest'
import { describe, expect, it } from 'vitest'
import { postgresTarget } from './target.js'

const found = server('postgres')

if (found) {
  describeConformance('postgres', () => postgresTarget(found.url))

  it('passes every clause through the runner CLI too', async () => {
    const target = new URL('./target.ts', import.meta.url)
    const { code, report } = await runConformanceCli(target, { env: { POSTGRES_URL: found.url } })
    expect(report.results.filter((r) => r.status !== 'passed')).toEqual([])
    expect(code).toBe(0)
  }, 240_000)
} else {
  describe('conformance: postgres', () => {
    it.skip(`no PostgreSQL server in this run: ${skipReason('postgres')}`)
  })
}
