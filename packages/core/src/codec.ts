import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import type { KeyBoundSerializer, Serializer } from './types.js'

/**
 * JSON, hardened for reading data that may have been planted in the backend:
 * `__proto__` keys, and `constructor` keys holding objects, are dropped while parsing,
 * so a stored session can never swap the prototype of the object a framework copies it into
 * (express-session copies every key of a loaded session onto its Session object).
 */
export const jsonSerializer: Serializer = {
  stringify: (value) => {
    const text = JSON.stringify(value)
    if (typeof text !== 'string') throw new TypeError('value has no JSON representation')
    return text
  },
  parse: (text) =>
    // The reviver costs a lot on every read, so it only runs when a risky key may be present;
    // any \u escape could spell one, so it counts as risky too.
    text.includes('__proto__') || text.includes('constructor') || text.includes('\\u')
      ? JSON.parse(text, dropPollutingKeys)
      : JSON.parse(text),
}

function dropPollutingKeys(key: string, value: unknown): unknown {
  if (key === '__proto__') return undefined
  if (key === 'constructor' && value !== null && typeof value === 'object') return undefined
  return value
}

/** Options of {@link encryptedSerializer}. */
export interface EncryptionOptions {
  /**
   * AES-256 keys by key id: 32-byte Buffers, or 64 hex characters. Keep old keys listed
   * after a rotation so sessions written with them still decrypt.
   */
  keys: Record<string, Uint8Array | string>
  /** The id of the key new writes use. Default: the first key listed. */
  currentKeyId?: string
  /** The serializer that runs inside the encryption. Default: {@link jsonSerializer}. */
  inner?: Serializer
  /**
   * Until when values of the first format (`ssenc1`, which did not bind a value to its key)
   * still decrypt: a Date, an ISO string or ms since the epoch. Set it to the upgrade time plus
   * the longest session lifetime when upgrading a deployment that has such values; every write
   * replaces one with the bound format. After it, or without it, they read as missing sessions.
   * @default undefined (never accepted)
   */
  acceptUnboundUntil?: Date | string | number
}

/** The format of every value written: bound to its backend key through GCM's additional data. */
const ENVELOPE = 'ssenc2'
/** The first format, which bound nothing; read only within `acceptUnboundUntil`. */
const UNBOUND_ENVELOPE = 'ssenc1'

/** Starts the messages of errors in the encryption options, thrown before any store exists. */
const ENCRYPTION = '[@session-store/core] [encryptedSerializer]'

/**
 * Encryption at rest with AES-256-GCM. Each value is stored as
 * `ssenc2.<key id>.<iv>.<tag>.<ciphertext>` (base64url), authenticated together with the
 * backend key it is stored under: a value copied under another sid (by anyone who can write to
 * the backend) fails to decrypt, and reads as a missing session. Keys can rotate: new writes use
 * `currentKeyId`, reads pick the key named in the value. A value that was tampered with, or
 * names an unknown key, fails to decode likewise.
 */
export function encryptedSerializer(options: EncryptionOptions): KeyBoundSerializer {
  const keys = new Map<string, Buffer>()
  for (const [id, key] of Object.entries(options.keys)) {
    if (id.includes('.')) throw new TypeError(`${ENCRYPTION} encryption key id "${id}" must not contain "."`)
    const bytes = typeof key === 'string' ? Buffer.from(key, 'hex') : Buffer.from(key)
    if (bytes.length !== 32)
      throw new TypeError(`${ENCRYPTION} encryption key "${id}" must be 32 bytes (AES-256)`)
    keys.set(id, bytes)
  }
  const currentKeyId = options.currentKeyId ?? keys.keys().next().value
  const currentKey = currentKeyId === undefined ? undefined : keys.get(currentKeyId)
  if (currentKeyId === undefined || currentKey === undefined) {
    throw new TypeError(
      `${ENCRYPTION} encryption needs at least one key, and currentKeyId must name one of them`,
    )
  }
  const { acceptUnboundUntil } = options
  const unboundUntil =
    acceptUnboundUntil === undefined
      ? Number.NEGATIVE_INFINITY
      : acceptUnboundUntil instanceof Date
        ? acceptUnboundUntil.getTime()
        : typeof acceptUnboundUntil === 'string'
          ? Date.parse(acceptUnboundUntil)
          : acceptUnboundUntil
  if (Number.isNaN(unboundUntil) || typeof unboundUntil !== 'number') {
    throw new TypeError(`${ENCRYPTION} acceptUnboundUntil must be a date, got ${String(acceptUnboundUntil)}`)
  }
  const inner = options.inner ?? jsonSerializer
  return {
    keyBound: true,
    stringify(value, context) {
      const iv = randomBytes(12)
      const cipher = createCipheriv('aes-256-gcm', currentKey, iv)
      cipher.setAAD(Buffer.from(context?.key ?? '', 'utf8'))
      const body = Buffer.concat([cipher.update(inner.stringify(value), 'utf8'), cipher.final()])
      const parts = [iv, cipher.getAuthTag(), body].map((b) => b.toString('base64url'))
      return `${ENVELOPE}.${currentKeyId}.${parts.join('.')}`
    },
    parse(text, context) {
      const [envelope, keyId, iv, tag, body] = text.split('.')
      const bound = envelope === ENVELOPE
      if (!bound && envelope !== UNBOUND_ENVELOPE) throw new TypeError('value is not an encrypted session')
      if (!bound && !(Date.now() < unboundUntil)) {
        throw new TypeError(
          'value is in the unbound format (ssenc1), no longer accepted (acceptUnboundUntil)',
        )
      }
      if (iv === undefined || tag === undefined || body === undefined) {
        throw new TypeError('value is not an encrypted session')
      }
      const key = keys.get(keyId ?? '')
      if (key === undefined) throw new TypeError(`value was encrypted with unknown key "${keyId}"`)
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'))
      if (bound) decipher.setAAD(Buffer.from(context?.key ?? '', 'utf8'))
      decipher.setAuthTag(Buffer.from(tag, 'base64url'))
      const plain = Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()])
      return inner.parse(plain.toString('utf8'))
    },
  }
}
