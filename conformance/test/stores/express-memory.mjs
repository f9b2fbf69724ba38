// express-session's own MemoryStore, as a store author would hand it to the runner.
import session from 'express-session'

export default () => new session.MemoryStore()
