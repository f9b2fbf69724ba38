// The suite's broken fixture stores, one export each, for the runner CLI (--export name).
import { brokenStores } from '../fixtures.ts'

const target = (slug) => brokenStores.find((broken) => broken.slug === slug).target()

export const ignoresExplicitTtl = target('ignoresExplicitTtl')
export const touchRewritesSession = target('touchRewritesSession')
export const overwriteMerges = target('overwriteMerges')
export const plainObjectSids = target('plainObjectSids')
export const acceptsAnySid = target('acceptsAnySid')
export const crashesOnCorrupt = target('crashesOnCorrupt')
export const ignoresNamespace = target('ignoresNamespace')
export const hangsWhenDown = target('hangsWhenDown')
