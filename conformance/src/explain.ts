import type { ClauseId } from './clause.js'
import type { ClauseResult } from './engine.js'
import type { ConformanceReport } from './runner.js'

/**
 * `--explain <clause>`: what the clause found, what a user of the framework would see, and a
 * script that reproduces it through the real framework, with the store module filled in.
 */
export function explain(id: ClauseId, report: ConformanceReport, modulePath: string): string {
  const results = report.results.filter((r) => r.id === id)
  const lines = [`${id}: ${results.map((r) => r.title).join(', ')}`, '']
  for (const result of results) lines.push(...describeResult(result))
  const koa = report.dialect === 'koa'
  const steps = (koa ? koaSteps : expressSteps)[id]
  lines.push(
    '',
    steps
      ? `Reproduction through ${koa ? 'koa-generic-session' : 'express-session'} (save as repro.mjs beside the store module, run with node):`
      : `No framework reproduction for ${id}: it is about the store's API itself; the runner's check is the reproduction (session-store-conformance ${modulePath} --only ${id}).`,
  )
  if (steps) lines.push('', (koa ? koaScript : expressScript)(modulePath, steps))
  return `${lines.join('\n')}\n`
}

function describeResult(result: ClauseResult): string[] {
  if (result.status === 'passed') return [`  ${result.title}: passed`]
  if (result.status === 'skipped') return [`  ${result.title}: skipped (${result.reason})`]
  const lines = [`  ${result.title}: failed`]
  for (const finding of result.findings) {
    lines.push(`    [${finding.level}] ${finding.reason}`)
    if (finding.userSees) lines.push(`      a user sees: ${finding.userSees}`)
  }
  return lines
}

/** The steps of a reproduction: HTTP requests (a path) or waits (a number of ms), with what to look at. */
type Steps = Array<[string | number, string]>

const expressSteps: Partial<Record<ClauseId, Steps>> = {
  C1: [
    ['/login', 'logs in: the session holds user "ada"'],
    ['/me', 'must answer user "ada"'],
  ],
  C2: [['/me', 'a first visit without a cookie must answer 200 with no user, not an error']],
  C3: [
    ['/login', 'logs in as admin'],
    ['/drop-role', 'removes the admin role from the session'],
    ['/me', 'must answer no role: a role that comes back was removed and is still granted'],
  ],
  C4: [
    ['/login', 'logs in'],
    ['/logout', 'destroys the session'],
    ['replay', 'replays the old cookie: must answer no user'],
  ],
  C6: [
    ['/login', 'logs in with a cookie of 2 s'],
    [3500, 'waits past the expiry'],
    ['replay', 'replays the expired cookie: must answer no user'],
  ],
  C7: [
    ['/login', 'logs in'],
    ['/logout', 'destroys the session'],
    [
      'touch',
      'a request that loaded the session before the logout ends unmodified: express-session touches it',
    ],
    ['replay', 'replays the old cookie: must answer no user (the destroyed session must not come back)'],
  ],
  C10: [['parallel', '50 users log in at once: each must see their own user']],
  C15: [
    ['/login', 'logs in on instance A'],
    ['/me', 'instance B must see the same user'],
  ],
}

const koaSteps: Partial<Record<ClauseId, Steps>> = {
  C1: expressSteps.C1!,
  C2: expressSteps.C2!,
  C3: expressSteps.C3!,
  C4: expressSteps.C4!,
  C5: expressSteps.C6!,
  C6: expressSteps.C6!,
  C10: expressSteps.C10!,
  C15: expressSteps.C15!,
}

/** The shared part of the scripts: load the module's store, walk the steps over HTTP. */
function driver(modulePath: string, steps: Steps): string {
  return `const mod = await import(new URL(${JSON.stringify(modulePath)}, import.meta.url))
const exported = mod.default ?? mod
const make = typeof exported === 'function' ? exported : exported.create
const store = await make({ prefix: 'repro:' })

const server = app.listen(0)
const base = \`http://127.0.0.1:\${server.address().port}\`
let cookie = ''
let saved = ''
const get = async (path, jar = cookie) => {
  const res = await fetch(base + path, { headers: jar ? { cookie: jar } : {} })
  const set = res.headers.get('set-cookie')
  if (set) cookie = set.split(';')[0]
  return \`\${res.status} \${await res.text()}\`
}
for (const [step, what] of ${JSON.stringify(steps)}) {
  if (typeof step === 'number') await new Promise((r) => setTimeout(r, step))
  else if (step === 'replay') console.log('GET /me with the old cookie ->', await get('/me', saved))
  else if (step === 'touch') console.log('GET /slow-unmodified ->', await get('/slow-unmodified', saved))
  else if (step === 'parallel') {
    const answers = await Promise.all(Array.from({ length: 50 }, (_, n) => fetch(\`\${base}/login?user=u\${n}\`).then((r) => r.text())))
    console.log('users mixed up:', answers.filter((a, n) => !a.includes(\`"u\${n}"\`)).length)
  } else {
    if (step === '/logout' || step === '/login') saved = cookie
    console.log(\`GET \${step} ->\`, await get(step))
    if (step === '/login') saved = cookie
  }
  console.log('  ', what)
}
server.close()
await store.close?.()
process.exit(0)`
}

function expressScript(modulePath: string, steps: Steps): string {
  return `import express from 'express'
import session from 'express-session'

const app = express()
const mod0 = await import(new URL(${JSON.stringify(modulePath)}, import.meta.url))
const exported0 = mod0.default ?? mod0
const store0 = await (typeof exported0 === 'function' ? exported0 : exported0.create)({ prefix: 'repro:' })
app.use(session({ store: store0, secret: 'repro', resave: false, saveUninitialized: false, cookie: { maxAge: 2000 } }))
app.get('/login', (req, res) => { req.session.user = String(req.query.user ?? 'ada'); req.session.role = 'admin'; res.json({ user: req.session.user }) })
app.get('/me', (req, res) => res.json({ user: req.session.user ?? null, role: req.session.role ?? null }))
app.get('/drop-role', (req, res) => { delete req.session.role; res.json({ role: null }) })
app.get('/logout', (req, res, next) => req.session.destroy((err) => (err ? next(err) : res.json({ user: null }))))
app.get('/slow-unmodified', (req, res) => setTimeout(() => res.json({ user: req.session.user ?? null }), 200))
${driver(modulePath, steps).replace("const store = await make({ prefix: 'repro:' })", 'const store = store0')}`
}

function koaScript(modulePath: string, steps: Steps): string {
  return `import Koa from 'koa'
import session from 'koa-generic-session'

const koa = new Koa()
koa.keys = ['repro']
const mod0 = await import(new URL(${JSON.stringify(modulePath)}, import.meta.url))
const exported0 = mod0.default ?? mod0
const store0 = await (typeof exported0 === 'function' ? exported0 : exported0.create)({ prefix: 'repro:' })
koa.use(session({ store: store0, cookie: { maxAge: 2000 } }))
koa.use((ctx) => {
  if (ctx.path === '/login') { ctx.session.user = String(ctx.query.user ?? 'ada'); ctx.session.role = 'admin' }
  if (ctx.path === '/drop-role') delete ctx.session.role
  if (ctx.path === '/logout') ctx.session = null
  ctx.body = { user: ctx.session?.user ?? null, role: ctx.session?.role ?? null }
})
const app = { listen: (port) => koa.listen(port) }
${driver(modulePath, steps).replace("const store = await make({ prefix: 'repro:' })", 'const store = store0')}`
}
