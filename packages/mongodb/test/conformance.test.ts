import { runConformanceCli } from '@session-store/conformance'
import { server, skipReason } from '@session-store/conformance/harness'
import { describeConformance } from '@session-store/conformance/vitest'
import { describe, expect, it } from 'vitest'
import { mongoTarget } from './target.js'

const found = server('mongodb')

describe.skipIf(!found)(found ? 'mongodb' : `mongodb (skipped: ${skipReason('mongodb')})`, () => {
  describeConformance('mongodb', () => mongoTarget(found!.url))

  it('passes every clause through the runner CLI too', async () => {
    const target = new URL('./target.ts', import.meta.url)
    const { code, report } = await runConformanceCli(target, { env: { MONGO_URL: found!.url } })
    expect(report.results.filter((r) => r.status !== 'passed')).toEqual([])
    expect(code).toBe(0)
  }, 240_000)
})
