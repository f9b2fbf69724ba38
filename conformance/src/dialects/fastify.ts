import { createServer, type RequestListener } from 'node:http'
import type { SessionStore } from '@session-store/core'
import { toExpressStore } from '@session-store/express'
import { defaultOf, loadPeer } from '../peers.js'
import { type App, type AppOptions, describe, SECRET, view } from './apps.js'

// What the routes keep in a session, as @fastify/session's typed get/set expect it declared.
declare module 'fastify' {
  interface Session {
    count?: number
    note?: string
    user?: string
  }
}

type FastifyModule = typeof import('fastify')
type FastifyCookieModule = typeof import('@fastify/cookie')
type FastifySessionModule = typeof import('@fastify/session')

/** One Fastify app instance on `store`, answering the routes every dialect answers. */
export async function createFastifyApp(store: SessionStore, { maxAge }: AppOptions): Promise<App> {
  const fastify = defaultOf(await loadPeer<FastifyModule>('fastify'))
  const fastifyCookie = defaultOf(await loadPeer<FastifyCookieModule>('@fastify/cookie'))
  const fastifySession = defaultOf(await loadPeer<FastifySessionModule>('@fastify/session'))
  // The clause serves every app on a server of its own: Fastify hands over its request handler.
  let handler: RequestListener | undefined
  const app = fastify({
    serverFactory: (listener) => {
      handler = listener
      return createServer(listener)
    },
  })
  await app.register(fastifyCookie)
  await app.register(fastifySession, {
    // Each instance wraps the store itself, as separate processes would.
    store: toExpressStore(store),
    secret: SECRET,
    rolling: true,
    saveUninitialized: false,
    // Plain HTTP on loopback: the default `secure: true` would never send the cookie back.
    cookie: { maxAge, secure: false },
  })
  const sessionView = (session: {
    sessionId: string
    get<K extends 'count' | 'note' | 'user'>(key: K): unknown
  }) =>
    view(session.sessionId, {
      count: session.get('count'),
      note: session.get('note'),
      user: session.get('user'),
    })

  app.get('/count', async (request) => {
    const { session } = request
    session.set('count', Number(session.get('count') ?? 0) + 1)
    return sessionView(session)
  })
  app.get<{ Querystring: { value?: string } }>('/note', async (request) => {
    request.session.set('note', String(request.query.value))
    return sessionView(request.session)
  })
  app.get('/state', async (request) => sessionView(request.session))
  app.get('/regenerate', async (request) => {
    const oldSid = request.session.sessionId
    await request.session.regenerate()
    request.session.set('user', 'regenerated')
    return { oldSid }
  })
  app.get('/destroy', async (request) => {
    const sid = request.session.sessionId
    await request.session.destroy()
    return { sid }
  })
  app.setErrorHandler(async (err, _request, reply) => {
    await reply.status(500).send({ error: describe(err) })
  })
  await app.ready()
  if (!handler) throw new Error('fastify did not hand over its request handler')
  return { listener: handler, close: () => app.close() }
}
