// Loopback mock of the built-in providers' endpoints (the five original ones in PROVIDER_IDS,
// the pay-as-you-go and coding-plan services in MORE_PROVIDER_IDS), on one port bound to 127.0.0.1.
// It checks method, path, headers and token the way the real services do, serves the fixtures
// (timestamps shifted to "now"), and can be scripted to fail, delay or hang. No dependencies.
import http from 'node:http'
import { before, after, beforeEach } from 'node:test'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { createRequire } from 'node:module'

/** The instant the fixtures were written against; shifted to the real time when served. */
export const FIXTURE_NOW_MS = Date.parse('2026-11-23T19:00:00Z')

export const PROVIDER_IDS = ['anthropic', 'openai-codex', 'github-copilot', 'google-antigravity', 'google-gemini-cli']

/** Built-ins added later; kept apart so the suites written for the five keep meaning "the five". */
export const MORE_PROVIDER_IDS = ['zai', 'zai-coding-cn', 'kimi-coding', 'minimax', 'minimax-cn', 'openrouter', 'opencode-go', 'deepseek', 'moonshotai', 'moonshotai-cn', 'xai']
/** Spend and balance services added with issue 23; their routes check the real request shape. */
export const SPEND_PROVIDER_IDS = ['vercel-ai-gateway', 'huggingface', 'fireworks', 'baseten']
/** Built-ins with no usage endpoint: only the rate-limit headers of model responses (no route). */
export const HEADER_ONLY_PROVIDER_IDS = ['groq', 'cerebras', 'openai', 'mistral']
const ALL_IDS = [...PROVIDER_IDS, ...MORE_PROVIDER_IDS, ...SPEND_PROVIDER_IDS, ...HEADER_ONLY_PROVIDER_IDS]
/** The credential forms each built-in's usage endpoint accepts, as its wire states them
 *  (`BUILTIN_PROVIDERS[].auth`): the sandbox keeps no copy of that rule. */
const AUTH = Object.fromEntries(createRequire(import.meta.url)('../index.js').BUILTIN_PROVIDERS.map((p) => [p.id, p.auth]))
/** Those of them whose usage endpoint takes no OAuth login, only an API key. */
export const API_KEY_PROVIDER_IDS = ALL_IDS.filter((id) => AUTH[id] && !AUTH[id].oauthField)
/** The one account the sandbox's Fireworks key sees (GET /v1/accounts). */
export const FIREWORKS_ACCOUNT = 'test-fireworks-account'

export const DEFAULT_TOKENS = Object.freeze(Object.fromEntries(ALL_IDS.map((id) => [id, `test-${id}-token`])))
export const DEFAULT_ACCOUNT_ID = 'test-openai-codex-account'
export const DEFAULT_PROJECTS = Object.freeze({
  'google-antigravity': 'test-google-antigravity-project',
  'google-gemini-cli': 'test-google-gemini-cli-project',
})

const FIXTURE_FILES = {
  anthropic: 'anthropic-usage.json',
  'openai-codex': 'codex-usage.json',
  'github-copilot': 'copilot-user.json',
  'google-antigravity': 'antigravity-models.json',
  'google-gemini-cli': 'gemini-quota.json',
  zai: 'current/zai-quota-limit.json',
  'zai-coding-cn': 'current/zai-quota-limit.json',
  'kimi-coding': 'current/kimi-coding-usages.json',
  minimax: 'current/minimax-coding-plan-remains.json',
  'minimax-cn': 'current/minimax-coding-plan-remains.json',
  openrouter: 'current/openrouter-key.json',
  'opencode-go': 'current/opencode-go-usage.json',
  deepseek: 'current/deepseek-balance.json',
  moonshotai: 'current/moonshot-balance.json',
  'moonshotai-cn': 'current/moonshot-balance.json',
  xai: 'current/xai-grok-billing-credits.json',
  'vercel-ai-gateway': 'current/vercel-ai-gateway-credits.json',
  huggingface: 'current/huggingface-billing-usage.json',
  fireworks: 'current/fireworks-billing-summary.json',
  baseten: 'current/baseten-usage-summary.json',
}
// Second endpoints that serve a fixture of their own ("provider:endpoint").
const ENDPOINT_FIXTURE_FILES = {
  'xai:monthly': 'current/xai-grok-billing-monthly.json',
  'minimax:codingPlan': 'current/minimax-coding-plan-remains.json',
  'minimax:balance': 'minimax-query-balance.json',
  'minimax-cn:balance': 'minimax-query-balance.json',
}
/** The instant the fixtures under current/ were written against. */
export const CURRENT_FIXTURE_NOW_MS = Date.parse('2026-12-01T00:00:00Z')
const fixtureNowMs = (providerId) => (MORE_PROVIDER_IDS.includes(providerId) || SPEND_PROVIDER_IDS.includes(providerId) ? CURRENT_FIXTURE_NOW_MS : FIXTURE_NOW_MS)
const FIXTURE_DIR = fileURLToPath(new URL('../crates/usage-core/fixtures/', import.meta.url))

