// The five built-in providers through the addon, against the loopback sandbox: what goes on
// the wire (method, path, headers, body), what lands in the store, where credentials come from,
// and which base URLs and ids are refused.
import { test, before, after, beforeEach } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createRequire } from 'node:module'
import { startSandbox, useSandbox, PROVIDER_IDS } from './sandbox.mjs'

const require = createRequire(import.meta.url)
const { UsageTracker } = require('../index.js')

const sb = useSandbox()

const newTracker = (opts = {}) => new UsageTracker({ cachePath: null, requestTimeoutMs: 5000, ...opts })

/** A tracker with one built-in registered against the sandbox, after one refresh. */
async function fetched(id, extra = {}) {
  const tracker = newTracker()
  tracker.registerBuiltinProvider(id, { baseUrl: sb.url, credentials: sb.credentials(id), ...extra })
  await tracker.refresh()
  return tracker
}

const usageRequests = (id) => sb.requests.filter((r) => r.providerId === id && r.endpoint === 'usage')
const win = (entry, id) => entry.windows.find((w) => w.id === id)
const near = (actual, expected, what) => assert.ok(Math.abs(actual - expected) < 1e-9, `${what}: ${actual} != ${expected}`)

/** The providers with an entry, sorted (so a loop over the entries is known not to be empty). */
const providersIn = (tracker) => [...new Set(tracker.entries().map((e) => e.providerId))].sort()

/** Every window with a reset time has it in the future; the entry is fresh and error-free. */
function assertHealthy(entry) {
  assert.ok(entry, 'entry exists')
  assert.equal(entry.active, true, `${entry.key} active`)
  assert.equal(entry.fails, 0, `${entry.key} fails`)
  assert.equal(entry.error, undefined, `${entry.key} error: ${JSON.stringify(entry.error)}`)
  assert.equal(entry.stale, false, `${entry.key} stale`)
  assert.ok(entry.updated > Date.now() - 60_000 && entry.updated <= Date.now(), `${entry.key} updated`)
  for (const w of entry.windows) {
    if (w.resetsAt !== undefined) assert.ok(w.resetsAt > Date.now(), `${entry.key}#${w.id} resetsAt in the future`)
  }
}

// ---- per-provider: request on the wire and values in the store ----

/** The served Claude body with its legacy keys moved off the values of limits[] (the recorded
 *  fixture has the same numbers in both), so a test can name the source it read: five_hour
 *  55 % (limits[] session: 37 %), seven_day 20 % (weekly_all: 64 %), seven_day_opus 90 %
 *  (the Opus row: 12 %), each legacy reset an hour after its limits[] row's. */
function claudeWithDistinctSources() {
  const body = sb.fixture('anthropic')
  const later = (iso) => new Date(Date.parse(iso) + 3600_000).toISOString()
  for (const [key, utilization] of [['five_hour', 55], ['seven_day', 20], ['seven_day_opus', 90]]) {
    body[key] = { utilization, resets_at: later(body[key].resets_at) }
  }
  const row = (kind) => body.limits.find((l) => l.kind === kind)
  assert.deepEqual([row('session').percent, row('weekly_all').percent, row('weekly_scoped').percent], [37, 64, 12], 'the limits[] rows of the recorded fixture')
  return body
}

test('anthropic: an empty limits[] (a service mid-rollout) leaves the legacy keys as the source', async () => {
  const body = claudeWithDistinctSources()
  body.limits = []
  sb.setFixture('anthropic', body)
  const e = (await fetched('anthropic')).get('anthropic')
  assertHealthy(e)
  near(win(e, '5h').usedRatio, 0.55, '5h from five_hour')
  assert.equal(win(e, '5h').resetsAt, Date.parse(body.five_hour.resets_at))
  near(win(e, '7d').usedRatio, 0.2, '7d from seven_day')
  near(win(e, '7d_opus').usedRatio, 0.9, '7d_opus from seven_day_opus')
})

