// The fault suite: every way a provider, a strategy or a listener can misbehave, and every
// lifecycle misuse. For each fault the tracker keeps working, the other providers are
// untouched, the last good values stay, `error` says what happened, `fails` counts, and no
// token ever shows up in the store or in a message.
import { test, before, after, beforeEach } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { setTimeout as sleep } from 'node:timers/promises'
import { startSandbox, PROVIDER_IDS } from './sandbox.mjs'

const require = createRequire(import.meta.url)
const INDEX = require.resolve('../index.js')
const { UsageTracker } = require(INDEX)

let sb
let secrets // every token and the account id: none may ever appear in output
before(async () => {
  sb = await startSandbox()
  secrets = [...Object.values(sb.tokens), sb.accountId]
})
after(async () => {
  await sb.close()
})
beforeEach(() => sb.reset())

const TIMEOUT_MS = 300
const newTracker = (opts = {}) => new UsageTracker({ cachePath: null, requestTimeoutMs: TIMEOUT_MS, ...opts })

function assertNoSecrets(tracker) {
  const text = JSON.stringify(tracker.entries())
  for (const s of secrets) assert.ok(!text.includes(s), `a secret leaked into entries(): ${text}`)
}

/** The numbers of a provider's entries, by key (resetsAt optional: bystanders are re-fetched
 *  and the sandbox shifts fixture times by whole seconds, so theirs may move by 1 s). */
function valuesOf(tracker, providerId, withTimes = true) {
  const out = {}
  for (const e of tracker.entries()) {
    if (e.providerId !== providerId) continue
    out[e.key] = {
      plan: e.plan,
      windows: e.windows.map((w) => ({ id: w.id, used: w.used, remaining: w.remaining, total: w.total, ...(withTimes ? { resetsAt: w.resetsAt } : {}) })),
    }
  }
  return out
}

/** A tracker with all five built-ins on the sandbox (optionally one on another base URL). */
function fiveTracker(baseUrls = {}) {
  const tracker = newTracker()
  for (const id of PROVIDER_IDS) tracker.registerBuiltinProvider(id, { baseUrl: baseUrls[id] ?? sb.url, credentials: sb.credentials(id) })
  return tracker
}

/** First a good fetch of everything; returns what every provider looked like. */
async function goodFirst(tracker) {
  await tracker.refresh()
  for (const e of tracker.entries()) {
    assert.equal(e.error, undefined, `${e.key} healthy before the fault: ${JSON.stringify(e.error)}`)
    assert.ok(e.windows.length > 0, `${e.key} has windows`)
  }
  const updatedOf = (id) => tracker.entries().find((e) => e.providerId === id).updated
  return Object.fromEntries(
    PROVIDER_IDS.map((id) => [id, { values: valuesOf(tracker, id), bystander: valuesOf(tracker, id, false), updated: updatedOf(id) }]),
  )
}

/** After a fault on `faulted`: its last good values and `updated` stay; the others are fine. */
function assertIsolated(tracker, faulted, before) {
  assert.deepEqual(valuesOf(tracker, faulted), before[faulted].values, `${faulted} keeps its last good values`)
  for (const e of tracker.entries().filter((x) => x.providerId === faulted)) {
    assert.equal(e.updated, before[faulted].updated, `${e.key} updated unchanged`)
    assert.equal(e.active, true, `${e.key} still active`)
  }
  for (const id of PROVIDER_IDS) {
    if (id === faulted) continue
    assert.deepEqual(valuesOf(tracker, id, false), before[id].bystander, `${id} untouched`)
    for (const e of tracker.entries().filter((x) => x.providerId === id)) {
      assert.equal(e.error, undefined, `${e.key} has no error`)
      assert.equal(e.fails, 0, `${e.key} fails`)
    }
  }
}

function assertError(tracker, providerId, kind, messageRe, fails) {
  const entries = tracker.entries().filter((e) => e.providerId === providerId)
  assert.ok(entries.length > 0)
  for (const e of entries) {
    assert.equal(e.error?.kind, kind, `${e.key} error.kind (${JSON.stringify(e.error)})`)
    assert.match(e.error.message, messageRe, `${e.key} message`)
    assert.ok(e.error.message.startsWith(providerId), `message names the provider: ${e.error.message}`)
    for (const s of secrets) assert.ok(!e.error.message.includes(s), `secret in message: ${e.error.message}`)
    assert.equal(e.fails, fails, `${e.key} fails`)
  }
  assertNoSecrets(tracker)
  return entries[0].error
}

