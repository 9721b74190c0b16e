// Rules the addon publishes as data and the JS side only reads: a window's model scope (set by
// the wire or a JS strategy), the marker of a per-model view of a shared pool, status and
// billing as closed sets, and provider labels and order from the provider table.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { useSandbox } from './sandbox.mjs'

const require = createRequire(import.meta.url)
const { UsageTracker, BUILTIN_PROVIDERS } = require('../index.js')
const fmt = require('../lib/format.js')

const sb = useSandbox({}, { resetEach: false })

function tracker() {
  return new UsageTracker({ cachePath: null, requestTimeoutMs: 2000 })
}

test('a JS strategy window marked with a scope governs only the models that name it', async () => {
  const t = tracker()
  t.registerProvider({
    id: 'p',
    quotas: [{ id: 'day', percentageOnly: true }, { id: 'turbo-cap', percentageOnly: true }],
    fetchUsage: () => [
      { id: 'day', usedRatio: 0.2 },
      { id: 'turbo-cap', usedRatio: 1, scope: 'Turbo' },
    ],
  })
  await t.refresh()
  const turboWindow = t.get('p').windows.find((w) => w.id === 'turbo-cap')
  assert.equal(turboWindow.scope, 'Turbo', 'the mark is published with the window')
  assert.equal(t.get('p').windows.find((w) => w.id === 'day').scope, undefined)

  const plain = t.checkQuota('p', 'fast-1')
  assert.deepEqual([plain.decision, plain.windowId], ['proceed', 'day'], 'another model is not held by the cap')
  const turbo = t.checkQuota('p', 'my-turbo-2')
  assert.deepEqual([turbo.decision, turbo.windowId], ['exhausted', 'turbo-cap'])
  assert.equal(t.checkQuota('p').decision, 'proceed', 'the provider as a whole is not held by one model')
})

test('an empty scope is refused by name and the store keeps nothing from that answer', async () => {
  const t = tracker()
  t.registerProvider({
    id: 'p',
    quotas: [{ id: 'cap', percentageOnly: true }],
    fetchUsage: () => [{ id: 'cap', usedRatio: 0.5, scope: '' }],
  })
  await t.refresh()
  const e = t.get('p')
  assert.equal(e.windows.length, 0)
  assert.match(e.error.message, /snapshot 0 \(id 'cap'\): `scope` is empty/)
})

test("Claude's per-model weekly cap is scoped by its wire: a full Opus cap holds back Opus only", async () => {
  const t = tracker()
  t.registerBuiltinProvider('anthropic', { baseUrl: sb.url, credentials: sb.credentials('anthropic') })
  const iso = new Date(Date.now() + 3 * 86400_000).toISOString()
  sb.setFixture('anthropic', {
    five_hour: { utilization: 10, resets_at: iso },
    seven_day: { utilization: 20, resets_at: iso },
    seven_day_opus: { utilization: 100, resets_at: iso },
  })
  await t.refresh()
  const opus = t.get('anthropic').windows.find((w) => w.id === '7d_opus')
  assert.equal(opus.scope, 'opus')
  assert.equal(t.get('anthropic').windows.find((w) => w.id === '7d').scope, undefined)
  assert.equal(t.checkQuota('anthropic', 'claude-opus-4-5').decision, 'exhausted')
  assert.equal(t.checkQuota('anthropic', 'claude-sonnet-4-5').decision, 'proceed')
})

test('per-model views of a multiplier pool carry the poolView mark the table folds by', async () => {
  const t = tracker()
  t.registerProvider({
    id: 'pool',
    quotas: [{ id: 'premium', baseAmount: 300, multipliers: { 'big-model': 3, 'same-model': 1, 'free-model': 0 } }],
    fetchUsage: () => [{ id: 'premium', used: 120 }],
  })
  await t.refresh()
  const byModel = Object.fromEntries(t.entries().map((e) => [e.modelId, e.windows[0]]))
  assert.equal(byModel.default.poolView, false)
  for (const m of ['big-model', 'same-model', 'free-model']) assert.equal(byModel[m].poolView, true, m)
  const rows = fmt.renderTable(t.entries(), { now: Date.now() }).split('\n').slice(1).map((l) => l.split(/\s{2,}/)[0])
  assert.deepEqual(rows, ['pool', 'pool/big-model', 'pool/…'], 'the 1× view folds into the pool; the 0× model is listed as included')
})

