// A CommonJS consumer: Node >= 22.12 loads our ESM packages through require().
const assert = require('node:assert/strict')
const core = require('@session-store/core')
const { toExpressStore } = require('@session-store/express')
const { toKoaStore } = require('@session-store/koa')
const store = new core.MemoryStore()
assert.equal(toExpressStore(store), store)
assert.equal(toKoaStore(store), store)
store.set('sid', { n: 1 }, (err) => {
  assert.ifError(err)
  store.get('sid', (err2, session) => {
    assert.ifError(err2)
    assert.deepEqual(session, { n: 1 })
    store.close().then(() => console.log('ok'))
  })
})