test('anthropic: GET /api/oauth/usage with Bearer, oauth beta and claude-code UA; 5h/7d/7d_opus from limits[], extra in USD', async () => {
  const body = claudeWithDistinctSources()
  sb.setFixture('anthropic', body)
  const tracker = await fetched('anthropic')
  const reqs = usageRequests('anthropic')
  assert.equal(reqs.length, 1)
  const r = reqs[0]
  assert.equal(r.method, 'GET')
  assert.equal(r.path, '/api/oauth/usage')
  assert.equal(r.status, 200)
  assert.equal(r.headers.authorization, `Bearer ${sb.tokens.anthropic}`)
  assert.ok(String(r.headers['anthropic-beta']).split(',').map((s) => s.trim()).includes('oauth-2025-04-20'))
  assert.match(r.headers['user-agent'], /^claude-code\/\d+\.\d+/)

  const e = tracker.get('anthropic')
  assert.equal(e.key, 'anthropic/default')
  assertHealthy(e)
  const five = win(e, '5h')
  assert.equal(five.kind, 'percentage')
  near(five.usedRatio, 0.37, '5h usedRatio')
  near(five.used, 37, '5h used')
  near(five.remaining, 63, '5h remaining')
  assert.equal(five.total, 100)
  assert.equal(five.duration, 18000)
  assert.ok(five.resetsAt > Date.now() && five.resetsAt <= Date.now() + 5 * 3600_000, '5h reset within 5 h')
  // 37 % and its reset are the limits[] session row's (five_hour says 55 %, an hour later)
  assert.equal(five.resetsAt, Date.parse(body.limits.find((l) => l.kind === 'session').resets_at))
  const seven = win(e, '7d')
  near(seven.usedRatio, 0.64, '7d usedRatio (weekly_all; seven_day says 20 %)')
  assert.equal(seven.resetsAt, Date.parse(body.limits.find((l) => l.kind === 'weekly_all').resets_at))
  assert.equal(seven.duration, 604800)
  assert.ok(seven.resetsAt > Date.now() && seven.resetsAt <= Date.now() + 7 * 86400_000, '7d reset within 7 d')
  near(win(e, '7d_opus').usedRatio, 0.12, '7d_opus usedRatio (the Opus row; seven_day_opus says 90 %)')
  // limits[] is authoritative: keys only the legacy shape has are not windows then
  // (without limits they are: providers-2026.spec)
  assert.equal(win(e, 'seven_day_omelette'), undefined)
  assert.equal(win(e, '7d_sonnet'), undefined)
  assert.equal(win(e, 'tangelo'), undefined)
  // the sandbox's account has extra usage on: $12.50 of $50 this month
  const extra = win(e, 'extra')
  assert.deepEqual([extra.kind, extra.unit, extra.total, extra.used, extra.billing], ['amount', 'USD', 50, 12.5, 'extra_usage'])
  assert.equal(e.billing, 'extra_usage')
  assert.deepEqual(e.windows.map((w) => w.id), ['5h', '7d', '7d_opus', 'extra'])
  assert.deepEqual(tracker.getWindow('anthropic', '5h'), five)
  assert.deepEqual(tracker.entries().map((x) => x.key), ['anthropic/default'])
})

test('openai-codex: GET /backend-api/wham/usage with Bearer and ChatGPT-Account-Id; 5h 23%, 7d 41%, plan plus', async () => {
  const tracker = await fetched('openai-codex')
  const [r, ...rest] = usageRequests('openai-codex')
  assert.equal(rest.length, 0)
  assert.equal(r.method, 'GET')
  assert.equal(r.path, '/backend-api/wham/usage')
  assert.equal(r.status, 200)
  assert.equal(r.headers.authorization, `Bearer ${sb.tokens['openai-codex']}`)
  assert.equal(r.headers['chatgpt-account-id'], sb.accountId)

  const e = tracker.get('openai-codex')
  assert.equal(e.key, 'openai-codex/default')
  assertHealthy(e)
  assert.equal(e.plan, 'plus')
  assert.deepEqual(e.windows.map((w) => w.id).sort(), ['5h', '7d'])
  near(win(e, '5h').usedRatio, 0.23, '5h')
  near(win(e, '7d').usedRatio, 0.41, '7d')
  assert.equal(win(e, '5h').duration, 18000)
  assert.equal(win(e, '7d').duration, 604800)
  // reset_after_seconds (relative to the answer) is preferred: the fixture's absolute reset_at
  // disagrees with it (the 5h window's reset_at lies ~6 days out)
  for (const [id, secs] of [['5h', 9120], ['7d', 301000]]) {
    const inMs = win(e, id).resetsAt - Date.now()
    assert.ok(Math.abs(inMs - secs * 1000) < 5000, `${id} resets in ~${secs} s, got ${inMs} ms`)
  }
})