// ---- HTTP faults of the built-ins (the faulted provider rotates over the five) ----

const truncated = (id) => {
  const text = JSON.stringify(sb.fixture(id))
  return text.slice(0, Math.floor(text.length * 0.6))
}

const HTTP_ROWS = [
  { name: 'malformed JSON', provider: 'anthropic', script: () => ({ body: '{"five_hour": {"utilization": nope}}' }), kind: 'parse', re: /could not read the response/ },
  { name: 'truncated body', provider: 'openai-codex', script: (id) => ({ body: truncated(id) }), kind: 'parse', re: /could not read the response/ },
  {
    name: 'HTML page with status 200',
    provider: 'github-copilot',
    script: () => ({ body: '<!DOCTYPE html><html><body><h1>Sign in</h1></body></html>', headers: { 'content-type': 'text/html; charset=utf-8' } }),
    kind: 'parse',
    re: /HTML/,
  },
  { name: 'empty body', provider: 'google-antigravity', script: () => ({ body: '' }), kind: 'parse', re: /empty/ },
  { name: 'JSON of the wrong shape', provider: 'google-gemini-cli', script: () => ({ body: '{"buckets": 7}' }), kind: 'parse', re: /could not read the response/ },
  { name: 'HTTP 401', provider: 'anthropic', script: () => ({ status: 401 }), kind: 'auth', re: /401.*log in again/ },
  { name: 'HTTP 403', provider: 'google-gemini-cli', script: () => ({ status: 403 }), kind: 'auth', re: /403/ },
  { name: 'HTTP 500', provider: 'openai-codex', script: () => ({ status: 500 }), kind: 'server', re: /HTTP 500/ },
  { name: 'HTTP 502', provider: 'github-copilot', script: () => ({ status: 502, body: '<html>Bad Gateway</html>', headers: { 'content-type': 'text/html' } }), kind: 'server', re: /HTTP 502/ },
  { name: 'HTTP 503', provider: 'google-antigravity', script: () => ({ status: 503 }), kind: 'server', re: /HTTP 503/ },
  { name: 'socket dropped before any answer', provider: 'anthropic', script: () => ({ drop: true }), kind: 'network', re: /^anthropic: request failed\b/ },
]

for (const row of HTTP_ROWS) {
  test(`${row.name} → ${row.kind} (${row.provider}); others untouched, last good values kept, fails counts, recovers`, async () => {
    const tracker = fiveTracker()
    const before = await goodFirst(tracker)
    const n0 = sb.count(row.provider)
    sb.script(row.provider, { ...row.script(row.provider), times: 2 })
    await tracker.refresh()
    assertError(tracker, row.provider, row.kind, row.re, 1)
    assertIsolated(tracker, row.provider, before)
    await tracker.refresh()
    assertError(tracker, row.provider, row.kind, row.re, 2)
    assertIsolated(tracker, row.provider, before)
    assert.equal(sb.count(row.provider), n0 + 2, 'a failure does not stop a forced refresh')
    assert.equal(tracker.stats().fetchErrors, 2)
    // the tracker keeps working: the next good answer clears the error and the count
    await tracker.refresh()
    for (const e of tracker.entries()) {
      assert.equal(e.error, undefined, e.key)
      assert.equal(e.fails, 0, e.key)
    }
    const recovered = tracker.entries().filter((x) => x.providerId === row.provider)
    assert.ok(recovered.length > 0, `${row.provider} has entries`)
    for (const e of recovered) assert.ok(e.updated > before[row.provider].updated, `${e.key} updated`)
    assertNoSecrets(tracker)
  })
}

