// What apps and backend authors use. Internals that our own packages share live in ./internal.
export { BaseStore, type BaseStoreOptions, isSessionStore, type StoreEvents } from './base-store.js'
export { type EncryptionOptions, encryptedSerializer, jsonSerializer } from './codec.js'
export type { Operation } from './deadline.js'
export { SessionStoreError, type SessionStoreErrorCode } from './errors.js'
export type { ExpressSessionData } from './express-session.js'
export { MemoryStore, type MemoryStoreOptions } from './memory-store.js'
export type { OperationTrace } from './tracing.js'
export type { TtlOption } from './ttl.js'
export type {
  Callback,
  KeyBoundSerializer,
  Serializer,
  SerializerContext,
  SessionCookie,
  SessionData,
  SessionStore,
  StoreCapabilities,
  TtlArgument,
} from './types.js'