/** fixtures/current/ bodies of the five built-ins, by file name (without .json). */
export const CURRENT_FIXTURES = Object.freeze({
  'anthropic-usage-2026': 'anthropic',
  'codex-usage-2026': 'openai-codex',
  'codex-usage-2026-team-spend-control': 'openai-codex',
  'copilot-user-ai-credits': 'github-copilot',
  'copilot-user-business-placeholder': 'github-copilot',
  'copilot-user-free-legacy': 'github-copilot',
  'copilot-user-sentinel': 'github-copilot',
  'antigravity-quota-summary': 'google-antigravity',
})

// Route table: path -> { method, provider (null = decided by the token), endpoint name }.
// Codex also answers on /api/codex/usage: that is where a base URL without /backend-api points.
const ROUTES = {
  '/api/oauth/usage': { method: 'GET', providerId: 'anthropic', endpoint: 'usage' },
  '/backend-api/wham/usage': { method: 'GET', providerId: 'openai-codex', endpoint: 'usage' },
  '/api/codex/usage': { method: 'GET', providerId: 'openai-codex', endpoint: 'usage' },
  '/copilot_internal/user': { method: 'GET', providerId: 'github-copilot', endpoint: 'usage' },
  '/v1internal:fetchAvailableModels': { method: 'POST', providerId: 'google-antigravity', endpoint: 'usage' },
  '/v1internal:retrieveUserQuota': { method: 'POST', providerId: 'google-gemini-cli', endpoint: 'usage' },
  '/v1internal:loadCodeAssist': { method: 'POST', providerId: null, endpoint: 'loadCodeAssist' },
  // Hosts of two pi ids that share one path: the token says whose request it is.
  '/api/monitor/usage/quota/limit': { method: 'GET', providerId: null, candidates: ['zai', 'zai-coding-cn'], endpoint: 'usage' },
  '/coding/v1/usages': { method: 'GET', providerId: 'kimi-coding', endpoint: 'usage' },
  '/v1/token_plan/remains': { method: 'GET', providerId: null, candidates: ['minimax', 'minimax-cn'], endpoint: 'usage' },
  '/v1/api/openplatform/coding_plan/remains': { method: 'GET', providerId: null, candidates: ['minimax', 'minimax-cn'], endpoint: 'codingPlan' },
  // A pay-as-you-go (sk-api-) key's balance on either MiniMax host.
  '/account/query_balance': { method: 'GET', providerId: null, candidates: ['minimax', 'minimax-cn'], endpoint: 'balance' },
  '/api/v1/key': { method: 'GET', providerId: 'openrouter', endpoint: 'usage' },
  '/zen/go/v1/usage': { method: 'GET', providerId: 'opencode-go', endpoint: 'usage' },
  '/user/balance': { method: 'GET', providerId: 'deepseek', endpoint: 'usage' },
  '/v1/users/me/balance': { method: 'GET', providerId: null, candidates: ['moonshotai', 'moonshotai-cn'], endpoint: 'usage' },
  // ?format=credits is the usage form; without it the monthly (unified billing) form answers.
  '/v1/billing': { method: 'GET', providerId: 'xai', endpoint: (url) => (url.searchParams.get('format') === 'credits' ? 'usage' : 'monthly') },
  // Antigravity's quota summary: answered only when a test sets a body for it (setFixture(…,
  // 'summary') or serveCurrent); otherwise 404, and the client falls back to the models.
  '/v1internal:retrieveUserQuotaSummary': { method: 'POST', providerId: 'google-antigravity', endpoint: 'summary' },
  '/v1/credits': { method: 'GET', providerId: 'vercel-ai-gateway', endpoint: 'usage' },
  '/api/settings/billing/usage-v2': { method: 'GET', providerId: 'huggingface', endpoint: 'usage' },
  '/v1/accounts': { method: 'GET', providerId: 'fireworks', endpoint: 'accounts' },
  '/v1/billing/usage_summary': { method: 'GET', providerId: 'baseten', endpoint: 'usage' },
}
// Routes with a path parameter: Fireworks' summary names the account in its path.
const PATTERN_ROUTES = [{ re: /^\/v1\/accounts\/([^/]+)\/billing\/summary$/, method: 'GET', providerId: 'fireworks', endpoint: 'usage' }]

/** OpenAI-style rate-limit headers as each header-only service sends them with a model
 *  response, `step` requests into the day (Groq: bare requests per day, tokens per minute, Go
 *  durations; Cerebras: the period in the name, resets in seconds; OpenAI: bare names per
 *  minute; Mistral: `req-minute` and `tokens-minute`). Values follow the services' docs. */
