// The answers real accounts send to z.ai, Kimi, MiniMax, OpenRouter, xAI and Moonshot, read
// through the built addon over loopback (issue 23): a part that cannot be read is a warning on
// the entry, never a lost provider; window ids come from the plan, not the measured span; what
// the account has is shown and what it does not have is not.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { useSandbox, startSandbox } from './sandbox.mjs'

const require = createRequire(import.meta.url)
const { UsageTracker } = require('../index.js')

const sb = useSandbox()

const HOUR = 3600_000
const DAY = 24 * HOUR
const newTracker = () => new UsageTracker({ cachePath: null, requestTimeoutMs: 5000, history: false })
const win = (entry, id) => entry?.windows.find((w) => w.id === id)
const ids = (entry) => entry.windows.map((w) => w.id).sort()
const near = (actual, expected, what, eps = 1e-9) => assert.ok(Math.abs(actual - expected) < eps, `${what}: ${actual} != ${expected}`)
const requestsOf = (id, endpoint = 'usage') => sb.requests.filter((r) => r.providerId === id && (endpoint === 'all' || r.endpoint === endpoint))

/** A tracker with one built-in against the sandbox, after one refresh. */
async function fetched(id) {
  const tracker = newTracker()
  tracker.registerBuiltinProvider(id, { baseUrl: sb.url, credentials: sb.credentials(id) })
  await tracker.refresh()
  return tracker
}

function healthy(entry, what) {
  assert.ok(entry, `${what}: an entry`)
  assert.equal(entry.error, undefined, `${what}: ${JSON.stringify(entry.error)}`)
  assert.equal(entry.fails, 0, `${what}: fails`)
}

const iso = (ms) => new Date(ms).toISOString()

// ---- 1. one unreadable part is a warning, never a failed fetch ----

test('openrouter: a cap without limit_remaining is read from the period\'s usage (no error)', async () => {
  sb.setFixture('openrouter', { data: { label: 'sk-or-v1-abc', limit: 500, limit_reset: 'monthly', usage: 433.28, usage_daily: 3.4, usage_weekly: 3.4, usage_monthly: 45.5 } })
  const e = (await fetched('openrouter')).get('openrouter')
  healthy(e, 'openrouter')
  const key = win(e, 'key')
  assert.equal(key.kind, 'amount')
  assert.equal(key.unit, 'USD')
  near(key.total, 500, 'cap')
  near(key.used, 45.5, 'this month')
  near(key.remaining, 454.5, 'left')
  assert.ok(key.resetsAt > Date.now() && key.resetsAt <= Date.now() + 31 * DAY, 'the 1st of next month')
})

test('zai: limits at the root instead of under data, rows without number, are read', async () => {
  const reset = Date.now() + 2 * HOUR
  sb.setFixture('zai', { code: 0, msg: 'ok', success: true, level: 'lite', limits: [
    { type: 'TOKENS_LIMIT', unit: 6, percentage: 25 },
    { type: 'CREDIT_LIMIT', unit: 3, percentage: 40, nextResetTime: reset },
  ] })
  const e = (await fetched('zai')).get('zai')
  healthy(e, 'zai')
  assert.equal(e.plan, 'lite')
  assert.deepEqual(ids(e), ['5h', '7d'])
  near(win(e, '7d').usedRatio, 0.25, '7d')
  assert.equal(win(e, '7d').duration, 604800)
  near(win(e, '5h').usedRatio, 0.4, '5h')
  assert.equal(win(e, '5h').resetsAt, reset)
})

