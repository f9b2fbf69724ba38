// Option checking: which option names a store takes, and what a name it does not take means,
// so that an option spelled the way another store spells it is refused with the name to use.

/** The options every store takes (BaseStoreOptions). */
export const BASE_OPTION_NAMES: readonly string[] = [
  'prefix',
  'ttl',
  'disableTtl',
  'disableTouch',
  'touchAfter',
  'timeout',
  'serializer',
  'hashSids',
]

/**
 * Options of the stores people migrate from, and what to write instead. Only consulted for a
 * name the store does not take, so a backend that does take one of these names (MongoStore's
 * `autoRemove`, MemcachedStore's `client`) is unaffected.
 */
const OTHER_STORES_SPELLINGS: Readonly<Record<string, string>> = {
  // connect-redis, koa-redis
  disableTTL: 'use disableTtl',
  client: 'pass the client as the first argument',
  db: 'select the database on the client you pass in',
  host: 'pass a client (or a URL) as the first argument',
  port: 'pass a client (or a URL) as the first argument',
  url: 'pass the URL as the first argument',
  // connect-mongo
  mongoUrl: 'pass the URL as the first argument',
  clientPromise: 'pass the connected MongoClient as the first argument',
  collectionName: 'use collection',
  stringify: 'use serializer',
  crypto: 'use serializer: encryptedSerializer({ keys })',
  // express-mysql-session
  expiration: "use ttl, in seconds (express-mysql-session's expiration is in ms)",
  clearExpired: 'use pruneInterval: false to stop pruning',
  checkExpirationInterval: 'use pruneInterval',
  createDatabaseTable: 'use createTable',
  endConnectionOnClose: 'use endPoolOnClose',
  schema: 'use table and columns',
  // connect-pg-simple
  tableName: 'use table',
  schemaName: 'use schema',
  pruneSessionInterval: 'use pruneInterval',
  createTableIfMissing: 'use createTable',
  conString: 'pass the URL as the first argument',
  conObject: 'pass a pool (or a URL) as the first argument',
  pool: 'pass the pool as the first argument',
  pgPromise: 'pass a pg pool as the first argument',
  errorLog: "listen to the store's 'error' event",
  // connect-memcached
  hosts: 'pass the servers as the first argument',
  // several
  logErrors: "listen to the store's 'error' event",
  disableTouching: 'use disableTouch',
}

/**
 * The names in `options` that are not among `known`, each with what to write instead when it
 * is another store's spelling: `'disableTTL' (use disableTtl)`. Empty when all are known.
 */
export function unknownOptions(options: object, known: ReadonlySet<string>): string[] {
  const unknown: string[] = []
  for (const name of Object.keys(options)) {
    if (known.has(name)) continue
    const instead = Object.hasOwn(OTHER_STORES_SPELLINGS, name) ? OTHER_STORES_SPELLINGS[name] : undefined
    unknown.push(instead === undefined ? `'${name}'` : `'${name}' (${instead})`)
  }
  return unknown
}
