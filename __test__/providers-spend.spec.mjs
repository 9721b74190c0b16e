// The spend and balance built-ins of issue 23 (Vercel AI Gateway, Hugging Face, Fireworks,
// Baseten) and the header-only ones (Groq, Cerebras, OpenAI, Mistral) through the addon,
// against the loopback sandbox: the request each service wants (checked on the server side),
// what lands in the store, every error class, credentials exactly as pi resolves them, and no
// key in any output. Header-only services are never polled: their windows come from the
// rate-limit headers of a model response, the per-minute ones kept out of the footer.
import { test, before, after, beforeEach } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { withPiAuth as withPiEnv } from './helpers/pi-files.mjs'
import { startSandbox, SPEND_PROVIDER_IDS, HEADER_ONLY_PROVIDER_IDS, FIREWORKS_ACCOUNT, rateLimitHeaders } from './sandbox.mjs'

const require = createRequire(import.meta.url)
const { UsageTracker, BUILTIN_PROVIDERS } = require('../index.js')
const fmt = require('../lib/format.js')
const { renderView } = require('../lib/view.js')

/** The variable pi reads for each of them when auth.json has no entry. */
const PI_ENV = {
  'vercel-ai-gateway': 'AI_GATEWAY_API_KEY',
  huggingface: 'HF_TOKEN',
  fireworks: 'FIREWORKS_API_KEY',
  baseten: 'BASETEN_API_KEY',
  groq: 'GROQ_API_KEY',
  cerebras: 'CEREBRAS_API_KEY',
  openai: 'OPENAI_API_KEY',
  mistral: 'MISTRAL_API_KEY',
}

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

function assertHealthy(entry) {
  assert.ok(entry, 'entry exists')
  assert.equal(entry.active, true, `${entry.key} active`)
  assert.equal(entry.error, undefined, `${entry.key} error: ${JSON.stringify(entry.error)}`)
  assert.ok(entry.windows.length > 0, `${entry.key} has windows`)
}

function assertNoSecrets(tracker, extra = []) {
  const text = JSON.stringify(tracker.entries())
  for (const s of [...secrets, ...extra]) assert.ok(!text.includes(s), `a secret leaked into entries(): ${text}`)
}

/** A spend window: money spent, no cap, no percent, never low. */
function assertSpend(w, used, what) {
  assert.ok(w, `${what} window`)
  assert.equal(w.kind, 'amount', what)
  assert.equal(w.unit, 'USD', what)
  near(w.used, used, `${what} used`)
  assert.equal(w.total, 0, `${what}: no cap is made up`)
  assert.equal(w.unlimited, false, `${what}: spend is not "unlimited"`)
  assert.equal(w.level, 'ok', what)
  assert.equal(w.pace, undefined, `${what}: no pace without a cap`)
}

// ---- the four spend services: request and values ----

test('vercel-ai-gateway: GET /v1/credits with Bearer; the team balance and lifetime spend in dollars', async () => {
  const tracker = await fetched('vercel-ai-gateway')
  const e = tracker.get('vercel-ai-gateway')
  assertHealthy(e)
  const [r] = requestsOf('vercel-ai-gateway')
  assert.equal(r.method, 'GET')
  assert.equal(r.path, '/v1/credits')
  assert.equal(r.headers.authorization, `Bearer ${sb.tokens['vercel-ai-gateway']}`)
  const w = win(e, 'credits')
  assert.equal(w.kind, 'balance')
  assert.equal(w.unit, 'USD')
  near(w.remaining, 95.5, 'balance')
  near(w.used, 4.5, 'lifetime spend')
  assert.equal(fmt.formatFooterLine(tracker.entries(), {}), 'vercel $95.50')
  // A team in debt keeps its negative balance, read as used up.
  sb.setFixture('vercel-ai-gateway', { balance: '-3.25', total_used: '203.25' })
  await tracker.refresh()
  const neg = win(tracker.get('vercel-ai-gateway'), 'credits')
  near(neg.remaining, -3.25, 'negative balance')
  assert.equal(neg.level, 'exhausted')
  assertNoSecrets(tracker)
})