export function rateLimitHeaders(providerId, step = 1) {
  if (providerId === 'groq') {
    return {
      'x-ratelimit-limit-requests': '14400', 'x-ratelimit-remaining-requests': String(14400 - step),
      'x-ratelimit-reset-requests': '2m59.56s',
      'x-ratelimit-limit-tokens': '18000', 'x-ratelimit-remaining-tokens': String(18000 - 120 * step),
      'x-ratelimit-reset-tokens': '7.66s',
    }
  }
  if (providerId === 'cerebras') {
    return {
      'x-ratelimit-limit-requests-day': '14400', 'x-ratelimit-remaining-requests-day': String(14400 - 3 * step),
      'x-ratelimit-reset-requests-day': '33011.382867097855',
      'x-ratelimit-limit-tokens-minute': '60000', 'x-ratelimit-remaining-tokens-minute': String(60000 - 900 * step),
      'x-ratelimit-reset-tokens-minute': '11.382867097855',
    }
  }
  if (providerId === 'openai') {
    return {
      'x-ratelimit-limit-requests': '500', 'x-ratelimit-remaining-requests': String(500 - step),
      'x-ratelimit-reset-requests': '120ms',
      'x-ratelimit-limit-tokens': '30000', 'x-ratelimit-remaining-tokens': String(30000 - 700 * step),
      'x-ratelimit-reset-tokens': '1.4s',
    }
  }
  if (providerId === 'mistral') {
    return {
      'x-ratelimit-limit-req-minute': '120', 'x-ratelimit-remaining-req-minute': String(120 - step),
      'x-ratelimit-limit-tokens-minute': '60000', 'x-ratelimit-remaining-tokens-minute': String(60000 - 500 * step),
    }
  }
  throw new Error(`no rate-limit headers for ${providerId}`)
}

/** A fresh, unshifted copy of a provider's fixture body. */
export function loadFixture(providerId, endpoint = 'usage') {
  const file = endpoint === 'usage' ? FIXTURE_FILES[providerId] : ENDPOINT_FIXTURE_FILES[`${providerId}:${endpoint}`]
  if (!file) throw new Error(`unknown provider ${providerId}`)
  return JSON.parse(readFileSync(FIXTURE_DIR + file, 'utf8'))
}

/** A fresh, unshifted copy of a late-2026 fixture (a key of CURRENT_FIXTURES). */
export function loadCurrentFixture(name) {
  if (!(name in CURRENT_FIXTURES)) throw new Error(`unknown current fixture ${name}`)
  return JSON.parse(readFileSync(`${FIXTURE_DIR}current/${name}.json`, 'utf8'))
}

/** Offset added to fixture times when served at nowMs; whole seconds, so every
 *  fractional part (anthropic's microseconds) and codex's epoch seconds stay exact. */
export function timeShiftMs(nowMs = Date.now(), fixtureNow = FIXTURE_NOW_MS) {
  return Math.floor(nowMs / 1000) * 1000 - fixtureNow
}

// Fields holding epoch milliseconds (z.ai, MiniMax); `remains_time` is relative and stays.
const EPOCH_MS_KEYS = new Set(['nextResetTime', 'start_time', 'end_time', 'weekly_start_time', 'weekly_end_time'])

const ISO_RE = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$/

// Shift one ISO 8601 string by whole seconds, keeping its exact format (fraction digits, offset style).
function shiftIso(s, deltaMs) {
  const m = ISO_RE.exec(s)
  if (!m) return s
  const [, wall, frac = '', zone] = m
  const offsetMin = zone === 'Z' ? 0 : (zone[0] === '-' ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6)))
  const instant = Date.parse(wall + 'Z') - offsetMin * 60000 + deltaMs
  const shiftedWall = new Date(instant + offsetMin * 60000).toISOString().slice(0, 19)
  return shiftedWall + frac + zone
}

function shiftDeep(value, deltaMs, key) {
  if (typeof value === 'string') return shiftIso(value, deltaMs)
  // codex: reset_at is epoch seconds
  if (typeof value === 'number' && key === 'reset_at') return value + deltaMs / 1000
  if (typeof value === 'number' && EPOCH_MS_KEYS.has(key)) return value + deltaMs
  if (Array.isArray(value)) return value.map((v) => shiftDeep(v, deltaMs))
  if (value && typeof value === 'object') {
    const out = {}
    for (const [k, v] of Object.entries(value)) out[k] = shiftDeep(v, deltaMs, k)
    return out
  }
  return value
}

/** Copilot's monthly reset: the next 1st of the month 00:00 UTC, as the real service does. */
function copilotMonthlyReset(out, nowMs) {
  if (!out || typeof out !== 'object') return out
  const d = new Date(nowMs)
  const next = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1))
  if ('quota_reset_date_utc' in out) out.quota_reset_date_utc = next.toISOString()
  if ('quota_reset_date' in out) out.quota_reset_date = next.toISOString().slice(0, 10)
  return out
}

