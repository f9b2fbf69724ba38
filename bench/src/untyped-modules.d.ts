// The subjects that ship no type declarations, and the frameworks whose @types packages this
// package does not install: typed loosely, as the benchmarks use only a few calls of each.
declare module 'connect-memcached'
declare module 'connect-pg-simple'
declare module 'express-mysql-session'
declare module 'koa-redis'
declare module 'session-file-store'
declare module 'memcached'
declare module 'express'
declare module 'express-session'
declare module 'koa'
declare module 'koa-generic-session'
