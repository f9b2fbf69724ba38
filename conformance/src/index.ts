export {
  type Clause,
  type ClauseContext,
  type ClauseId,
  ClauseSkipped,
  type ConformanceTarget,
  type OutageControl,
  type StoreDialect,
} from './clause.js'
export { contractClauses, trickySids } from './clauses.js'
export { dialectClauses } from './dialects/index.js'
export { type ClauseResult, capabilitiesOf, runClause } from './engine.js'
export {
  type ConformanceReport,
  detectDialect,
  type RunOptions,
  runConformance,
  type StoreModule,
  toContract,
} from './runner.js'
export { type CliReport, runConformanceCli } from './spawn.js'
export { allClauses } from './suite.js'
