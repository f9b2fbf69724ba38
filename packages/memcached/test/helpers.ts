import { existsSync } from 'node:fs'
import { connect } from 'node:net'
import { delimiter, join } from 'node:path'

/** A memcached server address. */
export interface Node {
  host: string
  port: number
}

/**
 * Sends one raw text-protocol request on a fresh connection and resolves the whole answer once
 * `complete` says it is there. Talking to memcached directly checks what the store really left
 * on the server, without the client library in between.
 */
export function exchange(
  node: Node,
  request: string,
  complete: (answer: Buffer) => boolean,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect(node.port, node.host)
    let answer = Buffer.alloc(0)
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`memcached at ${node.host}:${node.port} did not answer ${JSON.stringify(request)}`))
    }, 5000)
    socket.on('data', (chunk) => {
      answer = Buffer.concat([answer, chunk])
      if (complete(answer)) {
        clearTimeout(timer)
        socket.destroy()
        resolve(answer)
      }
    })
    socket.on('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    socket.write(request)
  })
}

/**
 * The remaining lifetime memcached gives an item, in whole seconds (`-1` for none), or null when
 * there is no such item. Uses the meta command `mg <key> t` (memcached 1.6).
 */
export async function remainingTtl(node: Node, key: string): Promise<number | null> {
  const answer = (await exchange(node, `mg ${key} t\r\n`, (a) => a.includes('\r\n'))).toString('latin1')
  if (answer.startsWith('EN')) return null
  const match = /^HD t(-?\d+)/.exec(answer)
  if (!match) throw new Error(`unexpected answer to mg: ${answer.trim()}`)
  return Number(match[1])
}

/** The exact bytes memcached holds under `key` (as UTF-8 text), or null when there is none. */
export async function rawValue(node: Node, key: string): Promise<string | null> {
  const answer = await exchange(
    node,
    `get ${key}\r\n`,
    (a) => a.subarray(-5).toString('latin1') === 'END\r\n',
  )
  const headerEnd = answer.indexOf('\r\n')
  const header = answer.subarray(0, headerEnd).toString('latin1')
  if (header === 'END') return null
  const match = /^VALUE \S+ \d+ (\d+)/.exec(header)
  if (!match) throw new Error(`unexpected answer to get: ${header}`)
  const start = headerEnd + 2
  return answer.subarray(start, start + Number(match[1])).toString('utf8')
}

/** Retries `check` every 100 ms until it returns true, at most `attempts` times. */
export async function eventually(check: () => boolean | Promise<boolean>, what: string, attempts = 150) {
  for (let attempt = 0; attempt < attempts; attempt++) {
    if (await check()) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`gave up waiting for ${what}`)
}

/** The rejection of a promise that must reject, or a failure when it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    (value) => {
      throw new Error(`expected a rejection, got ${JSON.stringify(value)}`)
    },
    (error: unknown) => error,
  )
}

/** Whether a memcached binary is on PATH, so a test can start private servers. */
export function canStartMemcached(): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => dir && existsSync(join(dir, 'memcached')))
}
