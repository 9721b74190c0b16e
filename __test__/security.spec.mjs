// Hostile servers and hostile files, through the addon: what a provider's address (or anything
// answering on it) sends, and what another program puts at the cache path, must not move our
// credentials elsewhere, leak into messages, exhaust memory, overflow times or hang the tracker.
// Every "other host" here is a second loopback listener; nothing leaves the machine.
import { test, before, after, beforeEach } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { existsSync, lstatSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { startSandbox, startRecorder } from './sandbox.mjs'

const require = createRequire(import.meta.url)
const INDEX = require.resolve('../index.js')
const { UsageTracker } = require(INDEX)

const HOUR = 3600_000
const MAX_RETRY_AFTER_MS = 6 * HOUR

let sb
let dir
let secrets
before(async () => {
  sb = await startSandbox()
  dir = mkdtempSync(path.join(tmpdir(), 'usage-security-'))
  secrets = [...Object.values(sb.tokens), sb.accountId, ...Object.values(sb.projects)]
})
after(async () => {
  await sb?.close()
  if (dir) rmSync(dir, { recursive: true, force: true })
})
beforeEach(() => sb.reset())

let fresh = 0
/** A new empty directory for one test's cache. */
const testDir = () => mkdtempSync(path.join(dir, `t${fresh++}-`))

function tracker(opts = {}) {
  return new UsageTracker({ cachePath: null, requestTimeoutMs: 2000, ...opts })
}

function withBuiltin(id, opts = {}) {
  const t = tracker(opts)
  t.registerBuiltinProvider(id, { baseUrl: sb.url, credentials: sb.credentials(id) })
  return t
}

function assertNothingLeaks(text, what) {
  for (const s of [...secrets, 'leak:', 'SECRET', 'steal']) assert.ok(!text.includes(s), `${JSON.stringify(s)} in ${what}: ${text.slice(0, 400)}`)
}

// ---- 1. redirects ----

for (const [id, code] of [
  ['openai-codex', 302],
  ['google-gemini-cli', 307],
  ['anthropic', 308],
]) {
  test(`a ${code} from ${id} is not followed: the other host gets nothing, the message names only our host`, async () => {
    const elsewhere = await startRecorder()
    try {
      const t = withBuiltin(id)
      sb.script(id, { status: code, headers: { location: `${elsewhere.url}/steal?access_token=SECRET-in-query` }, body: '' })
      await t.refresh()
      assert.deepEqual(elsewhere.requests, [], 'headers (ChatGPT-Account-Id) and bodies (project) stay home')
      const e = t.get(id)
      assert.equal(e.error?.kind, 'provider', JSON.stringify(e.error))
      const host = new URL(sb.url).host
      assert.equal(e.error.message, `${id}: HTTP ${code}, the service answered with a redirect to another location; not followed so credentials stay on ${host}`)
      assertNothingLeaks(JSON.stringify(t.entries()), 'entries()')
    } finally {
      await elsewhere.close()
    }
  })
}

// ---- 2. proxies ----

/** Runs one refresh of `id` in a child process with `env` added; resolves to its entries. */
function childRefresh(id, baseUrl, env) {
  const script = `
    const { UsageTracker } = require(${JSON.stringify(INDEX)})
    const t = new UsageTracker({ cachePath: null, requestTimeoutMs: 3000 })
    t.registerBuiltinProvider(${JSON.stringify(id)}, { baseUrl: ${JSON.stringify(baseUrl)}, credentials: ${JSON.stringify(sb.credentials(id))} })
    t.refresh().then(() => { process.stdout.write(JSON.stringify(t.entries())); return t.stop() })
  `
  // Asynchronous: the sandbox answers from this process's event loop. Only the variables we
  // set, so a NO_PROXY of the machine cannot make the test pass.
  const proc = spawn(process.execPath, ['-e', script], { env: { PATH: process.env.PATH, HOME: dir, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  proc.stdout.on('data', (d) => (out += d))
  proc.stderr.on('data', (d) => (err += d))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000)
    proc.on('close', (code) => {
      clearTimeout(timer)
      if (code !== 0) reject(new Error(`child exited ${code}: ${err}`))
      else resolve(JSON.parse(out))
    })
  })
}

const proxyEnv = (url) => Object.fromEntries(['HTTP_PROXY', 'HTTPS_PROXY', 'ALL_PROXY'].flatMap((k) => [[k, url], [k.toLowerCase(), url]]))

test('proxy variables are never used for a loopback base URL (a token over plain http stays on this machine)', async () => {
  const proxy = await startRecorder({ status: 502, body: 'proxy' })
  try {
    const entries = await childRefresh('anthropic', sb.url, proxyEnv(`http://127.0.0.1:${proxy.port}`))
    assert.deepEqual(proxy.requests, [], 'the proxy saw nothing')
    assert.equal(entries[0].error, undefined, JSON.stringify(entries[0].error))
    assert.ok(entries[0].windows.length > 0)
    assert.equal(sb.count('anthropic'), 1, 'the sandbox was asked directly')
  } finally {
    await proxy.close()
  }
})

test('proxy variables are honoured for a remote https base URL (asked with CONNECT; nothing leaves loopback)', async () => {
  const proxy = await startRecorder()
  try {
    // `.test` never resolves; through the proxy it is not resolved locally at all.
    const entries = await childRefresh('anthropic', 'https://usage.example.test', proxyEnv(`http://127.0.0.1:${proxy.port}`))
    assert.deepEqual(
      proxy.requests.map((r) => [r.method, r.url]),
      [['CONNECT', 'usage.example.test:443']],
    )
    assert.equal(entries[0].error?.kind, 'network')
  } finally {
    await proxy.close()
  }
})

// ---- 3. parse errors never quote the body ----

// Gemini's buckets are read strictly (a typed body), so a wrong type fails the whole answer;
// lenient readers (Codex) skip the field, which must not leak either.
function leakyGeminiBody(pad = '') {
  const b = sb.fixture('google-gemini-cli')
  b.buckets[0].remainingFraction = `leak:SECRET-value${pad}`
  return b
}

function leakyCodexBody(pad = '') {
  const b = sb.fixture('openai-codex')
  b.rate_limit.primary_window.used_percent = `leak:SECRET-value${pad}`
  return b
}

test('a wrong-typed field is described by type and position; the value reaches neither the message, entries() nor the cache file', async () => {
  const cachePath = path.join(testDir(), 'usage.json')
  const t = withBuiltin('google-gemini-cli', { cachePath })
  sb.setFixture('google-gemini-cli', leakyGeminiBody())
  await t.refresh()
  const e = t.entries().find((x) => x.providerId === 'google-gemini-cli')
  assert.equal(e.error?.kind, 'parse')
  assert.match(e.error.message, /^google-gemini-cli: could not read the response \(\d+ bytes\): expected a number, found a string at line 1 column \d+$/)
  assertNothingLeaks(JSON.stringify(t.entries()), 'entries()')
  assert.ok(existsSync(cachePath), 'the failure was shared through the cache')
  assertNothingLeaks(readFileSync(cachePath, 'utf8'), 'the cache file')
  await t.stop()
})

test('a 3.5 MB string of the wrong type does not make a 3.5 MB message', async () => {
  const t = withBuiltin('google-gemini-cli')
  sb.setFixture('google-gemini-cli', leakyGeminiBody('x'.repeat(3_500_000)))
  await t.refresh()
  const { message } = t.entries().find((x) => x.providerId === 'google-gemini-cli').error
  assert.ok(message.length <= 300, `${message.length} chars`)
  assertNothingLeaks(message, 'the message')
})

test('a lenient reader skips a wrong-typed field without quoting it anywhere', async () => {
  const t = withBuiltin('openai-codex')
  sb.setFixture('openai-codex', leakyCodexBody())
  await t.refresh()
  assertNothingLeaks(JSON.stringify(t.entries()), 'entries()')
  assert.equal(t.getWindow('openai-codex', '5h'), null, 'the unreadable window is not invented')
})

// ---- 4. response size ----

for (const declared of [false, true]) {
  test(`a 5 MiB answer is refused (${declared ? 'declared in Content-Length' : 'found while reading'})`, async () => {
    const t = withBuiltin('openai-codex')
    const body = JSON.stringify({ ...sb.fixture('openai-codex'), padding: 'x'.repeat(5 * 1024 * 1024) })
    sb.script('openai-codex', { body, headers: declared ? { 'content-length': String(Buffer.byteLength(body)) } : {} })
    await t.refresh()
    const e = t.get('openai-codex')
    assert.equal(e.error?.kind, 'parse', JSON.stringify(e.error))
    assert.equal(e.error.message, 'openai-codex: response larger than 4 MiB; not read')
    await t.refresh()
    assert.equal(t.get('openai-codex').error, undefined, 'an ordinary answer is read again')
  })
}

// ---- 5. Retry-After ----

for (const [header, waitMs, note] of [
  ['1e300', MAX_RETRY_AFTER_MS, 'capped'],
  ['999999999', MAX_RETRY_AFTER_MS, 'capped'],
  ['-5', 5 * 60_000, 'default back-off'],
  ['NaN', 5 * 60_000, 'default back-off'],
]) {
  test(`Retry-After: ${header} → ${note}, never negative or overflowed`, async () => {
    const t = withBuiltin('anthropic')
    sb.script('anthropic', { status: 429, headers: { 'retry-after': header } })
    const t0 = Date.now()
    await t.refresh()
    const { error } = t.get('anthropic')
    assert.equal(error?.kind, 'rate_limited', JSON.stringify(error))
    assert.ok(Math.abs(error.retryAt - (t0 + waitMs)) < 5000, `retryAt ${error.retryAt - t0} ms from now`)
    assert.equal(error.message, `anthropic: HTTP 429, rate limited; next try in ${waitMs / 1000}s`)
  })
}

test('a retryAt read back from the cache is capped at 6 h too', async () => {
  const cachePath = path.join(testDir(), 'usage.json')
  const first = withBuiltin('anthropic', { cachePath })
  sb.script('anthropic', { status: 429, headers: { 'retry-after': '120' } })
  await first.refresh()
  await first.stop()
  // Another process (or a hand edit) says: wait a month.
  const file = JSON.parse(readFileSync(cachePath, 'utf8'))
  const [record] = Object.values(file.providers)
  record.lastError.retryAt = Date.now() + 30 * 24 * HOUR
  writeFileSync(cachePath, JSON.stringify(file))
  const n = sb.count('anthropic')
  const second = withBuiltin('anthropic', { cachePath })
  await second.refresh()
  const { error } = second.get('anthropic')
  assert.equal(error?.kind, 'rate_limited')
  assert.ok(error.retryAt <= Date.now() + MAX_RETRY_AFTER_MS + 1000, `retryAt ${(error.retryAt - Date.now()) / HOUR} h ahead`)
  assert.equal(sb.count('anthropic'), n, 'still respected: no request')
  await second.stop()
})

// ---- 6. reset times far in the future ----

test('a Codex reset at epoch 1e300 s is unknown or within one window length, and a full window stays exhausted', async () => {
  const t = withBuiltin('openai-codex')
  const b = sb.fixture('openai-codex')
  b.rate_limit.primary_window = { used_percent: 100, limit_window_seconds: 18000, reset_at: 1e300 }
  b.rate_limit.secondary_window = null
  sb.setFixture('openai-codex', b)
  const t0 = Date.now()
  await t.refresh()
  const w = t.getWindow('openai-codex', '5h')
  assert.ok(w, JSON.stringify(t.get('openai-codex')))
  assert.ok(w.resetsAt == null || (w.resetsAt >= t0 && w.resetsAt <= Date.now() + 5 * HOUR), `resetsAt ${w.resetsAt}`)
  const c = t.checkQuota('openai-codex')
  assert.equal(c.decision, 'exhausted')
  assert.equal(c.windowId, '5h')
})

for (const resetsAt of [-1e300, 1e300, 9.2e18]) {
  test(`a JS provider's 100%-used window with resetsAt ${resetsAt} is exhausted, its reset unknown`, async () => {
    const t = tracker()
    t.registerProvider({
      id: 'js',
      quotas: [{ id: 'q', percentageOnly: true }],
      hasAuthentication: () => true,
      fetchUsage: () => [{ id: 'q', usedRatio: 1, resetsAt }],
    })
    await t.refresh()
    const w = t.getWindow('js', 'q')
    assert.equal(w.resetsAt, undefined, 'implausible reset dropped')
    assert.equal(t.checkQuota('js').decision, 'exhausted')
  })
}

// ---- 7. the cache file ----

test('cachePath must name a file', () => {
  const d = testDir()
  for (const bad of ['', '.', d, `${d}/`]) {
    assert.throws(() => new UsageTracker({ cachePath: bad }), /invalid option `cachePath`/, JSON.stringify(bad))
  }
  assert.doesNotThrow(() => new UsageTracker({ cachePath: path.join(d, 'usage.json') }))
})

test("a symlink planted at the old temp file's name (<path>.<pid>.tmp) does not redirect the write", async () => {
  const d = testDir()
  const cachePath = path.join(d, 'usage.json')
  const victim = path.join(d, 'victim.txt')
  writeFileSync(victim, 'precious')
  symlinkSync(victim, `${cachePath}.${process.pid}.tmp`)
  const t = withBuiltin('anthropic', { cachePath })
  await t.refresh()
  assert.equal(readFileSync(victim, 'utf8'), 'precious')
  assert.ok(JSON.parse(readFileSync(cachePath, 'utf8')).providers, 'the cache itself was written')
  await t.stop()
})

test('a symlink at the cache path: target untouched, link not replaced, cache off, tracker fine', async () => {
  const d = testDir()
  const cachePath = path.join(d, 'usage.json')
  const victim = path.join(d, 'victim.txt')
  writeFileSync(victim, 'precious')
  symlinkSync(victim, cachePath)
  const t = withBuiltin('anthropic', { cachePath })
  await t.refresh()
  await t.refresh()
  assert.equal(readFileSync(victim, 'utf8'), 'precious')
  assert.ok(lstatSync(cachePath).isSymbolicLink(), 'still the link')
  assert.equal(t.get('anthropic').error, undefined)
  assert.equal(sb.count('anthropic'), 2, 'no sharing: both refreshes fetched')
  assert.deepEqual(readdirSync(d).sort(), ['usage.json', 'victim.txt'], 'no lock or temp files beside it')
  await t.stop()
})

test('a FIFO at the cache path never blocks (registration, refresh, stop)', async (ctx) => {
  const d = testDir()
  const cachePath = path.join(d, 'usage.json')
  if (spawnSync('mkfifo', [cachePath]).status !== 0) return ctx.skip('no mkfifo')
  const t0 = performance.now()
  const t = withBuiltin('anthropic', { cachePath })
  await t.refresh()
  await t.stop()
  assert.ok(performance.now() - t0 < 3000)
  assert.equal(t.get('anthropic').error, undefined)
  assert.ok(t.get('anthropic').windows.length > 0)
})

test('a character device at the cache path (/dev/zero) is not read', async (ctx) => {
  if (!existsSync('/dev/zero')) return ctx.skip('no /dev/zero')
  const t0 = performance.now()
  const t = withBuiltin('anthropic', { cachePath: '/dev/zero' })
  await t.refresh()
  await t.stop()
  assert.ok(performance.now() - t0 < 3000)
  assert.equal(t.get('anthropic').error, undefined)
  assert.ok(!existsSync('/dev/zero.lock'))
})

// ---- 8. locks held by another process ----

/** Holds flock(2) on `files` in another process until killed; resolves once they are held. */
async function holdLocks(files) {
  const code = 'import fcntl, sys, time\nfs = [open(p, "a") for p in sys.argv[1:]]\nfor f in fs: fcntl.flock(f, fcntl.LOCK_EX)\nprint("held", flush=True)\ntime.sleep(120)\n'
  const proc = spawn('python3', ['-c', code, ...files], { stdio: ['ignore', 'pipe', 'inherit'] })
  await new Promise((resolve, reject) => {
    proc.on('error', reject)
    proc.stdout.once('data', resolve)
  })
  return proc
}
const hasPython = spawnSync('python3', ['-c', 'import fcntl']).status === 0

/** A cache directory whose lock files exist (one earlier refresh) but whose data file does not. */
async function primedCache() {
  const d = testDir()
  const cachePath = path.join(d, 'usage.json')
  const t = withBuiltin('anthropic', { cachePath })
  await t.refresh()
  await t.stop()
  unlinkSync(cachePath)
  // The usage history's own lock (`usage.json.history-…`) is not one of the cache's.
  const locks = readdirSync(d).filter((f) => f.endsWith('.lock') && !f.includes('.history-')).map((f) => path.join(d, f))
  assert.equal(locks.length, 2, `the data lock and one provider lock: ${readdirSync(d)}`)
  return { cachePath, locks, dataLock: `${cachePath}.lock` }
}

const TIMEOUT = 1500

for (const which of ['both locks', 'the data lock only']) {
  test(`${which} held by another process: refresh() fetches itself within requestTimeoutMs; stop() is prompt`, { skip: !hasPython && 'python3 with fcntl needed' }, async () => {
    const { cachePath, locks, dataLock } = await primedCache()
    const holder = await holdLocks(which === 'both locks' ? locks : [dataLock])
    try {
      const t = withBuiltin('anthropic', { cachePath, requestTimeoutMs: TIMEOUT })
      const t0 = performance.now()
      const hung = Symbol('hung')
      const r = await Promise.race([t.refresh(), sleep(TIMEOUT * 3).then(() => hung)])
      const took = performance.now() - t0
      assert.notEqual(r, hung, 'refresh() never resolved')
      assert.ok(took < TIMEOUT + 500, `refresh took ${took} ms`)
      const e = t.get('anthropic')
      assert.equal(e.error, undefined, JSON.stringify(e.error))
      assert.ok(e.windows.length > 0)
      // A refresh waiting on the held provider lock, then stop().
      t.start()
      const pending = t.refresh()
      await sleep(50)
      const s0 = performance.now()
      await Promise.race([t.stop(), sleep(TIMEOUT * 3)])
      assert.ok(performance.now() - s0 < 500, `stop took ${performance.now() - s0} ms`)
      await Promise.race([pending, sleep(TIMEOUT * 3)])
      // A tracker without the cache never notices.
      const solo = withBuiltin('anthropic', { requestTimeoutMs: TIMEOUT })
      const s1 = performance.now()
      await solo.refresh()
      assert.ok(performance.now() - s1 < TIMEOUT / 2, 'no lock wait at all')
      assert.equal(solo.get('anthropic').error, undefined)
    } finally {
      holder.kill('SIGKILL')
    }
  })
}

// ---- 9. hostile callers: the tracker's own API ----

test('model ids, window ids and error messages from a strategy are cleaned before they become keys', async () => {
  const t = tracker()
  let mode = 'ok'
  t.registerProvider({
    id: 'js',
    quotas: [{ id: '5h\u001b[2J', percentageOnly: true }],
    fetchUsage: () => {
      if (mode === 'throw') throw new Error(`\u001b]0;pwned\u0007\u001b[31mred\u001b[0m\n${'y'.repeat(10_000)}`)
      return [{ id: '5h\u001b[2J', modelId: 'gpt\u001b]0;title\u0007-5\u202e', usedRatio: 0.5 }]
    },
  })
  await t.refresh()
  assert.deepEqual(t.entries().map((e) => e.key), ['js/gpt-5'])
  assert.deepEqual(t.get('js', 'gpt-5').windows.map((w) => [w.id, w.modelId]), [['5h', 'gpt-5']])
  assert.equal(t.getWindow('js', '5h', 'gpt-5').usedRatio, 0.5)
  assert.deepEqual([...t.snapshot.windows.get('js').keys()], ['gpt-5'])
  mode = 'throw'
  await t.refresh()
  const message = t.get('js', 'gpt-5').error.message
  assert.ok(message.startsWith('js: fetchUsage failed: red yyy'), message.slice(0, 80))
  assert.ok(message.length <= 300, `${message.length} characters`)
  assert.ok(!/[\u0000-\u001f\u007f-\u009f]/.test(message))
})

test('whole-number options are taken exactly: fractions, negatives and values past their type are refused', () => {
  for (const [field, value] of [
    ['maxBackoffMultiplier', 2 ** 32 + 1],
    ['maxBackoffMultiplier', 2.5],
    ['requestTimeoutMs', 1000.5],
    ['requestTimeoutMs', -5],
    ['requestTimeoutMs', 2 ** 53 + 2],
    ['intervalMs', 60_000.5],
    ['intervalMs', NaN],
  ]) {
    assert.throws(() => new UsageTracker({ cachePath: null, [field]: value }), (err) => {
      assert.ok(err instanceof TypeError, err.message)
      assert.equal(err.code, 'ERR_INVALID_OPTION')
      assert.match(err.message, new RegExp(`\`${field}\`: expected a whole number`))
      return true
    }, `${field}: ${value}`)
  }
  assert.doesNotThrow(() => new UsageTracker({ cachePath: null, maxBackoffMultiplier: 2 ** 32 - 1, requestTimeoutMs: 2 ** 53 - 1 }))
})

test('intervalMs below 1000 is refused', () => {
  for (const intervalMs of [1, 50, 999]) {
    assert.throws(() => new UsageTracker({ cachePath: null, intervalMs }), { name: 'TypeError', code: 'ERR_INVALID_OPTION', message: /`intervalMs`: must be at least 1000/ })
  }
  assert.doesNotThrow(() => new UsageTracker({ cachePath: null, intervalMs: 1000 }))
})

test('conversion failures are TypeErrors naming the field or argument', () => {
  const t = tracker()
  const fn = () => {}
  const cases = [
    [() => new UsageTracker({ cachePath: null, intervalMs: '1000' }), /^TrackerOptions\.intervalMs: expected a number, got a string$/],
    [() => new UsageTracker({ cachePath: null, warnAt: {} }), /^TrackerOptions\.warnAt: expected a number, got an object$/],
    [() => new UsageTracker({ cachePath: 5 }), /^TrackerOptions\.cachePath: expected one of string, null/],
    [() => t.registerProvider({ id: 'a', quotas: [{ id: 'q', amount: '5' }], fetchUsage: fn }), /^QuotaDefinition\.amount: expected a number, got a string$/],
    [() => t.registerProvider({ id: 'a', quotas: [{ id: 7, amount: 5 }], fetchUsage: fn }), /^QuotaDefinition\.id: expected a string, got a number$/],
    [() => t.registerProvider({ id: 'a', quotas: [5], fetchUsage: fn }), /strategy\.quotas\[0\] must be an object, got number/],
    [() => t.registerBuiltinProvider('anthropic', { credentials: { accessToken: 5 } }), /^BuiltinOptions\.credentials\.accessToken: expected a string, got a number$/],
    [() => t.registerBuiltinProvider('anthropic', { baseUrl: [] }), /^BuiltinOptions\.baseUrl: expected a string/],
    [() => t.registerBuiltinProvider(5), /registerBuiltinProvider: id must be a string, got number/],
    [() => t.get(5), /get: providerId must be a string/],
    [() => t.get('a', 5), /get: modelId must be a string/],
    [() => t.getWindow('a', 5), /getWindow: windowId must be a string/],
    [() => t.checkQuota({}), /checkQuota: providerId must be a string, got object/],
    [() => t.selectBest(['a', 5]), /selectBest: providerIds\[1\] must be a string/],
    [() => t.selectBestModel([{ providerId: 5, modelId: 'm' }]), /^ModelCandidate\.providerId: expected a string, got a number$/],
    [() => t.windowIds(null), /windowIds: providerId must be a string, got null/],
  ]
  for (const [call, message] of cases) {
    assert.throws(call, (err) => {
      assert.ok(err instanceof TypeError, `${err.name}: ${err.message}`)
      assert.equal(err.code, 'ERR_INVALID_ARG_TYPE', err.message)
      assert.match(err.message, message)
      return true
    }, String(call))
  }
  assert.deepEqual(t.providerIds(), [], 'nothing half-registered')
})

test('async methods reject, they never throw', async () => {
  const t = tracker()
  for (const call of [() => t.refresh(5), () => UsageTracker.prototype.refresh.call({}), () => UsageTracker.prototype.stop.call({}), () => t.refresh('nobody')]) {
    let promise
    assert.doesNotThrow(() => (promise = call()), String(call))
    assert.ok(promise instanceof Promise, String(call))
    await assert.rejects(promise, String(call))
  }
})

test('a JS strategy returning 1 000 000 snapshots is refused before conversion: the loop never stalls, last values stay', async () => {
  const max = UsageTracker.limits.maxSnapshotsPerFetch
  assert.deepEqual(UsageTracker.limits, { maxSnapshotsPerFetch: 10_000, minIntervalMs: 1000 })
  const one = { id: 'q', used: 1 }
  let count = 1
  const t = tracker()
  t.registerProvider({ id: 'flood', quotas: [{ id: 'q', amount: 10 }], fetchUsage: () => Array.from({ length: count }, () => one) })
  await t.refresh()
  assert.equal(t.get('flood').windows[0].used, 1)
  count = 1_000_000
  let ticks = 0
  const heartbeat = setInterval(() => ticks++, 10)
  const t0 = performance.now()
  await t.refresh()
  const took = performance.now() - t0
  clearInterval(heartbeat)
  assert.ok(took < 1500, `refresh took ${took.toFixed(0)} ms`)
  assert.ok(ticks > 0, 'the event loop kept turning')
  const e = t.get('flood')
  assert.equal(e.error?.kind, 'provider')
  assert.equal(e.error.message, 'flood: fetchUsage failed: fetchUsage returned 1000000 snapshots; at most 10000 are accepted')
  assert.equal(e.windows[0].used, 1, 'last good values kept')
  count = max
  await t.refresh()
  assert.equal(t.get('flood').error, undefined, 'exactly the limit is accepted')
})

test('cacheWarning says why the shared cache is off; null while it works', async () => {
  const d = testDir()
  const victim = path.join(d, 'victim.txt')
  writeFileSync(victim, 'precious')
  const link = path.join(d, 'usage.json')
  symlinkSync(victim, link)
  const t = withBuiltin('anthropic', { cachePath: link })
  await t.refresh()
  assert.match(t.cacheWarning, /symbolic link/)
  assert.equal(t.get('anthropic').error, undefined, 'tracking goes on')
  const fine = withBuiltin('anthropic', { cachePath: path.join(testDir(), 'usage.json') })
  await fine.refresh()
  assert.equal(fine.cacheWarning, null)
  assert.equal(tracker().cacheWarning, null, 'no cache, no warning')
})

/** Runs `node [flags] -e code` with `UsageTracker`, `INDEX` and `SB` (sandbox URL) defined;
 *  kills it after `killAfterMs`. Async, so the sandbox in this process keeps serving it. */
function runNode(code, { flags = [], killAfterMs = 10_000, env } = {}) {
  const prelude = `const INDEX = ${JSON.stringify(INDEX)}; const SB = ${JSON.stringify(sb.url)}; const { UsageTracker } = require(INDEX);\n`
  const t0 = Date.now()
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...flags, '-e', prelude + code], { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env })
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

