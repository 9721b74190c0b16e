// The coding-plan and pay-as-you-go built-ins (z.ai, Kimi, MiniMax, OpenRouter, OpenCode Go,
// DeepSeek, Moonshot, xAI) through the addon, against the loopback sandbox: the request each
// service wants (checked on the server side), what lands in the store, every error class,
// credentials exactly as pi resolves them, and no token in any output.
import { test, before, after, beforeEach } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { withPiAuth as withPiEnv } from './helpers/pi-files.mjs'
import { startSandbox, MORE_PROVIDER_IDS } from './sandbox.mjs'

const require = createRequire(import.meta.url)
const { UsageTracker, BUILTIN_PROVIDER_IDS } = require('../index.js')

let sb
let secrets
before(async () => {
  sb = await startSandbox()
  secrets = Object.values(sb.tokens)
})
after(async () => {
  await sb.close()
})
beforeEach(() => sb.reset())

const HOUR = 3600_000
const DAY = 24 * HOUR
const newTracker = (opts = {}) => new UsageTracker({ cachePath: null, requestTimeoutMs: 5000, ...opts })

async function fetched(id, extra = {}) {
  const tracker = newTracker()
  tracker.registerBuiltinProvider(id, { baseUrl: sb.url, credentials: sb.credentials(id), ...extra })
  await tracker.refresh()
  return tracker
}

const requestsOf = (id, endpoint = 'usage') => sb.requests.filter((r) => r.providerId === id && (endpoint === 'all' || r.endpoint === endpoint))
const win = (entry, id) => entry.windows.find((w) => w.id === id)
const near = (actual, expected, what, eps = 1e-9) => assert.ok(Math.abs(actual - expected) < eps, `${what}: ${actual} != ${expected}`)
/** resetsAt about `ms` from now (the sandbox shifts fixture times by whole seconds). */
const resetsIn = (w, ms, what) => near(w.resetsAt - Date.now(), ms, `${what} resets in`, 5000)

function assertHealthy(entry) {
  assert.ok(entry, 'entry exists')
  assert.equal(entry.active, true, `${entry.key} active`)
  assert.equal(entry.error, undefined, `${entry.key} error: ${JSON.stringify(entry.error)}`)
  assert.equal(entry.fails, 0, `${entry.key} fails`)
  assert.ok(entry.windows.length > 0, `${entry.key} has windows`)
}

function assertNoSecrets(tracker, extra = []) {
  const text = JSON.stringify(tracker.entries())
  for (const s of [...secrets, ...extra]) assert.ok(!text.includes(s), `a secret leaked into entries(): ${text}`)
}

/** The one request a provider sent, checked for method and path. */
function onlyRequest(id, path, endpoint = 'usage') {
  const reqs = requestsOf(id, endpoint)
  assert.equal(reqs.length, 1, `${id}: one request`)
  const r = reqs[0]
  assert.equal(r.method, 'GET')
  assert.equal(r.path, path)
  assert.equal(r.status, 200, `${id}: accepted by the sandbox`)
  return r
}

test('every new id is a built-in under pi\'s own provider id', () => {
  for (const id of MORE_PROVIDER_IDS) assert.ok(BUILTIN_PROVIDER_IDS.includes(id), id)
})

// ---- per provider: the request on the wire, the values in the store ----

test('zai and zai-coding-cn: the raw key without "Bearer"; 5h 36% / 7d 52% used, plan pro, web-tool counts left out', async () => {
  const tracker = newTracker()
  for (const id of ['zai', 'zai-coding-cn']) tracker.registerBuiltinProvider(id, { baseUrl: sb.url, credentials: sb.credentials(id) })
  await tracker.refresh()
  for (const id of ['zai', 'zai-coding-cn']) {
    const r = onlyRequest(id, '/api/monitor/usage/quota/limit')
    assert.equal(r.headers.authorization, sb.tokens[id], 'the key as is')
    assert.equal(r.headers.accept, 'application/json')
    const e = tracker.get(id)
    assertHealthy(e)
    assert.equal(e.plan, 'pro')
    assert.deepEqual(e.windows.map((w) => w.id).sort(), ['5h', '7d'])
    const five = win(e, '5h')
    assert.equal(five.kind, 'percentage')
    near(five.usedRatio, 0.36, '5h')
    assert.equal(five.duration, 18000)
    resetsIn(five, 2 * HOUR + 10 * 60_000, '5h')
    near(win(e, '7d').usedRatio, 0.52, '7d')
    resetsIn(win(e, '7d'), 1796451153481 - 1796083200000, '7d')
  }
})

