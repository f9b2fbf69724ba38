// @ts-check
// From measurements to verdicts: the ratios (ours / raw client, ours / each alternative),
// each target with PASS or MISS, the console table and bench/RESULTS.md.

import { formatMb, formatMs, formatRate, pairedRatio } from './measure.js'

/**
 * @typedef {import('./measure.js').Summary} Summary
 * @typedef {import('./store-level.js').CellResult} CellResult
 * @typedef {import('./end-to-end.js').EndToEndCell} EndToEndCell
 * @typedef {object} MemoryResult
 * @property {string} backend
 * @property {number} [ops]
 * @property {number} [seconds]
 * @property {Array<{ heapUsed: number, rss: number, ops: number }>} [checkpoints]
 * @property {number} [errors]
 * @property {string} [firstError]
 * @property {string} [skipped]
 * @typedef {{ ms: number, peakBytes: number, result: number } | { skipped: string }} EnumerationOperation
 * @typedef {object} EnumerationResult
 * @property {string} backend
 * @property {string} subject display name
 * @property {'ours' | 'alt' | 'feature'} role
 * @property {number} count
 * @property {Record<string, EnumerationOperation[]>} operations one entry per repeat
 * @property {string} [failed]
 * @typedef {object} Verdict one ratio (or measured quantity), with a target where one applies
 * @property {'store' | 'e2e' | 'memory' | 'enumeration'} group
 * @property {string} backend
 * @property {string} row e.g. 'redis get hit 300 B c64'
 * @property {string} column e.g. 'ours / raw ioredis'
 * @property {string | undefined} target e.g. 'ours / raw ioredis >= 0.90'; undefined: informational
 * @property {string} where the row, for lists of verdicts
 * @property {number} value
 * @property {string} shown how the value reads in a table
 * @property {boolean | undefined} pass undefined when no target applies
 * @typedef {object} Run everything one run measured
 * @property {{ date: string, mode: string, command: string, cpus: string, cores: number, memory: string, node: string, os: string, loadBefore: number[], loadAfter: number[], minutes: number }} machine
 * @property {Record<string, string>} servers backend -> description (with version)
 * @property {Array<{ name: string, backend: string, role: string, package: string, version: string }>} subjects
 * @property {CellResult[]} storeLevel
 * @property {EndToEndCell[]} endToEnd
 * @property {MemoryResult[]} memory
 * @property {EnumerationResult[]} enumeration
 * @property {{ seconds: number, repeats: number, e2eSeconds: number, e2eRepeats: number, memoryOps: number, enumerationCount: number }} settings
 */

/** Targets, as the design states them. */
export const TARGETS = {
  raw: 0.9,
  alternative: 1.0,
  alternativeTouchAfter: 1.2,
  redisBestAlternative: 1.5,
  /** Heap growth allowed over the measured operations: 2 bytes per operation, at least 1 MB. */
  memoryBytesPerOp: 2,
  memoryFloorBytes: 1024 * 1024,
  /**
   * Enumeration memory is bounded when the peak at N sessions stays within 1.5x the peak at
   * N/10 plus 1 MB; memory that grows with the count shows about 10x.
   */
  enumerationGrowth: 1.5,
  enumerationSlackBytes: 1024 * 1024,
}

/**
 * The summary when it holds a clean measurement; a subject that was skipped or made errors
 * has no ratio.
 * @param {Summary | { skipped: string } | undefined} s
 * @returns {Summary | undefined}
 */
function measured(s) {
  return s && !('skipped' in s) && s.errors === 0 ? s : undefined
}

/**
 * ours / other as the median of per-round ratios; NaN when either is missing.
 * @param {Summary | { skipped: string } | undefined} ours
 * @param {Summary | { skipped: string } | undefined} other
 */
function speedup(ours, other) {
  const a = measured(ours)
  const b = measured(other)
  return a && b ? pairedRatio(a, b) : Number.NaN
}

/** @param {number} value */
function ratio(value) {
  return Number.isFinite(value) ? value.toFixed(2) : '-'
}

/**
 * Every ratio of the run, with its verdict where a target applies, in the order the report
 * lists them. Ratios without a target (ours / raw client at concurrency 1) are informational:
 * `pass` is undefined and they count neither way.
 * @param {Run} run
 * @returns {Verdict[]}
 */
