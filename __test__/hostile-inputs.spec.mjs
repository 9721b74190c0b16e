// Hostile inputs, round 2 (issue 20): key commands that hang, headers that name endless
// windows, huge history files, services that echo the key back, a provider routed elsewhere by
// models.json, and argument edges. Everything through the built addon, against the loopback
// sandbox; bounds on the JS thread are measured as behaviour (how long it is held), not speed.
import { test, before, after, beforeEach } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync, appendFileSync, rmSync, readFileSync, readdirSync, existsSync, chmodSync, statSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execFile, execFileSync } from 'node:child_process'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { createRequire } from 'node:module'
import { withPiFiles as withPiEnv } from './helpers/pi-files.mjs'
import { startSandbox } from './sandbox.mjs'

const require = createRequire(import.meta.url)
const { UsageTracker, credentialsFromPiAuth } = require('../index.js')

let sb
before(async () => {
  sb = await startSandbox()
})
after(async () => {
  await sb.close()
})
beforeEach(() => sb.reset())

const newTracker = (opts = {}) => new UsageTracker({ cachePath: null, requestTimeoutMs: 15000, ...opts })
const tmp = (prefix) => mkdtempSync(join(tmpdir(), prefix))

/** The JS thread's longest stall while fn runs, in ms: at least fn's own synchronous part,
 *  and the event loop's longest delay (monitorEventLoopDelay, 10 ms resolution; a held loop is
 *  recorded once its timer runs late, so it gets a few periods after fn) counted no higher than
 *  the time the loop spent running code (eventLoopUtilization): on a loaded machine the OS may
 *  take the thread away while the loop waits, which no code of ours did. */
async function longestStall(fn) {
  const h = monitorEventLoopDelay({ resolution: 10 })
  h.enable()
  const elu = performance.eventLoopUtilization()
  try {
    const t0 = performance.now()
    const pending = fn()
    const syncMs = performance.now() - t0
    const value = await pending
    await new Promise((resolve) => setTimeout(resolve, 50))
    const activeMs = performance.eventLoopUtilization(elu).active
    return { value, stallMs: Math.max(syncMs, Math.min(h.max / 1e6, activeMs)) }
  } finally {
    h.disable()
  }
}

/** Live (non-zombie) processes whose command line contains `needle`. */
function processesWith(needle) {
  const out = execFileSync('ps', ['-eo', 'stat=,args='], { encoding: 'utf8' })
  return out.split('\n').filter((l) => l.includes(needle) && !l.trim().startsWith('Z'))
}

async function until(cond, ms) {
  const end = Date.now() + ms
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 50))
  return cond()
}

// ---- 1, 2: key commands ----

test('a key command that sleeps 25 s in the background: registering never holds the JS thread, and nothing of it is left after the deadline', async () => {
  const tag = `${process.pid}${Date.now() % 1000}`
  // zai's command prints its key at once but leaves a child holding stdout; deepseek's never
  // prints one within the deadline.
  const auth = {
    zai: { type: 'api_key', key: `!(sleep 25.${tag}1 &); echo ${sb.tokens.zai}` },
    deepseek: { type: 'api_key', key: `!sleep 25.${tag}2; echo late-output` },
  }
  await withPiEnv({ 'auth.json': auth }, {}, async () => {
    const tracker = newTracker()
    const { stallMs } = await longestStall(async () => {
      const t0 = performance.now()
      tracker.registerBuiltinProvider('zai', { baseUrl: sb.url })
      tracker.registerBuiltinProvider('deepseek', { baseUrl: sb.url })
      assert.ok(performance.now() - t0 < 50, 'registration returns at once')
      await tracker.refresh()
    })
    assert.ok(stallMs < 50, `the JS thread was held ${stallMs.toFixed(1)} ms`)
    const zai = tracker.get('zai')
    assert.equal(zai.active, true, JSON.stringify(zai))
    assert.equal(sb.requests.find((r) => r.path.startsWith('/api/monitor'))?.headers.authorization, sb.tokens.zai)
    const ds = tracker.get('deepseek')
    assert.equal(ds.active, false)
    assert.match(ds.reason ?? ds.error?.message ?? '', /auth\.json entry for deepseek.*key command did not finish within 10 s/)
    assert.ok(!JSON.stringify(tracker.entries()).includes('late-output'))
    assert.equal(sb.count('deepseek'), 0, 'no request without a key')
    assert.ok(await until(() => processesWith(`sleep 25.${tag}`).length === 0, 3000), processesWith(`sleep 25.${tag}`).join('\n'))
    await tracker.stop()
  })
})

