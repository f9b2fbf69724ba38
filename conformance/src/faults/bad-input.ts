import assert from 'node:assert/strict'
import { type BaseStore, type SessionData, SessionStoreError } from '@session-store/core'
import { type FaultTarget, type RawValue, withStore } from './target.js'
import { describe, requireStoreError, settleWithin } from './util.js'

// ------------------------------------------------------------------------------------------
// sids

/** Sids that are valid (any non-empty, well-formed string) and that backends tend to mishandle. */
export const validOddSids: ReadonlyArray<[what: string, sid: string]> = [
  ['one character', 'x'],
  ['10 000 characters', 'L'.repeat(10_000)],
  ['10 000 characters, last one different', `${'L'.repeat(9_999)}M`],
  ['SQL metacharacters', "x' OR '1'='1"],
  ['an SQL statement', "x'; DROP TABLE sessions; --"],
  ['LIKE wildcards', '%_%'],
  ['a backslash and quotes', '\\"\'`'],
  ['__proto__', '__proto__'],
  ['constructor', 'constructor'],
  ['prototype', 'prototype'],
  ['hasOwnProperty', 'hasOwnProperty'],
  ['a Mongo operator', '$gt'],
  ['an object spelled as JSON', '{"$gt":""}'],
  ['glob characters', '*?[a-z]\\'],
  ['unicode', 'Zoë Ångström 日本 🚀'],
  ['the last code point', '\u{10FFFF}'],
  ['é precomposed', '\u00e9'],
  ['é decomposed', 'e\u0301'],
  ['a NUL character', '\u0000'],
  ['a NUL inside', 'a\u0000b'],
  ['CR LF', '\r\n'],
  ['a memcached command after CR LF', 'x\r\nflush_all\r\n'],
  ['a tab', '\t'],
  ['DEL', '\u007f'],
  ['an ANSI escape', '\u001b[31mred'],
  ['a zero-width space', '\u200b'],
  ['a byte order mark', '\ufeff'],
  ['a space', ' '],
  ['a trailing space', 'a '],
  ['a', 'a'],
  ['A', 'A'],
]

/** What a store must refuse as a sid, with a TypeError, before any I/O. */
export const invalidSids: ReadonlyArray<[what: string, sid: unknown]> = [
  ['the empty string', ''],
  ['undefined', undefined],
  ['null', null],
  ['a number', 42],
  ['NaN', Number.NaN],
  ['a boolean', true],
  ['an object', {}],
  ['a Mongo operator object', { $gt: '' }],
  ['an array', ['a']],
  ['a String object', new String('x')],
  ['a symbol', Symbol('sid')],
  ['a function', () => 'sid'],
  ['a lone high surrogate', '\ud800'],
  ['a lone low surrogate inside', 'a\udfffb'],
  ['a high surrogate at the end', 'x\ud83d'],
]

/**
 * Bad sids. Every valid odd sid round-trips as its own session (no two share a key, nothing
 * is injected), can be touched and destroyed, and (where the store enumerates) is listed as it
 * is. Every invalid one is refused by get, set, destroy and touch with a TypeError, and writes
 * nothing. Object.prototype stays clean.
 */
export async function badSids(target: FaultTarget): Promise<void> {
  await withStore(
    target,
    'sids',
    async (store) => {
      const session = (index: number) => ({ cookie: { originalMaxAge: 600_000 }, index })
      const sids = validOddSids.map(([, sid]) => sid)
      await Promise.all(sids.map((sid, index) => store.set(sid, session(index))))
      for (const [index, [what, sid]] of validOddSids.entries()) {
        assert.deepEqual(await store.get(sid), session(index), `the sid made of ${what} read back wrong data`)
      }
      if (store.capabilities.enumeration) {
        const listed: string[] = []
        for await (const sid of store.ids()) listed.push(sid)
        assert.deepEqual(listed.sort(), [...sids].sort(), 'ids() must list every odd sid exactly as written')
      }
      await Promise.all(sids.map((sid, index) => store.touch(sid, session(index))))
      assert.equal(({} as Record<string, unknown>).index, undefined, 'a sid polluted Object.prototype')
      await Promise.all(sids.map((sid) => store.destroy(sid)))
      for (const [what, sid] of validOddSids) {
        assert.equal(await store.get(sid), null, `the sid made of ${what} after destroy`)
      }

      const timeout = 5000
      for (const [what, sid] of invalidSids) {
        for (const [name, call] of [
          ['get', () => store.get(sid as string)],
          ['set', () => store.set(sid as string, session(-1))],
          ['destroy', () => store.destroy(sid as string)],
          ['touch', () => store.touch(sid as string, session(-1))],
        ] as Array<[string, () => Promise<unknown>]>) {
          const outcome = await settleWithin(Promise.resolve().then(call), timeout)
          assert.equal(outcome.state, 'rejected', `${name} with ${what} as sid must reject: ${outcome.state}`)
          const { error } = outcome as { error: unknown }
          assert.ok(
            error instanceof TypeError,
            `${name} with ${what} as sid must reject with a TypeError, got ${describe(error)}`,
          )
        }
      }
      if (store.capabilities.enumeration) {
        assert.equal(await store.length(), 0, 'a refused sid must write nothing')
      }
    },
    10_000,
  )
}

