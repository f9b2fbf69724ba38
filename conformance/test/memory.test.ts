import { MemoryStore } from '@session-store/core'
import { describeConformance } from '../src/vitest.js'

describeConformance('memory', { create: ({ prefix }) => new MemoryStore({ prefix }) })

describeConformance('memory, bounded to 1000 sessions', {
  create: ({ prefix }) => new MemoryStore({ prefix, max: 1000, sweepInterval: 50 }),
})
