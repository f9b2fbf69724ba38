// Finds the TypeScript code blocks of the project's READMEs and lays them out as the files of
// three user projects: ESM on `nodenext`, CommonJS (`.cts`) on `node16`, and TypeScript 5.0 with
// `moduleResolution: bundler`. Each project is compiled by the real compiler with the real
// `@types/*` packages, as a user who copies the README would compile it.
import { execFile } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const run = promisify(execFile)
const require = createRequire(import.meta.url)

/** The repository's root. */
export const REPO = fileURLToPath(new URL('../../../', import.meta.url))
/** Where the projects are written: inside this package, so its node_modules resolve. */
const WORK = fileURLToPath(new URL('../.snippets/', import.meta.url))

/** One fenced `ts` block of a README. */
export interface Snippet {
  /** The README, relative to the repository, e.g. `packages/redis/README.md`. */
  readme: string
  /** The 1-based line of the block's first line of code. */
  line: number
  code: string
  /** A file name that is unique among all snippets, without extension. */
  name: string
  /** Starts a web server (calls `listen`): the test runs it and talks to it. */
  isApp: boolean
}

/** The READMEs whose code blocks are tested: the root's and every package's. */
export function readmes(): string[] {
  const found = ['README.md', 'conformance/README.md']
  for (const dir of readdirSync(join(REPO, 'packages'))) {
    try {
      readFileSync(join(REPO, 'packages', dir, 'README.md'))
      found.push(`packages/${dir}/README.md`)
    } catch {
      // a package without a README has no snippets
    }
  }
  return found
}

/** Every ```ts (or ```typescript) block of the given READMEs, in order. */
export function extractSnippets(files: string[] = readmes()): Snippet[] {
  const snippets: Snippet[] = []
  for (const readme of files) {
    const lines = readFileSync(join(REPO, readme), 'utf8').split('\n')
    const slug = readme.replace(/\/?README\.md$/, '').replace(/[^a-z0-9]+/gi, '-') || 'root'
    let start = -1
    for (let i = 0; i < lines.length; i++) {
      const fence = lines[i]?.trim() ?? ''
      if (start < 0 && /^```(ts|typescript)\s*$/.test(fence)) start = i + 1
      else if (start >= 0 && fence === '```') {
        const code = `${lines.slice(start, i).join('\n')}\n`
        const name = `${slug}-${String(snippets.filter((s) => s.readme === readme).length + 1)}`
        snippets.push({ readme, line: start + 1, code, name, isApp: /\.listen\(/.test(code) })
        start = -1
      }
    }
  }
  return snippets
}

/** A compiler diagnostic, placed back in the README it came from. */
export interface Diagnostic {
  snippet: string
  /** `README.md:45:7 TS2322 …`. */
  text: string
}

/** The three projects a user might have. */
export const PROJECTS = {
  esm: {
    extension: '.ts',
    compiler: 'typescript',
    options: { module: 'nodenext', moduleResolution: 'nodenext', noEmit: true },
  },
  cjs: {
    extension: '.cts',
    compiler: 'typescript',
    // Emitted, so the test can also run the CommonJS build of each app.
    options: { module: 'node16', moduleResolution: 'node16', outDir: 'out' },
  },
  'ts5.0-bundler': {
    extension: '.ts',
    compiler: 'typescript-5.0',
    // Today's @types/node needs a newer compiler than 5.0 for its own files, so this project
    // skips checking declaration files, as `tsc --init` projects do; our declarations are still
    // parsed, and everything the snippets use from them is checked where it is used.
    options: { module: 'esnext', moduleResolution: 'bundler', noEmit: true, skipLibCheck: true },
  },
} as const

export type ProjectName = keyof typeof PROJECTS

/** The directory of one project. */
export function projectDir(project: ProjectName): string {
  return join(WORK, project)
}

/**
 * Writes the snippets as one project and compiles it. Resolves the diagnostics, each mapped
 * to the README line it points at.
 */
export async function compile(project: ProjectName, snippets: Snippet[]): Promise<Diagnostic[]> {
  const { compiler } = PROJECTS[project]
  const dir = writeProject(project, snippets)
  const tsc = join(dirname(require.resolve(`${compiler}/package.json`)), 'bin', 'tsc')
  const output = await run(process.execPath, [tsc, '-p', '.', '--pretty', 'false'], {
    cwd: dir,
    maxBuffer: 1 << 24,
  }).then(
    (done) => done.stdout,
    (failed: { stdout?: string }) => failed.stdout ?? String(failed),
  )
  return parseDiagnostics(output, snippets)
}

/** Writes the snippets and a tsconfig.json as one project; resolves its directory. */
export function writeProject(project: ProjectName, snippets: Snippet[]): string {
  const { extension, options } = PROJECTS[project]
  const dir = projectDir(project)
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  for (const snippet of snippets) writeFileSync(join(dir, snippet.name + extension), snippet.code)
  const tsconfig = {
    compilerOptions: {
      // A user's project that checks declaration files finds errors in ours too.
      skipLibCheck: false,
      ...options,
      target: 'es2022',
      lib: ['es2023'],
      types: ['node'],
      strict: true,
      esModuleInterop: true,
      forceConsistentCasingInFileNames: true,
    },
    include: [`*${extension}`],
  }
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2))
  return dir
}

function parseDiagnostics(output: string, snippets: Snippet[]): Diagnostic[] {
  const diagnostics: Diagnostic[] = []
  let last: Diagnostic | undefined
  for (const line of output.split('\n')) {
    const match = /^(.+?)\((\d+),(\d+)\): error (TS\d+): (.*)$/.exec(line)
    if (!match) {
      // Continuation lines of a multi-line message.
      if (last && line.trim()) last.text += `\n  ${line.trim()}`
      continue
    }
    const [, file = '', row = '0', column = '0', code = '', message = ''] = match
    const base = file.replace(/\.c?ts$/, '')
    const snippet = snippets.find((s) => s.name === base)
    last = snippet
      ? {
          snippet: snippet.name,
          text: `${snippet.readme}:${snippet.line + Number(row) - 1}:${column} ${code} ${message}`,
        }
      : { snippet: '(outside the snippets)', text: `${file}(${row},${column}) ${code} ${message}` }
    diagnostics.push(last)
  }
  if (diagnostics.length === 0 && /error/i.test(output)) {
    diagnostics.push({ snippet: '(compiler)', text: output.trim() })
  }
  return diagnostics
}
