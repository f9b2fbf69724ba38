import { runConformanceCli } from '@session-store/conformance'
import { server, skipReason } from '@session-store/conformance/harness'
import { describeConformance } from '@session-store/conformance/vitest'
import { describe, expect, it } from 'vitest'
import { NO_OUTAGE, sqliteTarget } from './target.js'

const found = server('sqlite')

if (found) {
  describeConformance('sqlite', () => sqliteTarget(found.url))

  it('passes every clause through the runner CLI too, C13 skipped with its reason', async () => {
    const target = new URL('./target.ts', import.meta.url)
    const { code, report } = await runConformanceCli(target)
    expect(report.results.filter((r) => r.status !== 'passed')).toEqual([
      expect.objectContaining({ id: 'C13', status: 'skipped', reason: NO_OUTAGE }),
    ])
    expect(code).toBe(0)
  }, 240_000)
} else {
  describe('conformance: sqlite', () => {
    it.skip(`no node:sqlite in this run: ${skipReason('sqlite')}`)
  })
}
