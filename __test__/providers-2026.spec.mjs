// The five built-ins against the late-2026 response shapes (crates/usage-core/fixtures/current/),
// through the addon and the loopback sandbox: windows, units, values and reset times; extra
// usage, AI credits, spend limits and quota-summary buckets; malformed pools, errors in a 200,
// the Gemini CLI consumer shutdown, an expired CLI file, the Antigravity extension's login, and
// API keys where a login is needed (nothing sent).
import { test, before, after, beforeEach } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createRequire } from 'node:module'
import { startSandbox, useSandbox, PROVIDER_IDS, loadFixture } from './sandbox.mjs'

const require = createRequire(import.meta.url)
const { UsageTracker } = require('../index.js')

const sb = useSandbox()

const newTracker = (opts = {}) => new UsageTracker({ cachePath: null, requestTimeoutMs: 5000, ...opts })

async function fetched(id, extra = {}) {
  const tracker = newTracker()
  tracker.registerBuiltinProvider(id, { baseUrl: sb.url, credentials: sb.credentials(id), ...extra })
  await tracker.refresh()
  return tracker
}

const win = (entry, id) => entry.windows.find((w) => w.id === id)
const ids = (entry) => entry.windows.map((w) => w.id)
const near = (actual, expected, what) => assert.ok(Math.abs(actual - expected) < 1e-9, `${what}: ${actual} != ${expected}`)
const requestsTo = (id, endpoint = 'usage') => sb.requests.filter((r) => r.providerId === id && r.endpoint === endpoint)

function assertHealthy(entry) {
  assert.ok(entry, 'entry exists')
  assert.equal(entry.active, true, `${entry.key} active`)
  assert.equal(entry.error, undefined, `${entry.key} error: ${JSON.stringify(entry.error)}`)
  assert.equal(entry.fails, 0, `${entry.key} fails`)
  for (const w of entry.windows) {
    if (w.resetsAt !== undefined) assert.ok(w.resetsAt > Date.now(), `${entry.key}#${w.id} resetsAt in the future`)
  }
}

/** Start of next month, UTC, and the current month's length in seconds. */
function nextMonth(now = Date.now()) {
  const d = new Date(now)
  const start = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1)
  const next = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1)
  return { at: next, secs: (next - start) / 1000 }
}

/** Runs fn with PI_CODING_AGENT_DIR and HOME pointing at fresh temp dirs; restores env after. */
async function withEnv({ auth, home = {} }, fn) {
  const agentDir = mkdtempSync(join(tmpdir(), 'put26-agent-'))
  const homeDir = mkdtempSync(join(tmpdir(), 'put26-home-'))
  if (auth !== undefined) writeFileSync(join(agentDir, 'auth.json'), JSON.stringify(auth))
  for (const [path, body] of Object.entries(home)) {
    mkdirSync(join(homeDir, path, '..'), { recursive: true })
    writeFileSync(join(homeDir, path), JSON.stringify(body))
  }
  const keys = ['PI_CODING_AGENT_DIR', 'HOME', 'PI_USAGE_TRACKER_BASE_URL', 'ANTHROPIC_OAUTH_TOKEN', 'COPILOT_GITHUB_TOKEN']
  const saved = Object.fromEntries(keys.map((k) => [k, process.env[k]]))
  for (const k of keys) delete process.env[k]
  process.env.PI_CODING_AGENT_DIR = agentDir
  process.env.HOME = homeDir
  try {
    return await fn()
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k]
      else process.env[k] = v
    }
    rmSync(agentDir, { recursive: true, force: true })
    rmSync(homeDir, { recursive: true, force: true })
  }
}

// ---- Claude ----

