export {
  BaseStore,
  type BaseStoreOptions,
  type ExpressRequestLike,
  type ExpressSessionFactory,
  registerExpressSessionFactory,
  type StoreEvents,
  type StoreIdentity,
} from './base-store.js'
export { type EncryptionOptions, encryptedSerializer, jsonSerializer } from './codec.js'
export { describeError, SessionStoreError, type SessionStoreErrorCode } from './errors.js'
export { MemoryStore, type MemoryStoreOptions } from './memory-store.js'
export { DEFAULT_TTL_SECONDS, resolveTtlMs, type TtlOption } from './ttl.js'
export type {
  Callback,
  Serializer,
  SessionCookie,
  SessionData,
  SessionStore,
  StoreCapabilities,
  TtlArgument,
} from './types.js'
