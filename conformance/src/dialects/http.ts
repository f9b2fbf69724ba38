import assert from 'node:assert/strict'
import { createServer, type RequestListener, request, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

/** One running app instance: a name for messages and the port it listens on. */
export interface Instance {
  /** 'A' or 'B', as failure messages name it. */
  name: string
  port: number
  server: Server
}

/** Starts an app on an ephemeral port on 127.0.0.1. */
export async function serve(name: string, listener: RequestListener): Promise<Instance> {
  const server = createServer(listener)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  return { name, port: (server.address() as AddressInfo).port, server }
}

/** Stops an instance and drops its open sockets, so nothing is left behind after a clause. */
export async function stop(instance: Instance): Promise<void> {
  const { server } = instance
  const closed = new Promise<void>((resolve) => server.close(() => resolve()))
  server.closeAllConnections()
  await closed
}

/**
 * The cookies a browser would hold for one user. It deliberately keeps a cookie past its
 * Expires/Max-Age: a client may send an expired cookie (a skewed clock, a replay), and the
 * session must be over anyway, so what is tested is the server side, i.e. the store's expiry.
 * A cookie the server deletes (an empty value or an expiry already in the past) is dropped.
 */
export class CookieJar {
  readonly #cookies = new Map<string, string>()

  /** The `Cookie` request header, or undefined when the jar is empty. */
  header(): string | undefined {
    if (this.#cookies.size === 0) return undefined
    return [...this.#cookies].map(([name, value]) => `${name}=${value}`).join('; ')
  }

  /** The value of one cookie. */
  value(name: string): string | undefined {
    return this.#cookies.get(name)
  }

  /** A jar holding the same cookies now, for replaying them later. */
  copy(): CookieJar {
    const jar = new CookieJar()
    for (const [name, value] of this.#cookies) jar.#cookies.set(name, value)
    return jar
  }

  /** Takes in a response's `Set-Cookie` headers. */
  receive(setCookie: string[] | undefined): void {
    for (const line of setCookie ?? []) {
      const [pair = '', ...attributes] = line.split(';')
      const equals = pair.indexOf('=')
      if (equals <= 0) continue
      const name = pair.slice(0, equals).trim()
      const value = pair.slice(equals + 1).trim()
      if (value === '' || isDeletion(attributes)) this.#cookies.delete(name)
      else this.#cookies.set(name, value)
    }
  }
}

function isDeletion(attributes: string[]): boolean {
  for (const attribute of attributes) {
    const [key = '', ...rest] = attribute.split('=')
    const name = key.trim().toLowerCase()
    const value = rest.join('=').trim()
    if (name === 'max-age' && Number(value) <= 0) return true
    if (name === 'expires' && Date.parse(value) <= Date.now()) return true
  }
  return false
}

/**
 * GET `path` from an instance with the jar's cookies, store the cookies it sets, and return
 * its JSON body. Anything but a 200 with JSON fails with the status and body in one line.
 * Each request has its own connection (no agent), so no socket outlives the clause.
 */
export async function call(
  instance: Instance,
  path: string,
  jar: CookieJar,
  timeoutMs: number,
): Promise<Record<string, unknown>> {
  const cookie = jar.header()
  const { status, setCookie, body } = await new Promise<{
    status: number
    setCookie: string[] | undefined
    body: string
  }>((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: instance.port,
        path,
        method: 'GET',
        agent: false,
        headers: cookie === undefined ? {} : { cookie },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            setCookie: res.headers['set-cookie'],
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        )
        res.on('error', reject)
      },
    )
    req.on('timeout', () =>
      req.destroy(new Error(`instance ${instance.name} did not answer GET ${path} within ${timeoutMs} ms`)),
    )
    req.on('error', reject)
    req.end()
  })
  jar.receive(setCookie)
  if (status !== 200) {
    assert.fail(
      `instance ${instance.name} answered GET ${path} with ${status}, expected 200: ${body.replace(/\s+/g, ' ').slice(0, 300)}`,
    )
  }
  try {
    return JSON.parse(body) as Record<string, unknown>
  } catch {
    assert.fail(
      `instance ${instance.name} answered GET ${path} with a body that is not JSON: ${body.slice(0, 200)}`,
    )
  }
}