test('kimi-coding: Bearer; counts sent as strings become 5h 15% / 7d 38%', async () => {
  const tracker = await fetched('kimi-coding')
  const r = onlyRequest('kimi-coding', '/coding/v1/usages')
  assert.equal(r.headers.authorization, `Bearer ${sb.tokens['kimi-coding']}`)
  assert.equal(r.headers.accept, 'application/json')
  const e = tracker.get('kimi-coding')
  assertHealthy(e)
  near(win(e, '5h').usedRatio, 0.15, '5h')
  assert.equal(win(e, '5h').duration, 18000)
  resetsIn(win(e, '5h'), 3 * HOUR + 20 * 60_000 + 718, '5h')
  near(win(e, '7d').usedRatio, 0.38, '7d')
  resetsIn(win(e, '7d'), 5 * DAY + 11 * HOUR + 718, '7d')
})

test('minimax and minimax-cn: Bearer on token_plan; remaining 75% / 64% from the percentages, resets from remains_time', async () => {
  const tracker = newTracker()
  for (const id of ['minimax', 'minimax-cn']) tracker.registerBuiltinProvider(id, { baseUrl: sb.url, credentials: sb.credentials(id) })
  await tracker.refresh()
  for (const id of ['minimax', 'minimax-cn']) {
    const r = onlyRequest(id, '/v1/token_plan/remains')
    assert.equal(r.headers.authorization, `Bearer ${sb.tokens[id]}`)
    assert.equal(requestsOf(id, 'codingPlan').length, 0, 'the fallback path is not asked when the first answers')
    const e = tracker.get(id)
    assertHealthy(e)
    assert.deepEqual(e.windows.map((w) => w.id).sort(), ['5h', '7d'])
    near(win(e, '5h').remainingRatio, 0.75, '5h')
    near(win(e, '7d').remainingRatio, 0.64, '7d')
    assert.equal(win(e, '7d').duration, 604800)
    resetsIn(win(e, '5h'), 12_000_000, '5h')
    resetsIn(win(e, '7d'), 432_000_000, '7d')
  }
})

test('minimax: without the token-plan path the global host falls back to coding_plan; the China host does not', async () => {
  const tracker = newTracker()
  for (const id of ['minimax', 'minimax-cn']) tracker.registerBuiltinProvider(id, { baseUrl: sb.url, credentials: sb.credentials(id) })
  sb.script('minimax', { status: 404 })
  sb.script('minimax-cn', { status: 404 })
  await tracker.refresh()
  const r = onlyRequest('minimax', '/v1/api/openplatform/coding_plan/remains', 'codingPlan')
  assert.equal(r.headers.authorization, `Bearer ${sb.tokens.minimax}`)
  assertHealthy(tracker.get('minimax'))
  near(win(tracker.get('minimax'), '5h').remainingRatio, 0.75, 'from coding_plan')
  assert.equal(requestsOf('minimax-cn', 'codingPlan').length, 0)
  assert.equal(tracker.get('minimax-cn').error?.kind, 'provider')
  assert.match(tracker.get('minimax-cn').error.message, /^minimax-cn: unexpected HTTP 404/)
})

test('openrouter: Bearer on /api/v1/key; a capped key is $31.27 of $50 left, resetting on the 1st (UTC)', async () => {
  const tracker = await fetched('openrouter')
  const r = onlyRequest('openrouter', '/api/v1/key')
  assert.equal(r.headers.authorization, `Bearer ${sb.tokens.openrouter}`)
  const e = tracker.get('openrouter')
  assertHealthy(e)
  const k = win(e, 'key')
  assert.equal(k.kind, 'amount')
  assert.equal(k.unit, 'USD')
  assert.equal(k.total, 50)
  near(k.remaining, 31.27, 'remaining')
  near(k.used, 18.73, 'used')
  near(k.remainingRatio, 31.27 / 50, 'ratio')
  const reset = new Date(k.resetsAt)
  assert.equal(reset.getUTCDate(), 1)
  assert.equal(reset.getUTCHours() + reset.getUTCMinutes(), 0)
  assert.ok(k.resetsAt > Date.now() && k.resetsAt <= Date.now() + 32 * DAY)
})