test('refresh() from inside a strategy callback rejects at once with ERR_REENTRANT_REFRESH (no deadlock until the timeout)', async () => {
  for (const where of ['fetchUsage', 'hasAuthentication']) {
    const t = tracker({ requestTimeoutMs: 4000 })
    const other = tracker()
    other.registerProvider({ id: 'other', quotas: [], fetchUsage: () => [] })
    let inner
    let otherRefresh
    let later
    const reenter = async () => {
      if (inner !== undefined) return
      await sleep(1) // deep in the callback's own awaits
      inner = await t.refresh().then(() => 'resolved', (err) => err)
      otherRefresh = await other.refresh().then(() => 'resolved', (err) => err)
      setTimeout(() => (later = t.refresh().then(() => 'resolved', (err) => err)), 0)
    }
    t.registerProvider({
      id: 'js',
      quotas: [{ id: 'q', amount: 10 }],
      hasAuthentication: async () => (where === 'hasAuthentication' && (await reenter()), true),
      fetchUsage: async () => (where === 'fetchUsage' && (await reenter()), [{ id: 'q', used: 1 }]),
    })
    const t0 = performance.now()
    await t.refresh()
    assert.ok(performance.now() - t0 < 1000, `${where}: refresh took ${performance.now() - t0} ms`)
    assert.ok(inner instanceof Error, `${where}: ${inner}`)
    assert.equal(inner.code, 'ERR_REENTRANT_REFRESH')
    assert.match(inner.message, new RegExp(`inside ${where} of provider 'js'`))
    assert.equal(otherRefresh, 'resolved', "another tracker's refresh is no re-entry")
    assert.equal(t.get('js').error, undefined, `${where}: the callback itself went on`)
    for (let i = 0; i < 100 && later === undefined; i++) await sleep(5)
    assert.equal(await later, 'resolved', 'a refresh after the callback returned is no re-entry')
  }
})

