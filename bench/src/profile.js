// @ts-check
// `pnpm --filter @session-store/bench run profile --backend=mysql --workload=get-hit [--concurrency=64] [--seconds=5] [--subjects=ours,raw]`
//
// Finds where a store spends its time: runs one store-level workload for each named subject on
// a private server, with the V8 CPU profiler on only while the workload runs, writes the
// .cpuprofile files (open them in Chrome DevTools or speedscope) and prints the functions with
// the most self time, grouped by package, next to each other.

import { writeFile } from 'node:fs/promises'
import { Session } from 'node:inspector/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runClosedLoop } from './measure.js'
import { startServers } from './servers.js'
import { makeSession, sidList } from './sessions.js'
import { allSubjects } from './subjects.js'
import { POOL_SIZE, populate, prepare, WORKLOADS } from './workloads.js'

/**
 * @typedef {{ id: number, callFrame: { functionName: string, url: string, lineNumber: number }, children?: number[] }} ProfileNode
 * @typedef {{ nodes: ProfileNode[], samples: number[], timeDeltas: number[], startTime: number, endTime: number }} Profile
 */

/** Operations per profiled run at most (and fresh sids made for it). */
const OPS_CAP = 400_000

function option(/** @type {string} */ name, /** @type {string} */ fallback) {
  return process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback
}

/**
 * Self time per function ("name file:line"), and per package, in ms.
 * @param {Profile} profile
 */
function selfTimes(profile) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  /** @type {Map<string, number>} */
  const functions = new Map()
  /** @type {Map<string, number>} */
  const packages = new Map()
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(/** @type {number} */ (profile.samples[i]))
    if (!node) continue
    const ms = (profile.timeDeltas[i] ?? 0) / 1000
    const { functionName, url, lineNumber } = node.callFrame
    // The profiler's own start and stop calls are not the workload's time.
    if (url === 'node:inspector') continue
    const file = url
      .replace(/^file:\/\//, '')
      .replace(/^.*node_modules\/(\.pnpm\/[^/]+\/node_modules\/)?/, '')
    const name = `${functionName || '(anonymous)'} ${file.split('/').slice(-3).join('/')}:${lineNumber + 1}`
    functions.set(name, (functions.get(name) ?? 0) + ms)
    const pkg = packageOf(url)
    packages.set(pkg, (packages.get(pkg) ?? 0) + ms)
  }
  return { functions, packages }
}

/** The package a script belongs to, or what the VM calls the time. */
function packageOf(/** @type {string} */ url) {
  if (!url) return '(vm: gc, idle, program, native)'
  if (url.startsWith('node:')) return 'node core'
  const workspace = /\/work\/main\/(packages\/[^/]+|bench)\//.exec(url)
  if (workspace && !url.includes('node_modules')) return workspace[1] ?? url
  const match = /node_modules\/(?:\.pnpm\/[^/]+\/node_modules\/)?((?:@[^/]+\/)?[^/]+)/.exec(url)
  return match?.[1] ?? url
}

async function main() {
  const backend = option('backend', 'redis')
  const workloadId = option('workload', 'get-hit')
  const concurrency = Number(option('concurrency', '64'))
  const seconds = Number(option('seconds', '5'))
  const wanted = option('subjects', 'ours,raw').split(',')
  const workload = WORKLOADS.find((w) => w.id === workloadId)
  if (!workload) throw new Error(`--workload must be one of ${WORKLOADS.map((w) => w.id).join(', ')}`)
  const servers = await startServers({ backends: [backend], log: console.log })
  const session = new Session()
  session.connect()
  await session.post('Profiler.enable')
  await session.post('Profiler.setSamplingInterval', { interval: 100 })
  try {
    const subjects = ((await allSubjects(servers.urls))[backend] ?? []).filter(
      (s) => wanted.includes(s.role) || wanted.includes(s.name),
    )
    /** @type {Array<{ name: string, opsPerSec: number, times: ReturnType<typeof selfTimes>, totalMs: number }>} */
    const results = []
    for (const subject of subjects) {
      const instance = await subject.create()
      try {
        const store = instance.store
        const pool = sidList(POOL_SIZE, 'p')
        await populate(store, pool, makeSession(workload.bytes))
        // A destroy run needs its sessions written first, so it gets fewer operations.
        const total = workload.kind === 'destroy' ? Math.min(OPS_CAP, 100_000) : OPS_CAP
        const warm = await prepare(workload, store, pool, total, 1)
        await runClosedLoop({ total, concurrency, op: warm.op, deadline: performance.now() + 500 })
        const { op } = await prepare(workload, store, pool, total, 2)
        await session.post('Profiler.start')
        const result = await runClosedLoop({
          total,
          concurrency,
          op,
          deadline: performance.now() + seconds * 1000,
        })
        const { profile } = /** @type {{ profile: Profile }} */ (await session.post('Profiler.stop'))
        const file = join(
          tmpdir(),
          `session-store-${backend}-${workloadId}-c${concurrency}-${subject.name.replace(/\W+/g, '_')}.cpuprofile`,
        )
        await writeFile(file, JSON.stringify(profile))
        const times = selfTimes(profile)
        const totalMs = [...times.packages.values()].reduce((a, b) => a + b, 0)
        results.push({ name: subject.name, opsPerSec: result.opsPerSec, times, totalMs })
        console.log(
          `${subject.name}: ${Math.round(result.opsPerSec)} ops/s, ${result.errors} errors; profile in ${file}`,
        )
      } finally {
        await instance.close()
      }
    }
    for (const { name, opsPerSec, times, totalMs } of results) {
      const perOp = (/** @type {number} */ ms) => `${((ms / totalMs) * (1e6 / opsPerSec)).toFixed(2)} µs/op`
      console.log(`\n== ${name}: ${Math.round(opsPerSec)} ops/s, ${(1e6 / opsPerSec).toFixed(1)} µs per op`)
      console.log("by package (share of samples, and that share of one operation's time):")
      for (const [pkg, ms] of [...times.packages].sort((a, b) => b[1] - a[1]).slice(0, 10)) {
        console.log(`  ${((ms / totalMs) * 100).toFixed(1).padStart(5)}%  ${perOp(ms).padStart(14)}  ${pkg}`)
      }
      console.log('top functions by self time:')
      for (const [fn, ms] of [...times.functions].sort((a, b) => b[1] - a[1]).slice(0, 25)) {
        console.log(`  ${((ms / totalMs) * 100).toFixed(1).padStart(5)}%  ${fn}`)
      }
    }
  } finally {
    session.disconnect()
    await servers.close()
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error)
    process.exit(1)
  },
)