export function verdicts(run) {
  /** @type {Verdict[]} */
  const list = []
  const subjectsOf = (/** @type {string} */ backend, /** @type {string} */ role) =>
    run.subjects.filter((s) => s.backend === backend && s.role === role).map((s) => s.name)

  for (const cell of run.storeLevel) {
    const row = `${cell.backend} ${cell.label} c${cell.concurrency}`
    const ours = cell.subjects.ours
    /**
     * @param {string} column
     * @param {number} value
     * @param {number | undefined} minimum undefined: no target here
     */
    const add = (column, value, minimum) =>
      list.push({
        group: 'store',
        backend: cell.backend,
        row,
        column,
        target: minimum === undefined ? undefined : `${column} >= ${minimum.toFixed(2)}`,
        where: row,
        value,
        shown: ratio(value),
        pass: minimum === undefined ? undefined : Number.isFinite(value) && value >= minimum,
      })
    for (const feature of subjectsOf(cell.backend, 'feature')) {
      // What the option costs: the variant's rate over our store's, no target.
      const s = cell.subjects[feature]
      list.push({
        group: 'store',
        backend: cell.backend,
        row,
        column: `${feature} / ours`,
        target: undefined,
        where: row,
        value: speedup(s, ours),
        shown: ratio(speedup(s, ours)),
        pass: undefined,
      })
    }
    for (const raw of subjectsOf(cell.backend, 'raw')) {
      const applies = cell.concurrency === 64 && cell.singleOperation
      add(`ours / ${raw}`, speedup(ours, cell.subjects[raw]), applies ? TARGETS.raw : undefined)
    }
    // A reference (our MemoryStore next to SQLite) is shown without a target.
    for (const reference of subjectsOf(cell.backend, 'reference')) {
      add(`ours / ${reference}`, speedup(ours, cell.subjects[reference]), undefined)
    }
    /** @type {number[]} */
    const alternatives = []
    for (const alt of subjectsOf(cell.backend, 'alt')) {
      const s = cell.subjects[alt]
      if (!s || 'skipped' in s) {
        add(`ours / ${alt}`, Number.NaN, undefined)
        continue
      }
      const value = speedup(ours, s)
      alternatives.push(value)
      add(`ours / ${alt}`, value, TARGETS.alternative)
    }
    if (cell.backend === 'redis' && alternatives.length > 0) {
      // Against the best alternative: the smallest of the ratios.
      const value = Math.min(...alternatives.map((v) => (Number.isNaN(v) ? Number.POSITIVE_INFINITY : v)))
      add(
        'ours / best alternative',
        value,
        cell.concurrency === 64 ? TARGETS.redisBestAlternative : undefined,
      )
    }
  }

  for (const cell of run.endToEnd) {
    const row = `${cell.framework} ${cell.backend}`
    for (const reference of subjectsOf(cell.backend, 'reference')) {
      const value = speedup(cell.subjects.ours, cell.subjects[reference])
      const column = `ours / ${reference}`
      const where = `${row} end to end`
      list.push({
        group: 'e2e',
        backend: cell.backend,
        row,
        column,
        target: undefined,
        where,
        value,
        shown: ratio(value),
        pass: undefined,
      })
    }
    for (const alt of subjectsOf(cell.backend, 'alt')) {
      const s = cell.subjects[alt]
      if (!s || 'skipped' in s) continue
      for (const [variant, minimum] of /** @type {Array<[string, number]>} */ ([
        ['ours', TARGETS.alternative],
        ['ours touchAfter', TARGETS.alternativeTouchAfter],
      ])) {
        if (!cell.subjects[variant]) continue
        const value = speedup(cell.subjects[variant], s)
        const column = `${variant} / ${alt}`
        list.push({
          group: 'e2e',
          backend: cell.backend,
          row,
          column,
          target: `${column} >= ${minimum.toFixed(2)}`,
          where: `${row} end to end`,
          value,
          shown: ratio(value),
          pass: Number.isFinite(value) && value >= minimum,
        })
      }
    }
  }

  for (const m of run.memory) {
    const growth = memoryGrowth(m)
    const row = `${m.backend} ours`
    const target = 'heap flat over the operations'
    if (growth === undefined) {
      list.push({
        group: 'memory',
        backend: m.backend,
        row,
        column: 'heap growth',
        target,
        where: `memory ${row}`,
        value: Number.NaN,
        shown: m.skipped ?? 'failed',
        pass: false,
      })
      continue
    }
    list.push({
      group: 'memory',
      backend: m.backend,
      row,
      column: 'heap growth',
      target: `${target} (growth <= ${formatMb(growth.allowed)})`,
      where: `memory ${row}, ${m.ops?.toLocaleString('en')} ops`,
      value: growth.bytes,
      shown: `${growth.bytes >= 0 ? '+' : ''}${(growth.bytes / 1024).toFixed(0)} KB`,
      pass: growth.bytes <= growth.allowed && (m.errors ?? 0) === 0,
    })
  }

  for (const e of enumerationBounds(run.enumeration)) {
    list.push({
      group: 'enumeration',
      backend: e.backend,
      row: `${e.backend} ${e.operation}()`,
      column: 'peak live heap',
      target: `peak at ${e.count.toLocaleString('en')} <= ${TARGETS.enumerationGrowth}x peak at ${(e.count / 10).toLocaleString('en')} + 1 MB`,
      where: `enumeration ${e.backend} ours ${e.operation}()`,
      value: e.large,
      shown: `${formatMb(e.small)} -> ${formatMb(e.large)}`,
      pass: e.pass,
    })
  }
  return list
}