test('429 with Retry-After: 120 → rate_limited, retryAt ≈ now+120 s, and refresh() does not ask again', async () => {
  const tracker = fiveTracker()
  const before = await goodFirst(tracker)
  sb.script('anthropic', { status: 429, headers: { 'Retry-After': '120' } })
  const t0 = Date.now()
  await tracker.refresh()
  const err = assertError(tracker, 'anthropic', 'rate_limited', /429/, 1)
  assert.ok(Math.abs(err.retryAt - (t0 + 120_000)) < 3000, `retryAt ${err.retryAt - t0} ms from now`)
  assertIsolated(tracker, 'anthropic', before)
  const n = sb.count('anthropic')
  const others = PROVIDER_IDS.filter((id) => id !== 'anthropic').map((id) => sb.count(id))
  await tracker.refresh()
  await tracker.refresh('anthropic')
  assert.equal(sb.count('anthropic'), n, 'no request while retryAt is in the future')
  assert.deepEqual(PROVIDER_IDS.filter((id) => id !== 'anthropic').map((id) => sb.count(id)), others.map((c) => c + 1), 'the others still fetched')
  const e = tracker.get('anthropic')
  assert.equal(e.error.kind, 'rate_limited')
  assert.equal(e.error.retryAt, err.retryAt, 'retryAt kept')
  assert.equal(e.fails, 1, 'a skipped provider is not a new failure')
  assertIsolated(tracker, 'anthropic', before)
})

test('429 with an HTTP-date Retry-After → retryAt at that date', async () => {
  const tracker = fiveTracker()
  const before = await goodFirst(tracker)
  const at = Math.floor((Date.now() + 90_000) / 1000) * 1000
  sb.script('openai-codex', { status: 429, headers: { 'Retry-After': new Date(at).toUTCString() } })
  await tracker.refresh()
  const err = assertError(tracker, 'openai-codex', 'rate_limited', /429/, 1)
  assert.equal(err.retryAt, at)
  assertIsolated(tracker, 'openai-codex', before)
  const n = sb.count('openai-codex')
  await tracker.refresh()
  assert.equal(sb.count('openai-codex'), n)
})

test('429 with Retry-After: 0 (Anthropic streaks) still backs off', async () => {
  const tracker = fiveTracker()
  await goodFirst(tracker)
  sb.script('anthropic', { status: 429, headers: { 'Retry-After': '0' } })
  await tracker.refresh()
  const err = assertError(tracker, 'anthropic', 'rate_limited', /429/, 1)
  assert.ok(err.retryAt > Date.now() + 60_000, 'a real pause, not an immediate retry')
  const n = sb.count('anthropic')
  await tracker.refresh()
  assert.equal(sb.count('anthropic'), n)
})

/** A loopback TCP relay to the sandbox that can be shut, so the port then refuses connections. */
async function relay() {
  const sockets = new Set()
  const server = net.createServer((down) => {
    const up = net.connect(sb.port, '127.0.0.1')
    for (const s of [down, up]) {
      sockets.add(s)
      s.on('close', () => sockets.delete(s))
      s.on('error', () => {})
    }
    down.pipe(up).pipe(down)
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve())
        for (const s of sockets) s.destroy()
      }),
  }
}

test('connection refused → network; others untouched, last good values kept', async () => {
  const r = await relay()
  const tracker = fiveTracker({ 'github-copilot': r.url })
  const before = await goodFirst(tracker)
  await r.close() // the port now refuses connections
  await tracker.refresh()
  assertError(tracker, 'github-copilot', 'network', /connect|request failed|closed/, 1)
  assertIsolated(tracker, 'github-copilot', before)
  await tracker.refresh()
  assertError(tracker, 'github-copilot', 'network', /could not connect/, 2)
  assertIsolated(tracker, 'github-copilot', before)
})

test('a response that never starts → timeout after requestTimeoutMs, while the others finish on time', async () => {
  const tracker = fiveTracker()
  const before = await goodFirst(tracker)
  sb.script('anthropic', { hang: true })
  const t0 = performance.now()
  await tracker.refresh()
  const took = performance.now() - t0
  assert.ok(took >= TIMEOUT_MS - 20 && took < TIMEOUT_MS + 1500, `refresh took ${took} ms`)
  assertError(tracker, 'anthropic', 'timeout', new RegExp(`${TIMEOUT_MS} ms`), 1)
  assertIsolated(tracker, 'anthropic', before)
  // the others were answered well before the timeout
  const hung = sb.requests.find((r) => r.providerId === 'anthropic' && r.status === -1)
  for (const id of PROVIDER_IDS.filter((x) => x !== 'anthropic')) {
    const last = sb.requests.filter((r) => r.providerId === id && r.endpoint === 'usage').at(-1)
    assert.equal(last.status, 200, id)
    assert.ok(last.at - hung.at < TIMEOUT_MS, `${id} answered ${last.at - hung.at} ms after the hang began`)
  }
  await tracker.refresh()
  assert.equal(tracker.get('anthropic').error, undefined, 'recovers on the next good answer')
})

