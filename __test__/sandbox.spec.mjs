// Tests of the provider sandbox itself: the other suites trust it to behave like the real services.
import { test, before, after, beforeEach } from 'node:test'
import assert from 'node:assert/strict'
import { startSandbox, useSandbox, FIXTURE_NOW_MS, PROVIDER_IDS, loadFixture, shiftFixture, timeShiftMs, drift } from './sandbox.mjs'

const sb = useSandbox()

// Requests exactly as a correct client sends them.
function good(id, extra = {}) {
  const t = sb.tokens[id]
  switch (id) {
    case 'anthropic':
      return ['/api/oauth/usage', { headers: { authorization: `Bearer ${t}`, 'anthropic-beta': 'oauth-2025-04-20', 'user-agent': 'claude-code/2.0.0', ...extra } }]
    case 'openai-codex':
      return ['/backend-api/wham/usage', { headers: { authorization: `Bearer ${t}`, 'chatgpt-account-id': sb.accountId, ...extra } }]
    case 'github-copilot':
      return ['/copilot_internal/user', { headers: { authorization: `token ${t}`, accept: 'application/json', ...extra } }]
    case 'google-antigravity':
      return ['/v1internal:fetchAvailableModels', { method: 'POST', headers: { authorization: `Bearer ${t}`, 'content-type': 'application/json', ...extra }, body: JSON.stringify({ project: sb.projects[id] }) }]
    case 'google-gemini-cli':
      return ['/v1internal:retrieveUserQuota', { method: 'POST', headers: { authorization: `Bearer ${t}`, 'content-type': 'application/json', ...extra }, body: JSON.stringify({ project: sb.projects[id] }) }]
  }
}
const call = (path, init) => fetch(sb.url + path, init)

test('listens on 127.0.0.1 only', () => {
  assert.match(sb.url, /^http:\/\/127\.0\.0\.1:\d+$/)
})

test('every provider answers a correct request with its fixture', async () => {
  for (const id of PROVIDER_IDS) {
    const res = await call(...good(id))
    assert.equal(res.status, 200, id)
    assert.match(res.headers.get('content-type'), /application\/json/)
    const body = await res.json()
    assert.deepEqual(body, sb.fixture(id), id)
    assert.equal(sb.count(id), 1, id)
  }
})

test('wrong or missing token -> 401 JSON error', async () => {
  for (const id of PROVIDER_IDS) {
    const [path, init] = good(id, { authorization: 'Bearer nope' })
    const res = await call(path, init)
    assert.equal(res.status, 401, id)
    assert.ok(await res.json(), id)
    const { authorization, ...noAuth } = init.headers
    assert.equal((await call(path, { ...init, headers: noAuth })).status, 401, id)
  }
})

test('anthropic: needs the oauth beta header and a claude-code user agent', async () => {
  const [path, init] = good('anthropic')
  const { 'anthropic-beta': _beta, ...noBeta } = init.headers
  assert.equal((await call(path, { headers: noBeta })).status, 401)
  // several betas in one header are fine
  assert.equal((await call(path, { headers: { ...init.headers, 'anthropic-beta': 'foo-1, oauth-2025-04-20' } })).status, 200)
  const res = await call(path, { headers: { ...init.headers, 'user-agent': 'node' } })
  assert.equal(res.status, 429)
  assert.equal(res.headers.get('retry-after'), '0')
  assert.equal((await res.json()).error.type, 'rate_limit_error')
})

test('openai-codex: account id must match; /api/codex/usage also served', async () => {
  const [path, init] = good('openai-codex')
  assert.equal((await call(path, { headers: { ...init.headers, 'chatgpt-account-id': 'other' } })).status, 403)
  const { 'chatgpt-account-id': _a, ...noAcct } = init.headers
  assert.equal((await call(path, { headers: noAcct })).status, 403)
  assert.equal((await call('/api/codex/usage', init)).status, 200)
  assert.equal(sb.count('openai-codex'), 3)
})