test('zai: an unreadable row beside readable ones is a warning on the entry; the readable windows stay', async () => {
  sb.setFixture('zai', { success: true, data: { level: 'pro', limits: [
    { type: 'CREDIT_LIMIT', unit: 3, number: 5, percentage: 10 },
    { type: 'CREDIT_LIMIT', unit: 9, number: 1, percentage: 50 },
    { type: 'CREDIT_LIMIT', unit: 6, number: 1 },
  ] } })
  const tracker = await fetched('zai')
  const e = tracker.get('zai')
  healthy(e, 'zai')
  assert.deepEqual(ids(e), ['5h'])
  assert.deepEqual(e.warnings, ['limits[1]: unknown window (`unit`, `number`)', 'limits[2] (7d): no `percentage` and no counts'])
  // Nothing readable is an error, and the last good values stay.
  sb.setFixture('zai', { success: true, data: { limits: [{ type: 'CREDIT_LIMIT', unit: 9, percentage: 1 }] } })
  await tracker.refresh()
  const failed = tracker.get('zai')
  assert.equal(failed.error?.kind, 'parse')
  assert.match(failed.error.message, /^zai: .*limits\[0\]: unknown window/)
  assert.deepEqual(ids(failed), ['5h'], 'last good values kept')
})

test('xai: credit forms without currentPeriod, or with a period without type, are read from the first answer; the default form is never asked', async () => {
  sb.script('xai', { endpoint: 'monthly', status: 404, times: Infinity })
  const end = Date.now() + 3 * DAY
  const forms = [
    [{ config: { creditUsagePercent: 8, billingPeriodEnd: iso(end), subscriptionTier: 'SuperGrok Heavy' } }, 'credits', 0.08],
    [{ config: { creditUsagePercent: 12.5, currentPeriod: { start: iso(end - 7 * DAY), end: iso(end) } } }, '7d', 0.125],
    [{ config: { currentPeriod: { type: 'USAGE_PERIOD_TYPE_WEEKLY' }, billingPeriodEnd: iso(end) } }, '7d', 0],
    [{ config: { isUnifiedBillingUser: true, currentPeriod: { type: 'USAGE_PERIOD_TYPE_WEEKLY', start: iso(end - 7 * DAY), end: iso(end) }, prepaidBalance: { val: 0 } } }, '7d', 0],
  ]
  for (const [body, id, used] of forms) {
    sb.reset()
    sb.script('xai', { endpoint: 'monthly', status: 404, times: Infinity })
    sb.setFixture('xai', body)
    const e = (await fetched('xai')).get('xai')
    healthy(e, JSON.stringify(body))
    assert.deepEqual(ids(e), [id], JSON.stringify(body))
    near(win(e, id).usedRatio, used, id)
    assert.equal(Math.round(win(e, id).resetsAt / 1000), Math.round(end / 1000), 'reset at the period end')
    assert.equal(requestsOf('xai', 'monthly').length, 0, 'the default form is not asked')
  }
})

test('openrouter: a cap that cannot be read keeps what the key spent, with a warning; never an unlimited key', async () => {
  const tracker = newTracker()
  tracker.registerBuiltinProvider('openrouter', { baseUrl: sb.url, credentials: sb.credentials('openrouter') })
  await tracker.refresh()
  near(win(tracker.get('openrouter'), 'key').total, 50, 'first poll: the recorded $50 cap')
  for (const limit of ['fifty', -1, true, { usd: 50 }]) {
    sb.setFixture('openrouter', { data: { label: 'sk-or-v1-abc', limit, limit_remaining: 31.27, limit_reset: 'monthly', usage: 143.86, usage_monthly: 18.73 } })
    await tracker.refresh()
    const e = tracker.get('openrouter')
    healthy(e, JSON.stringify(limit))
    assert.deepEqual(e.warnings, ['key: `limit` is neither a number of 0 or more nor null; the cap could not be read, shown is what the key spent'])
    assert.deepEqual(ids(e), ['key'])
    const key = win(e, 'key')
    assert.equal(key.unlimited, false, 'not an unlimited key')
    assert.equal(key.kind, 'amount')
    assert.equal(key.unit, 'USD')
    near(key.used, 18.73, 'this month\'s spend, the period the cap counts')
    assert.equal(key.total, 0, 'no cap is made up, and the old $50 is not kept')
    assert.equal(key.level, 'ok')
    assert.ok(key.resetsAt > Date.now() && key.resetsAt <= Date.now() + 31 * DAY, 'the 1st of next month')
  }
  // With no spend to read either, nothing is readable: an error naming the cap; the last values stay.
  sb.setFixture('openrouter', { data: { label: 'sk-or-v1-abc', limit: 'fifty' } })
  await tracker.refresh()
  const failed = tracker.get('openrouter')
  assert.equal(failed.error?.kind, 'parse')
  assert.match(failed.error.message, /^openrouter: .*`limit` is neither a number/)
  near(win(failed, 'key').used, 18.73, 'last good values kept')
})

