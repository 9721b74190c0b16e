// observeResponse through the addon, one header family each: Anthropic's
// anthropic-ratelimit-unified-*, Codex's x-codex-*, Copilot's x-quota-snapshot-*. A first
// response (no poll yet), a response after a poll (merged into it), a 429, partial and
// garbage sets. The header names are the services' own (see the fixtures' headers.md).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { useSandbox } from './sandbox.mjs'

const require = createRequire(import.meta.url)
const { UsageTracker } = require('../index.js')

const sb = useSandbox()

function tracker(id) {
  const t = new UsageTracker({ cachePath: null, requestTimeoutMs: 5000, history: false })
  t.registerBuiltinProvider(id, { baseUrl: sb.url, credentials: sb.credentials(id) })
  return t
}

const win = (t, id, w) => t.get(id)?.windows.find((x) => x.id === w)
const ids = (t, id) => (t.get(id)?.windows ?? []).map((w) => w.id)
const near = (actual, expected, what) => assert.ok(Math.abs(actual - expected) < 1e-9, `${what}: ${actual} != ${expected}`)
const inSecs = (secs) => String(Math.floor(Date.now() / 1000) + secs)

// ---- Anthropic ----

test('anthropic-ratelimit-unified-*: a first response makes the 5h, 7d and extra windows', () => {
  const t = tracker('anthropic')
  const fiveReset = inSecs(3 * 3600)
  const weekReset = inSecs(4 * 86400)
  const changed = t.observeResponse('anthropic', 200, {
    'anthropic-ratelimit-unified-status': 'allowed',
    'anthropic-ratelimit-unified-representative-claim': 'five_hour',
    'anthropic-ratelimit-unified-5h-utilization': '0.7370692663445869',
    'anthropic-ratelimit-unified-5h-reset': fiveReset,
    'anthropic-ratelimit-unified-7d-utilization': '0.42',
    'anthropic-ratelimit-unified-7d-reset': weekReset,
    'anthropic-ratelimit-unified-overage-status': 'rejected',
    'anthropic-ratelimit-unified-overage-disabled-reason': 'out_of_credits',
  })
  assert.equal(changed, true)
  assert.deepEqual(ids(t, 'anthropic'), ['5h', '7d', 'extra'])
  near(win(t, 'anthropic', '5h').usedRatio, 0.7370692663445869, '5h')
  assert.equal(win(t, 'anthropic', '5h').resetsAt, Number(fiveReset) * 1000)
  near(win(t, 'anthropic', '7d').usedRatio, 0.42, '7d')
  assert.equal(win(t, 'anthropic', '7d').resetsAt, Number(weekReset) * 1000)
  const extra = win(t, 'anthropic', 'extra')
  assert.deepEqual([extra.status, extra.remainingRatio], ['limit_reached', 0])
  assert.equal(t.stats().observedResponses, 1)
})

test('anthropic: headers after a poll replace the windows they name and keep the rest; a 429 uses up the claim', async () => {
  const t = tracker('anthropic')
  await t.refresh()
  const polled = t.get('anthropic')
  assert.deepEqual(polled.windows.map((w) => w.id), ['5h', '7d', '7d_opus', 'extra'])
  const opus = win(t, 'anthropic', '7d_opus').usedRatio
  assert.equal(t.observeResponse('anthropic', 200, { 'anthropic-ratelimit-unified-5h-utilization': '0.9' }), true)
  near(win(t, 'anthropic', '5h').usedRatio, 0.9, 'observed 5h')
  assert.equal(win(t, 'anthropic', '7d_opus').usedRatio, opus, 'a window the headers do not name stays')
  const reset = inSecs(2 * 86400)
  assert.equal(
    t.observeResponse('anthropic', 429, {
      'anthropic-ratelimit-unified-status': 'rejected',
      'anthropic-ratelimit-unified-representative-claim': 'seven_day',
      'anthropic-ratelimit-unified-reset': reset,
    }),
    true,
  )
  const week = win(t, 'anthropic', '7d')
  assert.deepEqual([week.usedRatio, week.resetsAt], [1, Number(reset) * 1000])
})