test('status and billing are the closed sets the wire sets', async () => {
  const t = tracker()
  t.registerBuiltinProvider('anthropic', { baseUrl: sb.url, credentials: sb.credentials('anthropic') })
  const iso = new Date(Date.now() + 3 * 86400_000).toISOString()
  sb.setFixture('anthropic', {
    five_hour: { utilization: 10, resets_at: iso },
    extra_usage: { is_enabled: true, monthly_limit: 5000, used_credits: 5000, currency: 'USD' },
  })
  await t.refresh()
  const extra = t.get('anthropic').windows.find((w) => w.id === 'extra')
  assert.equal(extra.status, 'limit_reached')
  assert.equal(t.get('anthropic').billing, 'extra_usage')
  assert.equal(t.providers().find((p) => p.id === 'anthropic').billing, 'extra_usage')
})

test("labels and order come from the addon's table, the same as the providers' views", async () => {
  const [first, second] = BUILTIN_PROVIDERS
  assert.equal(fmt.providerLabel(first.id), first.label)
  assert.equal(fmt.providerLabel(`${first.id}-work`), `${first.label}-work`)
  assert.equal(fmt.providerLabel('my-strategy'), 'my-strategy')
  const t = tracker()
  t.registerProvider({ id: 'aaa-js', quotas: [{ id: 'd', amount: 1 }], fetchUsage: () => [{ id: 'd', used: 0 }] })
  t.registerBuiltinProvider(second.id, { id: `${second.id}-two`, baseUrl: sb.url, credentials: sb.credentials(second.id) })
  t.registerBuiltinProvider(first.id, { id: `${first.id}-work`, baseUrl: sb.url, credentials: sb.credentials(first.id) })
  await t.refresh()
  const views = t.providers()
  assert.equal(views.length, 3)
  for (const view of views) assert.equal(fmt.providerLabel(view.id), view.label, view.id)
  // Table order, then other ids: the first row's instance, the second's, then the strategy.
  const sorted = fmt.sortEntries(t.entries()).map((e) => e.providerId)
  assert.deepEqual([...new Set(sorted)], [`${first.id}-work`, `${second.id}-two`, 'aaa-js'])
})

test("each built-in's published auth rule is the rule credentialsFromPiAuth applies", () => {
  const { credentialsFromPiAuth } = require('../index.js')
  const usableKind = (info) => (info && info.usable ? info.kind : null)
  for (const p of BUILTIN_PROVIDERS) {
    const { oauthField, apiKey } = p.auth
    assert.equal(typeof apiKey, 'boolean', p.id)
    const key = credentialsFromPiAuth(p.id, { type: 'api_key', key: 'sk-test-1234567890' })
    assert.equal(usableKind(key), apiKey ? 'api_key' : null, `${p.id}: an API key`)
    // An OAuth login whose token sits only in the field the wire names is usable there, and
    // only there.
    const expires = Date.now() + 3600_000
    const login = credentialsFromPiAuth(p.id, { type: 'oauth', [oauthField ?? 'access']: 'tok-test-1234567890', expires })
    assert.equal(usableKind(login), oauthField ? 'oauth' : null, `${p.id}: an OAuth login`)
  }
  assert.ok(BUILTIN_PROVIDERS.some((p) => p.auth.oauthField && p.auth.oauthField !== 'access'), 'a wire reading another field is covered')
  assert.ok(BUILTIN_PROVIDERS.some((p) => !p.auth.oauthField), 'an API-key-only wire is covered')
})
