import { createRequire } from 'node:module'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { ClauseSkipped } from './clause.js'

/**
 * The frameworks are optional peers: a store author installs the runner without the ones
 * they do not use, and a dialect loads its framework only when it runs. A framework is looked
 * up beside the runner first, then in the project the runner was started from (where `npx`
 * finds the author's own express-session), and a missing one skips its dialect, saying how
 * to get it.
 */
export async function loadPeer<T>(name: string): Promise<T> {
  try {
    return (await import(name)) as T
  } catch (err) {
    if (!isNotFound(err)) throw err
  }
  try {
    const fromProject = createRequire(join(process.cwd(), 'package.json')).resolve(name)
    return (await import(pathToFileURL(fromProject).href)) as T
  } catch (err) {
    if (!isNotFound(err)) throw err
    throw new ClauseSkipped(`${name} is not installed (npm install --save-dev ${name} to run this dialect)`)
  }
}

function isNotFound(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code
  return code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND'
}

/** The default export of an ES module or the exports of a CommonJS one. */
export function defaultOf<T>(module: { default?: T } | T): T {
  const withDefault = module as { default?: T }
  return withDefault.default ?? (module as T)
}