test('xai: a mistyped creditUsagePercent loses the allowance with a warning and keeps the tier, on-demand and prepaid; never a 0 % window', async () => {
  sb.script('xai', { endpoint: 'monthly', status: 404, times: Infinity })
  const end = Date.now() + 3 * DAY
  const config = { creditUsagePercent: 'lots', currentPeriod: { type: 'USAGE_PERIOD_TYPE_WEEKLY', start: iso(end - 7 * DAY), end: iso(end) },
    billingPeriodEnd: iso(end + 10 * DAY), onDemandCap: { val: 1000 }, onDemandUsed: { val: 250 }, prepaidBalance: { val: 1200 } }
  sb.setFixture('xai', { subscriptionTier: 'SuperGrok Heavy', config })
  const tracker = await fetched('xai')
  const e = tracker.get('xai')
  healthy(e, 'xai')
  assert.deepEqual(e.warnings, ['`creditUsagePercent` is not a number; the allowance could not be read'])
  assert.equal(e.plan, 'SuperGrok Heavy')
  assert.deepEqual(ids(e), ['on-demand', 'prepaid'], 'no 7d window: the allowance is unknown, not 0 %')
  assert.equal(tracker.get('xai', 'extra'), null, 'with no allowance left they are the account\'s own')
  assert.deepEqual([win(e, 'on-demand').total, win(e, 'on-demand').used], [1000, 250])
  assert.equal(win(e, 'prepaid').remaining, 1200)
  assert.equal(requestsOf('xai', 'monthly').length, 0, 'the answer had something to read: the default form is not asked')
  // The declared exception: with nothing else in the answer the fetch fails; no window is made.
  sb.setFixture('xai', { config: { ...config, onDemandCap: { val: 0 }, prepaidBalance: { val: 0 } } })
  const alone = (await fetched('xai')).get('xai')
  assert.ok(alone.error, 'an error, not a silent 0 %')
  assert.deepEqual(alone.windows, [])
  assert.equal(requestsOf('xai', 'monthly').length, 1, 'nothing read: the default form is asked (here it answers 404)')
})

// ---- 2. ids from the plan, not from a measured span ----

test('minimax: the same account polled twice at different times keeps every id (5h and 7d from the plan)', async () => {
  const tracker = newTracker()
  tracker.registerBuiltinProvider('minimax', { baseUrl: sb.url, credentials: sb.credentials('minimax') })
  const weeklyEnd = Date.now() + 4 * HOUR
  // First poll: the interval happens to end at the weekly end (a 4-hour span).
  sb.setFixture('minimax', { model_remains: [{ model_name: 'general',
    start_time: weeklyEnd - 4 * HOUR, end_time: weeklyEnd, remains_time: 4 * HOUR, current_interval_remaining_percent: 50,
    weekly_start_time: weeklyEnd - 7 * DAY, weekly_end_time: weeklyEnd, weekly_remains_time: 4 * HOUR, current_weekly_remaining_percent: 20 }],
  base_resp: { status_code: 0, status_msg: 'success' } })
  await tracker.refresh()
  const first = tracker.get('minimax')
  healthy(first, 'first poll')
  assert.deepEqual(ids(first), ['5h', '7d'])
  // Second poll: no start or end times at all.
  sb.setFixture('minimax', { model_remains: [{ model_name: 'general', current_interval_remaining_percent: 90, current_weekly_remaining_percent: 100 }],
    base_resp: { status_code: 0, status_msg: 'success' } })
  await tracker.refresh()
  const second = tracker.get('minimax')
  healthy(second, 'second poll')
  assert.deepEqual(ids(second), ids(first))
  assert.deepEqual(second.windows.map((w) => w.duration).sort(), [18000, 604800])
  near(win(second, '5h').remainingRatio, 0.9, '5h')
})