test('anthropic 2026: limits[] windows (every row, 7d_fable from the scoped model) and extra usage in USD', async () => {
  sb.serveCurrent('anthropic-usage-2026')
  // The recorded body has the same numbers in limits[] and the legacy keys; served with the
  // legacy keys moved (five_hour 80 %, seven_day 5 %, an hour later) the windows name their source.
  const served = sb.fixture('anthropic')
  assert.deepEqual([served.five_hour.utilization, served.seven_day.utilization], [served.limits[0].percent, served.limits[1].percent])
  const later = (iso) => new Date(Date.parse(iso) + 3600_000).toISOString()
  served.five_hour = { utilization: 80, resets_at: later(served.five_hour.resets_at) }
  served.seven_day = { utilization: 5, resets_at: later(served.seven_day.resets_at) }
  sb.setFixture('anthropic', served)
  const tracker = await fetched('anthropic')
  const e = tracker.get('anthropic')
  assertHealthy(e)
  assert.deepEqual(ids(e), ['5h', '7d', '7d_fable', '7d_sonnet', 'extra'])
  const five = win(e, '5h')
  assert.deepEqual([five.kind, five.unit, five.duration], ['percentage', undefined, 18000])
  near(five.usedRatio, 0.34, '5h from the session row (five_hour says 80 %)')
  assert.equal(five.resetsAt, Date.parse(served.limits[0].resets_at))
  near(win(e, '7d').usedRatio, 0.61, '7d from the weekly_all row (seven_day says 5 %)')
  assert.equal(win(e, '7d').resetsAt, Date.parse(served.limits[1].resets_at))
  assert.equal(win(e, '7d').duration, 604800)
  const fable = win(e, '7d_fable')
  near(fable.usedRatio, 0.72, 'fable (the active row)')
  assert.equal(fable.duration, 604800)
  assert.equal(fable.resetsAt, Date.parse(served.limits[2].resets_at))
  near(win(e, '7d_sonnet').usedRatio, 0.12, 'sonnet (an inactive row still counts)')

  const extra = win(e, 'extra')
  assert.deepEqual([extra.kind, extra.unit, extra.billing, extra.status, extra.unlimited], ['amount', 'USD', 'extra_usage', undefined, false])
  near(extra.total, 200, 'cap $200.00 (20000 cents)')
  near(extra.used, 47.31, 'spent $47.31 (4731 cents)')
  near(extra.remaining, 152.69, 'left')
  near(extra.usedRatio, 0.23655, 'used ratio')
  const month = nextMonth()
  assert.equal(extra.resetsAt, month.at, 'the start of next month, UTC')
  assert.equal(extra.duration, month.secs, 'the length of this month')
  assert.deepEqual([extra.windowType, extra.resetBehavior], ['fixed', 'calendar'])
  assert.equal(e.billing, 'extra_usage', 'a Claude login: pi pays through extra usage')
  assert.equal(e.warnings, undefined)
})

test('anthropic: the old fixture untouched (extra usage never on) reads as an exhausted extra window', async () => {
  const body = sb.fixture('anthropic')
  body.extra_usage = loadFixture('anthropic').extra_usage
  sb.setFixture('anthropic', body)
  const tracker = await fetched('anthropic')
  const e = tracker.get('anthropic')
  assertHealthy(e)
  const extra = win(e, 'extra')
  assert.deepEqual([extra.status, extra.remainingRatio, extra.unit], ['disabled', 0, undefined])
  assert.equal(e.billing, 'extra_usage')
  const check = tracker.checkQuota('anthropic')
  assert.deepEqual([check.decision, check.windowId], ['exhausted', 'extra'])
})

test('anthropic: extra usage used up → limit_reached; no cap → spend shown, unlimited, never binding', async () => {
  const body = sb.fixture('anthropic')
  body.extra_usage = { is_enabled: true, monthly_limit: 5000, used_credits: 5000, utilization: 100, currency: 'EUR', decimal_places: 2 }
  sb.setFixture('anthropic', body)
  let tracker = await fetched('anthropic')
  let extra = tracker.getWindow('anthropic', 'extra')
  assert.deepEqual([extra.status, extra.remaining, extra.remainingRatio, extra.unit, extra.total], ['limit_reached', 0, 0, 'EUR', 50])
  assert.equal(tracker.checkQuota('anthropic').decision, 'exhausted')

  body.extra_usage = null
  body.spend = { enabled: true, used: { amount_minor: 250, currency: 'USD', exponent: 2 }, limit: null, cap: null, balance: null, percent: 0 }
  sb.setFixture('anthropic', body)
  tracker = await fetched('anthropic')
  extra = tracker.getWindow('anthropic', 'extra')
  assert.deepEqual([extra.unlimited, extra.used, extra.remainingRatio, extra.unit, extra.status], [true, 2.5, 1, 'USD', undefined])
  // Uncapped spend never binds, and the plan windows do not limit traffic the meter pays for.
  const check = tracker.checkQuota('anthropic')
  assert.deepEqual([check.decision, check.windowId ?? null], ['proceed', null])
  assert.deepEqual(tracker.checkQuota('anthropic', 'claude-opus-4-7').windowIds, ['7d_opus'], "the model's own weekly cap still governs it")
})

