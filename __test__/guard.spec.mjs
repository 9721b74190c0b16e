// The exhausted-model guard (lib/guard.js, what the extension runs before every prompt) and the
// ranking it relies on (selectBestModel), with a real tracker reading the built-in providers
// from the loopback sandbox. Only what pi does is played by the test: the dialog's answer,
// whether setModel succeeds, and the notifications, all recorded.
// Every branch: not used up, switch, switch refused by pi, warn, ask + Yes, ask + Escape, ask
// without a UI, and no other model with room. The same guard runs in real pi in pi-e2e.spec.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { startSandbox } from './sandbox.mjs'

const require = createRequire(import.meta.url)
const { UsageTracker } = require('../index.js')
const { guardExhausted, bestAlternative } = require('../lib/guard.js')

const OPUS = { provider: 'anthropic', id: 'claude-opus-4-7' }
const HAIKU = { provider: 'github-copilot', id: 'claude-haiku-4.5' }
const GPT = { provider: 'openai-codex', id: 'gpt-5' }
/** pi's models with credentials (ctx.modelRegistry.getAvailable()), the current one included. */
const AVAILABLE = [OPUS, HAIKU, GPT]

let sb
before(async () => {
  sb = await startSandbox()
})
after(async () => {
  await sb?.close()
})

/** Serve Claude with its extra usage (what pi's Claude calls are billed to) at `usedCredits` of
 *  $50, Copilot with `premiumLeft` of 300 on `copilotPlan`, and Codex at `codex5h`/`codex7d` % used;
 *  then a tracker that fetched them once. */
async function trackerWith({ usedCredits = 5000, premiumLeft = 173, copilotPlan = 'individual_pro', codex5h = 80, codex7d = 10 } = {}) {
  sb.reset()
  const claude = sb.fixture('anthropic')
  claude.extra_usage = { ...claude.extra_usage, monthly_limit: 5000, used_credits: usedCredits, utilization: usedCredits / 50 }
  sb.setFixture('anthropic', claude)
  const copilot = sb.fixture('github-copilot')
  copilot.copilot_plan = copilotPlan
  Object.assign(copilot.quota_snapshots.premium_interactions, { remaining: premiumLeft, quota_remaining: premiumLeft, percent_remaining: (premiumLeft / 300) * 100 })
  sb.setFixture('github-copilot', copilot)
  const codex = sb.fixture('openai-codex')
  codex.rate_limit.primary_window.used_percent = codex5h
  codex.rate_limit.secondary_window.used_percent = codex7d
  sb.setFixture('openai-codex', codex)
  const tracker = new UsageTracker({ cachePath: null, requestTimeoutMs: 5000 })
  for (const id of ['anthropic', 'github-copilot', 'openai-codex']) tracker.registerBuiltinProvider(id, { baseUrl: sb.url, credentials: sb.credentials(id) })
  await tracker.refresh()
  for (const id of ['anthropic', 'github-copilot', 'openai-codex']) assert.equal(tracker.get(id)?.error, undefined, `${id} fetched`)
  return tracker
}

/** pi's side of the guard, recorded: the dialog answers `answer`, setModel returns `switchOk`. */
function piSide({ answer, switchOk = true } = {}) {
  const calls = []
  return {
    calls,
    confirm: async (title, text) => {
      calls.push({ confirm: [title, text] })
      if (answer === undefined) throw new Error('the dialog was not expected')
      return answer
    },
    switchTo: async (provider, id) => {
      calls.push({ switchTo: `${provider}/${id}` })
      return switchOk
    },
    notify: (message, type) => calls.push({ notify: message, type }),
  }
}

const USED_UP = /^Usage: claude extra is used up for claude-opus-4-7; resets in \d+[dhm]\S*\./