/**
 * Heap growth between the first checkpoint (after a tenth of the operations, once everything
 * is warm) and the last, and what the target allows for that many operations.
 * @param {MemoryResult} m
 */
export function memoryGrowth(m) {
  const points = m.checkpoints
  if (!points || points.length < 2) return undefined
  const first = /** @type {{ heapUsed: number, ops: number }} */ (points[0])
  const last = /** @type {{ heapUsed: number, ops: number }} */ (points[points.length - 1])
  const ops = last.ops - first.ops
  return {
    bytes: last.heapUsed - first.heapUsed,
    allowed: Math.max(TARGETS.memoryFloorBytes, ops * TARGETS.memoryBytesPerOp),
  }
}

/**
 * For our stores: peak memory of each enumeration operation at N against N/10 (medians over
 * the repeats).
 * @param {EnumerationResult[]} results
 */
export function enumerationBounds(results) {
  const out = []
  for (const large of results.filter((r) => r.role === 'ours')) {
    const small = results.find(
      (r) => r.role === 'ours' && r.backend === large.backend && r.count * 10 === large.count,
    )
    if (!small) continue
    for (const operation of Object.keys(large.operations)) {
      const peakLarge = medianPeak(large.operations[operation])
      const peakSmall = medianPeak(small.operations[operation])
      if (!Number.isFinite(peakLarge) || !Number.isFinite(peakSmall)) continue
      out.push({
        backend: large.backend,
        subject: large.subject,
        operation,
        count: large.count,
        small: peakSmall,
        large: peakLarge,
        pass: peakLarge <= TARGETS.enumerationGrowth * Math.max(0, peakSmall) + TARGETS.enumerationSlackBytes,
      })
    }
  }
  return out
}

/** @param {EnumerationOperation[] | undefined} runs */
function medianPeak(runs) {
  const values = (runs ?? []).flatMap((r) => ('skipped' in r ? [] : [r.peakBytes])).sort((a, b) => a - b)
  return values.length ? /** @type {number} */ (values[values.length >> 1]) : Number.NaN
}

/** @param {EnumerationOperation[] | undefined} runs */
function medianMs(runs) {
  const values = (runs ?? []).flatMap((r) => ('skipped' in r ? [] : [r.ms])).sort((a, b) => a - b)
  return values.length ? /** @type {number} */ (values[values.length >> 1]) : Number.NaN
}

// -----------------------------------------------------------------------------------------------
// Rendering.

/**
 * A Markdown table.
 * @param {string[]} header
 * @param {string[][]} rows
 */
function table(header, rows) {
  const line = (/** @type {string[]} */ cells) => `| ${cells.join(' | ')} |`
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n')
}