/** body with every timestamp moved so FIXTURE_NOW_MS lands on nowMs. Copilot's monthly
 *  reset is set to the next 1st of the month 00:00 UTC instead, as the real service does.
 *  Anthropic: the old fixture's account never switched extra usage on, which now reads as
 *  an exhausted `extra` window (pi's Claude calls are billed there); the default account
 *  has it on ($12.50 of $50) so every suite sees a healthy Claude account.
 *  `loadFixture('anthropic')` is the untouched body. */
export function shiftFixture(providerId, body, nowMs = Date.now()) {
  const out = shiftDeep(body, timeShiftMs(nowMs, fixtureNowMs(providerId)))
  if (providerId === 'github-copilot') copilotMonthlyReset(out, nowMs)
  if (providerId === 'anthropic' && out?.extra_usage?.is_enabled === false && out.extra_usage.monthly_limit == null) {
    out.extra_usage = { is_enabled: true, monthly_limit: 5000, used_credits: 1250, utilization: 25.0, currency: 'USD', decimal_places: 2, disabled_reason: null }
  }
  return out
}

/** A late-2026 fixture as served at nowMs: times moved so CURRENT_FIXTURE_NOW_MS lands on
 *  nowMs (whole seconds; Copilot's free-tier reset date by whole days), Copilot's monthly
 *  reset on the next 1st. */
export function currentFixture(name, nowMs = Date.now()) {
  const delta = Math.floor(nowMs / 1000) * 1000 - CURRENT_FIXTURE_NOW_MS
  const out = shiftDeep(loadCurrentFixture(name), delta)
  if (CURRENT_FIXTURES[name] === 'github-copilot') {
    copilotMonthlyReset(out, nowMs)
    if (typeof out.limited_user_reset_date === 'string') {
      out.limited_user_reset_date = new Date(Date.parse(`${out.limited_user_reset_date}T00:00:00Z`) + delta).toISOString().slice(0, 10)
    }
  }
  return out
}

// wrap x into [lo, hi) so drifting values cycle instead of running off
const wrap = (x, lo, hi) => lo + ((((x - lo) % (hi - lo)) + (hi - lo)) % (hi - lo))
const round3 = (x) => Math.round(x * 1000) / 1000

/** The fixture as served at nowMs, with usage moved `step` steps along (for the demo). */
export function drift(providerId, step, nowMs = Date.now()) {
  const b = shiftFixture(providerId, loadFixture(providerId), nowMs)
  if (providerId === 'anthropic') {
    const bump = { five_hour: 4, seven_day: 1, seven_day_opus: 2, seven_day_omelette: 1 }
    for (const [k, per] of Object.entries(bump)) if (b[k]) b[k].utilization = wrap(b[k].utilization + per * step, 0, 100)
    for (const l of b.limits ?? []) {
      const src = { session: 'five_hour', weekly_all: 'seven_day', weekly_scoped: 'seven_day_opus' }[l.kind]
      if (src && b[src]) l.percent = b[src].utilization
    }
  } else if (providerId === 'openai-codex') {
    const rl = b.rate_limit
    if (rl.primary_window) rl.primary_window.used_percent = wrap(rl.primary_window.used_percent + 5 * step, 0, 100)
    if (rl.secondary_window) rl.secondary_window.used_percent = wrap(rl.secondary_window.used_percent + step, 0, 100)
  } else if (providerId === 'github-copilot') {
    const p = b.quota_snapshots.premium_interactions
    p.remaining = wrap(p.remaining - 9 * step, -30, p.entitlement) // negative = overage, as the real API reports
    p.quota_remaining = p.remaining
    p.percent_remaining = Math.round(Math.max(0, p.remaining / p.entitlement) * 1000) / 10
    p.overage_count = Math.max(0, -p.remaining)
  } else if (providerId === 'google-antigravity') {
    for (const m of Object.values(b.models)) {
      const q = m.quotaInfo
      if (q && typeof q.remainingFraction === 'number') q.remainingFraction = round3(wrap(q.remainingFraction - 0.05 * step, 0, 1.0001))
    }
  } else if (providerId === 'google-gemini-cli') {
    for (const bucket of b.buckets) {
      const limit = Math.round(Number(bucket.remainingAmount) / bucket.remainingFraction)
      bucket.remainingFraction = round3(wrap(bucket.remainingFraction - 0.03 * step, 0, 1.0001))
      bucket.remainingAmount = String(Math.round(limit * bucket.remainingFraction))
    }
  }
  return b
}

// Realistic loadCodeAssist answers (tier + project) per Google provider.
function defaultLoadCodeAssist(providerId, project) {
  const free = { id: 'free-tier', name: 'Gemini Code Assist for individuals', description: 'Free tier', userDefinedCloudaicompanionProject: false }
  const standard = { id: 'standard-tier', name: 'Gemini Code Assist', description: 'Standard tier', userDefinedCloudaicompanionProject: true }
  if (providerId === 'google-antigravity') {
    return { currentTier: standard, paidTier: { id: 'g1-pro-tier', name: 'Google AI Pro' }, allowedTiers: [{ ...standard, isDefault: true }], cloudaicompanionProject: project, gcpManaged: false }
  }
  return { currentTier: free, allowedTiers: [{ ...free, isDefault: true }, standard], cloudaicompanionProject: project, gcpManaged: false }
}