// ------------------------------------------------------------------------------------------
// sessions

const TEN_MB = 10 * 1024 * 1024

/** `depth` objects nested in each other, built without recursion. */
function nested(depth: number): Record<string, unknown> {
  let value: Record<string, unknown> = { bottom: true }
  for (let i = 0; i < depth; i++) value = { a: value }
  return value
}

/**
 * Bad sessions. Data that cannot be encoded (a cycle, a BigInt, a throwing getter or toJSON,
 * nesting too deep for JSON.stringify) rejects with an EENCODE SessionStoreError and writes
 * nothing, so the old value is intact; a value that is not an object rejects with a TypeError;
 * what JSON drops (functions, undefined, symbols) is dropped and the rest round-trips. A
 * 10 MB session round-trips where the store declares room for it and otherwise rejects with
 * ETOOLARGE before anything is written; 10 000 levels of nesting round-trip exactly or reject
 * with EENCODE.
 */
export async function badSessions(target: FaultTarget): Promise<void> {
  await withStore(
    target,
    'sessions',
    async (store) => {
      const old = { cookie: { originalMaxAge: 600_000 }, old: 'value', list: [1, 2, 3] }
      const reset = () => store.set('sid', old)
      const requireOld = async (why: string) =>
        assert.deepEqual(await store.get('sid'), old, `${why}: the old value must be intact`)
      await reset()

      const cycle: Record<string, unknown> = { a: 1 }
      cycle.self = { back: cycle }
      const unencodable: Array<[string, unknown]> = [
        ['a cycle', cycle],
        ['a BigInt', { n: 10n }],
        ['a BigInt deep inside', { a: { b: [1, { c: 2n }] } }],
        [
          'a getter that throws',
          {
            get boom() {
              throw new Error('getter failed')
            },
          },
        ],
        [
          'a toJSON that throws',
          {
            toJSON() {
              throw new Error('toJSON failed')
            },
          },
        ],
        ['100 000 levels of nesting', nested(100_000)],
      ]
      for (const [what, value] of unencodable) {
        const outcome = await settleWithin(store.set('sid', value as SessionData), 30_000)
        const error = requireStoreError(outcome, ['EENCODE'], `set with ${what}`)
        assert.ok(error.message.length > 20, `the error for ${what} must say what happened: ${error.message}`)
        await requireOld(`after a set with ${what}`)
        const fresh = await settleWithin(store.set(`fresh-${what}`, value as SessionData), 30_000)
        requireStoreError(fresh, ['EENCODE'], `set of a new sid with ${what}`)
        assert.equal(await store.get(`fresh-${what}`), null, `a new sid whose only set had ${what}`)
      }

      for (const [what, value] of [
        ['null', null],
        ['a string', 'session'],
        ['a number', 42],
        ['an array', [{ a: 1 }]],
      ] as Array<[string, unknown]>) {
        const outcome = await settleWithin(store.set('sid', value as SessionData), 5000)
        assert.equal(outcome.state, 'rejected', `set with ${what} as the session must reject`)
        const { error } = outcome as { error: unknown }
        assert.ok(error instanceof TypeError, `set with ${what} as the session: got ${describe(error)}`)
        await requireOld(`after a set with ${what} as the session`)
      }

      // What JSON leaves out is left out; the rest is stored.
      const dropped = {
        cookie: { originalMaxAge: 600_000 },
        kept: 'yes',
        fn() {
          return 1
        },
        arrow: () => 2,
        missing: undefined,
        symbol: Symbol('s'),
        list: [1, undefined, () => 3],
        when: new Date('2030-01-02T03:04:05.000Z'),
      }
      await store.set('dropped', dropped as unknown as SessionData)
      assert.deepEqual(
        await store.get('dropped'),
        {
          cookie: { originalMaxAge: 600_000 },
          kept: 'yes',
          list: [1, null, null],
          when: '2030-01-02T03:04:05.000Z',
        },
        'functions, undefined and symbols must be dropped as JSON drops them, and the rest kept',
      )

      // 10 MB.
      const big = { cookie: { originalMaxAge: 600_000 }, blob: 'b'.repeat(TEN_MB) }
      const encodedBytes = Buffer.byteLength(JSON.stringify(big))
      const large = await settleWithin(store.set('sid', big), 60_000)
      if (encodedBytes > store.capabilities.maxValueBytes) {
        const error = requireStoreError(large, ['ETOOLARGE'], `a ${encodedBytes}-byte session`)
        assert.match(error.message, /\d+/, 'the error must give the sizes')
        await requireOld('after a session too large')
      } else {
        assert.equal(
          large.state,
          'resolved',
          `a ${encodedBytes}-byte session fits the declared maxValueBytes (${store.capabilities.maxValueBytes}) and must be stored: ${
            large.state === 'rejected' ? describe(large.error) : large.state
          }`,
        )
        const read = (await store.get('sid')) as { blob?: string } | null
        assert.ok(
          read?.blob === big.blob,
          `the 10 MB session must read back whole (got ${read?.blob?.length} chars)`,
        )
        await reset()
      }

      // 10 000 levels: either stored exactly, or refused as unencodable and nothing written.
      const deep = nested(10_000)
      const deepOutcome = await settleWithin(store.set('sid', deep), 30_000)
      if (deepOutcome.state === 'resolved') {
        const read = await store.get('sid')
        assert.ok(
          JSON.stringify(read) === JSON.stringify(deep),
          '10 000 levels of nesting were stored, so they must read back exactly',
        )
      } else {
        requireStoreError(deepOutcome, ['EENCODE'], 'set with 10 000 levels of nesting')
        await requireOld('after a set with 10 000 levels of nesting')
      }
    },
    30_000,
  )
}