/** @param {Verdict | undefined} v */
function verdictCell(v) {
  if (!v) return ''
  if (v.pass === undefined) return v.shown
  return `${v.shown} ${v.pass ? 'PASS' : '**MISS**'}`
}

/** @param {Summary | { skipped: string } | undefined} s */
function cellText(s) {
  if (!s) return '-'
  if ('skipped' in s) return `skipped (${s.skipped.slice(0, 80)})`
  const errors = s.errors ? ` **${s.errors} errors: ${s.firstError}**` : ''
  return `${formatRate(s.opsPerSec)} [${formatRate(s.min)}–${formatRate(s.max)}] p50 ${formatMs(s.p50)} p99 ${formatMs(s.p99)}${errors}`
}

/**
 * The ratio tables: per backend, one row per workload and concurrency, one column per
 * comparison, the target in the column header; then end to end.
 * @param {Run} run
 * @param {Verdict[]} list
 */
export function ratioTables(run, list) {
  const out = []
  const targetOf = (/** @type {string} */ column) => {
    if (column.startsWith('ours / best')) return `≥ ${TARGETS.redisBestAlternative} at c64`
    if (column.endsWith(' / ours')) return 'cost of the option, 1.00 = free'
    const role = run.subjects.find((s) => column === `ours / ${s.name}`)?.role
    if (role === 'raw') return `≥ ${TARGETS.raw.toFixed(2)} at c64, single operations`
    if (role === 'reference') return 'reference, no target'
    return `≥ ${TARGETS.alternative.toFixed(1)}`
  }
  for (const backend of [...new Set(list.filter((v) => v.group === 'store').map((v) => v.backend))]) {
    const items = list.filter((v) => v.group === 'store' && v.backend === backend)
    const columns = [...new Set(items.map((v) => v.column))]
    const rows = [...new Set(items.map((v) => v.row))]
    out.push(`### ${backend}: store level`, '')
    out.push(
      table(
        ['workload', 'ours ops/s', ...columns.map((c) => `${c} (${targetOf(c)})`)],
        rows.map((row) => {
          const cell = run.storeLevel.find((c) => `${c.backend} ${c.label} c${c.concurrency}` === row)
          const ours = cell?.subjects.ours
          return [
            row.slice(backend.length + 1),
            ours && !('skipped' in ours) ? formatRate(ours.opsPerSec) : cellText(ours),
            ...columns.map((c) => verdictCell(items.find((v) => v.row === row && v.column === c))),
          ]
        }),
      ),
      '',
    )
  }
  const e2e = list.filter((v) => v.group === 'e2e')
  if (e2e.length) {
    out.push('### end to end', '')
    const rows = [...new Set(e2e.map((v) => v.row))]
    out.push(
      table(
        ['app', 'ours req/s', 'ours / alternative (≥ 1.0)', 'ours touchAfter / alternative (≥ 1.2)'],
        rows.map((row) => {
          const cell = run.endToEnd.find((c) => `${c.framework} ${c.backend}` === row)
          const ours = cell?.subjects.ours
          const pick = (/** @type {string} */ variant) =>
            e2e
              .filter((v) => v.row === row && v.column.startsWith(`${variant} / `))
              .map((v) => `${v.column.slice(variant.length + 3)} ${verdictCell(v)}`)
              .join('<br>')
          return [
            row,
            ours && !('skipped' in ours) ? formatRate(ours.opsPerSec) : cellText(ours),
            pick('ours'),
            pick('ours touchAfter'),
          ]
        }),
      ),
      '',
    )
  }
  return out.join('\n')
}

/**
 * Every target that was missed, and the count of those met.
 * @param {Verdict[]} list
 */
function missList(list) {
  const judged = list.filter((v) => v.pass !== undefined)
  const missed = judged.filter((v) => v.pass === false)
  return {
    summary: `${judged.length - missed.length} of ${judged.length} targets met`,
    missed,
  }
}

/**
 * The console report: the ratio tables, then memory and enumeration verdicts, then the misses.
 * @param {Run} run
 * @param {Verdict[]} list
 */