test('huggingface: the UTC month so far in epoch seconds; month spend without a cap and the included credit', async () => {
  const before = Date.now()
  const tracker = await fetched('huggingface')
  const e = tracker.get('huggingface')
  assertHealthy(e)
  const [r] = requestsOf('huggingface')
  assert.equal(r.headers.authorization, `Bearer ${sb.tokens.huggingface}`)
  const url = new URL(r.path, sb.url)
  assert.equal(url.pathname, '/api/settings/billing/usage-v2')
  const now = new Date(before)
  assert.equal(Number(url.searchParams.get('startDate')), Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1) / 1000)
  const end = Number(url.searchParams.get('endDate'))
  assert.ok(Math.abs(end - before / 1000) < 30, `endDate is now in seconds: ${end}`)
  const nextMonth = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1)
  const month = win(e, 'month')
  assertSpend(month, 2.45, 'month')
  assert.equal(month.resetsAt, nextMonth)
  const included = win(e, 'included')
  assert.equal(included.kind, 'amount')
  near(included.used, 2, 'included used')
  near(included.total, 2, 'included credit')
  assert.equal(included.level, 'exhausted', 'the included credit is spent')
  assert.equal(included.resetsAt, nextMonth)
  assert.match(fmt.formatFooterLine(tracker.entries(), {}), /^hf month \$2\.45( ↻\S+)? · included \$2\.00\/\$2\.00$/)
  assertNoSecrets(tracker)
})

test('fireworks: the account slug first, then 30 whole days ending tomorrow; spend added up per currency', async () => {
  const tracker = await fetched('fireworks')
  const e = tracker.get('fireworks')
  assertHealthy(e)
  const [accounts] = requestsOf('fireworks', 'accounts')
  assert.equal(accounts.path, '/v1/accounts')
  const [r] = requestsOf('fireworks')
  for (const x of [accounts, r]) assert.equal(x.headers.authorization, `Bearer ${sb.tokens.fireworks}`)
  const url = new URL(r.path, sb.url)
  assert.equal(url.pathname, `/v1/accounts/${FIREWORKS_ACCOUNT}/billing/summary`)
  const start = Date.parse(url.searchParams.get('startTime'))
  const end = Date.parse(url.searchParams.get('endTime'))
  assert.equal(end - start, 30 * 86_400_000)
  const d = new Date()
  assert.equal(end, Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1), 'endTime is tomorrow (exclusive)')
  assertSpend(win(e, '30d'), 1.525548296, '30d')
  assert.equal(fmt.formatFooterLine(tracker.entries(), {}), 'fireworks $1.53')
  // The account list is read once, not before every poll.
  await tracker.refresh()
  assert.equal(requestsOf('fireworks', 'accounts').length, 1)
  assert.equal(requestsOf('fireworks').length, 2)
})

test('fireworks: a key that sees several accounts is not guessed for', async () => {
  sb.setFixture('fireworks', { accounts: [{ name: 'accounts/a' }, { name: 'accounts/b' }] }, 'accounts')
  const tracker = await fetched('fireworks')
  const e = tracker.get('fireworks')
  assert.equal(e.error?.kind, 'provider')
  assert.match(e.error.message, /^fireworks: .*2 accounts/)
  assert.equal(requestsOf('fireworks').length, 0, 'no summary for a guessed account')
  assert.deepEqual(e.windows, [])
})

test('fireworks: a failed account read is asked again on the next fetch, not an hour later', async () => {
  sb.script('fireworks', { status: 503, endpoint: 'accounts' })
  const tracker = await fetched('fireworks')
  assert.ok(tracker.get('fireworks').error, 'no spend without the account')
  assert.equal(requestsOf('fireworks').length, 0)
  await tracker.refresh()
  assertHealthy(tracker.get('fireworks'))
  assert.equal(requestsOf('fireworks').length, 1, 'the summary follows the second account read')
  assert.ok(requestsOf('fireworks', 'accounts').length >= 2)
})