test('a response whose body never finishes → timeout', async () => {
  const tracker = fiveTracker()
  const before = await goodFirst(tracker)
  sb.script('google-gemini-cli', { hang: 'body' })
  await tracker.refresh()
  assertError(tracker, 'google-gemini-cli', 'timeout', /no answer within/, 1)
  assertIsolated(tracker, 'google-gemini-cli', before)
})

// ---- JS strategies that misbehave ----

const QUOTAS = [{ id: 'q', amount: 100 }]
const good = () => [{ id: 'q', used: 10, resetsAt: Date.now() + 3600_000 }]

/** A JS strategy whose behaviour the test switches; counts its calls. */
function jsStrategy(id = 'js') {
  const s = {
    id,
    quotas: QUOTAS,
    calls: 0,
    mode: good,
    hasAuthentication: () => true,
    fetchUsage() {
      s.calls++
      return s.mode()
    },
  }
  return s
}

const JS_ROWS = [
  { name: 'throws', mode: () => { throw new Error('upstream exploded') }, kind: 'provider', re: /fetchUsage failed: upstream exploded/ },
  { name: 'throws a non-Error', mode: () => { throw 'just a string' }, kind: 'provider', re: /fetchUsage failed: just a string/ },
  { name: 'rejects', mode: () => Promise.reject(new Error('async failure')), kind: 'provider', re: /async failure/ },
  { name: 'never resolves', mode: () => new Promise(() => {}), kind: 'timeout', re: new RegExp(`no answer within ${TIMEOUT_MS} ms`) },
  { name: 'returns a non-array', mode: () => ({ id: 'q', used: 1 }), kind: 'provider', re: /must resolve to an array of usage snapshots, got object/ },
  { name: 'returns undefined', mode: () => undefined, kind: 'provider', re: /must resolve to an array of usage snapshots, got undefined/ },
  { name: 'returns NaN', mode: () => [{ id: 'q', used: NaN }], kind: 'provider', re: /`used` is NaN/ },
  { name: 'returns Infinity', mode: () => [{ id: 'q', remaining: Infinity }], kind: 'provider', re: /`remaining` is inf.*expected a finite number/i },
  { name: 'returns a negative limit', mode: () => [{ id: 'q', used: 1, limit: -5 }], kind: 'provider', re: /`limit` is negative/ },
  { name: 'returns a snapshot without id', mode: () => [{ used: 1 }], kind: 'provider', re: /Missing field `id`/ },
  { name: 'returns a string where a number belongs', mode: () => [{ id: 'q', used: 'ten' }], kind: 'provider', re: /UsageSnapshot\.used/ },
]

for (const row of JS_ROWS) {
  test(`JS strategy that ${row.name} → ${row.kind}; a built-in and another strategy untouched`, async () => {
    const tracker = newTracker()
    const bad = jsStrategy('js')
    const other = jsStrategy('js-other')
    tracker.registerProvider(bad)
    tracker.registerProvider(other)
    tracker.registerBuiltinProvider('anthropic', { baseUrl: sb.url, credentials: sb.credentials('anthropic') })
    await tracker.refresh()
    const goodEntry = tracker.get('js')
    assert.equal(goodEntry.windows[0].used, 10)
    bad.mode = row.mode
    await tracker.refresh()
    await tracker.refresh()
    const e = tracker.get('js')
    assert.equal(e.error?.kind, row.kind, JSON.stringify(e.error))
    assert.match(e.error.message, row.re)
    assert.match(e.error.message, /^js: /, 'names the provider')
    assert.equal(e.fails, 2)
    assert.deepEqual(e.windows, goodEntry.windows, 'last good values kept')
    assert.equal(e.updated, goodEntry.updated)
    assert.equal(tracker.get('js-other').fails, 0)
    assert.equal(tracker.get('js-other').error, undefined)
    assert.equal(tracker.get('anthropic').error, undefined)
    assert.equal(other.calls, 3)
    assertNoSecrets(tracker)
    bad.mode = good
    await tracker.refresh()
    assert.equal(tracker.get('js').fails, 0)
    assert.equal(tracker.get('js').error, undefined)
  })
}

