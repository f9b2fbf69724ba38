// connect-redis (with the node-redis client it requires) against the Redis in REDIS_URL.
import { RedisStore } from 'connect-redis'
import { createClient } from 'redis'

const client = createClient({ url: process.env.REDIS_URL })
client.on('error', () => {})
await client.connect()

export default {
  create: ({ prefix }) => new RedisStore({ client, prefix }),
  // Stores share the module's client; nothing to release per store.
  cleanup: () => {},
  close: () => client.quit(),
}
