import { defineConfig } from 'vitest/config'

// Tests run against real servers, which the harness finds or starts once per run
// (conformance/src/harness). Packages import each other through dist/, and so does this config:
// `pnpm test` builds first.
const harnessSetup = './conformance/dist/harness/global-setup.js'
const summaryReporter = './conformance/dist/reporter.js'

const testFiles = [
  'packages/*/test/**/*.test.ts',
  'conformance/test/**/*.test.ts',
  'examples/*/test/**/*.test.ts',
  'bench/test/**/*.test.ts',
]
// Tests that stop, pause or cut servers are named *.faults.test.ts: they run in `pnpm test`
// like the rest, and alone with `pnpm test:faults`.
const faultFiles = testFiles.map((glob) => glob.replace(/\.test\.ts$/, '.faults.test.ts'))

export default defineConfig({
  test: {
    globalSetup: [harnessSetup],
    reporters: ['default', summaryReporter],
    // Real servers on a shared, noisy 2-core machine: generous per-test and per-hook limits.
    testTimeout: 30_000,
    hookTimeout: 30_000,
    teardownTimeout: 30_000,
    // One process per file, at most two at a time: files start their own servers and clients,
    // and more parallelism only makes them fight over two cores.
    pool: 'forks',
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: {
          name: 'main',
          include: testFiles,
          exclude: [...faultFiles, '**/node_modules/**', '**/dist/**'],
        },
      },
      {
        extends: true,
        test: {
          name: 'faults',
          include: faultFiles,
          exclude: ['**/node_modules/**', '**/dist/**'],
          passWithNoTests: true,
        },
      },
    ],
  },
})