test('github-copilot: Bearer scheme and the Copilot session token are refused', async () => {
  const [path] = good('github-copilot')
  const res = await call(path, { headers: { authorization: `Bearer ${sb.tokens['github-copilot']}` } })
  assert.equal(res.status, 401)
  assert.equal((await res.json()).message, 'Bad credentials')
  const auth = sb.authJson()['github-copilot']
  assert.equal((await call(path, { headers: { authorization: `token ${auth.access}` } })).status, 401)
  assert.equal((await call(path, { headers: { authorization: `token ${auth.refresh}` } })).status, 200)
})

test('google: project in the JSON body is checked', async () => {
  for (const id of ['google-antigravity', 'google-gemini-cli']) {
    const [path, init] = good(id)
    assert.equal((await call(path, { ...init, body: JSON.stringify({ project: 'other' }) })).status, 403, id)
    assert.equal((await call(path, { ...init, body: '{}' })).status, 400, id)
    assert.equal((await call(path, { ...init, body: 'not json' })).status, 400, id)
    const err = await (await call(path, { ...init, body: '' })).json()
    assert.equal(err.error.status, 'INVALID_ARGUMENT')
  }
})

test('loadCodeAssist answers by token with tier and project', async () => {
  const body = JSON.stringify({ metadata: { ideType: 'ANTIGRAVITY', platform: 'PLATFORM_UNSPECIFIED', pluginType: 'GEMINI' } })
  const ask = (token) => call('/v1internal:loadCodeAssist', { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body })
  const ag = await (await ask(sb.tokens['google-antigravity'])).json()
  assert.equal(ag.cloudaicompanionProject, sb.projects['google-antigravity'])
  assert.equal(ag.currentTier.id, 'standard-tier')
  assert.ok(ag.paidTier.name)
  const gm = await (await ask(sb.tokens['google-gemini-cli'])).json()
  assert.equal(gm.cloudaicompanionProject, sb.projects['google-gemini-cli'])
  assert.equal(gm.currentTier.id, 'free-tier')
  assert.equal((await ask('nope')).status, 401)
  // counted apart from the usage endpoint
  assert.equal(sb.count('google-gemini-cli'), 0)
  assert.equal(sb.count('google-gemini-cli', 'loadCodeAssist'), 1)
  assert.equal(sb.count('google-antigravity', 'all'), 1)
  sb.setFixture('google-gemini-cli', { currentTier: { id: 'standard-tier', name: 'x' }, cloudaicompanionProject: 'p' }, 'loadCodeAssist')
  assert.equal((await (await ask(sb.tokens['google-gemini-cli'])).json()).cloudaicompanionProject, 'p')
})

test('wrong method -> 405, unknown path -> 404', async () => {
  assert.equal((await call('/api/oauth/usage', { method: 'POST', body: '{}' })).status, 405)
  assert.equal((await call('/v1internal:retrieveUserQuota')).status, 405)
  assert.equal((await call('/nope')).status, 404)
})

test('timestamps are shifted to now, keeping their format', async () => {
  const now = Date.now()
  const delta = timeShiftMs(now)
  assert.ok(Math.abs(delta - (now - FIXTURE_NOW_MS)) < 1000)
  const a = shiftFixture('anthropic', loadFixture('anthropic'), now)
  assert.match(a.five_hour.resets_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.123456\+00:00$/)
  assert.equal(Date.parse(a.five_hour.resets_at) - Math.floor(now / 1000) * 1000, 2 * 3600_000 + 123)
  assert.equal(Date.parse(a.limits[0].resets_at), Date.parse('2026-11-23T21:00:00Z') + delta)
  assert.equal(a.seven_day_omelette.resets_at, null)
  const c = shiftFixture('openai-codex', loadFixture('openai-codex'), now)
  assert.equal(c.rate_limit.primary_window.reset_at, loadFixture('openai-codex').rate_limit.primary_window.reset_at + delta / 1000)
  assert.ok(Number.isInteger(c.rate_limit.primary_window.reset_at))
  const g = shiftFixture('github-copilot', loadFixture('github-copilot'), Date.parse('2031-02-10T05:00:00Z'))
  assert.equal(g.quota_reset_date_utc, '2031-03-01T00:00:00.000Z')
  assert.equal(g.quota_reset_date, '2031-03-01')
  // served bodies have every reset in the future
  const served = await (await call(...good('google-antigravity'))).json()
  for (const m of Object.values(served.models)) assert.ok(Date.parse(m.quotaInfo.resetTime) > now)
})