// ---- 3. what the account has ----

test('zai: TIME_LIMIT is the month\'s web-tool calls on a web-tools entry; data.planName is the plan', async () => {
  const reset = Date.now() + 20 * DAY
  sb.setFixture('zai', { code: 200, success: true, data: { planName: 'GLM Coding Pro', level: 'pro', limits: [
    { type: 'CREDIT_LIMIT', unit: 3, number: 5, percentage: 36, nextResetTime: Date.now() + HOUR },
    { type: 'TIME_LIMIT', unit: 5, number: 1, usage: 1000, currentValue: 143, remaining: 857, percentage: 14, nextResetTime: reset },
  ] } })
  const tracker = await fetched('zai')
  const e = tracker.get('zai')
  healthy(e, 'zai')
  assert.equal(e.plan, 'GLM Coding Pro')
  assert.deepEqual(ids(e), ['5h'], 'tool calls never govern coding')
  const tools = tracker.get('zai', 'web-tools')
  healthy(tools, 'web-tools')
  const w = win(tools, 'tools')
  assert.equal(w.kind, 'amount')
  assert.equal(w.unit, 'calls')
  assert.deepEqual([w.total, w.used, w.remaining], [1000, 143, 857])
  assert.equal(w.resetsAt, reset)
  // The check for a coding model looks at the coding windows only.
  assert.equal(tracker.checkQuota('zai', 'glm-4.6').windowId, '5h')
})

test('kimi-coding: a window of an unknown time unit is kept without a length; a used count of "-1" is not 0 %', async () => {
  sb.setFixture('kimi-coding', {
    usage: { limit: '100', used: '-1', remaining: '75' },
    limits: [{ window: { duration: 5, timeUnit: 'TIME_UNIT_UNKNOWN' }, detail: { limit: '100', used: '25', remaining: '75' } }],
  })
  const e = (await fetched('kimi-coding')).get('kimi-coding')
  healthy(e, 'kimi')
  assert.deepEqual(ids(e), ['5_unknown', '7d'])
  near(win(e, '5_unknown').usedRatio, 0.25, 'unknown unit')
  assert.equal(win(e, '5_unknown').duration, undefined, 'no length is made up')
  near(win(e, '7d').usedRatio, 0.25, 'from remaining, not 0 %')
  // Neither count usable: a warning, not a 0 % window.
  sb.setFixture('kimi-coding', { usage: { limit: '100', used: '-1', remaining: '-1' }, limits: [{ window: { duration: 300, timeUnit: 'TIME_UNIT_MINUTE' }, detail: { limit: '100', used: '5' } }] })
  const again = (await fetched('kimi-coding')).get('kimi-coding')
  healthy(again, 'kimi again')
  assert.deepEqual(ids(again), ['5h'])
  assert.deepEqual(again.warnings, ['usage (7d): no usable `limit`/`used`/`remaining`'])
})

test('minimax and minimax-cn: rows with counts but no percentage are read by host (left on the global host, used on the China host)', async () => {
  const body = { model_remains: [{ model_name: 'MiniMax-M2.7', current_interval_total_count: 1500, current_interval_usage_count: 1200, remains_time: HOUR }], base_resp: { status_code: 0 } }
  sb.setFixture('minimax', body)
  sb.setFixture('minimax-cn', body)
  const tracker = newTracker()
  for (const id of ['minimax', 'minimax-cn']) tracker.registerBuiltinProvider(id, { baseUrl: sb.url, credentials: sb.credentials(id) })
  await tracker.refresh()
  for (const [id, left] of [['minimax', 0.8], ['minimax-cn', 0.2]]) {
    const e = tracker.get(id)
    healthy(e, id)
    assert.deepEqual(ids(e), ['5h'], `${id}: the coding model's bucket is the plan's`)
    near(win(e, '5h').remainingRatio, left, id)
  }
})

