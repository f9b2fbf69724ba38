import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

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
})