// ------------------------------------------------------------------------------------------
// corrupt stored data

/** Values a store cannot decode, as foreign writers, old formats and broken writes leave them. */
export const corruptValues: ReadonlyArray<[what: string, value: RawValue]> = [
  ['invalid JSON', '{"cookie": {"originalMaxAge": 60000'],
  ['a PHP-serialized array', 'a:1:{s:4:"user";s:5:"alice";}'],
  ['a PHP session string', 'user|s:5:"alice";n|i:1;'],
  // {"user":"alice","n":1} in MessagePack.
  ['MessagePack bytes', Buffer.from('82a475736572a5616c696365a16e01', 'hex')],
  // {"user":"Zoë"} cut in the middle of the two bytes of ë.
  ['truncated UTF-8 bytes', Buffer.from('{"user":"Zoë"}').subarray(0, 12)],
  ['a JSON array', '[{"user":"alice"}]'],
  ['a JSON number', '42'],
  ['a bare number', 7],
  ['JSON null', 'null'],
  ['a JSON string', '"session"'],
  ['an empty value', ''],
  ['an encrypted envelope', 'ssenc1.k1.AAAA.BBBB.CCCC'],
]

/** Valid JSON planted to pollute prototypes: read as plain data with the dangerous keys dropped. */
const HOSTILE_JSON = '{"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":1}},"ok":true}'

/**
 * Corrupt data planted straight into the backend with its own client: for every value in
 * {@link corruptValues}, `get` resolves null, the store emits `corrupt` once with an EDECODE
 * error and the sid, nothing crashes, and the next `set` heals it. Where the store enumerates,
 * `all()` skips the corrupt sessions. Valid JSON with `__proto__`/`constructor` keys reads as
 * plain data and pollutes nothing.
 */