// Error bodies in each service's own style.
function errorBody(providerId, status, message) {
  if (providerId === 'anthropic') {
    const type = status === 401 ? 'authentication_error' : status === 429 ? 'rate_limit_error' : status === 403 ? 'permission_error' : 'api_error'
    return { type: 'error', error: { type, message } }
  }
  if (providerId === 'github-copilot') return { message, documentation_url: 'https://docs.github.com/rest', status: String(status) }
  if (providerId === 'google-antigravity' || providerId === 'google-gemini-cli') {
    const s = { 400: 'INVALID_ARGUMENT', 401: 'UNAUTHENTICATED', 403: 'PERMISSION_DENIED', 404: 'NOT_FOUND', 429: 'RESOURCE_EXHAUSTED' }[status] ?? 'INTERNAL'
    return { error: { code: status, message, status: s } }
  }
  if (providerId === 'openai-codex') return { detail: message }
  if (providerId === 'zai' || providerId === 'zai-coding-cn') return { code: status, msg: message, success: false }
  if (providerId === 'minimax' || providerId === 'minimax-cn') return { base_resp: { status_code: status, status_msg: message } }
  if (['kimi-coding', 'moonshotai', 'moonshotai-cn', 'deepseek'].includes(providerId)) {
    const type = status === 401 ? 'invalid_authentication_error' : status === 429 ? 'rate_limit_reached_error' : status === 403 ? 'permission_denied_error' : 'server_error'
    return { error: { message, type } }
  }
  if (providerId === 'openrouter') return { error: { code: status, message } }
  if (providerId === 'vercel-ai-gateway') {
    const type = status === 401 ? 'authentication_error' : status === 429 ? 'rate_limit_exceeded' : status === 403 ? 'permission_error' : 'internal_server_error'
    return { error: { type, message } }
  }
  if (providerId === 'fireworks') return { error: { code: status, message } }
  return { error: message }
}

const DAY_MS = 86_400_000
const isoMs = (v) => (typeof v === 'string' && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/.test(v) ? Date.parse(v) : NaN)

// The four spend services, checked like the real ones: the credential in the form each takes,
// and the query each needs (Hugging Face: epoch SECONDS, milliseconds get HTTP 500; Fireworks:
// the account of the key, an ISO range; Baseten: an ISO range of at most 31 days).
function validateSpend(providerId, endpoint, auth, token, url, err) {
  const q = url.searchParams
  if (providerId === 'baseten') {
    // every version of Baseten's docs accepts `Api-Key`; current ones take Bearer too
    if (auth !== `Api-Key ${token}` && auth !== `Bearer ${token}`) return err(401, 'Invalid API key')
    const start = isoMs(q.get('start_date'))
    const end = isoMs(q.get('end_date'))
    if (!(start <= end)) return err(400, 'start_date and end_date must be ISO 8601 UTC, start before end')
    if (end - start > 31 * DAY_MS) return err(400, 'the range may span at most 31 days')
    return null
  }
  if (auth !== `Bearer ${token}`) return err(401, providerId === 'vercel-ai-gateway' ? 'Invalid API key' : 'Invalid credentials in Authorization header')
  if (providerId === 'huggingface') {
    const start = Number(q.get('startDate'))
    const end = Number(q.get('endDate'))
    if (!Number.isInteger(start) || !Number.isInteger(end) || start > end) return err(400, 'startDate and endDate are required')
    if (end > 1e11) return err(500, 'Internal Error')
    return null
  }
  if (providerId === 'fireworks' && endpoint === 'usage') {
    if (url.pathParam !== FIREWORKS_ACCOUNT) return err(404, `account "${url.pathParam}" not found`)
    const start = isoMs(q.get('startTime'))
    const end = isoMs(q.get('endTime'))
    if (!(start < end)) return err(400, 'startTime and endTime must be RFC 3339, start before end')
  }
  return null
}

const lowerKeys = (o) => Object.fromEntries(Object.entries(o ?? {}).map(([k, v]) => [k.toLowerCase(), v]))

/**
 * Start the sandbox. Options: { port = 0, tokens = {}, accountId, projects = {}, shiftTimes = true }.
 * Scripts and the request counter apply to a provider's usage endpoint unless `endpoint:
 * 'loadCodeAssist'` is given (the two Google providers also answer POST /v1internal:loadCodeAssist).
 */
