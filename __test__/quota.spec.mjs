// Quota intelligence through the addon against the provider sandbox: decisions, threshold
// events, pace, stats, plans, several accounts and the Copilot multiplier table.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { startSandbox, useSandbox } from './sandbox.mjs'

const require = createRequire(import.meta.url)
const { UsageTracker } = require('../index.js')

const HOUR = 3600_000

/** An Anthropic usage body with the given 5h / 7d utilization (percent), resets in the future. */
function claudeBody(five, week, { fiveResetsIn = 2 * HOUR, weekResetsIn = 3 * 24 * HOUR } = {}) {
  const iso = (ms) => new Date(Date.now() + ms).toISOString()
  return {
    five_hour: { utilization: five, resets_at: iso(fiveResetsIn) },
    seven_day: { utilization: week, resets_at: iso(weekResetsIn) },
    seven_day_opus: null,
  }
}

const sb = useSandbox({}, { resetEach: false })

function tracker(options = {}) {
  return new UsageTracker({ cachePath: null, requestTimeoutMs: 2000, ...options })
}

describe('checkQuota', () => {
  test('the most constrained window binds; boundaries at the threshold and at 0', async () => {
    const t = tracker({ lowQuotaThreshold: 0.1 })
    t.registerBuiltinProvider('anthropic', { baseUrl: sb.url, credentials: sb.credentials('anthropic') })
    sb.setFixture('anthropic', claudeBody(80, 40))
    await t.refresh()
    let c = t.checkQuota('anthropic')
    assert.equal(c.decision, 'proceed')
    assert.equal(c.windowId, '5h', '5h at 20% left binds over 7d at 60%')
    assert.ok(Math.abs(c.remainingRatio - 0.2) < 1e-9)
    assert.ok(c.resetsAt > Date.now())

    sb.setFixture('anthropic', claudeBody(90, 40))
    await t.refresh()
    assert.equal(t.checkQuota('anthropic').decision, 'proceed', 'exactly at the threshold is not low')
    sb.setFixture('anthropic', claudeBody(95, 40))
    await t.refresh()
    assert.equal(t.checkQuota('anthropic').decision, 'low')
    sb.setFixture('anthropic', claudeBody(100, 40))
    await t.refresh()
    c = t.checkQuota('anthropic')
    assert.deepEqual([c.decision, c.windowId, c.remainingRatio], ['exhausted', '5h', 0])
    assert.equal(t.checkQuota('nobody').decision, 'unknown')
    assert.equal(t.stats().exhaustedWindows, 1)
  })

  test('per-model entries: an exhausted Antigravity model, Copilot per-model views', async () => {
    const t = tracker()
    for (const id of ['google-antigravity', 'github-copilot']) {
      t.registerBuiltinProvider(id, { baseUrl: sb.url, credentials: sb.credentials(id) })
    }
    sb.setFixture('google-antigravity', null)
    sb.setFixture('github-copilot', null)
    await t.refresh()
    assert.equal(t.checkQuota('google-antigravity', 'claude-opus-4-5-thinking').decision, 'exhausted')
    assert.equal(t.checkQuota('google-antigravity', 'gemini-3-flash').decision, 'proceed')
    assert.equal(t.checkQuota('github-copilot', 'gpt-4o').decision, 'proceed')
    const opus = t.getWindow('github-copilot', 'premium', 'claude-opus-4.5')
    assert.ok(Math.abs(opus.remaining - 173 / 15) < 1e-9, 'requests left at 15× (legacy annual-plan table)')
  })

  test('overage (negative remaining) is exhausted; user multipliers replace the table', async () => {
    const t = tracker()
    t.registerBuiltinProvider('github-copilot', {
      baseUrl: sb.url,
      credentials: sb.credentials('github-copilot'),
      multipliers: { 'my-model': 2 },
    })
    const body = sb.fixture('github-copilot')
    body.quota_snapshots.premium_interactions.remaining = -12
    sb.setFixture('github-copilot', body)
    await t.refresh()
    assert.equal(t.checkQuota('github-copilot').decision, 'exhausted')
    assert.deepEqual(
      t.entries().map((e) => e.key),
      ['github-copilot/default', 'github-copilot/my-model'],
    )
    sb.setFixture('github-copilot', null)
  })
})

describe('onThreshold', () => {
  test('edge-triggered: once per crossing, recovered after a reset', async () => {
    const t = tracker({ lowQuotaThreshold: 0.1 })
    t.registerBuiltinProvider('anthropic', { baseUrl: sb.url, credentials: sb.credentials('anthropic') })
    const events = []
    t.onThreshold((e) => events.push(e))
    const step = async (five) => {
      sb.setFixture('anthropic', claudeBody(five, 10))
      await t.refresh()
    }
    await step(50)
    assert.deepEqual(events, [])
    await step(95)
    await step(96)
    await step(97)
    assert.deepEqual(
      events.map((e) => [e.key, e.windowId, e.kind]),
      [['anthropic/default', '5h', 'low']],
      'no repeat while below',
    )
    await step(100)
    await step(0) // the window reset
    assert.deepEqual(
      events.map((e) => e.kind),
      ['low', 'exhausted', 'recovered'],
    )
    assert.ok(events[1].resetsAt > Date.now())
    sb.setFixture('anthropic', null)
  })
})