test('a failed or empty key command and an unset $VAR leave the provider inactive with a reason naming the entry, never the output', async () => {
  const auth = {
    zai: { type: 'api_key', key: '!echo printed-secret-ish; exit 7' },
    deepseek: { type: 'api_key', key: '!true' },
    moonshotai: { type: 'api_key', key: '$PIUT_MISSING_KEY_VAR' },
  }
  await withPiEnv({ 'auth.json': auth }, {}, async () => {
    const tracker = newTracker()
    for (const id of Object.keys(auth)) tracker.registerBuiltinProvider(id, { baseUrl: sb.url })
    await tracker.refresh()
    const reasonOf = (id) => {
      const e = tracker.get(id)
      assert.equal(e.active, false, id)
      return e.reason ?? e.error?.message ?? ''
    }
    assert.match(reasonOf('zai'), /auth\.json entry for zai .*key command failed \(exit status 7\)/)
    assert.match(reasonOf('deepseek'), /auth\.json entry for deepseek .*key command printed no key/)
    assert.match(reasonOf('moonshotai'), /auth\.json entry for moonshotai .*\$PIUT_MISSING_KEY_VAR, which is not set/)
    assert.ok(!JSON.stringify(tracker.entries()).includes('printed-secret-ish'))
    assert.equal(sb.requests.length, 0)
    await tracker.stop()
  })
})

test('credentialsFromPiAuth describes a key command without running it', () => {
  const dir = tmp('put-cmd-')
  const marker = join(dir, 'ran')
  try {
    const info = credentialsFromPiAuth('zai', { type: 'api_key', key: `!touch ${marker}; echo k` })
    assert.deepEqual(info, { usable: true, kind: 'api_key', keyCommand: true })
    assert.equal(existsSync(marker), false, 'the command did not run')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

// ---- 3: windows named in response headers ----

// Times are taken per call on a shared machine: the OS may pause the thread for a few ms at
// any point, so the bound is checked on the 95th percentile of 2 000 calls and on the fastest
// of ten huge responses (before the bound: 10–56 ms per call, ~150 ms for a huge one).
test('2 000 responses each naming a new header family leave the store within the bound, and observeResponse stays under 1 ms', () => {
  const tracker = newTracker()
  tracker.registerBuiltinProvider('openai-codex', { baseUrl: sb.url, credentials: sb.credentials('openai-codex') })
  const family = (i) => ({
    [`x-fam${i}-primary-used-percent`]: '10',
    [`x-fam${i}-primary-window-minutes`]: '300',
    [`x-fam${i}-limit-name`]: `Family ${i}`,
  })
  const windowCount = () => tracker.entries().reduce((n, e) => n + e.windows.length, 0)
  const timed = (headers) => {
    const t0 = performance.now()
    tracker.observeResponse('openai-codex', 200, headers)
    return performance.now() - t0
  }
  // Warm-up: the first call builds what later ones reuse.
  timed({ 'x-codex-primary-used-percent': '20', 'x-codex-primary-window-minutes': '300' })
  const declared = windowCount()
  const times = []
  for (let i = 0; i < 2000; i++) times.push(timed({ 'x-codex-primary-used-percent': '20', ...family(i) }))
  times.sort((a, b) => a - b)
  const bound = 8 // MAX_HEADER_WINDOWS in usage-core's tracker/observe.rs
  assert.ok(windowCount() <= declared + bound, `${windowCount()} windows after 2 000 families`)
  assert.ok(tracker.entries().some((e) => e.windows.some((w) => w.id.startsWith('family_1999'))), 'the newest family is kept')
  const p95 = times[Math.floor(times.length * 0.95)]
  assert.ok(p95 < 1, `observeResponse 95th percentile ${p95.toFixed(3)} ms (median ${times[1000].toFixed(3)}, max ${times.at(-1).toFixed(3)})`)

  const huge = (n) => {
    const h = {}
    for (let i = 0; i < 2000; i++) h[`x-fam${n * 10_000 + i}-primary-used-percent`] = '10'
    return h
  }
  const fastest = Math.min(...Array.from({ length: 10 }, (_, n) => timed(huge(n + 1))))
  assert.ok(fastest < 1, `one response with 2 000 families: ${fastest.toFixed(3)} ms`)
  assert.ok(windowCount() <= declared + bound)
})

// ---- 5: key text a service echoes ----

/** Every file under dir, as text. */
function filesUnder(dir) {
  const out = []
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name)
      if (e.isDirectory()) walk(p)
      else if (e.isFile()) out.push([p, readFileSync(p, 'utf8')])
    }
  }
  walk(dir)
  return out
}

