import {
  commonBadOptions,
  type FaultTarget,
  faultScenarios,
  type RawValue,
} from '@session-store/conformance/faults'
import { type BaseStore, MemoryStore, type SessionData } from '@session-store/core'
import { writeRawValue } from '@session-store/core/internal'
import { describe, it } from 'vitest'

// MemoryStore has no server to stop or pause, so the outage and slow-backend scenarios are
// skipped; everything else runs as for the backends.

/** MemoryStore keeps what its backend writer is given; raw bytes arrive as a foreign writer's latin1 text. */
async function plant(store: BaseStore<SessionData>, sid: string, value: RawValue): Promise<void> {
  const text = Buffer.isBuffer(value) ? value.toString('latin1') : String(value)
  await writeRawValue(store, sid, text, 600_000)
}

const target: FaultTarget = {
  name: 'memory',
  create: ({ prefix, timeout }) => new MemoryStore({ prefix, timeout }),
  plant,
}

describe('reliability: MemoryStore', () => {
  for (const scenario of faultScenarios(target, {
    badOptions: [
      ...commonBadOptions((options) => new MemoryStore(options as never)),
      { what: 'a max of 0', create: () => new MemoryStore({ max: 0 }) },
      { what: 'a negative sweepInterval', create: () => new MemoryStore({ sweepInterval: -1 }) },
    ],
    exit: {
      'a store of its own': {
        base: import.meta.url,
        imports: { core: '@session-store/core' },
        env: {},
        setup: 'return { store: new modules.core.MemoryStore({ sweepInterval: 1000 }) }',
      },
    },
  })) {
    it.skipIf(scenario.skip !== undefined)(scenario.title, scenario.run, scenario.timeoutMs)
  }
})
