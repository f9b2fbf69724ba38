import { MongoClient } from 'mongodb'

/**
 * What serves `url`: FerretDB says so in `buildInfo` (`ferretdbVersion`), MongoDB does not.
 * Tests of what only one of them does (MongoDB's TTL monitor, FerretDB's missing TTL indexes)
 * ask this, so they follow the server the run really has, whatever the harness found it by.
 */
export async function serverKind(url: string): Promise<{ ferretdb: string | undefined; version: string }> {
  const client = await new MongoClient(url, { serverSelectionTimeoutMS: 5000 }).connect()
  try {
    const info = await client.db('admin').command({ buildInfo: 1 })
    return {
      ferretdb: typeof info.ferretdbVersion === 'string' ? info.ferretdbVersion : undefined,
      version: String(info.version),
    }
  } finally {
    await client.close()
  }
}