const CLI = new URL('../bin/usage-store.js', import.meta.url).pathname

function runCli(args, env) {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH, NO_COLOR: '1', ...env }, timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? err.code : 0, out: stdout + stderr }),
    )
  })
}

test('key text a service echoes (z.ai msg and data.level, Moonshot error.message) appears nowhere: entries, cache, history, CLI', async () => {
  const keys = { zai: 'sk-zaiKEY0a1b2c3d4e5f6g7h8', 'zai-coding-cn': 'sk-cnKEY9z8y7x6w5v4u3t2', moonshotai: 'sk-moonKEY1q2w3e4r5t6y7u8' }
  const echo = await startSandbox({ tokens: keys })
  try {
    const prefix = (id) => keys[id].slice(0, 14)
    const forbidden = [prefix('zai'), keys['zai-coding-cn'].toLowerCase(), prefix('moonshotai'), ...Object.values(keys)]
    const level = { ...echo.fixture('zai') }
    level.data = { ...level.data, level: prefix('zai') }
    const arm = () => {
      echo.setFixture('zai', level)
      echo.script('zai-coding-cn', { status: 200, body: { code: 1001, msg: `token ${keys['zai-coding-cn'].toLowerCase()} is not valid`, success: false }, times: Infinity })
      echo.script('moonshotai', { status: 200, body: { code: 1, status: false, error: { message: `key ${prefix('moonshotai')}… was refused` } }, times: Infinity })
    }
    const auth = Object.fromEntries(Object.entries(keys).map(([id, key]) => [id, { type: 'api_key', key }]))
    await withPiEnv({ 'auth.json': auth }, {}, async (agentDir) => {
      arm()
      const cacheDir = join(agentDir, 'cache')
      const tracker = new UsageTracker({ cachePath: join(cacheDir, 'usage-tracker.json'), requestTimeoutMs: 5000 })
      for (const id of Object.keys(keys)) tracker.registerBuiltinProvider(id, { baseUrl: echo.url })
      await tracker.refresh()
      const zai = tracker.get('zai')
      assert.equal(zai.active, true, 'z.ai answered with its windows')
      assert.equal(zai.plan ?? null, null, 'an echoed key is no plan')
      assert.match(tracker.get('zai-coding-cn').error?.message ?? '', /not valid/, 'the message stays, the key goes')
      assert.match(tracker.get('moonshotai').error?.message ?? '', /was refused/)
      const history = await tracker.history('zai', zai.windows[0].id)
      await tracker.stop()

      const cli = await runCli(['--json', '--provider', 'zai', '--provider', 'zai-coding-cn', '--provider', 'moonshotai'], {
        HOME: agentDir,
        PI_CODING_AGENT_DIR: agentDir,
        PI_USAGE_TRACKER_BASE_URL: echo.url,
      })
      assert.match(cli.out, /"zai"/)
      const places = [
        ['entries()', JSON.stringify(tracker.entries())],
        ['history()', JSON.stringify(history)],
        ['CLI', cli.out],
        ...filesUnder(cacheDir),
      ]
      for (const [where, text] of places) {
        for (const secret of forbidden) assert.ok(!text.toLowerCase().includes(secret.toLowerCase()), `${secret} in ${where}`)
      }
      assert.ok(filesUnder(cacheDir).some(([p]) => p.includes('history')), 'a history file was written and checked')
    })
  } finally {
    await echo.close()
  }
})

// ---- 6: a provider pi routes to another host ----