test('xai: on-demand spend against its cap and the prepaid credit are shown on an extra entry beside the allowance; the top-level tier is the plan', async () => {
  const end = Date.now() + 3 * DAY
  sb.setFixture('xai', { subscriptionTier: 'SuperGrok Heavy', config: {
    creditUsagePercent: 40, currentPeriod: { type: 'USAGE_PERIOD_TYPE_WEEKLY', start: iso(end - 7 * DAY), end: iso(end) },
    billingPeriodEnd: iso(end + 10 * DAY), onDemandCap: { val: 1000 }, onDemandUsed: { val: 250 }, prepaidBalance: { val: 1200 } } })
  const tracker = await fetched('xai')
  const e = tracker.get('xai')
  healthy(e, 'xai')
  assert.equal(e.plan, 'SuperGrok Heavy')
  assert.deepEqual(ids(e), ['7d'])
  const extra = tracker.get('xai', 'extra')
  assert.deepEqual(ids(extra), ['on-demand', 'prepaid'], 'drawn on once the allowance is spent: beside it, not governing it')
  const od = win(extra, 'on-demand')
  assert.equal(od.kind, 'amount')
  assert.deepEqual([od.total, od.used, od.remaining], [1000, 250, 750])
  const prepaid = win(extra, 'prepaid')
  assert.equal(prepaid.kind, 'balance')
  assert.equal(prepaid.remaining, 1200)
})

test('moonshotai: the available balance governs; its voucher and cash parts (cash below 0 kept) are on a parts entry', async () => {
  sb.setFixture('moonshotai', { code: 0, data: { available_balance: 49.58, voucher_balance: 50, cash_balance: -0.42 }, scode: '0x0', status: true })
  const tracker = await fetched('moonshotai')
  const e = tracker.get('moonshotai')
  healthy(e, 'moonshot')
  assert.deepEqual(ids(e), ['balance'])
  assert.equal(win(e, 'balance').remaining, 49.58)
  const parts = tracker.get('moonshotai', 'parts')
  assert.deepEqual(ids(parts), ['cash', 'voucher'])
  assert.equal(win(parts, 'cash').remaining, -0.42)
  assert.equal(win(parts, 'cash').unit, 'USD')
  assert.equal(win(parts, 'voucher').remaining, 50)
  assert.equal(tracker.checkQuota('moonshotai', 'kimi-k2').decision, 'proceed', 'a covered cash deficit does not stop calls')
})

// ---- 4. not showing what is not there ----

test('openrouter: a key answer with only a label is an error naming what is missing, not an unlimited key with 0 used; the last values stay', async () => {
  const tracker = await fetched('openrouter')
  healthy(tracker.get('openrouter'), 'first')
  const before = win(tracker.get('openrouter'), 'key')
  sb.setFixture('openrouter', { data: { label: 'sk-or-v1-3c1...a9f' } })
  await tracker.refresh()
  const e = tracker.get('openrouter')
  assert.equal(e.error?.kind, 'parse')
  assert.match(e.error.message, /^openrouter: .*no `limit` and no `usage_monthly`/)
  const after = win(e, 'key')
  assert.equal(after.unlimited, before.unlimited)
  assert.equal(after.used, before.used, 'last good values kept')
})

test('xai: config null is "no billing configured" (a provider error), even when the default form then answers 404', async () => {
  sb.setFixture('xai', { config: null })
  sb.script('xai', { endpoint: 'monthly', status: 404 })
  const e = (await fetched('xai')).get('xai')
  assert.equal(e.error?.kind, 'provider', JSON.stringify(e.error))
  assert.match(e.error.message, /^xai: no Grok billing is configured for this account/)
  assert.equal(requestsOf('xai', 'monthly').length, 1, 'the default form was asked and its 404 did not hide the reason')
})