test('shiftTimes: false serves the fixtures unchanged', async () => {
  const raw = await startSandbox({ shiftTimes: false, tokens: { anthropic: 'custom' } })
  try {
    const res = await fetch(raw.url + '/api/oauth/usage', { headers: { authorization: 'Bearer custom', 'anthropic-beta': 'oauth-2025-04-20', 'user-agent': 'claude-code/1' } })
    assert.deepEqual(await res.json(), loadFixture('anthropic'))
  } finally {
    await raw.close()
  }
})

test('script: status, headers and raw bodies for the next n requests', async () => {
  sb.script('anthropic', { status: 429, headers: { 'Retry-After': '30' }, times: 2 })
  sb.script('anthropic', { body: '<html><body>Service unavailable</body></html>', headers: { 'content-type': 'text/html' } })
  sb.script('anthropic', { body: '{"five_hour": {"utiliz' })
  sb.script('anthropic', { body: '' })
  sb.script('anthropic', { status: 500 })
  const r1 = await call(...good('anthropic'))
  assert.equal(r1.status, 429)
  assert.equal(r1.headers.get('retry-after'), '30')
  await r1.text()
  assert.equal((await call(...good('anthropic'))).status, 429)
  const html = await call(...good('anthropic'))
  assert.equal(html.status, 200)
  assert.match(html.headers.get('content-type'), /text\/html/)
  assert.match(await html.text(), /<html>/)
  assert.equal(await (await call(...good('anthropic'))).text(), '{"five_hour": {"utiliz')
  assert.equal(await (await call(...good('anthropic'))).text(), '')
  const r500 = await call(...good('anthropic'))
  assert.equal(r500.status, 500)
  assert.equal((await r500.json()).type, 'error')
  // queue used up: back to the fixture
  assert.equal((await call(...good('anthropic'))).status, 200)
  assert.equal(sb.count('anthropic'), 7)
})

test('script is not consumed by an invalid request', async () => {
  sb.script('openai-codex', { status: 503 })
  assert.equal((await call(...good('openai-codex', { authorization: 'Bearer bad' }))).status, 401)
  assert.equal((await call(...good('openai-codex'))).status, 503)
})

test('script times: Infinity lasts until reset; setFixture replaces the body', async () => {
  sb.script('github-copilot', { status: 502, times: Infinity })
  for (let i = 0; i < 3; i++) assert.equal((await call(...good('github-copilot'))).status, 502)
  sb.reset()
  assert.equal(sb.count('github-copilot'), 0)
  sb.setFixture('github-copilot', { login: 'x', quota_snapshots: {} })
  assert.deepEqual(await (await call(...good('github-copilot'))).json(), { login: 'x', quota_snapshots: {} })
  sb.setFixture('github-copilot', null)
  assert.equal((await (await call(...good('github-copilot'))).json()).login, 'octocat')
})

test('script delayMs delays the answer', async () => {
  sb.script('google-gemini-cli', { delayMs: 150 })
  const t0 = Date.now()
  assert.equal((await call(...good('google-gemini-cli'))).status, 200)
  assert.ok(Date.now() - t0 >= 140)
})

test('request log records method, path, headers, body and status', async () => {
  await call(...good('google-antigravity'))
  const [r] = sb.requests
  assert.equal(r.providerId, 'google-antigravity')
  assert.equal(r.method, 'POST')
  assert.equal(r.path, '/v1internal:fetchAvailableModels')
  assert.equal(r.headers.authorization, `Bearer ${sb.tokens['google-antigravity']}`)
  assert.deepEqual(JSON.parse(r.body), { project: sb.projects['google-antigravity'] })
  assert.equal(r.status, 200)
  assert.ok(r.at <= Date.now())
})