test('baseten: Api-Key over the trailing 30 days; the Model APIs spend after credits', async () => {
  const tracker = await fetched('baseten')
  const e = tracker.get('baseten')
  assertHealthy(e)
  const [r] = requestsOf('baseten')
  assert.equal(r.headers.authorization, `Api-Key ${sb.tokens.baseten}`)
  const url = new URL(r.path, sb.url)
  assert.equal(url.pathname, '/v1/billing/usage_summary')
  const start = Date.parse(url.searchParams.get('start_date'))
  const end = Date.parse(url.searchParams.get('end_date'))
  assert.equal(end - start, 30 * 86_400_000)
  assert.ok(Math.abs(end - Date.now()) < 30_000)
  // The docs' body has 123 everywhere; these values tell the sections apart.
  sb.setFixture('baseten', {
    dedicated_usage: { subtotal: 900, credits_used: 0, total: 900, minutes: 10, breakdown: [] },
    model_apis_usage: { subtotal: 14.5, credits_used: 2.25, total: 12.25, breakdown: [] },
  })
  await tracker.refresh()
  assertSpend(win(tracker.get('baseten'), '30d'), 12.25, '30d')
  assertNoSecrets(tracker)
})

// ---- errors: each class, for each of the four ----

const ERRORS = [
  { status: 401, kind: 'auth', says: /refused; check the key for \S+ in pi's auth\.json, or \$[A-Z_]+/ },
  { status: 403, kind: 'auth' },
  { status: 429, kind: 'rate_limited', headers: { 'retry-after': '120' } },
  { status: 500, kind: 'server' },
  { status: 503, kind: 'server' },
]

for (const id of SPEND_PROVIDER_IDS) {
  test(`${id}: 401, 403, 429, 5xx, malformed JSON and a 200 error body are errors that keep the last values`, async () => {
    const tracker = await fetched(id)
    assertHealthy(tracker.get(id))
    const good = JSON.stringify(tracker.get(id).windows.map((w) => [w.id, w.used, w.remaining]))
    for (const row of ERRORS) {
      sb.script(id, { status: row.status, headers: row.headers })
      await tracker.refresh(id)
      const e = tracker.get(id)
      assert.equal(e.error?.kind, row.kind, `${id} ${row.status}: ${JSON.stringify(e.error)}`)
      assert.ok(e.error.message.startsWith(`${id}:`), e.error.message)
      if (row.says) assert.match(e.error.message, row.says)
      if (id === 'huggingface' && row.status === 403) assert.match(e.error.message, /Billing read/)
      if (row.status === 429) {
        assert.ok(e.error.retryAt > Date.now() + 60_000, 'Retry-After is kept')
        break
      }
      assert.equal(JSON.stringify(e.windows.map((w) => [w.id, w.used, w.remaining])), good, `${id} ${row.status}: last values kept`)
    }
    // A fresh tracker for the body cases (the 429 holds the old one back).
    const t2 = newTracker()
    t2.registerBuiltinProvider(id, { baseUrl: sb.url, credentials: sb.credentials(id) })
    sb.script(id, { body: '{"balance": "1", "lineItems": [' })
    await t2.refresh()
    assert.equal(t2.get(id).error?.kind, 'parse', `${id} malformed: ${JSON.stringify(t2.get(id).error)}`)
    sb.script(id, { body: { error: { type: 'authentication_error', message: `bad key ${sb.tokens[id]}` } } })
    await t2.refresh()
    const err = t2.get(id).error
    assert.ok(err && ['auth', 'provider'].includes(err.kind), `${id} error body: ${JSON.stringify(err)}`)
    assert.ok(!err.message.includes(sb.tokens[id]), 'the echoed key is not repeated')
    sb.script(id, { body: { unexpected: true } })
    await t2.refresh()
    assert.equal(t2.get(id).error?.kind, id === 'baseten' ? undefined : 'parse', `${id} wrong shape: ${JSON.stringify(t2.get(id).error)}`)
    assertNoSecrets(tracker)
    assertNoSecrets(t2)
  })
}

test('a part that cannot be read is a warning on the provider, not a lost provider', async () => {
  sb.setFixture('vercel-ai-gateway', { balance: '12.00', total_used: 'n/a' })
  sb.setFixture('huggingface', { usage: { inferenceProviders: { usedNanoUsd: 1_500_000_000, includedNanoUsd: 'two dollars' } } })
  sb.setFixture('fireworks', { lineItems: [{ totalCost: { currencyCode: 'USD', units: '3', nanos: 0 } }, { totalCost: 'free' }] })
  sb.setFixture('baseten', { model_apis_usage: { subtotal: 8, credits_used: 1 } })
  const tracker = newTracker()
  for (const id of SPEND_PROVIDER_IDS) tracker.registerBuiltinProvider(id, { baseUrl: sb.url, credentials: sb.credentials(id) })
  await tracker.refresh()
  const expect = { 'vercel-ai-gateway': /total_used/, huggingface: /includedNanoUsd/, fireworks: /1 of 2 `lineItems`/, baseten: /before credits/ }
  for (const id of SPEND_PROVIDER_IDS) {
    const e = tracker.get(id)
    assertHealthy(e)
    assert.match((e.warnings ?? []).join('; '), expect[id], id)
  }
  near(win(tracker.get('huggingface'), 'month').used, 1.5, 'hf month')
  near(win(tracker.get('fireworks'), '30d').used, 3, 'fireworks 30d')
  near(win(tracker.get('baseten'), '30d').used, 8, 'baseten 30d')
})

// ---- credentials exactly as pi resolves them ----

async function discovered(ids) {
  const tracker = newTracker()
  for (const id of ids) tracker.registerBuiltinProvider(id, { baseUrl: sb.url })
  await tracker.refresh()
  return tracker
}

test('credentials: auth.json api_key entries (literal, $ENV, !command) reach each endpoint in its own form', async () => {
  const auth = {
    'vercel-ai-gateway': { type: 'api_key', key: sb.tokens['vercel-ai-gateway'] },
    huggingface: { type: 'api_key', key: '$PIUT_HF' },
    fireworks: { type: 'api_key', key: `!printf %s ${sb.tokens.fireworks}` },
    baseten: { type: 'api_key', key: '${OWN}', env: { OWN: sb.tokens.baseten } },
  }
  await withPiEnv(auth, { PIUT_HF: sb.tokens.huggingface }, async () => {
    const tracker = await discovered(SPEND_PROVIDER_IDS)
    for (const id of SPEND_PROVIDER_IDS) assertHealthy(tracker.get(id))
    assert.equal(requestsOf('huggingface')[0].headers.authorization, `Bearer ${sb.tokens.huggingface}`)
    assert.equal(requestsOf('baseten')[0].headers.authorization, `Api-Key ${sb.tokens.baseten}`)
    assertNoSecrets(tracker)
  })
})

test('credentials: the variable pi reads when auth.json has none; without either the provider stays quiet', async () => {
  const env = Object.fromEntries(SPEND_PROVIDER_IDS.map((id) => [PI_ENV[id], sb.tokens[id]]))
  await withPiEnv({}, env, async () => {
    const tracker = await discovered(SPEND_PROVIDER_IDS)
    for (const id of SPEND_PROVIDER_IDS) assertHealthy(tracker.get(id))
  })
  sb.reset()
  await withPiEnv({}, {}, async () => {
    const tracker = await discovered(SPEND_PROVIDER_IDS)
    for (const id of SPEND_PROVIDER_IDS) assert.equal(tracker.get(id)?.active ?? false, false, id)
    assert.equal(sb.requests.length, 0, 'nothing is asked without a key')
  })
})

// ---- header-only services ----

test('the addon says which built-ins are never polled', () => {
  const unpolled = BUILTIN_PROVIDERS.filter((p) => p.polled === false).map((p) => p.id)
  assert.deepEqual(unpolled.sort(), [...HEADER_ONLY_PROVIDER_IDS].sort())
  for (const id of SPEND_PROVIDER_IDS) assert.equal(BUILTIN_PROVIDERS.find((p) => p.id === id)?.polled, true, id)
})

test('header-only services: no request ever; the first response shows the daily windows, per-minute ones only in the view', async () => {
  const tracker = newTracker()
  for (const id of HEADER_ONLY_PROVIDER_IDS) tracker.registerBuiltinProvider(id, { baseUrl: sb.url, credentials: sb.credentials(id) })
  await tracker.refresh()
  assert.equal(sb.requests.length, 0, 'nothing to poll')
  for (const id of HEADER_ONLY_PROVIDER_IDS) assert.equal(tracker.get(id), null, `${id}: nothing known before traffic`)

  for (const id of HEADER_ONLY_PROVIDER_IDS) assert.equal(tracker.observeResponse(id, 200, rateLimitHeaders(id, 2)), true, id)
  const groq = tracker.get('groq')
  assertHealthy(groq)
  const day = win(groq, 'requests-day')
  assert.deepEqual([day.kind, day.unit, day.remaining, day.total, day.viewOnly], ['amount', 'requests', 14398, 14400, false])
  near(day.resetsAt - Date.now(), 179_560, 'requests-day reset', 5000)
  const tpm = win(groq, 'tokens-minute')
  assert.deepEqual([tpm.unit, tpm.remaining, tpm.total, tpm.viewOnly], ['tokens', 17760, 18000, true])
  const cerebras = tracker.get('cerebras')
  assert.deepEqual(cerebras.windows.map((w) => [w.id, w.remaining, w.viewOnly]), [['requests-day', 14394, false], ['tokens-minute', 58200, true]])
  assert.deepEqual(tracker.get('openai').windows.map((w) => [w.id, w.viewOnly]), [['requests-minute', true], ['tokens-minute', true]])
  assert.deepEqual(tracker.get('mistral').windows.map((w) => [w.id, w.viewOnly]), [['requests-minute', true], ['tokens-minute', true]])

  const footer = fmt.formatFooterLine(tracker.entries(), {})
  assert.match(footer, /groq 14398\/14400/)
  assert.match(footer, /cerebras 14394\/14400/)
  assert.doesNotMatch(footer, /tokens|openai|mistral|17760/, `per-minute windows stay out of the footer: ${footer}`)
  const view = renderView(tracker.entries(), { width: 120, now: Date.now() }).join('\n')
  assert.match(view, /requests-day .*14398\/14400 requests/)
  assert.match(view, /tokens-minute .*17760\/18000 tokens/)
  assert.match(view, /openai[\s\S]*requests-minute .*498\/500 requests/)

  // A 429 with the day used up: exhausted, and the tracker's check says so.
  tracker.observeResponse('groq', 429, { ...rateLimitHeaders('groq', 14400), 'retry-after': '180' })
  assert.equal(win(tracker.get('groq'), 'requests-day').level, 'exhausted')
  // Headers that say nothing leave the windows as they were.
  assert.equal(tracker.observeResponse('groq', 200, { 'x-ratelimit-limit-requests': 'many', 'content-type': 'text/event-stream' }), false)
  assert.equal(win(tracker.get('groq'), 'requests-day').remaining, 0)
  await tracker.refresh()
  assert.equal(sb.requests.length, 0, 'still never polled')
  assertNoSecrets(tracker)
})

test('fireworks reads its per-minute request headers on top of the polled spend', async () => {
  const tracker = await fetched('fireworks')
  tracker.observeResponse('fireworks', 200, { 'x-ratelimit-limit-requests': '600', 'x-ratelimit-remaining-requests': '599' })
  const e = tracker.get('fireworks')
  assert.deepEqual(e.windows.map((w) => [w.id, w.viewOnly]), [['30d', false], ['requests-minute', true]])
  assert.equal(fmt.formatFooterLine(tracker.entries(), {}), 'fireworks $1.53')
})

test("the README's table of pi 1.6 providers: 43 ids, each tracked one a built-in, header-only ones never polled", async () => {
  const { readFileSync } = await import('node:fs')
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')
  const block = readme.split('### Every pi 1.6 provider')[1]?.split('\n### ')[0] ?? ''
  const rows = [...block.matchAll(/^\| `([a-z0-9-]+)` \| (endpoint|headers|both|no) \|/gm)].map((m) => ({ id: m[1], how: m[2] }))
  assert.equal(rows.length, 43)
  assert.equal(new Set(rows.map((r) => r.id)).size, 43)
  const builtin = new Map(BUILTIN_PROVIDERS.map((p) => [p.id, p]))
  for (const r of rows) {
    if (r.how === 'no') assert.ok(!builtin.has(r.id), `${r.id} is listed as untracked but is a built-in`)
    else assert.ok(builtin.has(r.id), `${r.id} is listed as tracked but is not a built-in`)
    if (r.how === 'headers') assert.equal(builtin.get(r.id).polled, false, `${r.id}: header-only`)
    if (r.how === 'endpoint' || r.how === 'both') assert.equal(builtin.get(r.id).polled, true, `${r.id}: polled`)
  }
  const listed = new Set(rows.map((r) => r.id))
  const notPi = BUILTIN_PROVIDERS.map((p) => p.id).filter((id) => !listed.has(id))
  assert.deepEqual(notPi.sort(), ['google-antigravity', 'google-gemini-cli'], 'every other built-in is a pi 1.6 id in the table')
})