test('openrouter: a key without a cap is unlimited (this month\'s spend shown, never exhausted)', async () => {
  const body = sb.fixture('openrouter')
  Object.assign(body.data, { limit: null, limit_remaining: null, limit_reset: null })
  sb.setFixture('openrouter', body)
  const tracker = await fetched('openrouter')
  const k = win(tracker.get('openrouter'), 'key')
  assert.equal(k.unlimited, true)
  near(k.used, 18.73, 'usage_monthly')
  assert.equal(tracker.checkQuota('openrouter').decision, 'proceed')
})

test('opencode-go: Bearer, a stable x-opencode-session that is not the key; 5h 41% / 7d 67% / monthly 23%', async () => {
  const tracker = await fetched('opencode-go')
  await tracker.refresh()
  const reqs = requestsOf('opencode-go')
  assert.equal(reqs.length, 2)
  for (const r of reqs) {
    assert.equal(r.path, '/zen/go/v1/usage')
    assert.equal(r.headers.authorization, `Bearer ${sb.tokens['opencode-go']}`)
    assert.match(r.headers['x-opencode-session'], /^[0-9a-f]{16}$/)
    assert.ok(!r.headers['x-opencode-session'].includes(sb.tokens['opencode-go']))
    assert.match(r.headers['user-agent'], /^pi-usage-tracker\//)
  }
  assert.equal(reqs[0].headers['x-opencode-session'], reqs[1].headers['x-opencode-session'], 'stable')
  const e = tracker.get('opencode-go')
  assertHealthy(e)
  near(win(e, '5h').usedRatio, 0.41, '5h')
  near(win(e, '7d').usedRatio, 0.67, '7d')
  near(win(e, 'monthly').usedRatio, 0.23, 'monthly')
  resetsIn(win(e, '5h'), 3 * HOUR + 12 * 60_000 + 44_000, '5h')
})

test('deepseek: Bearer; one balance window per currency, unit = currency, funded = ratio 1, empty = exhausted', async () => {
  const tracker = await fetched('deepseek')
  const r = onlyRequest('deepseek', '/user/balance')
  assert.equal(r.headers.authorization, `Bearer ${sb.tokens.deepseek}`)
  const e = tracker.get('deepseek')
  assertHealthy(e)
  assert.deepEqual(e.windows.map((w) => w.id), ['balance-usd'])
  const usd = win(e, 'balance-usd')
  assert.equal(usd.kind, 'balance')
  assert.equal(usd.unit, 'USD')
  near(usd.remaining, 37.42, 'USD left')
  assert.equal(usd.total, 0)
  assert.equal(usd.used, 0)
  assert.equal(usd.remainingRatio, 1)
  assert.equal(tracker.checkQuota('deepseek').decision, 'proceed')

  sb.setFixture('deepseek', {
    is_available: false,
    balance_infos: [
      { currency: 'CNY', total_balance: '0.00', granted_balance: '0.00', topped_up_balance: '0.00' },
      { currency: 'USD', total_balance: '0.00', granted_balance: '0.00', topped_up_balance: '0.00' },
    ],
  })
  await tracker.refresh()
  const empty = tracker.get('deepseek')
  assertHealthy(empty)
  assert.deepEqual(empty.windows.map((w) => [w.id, w.unit, w.remaining, w.remainingRatio]).sort(), [
    ['balance-cny', 'CNY', 0, 0],
    ['balance-usd', 'USD', 0, 0],
  ])
  assert.equal(tracker.checkQuota('deepseek').decision, 'exhausted')
})

test('moonshotai and moonshotai-cn: Bearer on /v1/users/me/balance; $49.58 and ¥49.58', async () => {
  const tracker = newTracker()
  for (const id of ['moonshotai', 'moonshotai-cn']) tracker.registerBuiltinProvider(id, { baseUrl: sb.url, credentials: sb.credentials(id) })
  await tracker.refresh()
  for (const [id, unit] of [['moonshotai', 'USD'], ['moonshotai-cn', 'CNY']]) {
    const r = onlyRequest(id, '/v1/users/me/balance')
    assert.equal(r.headers.authorization, `Bearer ${sb.tokens[id]}`)
    const e = tracker.get(id)
    assertHealthy(e)
    const b = win(e, 'balance')
    assert.equal(b.kind, 'balance')
    assert.equal(b.unit, unit)
    near(b.remaining, 49.58, `${id} balance`)
    assert.equal(b.remainingRatio, 1)
  }
})

test('xai: Bearer on /v1/billing?format=credits; weekly 38% used, plan SuperGrok; no second request', async () => {
  const tracker = await fetched('xai')
  const r = onlyRequest('xai', '/v1/billing?format=credits')
  assert.equal(r.headers.authorization, `Bearer ${sb.tokens.xai}`)
  assert.equal(r.headers.accept, 'application/json')
  assert.equal(requestsOf('xai', 'monthly').length, 0)
  const e = tracker.get('xai')
  assertHealthy(e)
  assert.equal(e.plan, 'SuperGrok')
  const w = win(e, '7d')
  near(w.usedRatio, 0.38, '7d')
  assert.equal(w.duration, 604800)
  resetsIn(w, 3 * DAY + 2 * HOUR + 24 * 60_000 + 983, '7d')
})

test('xai: a credits answer with nothing to read (only the tier) → the default form is read (58% of the month)', async () => {
  sb.setFixture('xai', { config: { onDemandCap: { val: 0 }, isUnifiedBillingUser: true }, subscriptionTier: 'SuperGrok' })
  const tracker = await fetched('xai')
  assert.equal(requestsOf('xai').length, 1)
  const r = onlyRequest('xai', '/v1/billing', 'monthly')
  assert.equal(r.headers.authorization, `Bearer ${sb.tokens.xai}`)
  const e = tracker.get('xai')
  assertHealthy(e)
  near(win(e, 'monthly').usedRatio, 1740 / 3000, 'monthly')
  resetsIn(win(e, 'monthly'), 14 * DAY, 'monthly')
})

// ---- errors: classified, named, token-free, last good values kept ----

const valuesOf = (tracker, id) => tracker.get(id).windows.map((w) => ({ id: w.id, used: w.used, remaining: w.remaining, usedRatio: w.usedRatio, unit: w.unit }))

const ERROR_ROWS = [
  { name: 'HTTP 401', id: 'zai', script: { status: 401 }, kind: 'auth', re: /^zai: HTTP 401, the API key was refused; check the key for zai in pi's auth\.json, or \$ZAI_API_KEY$/ },
  { name: 'HTTP 403', id: 'opencode-go', script: { status: 403 }, kind: 'auth', re: /^opencode-go: HTTP 403, the API key was refused/ },
  { name: 'HTTP 401 on a login', id: 'kimi-coding', script: { status: 401 }, kind: 'auth', re: /^kimi-coding: HTTP 401, the token was rejected; log in again in pi/ },
  { name: 'HTTP 429', id: 'kimi-coding', script: { status: 429, headers: { 'Retry-After': '120' } }, kind: 'rate_limited', re: /429/, backsOff: true },
  { name: 'HTTP 500', id: 'deepseek', script: { status: 500 }, kind: 'server', re: /HTTP 500/ },
  { name: 'HTTP 502 with an HTML page', id: 'openrouter', script: { status: 502, body: '<html>Bad Gateway</html>', headers: { 'content-type': 'text/html' } }, kind: 'server', re: /HTTP 502/ },
  { name: 'malformed JSON', id: 'moonshotai', script: { body: '{"code": 0, "data": {"available_balance": nope}}' }, kind: 'parse', re: /could not read the response/ },
  { name: 'JSON of the wrong shape', id: 'opencode-go', script: { body: { usage: { rolling: { percent: 'lots' } } } }, kind: 'parse', re: /could not read the response/ },
  {
    name: 'HTTP 200 with success:false (key without a Coding Plan)',
    id: 'zai-coding-cn',
    script: { body: { code: 500, msg: 'No active coding plan for this account', success: false } },
    kind: 'provider',
    re: /^zai-coding-cn: this key has no active GLM Coding Plan/,
  },
  {
    name: 'HTTP 200 with a non-zero base_resp (bad key) on both paths',
    id: 'minimax',
    script: { body: { base_resp: { status_code: 1004, status_msg: 'login fail' } } },
    alsoEndpoint: 'codingPlan',
    kind: 'auth',
    re: /^minimax: the API key was rejected \(status 1004\)/,
  },
  { name: 'HTTP 200 with a non-zero code', id: 'moonshotai-cn', script: { body: { code: 3, scode: '0x3', status: false } }, kind: 'provider', re: /^moonshotai-cn: the service answered with an error \(code 3\)/ },
  { name: 'malformed JSON on both billing forms', id: 'xai', script: { body: '{"config": ' }, alsoEndpoint: 'monthly', kind: 'parse', re: /could not read the response/ },
]

for (const row of ERROR_ROWS) {
  test(`${row.id}: ${row.name} → ${row.kind}, named, no token, last good values kept${row.backsOff ? ', backs off' : ', recovers'}`, async () => {
    const tracker = newTracker()
    tracker.registerBuiltinProvider(row.id, { baseUrl: sb.url, credentials: sb.credentials(row.id) })
    await tracker.refresh()
    assertHealthy(tracker.get(row.id))
    const good = valuesOf(tracker, row.id)
    const updated = tracker.get(row.id).updated
    sb.script(row.id, row.script)
    if (row.alsoEndpoint) sb.script(row.id, { ...row.script, endpoint: row.alsoEndpoint })
    await tracker.refresh()
    const e = tracker.get(row.id)
    assert.equal(e.error?.kind, row.kind, JSON.stringify(e.error))
    assert.match(e.error.message, row.re)
    assert.ok(e.error.message.startsWith(`${row.id}:`), `names the provider: ${e.error.message}`)
    for (const s of secrets) assert.ok(!e.error.message.includes(s), `token in message: ${e.error.message}`)
    assert.equal(e.fails, 1)
    assert.equal(e.active, true)
    assert.deepEqual(valuesOf(tracker, row.id), good, 'last good values kept')
    assert.equal(e.updated, updated)
    assertNoSecrets(tracker)
    const n = sb.count(row.id, 'all')
    await tracker.refresh()
    if (row.backsOff) {
      assert.equal(sb.count(row.id, 'all'), n, 'no request before Retry-After')
      assert.ok(e.error.retryAt > Date.now() + 60_000)
    } else {
      assertHealthy(tracker.get(row.id))
      assert.ok(tracker.get(row.id).updated >= updated)
    }
    assertNoSecrets(tracker)
  })
}

test('a bad key on every new provider: an auth error naming the provider, never the key, and no values', async () => {
  const tracker = newTracker()
  const wrong = (id) => `wrong-${id}-key-0123456789`
  for (const id of MORE_PROVIDER_IDS) {
    tracker.registerBuiltinProvider(id, { baseUrl: sb.url, credentials: { ...sb.credentials(id), accessToken: wrong(id) } })
  }
  await tracker.refresh()
  for (const id of MORE_PROVIDER_IDS) {
    const e = tracker.get(id)
    assert.equal(e.error?.kind, 'auth', `${id}: ${JSON.stringify(e.error)}`)
    assert.ok(e.error.message.startsWith(`${id}:`), e.error.message)
    assert.ok(!e.error.message.includes(wrong(id)), e.error.message)
    assert.deepEqual(e.windows, [])
  }
  assertNoSecrets(tracker, MORE_PROVIDER_IDS.map(wrong))
  // MiniMax said so with HTTP 200; the others with 401
  assert.ok(sb.requests.some((r) => r.path === '/v1/token_plan/remains' && r.status === 200))
})

// ---- credentials exactly as pi resolves them (Rust reads the process env at fetch time) ----

/** Runs fn with a fresh agent dir (holding `auth` as auth.json) and HOME, the provider
 *  variables unset except `env`; everything is restored afterwards. */

async function discovered(ids) {
  const tracker = newTracker()
  for (const id of ids) tracker.registerBuiltinProvider(id, { baseUrl: sb.url })
  await tracker.refresh()
  return tracker
}

test('credentials: auth.json api_key entries with $ENV, ${ENV} with the entry\'s own env, !command, and a literal', async () => {
  const auth = {
    deepseek: { type: 'api_key', key: '$PIUT_DEEPSEEK_KEY' },
    'opencode-go': { type: 'api_key', key: '${OWN}', env: { OWN: sb.tokens['opencode-go'] } },
    minimax: { type: 'api_key', key: `!printf %s ${sb.tokens.minimax}` },
    'zai-coding-cn': { type: 'api_key', key: sb.tokens['zai-coding-cn'] },
  }
  await withPiEnv(auth, { PIUT_DEEPSEEK_KEY: sb.tokens.deepseek }, async () => {
    const tracker = await discovered(Object.keys(auth))
    for (const id of Object.keys(auth)) assertHealthy(tracker.get(id))
    assert.equal(requestsOf('deepseek')[0].headers.authorization, `Bearer ${sb.tokens.deepseek}`)
    assert.equal(requestsOf('opencode-go')[0].headers.authorization, `Bearer ${sb.tokens['opencode-go']}`)
    assert.equal(requestsOf('minimax')[0].headers.authorization, `Bearer ${sb.tokens.minimax}`)
    assert.equal(requestsOf('zai-coding-cn')[0].headers.authorization, sb.tokens['zai-coding-cn'])
    assertNoSecrets(tracker)
  })
})

test('credentials: the env variable pi reads, when auth.json has no entry (MOONSHOT_API_KEY serves both Moonshot ids)', async () => {
  const env = {
    ZAI_API_KEY: sb.tokens.zai,
    ZAI_CODING_CN_API_KEY: sb.tokens['zai-coding-cn'],
    KIMI_API_KEY: sb.tokens['kimi-coding'],
    MINIMAX_CN_API_KEY: sb.tokens['minimax-cn'],
    MOONSHOT_API_KEY: sb.tokens.moonshotai,
    OPENROUTER_API_KEY: sb.tokens.openrouter,
  }
  await withPiEnv({}, env, async () => {
    const ids = ['zai', 'zai-coding-cn', 'kimi-coding', 'minimax-cn', 'moonshotai', 'moonshotai-cn', 'openrouter', 'minimax']
    const tracker = await discovered(ids)
    for (const id of ids.filter((i) => i !== 'minimax')) assertHealthy(tracker.get(id))
    assert.equal(requestsOf('zai')[0].headers.authorization, sb.tokens.zai)
    assert.equal(requestsOf('zai-coding-cn')[0].headers.authorization, sb.tokens['zai-coding-cn'])
    assert.equal(requestsOf('moonshotai').length, 2, 'both Moonshot ids sent MOONSHOT_API_KEY')
    // MINIMAX_CN_API_KEY is not the global id's variable
    const mm = tracker.get('minimax')
    assert.equal(mm.active, false)
    assert.equal(mm.error, undefined)
    assert.equal(requestsOf('minimax', 'all').length, 0)
    assertNoSecrets(tracker)
  })
})

test('credentials: OAuth entries (kimi-coding, openrouter\'s permanent key, xai) use `access`', async () => {
  const expires = Date.now() + HOUR
  const auth = {
    'kimi-coding': { type: 'oauth', access: sb.tokens['kimi-coding'], refresh: 'test-kimi-refresh', expires },
    openrouter: { type: 'oauth', access: sb.tokens.openrouter, refresh: '', expires: Number.MAX_SAFE_INTEGER },
    xai: { type: 'oauth', access: sb.tokens.xai, refresh: 'test-xai-refresh', expires },
  }
  await withPiEnv(auth, {}, async () => {
    const tracker = await discovered(Object.keys(auth))
    for (const id of Object.keys(auth)) {
      assertHealthy(tracker.get(id))
      assert.equal(requestsOf(id)[0].headers.authorization, `Bearer ${sb.tokens[id]}`)
    }
    assertNoSecrets(tracker, ['test-kimi-refresh', 'test-xai-refresh'])
  })
})

test('credentials: xai never takes an API key — XAI_API_KEY is ignored, an api_key entry is refused with a reason, a passed-in key is not sent', async () => {
  await withPiEnv({}, { XAI_API_KEY: sb.tokens.xai }, async () => {
    const tracker = await discovered(['xai'])
    const e = tracker.get('xai')
    assert.equal(e.active, false)
    assert.equal(e.error, undefined)
    assert.equal(sb.requests.length, 0, 'the paid key was not sent')
  })
  await withPiEnv({ xai: { type: 'api_key', key: sb.tokens.xai } }, {}, async () => {
    const tracker = await discovered(['xai'])
    const e = tracker.get('xai')
    assert.equal(e.error?.kind, 'auth')
    assert.match(e.error.message, /^xai: an API key cannot read this service's plan usage/)
    assert.equal(sb.requests.length, 0)
    assertNoSecrets(tracker)
  })
  // nor one handed in directly
  const tracker = newTracker()
  tracker.registerBuiltinProvider('xai', { baseUrl: sb.url, credentials: { accessToken: sb.tokens.xai, kind: 'api_key' } })
  await tracker.refresh()
  assert.ok(tracker.get('xai').error, 'an error, not data')
  assert.equal(sb.requests.length, 0)
  assertNoSecrets(tracker)
})

test('credentials: none anywhere → every new provider inactive and silent, nothing sent', async () => {
  await withPiEnv(undefined, {}, async () => {
    const tracker = await discovered(MORE_PROVIDER_IDS)
    const entries = tracker.entries()
    assert.deepEqual(entries.map((e) => e.key).sort(), MORE_PROVIDER_IDS.map((id) => `${id}/default`).sort())
    for (const e of entries) {
      assert.equal(e.active, false, e.key)
      assert.equal(e.error, undefined, e.key)
      assert.equal(e.fails, 0, e.key)
      assert.deepEqual(e.windows, [], e.key)
    }
    assert.equal(sb.requests.length, 0)
  })
})
