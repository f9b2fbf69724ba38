// The parts of the memcached client (memcached 2.2, lib/memcached.js and lib/connection.js)
// that MemcachedStore relies on beyond the client's type declarations, and the two repairs a
// session store needs on it. Kept apart from the store so that its workarounds sit in one
// place, and go away together with the client.

import type { Socket } from 'node:net'
import type Memcached from 'memcached'

/** One command in flight; the client calls the command's callback with it as `this`. */
export interface Query {
  type: string
  command: string
  key?: string
  callback: (this: Query, err: unknown, result: unknown) => void
  validate?: unknown[]
  /** Set by the store on a command memcached answered with an item-level SERVER_ERROR. */
  serverError?: string
}

/** A pooled connection, or the stand-in the client builds when it could not get one. */
interface Connection {
  serverAddress: string
  metaData?: Query[]
}

/** The client's record of one server's failures (connection.js `IssueLog`). */
interface IssueLog {
  failed: boolean
  isScheduledToReconnect: boolean
  messages: string[]
  config: object
  totalReconnectsAttempted: number
  failuresResetId?: NodeJS.Timeout
  attemptReconnect(): void
  readonly details: Memcached.IssueData
  emit(event: string, details: unknown): boolean
}

/** The client's own state and methods that the store reads or wraps (lib/memcached.js). */
export interface ClientInternals {
  servers: string[]
  namespace: string
  HashRing: { get(key: string): string | undefined }
  issues: Record<string, IssueLog | undefined>
  connectionIssue(message: unknown, connection: Connection | undefined): void
  command(compile: () => Query, server?: string): void
  /** One pool of sockets per server (the client's `jackpot` connection manager). */
  connections?: Record<string, { pool?: Socket[] } | undefined>
}

/** SERVER_ERROR answers about one item rather than the server: too large, out of memory. */
const ITEM_ERROR = /too large|out of memory/i

/** Clients whose connection-issue handling has been repaired. */
const repairedClients = new WeakSet<object>()

/**
 * Two behaviours of the client that a session store cannot live with, repaired on the client
 * instance (once, and for the client's whole life, as they help any user of it):
 *
 * 1. The client takes every SERVER_ERROR for a broken connection: a value too large for the
 *    server's item size limit closes the connection and makes the client refuse that server for
 *    `retry` ms, and the `set` reports neither error nor message. Such answers are now recorded
 *    on the command instead, so the store can say what memcached answered.
 * 2. To bring back a dead server the client runs the `ping` program against its host (ICMP, not
 *    memcached), and crashes the process where `ping` is not installed, as it spawns it without
 *    an error listener. It does so whenever operations fail at the same time, whatever
 *    `failures` says. The reconnection now just lets the server be tried again, and the next
 *    command finds out whether memcached is back.
 */
export function repairClient(client: Memcached): void {
  if (repairedClients.has(client)) return
  repairedClients.add(client)
  const internals = client as unknown as ClientInternals
  const original = internals.connectionIssue
  internals.connectionIssue = function connectionIssue(message, connection) {
    const query = connection?.metaData?.[0]
    if (typeof message === 'string' && ITEM_ERROR.test(message) && query) {
      query.serverError = message
      return
    }
    original.call(this, message, connection)
    const log = connection ? this.issues[connection.serverAddress] : undefined
    if (log) log.attemptReconnect = retryWithoutPing
  }
}

/** What connection.js does after a successful ping, without the ping. */
function retryWithoutPing(this: IssueLog): void {
  this.totalReconnectsAttempted++
  this.emit('reconnecting', this.details)
  this.messages.length = 0
  this.failed = false
  this.isScheduledToReconnect = false
  Object.assign(this, JSON.parse(JSON.stringify(this.config)))
}

/** `host:port` as the client names servers on its connections (port 11211 unless given). */
export function serverName(server: string): string {
  return server.startsWith('/') || /:\d+$/.test(server) ? server : `${server}:11211`
}

/** The client reports errors as an Error, an array of them, or a string. */
export function toError(err: unknown): Error {
  const first = Array.isArray(err) ? err[0] : err
  return first instanceof Error ? first : new Error(String(first))
}
