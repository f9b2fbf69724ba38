// connect-memcached against the memcached servers in MEMCACHED_SERVERS (host:port, comma-separated).
import connectMemcached from 'connect-memcached'
import session from 'express-session'

const MemcachedStore = connectMemcached(session)
const hosts = process.env.MEMCACHED_SERVERS.split(',')
const stores = []

export default {
  create: ({ prefix }) => {
    const store = new MemcachedStore({ hosts, prefix })
    stores.push(store)
    return store
  },
  cleanup: () => {},
  // Each store owns a memcached client; ending them lets the process exit.
  close: () => {
    for (const store of stores) store.client.end()
  },
}
