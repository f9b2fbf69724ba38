// Gives a built package the declaration files a CommonJS TypeScript project needs.
//
// Our packages are ESM, and Node >= 22.12 lets CommonJS require() them. TypeScript with
// `module: node16` does not know that, and refuses to resolve an ESM declaration from a `.cts`
// file (TS1479). The same declarations, placed under a directory whose package.json says
// "commonjs", describe the module as CommonJS sees it: `exports` with the same named members
// (our packages have no default export, so the two views agree). The package's `require`
// export condition points there; the runtime file stays the one ESM build.
//
// Usage, from a package directory after tsc: node ../../scripts/cjs-types.mjs
import { cpSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'

const dist = join(process.cwd(), 'dist')
const target = join(dist, 'cjs')
rmSync(target, { recursive: true, force: true })
mkdirSync(target, { recursive: true })

function copyDeclarations(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (path === target) continue
    if (statSync(path).isDirectory()) copyDeclarations(path)
    else if (name.endsWith('.d.ts')) cpSync(path, join(target, relative(dist, path)))
  }
}
copyDeclarations(dist)
writeFileSync(join(target, 'package.json'), `${JSON.stringify({ type: 'commonjs' })}\n`)