test('anthropic: without limits[] the legacy keys (and unknown ones) are the windows', async () => {
  const body = sb.fixture('anthropic')
  delete body.limits
  // values the limits[] rows of the recorded fixture do not have (37, 64, 12), so the windows
  // below can only have come from the legacy keys
  Object.assign(body.five_hour, { utilization: 55 })
  Object.assign(body.seven_day, { utilization: 20 })
  Object.assign(body.seven_day_opus, { utilization: 90 })
  sb.setFixture('anthropic', body)
  const e = (await fetched('anthropic')).get('anthropic')
  assertHealthy(e)
  assert.deepEqual(ids(e), ['5h', '7d', '7d_opus', 'seven_day_omelette', 'extra'])
  assert.deepEqual(['5h', '7d', '7d_opus'].map((id) => Math.round(win(e, id).usedRatio * 100)), [55, 20, 90], 'from five_hour, seven_day, seven_day_opus')
  assert.equal(win(e, '5h').resetsAt, Date.parse(body.five_hour.resets_at))
  const omelette = win(e, 'seven_day_omelette')
  near(omelette.usedRatio, 0.03, 'omelette')
  assert.equal(omelette.resetsAt, undefined, 'null resets_at stays unknown')
})

test('anthropic: an error inside an HTTP 200 is that error, not empty usage', async () => {
  sb.script('anthropic', { body: { type: 'error', error: { type: 'authentication_error', message: 'OAuth token has expired.' } } })
  const e = (await fetched('anthropic')).get('anthropic')
  assert.equal(e.error?.kind, 'auth')
  assert.match(e.error.message, /^anthropic: the service answered with an error instead of usage \(authentication_error\)/)
  assert.ok(!e.error.message.includes('OAuth token has expired'), 'the body is not quoted')
})

// ---- Codex ----

test('openai-codex 2026: 5h/7d, Spark windows of their own, credits balance (a string) in credits', async () => {
  sb.serveCurrent('codex-usage-2026')
  const e = (await fetched('openai-codex')).get('openai-codex')
  assertHealthy(e)
  assert.equal(e.plan, 'pro')
  assert.deepEqual(ids(e), ['5h', '7d', 'spark_5h', 'spark_7d', 'credits'])
  const approx = (w, secs) => assert.ok(Math.abs(w.resetsAt - Date.now() - secs * 1000) < 5000, `${w.id} resets in ~${secs} s`)
  for (const [id, used, duration, resetIn] of [
    ['5h', 0.27, 18000, 9900],
    ['7d', 0.44, 604800, 291600],
    ['spark_5h', 0.08, 18000, 10800],
    ['spark_7d', 0.15, 604800, 550800],
  ]) {
    const w = win(e, id)
    near(w.usedRatio, used, id)
    assert.deepEqual([w.kind, w.unit, w.duration], ['percentage', undefined, duration], id)
    approx(w, resetIn)
  }
  const credits = win(e, 'credits')
  assert.deepEqual([credits.kind, credits.unit, credits.remaining, credits.used, credits.total, credits.remainingRatio], ['balance', 'credits', 212.5, 0, 0, 1])
})

test('openai-codex team: a lone weekly window in primary_window is 7d; spend_control.individual_limit in credits', async () => {
  sb.serveCurrent('codex-usage-2026-team-spend-control')
  const tracker = await fetched('openai-codex')
  const e = tracker.get('openai-codex')
  assertHealthy(e)
  assert.equal(e.plan, 'team')
  assert.deepEqual(ids(e), ['7d', 'spend_individual'])
  const weekly = win(e, '7d')
  assert.deepEqual([weekly.usedRatio, weekly.remainingRatio, weekly.duration], [1, 0, 604800])
  const spend = win(e, 'spend_individual')
  assert.deepEqual([spend.kind, spend.unit, spend.total, spend.windowType], ['amount', 'credits', 1000, 'fixed'])
  near(spend.used, 368.4, 'used')
  near(spend.remaining, 631.6, 'remaining')
  assert.ok(Math.abs(spend.resetsAt - Date.now() - 2678400_000) < 5000, 'monthly reset')
  assert.equal(spend.status, undefined)
  assert.deepEqual([tracker.checkQuota('openai-codex').decision, tracker.checkQuota('openai-codex').windowId], ['exhausted', '7d'])
})

// ---- Copilot ----

