// Footer context providers (lib/context-providers.js): JS closures over the snapshot the tracker publishes.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const pkg = require('../index.js')
const { UsageTracker } = pkg

const HOUR_MS = 3600_000
const near = (actual, expected, tolerance, what) =>
  assert.ok(actual !== null && Math.abs(actual - expected) <= tolerance, `${what}: ${actual} vs ${expected}`)

/** A tracker with one JS provider whose snapshots the test sets. */
function fixtureTracker() {
  const state = { snapshots: [] }
  const t = new UsageTracker({ cachePath: null })
  t.registerProvider({
    id: 'claude',
    quotas: [
      { id: '5h', percentageOnly: true, duration: 18000 },
      { id: 'credits', amount: 500 },
      { id: 'req', perModel: { 'model-a': { amount: 100 }, 'model-b': { amount: 50 } } },
    ],
    fetchUsage: () => state.snapshots,
  })
  return { t, state }
}

test('each factory against a known snapshot', async () => {
  const { t, state } = fixtureTracker()
  const resetsAt = Date.now() + 2 * HOUR_MS // 5h window with 2h left → 3h elapsed
  state.snapshots = [
    { id: '5h', usedRatio: 0.37, resetsAt },
    { id: 'credits', used: 120 },
  ]
  await t.refresh()
  const f = (factory, w = '5h') => pkg[factory](t, 'claude', w)()
  near(f('createWindowRemainingTimeProvider'), 2 * 3600, 2, 'remaining time')
  near(f('createWindowUsedTimeProvider'), 3 * 3600, 2, 'used time')
  assert.equal(f('createWindowTotalTimeProvider'), 18000)
  near(f('createWindowProgressPercentageProvider'), 60, 0.02, 'progress')
  near(f('createWindowQuotaUsedPercentageProvider'), 37, 1e-9, 'used %')
  near(f('createWindowQuotaRemainingPercentageProvider'), 63, 1e-9, 'remaining %')
  near(f('createWindowUsedAmountProvider'), 37, 1e-9, 'used amount (percentage unit)')
  near(f('createWindowRemainingAmountProvider'), 63, 1e-9, 'remaining amount')
  assert.equal(f('createWindowTotalAmountProvider'), 100)

  assert.equal(f('createWindowUsedAmountProvider', 'credits'), 120)
  assert.equal(f('createWindowRemainingAmountProvider', 'credits'), 380)
  assert.equal(f('createWindowTotalAmountProvider', 'credits'), 500)
  assert.equal(f('createWindowQuotaUsedPercentageProvider', 'credits'), 24)
  // No reset time and no length: time values are "no data", not 0.
  assert.equal(f('createWindowRemainingTimeProvider', 'credits'), null)
  assert.equal(f('createWindowTotalTimeProvider', 'credits'), null)
  assert.equal(f('createWindowProgressPercentageProvider', 'credits'), null)
})

test('a reset in the past reads as 0 s left and a full window elapsed', async () => {
  const { t, state } = fixtureTracker()
  state.snapshots = [{ id: '5h', usedRatio: 0.9, resetsAt: Date.now() - 1000 }]
  await t.refresh()
  assert.equal(pkg.createWindowRemainingTimeProvider(t, 'claude', '5h')(), 0)
  assert.equal(pkg.createWindowProgressPercentageProvider(t, 'claude', '5h')(), 100)
})

test('null for an unknown platform, window or model', async () => {
  const { t, state } = fixtureTracker()
  state.snapshots = [{ id: '5h', usedRatio: 0.5, resetsAt: Date.now() + HOUR_MS }]
  await t.refresh()
  assert.equal(pkg.createWindowQuotaUsedPercentageProvider(t, 'nobody', '5h')(), null)
  assert.equal(pkg.createWindowQuotaUsedPercentageProvider(t, 'claude', '1h')(), null)
  assert.equal(pkg.createWindowQuotaUsedPercentageProvider(t, 'claude', '5h', 'opus')(), null)
  assert.throws(() => pkg.createWindowQuotaUsedPercentageProvider({}, 'claude', '5h'), TypeError)
})

test('providers made before the first fetch return values after it, and follow later cycles', async () => {
  const { t, state } = fixtureTracker()
  const used = pkg.createWindowQuotaUsedPercentageProvider(t, 'claude', '5h')
  const perModel = pkg.createWindowRemainingAmountProvider(t, 'claude', 'req', 'model-b')
  assert.equal(used(), null)
  assert.equal(perModel(), null)
  state.snapshots = [
    { id: '5h', usedRatio: 0.1 },
    { id: 'req', modelId: 'model-b', used: 20 },
  ]
  await t.refresh()
  near(used(), 10, 1e-9, 'after first fetch')
  assert.equal(perModel(), 30)
  state.snapshots = [{ id: '5h', usedRatio: 0.2 }]
  await t.refresh()
  near(used(), 20, 1e-9, 'after second fetch')
  assert.equal(perModel(), null, 'a model no longer reported has no data')
  t.unregisterProvider('claude')
  assert.equal(used(), null, 'unregistered: no data at once')
})

test('createPlatformContextProviders finds declared and per-model windows', async () => {
  const { t, state } = fixtureTracker()
  const before = pkg.createPlatformContextProviders(t, 'claude').map((p) => p.name)
  assert.ok(before.includes('claude.5h.quota_used_percentage'))
  assert.ok(before.includes('claude.credits.remaining_amount'))
  assert.equal(before.filter((n) => n.includes('model-a')).length, 0, 'per-model windows unknown before a fetch')
  assert.equal(before.length % 9, 0)

  state.snapshots = [
    { id: '5h', usedRatio: 0.25, resetsAt: Date.now() + HOUR_MS },
    { id: 'req', modelId: 'model-a', used: 40 },
  ]
  await t.refresh()
  const after = pkg.createPlatformContextProviders(t, 'claude')
  const byName = new Map(after.map((p) => [p.name, p.provider]))
  const metrics = [
    'progress_percentage',
    'remaining_time',
    'used_time',
    'total_time',
    'remaining_amount',
    'used_amount',
    'total_amount',
    'quota_used_percentage',
    'quota_remaining_percentage',
  ]
  for (const m of metrics) assert.ok(byName.has(`claude/model-a.req.${m}`), m)
  assert.equal(byName.get('claude/model-a.req.remaining_amount')(), 60)
  near(byName.get('claude.5h.quota_used_percentage')(), 25, 1e-9, 'named provider reads the store')
  assert.deepEqual(pkg.createPlatformContextProviders(t, 'nobody'), [])
})

test('a footer frame reads the snapshot only: no call into the addon per value', async () => {
  const { t, state } = fixtureTracker()
  state.snapshots = [{ id: '5h', usedRatio: 0.5, resetsAt: Date.now() + HOUR_MS }]
  await t.refresh()
  const providers = pkg.createPlatformContextProviders(t, 'claude').map((p) => p.provider)
  // Replace every native-backed method with a tripwire: the closures must not need them.
  const proto = Object.getPrototypeOf(t)
  const tripped = []
  for (const name of Object.getOwnPropertyNames(proto)) {
    if (name === 'constructor' || name === 'snapshot') continue
    Object.defineProperty(t, name, { value: () => tripped.push(name), configurable: true })
  }
  const values = providers.map((p) => p())
  assert.deepEqual(tripped, [])
  assert.ok(values.some((v) => v !== null))
})
