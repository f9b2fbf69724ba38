import { describe, expect, it } from 'vitest'
import { runClause } from '../src/engine.js'
import { allClauses } from '../src/suite.js'
import { brokenStores } from './fixtures.js'

// The suite's own proof: every broken store fails exactly the clauses it breaks, and passes
// (or is skipped on) all the others.
describe.concurrent('the suite catches broken stores', () => {
  for (const broken of brokenStores) {
    it(`${broken.name}: fails ${broken.fails.join(', ')} and nothing else`, async () => {
      const target = broken.target()
      // One clause at a time: C13 takes the whole target's backend down.
      const results = []
      for (const clause of allClauses) results.push(await runClause(clause, target))
      await target.close?.()
      const failed = [...new Set(results.filter((r) => r.status === 'failed').map((r) => r.id))]
      const reasons = results.filter((r) => r.status === 'failed').map((r) => `${r.id}: ${r.reason}`)
      expect(failed, reasons.join('\n')).toEqual(broken.fails)
    }, 120_000)
  }
})