describe('the exhausted-model guard, branch by branch', () => {
  let tracker
  before(async () => {
    tracker = await trackerWith()
    // the premise of every branch below: the model is used up, Copilot's has the most room
    assert.equal(tracker.checkQuota(OPUS.provider, OPUS.id).decision, 'exhausted')
    assert.equal(tracker.checkQuota(OPUS.provider, OPUS.id).windowId, 'extra')
    assert.equal(tracker.checkQuota(HAIKU.provider, HAIKU.id).decision, 'proceed')
  })
  after(async () => {
    await tracker?.stop()
  })

  test('a model with room: nothing is said, asked or switched', async () => {
    const pi = piSide()
    assert.equal(await guardExhausted(tracker, HAIKU, AVAILABLE, { whenExhausted: 'switch', hasUI: true }, pi), 'proceed')
    assert.deepEqual(pi.calls, [])
  })

  test('switch: the best model with room is set at once, and the user is told', async () => {
    const pi = piSide()
    assert.equal(await guardExhausted(tracker, OPUS, AVAILABLE, { whenExhausted: 'switch', hasUI: true }, pi), 'switched')
    assert.equal(pi.calls.length, 2, JSON.stringify(pi.calls))
    assert.deepEqual(pi.calls[0], { switchTo: 'github-copilot/claude-haiku-4.5' })
    assert.equal(pi.calls[1].type, 'info')
    assert.match(pi.calls[1].notify, USED_UP)
    assert.match(pi.calls[1].notify, / Switched to github-copilot\/claude-haiku-4\.5\.$/)
  })

  test('switch that pi refuses (model not found or setModel false) is said as a warning', async () => {
    const pi = piSide({ switchOk: false })
    assert.equal(await guardExhausted(tracker, OPUS, AVAILABLE, { whenExhausted: 'switch', hasUI: true }, pi), 'switch-failed')
    assert.deepEqual(pi.calls.map((c) => Object.keys(c)[0]), ['switchTo', 'notify'])
    assert.equal(pi.calls[1].type, 'warning')
    assert.match(pi.calls[1].notify, / Could not switch to github-copilot\/claude-haiku-4\.5\.$/)
  })

  test('warn: no dialog, no switch; the message names the model that has room', async () => {
    const pi = piSide()
    assert.equal(await guardExhausted(tracker, OPUS, AVAILABLE, { whenExhausted: 'warn', hasUI: true }, pi), 'warned')
    assert.equal(pi.calls.length, 1, JSON.stringify(pi.calls))
    assert.equal(pi.calls[0].type, 'warning')
    assert.match(pi.calls[0].notify, USED_UP)
    assert.match(pi.calls[0].notify, / github-copilot\/claude-haiku-4\.5 has room\.$/)
  })

  test('ask + Yes: the dialog offers the best model, and Yes switches to it', async () => {
    const pi = piSide({ answer: true })
    assert.equal(await guardExhausted(tracker, OPUS, AVAILABLE, { whenExhausted: 'ask', hasUI: true }, pi), 'switched')
    assert.deepEqual(pi.calls.map((c) => Object.keys(c)[0]), ['confirm', 'switchTo', 'notify'])
    const [title, text] = pi.calls[0].confirm
    assert.equal(title, 'Quota used up')
    assert.match(text, USED_UP)
    assert.match(text, /\nSwitch to github-copilot\/claude-haiku-4\.5 for this prompt and after\?$/)
    assert.equal(pi.calls[1].switchTo, 'github-copilot/claude-haiku-4.5')
    assert.match(pi.calls[2].notify, / Switched to github-copilot\/claude-haiku-4\.5\.$/)
  })

  test('ask + Escape: the model stays, and the user is told so', async () => {
    const pi = piSide({ answer: false })
    assert.equal(await guardExhausted(tracker, OPUS, AVAILABLE, { whenExhausted: 'ask', hasUI: true }, pi), 'stayed')
    assert.deepEqual(pi.calls.map((c) => Object.keys(c)[0]), ['confirm', 'notify'])
    assert.equal(pi.calls[1].type, 'warning')
    assert.match(pi.calls[1].notify, / Staying on claude-opus-4-7\.$/)
  })

  test('ask without a UI (print or RPC mode): no dialog, the model stays', async () => {
    const pi = piSide()
    assert.equal(await guardExhausted(tracker, OPUS, AVAILABLE, { whenExhausted: 'ask', hasUI: false }, pi), 'stayed')
    assert.deepEqual(pi.calls.map((c) => Object.keys(c)[0]), ['notify'])
    assert.match(pi.calls[0].notify, / Staying on claude-opus-4-7\.$/)
  })

  test('no other model has room: said, the prompt goes ahead, nothing is asked or switched', async () => {
    for (const [available, why] of [
      [[OPUS], 'the current model is the only one'],
      [[OPUS, { provider: 'anthropic', id: 'claude-sonnet-4-5' }], 'the other model shares the used-up meter'],
      [[OPUS, { provider: 'zai', id: 'glm-4.6' }], 'the other model has no usage data'],
    ]) {
      for (const whenExhausted of ['ask', 'switch', 'warn']) {
        const pi = piSide()
        assert.equal(await guardExhausted(tracker, OPUS, available, { whenExhausted, hasUI: true }, pi), 'no-alternative', `${why}, ${whenExhausted}`)
        assert.equal(pi.calls.length, 1, `${why}, ${whenExhausted}: ${JSON.stringify(pi.calls)}`)
        assert.equal(pi.calls[0].type, 'warning')
        assert.match(pi.calls[0].notify, USED_UP)
        assert.match(pi.calls[0].notify, / No other model with room was found; the prompt goes ahead\.$/)
      }
    }
  })
})

