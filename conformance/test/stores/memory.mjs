// Our MemoryStore, through the runner CLI like anyone's store.
import { MemoryStore } from '@session-store/core'

export default ({ prefix }) => new MemoryStore({ prefix })