// ---- more of the tracked accounts ----

test('minimax and minimax-cn: a pay-as-you-go sk-api- key reads /account/query_balance, in dollars on the global host and yuan on the China host', async () => {
  const tokens = { minimax: 'sk-api-test-minimax-global', 'minimax-cn': 'sk-api-test-minimax-china' }
  const own = await startSandbox({ tokens })
  try {
    const tracker = newTracker()
    for (const id of ['minimax', 'minimax-cn']) tracker.registerBuiltinProvider(id, { baseUrl: own.url, credentials: own.credentials(id) })
    await tracker.refresh()
    for (const [id, unit] of [['minimax', 'USD'], ['minimax-cn', 'CNY']]) {
      const reqs = own.requests.filter((r) => r.providerId === id)
      assert.deepEqual(reqs.map((r) => [r.path, r.status]), [['/account/query_balance', 200]], `${id}: only the balance is asked`)
      assert.equal(reqs[0].headers.authorization, `Bearer ${tokens[id]}`)
      const e = tracker.get(id)
      healthy(e, id)
      assert.deepEqual(ids(e), ['balance'])
      const b = win(e, 'balance')
      assert.equal(b.kind, 'balance')
      assert.equal(b.unit, unit)
      assert.equal(b.remaining, 12.5)
      const text = JSON.stringify(tracker.entries())
      assert.ok(!text.includes(tokens[id]), 'the key appears nowhere')
    }
  } finally {
    await own.close()
  }
})

test('kimi-coding: the Extra Usage wallet (what is left, the month\'s spend against its cap) beside the plan; the newer pools', async () => {
  const reset = iso(Date.now() + 3 * HOUR)
  sb.setFixture('kimi-coding', {
    limits: [{ window: { duration: 300, timeUnit: 'TIME_UNIT_MINUTE' }, detail: { limit: '0', used: '0', remaining: '0', resetTime: reset } }],
    usages: { limit_5h: { used_ratio: 0.3, reset_time: reset }, limit_month_total: { used_ratio: '0.5', reset_time: iso(Date.now() + 20 * DAY) } },
    boosterWallet: {
      balance: { type: 'BOOSTER', amount: '20000000000', amountLeft: '10000000000', unit: 'UNIT_CURRENCY' },
      monthlyChargeLimitEnabled: true,
      monthlyChargeLimit: { currency: 'USD', priceInCents: '20000' },
      monthlyUsed: { currency: 'USD', priceInCents: '5000' },
    },
  })
  const tracker = await fetched('kimi-coding')
  const e = tracker.get('kimi-coding')
  healthy(e, 'kimi')
  assert.deepEqual(ids(e), ['5h', 'monthly'])
  near(win(e, '5h').usedRatio, 0.3, '5h from the pool, not the zeroed row')
  near(win(e, 'monthly').usedRatio, 0.5, 'monthly')
  const extra = tracker.get('kimi-coding', 'extra')
  healthy(extra, 'extra')
  const wallet = win(extra, 'wallet')
  assert.equal(wallet.kind, 'balance')
  assert.equal(wallet.unit, 'USD')
  assert.equal(wallet.remaining, 100)
  const month = win(extra, 'wallet-month')
  assert.deepEqual([month.kind, month.unit, month.total, month.used, month.remaining], ['amount', 'USD', 200, 50, 150])
  // A spent wallet (the service drops amountLeft at 0) does not stop a plan that has room.
  const body = sb.fixture('kimi-coding')
  delete body.boosterWallet.balance.amountLeft
  sb.setFixture('kimi-coding', body)
  await tracker.refresh()
  assert.equal(win(tracker.get('kimi-coding', 'extra'), 'wallet').remaining, 0)
  const check = tracker.checkQuota('kimi-coding', 'kimi-for-coding')
  assert.equal(check.decision, 'proceed')
  assert.equal(check.windowId, 'monthly')
  assert.ok(!check.windowIds.includes('wallet'), JSON.stringify(check))
})