test('github-copilot: GET /copilot_internal/user with `token` auth and editor headers; premium 173/300 requests and per-model views', async () => {
  const tracker = await fetched('github-copilot')
  const [r, ...rest] = usageRequests('github-copilot')
  assert.equal(rest.length, 0)
  assert.equal(r.method, 'GET')
  assert.equal(r.path, '/copilot_internal/user')
  assert.equal(r.status, 200)
  assert.equal(r.headers.authorization, `token ${sb.tokens['github-copilot']}`)
  assert.match(r.headers['editor-version'], /^vscode\//)
  assert.match(r.headers['editor-plugin-version'], /^copilot-chat\//)
  assert.match(r.headers['user-agent'], /^GitHubCopilotChat\//)
  assert.ok(r.headers['x-github-api-version'], 'X-Github-Api-Version sent')
  assert.equal(r.headers.accept, 'application/json')

  const e = tracker.get('github-copilot')
  assert.equal(e.key, 'github-copilot/default')
  assertHealthy(e)
  assert.equal(e.plan, 'individual_pro')
  // unlimited chat/completions are no windows; premium is
  assert.deepEqual(e.windows.map((w) => w.id), ['premium'])
  const p = win(e, 'premium')
  assert.equal(p.total, 300)
  assert.equal(p.remaining, 173)
  assert.equal(p.used, 127)
  assert.equal(p.unlimited, false)
  assert.equal(p.unit, 'requests', 'a request-billed plan (no token_based_billing)')
  assert.equal(p.kind, 'multiplier')
  // monthly reset: the 1st of next month, 00:00 UTC
  const reset = new Date(p.resetsAt)
  assert.equal(reset.getUTCDate(), 1)
  assert.equal(reset.getUTCHours() + reset.getUTCMinutes() + reset.getUTCSeconds(), 0)
  assert.ok(p.resetsAt > Date.now() && p.resetsAt <= Date.now() + 32 * 86400_000)

  // per-model entries from GitHub's legacy annual-plan multipliers: a 15× model sees a
  // fifteenth of the pool, a 0.33× one three times it
  const gpt4o = tracker.get('github-copilot', 'gpt-4o')
  assertHealthy(gpt4o)
  assert.equal(gpt4o.key, 'github-copilot/gpt-4o')
  assert.equal(win(gpt4o, 'premium').unlimited, false)
  near(win(gpt4o, 'premium').remaining, 173 / 0.33, 'gpt-4o remaining')
  const opus = tracker.get('github-copilot', 'claude-opus-4.5')
  assertHealthy(opus)
  const op = win(opus, 'premium')
  assert.equal(op.unlimited, false)
  near(op.total, 20, 'opus total')
  near(op.remaining, 173 / 15, 'opus remaining')
  near(op.remainingRatio, 173 / 300, 'opus remainingRatio')
  assert.equal(opus.plan, 'individual_pro')
  const pro25 = win(tracker.get('github-copilot', 'gemini-2.5-pro'), 'premium')
  assert.equal(pro25.remaining, 173)
})

test('github-copilot: a custom multiplier table replaces the shipped one', async () => {
  const tracker = await fetched('github-copilot', { multipliers: { 'my-model': 2 } })
  const keys = tracker.entries().map((e) => e.key).sort()
  assert.deepEqual(keys, ['github-copilot/default', 'github-copilot/my-model'])
  near(win(tracker.get('github-copilot', 'my-model'), 'premium').remaining, 86.5, 'my-model remaining')
})

test('google-antigravity: POST fetchAvailableModels with {"project"} and Bearer; one entry per model, exhausted model at 0', async () => {
  const tracker = await fetched('google-antigravity')
  const [r, ...rest] = usageRequests('google-antigravity')
  assert.equal(rest.length, 0)
  assert.equal(r.method, 'POST')
  assert.equal(r.path, '/v1internal:fetchAvailableModels')
  assert.equal(r.status, 200)
  assert.equal(r.headers.authorization, `Bearer ${sb.tokens['google-antigravity']}`)
  assert.match(r.headers['content-type'], /^application\/json/)
  assert.deepEqual(JSON.parse(r.body), { project: sb.projects['google-antigravity'] })

  const keys = tracker.entries().map((e) => e.key).sort()
  assert.deepEqual(keys, [
    'google-antigravity/claude-opus-4-5-thinking',
    'google-antigravity/claude-sonnet-4-5',
    'google-antigravity/gemini-3-flash',
    'google-antigravity/gemini-3-pro-high',
  ])
  for (const e of tracker.entries()) {
    assertHealthy(e)
    assert.deepEqual(e.windows.map((w) => w.id), ['quota'])
    assert.equal(e.windows[0].kind, 'percentage')
    assert.ok(e.windows[0].resetsAt > Date.now())
  }
  const ratio = (m) => tracker.getWindow('google-antigravity', 'quota', m).remainingRatio
  assert.equal(ratio('claude-opus-4-5-thinking'), 0, 'quotaInfo without remainingFraction = exhausted')
  near(ratio('gemini-3-pro-high'), 0.8, 'pro-high')
  near(ratio('claude-sonnet-4-5'), 0.25, 'sonnet')
  assert.equal(ratio('gemini-3-flash'), 1)
  // the tier comes from loadCodeAssist (paidTier g1-pro-tier), asked once with the first fetch
  assert.equal(sb.count('google-antigravity', 'loadCodeAssist'), 1)
  assert.equal(tracker.get('google-antigravity', 'gemini-3-pro-high').plan, 'pro')
})

test('google-gemini-cli: POST retrieveUserQuota with {"project"} and Bearer; daily 812 of 1000 for gemini-2.5-pro', async () => {
  const tracker = await fetched('google-gemini-cli')
  const [r, ...rest] = usageRequests('google-gemini-cli')
  assert.equal(rest.length, 0)
  assert.equal(r.method, 'POST')
  assert.equal(r.path, '/v1internal:retrieveUserQuota')
  assert.equal(r.status, 200)
  assert.equal(r.headers.authorization, `Bearer ${sb.tokens['google-gemini-cli']}`)
  assert.match(r.headers['content-type'], /^application\/json/)
  assert.match(r.headers['user-agent'], /^GeminiCLI\//)
  assert.deepEqual(JSON.parse(r.body), { project: sb.projects['google-gemini-cli'] })

  const keys = tracker.entries().map((e) => e.key).sort()
  assert.deepEqual(keys, ['google-gemini-cli/gemini-2.5-flash', 'google-gemini-cli/gemini-2.5-pro'])
  const pro = tracker.get('google-gemini-cli', 'gemini-2.5-pro')
  assertHealthy(pro)
  const d = win(pro, 'daily')
  assert.equal(d.remaining, 812)
  assert.equal(d.total, 1000)
  assert.equal(d.used, 188)
  near(d.remainingRatio, 0.812, 'remainingRatio')
  assert.ok(d.resetsAt > Date.now() && d.resetsAt <= Date.now() + 86400_000)
  const flash = win(tracker.get('google-gemini-cli', 'gemini-2.5-flash'), 'daily')
  assert.equal(flash.remaining, 1500)
  assert.equal(flash.total, 1500)
  // the tier comes from loadCodeAssist (currentTier free-tier), asked once with the first fetch
  assert.equal(sb.count('google-gemini-cli', 'loadCodeAssist'), 1)
  assert.equal(pro.plan, 'free')
})

test('google providers: loadCodeAssist is asked at most once an hour, with the documented metadata', async () => {
  const tracker = newTracker()
  tracker.registerBuiltinProvider('google-antigravity', { baseUrl: sb.url, credentials: sb.credentials('google-antigravity') })
  await tracker.refresh()
  await tracker.refresh()
  const lca = sb.requests.filter((r) => r.endpoint === 'loadCodeAssist')
  assert.equal(lca.length, 1)
  assert.equal(lca[0].method, 'POST')
  assert.equal(lca[0].headers.authorization, `Bearer ${sb.tokens['google-antigravity']}`)
  assert.deepEqual(JSON.parse(lca[0].body).metadata, { ideType: 'ANTIGRAVITY', platform: 'PLATFORM_UNSPECIFIED', pluginType: 'GEMINI' })
  assert.equal(sb.count('google-antigravity'), 2)
})

test('all five on one tracker: one concurrent cycle fills every entry', async () => {
  const tracker = newTracker()
  for (const id of PROVIDER_IDS) tracker.registerBuiltinProvider(id, { baseUrl: sb.url, credentials: sb.credentials(id) })
  const seen = []
  tracker.onUpdate((entries) => seen.push(entries.length))
  await tracker.refresh()
  assert.equal(seen.length, 1, 'listeners ran once, before refresh resolved')
  for (const id of PROVIDER_IDS) assert.equal(sb.count(id), 1, id)
  assert.deepEqual(providersIn(tracker), [...PROVIDER_IDS].sort(), 'an entry for every provider')
  for (const e of tracker.entries()) assertHealthy(e)
  assert.equal(seen[0], tracker.entries().length)
  const s = tracker.stats()
  assert.equal(s.providers, 5)
  assert.equal(s.fetchOk, 5)
  assert.equal(s.fetchErrors, 0)
})

test('second account: registerBuiltinProvider with an instance id fills `<instance>/default`', async () => {
  const tracker = newTracker()
  tracker.registerBuiltinProvider('anthropic', { baseUrl: sb.url, credentials: sb.credentials('anthropic') })
  const id = tracker.registerBuiltinProvider('anthropic', { id: 'anthropic-work', baseUrl: sb.url, credentials: sb.credentials('anthropic') })
  assert.equal(id, 'anthropic-work')
  await tracker.refresh()
  assert.deepEqual(tracker.entries().map((e) => e.key).sort(), ['anthropic-work/default', 'anthropic/default'])
  const work = tracker.get('anthropic-work')
  assertHealthy(work)
  assert.equal(work.providerId, 'anthropic-work')
  near(win(work, '5h').usedRatio, 0.37, 'work 5h')
  assert.equal(sb.count('anthropic'), 2, 'both accounts asked')
  // the same instance id twice is refused
  assert.throws(() => tracker.registerBuiltinProvider('anthropic', { id: 'anthropic-work', baseUrl: sb.url, credentials: sb.credentials('anthropic') }))
})

// ---- credential discovery (Rust reads the process env at fetch time) ----

/** Runs fn with PI_CODING_AGENT_DIR and HOME pointing at fresh temp dirs; restores env after. */
async function withEnv(auth, fn) {
  const agentDir = mkdtempSync(join(tmpdir(), 'put-agent-'))
  const home = mkdtempSync(join(tmpdir(), 'put-home-'))
  if (auth !== undefined) writeFileSync(join(agentDir, 'auth.json'), JSON.stringify(auth))
  const saved = { PI_CODING_AGENT_DIR: process.env.PI_CODING_AGENT_DIR, HOME: process.env.HOME, PI_USAGE_TRACKER_BASE_URL: process.env.PI_USAGE_TRACKER_BASE_URL }
  process.env.PI_CODING_AGENT_DIR = agentDir
  process.env.HOME = home
  delete process.env.PI_USAGE_TRACKER_BASE_URL
  try {
    return await fn()
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k]
      else process.env[k] = v
    }
    rmSync(agentDir, { recursive: true, force: true })
    rmSync(home, { recursive: true, force: true })
  }
}

test('discovery: without credentials every built-in finds its token in $PI_CODING_AGENT_DIR/auth.json', async () => {
  await withEnv(sb.authJson(), async () => {
    const tracker = newTracker()
    for (const id of PROVIDER_IDS) tracker.registerBuiltinProvider(id, { baseUrl: sb.url })
    await tracker.refresh()
    assert.deepEqual(providersIn(tracker), [...PROVIDER_IDS].sort(), 'an entry for every provider')
    for (const e of tracker.entries()) assertHealthy(e)
    for (const id of PROVIDER_IDS) {
      const reqs = usageRequests(id)
      assert.equal(reqs.length, 1, id)
      assert.equal(reqs[0].status, 200, `${id} accepted by the sandbox`)
    }
    // copilot: the GitHub token from `refresh`, not the short-lived `tid=` Copilot token
    assert.equal(usageRequests('github-copilot')[0].headers.authorization, `token ${sb.tokens['github-copilot']}`)
    assert.equal(usageRequests('openai-codex')[0].headers['chatgpt-account-id'], sb.accountId)
    assert.deepEqual(JSON.parse(usageRequests('google-gemini-cli')[0].body), { project: sb.projects['google-gemini-cli'] })
    near(tracker.getWindow('anthropic', '5h').usedRatio, 0.37, 'anthropic 5h')
    assert.equal(tracker.getWindow('github-copilot', 'premium').remaining, 173)
  })
})

test('discovery: an empty agent dir and empty HOME → `<id>/default` inactive, no error, no request', async () => {
  await withEnv(undefined, async () => {
    const tracker = newTracker()
    for (const id of PROVIDER_IDS) tracker.registerBuiltinProvider(id, { baseUrl: sb.url })
    await tracker.refresh()
    const entries = tracker.entries()
    assert.deepEqual(entries.map((e) => e.key).sort(), PROVIDER_IDS.map((id) => `${id}/default`).sort())
    for (const e of entries) {
      assert.equal(e.active, false, e.key)
      assert.equal(e.error, undefined, e.key)
      assert.equal(e.fails, 0, e.key)
      assert.deepEqual(e.windows, [], e.key)
    }
    assert.equal(sb.requests.length, 0, 'nothing sent without a token')
  })
})

test('discovery: a second account is not filled from the default entry of auth.json', async () => {
  await withEnv(sb.authJson(), async () => {
    const tracker = newTracker()
    tracker.registerBuiltinProvider('anthropic', { id: 'anthropic-work', baseUrl: sb.url })
    await tracker.refresh()
    const e = tracker.get('anthropic-work')
    assert.equal(e.active, false)
    assert.equal(sb.requests.length, 0)
  })
})

test('discovery: an expired token in auth.json → error.kind auth asking to log in again, no request', async () => {
  const auth = sb.authJson()
  auth.anthropic.expires = Date.now() - 60_000
  await withEnv(auth, async () => {
    const tracker = newTracker()
    tracker.registerBuiltinProvider('anthropic', { baseUrl: sb.url })
    tracker.registerBuiltinProvider('openai-codex', { baseUrl: sb.url })
    await tracker.refresh()
    const e = tracker.get('anthropic')
    assert.equal(e.error?.kind, 'auth')
    assert.match(e.error.message, /log in again/i)
    assert.equal(e.fails, 1)
    assert.ok(!e.error.message.includes(sb.tokens.anthropic))
    assert.equal(sb.count('anthropic'), 0, 'an expired token is not sent')
    assertHealthy(tracker.get('openai-codex'))
  })
})

// ---- refused configuration ----

test('a plain-http base URL that is not loopback is refused with a TypeError naming the rule', () => {
  const tracker = newTracker()
  assert.throws(
    () => tracker.registerBuiltinProvider('anthropic', { baseUrl: 'http://example.com', credentials: sb.credentials('anthropic') }),
    (err) => err instanceof TypeError && /http:\/\/example\.com/.test(err.message) && /loopback/.test(err.message),
  )
  assert.throws(() => tracker.registerBuiltinProvider('anthropic', { baseUrl: 'ftp://127.0.0.1', credentials: sb.credentials('anthropic') }), TypeError)
  // a URL carrying credentials is refused without echoing them
  assert.throws(
    () => tracker.registerBuiltinProvider('anthropic', { baseUrl: 'https://user:hunter2@example.com' }),
    (err) => err instanceof TypeError && !err.message.includes('hunter2'),
  )
  assert.deepEqual(tracker.providerIds(), [])
  // https anywhere and http to loopback are fine
  tracker.registerBuiltinProvider('anthropic', { baseUrl: 'https://example.com', credentials: sb.credentials('anthropic') })
  tracker.registerBuiltinProvider('openai-codex', { baseUrl: 'http://localhost:1', credentials: sb.credentials('openai-codex') })
})

test('an unknown built-in id is a TypeError listing the known ones', () => {
  const tracker = newTracker()
  assert.throws(
    () => tracker.registerBuiltinProvider('claude', { baseUrl: sb.url }),
    (err) => err instanceof TypeError && err.code === 'ERR_UNKNOWN_BUILTIN' && /claude/.test(err.message) && /anthropic/.test(err.message),
  )
  assert.deepEqual(tracker.entries(), [])
})