test('a refresh() nobody waits for does not keep the process alive; an awaited one does', async () => {
  sb.script('anthropic', { hang: true, times: 1 })
  const forgotten = await runNode(
    `
    const t = new UsageTracker({ cachePath: null, requestTimeoutMs: 20_000 })
    t.registerBuiltinProvider('anthropic', { baseUrl: SB, credentials: ${JSON.stringify(sb.credentials('anthropic'))} })
    t.refresh()
    setTimeout(() => console.log('main done'), 1000) // the request is in flight by then
    `,
  )
  assert.equal(forgotten.signal, null, `killed after ${forgotten.took} ms: the refresh kept the process alive`)
  assert.equal(forgotten.status, 0, forgotten.stderr)
  assert.equal(forgotten.stdout.trim(), 'main done')
  assert.ok(forgotten.took < 5000, `exited after ${forgotten.took} ms, long before the 20 s timeout`)
  assert.equal(sb.count('anthropic'), 1, 'the request was in flight')

  // The CLI's shape: nothing but the awaited refresh keeps the process alive until it settles.
  const awaited = await runNode(
    `
    const t = new UsageTracker({ cachePath: null, requestTimeoutMs: 5_000 })
    t.registerBuiltinProvider('anthropic', { baseUrl: SB, credentials: ${JSON.stringify(sb.credentials('anthropic'))} })
    ;(async () => {
      await new Promise((r) => setTimeout(r, 10))
      await t.refresh()
      console.log(t.get('anthropic').windows.length > 0 ? 'fetched' : JSON.stringify(t.get('anthropic')))
    })()
    `,
  )
  assert.equal(awaited.status, 0, awaited.stderr)
  assert.equal(awaited.stdout.trim(), 'fetched')
})

