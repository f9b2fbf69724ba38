// The brand that marks our stores, so a dialect or the conformance runner recognises one from
// any copy of @session-store/core (two copies of a package each have their own classes, which
// defeats `instanceof`), and the internal entry points reached through it.

/** Set on every BaseStore; the same symbol in every copy of the package (`Symbol.for`). */
export const STORE_BRAND: unique symbol = Symbol.for('@session-store/core.store')

/** The method that writes an encoded value as it is, for test tools (see `writeRawValue`). */
export const RAW_WRITE: unique symbol = Symbol.for('@session-store/core.rawWrite')

/** Whether a value carries the brand. */
export function isBranded(value: unknown): boolean {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    (value as { [STORE_BRAND]?: unknown })[STORE_BRAND] === true
  )
}