test('anthropic: garbage headers change nothing and never throw', async () => {
  const t = tracker('anthropic')
  await t.refresh()
  const before = JSON.stringify(t.get('anthropic').windows.map((w) => [w.id, w.usedRatio]))
  for (const headers of [
    {},
    { 'content-type': 'application/json' },
    { 'anthropic-ratelimit-unified-5h-utilization': 'lots', 'anthropic-ratelimit-unified-7d-utilization': '-1' },
    { 'anthropic-ratelimit-unified-5h-utilization': '42' },
    { 'anthropic-ratelimit-unified-5h-utilization': { nested: true } },
  ]) {
    assert.equal(t.observeResponse('anthropic', 200, headers), false, JSON.stringify(headers))
  }
  assert.equal(JSON.stringify(t.get('anthropic').windows.map((w) => [w.id, w.usedRatio])), before)
})

// ---- Codex ----

test('x-codex-*: windows named by their minutes, credits and Spark; names in any case, values as arrays', () => {
  const t = tracker('openai-codex')
  const changed = t.observeResponse('openai-codex', 200, {
    'X-Codex-Primary-Used-Percent': '12.5',
    'x-codex-primary-window-minutes': '300',
    'x-codex-primary-reset-after-seconds': '600',
    'x-codex-secondary-used-percent': ['44'],
    'x-codex-secondary-window-minutes': '10080',
    'x-codex-credits-has-credits': 'true',
    'x-codex-credits-balance': '212.5',
    'x-codex-bengalfox-primary-used-percent': '8',
    'x-codex-bengalfox-primary-window-minutes': '300',
    'x-codex-bengalfox-limit-name': 'GPT-5.3-Codex-Spark',
  })
  assert.equal(changed, true)
  assert.deepEqual(ids(t, 'openai-codex'), ['5h', '7d', 'spark_5h', 'credits'])
  near(win(t, 'openai-codex', '5h').usedRatio, 0.125, '5h')
  const left = win(t, 'openai-codex', '5h').resetsAt - Date.now()
  assert.ok(left > 590_000 && left <= 600_000, `5h resets in ~600 s (${left} ms)`)
  near(win(t, 'openai-codex', '7d').usedRatio, 0.44, '7d')
  assert.equal(win(t, 'openai-codex', '7d').duration, 604800)
  near(win(t, 'openai-codex', 'spark_5h').usedRatio, 0.08, 'spark')
  const credits = win(t, 'openai-codex', 'credits')
  assert.deepEqual([credits.kind, credits.remaining, credits.unit], ['balance', 212.5, 'credits'])
})

test('x-codex-secondary-* alone is the weekly window of x-codex-, not a limit named codex-secondary', () => {
  const t = tracker('openai-codex')
  assert.equal(t.observeResponse('openai-codex', 200, { 'x-codex-secondary-used-percent': '50', 'x-codex-secondary-window-minutes': '10080' }), true)
  assert.deepEqual(ids(t, 'openai-codex'), ['7d'])
  near(win(t, 'openai-codex', '7d').usedRatio, 0.5, '7d')
  assert.ok(!ids(t, 'openai-codex').some((id) => id.includes('secondary')))
})

test('x-codex-* after a poll: the observed window replaces the polled one; a 429 uses up the fullest; garbage changes nothing', async () => {
  const t = tracker('openai-codex')
  await t.refresh()
  assert.deepEqual(ids(t, 'openai-codex'), ['5h', '7d'])
  assert.equal(t.observeResponse('openai-codex', 200, { 'x-codex-primary-used-percent': '61', 'x-codex-primary-window-minutes': '300' }), true)
  near(win(t, 'openai-codex', '5h').usedRatio, 0.61, 'observed 5h')
  assert.equal(
    t.observeResponse('openai-codex', 429, {
      'x-codex-primary-used-percent': '99',
      'x-codex-primary-window-minutes': '300',
      'x-codex-secondary-used-percent': '40',
      'x-codex-secondary-window-minutes': '10080',
    }),
    true,
  )
  assert.equal(win(t, 'openai-codex', '5h').usedRatio, 1)
  near(win(t, 'openai-codex', '7d').usedRatio, 0.4, '7d as sent')
  assert.equal(t.observeResponse('openai-codex', 200, { 'x-codex-primary-used-percent': 'n/a', 'x-codex-credits-balance': 'lots' }), false)
  assert.equal(t.observeResponse('openai-codex', 200, {}), false)
  assert.equal(win(t, 'openai-codex', '5h').usedRatio, 1)
})

// ---- Copilot ----

test('x-quota-snapshot-premium_models with ent and rem makes the premium window on first contact', () => {
  const t = tracker('github-copilot')
  const changed = t.observeResponse('github-copilot', 200, {
    'x-quota-snapshot-premium_models': 'ent=300&ov=0.0&ovPerm=true&rem=75.5&rst=2026-12-01T00%3A00%3A00Z',
  })
  assert.equal(changed, true, 'the header carries the size: no poll needed')
  const p = win(t, 'github-copilot', 'premium')
  assert.equal(p.total, 300)
  near(p.remaining, 226.5, 'remaining')
  near(p.usedRatio, 0.245, 'used')
  assert.equal(p.resetsAt, Date.parse('2026-12-01T00:00:00Z'))
})