const lastJsonLine = (stdout) => JSON.parse(stdout.trim().split('\n').at(-1))

test('trackers dropped without stop() are garbage-collected, closures and all; a running one stops fetching', async () => {
  // Each tracker holds a 100 KB array through its strategy and its listener, and the strategy
  // holds the tracker (the usual shape). Some are started, with a built-in on a loopback server.
  const r = await runNode(
    `
    const http = require('node:http')
    const N = 300, STARTED = 20
    let hits = 0
    const server = http.createServer((req, res) => { hits++; res.writeHead(503); res.end() })
    let collected = 0
    const registry = new FinalizationRegistry(() => collected++)
    const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
    function make(i, base) {
      const big = new Array(12_500).fill(i)
      const t = new UsageTracker({ cachePath: null, intervalMs: 1000, requestTimeoutMs: 500 })
      t.registerProvider({ id: 'js', quotas: [{ id: 'q', amount: 1 }], fetchUsage: () => [{ id: 'q', used: big.length + t.stats().cycles }] })
      t.onUpdate(() => big.length)
      if (i < STARTED) {
        t.registerBuiltinProvider('anthropic', { baseUrl: base, credentials: { accessToken: 'x' } })
        t.start()
      }
      registry.register(t, i)
    }
    server.listen(0, '127.0.0.1', async () => {
      const base = 'http://127.0.0.1:' + server.address().port
      gc()
      const heap0 = process.memoryUsage().heapUsed
      for (let i = 0; i < N; i++) make(i, base)
      for (let i = 0; i < 100 && hits < STARTED; i++) await sleep(20)
      const started = hits
      await sleep(100) // the first cycles publish
      for (let i = 0; i < 20 && collected < N; i++) {
        gc()
        await sleep(20)
      }
      gc()
      const heapGrowthMb = (process.memoryUsage().heapUsed - heap0) / 1e6
      const hitsAtGc = hits
      await sleep(2500) // the failing built-in would be asked again after 2 intervals
      console.log(JSON.stringify({ N, collected, started, heapGrowthMb, hitsAfterGc: hits - hitsAtGc }))
      process.exit(0)
    })
    `,
    { flags: ['--expose-gc'], killAfterMs: 20_000 },
  )
  assert.equal(r.status, 0, r.stderr)
  const out = lastJsonLine(r.stdout)
  assert.equal(out.started, 20, 'every started tracker fetched once')
  assert.ok(out.collected >= out.N - 5, `collected ${out.collected} of ${out.N} trackers`)
  assert.ok(out.heapGrowthMb < 10, `heap grew ${out.heapGrowthMb.toFixed(1)} MB for ${out.N} × 100 KB`)
  assert.equal(out.hitsAfterGc, 0, 'a collected running tracker no longer fetches')
})