test('github-copilot AI credits: the premium pool in credits (float), no per-model views, reset on the 1st', async () => {
  sb.serveCurrent('copilot-user-ai-credits')
  const tracker = await fetched('github-copilot')
  assert.deepEqual(tracker.entries().map((x) => x.key), ['github-copilot/default'], 'no per-model views for credits')
  const e = tracker.get('github-copilot')
  assertHealthy(e)
  assert.equal(e.plan, 'individual')
  assert.deepEqual(ids(e), ['premium'], 'unlimited chat/completions are no windows')
  const p = win(e, 'premium')
  assert.deepEqual([p.kind, p.unit, p.total, p.remaining, p.unlimited], ['amount', 'credits', 1500, 887.35, false])
  near(p.used, 612.65, 'credits used')
  const month = nextMonth()
  assert.equal(p.resetsAt, month.at)
  assert.equal(p.duration, month.secs)
})

test('github-copilot AI credits with the user\'s own multipliers: views come back', async () => {
  sb.serveCurrent('copilot-user-ai-credits')
  const tracker = await fetched('github-copilot', { multipliers: { 'my-model': 10 } })
  assert.deepEqual(tracker.entries().map((x) => x.key), ['github-copilot/default', 'github-copilot/my-model'])
  near(tracker.getWindow('github-copilot', 'premium', 'my-model').remaining, 88.735, 'credits ÷ 10')
})

test('github-copilot business seat: 0/0 placeholder → active entry with the plan, no pool, no error', async () => {
  sb.serveCurrent('copilot-user-business-placeholder')
  const tracker = await fetched('github-copilot')
  assert.deepEqual(tracker.entries().map((x) => x.key), ['github-copilot/default'])
  const e = tracker.get('github-copilot')
  assertHealthy(e)
  assert.equal(e.plan, 'business')
  assert.deepEqual(e.windows, [], 'no fake 0/0 pool, no 100 − percent_remaining meter')
  assert.equal(tracker.checkQuota('github-copilot').decision, 'unknown')
})

test('github-copilot free (legacy counters): remaining of monthly totals, in requests', async () => {
  sb.serveCurrent('copilot-user-free-legacy')
  const served = sb.fixture('github-copilot')
  const e = (await fetched('github-copilot')).get('github-copilot')
  assertHealthy(e)
  assert.equal(e.plan, 'free')
  assert.deepEqual(ids(e), ['chat', 'completions'])
  const chat = win(e, 'chat')
  assert.deepEqual([chat.unit, chat.total, chat.remaining, chat.used], ['requests', 500, 290, 210])
  const completions = win(e, 'completions')
  assert.deepEqual([completions.total, completions.remaining], [4000, 2320])
  near(completions.usedRatio, 0.42, 'completions used')
  assert.equal(chat.resetsAt, Date.parse(`${served.limited_user_reset_date}T00:00:00Z`))
})

test('github-copilot −1 sentinel: unlimited chat/completions are neither failures nor windows', async () => {
  sb.serveCurrent('copilot-user-sentinel')
  const e = (await fetched('github-copilot')).get('github-copilot')
  assertHealthy(e)
  assert.deepEqual(ids(e), ['premium'])
  const p = win(e, 'premium')
  assert.deepEqual([p.unit, p.total, p.remaining], ['credits', 1500, 1012.5])
  near(p.usedRatio, 0.325, '32.5% used')
})

test('github-copilot: a malformed pool is reported on the entry; the good pool is stored', async () => {
  sb.serveCurrent('copilot-user-ai-credits')
  const body = sb.fixture('github-copilot')
  body.quota_snapshots.chat = 'token=ghu_secret'
  body.quota_snapshots.completions = { entitlement: 'lots', unlimited: false }
  sb.setFixture('github-copilot', body)
  const e = (await fetched('github-copilot')).get('github-copilot')
  assertHealthy(e)
  assert.deepEqual(ids(e), ['premium'])
  assert.deepEqual(e.warnings, ['chat: not an object', 'completions: no usable numbers'])
  assert.ok(!JSON.stringify(e).includes('ghu_secret'), 'no body value on the entry')
  // every pool malformed: nothing to store, the fetch fails with the same words
  body.quota_snapshots.premium_interactions = []
  sb.setFixture('github-copilot', body)
  const bad = (await fetched('github-copilot')).get('github-copilot')
  assert.equal(bad.error?.kind, 'parse')
  assert.match(bad.error.message, /premium_interactions: not an object; chat: not an object; completions: no usable numbers/)
})

