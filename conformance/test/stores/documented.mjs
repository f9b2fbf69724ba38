// A store written straight from express-session's README ("Session Store Implementation"):
// it extends session.Store, keeps sessions in a Map, answers all() with an array, and says
// "not found" with an ENOENT error, as that README allows. Honours the cookie's expiry.
import session from 'express-session'

class DocumentedStore extends session.Store {
  constructor() {
    super()
    this.sessions = new Map()
  }
  #live(sid) {
    const json = this.sessions.get(sid)
    if (json === undefined) return undefined
    const sess = JSON.parse(json)
    const expires = sess.cookie?.expires ? new Date(sess.cookie.expires).getTime() : Number.POSITIVE_INFINITY
    if (expires <= Date.now()) {
      this.sessions.delete(sid)
      return undefined
    }
    return sess
  }
  get(sid, callback) {
    const sess = this.#live(sid)
    if (sess === undefined) {
      const err = new Error('session not found')
      err.code = 'ENOENT'
      return callback(err)
    }
    callback(null, sess)
  }
  set(sid, sess, callback) {
    this.sessions.set(sid, JSON.stringify(sess))
    callback?.()
  }
  touch(sid, sess, callback) {
    const current = this.#live(sid)
    if (current !== undefined) {
      current.cookie = sess.cookie
      this.sessions.set(sid, JSON.stringify(current))
    }
    callback?.()
  }
  destroy(sid, callback) {
    this.sessions.delete(sid)
    callback?.()
  }
  all(callback) {
    const list = []
    for (const sid of [...this.sessions.keys()]) {
      const sess = this.#live(sid)
      if (sess !== undefined) list.push(sess)
    }
    callback(null, list)
  }
  length(callback) {
    this.all((err, list) => callback(err, list?.length))
  }
  clear(callback) {
    this.sessions.clear()
    callback?.()
  }
}

export default () => new DocumentedStore()
