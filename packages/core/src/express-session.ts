// express-session compatibility: its Cookie and Session classes rebuilt around loaded data, the
// types its Store declares, and nothing else. express-session is an optional peer, loaded the
// first time a session is rebuilt, which only ever happens inside an app that uses it.

import { createRequire } from 'node:module'
import { join } from 'node:path'
import type { SessionCookie, SessionData } from './types.js'

declare global {
  // The global namespace that @types/express-session augments.
  namespace Express {
    /**
     * express's request. @types/express-session adds `session`, `sessionID` and
     * `sessionStore` to it; declared (empty) here too, so that the types below resolve in a
     * project without express's types.
     */
    interface Request {}
  }
}

/** express-session's Store, as @types/express-session declares it, where the app has those types. */
type InstalledExpressStore = Express.Request extends { sessionStore: infer Store } ? Store : undefined

/**
 * The session data express-session hands a store: its `SessionData`, with the app's own
 * declaration merging, in a project with @types/express-session (joined with our
 * {@link SessionData}, so such a store still passes for any contract store); our SessionData
 * elsewhere. It is what a store's sessions are typed as unless the store is given a type.
 */
export type ExpressSessionData = InstalledExpressStore extends {
  createSession(req: never, session: infer Data): unknown
}
  ? Data & SessionData
  : SessionData

/** What express-session's `createSession` returns: its live Session, with the data on it. */
export type ExpressSession = InstalledExpressStore extends {
  createSession(req: never, session: never): infer Live
}
  ? Live
  : SessionData & { id: string }

/** The request express-session hands `regenerate` and `createSession`. */
export type ExpressRequest = Express.Request

/** The parts of a request the Store methods use, as express-session sets them. */
interface RequestWithSession {
  sessionID?: string
  session?: unknown
  sessionStore?: { generate?(req: unknown): void }
}

/** The parts of express-session used here: its Session and Cookie classes. */
interface ExpressSessionModule {
  Cookie: new (options?: object) => { expires: Date | null | undefined; originalMaxAge: number | null }
  Session: new (req: unknown, data: object) => object
}

let expressSession: ExpressSessionModule | undefined

/**
 * express-session as the app has it: resolved from this package (where a package manager
 * links the optional peer), else from the app's directory (the module that called
 * `createSession` is express-session itself, so it is installed somewhere the app can reach).
 */
function loadExpressSession(): ExpressSessionModule {
  if (expressSession !== undefined) return expressSession
  const bases = [import.meta.url, join(process.cwd(), 'package.json')]
  let lastError: unknown
  for (const base of bases) {
    try {
      expressSession = createRequire(base)('express-session') as ExpressSessionModule
      return expressSession
    } catch (err) {
      lastError = err
    }
  }
  throw new Error('express-session could not be loaded from @session-store/core or from the app', {
    cause: lastError,
  })
}

/**
 * What express-session's `Store.prototype.createSession` does, for loaded data: rebuild its
 * Cookie (with `expires` revived as a Date and the stored `originalMaxAge` kept) and its
 * Session, and attach the Session to the request. A session written by a Koa or Fastify app
 * has no cookie; it gets a fresh one rather than crashing the request.
 */
export function createExpressSession(req: unknown, loaded: object): object {
  const { Cookie, Session } = loadExpressSession()
  // Whatever the app's session type, what express-session stored is a JSON object whose
  // `cookie` (when it has one) is the cookie express-session serialised.
  const data = loaded as SessionData
  const stored: SessionCookie = data.cookie ?? {}
  const cookie = new Cookie(stored)
  if (typeof stored.expires === 'string') cookie.expires = new Date(stored.expires)
  if (stored.originalMaxAge !== undefined) cookie.originalMaxAge = stored.originalMaxAge
  data.cookie = cookie as SessionCookie
  const session = new Session(req, data)
  ;(req as RequestWithSession).session = session
  return session
}

/** express-session's `regenerate`: destroy the old session, then let the middleware make a new one. */
export function regenerateExpressSession(
  req: unknown,
  destroy: (sid: string, callback: (err: Error | null) => void) => void,
  callback: (err?: Error | null) => void,
): void {
  const request = req as RequestWithSession
  destroy(request.sessionID ?? '', (err) => {
    request.sessionStore?.generate?.(req)
    callback(err)
  })
}
