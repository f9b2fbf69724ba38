import { once } from 'node:events'
import { server, skipReason, tcpProxy } from '@session-store/conformance/harness'
import { describe, expect, it } from 'vitest'
import { startDemo } from '../src/demo.js'

const found = server('redis')

describe('the demo through a store outage', () => {
  it.skipIf(!found)(
    `answers 503 while Redis is unreachable and carries on the same session once it is back${
      found ? '' : ` (skipped: ${skipReason('redis')})`
    }`,
    async () => {
      // The demo reaches the run's Redis through a proxy, so the test can cut it off without
      // touching a server others may share.
      const proxy = await tcpProxy({ host: found!.host, port: found!.port })
      const url = new URL(found!.url)
      url.hostname = proxy.host
      url.port = String(proxy.port)
      const demo = await startDemo({ port: 0, store: 'redis', env: { REDIS_URL: url.href } })
      try {
        let cookie = ''
        const call = async () => {
          const response = await fetch(`${demo.url}/api/session`, { headers: cookie ? { cookie } : {} })
          const set = response.headers.getSetCookie()[0]
          if (set) cookie = set.slice(0, set.indexOf(';'))
          return response
        }
        expect(await (await call()).json()).toMatchObject({ instance: 'app-1', count: 1 })
        expect(await (await call()).json()).toMatchObject({ instance: 'app-2', count: 2 })

        await proxy.cut()
        const down = await call()
        expect(down.status).toBe(503)
        expect(await down.text()).toMatch(/^app-1: the session store failed: /)

        await proxy.restore()
        if (!demo.store.connected) await once(demo.store, 'connect')
        // The session was kept by Redis all along: the count goes on where it stopped.
        expect(await (await call()).json()).toMatchObject({ instance: 'app-2', count: 3 })
      } finally {
        await demo.close()
        await proxy.close()
      }
    },
  )
})
