// @ts-check
// One app instance: an ordinary Express app with express-session. Nothing in it knows that
// other instances exist; they agree only on the store and the cookie secret.
import express from 'express'
import session from 'express-session'

/** The session cookie's name (express-session's default, spelled out for logout). */
const COOKIE_NAME = 'connect.sid'

/**
 * Builds one app instance.
 * @param {object} options
 * @param {string} options.name How the instance introduces itself on its page and in the JSON.
 * @param {import('express-session').Store} options.store The session store every instance shares.
 * @param {string} options.secret Signs the session cookie; every instance must use the same one,
 *   or a cookie set by one instance is rejected by the next.
 * @returns {import('express').Express}
 */
export function createApp({ name, store, secret }) {
  const app = express()
  app.disable('x-powered-by')
  app.use(
    session({
      name: COOKIE_NAME,
      store,
      secret,
      // Write only sessions that changed (this one changes on every visit) and never create
      // empty ones for visitors that store nothing.
      resave: false,
      saveUninitialized: false,
      cookie: { httpOnly: true, sameSite: 'lax', maxAge: 30 * 60 * 1000 },
    }),
  )

  // While the store reports itself disconnected, express-session lets requests through
  // without a session rather than wait for it; this app has nothing to show without one.
  app.use((req, _res, next) => {
    next(req.session ? undefined : new Error('the store is disconnected'))
  })

  /**
   * Counts this visit in the session, whichever instance answers.
   * @param {import('express').Request} req
   * @returns {number} The visits of this session so far, this one included.
   */
  const countVisit = (req) => {
    req.session.count = (req.session.count ?? 0) + 1
    return req.session.count
  }

  app.get('/', (req, res) => {
    res.type('html').send(page(name, countVisit(req)))
  })

  app.get('/api/session', (req, res) => {
    res.json({ instance: name, count: countVisit(req), pid: process.pid })
  })

  app.post('/logout', (req, res, next) => {
    req.session.destroy((err) => {
      if (err) return next(err)
      res.clearCookie(COOKIE_NAME).redirect(303, '/')
    })
  })

  // A store that cannot be reached fails the request (after the store's timeout at most); say
  // so plainly. The next request works again once the store is back.
  app.use(
    /** @type {import('express').ErrorRequestHandler} */
    (err, _req, res, _next) => {
      res.status(503).type('text').send(`${name}: the session store failed: ${err.message}\n`)
    },
  )
  return app
}

/**
 * The page: which instance answered and the session's count.
 * @param {string} name
 * @param {number} count
 */
function page(name, count) {
  // The empty icon keeps the browser from asking for /favicon.ico: that request would take a
  // turn of the round-robin, and every reload would then land on the same instance.
  return `<!doctype html>
<html lang="en">
<meta charset="utf-8">
<link rel="icon" href="data:,">
<title>session-store demo</title>
<h1>Answered by ${name}</h1>
<p>(process ${process.pid})</p>
<p>This session has been counted <strong>${count}</strong> ${count === 1 ? 'time' : 'times'}, by whichever instance answered.</p>
<p><a href="/">Reload</a> and watch the instance change while the count goes on.</p>
<form method="post" action="/logout"><button>Log out</button> (destroys the session; the count starts again)</form>
</html>
`
}
