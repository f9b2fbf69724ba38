import { once } from 'node:events'
import { server, skipReason, tcpProxy } from '@session-store/conformance/harness'
import { SessionStoreError } from '@session-store/core'
import { MongoClient } from 'mongodb'
import { describe, expect, it } from 'vitest'
import { MongoStore } from '../src/index.js'
import { proxiedUrl } from './target.js'

const found = server('mongodb')

describe.skipIf(!found)(
  `MongoStore faults on ${found?.description ?? `MongoDB (skipped: ${skipReason('mongodb')})`}`,
  () => {
    it('recovers when MongoDB was unreachable as the store started', async () => {
      const proxy = await tcpProxy({ host: found!.host, port: found!.port })
      const dbName = 'session_store_test'
      const collection = `sessions_faults_${process.pid}_${Date.now()}`
      const store = new MongoStore(proxiedUrl(found!.url, proxy), { dbName, collection, timeout: 2000 })
      const events: string[] = []
      store.on('disconnect', () => events.push('disconnect'))
      store.on('connect', () => events.push('connect'))
      try {
        await proxy.cut()
        const during = await rejection(store.get('sid'))
        expect(during).toBeInstanceOf(SessionStoreError)
        await proxy.restore()
        let written = false
        for (let attempt = 0; attempt < 20 && !written; attempt++) {
          written = await store.set('sid', { n: 1 }).then(
            () => true,
            () => new Promise<boolean>((resolve) => setTimeout(resolve, 250, false)),
          )
        }
        expect(written).toBe(true)
        expect(await store.get('sid')).toEqual({ n: 1 })
        expect(events).toEqual(['disconnect', 'connect'])
      } finally {
        await store.close()
        await proxy.close()
        const client = await new MongoClient(found!.url, { serverSelectionTimeoutMS: 5000 }).connect()
        await client
          .db(dbName)
          .collection(collection)
          .drop()
          .catch(() => {})
        await client.close()
      }
    })

    it('notices a server that stops answering, bounds every call meanwhile, and resumes after', async () => {
      const proxy = await tcpProxy({ host: found!.host, port: found!.port })
      const dbName = 'session_store_test'
      const collection = `sessions_faults_${process.pid}_${Date.now()}`
      // A short heartbeat, so the driver's monitor gives up on the silent server quickly.
      const store = new MongoStore(proxiedUrl(found!.url, proxy), {
        dbName,
        collection,
        timeout: 2000,
        clientOptions: { heartbeatFrequencyMS: 500 },
      })
      try {
        await store.set('sid', { n: 1 })
        const disconnected = once(store, 'disconnect')
        await proxy.stall()
        for (const call of [
          store.get('sid'),
          store.set('sid', { n: 2 }),
          store.touch('sid', { n: 1 }),
          store.length(),
        ]) {
          const error = await rejection(call)
          expect(error).toBeInstanceOf(SessionStoreError)
        }
        await disconnected
        const connected = once(store, 'connect')
        await proxy.restore()
        let written = false
        for (let attempt = 0; attempt < 40 && !written; attempt++) {
          written = await store.set('after', { n: 3 }).then(
            () => true,
            () => new Promise<boolean>((resolve) => setTimeout(resolve, 250, false)),
          )
        }
        expect(written).toBe(true)
        await connected
        expect(await store.get('after')).toEqual({ n: 3 })
      } finally {
        await proxy.restore()
        await store.close()
        await proxy.close()
        const client = await new MongoClient(found!.url, { serverSelectionTimeoutMS: 5000 }).connect()
        await client
          .db(dbName)
          .collection(collection)
          .drop()
          .catch(() => {})
        await client.close()
      }
    })
  },
)

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise
  } catch (error) {
    return error as Error
  }
  throw new Error('expected the operation to reject, it resolved')
}