describe('pace', () => {
  test('elapsedRatio, pace, stage and run-out time on a window with length and reset', async () => {
    const t = tracker()
    t.registerBuiltinProvider('anthropic', { baseUrl: sb.url, credentials: sb.credentials('anthropic') })
    // 5h window with 4h left: 20% of the time gone, 50% used → 30 points ahead, runs out early.
    sb.setFixture('anthropic', claudeBody(50, 10, { fiveResetsIn: 4 * HOUR }))
    await t.refresh()
    const w = t.getWindow('anthropic', '5h')
    assert.ok(Math.abs(w.elapsedRatio - 0.2) < 0.001, String(w.elapsedRatio))
    assert.ok(Math.abs(w.pace - 0.3) < 0.001)
    assert.equal(w.paceStage, 'far-ahead')
    // 50% in 1h → the rest in 1h more.
    assert.ok(Math.abs(w.runsOutAt - (Date.now() + HOUR)) < 60_000)
    const week = t.getWindow('anthropic', '7d')
    assert.ok(week.pace < 0)
    assert.equal(week.runsOutAt, undefined)
    sb.setFixture('anthropic', null)
  })
})

describe('plans and accounts', () => {
  test('plans from each service', async () => {
    const t = tracker()
    for (const id of ['openai-codex', 'github-copilot', 'google-antigravity', 'google-gemini-cli']) {
      t.registerBuiltinProvider(id, { baseUrl: sb.url, credentials: sb.credentials(id) })
    }
    await t.refresh()
    assert.equal(t.get('openai-codex').plan, 'plus')
    assert.equal(t.get('github-copilot').plan, 'individual_pro')
    assert.equal(t.get('google-antigravity', 'gemini-3-pro-high').plan, 'pro', 'paidTier preferred')
    assert.equal(t.get('google-gemini-cli', 'gemini-2.5-pro').plan, 'free')
    // The tier is re-read at most hourly, not every cycle.
    const before = sb.count('google-antigravity', 'loadCodeAssist')
    await t.refresh()
    await t.refresh()
    assert.equal(sb.count('google-antigravity', 'loadCodeAssist'), before)
  })

  test('two accounts of one provider, and selectBest says why', async () => {
    const work = await startSandbox({ tokens: { anthropic: 'work-account-token' } })
    try {
      const t = tracker()
      t.registerBuiltinProvider('anthropic', { baseUrl: sb.url, credentials: sb.credentials('anthropic') })
      t.registerBuiltinProvider('anthropic', {
        id: 'anthropic-work',
        baseUrl: work.url,
        credentials: work.credentials('anthropic'),
      })
      sb.setFixture('anthropic', claudeBody(97, 50))
      work.setFixture('anthropic', claudeBody(30, 50))
      await t.refresh()
      assert.ok(t.get('anthropic-work'))
      let pick = t.selectBest(['anthropic', 'anthropic-work'])
      assert.equal(pick.providerId, 'anthropic-work')
      assert.equal(pick.decision, 'proceed')
      assert.match(pick.reason, /anthropic-work can proceed while anthropic is low/)
      assert.deepEqual(
        pick.ranking.map((c) => c.providerId),
        ['anthropic-work', 'anthropic'],
      )
      sb.setFixture('anthropic', claudeBody(20, 50))
      await t.refresh()
      pick = t.selectBest(['anthropic', 'anthropic-work'])
      assert.equal(pick.providerId, 'anthropic', 'both proceed: the one with more room')
      assert.match(pick.reason, /most room/)
      assert.equal(t.selectBest(['nobody']).providerId, undefined)
    } finally {
      sb.setFixture('anthropic', null)
      await work.close()
    }
  })

  test('stats count cycles, fetches and errors', async () => {
    const t = tracker()
    t.registerBuiltinProvider('openai-codex', { baseUrl: sb.url, credentials: sb.credentials('openai-codex') })
    await t.refresh()
    sb.script('openai-codex', { status: 500 })
    await t.refresh()
    const s = t.stats()
    assert.equal(s.providers, 1)
    assert.equal(s.cycles, 2)
    assert.equal(s.fetchOk, 1)
    assert.equal(s.fetchErrors, 1)
    assert.equal(s.entries, 1)
    assert.equal(s.activeEntries, 1)
    assert.ok(s.lastCycleAt > 0 && s.lastCycleMs >= 0)
  })
})
