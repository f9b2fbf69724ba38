// @ts-check
// Starting worker.js: a fresh Node process per measurement that must own its heap.

import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

/**
 * @typedef {import('./subjects.js').ServerUrls} ServerUrls
 * @typedef {{ mode: 'memory', backend: string, urls: ServerUrls, ops: number, concurrency: number }} MemoryJob
 * @typedef {{ mode: 'enumeration', backend: 'redis' | 'mysql', subject: 'ours' | 'alt', urls: ServerUrls, count: number }} EnumerationJob
 */

/**
 * Runs worker.js with `job` in a new Node process (with --expose-gc) and resolves the JSON
 * line it prints; `{ failed }` with what it said when it printed none.
 * @param {MemoryJob | EnumerationJob} job
 * @returns {Promise<any>}
 */
export function inWorker(job) {
  const worker = fileURLToPath(new URL('./worker.js', import.meta.url))
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--expose-gc', worker, JSON.stringify(job)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk) => {
      stdout += chunk
    })
    child.stderr.on('data', (chunk) => {
      stderr += chunk
    })
    child.on('close', () => {
      const line = stdout.trim().split('\n').pop() ?? ''
      try {
        resolve(JSON.parse(line))
      } catch {
        resolve({ failed: `worker said: ${(stdout + stderr).trim().slice(-500)}` })
      }
    })
  })
}
