// koa-redis against the Redis in REDIS_URL, with the ioredis client it creates itself. It has
// no prefix option: ioredis' keyPrefix, which it passes through, gives each namespace the suite
// asks for its own keys.
import redisStore from 'koa-redis'

const stores = []

export default {
  create: ({ prefix }) => {
    const store = redisStore({ url: process.env.REDIS_URL, keyPrefix: prefix })
    store.on('error', () => {})
    stores.push(store)
    return store
  },
  cleanup: () => {},
  close: async () => {
    for (const store of stores) await store.quit()
  },
}