export async function startSandbox(opts = {}) {
  const tokens = { ...DEFAULT_TOKENS, ...opts.tokens }
  const accountId = opts.accountId ?? DEFAULT_ACCOUNT_ID
  const projects = { ...DEFAULT_PROJECTS, ...opts.projects }
  const shiftTimes = opts.shiftTimes !== false

  const fixtures = new Map() // `${providerId}:${endpoint}` -> body set by setFixture
  const scripts = new Map() // same key -> [{ ...override, left }]
  const requests = []
  const sockets = new Set()
  const timers = new Set()

  const keyOf = (providerId, endpoint = 'usage') => `${providerId}:${endpoint}`
  const checkProvider = (id) => {
    if (!ALL_IDS.includes(id)) throw new Error(`unknown provider ${id}`)
  }

  function servedBody(providerId, endpoint = 'usage') {
    const custom = fixtures.get(keyOf(providerId, endpoint))
    if (custom !== undefined) return structuredClone(custom)
    if (endpoint === 'loadCodeAssist') return defaultLoadCodeAssist(providerId, projects[providerId])
    if (endpoint === 'summary') return undefined
    if (endpoint === 'accounts') return { accounts: [{ name: `accounts/${FIREWORKS_ACCOUNT}`, displayName: 'Test Fireworks account', state: 'READY' }] }
    const raw = loadFixture(providerId, endpoint)
    return shiftTimes ? shiftFixture(providerId, raw) : raw
  }

  // Validate a request like the real service. Returns null when valid, else the error response.
  function validate(providerId, endpoint, h, body, url) {
    const auth = h.authorization ?? ''
    const token = tokens[providerId]
    const err = (status, message, headers) => ({ status, body: errorBody(providerId, status, message), headers })
    if (providerId === 'anthropic') {
      if (auth !== `Bearer ${token}`) return err(401, 'OAuth token has expired or is invalid.')
      const betas = String(h['anthropic-beta'] ?? '').split(',').map((s) => s.trim())
      if (!betas.includes('oauth-2025-04-20')) return err(401, 'OAuth authentication is currently not supported.')
      // The real endpoint rate-limits clients that do not look like Claude Code, with retry-after: 0.
      if (!String(h['user-agent'] ?? '').startsWith('claude-code/')) return err(429, 'Rate limited. Please try again later.', { 'retry-after': '0' })
      return null
    }
    if (providerId === 'openai-codex') {
      if (auth !== `Bearer ${token}`) return err(401, 'Could not parse your authentication token. Please try signing in again.')
      if (h['chatgpt-account-id'] !== accountId) return err(403, 'You do not have access to this account.')
      return null
    }
    if (providerId === 'github-copilot') {
      // the usage endpoint wants the GitHub OAuth token with the `token` scheme, not Bearer
      if (auth !== `token ${token}`) return err(401, 'Bad credentials')
      return null
    }
    const bearer = auth === `Bearer ${token}`
    if (providerId === 'zai' || providerId === 'zai-coding-cn') {
      // the raw key: the form both hosts take (only BigModel is known to take Bearer too)
      if (auth !== token) return err(401, 'token expired or incorrect')
      return null
    }
    if (providerId === 'minimax' || providerId === 'minimax-cn') {
      // MiniMax answers a refused key with HTTP 200 and a non-zero base_resp.status_code;
      // the China host refuses every key on the older coding_plan path.
      if (!bearer || (providerId === 'minimax-cn' && endpoint === 'codingPlan')) return { status: 200, body: { base_resp: { status_code: 1004, status_msg: 'login fail' } } }
      return null
    }
    if (providerId === 'opencode-go') {
      if (!bearer) return err(401, 'Invalid API key.')
      if (!h['x-opencode-session']) return err(400, 'x-opencode-session header is required')
      return null
    }
    if (MORE_PROVIDER_IDS.includes(providerId)) {
      if (!bearer) return err(401, 'Invalid Authentication')
      return null
    }
    if (SPEND_PROVIDER_IDS.includes(providerId)) return validateSpend(providerId, endpoint, auth, token, url, err)
    // Google providers (usage or loadCodeAssist)
    if (auth !== `Bearer ${token}`) return err(401, 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.')
    let parsed
    try {
      parsed = JSON.parse(body || 'null')
    } catch {
      return err(400, 'Invalid JSON payload received.')
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return err(400, 'Invalid JSON payload received.')
    if (endpoint === 'usage') {
      if (parsed.project === undefined) return err(400, 'Request contains an invalid argument: project is required.')
      if (parsed.project !== projects[providerId]) return err(403, 'The caller does not have permission')
    }
    return null
  }

  function later(ms, fn) {
    const t = setTimeout(() => {
      timers.delete(t)
      fn()
    }, ms)
    timers.add(t)
  }

  function send(res, status, body, headers = {}) {
    const text = typeof body === 'string' ? body : JSON.stringify(body)
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers })
    res.end(text)
  }

  function handle(req, res, rawBody) {
    const url = new URL(req.url, 'http://127.0.0.1')
    let route = ROUTES[url.pathname]
    let pathParam = null
    for (const r of route ? [] : PATTERN_ROUTES) {
      const m = r.re.exec(url.pathname)
      if (m) {
        route = r
        pathParam = decodeURIComponent(m[1])
      }
    }
    url.pathParam = pathParam
    const routeEndpoint = typeof route?.endpoint === 'function' ? route.endpoint(url) : route?.endpoint
    const entry = { providerId: route?.providerId ?? null, endpoint: routeEndpoint ?? null, method: req.method, path: req.url, headers: { ...req.headers }, body: rawBody, at: Date.now(), status: 0 }
    requests.push(entry)
    const reply = (status, body, headers) => {
      entry.status = status
      send(res, status, body, headers)
    }
    if (!route) return reply(404, { error: 'not found', path: url.pathname })
    if (req.method !== route.method) return reply(405, { error: 'method not allowed' }, { allow: route.method })

    let providerId = route.providerId
    if (!providerId) {
      // loadCodeAssist is shared by both Google providers: the token says whose request it is
      const auth = req.headers.authorization ?? ''
      const candidates = route.candidates ?? ['google-antigravity', 'google-gemini-cli']
      providerId = candidates.find((id) => auth === `Bearer ${tokens[id]}` || auth === tokens[id]) ?? null
      entry.providerId = providerId
      if (!providerId && route.candidates) {
        const refused = validate(candidates[0], routeEndpoint, req.headers, rawBody, url)
        return reply(refused.status, refused.body, refused.headers)
      }
      if (!providerId) return reply(401, errorBody('google-gemini-cli', 401, 'Request had invalid authentication credentials.'))
    }

    const invalid = validate(providerId, routeEndpoint, req.headers, rawBody, url)
    if (invalid) return reply(invalid.status, invalid.body, invalid.headers)

    // A scripted override is used only by a request the real service would have accepted,
    // so a test cannot pass because the client sent something wrong.
    const queue = scripts.get(keyOf(providerId, routeEndpoint))
    let s = null
    if (queue?.length) {
      s = queue[0]
      if (--s.left <= 0) queue.shift()
    }
    const respond = () => {
      if (s?.drop) {
        entry.status = -1
        return req.socket.destroy()
      }
      const status = s?.status ?? 200
      let body = s && 'body' in s ? s.body : undefined
      if (body === undefined && status === 200) {
        body = servedBody(providerId, routeEndpoint)
        if (body === undefined) return reply(404, errorBody(providerId, 404, 'Requested entity was not found.'))
      }
      if (body === undefined) body = errorBody(providerId, status, http.STATUS_CODES[status] ?? 'error')
      const headers = lowerKeys(s?.headers)
      if (s?.hang === 'body') {
        // headers and half the body go out, then the response never finishes
        entry.status = status
        const text = typeof body === 'string' ? body : JSON.stringify(body)
        res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(text) + 1), ...headers })
        res.write(text.slice(0, Math.floor(text.length / 2)))
        return
      }
      if (s?.hang) {
        entry.status = -1 // never answered
        return
      }
      reply(status, body, headers)
    }
    if (s?.delayMs > 0) later(s.delayMs, () => !res.destroyed && respond())
    else respond()
  }

  const server = http.createServer((req, res) => {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => handle(req, res, Buffer.concat(chunks).toString('utf8')))
  })
  server.on('connection', (sock) => {
    sockets.add(sock)
    sock.on('close', () => sockets.delete(sock))
  })
  await new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port ?? 0, '127.0.0.1', resolve)
  })
  const url = `http://127.0.0.1:${server.address().port}`

  return {
    url,
    port: server.address().port,
    tokens,
    accountId,
    projects,
    requests,

    /** Credentials to pass as registerBuiltinProvider(id, { credentials }). */
    credentials(providerId) {
      checkProvider(providerId)
      const c = { accessToken: tokens[providerId] }
      if (API_KEY_PROVIDER_IDS.includes(providerId)) c.kind = 'api_key'
      if (providerId === 'openai-codex') c.accountId = accountId
      if (projects[providerId]) c.projectId = projects[providerId]
      return c
    },

    /** pi's auth.json content for the five original providers (copilot's `access` is the short-lived
     *  Copilot token, which the usage endpoint rejects; `refresh` is the GitHub token it wants). */
    authJson() {
      const expires = Date.now() + 3600_000
      // The token goes in the field the wire reads (AUTH[id].oauthField); the other is a decoy.
      const oauth = (id, extra) => ({ type: 'oauth', access: `test-${id}-access`, refresh: `test-${id}-refresh`, expires, ...extra, [AUTH[id].oauthField]: tokens[id] })
      return {
        anthropic: oauth('anthropic'),
        'openai-codex': oauth('openai-codex', { accountId }),
        'github-copilot': oauth('github-copilot', { access: `tid=test-copilot-session;exp=${Math.floor(expires / 1000)};sku=plus_monthly_subscriber_quota` }),
        'google-antigravity': oauth('google-antigravity', { projectId: projects['google-antigravity'], email: 'test@example.com' }),
        'google-gemini-cli': oauth('google-gemini-cli', { projectId: projects['google-gemini-cli'], email: 'test@example.com' }),
      }
    },

    /** Queue an override for the next `times` valid requests (default 1; Infinity = until reset).
     *  { status?, body?: string (raw) | object (JSON), headers?, delayMs?, hang?: true | 'body',
     *    drop?: true (destroy the socket), times?,
     *    endpoint?: 'usage' | 'loadCodeAssist' | 'codingPlan' | 'balance' (MiniMax) | 'monthly' (xAI) } */
    script(providerId, override = {}) {
      checkProvider(providerId)
      const key = keyOf(providerId, override.endpoint)
      if (!scripts.has(key)) scripts.set(key, [])
      scripts.get(key).push({ ...override, left: override.times ?? 1 })
    },

    /** Replace the body served with status 200 (served as given, not time-shifted); null restores the fixture. */
    setFixture(providerId, body, endpoint = 'usage') {
      checkProvider(providerId)
      if (body == null) fixtures.delete(keyOf(providerId, endpoint))
      else fixtures.set(keyOf(providerId, endpoint), structuredClone(body))
    },

    /** Serve a late-2026 fixture (a key of CURRENT_FIXTURES), time-shifted to now, on the
     *  endpoint that returns it (the quota summary for Antigravity); reset() or
     *  setFixture(id, null, endpoint) restores the default. */
    serveCurrent(name) {
      const providerId = CURRENT_FIXTURES[name]
      if (!providerId) throw new Error(`unknown current fixture ${name}`)
      const endpoint = providerId === 'google-antigravity' ? 'summary' : 'usage'
      fixtures.set(keyOf(providerId, endpoint), currentFixture(name))
    },

    /** The body a valid request would get right now (a copy). */
    fixture(providerId, endpoint = 'usage') {
      checkProvider(providerId)
      return servedBody(providerId, endpoint)
    },

    /** Requests that reached a provider's endpoint (any status); endpoint 'all' counts both Google endpoints. */
    count(providerId, endpoint = 'usage') {
      return requests.filter((r) => r.providerId === providerId && (endpoint === 'all' || r.endpoint === endpoint)).length
    },

    /** Forget scripts, custom fixtures and the request log. */
    reset() {
      scripts.clear()
      fixtures.clear()
      requests.length = 0
    },

    /** Stop listening; hung and keep-alive sockets are destroyed so this never waits on them. */
    close() {
      for (const t of timers) clearTimeout(t)
      timers.clear()
      return new Promise((resolve) => {
        server.close(() => resolve())
        for (const s of sockets) s.destroy()
      })
    },
  }
}