export async function corruptData(target: FaultTarget): Promise<void> {
  await withStore(target, 'corrupt', async (store) => {
    // The first operation also creates what the backend needs (a table, an index).
    await store.set('healthy', { cookie: { originalMaxAge: 600_000 }, healthy: true })
    const reported: Array<[SessionStoreError, string]> = []
    store.on('corrupt', (error, sid) => reported.push([error, sid]))

    const sidOf = (index: number) => `corrupt-${index}`
    for (const [index, [, value]] of corruptValues.entries()) await target.plant(store, sidOf(index), value)
    await target.plant(store, 'hostile', HOSTILE_JSON)

    if (store.capabilities.enumeration) {
      const all = await store.all()
      assert.deepEqual(
        all.map((session) => Object.keys(session).sort().join()).sort(),
        ['cookie,healthy', 'ok'],
        'all() must return the decodable sessions only',
      )
      reported.length = 0
    }

    for (const [index, [what]] of corruptValues.entries()) {
      const sid = sidOf(index)
      const outcome = await settleWithin(store.get(sid), 10_000)
      assert.equal(
        outcome.state,
        'resolved',
        `get of ${what} must resolve null: ${outcome.state === 'rejected' ? describe(outcome.error) : outcome.state}`,
      )
      assert.equal((outcome as { value: unknown }).value, null, `get of ${what} must resolve null`)
      assert.equal(reported.length, 1, `reading ${what} must emit 'corrupt' once, got ${reported.length}`)
      const [error, reportedSid] = reported.pop()!
      assert.ok(
        error instanceof SessionStoreError && error.code === 'EDECODE',
        `'corrupt' for ${what}: ${describe(error)}`,
      )
      assert.equal(reportedSid, sid, `'corrupt' for ${what} must name the sid`)
      const healed = { cookie: { originalMaxAge: 600_000 }, healed: what }
      await store.set(sid, healed)
      assert.deepEqual(await store.get(sid), healed, `the next set must heal ${what}`)
    }

    const hostile = await store.get('hostile')
    assert.deepEqual(hostile, { ok: true }, 'valid JSON with __proto__/constructor keys reads as plain data')
    assert.equal(
      Object.getPrototypeOf(hostile),
      Object.prototype,
      'the decoded session must be a plain object',
    )
    assert.equal(
      ({} as Record<string, unknown>).polluted,
      undefined,
      'a stored value polluted Object.prototype',
    )
    assert.equal(reported.length, 0, `no 'corrupt' event for valid JSON, got ${reported.length}`)
  })
}

// ------------------------------------------------------------------------------------------
// options

/** One construction that must be refused with EOPTIONS. */
export interface BadOptionsCase {
  /** What is wrong, e.g. `a negative ttl`. */
  what: string
  /** Constructs the store (and whatever it needs); must throw. */
  create(): unknown
}

/**
 * The options every store takes from BaseStore, each with a bad value, and options no store
 * takes (a misspelling, another store's spelling), for `make` to pass to the store's constructor.
 */
export function commonBadOptions(make: (options: Record<string, unknown>) => unknown): BadOptionsCase[] {
  const cases: Array<[string, Record<string, unknown>]> = [
    ['a negative ttl', { ttl: -60 }],
    ['a zero ttl', { ttl: 0 }],
    ['a NaN ttl', { ttl: Number.NaN }],
    ['an infinite ttl', { ttl: Number.POSITIVE_INFINITY }],
    ['a ttl given as a string', { ttl: '3600' }],
    ['a timeout given as a string', { timeout: '1000' }],
    ['a NaN timeout', { timeout: Number.NaN }],
    ['a negative timeout', { timeout: -1 }],
    ['an infinite timeout', { timeout: Number.POSITIVE_INFINITY }],
    ['a prefix that is not a string', { prefix: 42 }],
    ['a negative touchAfter', { touchAfter: -1 }],
    ['a serializer without parse', { serializer: { stringify: JSON.stringify } }],
    ['options given as a string', 'ttl=60' as unknown as Record<string, unknown>],
    ['options given as null', null as unknown as Record<string, unknown>],
    ['disableTouch given as a string', { disableTouch: 'true' }],
    ["connect-redis' disableTTL", { disableTTL: true }],
    ['a misspelt option', { touchafter: 60 }],
  ]
  return cases.map(([what, options]) => ({ what, create: () => make(options) }))
}

/**
 * Bad options: every case must throw an EOPTIONS SessionStoreError from the constructor, at
 * construction rather than at the first request. Lists every case that did not, at once. A
 * store that was built anyway is closed.
 */
export async function badOptions(cases: BadOptionsCase[]): Promise<void> {
  const wrong: string[] = []
  for (const { what, create } of cases) {
    let created: unknown
    try {
      created = create()
      wrong.push(`${what}: no error at construction`)
    } catch (err) {
      if (!(err instanceof SessionStoreError && err.code === 'EOPTIONS')) {
        wrong.push(`${what}: threw ${describe(err)}, expected an EOPTIONS SessionStoreError`)
      } else if (!/\[@session-store\/[\w-]+\] \[\w+\] ./.test(err.message)) {
        wrong.push(`${what}: the message does not name the package and backend: ${err.message}`)
      }
    }
    if (created && typeof (created as BaseStore<SessionData>).close === 'function') {
      await (created as BaseStore<SessionData>).close().catch(() => {})
    }
  }
  if (wrong.length > 0) {
    assert.fail(`every bad option must be refused with EOPTIONS at construction:\n- ${wrong.join('\n- ')}`)
  }
}