// ---- 10. what already held, kept: hostile strategies and lifecycles ----

test('hostile strategies: Proxy arrays, throwing getters and a Proxy strategy cost one provider error, nothing more', async () => {
  const t = tracker()
  const modes = {
    trap: () => new Proxy([], { get: (a, k) => (k === 'length' ? (() => { throw new Error('length trap') })() : Reflect.get(a, k)) }),
    getter: () => [{ id: 'q', get used() { throw new Error('getter threw') } }],
  }
  for (const [id, mode] of Object.entries(modes)) t.registerProvider({ id, quotas: [{ id: 'q', amount: 10 }], fetchUsage: mode })
  t.registerProvider({ id: 'fine', quotas: [{ id: 'q', amount: 10 }], fetchUsage: () => [{ id: 'q', used: 2 }] })
  const hostile = new Proxy({}, { get: (o, k) => { throw new Error(`no ${String(k)} for you`) } })
  assert.throws(() => t.registerProvider(hostile), /no id for you/)
  await t.refresh()
  assert.match(t.get('trap').error.message, /^trap: fetchUsage failed: .*length/)
  assert.match(t.get('getter').error.message, /getter threw/)
  assert.equal(t.get('fine').windows[0].used, 2)
  assert.deepEqual(t.providerIds(), ['fine', 'getter', 'trap'])
})

