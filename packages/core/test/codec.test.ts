import { createCipheriv, randomBytes } from 'node:crypto'
import { encryptedSerializer, jsonSerializer } from '@session-store/core'
import { describe, expect, it } from 'vitest'

describe('jsonSerializer', () => {
  it('drops __proto__ and object-valued constructor keys, so a copy cannot swap prototypes', () => {
    const parsed = jsonSerializer.parse(
      '{"__proto__":{"polluted":true},"a":{"constructor":{"prototype":{"x":1}}},"name":"constructor"}',
    ) as Record<string, unknown>
    const copy: Record<string, unknown> = {}
    for (const key in parsed) copy[key] = parsed[key]
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype)
    expect((copy as { polluted?: boolean }).polluted).toBeUndefined()
    expect(parsed.a).toEqual({})
    expect(parsed.name).toBe('constructor')
  })
  it('catches keys spelled with unicode escapes', () => {
    const parsed = jsonSerializer.parse('{"\\u005f_proto__":{"polluted":true}}') as object
    expect(Object.hasOwn(parsed, '__proto__')).toBe(false)
  })
  it('throws on what JSON cannot hold', () => {
    expect(() => jsonSerializer.stringify({ n: 1n })).toThrow()
    expect(() => jsonSerializer.stringify(undefined)).toThrow(TypeError)
  })
})

describe('encryptedSerializer', () => {
  const oldKey = randomBytes(32)
  const newKey = randomBytes(32).toString('hex')
  const session = { user: 'zoë', cookie: { maxAge: 1000 } }

  it('round-trips and stores no plaintext', () => {
    const codec = encryptedSerializer({ keys: { k1: oldKey } })
    const text = codec.stringify(session)
    expect(text).not.toContain('zoë')
    expect(text.startsWith('ssenc2.k1.')).toBe(true)
    expect(codec.parse(text)).toEqual(session)
  })
  it('rotates keys: old values still decrypt, new writes use the current key', () => {
    const before = encryptedSerializer({ keys: { k1: oldKey } }).stringify(session)
    const rotated = encryptedSerializer({ keys: { k2: newKey, k1: oldKey }, currentKeyId: 'k2' })
    expect(rotated.parse(before)).toEqual(session)
    expect(rotated.stringify(session).startsWith('ssenc2.k2.')).toBe(true)
  })
  it('rejects tampered values, unknown keys and plaintext', () => {
    const codec = encryptedSerializer({ keys: { k1: oldKey } })
    const text = codec.stringify(session)
    const tampered = `${text.slice(0, -2)}${text.endsWith('A') ? 'B' : 'A'}${text.slice(-1)}`
    expect(() => codec.parse(tampered)).toThrow()
    expect(() => encryptedSerializer({ keys: { other: newKey } }).parse(text)).toThrow(/unknown key/)
    expect(() => codec.parse('{"user":"plain"}')).toThrow()
  })
  it('binds a value to its backend key: copied under another key, it does not decrypt', () => {
    const codec = encryptedSerializer({ keys: { k1: oldKey } })
    expect(codec.keyBound).toBe(true)
    const victims = codec.stringify(session, { key: 'sess:victim' })
    expect(codec.parse(victims, { key: 'sess:victim' })).toEqual(session)
    expect(() => codec.parse(victims, { key: 'sess:attacker' })).toThrow()
    expect(() => codec.parse(victims)).toThrow()
  })
  it('reads values of the unbound first format only until acceptUnboundUntil', () => {
    // A value as the first format wrote it: AES-256-GCM with no additional data.
    const iv = randomBytes(12)
    const cipher = createCipheriv('aes-256-gcm', oldKey, iv)
    const body = Buffer.concat([cipher.update(JSON.stringify(session), 'utf8'), cipher.final()])
    const unbound = `ssenc1.k1.${[iv, cipher.getAuthTag(), body].map((b) => b.toString('base64url')).join('.')}`
    const migrating = encryptedSerializer({ keys: { k1: oldKey }, acceptUnboundUntil: Date.now() + 60_000 })
    expect(migrating.parse(unbound, { key: 'sess:any' })).toEqual(session)
    const after = encryptedSerializer({ keys: { k1: oldKey }, acceptUnboundUntil: new Date(Date.now() - 1) })
    expect(() => after.parse(unbound, { key: 'sess:any' })).toThrow(/no longer accepted/)
    expect(() => encryptedSerializer({ keys: { k1: oldKey } }).parse(unbound)).toThrow(/no longer accepted/)
    expect(() => encryptedSerializer({ keys: { k1: oldKey }, acceptUnboundUntil: 'soon' })).toThrow(
      /must be a date/,
    )
  })
  it('refuses keys that are not 32 bytes', () => {
    expect(() => encryptedSerializer({ keys: { short: randomBytes(16) } })).toThrow(/32 bytes/)
    expect(() => encryptedSerializer({ keys: {} })).toThrow()
  })
})
