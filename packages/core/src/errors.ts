/** Machine-readable reasons carried by every {@link SessionStoreError}. */
export type SessionStoreErrorCode =
  /** The operation did not settle within the store's `timeout`. */
  | 'ETIMEOUT'
  /** The backend could not be reached or failed the operation. */
  | 'EBACKEND'
  /** The session could not be encoded (a cycle, a BigInt); nothing was written. */
  | 'EENCODE'
  /** A stored value could not be decoded; the read resolved `null`. */
  | 'EDECODE'
  /** The encoded session is larger than the backend accepts; nothing was written. */
  | 'ETOOLARGE'
  /** The store was closed before the operation started. */
  | 'ECLOSED'
  /** The store was constructed with options it cannot work with. */
  | 'EOPTIONS'

/**
 * The one error type every session-store package throws (besides `TypeError` for a bad sid).
 * Its message starts with `[@session-store/<package>] [<backend>]`, so a log line says
 * where it came from; `code`, `backend` and `operation` say the same for programs.
 */
export class SessionStoreError extends Error {
  override name = 'SessionStoreError'
  /** Why the operation failed. */
  readonly code: SessionStoreErrorCode
  /** The npm package that raised it, e.g. `@session-store/redis`. */
  readonly packageName: string
  /** The backend, e.g. `redis`, `memory`. */
  readonly backend: string
  /** The store operation that failed, e.g. `get`, when there was one. */
  readonly operation: string | undefined

  constructor(
    details: {
      code: SessionStoreErrorCode
      packageName: string
      backend: string
      operation?: string
      cause?: unknown
    },
    message: string,
  ) {
    super(`[${details.packageName}] [${details.backend}] ${message}`, { cause: details.cause })
    this.code = details.code
    this.packageName = details.packageName
    this.backend = details.backend
    this.operation = details.operation
  }
}

/** The message of anything thrown, for error texts. */
export function describeError(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