export function consoleReport(run, list) {
  const { summary } = missList(list)
  const others = list
    .filter((v) => v.group === 'memory' || v.group === 'enumeration')
    .map(
      (v) =>
        `${v.where.padEnd(40)} ${v.target?.padEnd(50)} ${v.shown.padStart(18)}  ${v.pass ? 'PASS' : 'MISS'}`,
    )
  return [ratioTables(run, list), '', ...others, '', summary].join('\n')
}

/**
 * bench/RESULTS.md.
 * @param {Run} run
 * @param {Verdict[]} list
 * @param {string} [analysis] why targets are missed (bench/README.md's section), in Markdown
 */
export function markdown(run, list, analysis) {
  const m = run.machine
  const { summary, missed } = missList(list)
  const out = []
  out.push('# Benchmark results', '')
  out.push(
    `Written by \`pnpm bench${m.mode === 'quick' ? ' --quick' : ''}\` (bench/src/main.js); bench/README.md explains the method and what the misses come from.`,
    '',
  )
  out.push(
    table(
      ['', ''],
      [
        ['date', m.date],
        [
          'mode',
          `${m.mode}: every subject in a process of its own; ${run.settings.repeats} alternated runs per subject and workload (${run.settings.seconds} s each for the median subject); medians, [min–max] spread; ratios are medians of per-round ratios`,
        ],
        ['machine', `${m.cores} cores (${m.cpus}), ${m.memory} RAM, ${m.os}`],
        ['Node', m.node],
        [
          'load average',
          `${m.loadBefore.map((l) => l.toFixed(2)).join(' ')} before, ${m.loadAfter.map((l) => l.toFixed(2)).join(' ')} after (a shared machine: only ratios within one run count)`,
        ],
        ['duration', `${m.minutes.toFixed(1)} min`],
        ['verdict', summary],
      ],
    ),
    '',
  )
  out.push('## Servers', '')
  out.push(
    table(
      ['backend', 'server'],
      Object.entries(run.servers).map(([b, d]) => [b, d]),
    ),
    '',
  )
  out.push('## Subjects', '')
  out.push(
    table(
      ['backend', 'subject', 'role', 'package', 'version'],
      run.subjects.map((s) => [s.backend, s.name, s.role, s.package, s.version]),
    ),
    '',
  )

  out.push('## Ratios and targets', '')
  out.push(ratioTables(run, list), '')

  out.push('## Targets missed', '')
  out.push(
    missed.length
      ? table(
          ['where', 'target', 'measured'],
          missed.map((v) => [v.where, v.target ?? '', v.shown]),
        )
      : 'None.',
    '',
  )
  if (analysis && missed.length) {
    out.push('### Why they are missed', '')
    out.push('From bench/README.md, where the profiles behind it are described.', '')
    // The README's own subheadings sit one level below this section's.
    out.push(analysis.replace(/^(#+) /gm, '###$1 '), '')
  }

  out.push('## Store level: raw numbers', '')
  out.push(
    'Each cell: ops/s median [min–max over the runs], p50 and p99 latency in ms (medians over the runs). ' +
      'Every subject of a row ran the same operations (same count, same sequence), in alternation.',
    '',
  )
  const backends = [...new Set(run.storeLevel.map((c) => c.backend))]
  for (const backend of backends) {
    const cells = run.storeLevel.filter((c) => c.backend === backend)
    const names = [...new Set(cells.flatMap((c) => Object.keys(c.subjects)))]
    out.push(`### ${backend}`, '')
    out.push(
      table(
        ['workload', 'c', 'ops/run', ...names],
        cells.map((c) => [
          c.label,
          String(c.concurrency),
          String(c.opsPerRun),
          ...names.map((n) => cellText(c.subjects[n])),
        ]),
      ),
      '',
    )
  }

  if (run.endToEnd.length) {
    out.push('## End to end: raw numbers', '')
    out.push(
      `${run.endToEnd[0]?.users} virtual users, each with its own cookie and keep-alive connection; 90% of requests read the session (express-session then calls touch), 10% change it (set). ` +
        `${run.settings.e2eRepeats} alternated runs of ${run.settings.e2eSeconds} s per variant, each variant (app, store, load generator) in a process of its own. req/s median [min–max], latency p50/p99 in ms. "ours touchAfter" is our store with \`touchAfter: 60\`.`,
      '',
    )
    const rows = []
    for (const cell of run.endToEnd) {
      for (const [name, s] of Object.entries(cell.subjects))
        rows.push([cell.framework, cell.backend, name, cellText(s)])
    }
    out.push(table(['framework', 'backend', 'subject', 'req/s [spread] latency'], rows), '')
  }

  if (run.memory.length) {
    out.push('## Memory', '')
    out.push(
      `Our stores under cycles of set (a new sid), get, touch, destroy at concurrency 64, ${run.settings.memoryOps.toLocaleString('en')} operations, in a process of their own; heap and RSS after a full GC at a tenth of the operations (everything warm), half of them, and the end. The verdict is on the heap; RSS rises in the first part of a run (V8 and the allocator keep pages they once used) and then stays level, which the middle figure shows.`,
      '',
    )
    out.push(
      table(
        [
          'store',
          'ops',
          'time',
          'heap at 10%',
          'heap at end',
          'heap growth (target)',
          'RSS at 10% / 50% / end',
          'errors',
          'verdict',
        ],
        run.memory.map((m) => {
          const first = m.checkpoints?.[0]
          const last = m.checkpoints?.[m.checkpoints.length - 1]
          const growth = memoryGrowth(m)
          if (!first || !last || !growth)
            return [m.backend, m.skipped ?? 'failed', '', '', '', '', '', '', '**MISS**']
          const middle = m.checkpoints?.[Math.floor((m.checkpoints.length - 1) / 2)] ?? first
          const v = list.find((x) => x.group === 'memory' && x.backend === m.backend)
          return [
            m.backend,
            String(m.ops),
            `${(m.seconds ?? 0).toFixed(1)} s`,
            formatMb(first.heapUsed),
            formatMb(last.heapUsed),
            `${(growth.bytes / 1024).toFixed(0)} KB (≤ ${(growth.allowed / 1024).toFixed(0)} KB)`,
            `${formatMb(first.rss)} / ${formatMb(middle.rss)} / ${formatMb(last.rss)}`,
            String(m.errors ?? 0) + (m.firstError ? ` (${m.firstError})` : ''),
            v?.pass ? 'PASS' : '**MISS**',
          ]
        }),
      ),
      '',
    )
  }

  if (run.enumeration.length) {
    out.push('## Enumeration', '')
    out.push(
      'Sessions written straight through the client, then each operation timed alone; then, on a refilled store, run again with a full GC every 50 ms (and once at the end, with the result still held) to find the peak of the live heap above the heap before it: garbage excluded, so it shows what the store holds, not when V8 collects. Medians over the repeats, a fresh process per run. express-mysql-session has no ids(); its clear() deletes the whole table, whoever wrote the rows.',
      '',
    )
    const rows = []
    for (const r of run.enumeration) {
      if (r.failed) {
        rows.push([r.backend, r.subject, String(r.count), `failed: ${r.failed.slice(0, 120)}`, '', ''])
        continue
      }
      const cellFor = (/** @type {string} */ op) => {
        const runs = r.operations[op]
        if (!runs?.length) return '-'
        const first = /** @type {EnumerationOperation} */ (runs[0])
        if ('skipped' in first) return first.skipped
        return `${formatMs(medianMs(runs))} ms, peak ${formatMb(medianPeak(runs))} (→ ${first.result})`
      }
      rows.push([
        r.backend,
        r.subject,
        r.count.toLocaleString('en'),
        cellFor('ids'),
        cellFor('length'),
        cellFor('clear'),
      ])
    }
    out.push(
      table(['backend', 'subject', 'sessions', 'ids()', 'length()', 'clear() (→ length after)'], rows),
      '',
    )
    const bounds = list.filter((v) => v.group === 'enumeration')
    if (bounds.length) {
      out.push(
        table(
          ['ours', 'target', 'peak live heap', 'verdict'],
          bounds.map((v) => [v.row, v.target ?? '', v.shown, v.pass ? 'PASS' : '**MISS**']),
        ),
        '',
      )
    }
  }
  return `${out.join('\n')}\n`
}
