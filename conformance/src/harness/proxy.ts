import { createServer, type Server, Socket } from 'node:net'
import { LOOPBACK } from './process.js'
import type { HostPort } from './types.js'

/**
 * A loopback TCP proxy in front of a server. A test points the store's client at the proxy and
 * takes the backend "down" without touching the server, whichever server the run uses.
 */
export interface TcpProxy {
  /** Where clients connect: always 127.0.0.1. */
  host: string
  port: number
  /**
   * Destroys every open connection and refuses new ones (the port stops listening, so a client
   * gets ECONNREFUSED), like a server that died.
   */
  cut(): Promise<void>
  /**
   * Keeps connections open but forwards nothing in either direction, and lets new connections
   * in without connecting them onward, like a frozen server or a network black hole.
   */
  stall(): Promise<void>
  /** Back to normal after cut() or stall(): listens again and forwards what was held back. */
  restore(): Promise<void>
  /** Destroys every connection and stops listening for good. */
  close(): Promise<void>
}

type Mode = 'forwarding' | 'stalled' | 'cut' | 'closed'

interface Pair {
  client: Socket
  upstream: Socket | undefined
}

/** Starts a {@link TcpProxy} on a free loopback port that forwards to `target`. */
export async function tcpProxy(target: HostPort): Promise<TcpProxy> {
  let mode: Mode = 'forwarding'
  const pairs = new Set<Pair>()
  let listener: Server | undefined

  const destroyPair = (pair: Pair): void => {
    pairs.delete(pair)
    pair.client.destroy()
    pair.upstream?.destroy()
  }

  // Moves bytes one way, holding them back (by pausing the reader) while stalled or while
  // the writer's buffer is full; paused data waits in the kernel, as on a slow network.
  const forward = (from: Socket, to: Socket): void => {
    from.on('data', (chunk) => {
      if (!to.write(chunk)) from.pause()
    })
    to.on('drain', () => {
      if (mode === 'forwarding') from.resume()
    })
  }

  const connectUpstream = (pair: Pair): void => {
    const upstream = new Socket()
    pair.upstream = upstream
    upstream.setNoDelay(true)
    upstream.on('error', () => destroyPair(pair))
    upstream.on('close', () => destroyPair(pair))
    forward(pair.client, upstream)
    forward(upstream, pair.client)
    upstream.connect(target.port, target.host)
    pair.client.resume()
  }

  const onConnection = (client: Socket): void => {
    if (mode === 'cut' || mode === 'closed') {
      client.destroy()
      return
    }
    const pair: Pair = { client, upstream: undefined }
    pairs.add(pair)
    client.setNoDelay(true)
    client.on('error', () => destroyPair(pair))
    client.on('close', () => destroyPair(pair))
    client.pause()
    if (mode === 'forwarding') connectUpstream(pair)
  }

  const listen = async (port: number): Promise<number> => {
    // Re-listening on the same port right after a cut can race with the old socket's close;
    // a few short retries cover it.
    for (let attempt = 1; ; attempt++) {
      try {
        return await new Promise<number>((resolve, reject) => {
          const server = createServer({ pauseOnConnect: true }, onConnection)
          server.once('error', reject)
          server.listen({ port, host: LOOPBACK }, () => {
            server.removeListener('error', reject)
            server.on('error', () => {})
            listener = server
            const address = server.address()
            resolve(typeof address === 'object' && address ? address.port : port)
          })
        })
      } catch (error) {
        if (attempt >= 20 || port === 0) throw error
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    }
  }

  const stopListening = async (): Promise<void> => {
    const server = listener
    listener = undefined
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()))
  }

  const port = await listen(0)

  return {
    host: LOOPBACK,
    port,
    async cut() {
      if (mode === 'closed') return
      mode = 'cut'
      for (const pair of [...pairs]) destroyPair(pair)
      await stopListening()
    },
    async stall() {
      if (mode === 'closed' || mode === 'cut') return
      mode = 'stalled'
      for (const pair of pairs) {
        pair.client.pause()
        pair.upstream?.pause()
      }
    },
    async restore() {
      if (mode === 'closed') return
      const wasCut = mode === 'cut'
      mode = 'forwarding'
      if (wasCut) {
        await listen(port)
        return
      }
      for (const pair of pairs) {
        if (pair.upstream) {
          pair.client.resume()
          pair.upstream.resume()
        } else {
          connectUpstream(pair)
        }
      }
    },
    async close() {
      mode = 'closed'
      for (const pair of [...pairs]) destroyPair(pair)
      await stopListening()
    },
  }
}