test('start/stop ×1000 leaves a working, stopped tracker', async () => {
  const t = tracker()
  let calls = 0
  t.registerProvider({ id: 'js', quotas: [], fetchUsage: () => (calls++, []) })
  for (let i = 0; i < 1000; i++) {
    t.start()
    await t.stop()
  }
  assert.equal(t.running, false)
  const before = calls
  await t.refresh()
  assert.equal(calls, before + 1)
})

test('process.exit() mid-fetch exits cleanly with its code', async () => {
  sb.script('anthropic', { hang: true, times: Infinity })
  const r = await runNode(`
    const t = new UsageTracker({ cachePath: null, requestTimeoutMs: 20_000 })
    t.registerBuiltinProvider('anthropic', { baseUrl: SB, credentials: ${JSON.stringify(sb.credentials('anthropic'))} })
    t.registerProvider({ id: 'js', quotas: [], fetchUsage: () => new Promise(() => {}) })
    t.start()
    t.refresh().catch(() => {})
    setTimeout(() => process.exit(7), 300)
  `)
  assert.equal(r.signal, null, r.stderr)
  assert.equal(r.status, 7, r.stderr)
  assert.equal(r.stderr, '')
  assert.equal(sb.count('anthropic'), 1, 'the exit came with the anthropic fetch in flight (the sandbox holds it)')
})