test('unknown snapshot ids are skipped, never fatal', async () => {
  const tracker = newTracker()
  const s = jsStrategy('js')
  s.mode = () => [{ id: 'nope', used: 1 }, ...good()]
  tracker.registerProvider(s)
  await tracker.refresh()
  const e = tracker.get('js')
  assert.deepEqual([e.error, e.fails, e.active], [undefined, 0, true])
  assert.deepEqual(e.windows.map((w) => w.id), ['q'])
})

test('JS strategy whose hasAuthentication throws → provider error, others fine', async () => {
  const tracker = newTracker()
  const s = jsStrategy('js')
  s.hasAuthentication = () => {
    throw new Error('keychain locked')
  }
  tracker.registerProvider(s)
  tracker.registerProvider(jsStrategy('js-other'))
  await tracker.refresh()
  const e = tracker.get('js')
  assert.equal(e.error?.kind, 'provider')
  assert.match(e.error.message, /hasAuthentication failed: keychain locked/)
  assert.equal(s.calls, 0, 'fetchUsage not called without authentication')
  assert.equal(tracker.get('js-other').error, undefined)
})

test('JS strategy returning false from hasAuthentication → inactive, no error, windows cleared', async () => {
  const tracker = newTracker()
  const s = jsStrategy('js')
  let loggedIn = true
  s.hasAuthentication = async () => loggedIn // read at call time (the function itself is captured at registration)
  tracker.registerProvider(s)
  await tracker.refresh()
  assert.equal(tracker.get('js').active, true)
  loggedIn = false
  await tracker.refresh()
  const e = tracker.get('js')
  assert.deepEqual([e.active, e.error, e.fails, e.windows], [false, undefined, 0, []])
})

// ---- listeners ----

test('a throwing listener is reported as a warning and the other listeners still run', async () => {
  const tracker = newTracker()
  tracker.registerProvider(jsStrategy('js'))
  const warnings = []
  const onWarning = (w) => warnings.push(w)
  process.on('warning', onWarning)
  try {
    const ran = []
    tracker.onUpdate(() => ran.push('a'))
    tracker.onUpdate(() => {
      throw new Error('listener bug')
    })
    tracker.onUpdate((entries) => ran.push(`c:${entries.length}`))
    tracker.onThreshold(() => {})
    await tracker.refresh()
    assert.deepEqual(ran, ['a', 'c:1'])
    await tracker.refresh()
    assert.deepEqual(ran, ['a', 'c:1', 'a', 'c:1'], 'and keep running on later cycles')
    await new Promise((r) => setImmediate(r)) // warnings are emitted on the next tick
    const ours = warnings.filter((w) => /listener bug/.test(w.message))
    assert.equal(ours.length, 2, 'one warning per throw')
    assert.equal(tracker.get('js').error, undefined, 'a listener bug is not a provider error')
  } finally {
    process.off('warning', onWarning)
  }
})

// Hosts can filter our warnings by name (Node ignores `type` for Error objects, so index.js
// emits the message with a type instead).
test('a listener warning is named UsageTrackerListenerError', async () => {
  const tracker = newTracker()
  tracker.registerProvider(jsStrategy('js'))
  const warnings = []
  const onWarning = (w) => warnings.push(w)
  process.on('warning', onWarning)
  try {
    tracker.onUpdate(() => {
      throw new Error('named listener bug')
    })
    await tracker.refresh()
    await new Promise((r) => setImmediate(r))
    const ours = warnings.filter((w) => /named listener bug/.test(w.message))
    assert.equal(ours.length, 1)
    assert.equal(ours[0].name, 'UsageTrackerListenerError')
  } finally {
    process.off('warning', onWarning)
  }
})

test('an unsubscribed listener is not called again', async () => {
  const tracker = newTracker()
  tracker.registerProvider(jsStrategy('js'))
  let calls = 0
  const off = tracker.onUpdate(() => calls++)
  await tracker.refresh()
  off()
  await tracker.refresh()
  assert.equal(calls, 1)
})

// ---- lifecycle ----

