import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { server } from '@session-store/conformance/harness'
import express from 'express'
import session from 'express-session'
import { Redis } from 'ioredis'
import { afterAll, describe, expect, it } from 'vitest'
import { RedisStore } from '../src/index.js'
import { freshPrefix, literalPattern, scanAll } from './helpers.js'

declare module 'express-session' {
  interface SessionData {
    user: string
  }
}

const found = server('redis')

describe.skipIf(!found)('hashSids on a real Redis, through a real Express app', () => {
  const raw = found ? new Redis(found.url) : undefined
  const client = found ? new Redis(found.url) : undefined
  const prefix = freshPrefix('hashed')
  const store = client ? new RedisStore(client, { prefix, hashSids: true }) : undefined

  afterAll(async () => {
    await store?.close()
    client?.disconnect()
    raw?.disconnect()
  })

  it('serves the session and leaves no sid in the backend', async () => {
    if (!store || !raw) return
    const app = express()
    app.use(session({ store, secret: 'hashed sids test secret', resave: false, saveUninitialized: false }))
    app.get('/login', (req, res) => {
      req.session.user = 'ada'
      res.send(req.sessionID)
    })
    app.get('/me', (req, res) => {
      res.send(`${req.sessionID} ${req.session.user ?? 'nobody'}`)
    })
    const listener = app.listen(0, '127.0.0.1')
    await once(listener, 'listening')
    const base = `http://127.0.0.1:${(listener.address() as AddressInfo).port}`
    try {
      const login = await fetch(`${base}/login`)
      const sid = await login.text()
      const cookie = login.headers.getSetCookie()[0]?.split(';')[0] ?? ''
      expect(sid.length).toBeGreaterThan(20)
      expect(await (await fetch(`${base}/me`, { headers: { cookie } })).text()).toBe(`${sid} ada`)

      const keys = await scanAll(raw, `${literalPattern(prefix)}*`)
      expect(keys).toHaveLength(1)
      const values = await Promise.all(keys.map((key) => raw.get(key)))
      for (const text of [...keys, ...values]) expect(text).not.toContain(sid)
      expect(keys[0]).toMatch(new RegExp(`^${literalPattern(prefix)}[A-Za-z0-9_-]{43}$`))

      // The opaque id that enumeration yields reaches the same session (an admin's logout).
      const ids: string[] = []
      for await (const id of store.ids()) ids.push(id)
      expect(ids).toHaveLength(1)
      await store.destroy(ids[0]!)
      const after = await (await fetch(`${base}/me`, { headers: { cookie } })).text()
      expect(after).toMatch(/ nobody$/)
      expect(after).not.toContain(sid)
    } finally {
      listener.close()
    }
  })
})
