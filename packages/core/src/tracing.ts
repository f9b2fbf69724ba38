// Owns the store's node:diagnostics_channel tracing: one TracingChannel per operation, named
// `session-store:<operation>`, which APM agents and OpenTelemetry instrumentations subscribe to
// without wrapping the store (the mechanism Node's http, undici and mysql2 use).
import { type TracingChannel, tracingChannel } from 'node:diagnostics_channel'

/** What every traced operation publishes; `error` is added by Node when the operation fails. */
export interface OperationTrace {
  /** The backend name, e.g. `redis`. */
  backend: string
  /** The store's key prefix. */
  prefix: string
  /** The operation: `get`, `set`, `touch`, `destroy`, `ids`, `all`, `length`, `clear`, `ping`, `close`, … */
  operation: string
  /** Set by Node when the operation rejected. */
  error?: unknown
  /** Set by Node when the operation resolved. */
  result?: unknown
}

const channels = new Map<string, TracingChannel<unknown, OperationTrace>>()

/** The channel of one operation, created the first time it is asked for. */
export function operationChannel(operation: string): TracingChannel<unknown, OperationTrace> {
  let channel = channels.get(operation)
  if (channel === undefined) {
    channel = tracingChannel<unknown, OperationTrace>(`session-store:${operation}`)
    channels.set(operation, channel)
  }
  return channel
}