test('stop() during a hung fetch resolves in < 1 s; no listener or strategy runs after it', async () => {
  const tracker = newTracker({ intervalMs: 1000, requestTimeoutMs: 10_000 })
  const hung = jsStrategy('js-hung')
  let release
  hung.mode = () => new Promise((resolve) => (release = () => resolve(good())))
  const quick = jsStrategy('js-quick')
  tracker.registerProvider(hung)
  tracker.registerProvider(quick)
  tracker.registerBuiltinProvider('anthropic', { baseUrl: sb.url, credentials: sb.credentials('anthropic') })
  sb.script('anthropic', { hang: true, times: Infinity })
  let updates = 0
  tracker.onUpdate(() => updates++)
  tracker.start()
  assert.equal(tracker.running, true)
  // wait until both the JS fetch and the HTTP request are in flight
  for (let i = 0; i < 100 && (hung.calls === 0 || sb.count('anthropic') === 0); i++) await sleep(10)
  assert.equal(hung.calls, 1)
  assert.equal(sb.count('anthropic'), 1)
  const t0 = performance.now()
  await tracker.stop()
  const took = performance.now() - t0
  assert.ok(took < 1000, `stop took ${took} ms`)
  assert.equal(tracker.running, false)
  const seen = { updates, hung: hung.calls, quick: quick.calls, http: sb.count('anthropic') }
  release() // the abandoned promise settles now: its result must be dropped
  await sleep(1200) // past the next tick
  assert.deepEqual({ updates, hung: hung.calls, quick: quick.calls, http: sb.count('anthropic') }, seen, 'nothing ran after stop')
  assert.equal(tracker.get('js-hung')?.updated ?? 0, 0, 'the abandoned result never reached the store')
})

test('stop() during an awaited refresh(): the refresh settles promptly', async () => {
  const tracker = newTracker({ requestTimeoutMs: 10_000 })
  const hung = jsStrategy('js-hung')
  hung.mode = () => new Promise(() => {})
  tracker.registerProvider(hung)
  const pending = tracker.refresh()
  for (let i = 0; i < 100 && hung.calls === 0; i++) await sleep(10)
  const t0 = performance.now()
  await tracker.stop()
  await pending
  assert.ok(performance.now() - t0 < 1000)
})

test('unregisterProvider during a cycle: its entries are gone and stay gone', async () => {
  const tracker = newTracker()
  const slow = jsStrategy('js-slow')
  tracker.registerProvider(slow)
  tracker.registerProvider(jsStrategy('js-other'))
  await tracker.refresh()
  assert.ok(tracker.get('js-slow'))
  let release
  slow.mode = () => new Promise((resolve) => (release = () => resolve(good())))
  const published = []
  tracker.onUpdate((entries) => published.push(entries.map((e) => e.key)))
  const pending = tracker.refresh()
  for (let i = 0; i < 100 && !release; i++) await sleep(5)
  assert.ok(release, 'fetch in flight')
  assert.equal(tracker.unregisterProvider('js-slow'), true)
  assert.equal(tracker.get('js-slow'), null)
  release()
  await pending
  assert.equal(tracker.get('js-slow'), null, 'the late result left no trace')
  assert.deepEqual(published.at(-1), ['js-other/default'])
  await tracker.refresh()
  assert.deepEqual(tracker.entries().map((e) => e.key), ['js-other/default'])
  assert.deepEqual(tracker.providerIds(), ['js-other'])
  assert.equal(tracker.unregisterProvider('js-slow'), false)
  await assert.rejects(tracker.refresh('js-slow'), /js-slow/)
})

test('start() twice does not poll twice; stop() twice is harmless', async () => {
  const intervalMs = 1000 // the shortest allowed
  const tracker = newTracker({ intervalMs })
  const s = jsStrategy('js')
  tracker.registerProvider(s)
  tracker.start()
  tracker.start()
  const t0 = performance.now()
  await sleep(2200)
  const elapsed = performance.now() - t0
  const calls = s.calls
  const expected = 1 + Math.floor(elapsed / intervalMs) // the first tick is immediate
  assert.ok(calls >= 2 && calls <= expected, `${calls} fetches in ${Math.round(elapsed)} ms (single loop: ${expected})`)
  await tracker.stop()
  await tracker.stop()
  assert.equal(tracker.running, false)
  const after = s.calls
  await sleep(1200) // past the next tick
  assert.equal(s.calls, after, 'stopped for good')
  // and it can start again
  tracker.start()
  await sleep(50)
  assert.ok(s.calls > after)
  await tracker.stop()
})

