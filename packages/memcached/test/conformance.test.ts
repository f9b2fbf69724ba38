import { runConformanceCli } from '@session-store/conformance'
import { server, skipReason } from '@session-store/conformance/harness'
import { describeConformance } from '@session-store/conformance/vitest'
import { describe, expect, it } from 'vitest'
import { memcachedTarget } from './target.js'

const found = server('memcached')

if (found) {
  const address = `${found.nodes[0]?.host ?? found.host}:${found.nodes[0]?.port ?? found.port}`
  describeConformance('memcached', () => memcachedTarget(address))

  it('passes every clause it can run through the runner CLI too', async () => {
    const target = new URL('./target.ts', import.meta.url)
    const { code, report } = await runConformanceCli(target, { env: { MEMCACHED_SERVERS: address } })
    const notPassed = report.results.filter((r) => r.status !== 'passed').map((r) => `${r.id} ${r.status}`)
    expect(notPassed).toEqual(['C9 skipped'])
    expect(code).toBe(0)
  }, 240_000)
} else {
  describe('conformance: memcached', () => {
    it.skip(`no memcached server in this run: ${skipReason('memcached')}`)
  })
}
