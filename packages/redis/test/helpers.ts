import { randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import { delimiter, join } from 'node:path'
import type { Redis } from 'ioredis'
import { expect } from 'vitest'

/** A prefix no other test or run uses. */
export const freshPrefix = (label: string) => `redis-test:${label}:${randomUUID().slice(0, 8)}:`

/** Every key matching `pattern` on one server. */
export async function scanAll(redis: Redis, pattern: string): Promise<string[]> {
  const keys: string[] = []
  let cursor = '0'
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
    cursor = next
    keys.push(...batch)
  } while (cursor !== '0')
  return keys
}

/** A text as a SCAN pattern that matches it literally. */
export const literalPattern = (text: string) => text.replace(/[*?[\]\\]/g, '\\$&')

export async function collect<T>(source: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const item of source) out.push(item)
  return out
}

/** The remaining ttl of a key must be at most `ms`, and only a little less (the test's own latency). */
export function expectTtlNear(pttl: number, ms: number): void {
  expect(pttl).toBeLessThanOrEqual(ms)
  expect(pttl).toBeGreaterThan(ms - 5_000)
}

/** Whether a test may start private servers of its own (the harness needs the binary on PATH). */
export function onPath(binary: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => dir && existsSync(join(dir, binary)))
}
