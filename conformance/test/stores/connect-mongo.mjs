// connect-mongo against the MongoDB (or MongoDB-compatible server) in MONGO_URL, a collection
// per namespace the suite asks for (it has no key prefix), each store with the client it makes
// from the URL (its close() closes the client). autoRemove 'interval', as its users on servers
// without TTL indexes (FerretDB 1.x) must set: with the default, connect-mongo's TTL-index
// creation fails there with an unhandled rejection that ends the process.
import { createHash } from 'node:crypto'
import MongoStore from 'connect-mongo'
import { MongoClient } from 'mongodb'

const mongoUrl = process.env.MONGO_URL
const dbName = 'session_store_runner'
const collections = new Set()

export default {
  create: ({ prefix }) => {
    const collectionName = `cm_${createHash('sha256').update(prefix).digest('hex').slice(0, 16)}`
    collections.add(collectionName)
    return MongoStore.create({
      mongoUrl,
      dbName,
      collectionName,
      autoRemove: 'interval',
      autoRemoveInterval: 60,
    })
  },
  cleanup: () => {},
  close: async () => {
    const admin = await new MongoClient(mongoUrl).connect()
    for (const name of collections)
      await admin
        .db(dbName)
        .collection(name)
        .drop()
        .catch(() => {})
    await admin.close()
  },
}