test('models.json routes zai to another host: its API key reaches no usage endpoint (tracker and CLI), the reason names the host; a login still belongs to its service', async () => {
  const auth = {
    zai: { type: 'api_key', key: sb.tokens.zai },
    deepseek: { type: 'api_key', key: sb.tokens.deepseek },
    anthropic: sb.authJson().anthropic,
  }
  // As pi writes it: a comment and trailing commas are fine.
  const models = `{
    // the company gateway holds the z.ai key
    "providers": {
      "zai": { "baseUrl": "https://llm-gateway.corp.example:8443/v1", },
      "anthropic": { "baseUrl": "https://claude-proxy.corp.example/v1" },
    },
  }`
  await withPiEnv({ 'auth.json': auth }, {}, async (agentDir) => {
    writeFileSync(join(agentDir, 'models.json'), models)
    const tracker = newTracker()
    for (const id of Object.keys(auth)) tracker.registerBuiltinProvider(id, { baseUrl: sb.url })
    await tracker.refresh()
    const zai = tracker.get('zai')
    assert.equal(zai.active, false)
    assert.match(zai.error?.message ?? '', /llm-gateway\.corp\.example:8443 \(models\.json\)/)
    assert.equal(tracker.get('deepseek').active, true, 'a provider pi does not reroute is read as before')
    assert.equal(tracker.get('anthropic').active, true, "a login the service minted is still the service's")
    await tracker.stop()

    const cli = await runCli(['--json', '--provider', 'zai'], { HOME: agentDir, PI_CODING_AGENT_DIR: agentDir, PI_USAGE_TRACKER_BASE_URL: sb.url })
    assert.match(cli.out, /llm-gateway\.corp\.example/)
    const carrying = sb.requests.filter((r) => JSON.stringify(r.headers).includes(sb.tokens.zai))
    assert.deepEqual(carrying.map((r) => r.path), [], 'no request carried the z.ai key')
    assert.ok(sb.requests.some((r) => r.providerId === 'deepseek'), 'the sandbox was reached')
  })
})

// ---- 4: a big history file ----

