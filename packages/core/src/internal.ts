// Shared by the @session-store packages (backends, dialects, the conformance suite); not part
// of the public API, and it may change in any release.
import { isBranded, RAW_WRITE } from './brand.js'

export type { StoreIdentity } from './base-store.js'
export { STORE_BRAND } from './brand.js'
export { Operation, type Settled, settleWithin } from './deadline.js'
export { describeError } from './errors.js'
export {
  createExpressSession,
  type ExpressRequest,
  type ExpressSession,
  regenerateExpressSession,
} from './express-session.js'
export { unknownOptions } from './options.js'
export { DEFAULT_TTL_SECONDS, resolveTtlMs } from './ttl.js'
export type { Uninferred } from './types.js'

/**
 * Writes an encoded value under a sid exactly as given, through the store's own backend writer,
 * so the bytes land as a foreign writer (or a truncated write) would have left them. Resolves
 * false when `store` is not one of ours.
 */
export async function writeRawValue(
  store: unknown,
  sid: string,
  text: string,
  ttlMs: number,
): Promise<boolean> {
  if (!isBranded(store)) return false
  await (store as { [RAW_WRITE](sid: string, text: string, ttlMs: number): Promise<void> })[RAW_WRITE](
    sid,
    text,
    ttlMs,
  )
  return true
}