test('a failing provider backs off on the scheduled loop but is forced by refresh()', async () => {
  const intervalMs = 1000
  const tracker = newTracker({ intervalMs, maxBackoffMultiplier: 4 })
  const s = jsStrategy('js')
  s.mode = () => {
    throw new Error('down')
  }
  const healthy = jsStrategy('js-ok')
  tracker.registerProvider(s)
  tracker.registerProvider(healthy)
  tracker.start()
  await sleep(3500)
  await tracker.stop()
  // ticks at 0, 1, 2, 3 s: a healthy provider is fetched every tick; a failing one every
  // min(1+fails, 4) ticks, i.e. at 0 and 2 s
  assert.ok(healthy.calls >= 4, `healthy: ${healthy.calls}`)
  assert.ok(s.calls <= healthy.calls / 2, `failing ${s.calls} vs healthy ${healthy.calls}`)
  const n = s.calls
  await tracker.refresh('js')
  assert.equal(s.calls, n + 1)
  assert.equal(tracker.get('js').fails, n + 1)
})

/** Runs `node -e` with the package loaded; kills it after 5 s. Async, so the sandbox in this
 *  process keeps serving the child. */
function runChild(body, { nodeArgs = [], killAfterMs = 5000 } = {}) {
  const code = `const { UsageTracker } = require(${JSON.stringify(INDEX)});\n${body}`
  const t0 = Date.now()
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...nodeArgs, '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const killer = setTimeout(() => child.kill('SIGKILL'), killAfterMs)
    child.on('exit', (status, signal) => {
      clearTimeout(killer)
      resolve({ status, signal, stdout, stderr, took: Date.now() - t0 })
    })
  })
}

test('a started tracker dropped without stop() does not keep the process alive', async () => {
  const r = await runChild(`
    const t = new UsageTracker({ cachePath: null, intervalMs: 1000 })
    t.registerProvider({ id: 'js', quotas: [{ id: 'q', amount: 10 }], fetchUsage: () => [{ id: 'q', used: 1 }] })
    t.registerBuiltinProvider('anthropic', { baseUrl: 'http://127.0.0.1:9', credentials: { accessToken: 'x' } })
    t.onUpdate(() => {})
    t.start()
    setTimeout(() => console.log('cycles', t.stats().cycles), 200)
  `)
  assert.equal(r.signal, null, `killed after ${r.took} ms: the tracker kept the process alive`)
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stdout, /cycles [1-9]/)
  assert.ok(r.took < 2000, `exited after ${r.took} ms`)
})

test('… nor with a JS fetch and an HTTP request hung in flight', async () => {
  sb.script('anthropic', { hang: true, times: Infinity })
  const r = await runChild(`
    const t = new UsageTracker({ cachePath: null, intervalMs: 1000, requestTimeoutMs: 60000 })
    t.registerProvider({ id: 'js', quotas: [{ id: 'q', amount: 10 }], fetchUsage: () => { console.log('fetch'); return new Promise(() => {}) } })
    t.registerBuiltinProvider('anthropic', { baseUrl: ${JSON.stringify(sb.url)}, credentials: ${JSON.stringify(sb.credentials('anthropic'))} })
    t.start()
    setTimeout(() => console.log('main done'), 300) // long enough for both fetches to be in flight
  `)
  assert.equal(r.signal, null, `killed after ${r.took} ms: the tracker kept the process alive`)
  assert.equal(r.status, 0, r.stderr)
  assert.ok(r.took < 2000, `exited after ${r.took} ms`)
  assert.deepEqual(r.stdout.trim().split('\n'), ['fetch', 'main done'], 'one JS fetch was in flight')
  // What this test is about is the exit with a request in flight; how many reached the sandbox
  // is not (one CI-like run on an idle machine saw 2 once in five full runs; not reproduced).
  const inFlight = sb.count('anthropic')
  assert.ok(inFlight >= 1, `the HTTP request was really in flight (${inFlight} reached the sandbox)`)
})

// A pending refresh() is work the caller asked for (like a pending fetch()): it may hold the
// process, but only until it settles, i.e. at most requestTimeoutMs.
test('a pending refresh() holds the process only until requestTimeoutMs', async () => {
  const r = await runChild(`
    const t = new UsageTracker({ cachePath: null, requestTimeoutMs: 500 })
    t.registerProvider({ id: 'js', quotas: [{ id: 'q', amount: 10 }], fetchUsage: () => new Promise(() => {}) })
    t.refresh().then(() => console.log(t.get('js').error.kind))
  `)
  assert.equal(r.signal, null, `killed after ${r.took} ms`)
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.stdout.trim(), 'timeout')
  assert.ok(r.took < 2500, `exited after ${r.took} ms`)
})