test('x-quota-snapshot-* after a poll keeps the pool\'s unit; unlimited and Free chat; garbage changes nothing', async () => {
  const t = tracker('github-copilot')
  await t.refresh()
  const polled = win(t, 'github-copilot', 'premium')
  assert.deepEqual([polled.total, polled.remaining], [300, 173])
  assert.equal(t.observeResponse('github-copilot', 200, { 'x-quota-snapshot-premium_interactions': 'ent=300&rem=50&rst=2026-12-01' }), true)
  const p = win(t, 'github-copilot', 'premium')
  assert.deepEqual([p.total, p.remaining], [300, 150])
  assert.equal(p.kind, 'multiplier', 'the poll\'s declaration (per-model views) stays')
  assert.equal(t.observeResponse('github-copilot', 200, { 'x-quota-snapshot-chat': 'ent=500&rem=42' }), true)
  assert.equal(win(t, 'github-copilot', 'chat').total, 500)
  for (const bad of ['', 'garbage', 'ent=300', 'rem=lots']) {
    assert.equal(t.observeResponse('github-copilot', 200, { 'x-quota-snapshot-premium_models': bad }), false, bad)
  }
  assert.equal(t.observeResponse('github-copilot', 200, { 'x-quota-snapshot-chat': 'ent=-1&rem=100' }), false, 'unlimited chat is no window')
  assert.deepEqual([win(t, 'github-copilot', 'premium').remaining], [150])
})

// ---- what a response republishes ----

const { SNAPSHOT } = require('../lib/tracker.js')

test("a response or a refresh of one provider republishes that provider's part; the others are shared", async () => {
  const t = tracker('anthropic')
  const models = ['m-a', 'm-b', 'm-c']
  t.registerProvider({
    id: 'beside',
    quotas: [{ id: 'q', percentageOnly: true }],
    fetchUsage: () => models.map((modelId, i) => ({ id: 'q', modelId, usedRatio: i / 10 })),
  })
  await t.refresh()
  const before = t[SNAPSHOT]
  const besideBefore = before.entries.filter((e) => e.providerId === 'beside')
  assert.equal(besideBefore.length, 3)
  const heard = []
  t.onUpdate((entries) => heard.push(entries))
  const published = new Promise((resolve) => t.onUpdate(resolve))
  assert.equal(t.observeResponse('anthropic', 200, { 'anthropic-ratelimit-unified-5h-utilization': '0.61', 'anthropic-ratelimit-unified-5h-reset': inSecs(3600) }), true)
  await published
  const after = t[SNAPSHOT]
  assert.notEqual(after, before, 'a new snapshot')
  near(after.windows.get('anthropic').get('default').get('5h').usedRatio, 0.61, 'the new value')
  assert.equal(after.windows.get('beside'), before.windows.get('beside'), "the other provider's windows are the same objects")
  const besideAfter = after.entries.filter((e) => e.providerId === 'beside')
  assert.ok(besideAfter.every((e, i) => e === besideBefore[i]), 'its entries too')
  assert.deepEqual(after.entries.map((e) => e.key), before.entries.map((e) => e.key), 'every entry, in key order')
  assert.deepEqual([...after.byKey.keys()], after.entries.map((e) => e.key))
  assert.equal(heard.at(-1), after.entries, 'listeners get the whole snapshot')
  assert.deepEqual(after.entries.map((e) => e.key), t.entries().map((e) => e.key), 'the same as the addon holds')

  models.pop() // beside's next answer has one model fewer
  await t.refresh('beside')
  const third = t[SNAPSHOT]
  assert.deepEqual(third.entries.filter((e) => e.providerId === 'beside').map((e) => e.modelId), ['m-a', 'm-b'])
  assert.equal(third.windows.get('anthropic'), after.windows.get('anthropic'), 'anthropic untouched')
  assert.equal(third.windows.get('beside').has('m-c'), false)
  t.unregisterProvider('beside')
  assert.deepEqual(t[SNAPSHOT].entries.map((e) => e.providerId), t[SNAPSHOT].entries.map(() => 'anthropic'))
  assert.equal(t[SNAPSHOT].windows.has('beside'), false)
  await t.stop()
})
