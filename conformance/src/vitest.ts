import { afterAll, describe, it } from 'vitest'
import type { Clause, ClauseId, ConformanceTarget } from './clause.js'
import { runClause } from './engine.js'
import { allClauses } from './suite.js'

/** Options of {@link describeConformance}. */
export interface DescribeConformanceOptions {
  /** Run only these clauses. Default: all. */
  only?: ClauseId[]
  /** Leave these clauses out (they are still listed, as skipped). Default: none. */
  skip?: ClauseId[]
  /** The clauses to run. Default: C1-C15. */
  clauses?: Clause[]
  /**
   * Whether a recommended failure fails its test too (our own stores pass both levels). A
   * failure that is only informational (a framework the store does not speak) never does.
   * @default true
   */
  strict?: boolean
}

/**
 * Registers the conformance suite as vitest tests: one test per clause, named
 * `C<n> <title>`, inside `describe('conformance: <name>')`. A clause the store cannot do
 * (by its declared capabilities) is reported as skipped with the reason.
 *
 * `target` may be a function, called once before the first clause, so a test file can set up
 * clients and proxies lazily (and not at all when the backend is skipped).
 *
 * @example
 * describeConformance('memory', { create: ({ prefix }) => new MemoryStore({ prefix }) })
 */
export function describeConformance(
  name: string,
  target: ConformanceTarget | (() => ConformanceTarget | Promise<ConformanceTarget>),
  options: DescribeConformanceOptions = {},
): void {
  const clauses = options.clauses ?? allClauses
  let resolved: Promise<ConformanceTarget> | undefined
  const getTarget = () => {
    resolved ??= Promise.resolve(typeof target === 'function' ? target() : target)
    return resolved
  }
  describe(`conformance: ${name}`, () => {
    afterAll(async () => {
      if (resolved) await (await resolved).close?.()
    })
    for (const clause of clauses) {
      const excluded =
        (options.only !== undefined && !options.only.includes(clause.id)) || options.skip?.includes(clause.id)
      const register = excluded ? it.skip : it
      register(`${clause.id} ${clause.title}`, async (context) => {
        const result = await runClause(clause, await getTarget())
        if (result.status === 'skipped') context.skip(result.reason)
        if (result.status !== 'failed') return
        const counted = result.findings.filter(
          (f) => f.level === 'required' || (f.level === 'recommended' && options.strict !== false),
        )
        if (counted.length === 0) return
        const first = counted[0]!
        const more = counted.slice(1).map((f) => `[${f.level}] ${f.reason}`)
        if (more.length === 0 && first.error instanceof Error) throw first.error
        throw new Error([`[${first.level}] ${first.reason}`, ...more].join('\n'), { cause: first.error })
      })
    }
  })
}
