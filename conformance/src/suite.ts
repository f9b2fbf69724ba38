import type { Clause } from './clause.js'
import { contractClauses } from './clauses.js'
import { dialectClauses } from './dialects/index.js'

/** Every clause of the contract, C1-C15, in order. */
export const allClauses: Clause[] = [...contractClauses, ...dialectClauses]
