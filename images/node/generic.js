'use strict'
/*
 * The generic loader of the hotfn/node runtime: a warm container started before it
 * knows its function (the Node counterpart of `fdk --generic`, hotfn/fdk/generic.py).
 *
 *     node /opt/hotfn/node/generic.js --generic [DIR]    (DIR defaults to /tmp/iofs)
 *
 * It loads node and Fn's Node FDK (@fnproject/fdk, found through NODE_PATH), then
 * waits on DIR/generic.sock (bound as phonygeneric.sock + relative symlink, so the
 * agent never connects to a half-bound socket) for exactly one specialise request,
 * one JSON line:
 *
 *     {"env": {...}, "cwd": "/function", "argv": ["/function/func.js"]}
 *
 * It sets the environment (the function image's ENV, app and fn config, FN_*),
 * changes to cwd, runs argv[0] as the main module (what `node func.js` would run:
 * require.main is that module, process.argv is [node, script, ...args]) and answers
 * {"ok": true}, or {"ok": false, "error": "..."} and exits 2 if loading it threw. The
 * script calls fdk.handle(), which reads FN_LISTENER then and binds lsnr.sock: the
 * agent's ordinary readiness path takes over. The agent fills /function (a
 * per-container read-only bind mount) before the request: a container only ever
 * holds the code of the one function it became.
 *
 * No dependencies beyond node itself (the FDK is preloaded and warmed up, see warmUp).
 */
const fs = require('fs')
const http = require('http')
const net = require('net')
const os = require('os')
const path = require('path')
const Module = require('module')

const PROG = 'hotfn generic node loader'
const SOCKET = 'generic.sock'
const MAX_REQUEST = 1024 * 1024 // bytes of one request (env and config included)
const WARM_UP_MS = 3000

function say (message) {
  console.error(`${PROG}: ${message}`)
}

function sleep (ms) {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

function post (socketPath, body) {
  return new Promise((resolve, reject) => {
    const options = { socketPath, method: 'POST', path: '/call', agent: false }
    const req = http.request({ ...options, headers: { 'Fn-Call-Id': 'warm' } })
    req.on('response', (resp) => {
      resp.on('data', () => {})
      resp.on('end', resolve)
    })
    req.on('error', reject)
    req.end(body)
  })
}

// Warm up: serve a few calls through the FDK on a private socket before waiting to
// be specialised. Node compiles a function on its first run: without this the
// function's first call pays for compiling node's HTTP server and the FDK's request
// path (~15 ms here); with it, only for the function's own code. The FDK's server is
// closed and FN_* put back before the function is loaded. Best effort: a runtime
// image without the FDK, or without a writable /tmp, just skips it.
async function warmUp () {
  let fdk
  try {
    fdk = require('@fnproject/fdk')
  } catch (e) {
    say(`@fnproject/fdk not preloaded: ${e.message}`)
    return
  }
  const saved = { FN_FORMAT: process.env.FN_FORMAT, FN_LISTENER: process.env.FN_LISTENER }
  // At most this long: the agent waits for generic.sock no longer than its start
  // timeout, and a loaded machine should get a warm container late rather than never.
  const giveUp = Date.now() + WARM_UP_MS
  try {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hotfn-warm-'))
    for (const inputMode of ['json', 'string', 'buffer']) {
      const link = path.join(dir, `${inputMode}.sock`)
      process.env.FN_FORMAT = 'http-stream'
      process.env.FN_LISTENER = 'unix:' + link
      const stop = fdk.handle((input, ctx) => {
        ctx.setResponseHeader('X-Warm', 'yes')
        return inputMode === 'buffer' ? fdk.rawResult(input) : { warm: input }
      }, { inputMode })
      // The FDK publishes its socket when it listens (slow on a loaded machine).
      // Until then its server must be left alone: closing it or removing its
      // directory first would make its listen callback throw.
      while (!fs.existsSync(link)) {
        if (Date.now() > giveUp) throw new Error(`the FDK did not listen within ${WARM_UP_MS} ms`)
        await sleep(2)
      }
      for (let i = 0; i < 10 && Date.now() < giveUp; i++) await post(link, '{"warm": true}')
      stop()
      if (Date.now() > giveUp) break
    }
    fs.rmSync(dir, { recursive: true, force: true })
  } catch (e) {
    say(`warm-up skipped: ${e.message}`)
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k]
      else process.env[k] = v
    }
  }
}

function specialise (request) {
  const env = request.env || {}
  const argv = request.argv || []
  if (typeof env !== 'object' || !Array.isArray(argv) || argv.length < 1) {
    throw new Error("specialise request needs 'env' (object) and 'argv' (script first)")
  }
  const before = process.env.NODE_PATH
  for (const [k, v] of Object.entries(env)) process.env[k] = String(v)
  if (process.env.NODE_PATH !== before) {
    // NODE_PATH is read at start, which has passed: apply the function's by hand.
    Module._initPaths()
  }
  if (request.cwd) process.chdir(String(request.cwd))
  const script = path.resolve(String(argv[0]))
  process.argv = [process.argv[0], script, ...argv.slice(1).map(String)]
  // As `node script` does: script is require.main. It runs synchronously here, so a
  // top-level throw (a syntax error, a missing module) is caught and answered.
  Module.runMain(script)
}

function answer (conn, reply, then) {
  conn.end(JSON.stringify(reply) + '\n', then)
}

function main (directory) {
  const phony = path.join(directory, 'phony' + SOCKET)
  const link = path.join(directory, SOCKET)
  const server = net.createServer({ allowHalfOpen: true })
  server.maxConnections = 1
  server.on('error', (e) => {
    say(`cannot listen in ${directory}: ${e.message}`)
    process.exit(1)
  })
  server.once('connection', (conn) => {
    server.close()
    for (const f of [link, phony]) {
      try { fs.unlinkSync(f) } catch (e) {}
    }
    let data = Buffer.alloc(0)
    let done = false
    const onData = (chunk) => {
      if (done) return
      data = Buffer.concat([data, chunk])
      const nl = data.indexOf(10)
      if (nl < 0 && data.length <= MAX_REQUEST) return
      done = true
      conn.removeListener('data', onData)
      conn.pause()
      let request
      try {
        if (nl < 0) throw new Error(`specialise request larger than ${MAX_REQUEST} bytes`)
        request = JSON.parse(data.subarray(0, nl).toString('utf8'))
        if (request === null || typeof request !== 'object') {
          throw new Error('specialise request must be a JSON object')
        }
        specialise(request)
      } catch (e) {
        const error = `${e && e.name ? e.name : 'Error'}: ${e && e.message ? e.message : e}`
        say(`cannot load the function: ${error}`)
        answer(conn, { ok: false, error: error.slice(0, 2000) }, () => process.exit(2))
        return
      }
      answer(conn, { ok: true })
    }
    conn.on('data', onData)
    conn.on('error', () => {})
  })
  server.listen(phony, () => {
    fs.chmodSync(phony, 0o666) // the agent may run as another user
    fs.symlinkSync('phony' + SOCKET, link)
  })
}

const args = process.argv.slice(2)
if (args[0] === '--generic') args.shift() // as `fdk --generic DIR` is written
warmUp().then(() => main(args[0] || '/tmp/iofs'))