test('workers terminated mid-fetch take nothing down', async () => {
  sb.script('anthropic', { hang: true, times: Infinity })
  const r = await runNode(
    `
    const { Worker } = require('node:worker_threads')
    const body = \`
      const { parentPort, workerData } = require('node:worker_threads')
      const { UsageTracker } = require(workerData.index)
      const t = new UsageTracker({ cachePath: null, requestTimeoutMs: 20_000 })
      t.registerBuiltinProvider('anthropic', { baseUrl: workerData.url, credentials: workerData.credentials })
      t.registerProvider({ id: 'js', quotas: [], fetchUsage: () => new Promise(() => {}) })
      t.onUpdate(() => {})
      t.start()
      t.refresh().catch(() => {})
      setTimeout(() => parentPort.postMessage('busy'), 20)
    \`
    const workerData = { index: INDEX, url: SB, credentials: ${JSON.stringify(sb.credentials('anthropic'))} }
    ;(async () => {
      let done = 0
      for (let batch = 0; batch < 5; batch++) {
        await Promise.all(Array.from({ length: 8 }, async () => {
          const w = new Worker(body, { eval: true, workerData })
          await new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject) })
          await w.terminate()
          done++
        }))
      }
      const t = new UsageTracker({ cachePath: null })
      t.registerProvider({ id: 'after', quotas: [], fetchUsage: () => [] })
      await t.refresh()
      console.log(done, t.get('after').active)
    })()
    `,
    { killAfterMs: 60_000 },
  )
  assert.equal(r.signal, null, r.stderr)
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.stdout.trim(), '40 true')
  assert.ok(sb.count('anthropic') >= 40, `requests in flight: ${sb.count('anthropic')}`)
})
