// @ts-check
// A round-robin HTTP proxy: the stand-in for the load balancer in front of a real deployment.
// It has no sticky sessions on purpose: each request goes to the next instance in turn, so
// the session can only survive because the store is shared.
import http from 'node:http'
import { pipeline } from 'node:stream'

/**
 * Headers that describe one connection rather than the message; a proxy must not forward them
 * (RFC 9110, section 7.6.1). Node sets its own on each side.
 */
const HOP_BY_HOP = [
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]

/**
 * Starts the proxy on 127.0.0.1.
 * @param {object} options
 * @param {string[]} options.targets Base URLs of the instances, e.g. `http://127.0.0.1:41234`.
 * @param {number} options.port The port to listen on; 0 picks a free one. When the port is
 *   taken, a free one is picked instead (compare `port` in the result).
 * @returns {Promise<{ port: number, close: () => Promise<void> }>}
 */
export async function startProxy({ targets, port }) {
  if (targets.length === 0) throw new TypeError('startProxy: at least one target is needed')
  const upstreams = targets.map((target) => new URL(target))
  // Keep-alive towards the instances, and one agent of our own, so close() can drop its sockets.
  const agent = new http.Agent({ keepAlive: true })
  let turn = 0

  const server = http.createServer((req, res) => {
    const upstream = /** @type {URL} */ (upstreams[turn++ % upstreams.length])
    const forward = http.request(
      {
        agent,
        hostname: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: { ...withoutHopByHop(req.headers), 'x-forwarded-for': req.socket.remoteAddress },
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, withoutHopByHop(answer.headers))
        pipeline(answer, res, () => {})
      },
    )
    forward.on('error', (err) => {
      if (res.headersSent) return res.destroy(err)
      res.writeHead(502, { 'content-type': 'text/plain' })
      res.end(`proxy: ${upstream.host} did not answer: ${err.message}\n`)
    })
    req.pipe(forward)
  })

  const actualPort = await listen(server, port).catch((err) => {
    if (err.code !== 'EADDRINUSE' || port === 0) throw err
    return listen(server, 0)
  })

  return {
    port: actualPort,
    close: async () => {
      const closed = new Promise((resolve) => server.close(resolve))
      // Browsers keep connections open; without this, close() would wait for them to time out.
      server.closeAllConnections()
      agent.destroy()
      await closed
    },
  }
}

/**
 * Listens on 127.0.0.1 and resolves the port, or rejects with the listen error.
 * @param {http.Server} server
 * @param {number} port
 * @returns {Promise<number>}
 */
export function listen(server, port) {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject)
      const address = server.address()
      resolve(typeof address === 'object' && address !== null ? address.port : port)
    })
  })
}

/**
 * A copy of the headers without the hop-by-hop ones.
 * @param {http.IncomingHttpHeaders} headers
 * @returns {http.OutgoingHttpHeaders}
 */
function withoutHopByHop(headers) {
  const copy = { ...headers }
  for (const name of HOP_BY_HOP) delete copy[name]
  return copy
}