describe('selectBestModel ranks by decision, then plan tier, then room', () => {
  const trackers = []
  after(async () => {
    for (const t of trackers) await t.stop()
  })
  const fetched = async (opts) => {
    const t = await trackerWith(opts)
    trackers.push(t)
    return t
  }
  const pairs = (...models) => models.map((m) => ({ providerId: m.provider, modelId: m.id }))

  test('same decision and tier: the most room wins, and the reason says by how much', async () => {
    const t = await fetched({ premiumLeft: 173, codex5h: 80 }) // copilot 58 % left, codex 20 %
    const s = t.selectBestModel(pairs(OPUS, GPT, HAIKU))
    assert.deepEqual([s.providerId, s.modelId, s.decision], ['github-copilot', 'claude-haiku-4.5', 'proceed'])
    assert.equal(s.reason, 'github-copilot has the most room (58% left vs 20% left for openai-codex)')
    assert.deepEqual(s.ranking.map((c) => [c.providerId, c.modelId, c.decision]), [
      ['github-copilot', 'claude-haiku-4.5', 'proceed'],
      ['openai-codex', 'gpt-5', 'proceed'],
      ['anthropic', 'claude-opus-4-7', 'exhausted'],
    ])
    assert.deepEqual(bestAlternative(t, OPUS, AVAILABLE), { provider: 'github-copilot', id: 'claude-haiku-4.5', why: s.reason })
  })

  test('a model that can proceed beats one that is low, whatever their room', async () => {
    const t = await fetched({ premiumLeft: 24, codex5h: 95, codex7d: 0 }) // copilot 8 % left (low), codex 5 % (low)...
    assert.equal(t.checkQuota(HAIKU.provider, HAIKU.id).decision, 'low')
    const t2 = await fetched({ premiumLeft: 24, codex5h: 85, codex7d: 0 }) // ...codex 15 %: proceeds
    const s = t2.selectBestModel(pairs(HAIKU, GPT))
    assert.deepEqual([s.providerId, s.decision], ['openai-codex', 'proceed'])
    assert.equal(s.reason, 'openai-codex can proceed while github-copilot is low')
    const low = t.selectBestModel(pairs(GPT, HAIKU))
    assert.deepEqual([low.providerId, low.decision], ['github-copilot', 'low'], 'both low: the one with more room (8 % over 5 %)')
  })

  test('a higher plan tier beats more room', async () => {
    const t = await fetched({ premiumLeft: 240, copilotPlan: 'free_limited_copilot', codex5h: 70 }) // copilot 80 % on free, codex 30 % on plus
    const s = t.selectBestModel(pairs(HAIKU, GPT))
    assert.equal(s.providerId, 'openai-codex')
    assert.equal(s.reason, 'openai-codex has the higher tier (plus over free_limited_copilot)')
  })

  test('used up or unknown is never chosen: all used up says exhausted, nothing known names no model', async () => {
    const t = await fetched({ premiumLeft: 0, codex5h: 100 })
    const s = t.selectBestModel(pairs(OPUS, HAIKU, GPT))
    assert.equal(s.decision, 'exhausted')
    assert.deepEqual(s.ranking.map((c) => c.decision), ['exhausted', 'exhausted', 'exhausted'])
    assert.equal(bestAlternative(t, OPUS, AVAILABLE), undefined, 'an exhausted best is no alternative')
    const unknown = t.selectBestModel(pairs({ provider: 'zai', id: 'glm-4.6' }, { provider: 'kimi-coding', id: 'k2' }))
    assert.deepEqual([unknown.providerId, unknown.modelId, unknown.decision], [undefined, undefined, 'unknown'])
    const none = t.selectBestModel([])
    assert.deepEqual([none.providerId, none.decision, none.reason, none.ranking], [undefined, 'unknown', 'no candidates', []])
  })
})