test('github-copilot: GitHub\'s error shape inside an HTTP 200 is an auth error', async () => {
  sb.script('github-copilot', { body: { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest', status: '401' } })
  const e = (await fetched('github-copilot')).get('github-copilot')
  assert.equal(e.error?.kind, 'auth')
  assert.ok(!e.error.message.includes('Bad credentials'))
})

// ---- Antigravity ----

test('google-antigravity: retrieveUserQuotaSummary first, one window per bucket with its length; no model request', async () => {
  sb.serveCurrent('antigravity-quota-summary')
  const served = structuredClone(sb.fixture('google-antigravity', 'summary'))
  const tracker = await fetched('google-antigravity')
  const [r, ...rest] = requestsTo('google-antigravity', 'summary')
  assert.equal(rest.length, 0)
  assert.equal(r.method, 'POST')
  assert.equal(r.path, '/v1internal:retrieveUserQuotaSummary')
  assert.equal(r.headers.authorization, `Bearer ${sb.tokens['google-antigravity']}`)
  assert.deepEqual(JSON.parse(r.body), {})
  assert.equal(requestsTo('google-antigravity').length, 0, 'the models endpoint is only the fallback')

  assert.deepEqual(tracker.entries().map((x) => x.key), ['google-antigravity/default'])
  const e = tracker.get('google-antigravity')
  assertHealthy(e)
  assert.deepEqual(ids(e), ['gemini-5h', 'gemini-weekly', '3p-5h', '3p-weekly'])
  const buckets = served.groups.flatMap((g) => g.buckets)
  for (const [id, remaining, duration] of [['gemini-5h', 0.62, 18000], ['gemini-weekly', 0.81, 604800], ['3p-5h', 0.4, 18000], ['3p-weekly', 1, 604800]]) {
    const w = win(e, id)
    near(w.remainingRatio, remaining, id)
    assert.deepEqual([w.kind, w.unit, w.duration], ['percentage', undefined, duration], id)
    assert.equal(w.resetsAt, Date.parse(buckets.find((b) => b.bucketId === id).resetTime), id)
  }
  assert.equal(e.plan, 'pro', 'tier from loadCodeAssist')
})

test('google-antigravity: a bucket without remainingFraction is unknown (skipped), not exhausted', async () => {
  sb.serveCurrent('antigravity-quota-summary')
  const body = sb.fixture('google-antigravity', 'summary')
  delete body.groups[1].buckets[0].remainingFraction
  sb.setFixture('google-antigravity', body, 'summary')
  const e = (await fetched('google-antigravity')).get('google-antigravity')
  assertHealthy(e)
  assert.deepEqual(ids(e), ['gemini-5h', 'gemini-weekly', '3p-weekly'])
  assert.ok(e.windows.every((w) => w.remainingRatio > 0))
})

test('google-antigravity: 403 SUBSCRIPTION_REQUIRED on the summary falls back to fetchAvailableModels', async () => {
  sb.script('google-antigravity', {
    endpoint: 'summary',
    status: 403,
    body: { error: { code: 403, message: 'The caller does not have permission', status: 'PERMISSION_DENIED', details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'SUBSCRIPTION_REQUIRED' }] } },
  })
  const tracker = await fetched('google-antigravity')
  assert.equal(requestsTo('google-antigravity', 'summary').length, 1)
  assert.equal(requestsTo('google-antigravity').length, 1)
  const keys = tracker.entries().map((x) => x.key)
  assert.ok(keys.includes('google-antigravity/gemini-3-pro-high'), keys.join())
  for (const x of tracker.entries()) assertHealthy(x)
})

test('google-antigravity: the pi-antigravity extension\'s `antigravity` login is used by the default instance only', async () => {
  const token = sb.tokens['google-antigravity']
  const auth = { antigravity: { type: 'oauth', access: token, refresh: 'r', expires: Date.now() + 3600_000, projectId: sb.projects['google-antigravity'], email: 'a@example.com' } }
  await withEnv({ auth }, async () => {
    sb.serveCurrent('antigravity-quota-summary')
    const tracker = newTracker()
    tracker.registerBuiltinProvider('google-antigravity', { baseUrl: sb.url })
    tracker.registerBuiltinProvider('google-antigravity', { id: 'google-antigravity-work', baseUrl: sb.url })
    await tracker.refresh()
    assertHealthy(tracker.get('google-antigravity'))
    assert.equal(requestsTo('google-antigravity', 'summary')[0].headers.authorization, `Bearer ${token}`)
    assert.equal(tracker.get('google-antigravity-work').active, false, 'a second account brings its own login')
    assert.equal(requestsTo('google-antigravity', 'summary').length, 1)
  })
})

// ---- Gemini CLI ----

test('google-gemini-cli: the consumer shutdown is error kind `unsupported`, asked once, body not quoted', async () => {
  sb.script('google-gemini-cli', {
    status: 403,
    body: { error: { code: 403, message: 'This client is no longer supported for Gemini Code Assist for individuals. To continue using Gemini, please migrate to the Antigravity suite of products.', status: 'PERMISSION_DENIED' } },
  })
  const e = (await fetched('google-gemini-cli')).get('google-gemini-cli')
  assert.equal(e.error?.kind, 'unsupported')
  assert.match(e.error.message, /^google-gemini-cli: HTTP 403: Google no longer serves the Gemini CLI to consumer accounts/)
  assert.ok(!e.error.message.includes('migrate'))
  assert.equal(requestsTo('google-gemini-cli').length, 1)
  // UNSUPPORTED_CLIENT named as the reason of a 401
  sb.script('google-gemini-cli', { status: 401, body: { error: { code: 401, status: 'UNAUTHENTICATED', details: [{ reason: 'UNSUPPORTED_CLIENT' }] } } })
  assert.equal((await fetched('google-gemini-cli')).get('google-gemini-cli').error?.kind, 'unsupported')
  // a plain 403 stays an auth error
  sb.script('google-gemini-cli', { status: 403 })
  assert.equal((await fetched('google-gemini-cli')).get('google-gemini-cli').error?.kind, 'auth')
})

test('error bodies are read up to 64 KiB and for at most 2 s', async () => {
  const marker = '{"error":{"code":403,"status":"PERMISSION_DENIED","details":[{"reason":"UNSUPPORTED_CLIENT"}]}}'
  sb.script('google-gemini-cli', { status: 403, body: ' '.repeat(60 * 1024) + marker })
  assert.equal((await fetched('google-gemini-cli')).get('google-gemini-cli').error?.kind, 'unsupported', 'within the cap')
  sb.script('google-gemini-cli', { status: 403, body: ' '.repeat(64 * 1024) + marker })
  assert.equal((await fetched('google-gemini-cli')).get('google-gemini-cli').error?.kind, 'auth', 'beyond the cap: unread')
  // a refusal whose body never finishes is still a refusal, not a timeout
  sb.script('google-gemini-cli', { status: 403, hang: 'body' })
  const started = Date.now()
  const e = (await fetched('google-gemini-cli')).get('google-gemini-cli')
  assert.equal(e.error?.kind, 'auth')
  assert.ok(Date.now() - started < 4500, `took ${Date.now() - started} ms`)
})

test('google-gemini-cli: an expired ~/.gemini/oauth_creds.json says to run gemini once; nothing is sent', async () => {
  const home = { '.gemini/oauth_creds.json': { access_token: sb.tokens['google-gemini-cli'], refresh_token: 'r', expiry_date: Date.now() - 60_000 } }
  await withEnv({ home }, async () => {
    const tracker = newTracker()
    tracker.registerBuiltinProvider('google-gemini-cli', { baseUrl: sb.url })
    await tracker.refresh()
    const e = tracker.get('google-gemini-cli')
    assert.equal(e.error?.kind, 'auth')
    assert.match(e.error.message, /expired; run `gemini` once to refresh ~\/\.gemini\/oauth_creds\.json/)
    assert.equal(sb.requests.length, 0)
  })
})

// ---- API keys where a login is needed ----

test('an api_key entry for any of the five → inactive entry with a reason, and no request carries the key', async () => {
  const key = 'sk-test-api-key-that-must-not-travel'
  const auth = Object.fromEntries(PROVIDER_IDS.map((id) => [id, { type: 'api_key', key }]))
  await withEnv({ auth }, async () => {
    const tracker = newTracker()
    for (const id of PROVIDER_IDS) tracker.registerBuiltinProvider(id, { baseUrl: sb.url })
    await tracker.refresh()
    for (const id of PROVIDER_IDS) {
      const e = tracker.get(id)
      assert.equal(e.active, false, id)
      assert.equal(e.error?.kind, 'auth', id)
      assert.match(e.error.message, new RegExp(`^${id}: an API key cannot read this service's plan usage`), id)
      assert.ok(!e.error.message.includes(key), id)
      assert.deepEqual(e.windows, [], id)
    }
    assert.equal(sb.requests.length, 0, 'nothing reached the sandbox')
  })
})