test('history() on a 31 MiB file holds the JS thread under 50 ms; a point stamped a year ahead is dropped', async () => {
  const dir = tmp('put-hist-')
  try {
    const cachePath = join(dir, 'usage-tracker.json')
    const opts = { baseUrl: sb.url, credentials: sb.credentials('deepseek') }
    const writer = new UsageTracker({ cachePath, requestTimeoutMs: 5000 })
    writer.registerBuiltinProvider('deepseek', opts)
    await writer.refresh()
    const windowId = writer.get('deepseek').windows[0].id
    await writer.stop()
    const file = readdirSync(dir).find((f) => f.includes('.history-') && f.endsWith('.jsonl'))
    assert.ok(file, 'the fetch was recorded')
    // A valid file just under the 32 MiB cap: 20 windows of a month of points each, written
    // a chunk at a time (a 31 MiB string would leave the heap a collection to do mid-test).
    const now = Date.now()
    const path = join(dir, file)
    let size = statSync(path).size
    for (let i = 0; size < 31 * 1024 * 1024; ) {
      let chunk = ''
      for (const end = i + 10_000; i < end; i++) {
        chunk += JSON.stringify({ w: i % 20 === 0 ? windowId : `w${i % 20}`, t: now - 30 * 86_400_000 + i * 4_000, ur: (i % 100) / 100, r: 100 - (i % 100), d: 2_592_000 }) + '\n'
      }
      appendFileSync(path, chunk)
      size += chunk.length
    }
    appendFileSync(path, JSON.stringify({ w: windowId, t: now + 365 * 86_400_000, ur: 0.99, r: 1 }) + '\n')
    assert.ok(statSync(join(dir, file)).size > 31 * 1024 * 1024)

    const reader = new UsageTracker({ cachePath, requestTimeoutMs: 5000 })
    reader.registerBuiltinProvider('deepseek', opts)
    const { value: points, stallMs } = await longestStall(() => reader.history('deepseek', windowId))
    assert.ok(points.length > 1000 && points.length <= 4096, `${points.length} points read (a long course is thinned to 4 096)`)
    assert.ok(points.every((p) => p.at <= Date.now() + 5 * 60_000), 'no point from the future')
    assert.ok(stallMs < 50, `history() held the JS thread ${stallMs.toFixed(1)} ms`)
    const again = await longestStall(() => reader.history('deepseek', windowId))
    assert.ok(again.stallMs < 50, `a second read held it ${again.stallMs.toFixed(1)} ms`)
    await reader.stop()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

// ---- 7: smaller edges ----

test('argument errors quote a short, cleaned excerpt of what was passed', () => {
  const tracker = newTracker()
  const hostile = `\u001b]0;pwned\u0007\u001b[31m${'x'.repeat(10_000_000)}`
  for (const attempt of [
    () => tracker.registerBuiltinProvider(hostile),
    () => tracker.registerProvider({ id: hostile, quotas: [], fetchUsage: 1 }),
    () => tracker.registerProvider({ id: 'a/b\u001b[2J', quotas: [], fetchUsage: async () => [] }),
    () => tracker.registerBuiltinProvider('zai', { credentials: { accessToken: 'k', kind: `\u001b[2J${'y'.repeat(1_000_000)}` } }),
  ]) {
    let message = ''
    try {
      attempt()
    } catch (err) {
      message = err.message
    }
    assert.ok(message.length > 0 && message.length < 400, `${message.length} characters`)
    assert.ok(!/[\u0000-\u001f\u007f-\u009f]/.test(message), JSON.stringify(message.slice(0, 120)))
  }
})

test("registerBuiltinProvider('anthropic', 0) and new UsageTracker([]) are TypeErrors", () => {
  assert.throws(() => new UsageTracker([]), TypeError)
  assert.throws(() => new UsageTracker('fast'), TypeError)
  const tracker = newTracker()
  for (const bad of [0, 'opts', [], true]) assert.throws(() => tracker.registerBuiltinProvider('anthropic', bad), TypeError)
  assert.deepEqual(tracker.providerIds(), [], 'nothing was registered')
})

test('a read-only (0400) cache is used read-only: values read, the file untouched, cacheWarning says so', async () => {
  const dir = tmp('put-ro-')
  try {
    const cachePath = join(dir, 'usage-tracker.json')
    const opts = { baseUrl: sb.url, credentials: sb.credentials('deepseek') }
    const first = new UsageTracker({ cachePath })
    first.registerBuiltinProvider('deepseek', opts)
    await first.refresh()
    await first.stop()
    chmodSync(cachePath, 0o400)
    const before = readFileSync(cachePath, 'utf8')
    const second = new UsageTracker({ cachePath })
    second.registerBuiltinProvider('deepseek', opts)
    assert.equal(second.get('deepseek')?.windows.length > 0, true, 'last values read from the cache at once')
    // A provider not in the cache is fetched; its result would be written.
    second.registerBuiltinProvider('moonshotai', { baseUrl: sb.url, credentials: sb.credentials('moonshotai') })
    await second.refresh()
    assert.equal(second.get('moonshotai').active, true)
    await second.stop()
    assert.equal(statSync(cachePath).mode & 0o777, 0o400, 'still read-only')
    assert.equal(readFileSync(cachePath, 'utf8'), before, 'not replaced')
    assert.match(second.cacheWarning ?? '', /read-only; it is read but not written/)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('a history lock that is a symlink is not followed and warnings() says so', async () => {
  const dir = tmp('put-lock-')
  try {
    const cachePath = join(dir, 'usage-tracker.json')
    const tracker = new UsageTracker({ cachePath, intervalMs: 1000 })
    tracker.registerBuiltinProvider('deepseek', { baseUrl: sb.url, credentials: sb.credentials('deepseek') })
    await tracker.refresh()
    const lock = readdirSync(dir).find((f) => f.includes('.history-') && f.endsWith('.lock'))
    assert.ok(lock, 'the history has its lock file')
    const target = join(dir, 'elsewhere')
    rmSync(join(dir, lock))
    symlinkSync(target, join(dir, lock))
    await new Promise((r) => setTimeout(r, 1100))
    // A point is recorded (and the lock opened) when a value moves.
    const body = sb.fixture('deepseek')
    body.balance_infos[0].total_balance = '36.90'
    sb.setFixture('deepseek', body)
    await tracker.refresh()
    assert.ok(tracker.warnings().some((w) => /history lock .* is not a regular file/.test(w)), JSON.stringify(tracker.warnings()))
    assert.equal(existsSync(target), false, 'the symlink was not followed')
    await tracker.stop()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