test('credentials() and authJson() match what the sandbox expects', () => {
  assert.deepEqual(sb.credentials('anthropic'), { accessToken: sb.tokens.anthropic })
  assert.deepEqual(sb.credentials('openai-codex'), { accessToken: sb.tokens['openai-codex'], accountId: sb.accountId })
  assert.equal(sb.credentials('google-gemini-cli').projectId, sb.projects['google-gemini-cli'])
  const auth = sb.authJson()
  for (const id of PROVIDER_IDS) assert.equal(auth[id].type, 'oauth')
  assert.equal(auth['openai-codex'].accountId, sb.accountId)
  assert.equal(auth['github-copilot'].refresh, sb.tokens['github-copilot'])
  assert.throws(() => sb.credentials('nope'))
})

test('drift varies usage and keeps bodies well-formed', () => {
  const now = Date.now()
  for (const id of PROVIDER_IDS) assert.deepEqual(drift(id, 0, now), shiftFixture(id, loadFixture(id), now), id)
  const a1 = drift('anthropic', 3, now)
  assert.equal(a1.five_hour.utilization, 49)
  assert.equal(a1.limits[0].percent, 49)
  for (let step = 0; step < 40; step++) {
    const a = drift('anthropic', step, now)
    assert.ok(a.five_hour.utilization >= 0 && a.five_hour.utilization < 100)
    const g = drift('google-gemini-cli', step, now)
    for (const b of g.buckets) assert.ok(b.remainingFraction >= 0 && b.remainingFraction <= 1 && /^\d+$/.test(b.remainingAmount))
    const p = drift('github-copilot', step, now).quota_snapshots.premium_interactions
    assert.ok(p.remaining >= -30 && p.remaining < 300)
    const ag = drift('google-antigravity', step, now)
    for (const m of Object.values(ag.models)) if ('remainingFraction' in m.quotaInfo) assert.ok(m.quotaInfo.remainingFraction >= 0 && m.quotaInfo.remainingFraction <= 1)
  }
})

test('a hung response: close() still returns promptly', async () => {
  const hb = await startSandbox()
  hb.script('anthropic', { hang: true })
  hb.script('openai-codex', { hang: 'body' })
  const ctrl = new AbortController()
  const pending = fetch(hb.url + '/api/oauth/usage', { signal: ctrl.signal, headers: { authorization: `Bearer ${hb.tokens.anthropic}`, 'anthropic-beta': 'oauth-2025-04-20', 'user-agent': 'claude-code/1' } })
  const res = await fetch(hb.url + '/backend-api/wham/usage', { headers: { authorization: `Bearer ${hb.tokens['openai-codex']}`, 'chatgpt-account-id': hb.accountId } })
  assert.equal(res.status, 200) // headers arrived, body never ends
  const bodyDone = res.text().then(() => 'done', () => 'failed')
  // also a delayed answer still pending when we close
  hb.script('github-copilot', { delayMs: 60_000 })
  const delayed = fetch(hb.url + '/copilot_internal/user', { headers: { authorization: `token ${hb.tokens['github-copilot']}` } }).catch((e) => e)
  await new Promise((r) => setTimeout(r, 100))
  assert.equal(hb.count('anthropic'), 1)
  const t0 = Date.now()
  await hb.close()
  assert.ok(Date.now() - t0 < 1000, 'close took too long')
  assert.equal(await bodyDone, 'failed')
  assert.ok((await delayed) instanceof Error)
  await assert.rejects(pending)
})

test('drop: the connection is reset', async () => {
  sb.script('anthropic', { drop: true })
  await assert.rejects(call(...good('anthropic')))
  assert.equal((await call(...good('anthropic'))).status, 200)
})