// ---- soak ----

// In a child started with --expose-gc, so gc() really collects before each reading and the
// bounds measure what the tracker keeps, not garbage not yet collected.
test('soak: 2000 refresh cycles, one fetch in five throws; memory flat, store right', { timeout: 120_000 }, async () => {
  const r = await runChild(`
    const assert = require('node:assert/strict')
    if (typeof global.gc !== 'function') throw new Error('run with --expose-gc')
    const tracker = new UsageTracker({ cachePath: null, requestTimeoutMs: ${TIMEOUT_MS} })
    let n = 0
    tracker.registerProvider({
      id: 'soak',
      quotas: [
        { id: 'q', amount: 1000 },
        { id: 'p', percentageOnly: true, duration: 3600 },
      ],
      fetchUsage() {
        n++
        if (n % 5 === 0) throw new Error('flaky ' + n)
        return [
          { id: 'q', used: n % 1000, resetsAt: Date.now() + 3600_000 },
          ...['m0', 'm1', 'm2'].map((modelId, i) => ({ id: 'p', modelId, usedRatio: ((n + i) % 100) / 100 })),
        ]
      },
    })
    let updates = 0
    tracker.onUpdate(() => updates++)
    const cycle = async () => {
      await tracker.refresh()
      const e = tracker.get('soak')
      if (n % 5 === 0) {
        assert.equal(e.fails, 1, 'fails after throw ' + n)
        assert.equal(e.error.message, 'soak: fetchUsage failed: flaky ' + n)
      } else {
        assert.equal(e.fails, 0, 'fails reset after success ' + n)
        assert.equal(e.error, undefined)
        assert.equal(e.windows.find((w) => w.id === 'q').used, n % 1000)
        assert.equal(tracker.getWindow('soak', 'p', 'm2').usedRatio, ((n + 2) % 100) / 100)
      }
    }
    const reading = () => {
      global.gc()
      const m = process.memoryUsage()
      return { rss: m.rss, heap: m.heapUsed }
    }
    ;(async () => {
      for (let i = 0; i < 300; i++) await cycle() // warm-up
      const before = reading()
      for (let i = 0; i < 2000; i++) await cycle()
      const after = reading()
      await cycle() // n = 2301: a success last
      const e = tracker.get('soak')
      const s = tracker.stats()
      await tracker.stop()
      console.log(JSON.stringify({ before, after, n, updates, last: [e.fails, e.error ?? null, e.windows[0].used],
        keys: tracker.entries().map((x) => x.key).sort(), fetchOk: s.fetchOk, fetchErrors: s.fetchErrors }))
    })().catch((err) => {
      console.error(err.stack)
      process.exit(1)
    })
  `, { nodeArgs: ['--expose-gc'], killAfterMs: 110_000 })
  assert.equal(r.signal, null, `killed after ${r.took} ms`)
  assert.equal(r.status, 0, r.stderr)
  const out = JSON.parse(r.stdout)
  const mb = (bytes) => (bytes / 2 ** 20).toFixed(2)
  console.log(`# soak: 2000 cycles in a child, after gc: heap ${mb(out.before.heap)} -> ${mb(out.after.heap)} MiB, rss ${mb(out.before.rss)} -> ${mb(out.after.rss)} MiB`)
  // a leak of even 1 KiB per cycle would be 2 MiB of heap over the run
  assert.ok(out.after.heap - out.before.heap < 2 * 2 ** 20, `heap grew ${mb(out.after.heap - out.before.heap)} MiB over 2000 cycles`)
  // rss settles in steps of the allocator (about 12 MiB seen after the warm-up, then flat over
  // 8000 cycles); a native leak of 12 KiB per cycle would cross this
  assert.ok(out.after.rss - out.before.rss < 24 * 2 ** 20, `rss grew ${mb(out.after.rss - out.before.rss)} MiB over 2000 cycles`)
  assert.equal(out.n, 2301)
  assert.equal(out.updates, 2301)
  assert.deepEqual(out.last, [0, null, 2301 % 1000])
  assert.deepEqual(out.keys, ['soak/default', 'soak/m0', 'soak/m1', 'soak/m2'])
  assert.equal(out.fetchOk + out.fetchErrors, 2301)
  assert.equal(out.fetchErrors, Math.floor(2301 / 5))
})