/**
 * A second loopback listener that records every request it gets (method, url, headers, body)
 * and answers `status` with `body`: the "other host" of redirect and proxy tests. `url`
 * addresses it as `localhost`, a different origin from the sandbox's 127.0.0.1 (a non-loopback
 * host is never contacted by a test).
 */
export async function startRecorder({ status = 200, body = '{}' } = {}) {
  const requests = []
  const sockets = new Set()
  const server = http.createServer((req, res) => {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => {
      requests.push({ method: req.method, url: req.url, headers: { ...req.headers }, body: Buffer.concat(chunks).toString('utf8') })
      res.writeHead(status, { 'content-type': 'application/json' })
      res.end(typeof body === 'string' ? body : JSON.stringify(body))
    })
  })
  // A proxy is asked with CONNECT for https; record that too.
  server.on('connect', (req, sock) => {
    requests.push({ method: req.method, url: req.url, headers: { ...req.headers }, body: '' })
    sock.destroy()
  })
  server.on('connection', (sock) => {
    sockets.add(sock)
    sock.on('close', () => sockets.delete(sock))
  })
  await new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  const port = server.address().port
  return {
    port,
    url: `http://localhost:${port}`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve())
        for (const s of sockets) s.destroy()
      }),
  }
}

/**
 * One sandbox for a spec file, started before its tests, reset before each and closed after
 * all (node:test hooks). Returns a stand-in that forwards to the running sandbox, so specs
 * write `sb.url` as if they held it.
 */
export function useSandbox(opts = {}, { resetEach = true } = {}) {
  let running
  before(async () => {
    running = await startSandbox(opts)
  })
  after(async () => {
    await running?.close()
  })
  if (resetEach) beforeEach(() => running?.reset())
  return new Proxy({}, {
    get(_, prop) {
      if (!running) throw new Error(`the sandbox is not running yet (reading ${String(prop)})`)
      const v = running[prop]
      return typeof v === 'function' ? v.bind(running) : v
    },
    set(_, prop, value) {
      running[prop] = value
      return true
    },
  })
}
