import {
  badOptions,
  commonBadOptions,
  type FaultTarget,
  faultScenarios,
  proxyControl,
  type RawValue,
} from '@session-store/conformance/faults'
import { server, skipReason, type TcpProxy, tcpProxy } from '@session-store/conformance/harness'
import type { BaseStore } from '@session-store/core'
import { MongoClient } from 'mongodb'
import { afterAll, beforeAll, describe, it } from 'vitest'
import { MongoStore } from '../src/index.js'
import { serverKind } from './server-kind.js'
import { proxiedUrl } from './target.js'

// The reliability scenarios of @session-store/conformance/faults on the run's MongoDB. The
// harness has no private mongod to kill, so the server is taken away through a TCP proxy: cut
// for an outage (the server keeps its data), stalled for a frozen server.

const found = server('mongodb')
const ferretdb = found ? (await serverKind(found.url)).ferretdb : undefined
/** Connections per client on FerretDB: the best throughput under load, measured here at 2 to 4. */
const FERRETDB_POOL = 4
/**
 * FerretDB 1.24 on SQLite writes a session in O(sessions in the collection): its `_id` index is
 * on an expression its own statements do not use, so SQLite scans the table for every update
 * and delete by `_id`. The load scenarios do every operation they do elsewhere, given longer.
 */
const FERRETDB_SLOWDOWN = 4

describe.skipIf(!found)(
  `reliability: MongoStore (${found ? found.description : skipReason('mongodb')})`,
  () => {
    const dbName = 'session_store_faults'
    const collection = `sessions_${process.pid}_${Date.now()}`
    let proxy: TcpProxy
    /** Plants raw documents with the driver, as another program would. */
    let admin: MongoClient
    const env = { url: '', dbName, collection }
    beforeAll(async () => {
      proxy = await tcpProxy({ host: found!.host, port: found!.port })
      env.url = found!.url
      admin = await new MongoClient(found!.url, { serverSelectionTimeoutMS: 5000 }).connect()
    })
    afterAll(async () => {
      await admin
        ?.db(dbName)
        .collection(collection)
        .drop()
        .catch(() => {})
      await admin?.close()
      await proxy?.close()
    })

    async function plant(store: BaseStore, sid: string, value: RawValue): Promise<void> {
      // A Buffer becomes BSON binary data and a number a BSON number: not the string the store writes.
      await admin
        .db(dbName)
        .collection<{ _id: string }>(collection)
        .replaceOne(
          { _id: store.prefix + sid },
          { session: value, expires: new Date(Date.now() + 600_000) },
          { upsert: true },
        )
    }

    const target: FaultTarget = {
      name: 'mongodb',
      create: ({ prefix, timeout }) =>
        new MongoStore(proxiedUrl(found!.url, proxy), {
          dbName,
          collection,
          prefix,
          timeout,
          // FerretDB on SQLite, as the README advises for it: few connections. SQLite takes one
          // writer at a time and its waiters poll; with the driver's 100, a write under this
          // load can starve past FerretDB's 10 s busy timeout ("database is locked").
          ...(ferretdb && { clientOptions: { maxPoolSize: FERRETDB_POOL } }),
        }),
      server: {
        stop: () => proxyControl(proxy).stop(),
        start: () => proxyControl(proxy).start(),
        pause: () => proxyControl(proxy).pause(),
        resume: () => proxyControl(proxy).resume(),
      },
      // The proxy cuts the connections; the server itself keeps running, and its data.
      restart: 'keeps data',
      // The driver may give up on a silent server before the store's deadline does.
      frozenServerCodes: ['ETIMEOUT', 'EBACKEND'],
      plant,
      clients: (store) => [(store as MongoStore).client],
    }
    const scenarios = faultScenarios(target, {
      exit: {
        'the store creates and closes its client': {
          base: import.meta.url,
          imports: { mongodb: '@session-store/mongodb' },
          env,
          setup:
            'return { store: new modules.mongodb.MongoStore(env.url, { dbName: env.dbName, collection: env.collection }) }',
        },
        'the caller closes its client': {
          base: import.meta.url,
          imports: { mongodb: '@session-store/mongodb', driver: 'mongodb' },
          env,
          setup: `const client = new modules.driver.MongoClient(env.url)
                const store = new modules.mongodb.MongoStore(client, { dbName: env.dbName, collection: env.collection })
                return { store, closeClient: () => client.close() }`,
        },
      },
    })
    for (const scenario of scenarios) {
      it.skipIf(scenario.skip !== undefined)(
        scenario.title,
        scenario.run,
        ferretdb ? scenario.timeoutMs * FERRETDB_SLOWDOWN : scenario.timeoutMs,
      )
    }
  },
)

// Construction needs no server: the driver parses the connection string without connecting.
describe('reliability: MongoStore options', () => {
  const url = 'mongodb://127.0.0.1:27017'
  it('bad options', () =>
    badOptions([
      ...commonBadOptions((options) => new MongoStore(url, options as never)),
      { what: 'an http:// URL', create: () => new MongoStore('http://127.0.0.1:27017') },
      { what: 'an unparsable URL', create: () => new MongoStore('not a url') },
      { what: 'a URL without a host', create: () => new MongoStore('mongodb://') },
      { what: 'a port out of range', create: () => new MongoStore('mongodb://127.0.0.1:99999') },
      { what: 'an unknown URL option', create: () => new MongoStore(`${url}/?unknownOption=1`) },
      { what: 'no connection', create: () => new MongoStore(undefined as never) },
      { what: 'connection options instead of a client', create: () => new MongoStore({ url } as never) },
      { what: 'an empty dbName', create: () => new MongoStore(url, { dbName: '' }) },
      { what: 'an empty collection name', create: () => new MongoStore(url, { collection: '' }) },
      { what: 'createIndex as a string', create: () => new MongoStore(url, { createIndex: 'yes' as never }) },
    ]))

  // Names the server refuses, which the driver would let through to the first request.
  const refusedByMongo: Array<[string, () => unknown]> = [
    ["a dbName with a '.'", () => new MongoStore(url, { dbName: 'a.b' })],
    ["a dbName with a '/'", () => new MongoStore(url, { dbName: 'a/b' })],
    ["a collection name with a '$'", () => new MongoStore(url, { collection: 'a$b' })],
    [
      "a collection in the reserved 'system.' namespace",
      () => new MongoStore(url, { collection: 'system.x' }),
    ],
    ['a host with a space', () => new MongoStore('mongodb://a b')],
  ]
  it('bad options: names MongoDB refuses are refused at construction', () =>
    badOptions(refusedByMongo.map(([what, create]) => ({ what, create }))))
})
