export { DOCKER_IMAGES } from './docker.js'
export { MYSQL_DATABASE, startMariadb } from './mariadb.js'
export { type MemcachedOptions, startMemcached } from './memcached.js'
export { type FerretdbServer, findFerretdb, startFerretdb, startMongod } from './mongodb.js'
export { POSTGRES_DATABASE, startPostgres } from './postgres.js'
export { type TcpProxy, tcpProxy } from './proxy.js'
export { SENTINEL_MASTER_NAME, startRedis, startRedisCluster, startRedisSentinel } from './redis.js'
export {
  parseBackendList,
  RequiredBackendMissing,
  type ResolvedServers,
  type ResolveOptions,
  resolveServers,
} from './resolve.js'
export { server, skipReason } from './server.js'
export {
  BACKEND_NAMES,
  type BackendName,
  type BackendStatus,
  type HarnessReport,
  type HostPort,
  type PrivateServer,
  type ServerFound,
  type ServerSource,
} from './types.js'
