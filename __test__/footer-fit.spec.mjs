// The footer at 80 columns, built the way the extension builds it: the built addon against the
// sandbox, the lead from `checkQuota`, the order from `mostPressing`, lib/format.js to draw.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { useSandbox } from './sandbox.mjs'

const require = createRequire(import.meta.url)
const { UsageTracker } = require('../index.js')
const fmt = require('../lib/format.js')
const { visibleWidth } = require('../lib/terminal.js')

const sb = useSandbox()

/** Five logins, like the user of the issue: Claude, Codex (with Spark), Copilot, Antigravity, DeepSeek. */
async function fiveLogins() {
  sb.serveCurrent('codex-usage-2026') // 5h, 7d, spark_5h, spark_7d and a credit balance
  const t = new UsageTracker({ cachePath: null })
  for (const id of ['anthropic', 'openai-codex', 'github-copilot', 'google-antigravity', 'deepseek']) {
    t.registerBuiltinProvider(id, { credentials: sb.credentials(id), baseUrl: sb.url })
  }
  await t.refresh()
  return t
}

function footer(t, model, width) {
  const check = t.checkQuota(model.provider, model.id)
  const lead = { providerId: model.provider, modelId: model.id, windowIds: check.windowIds }
  return fmt.formatFooterLine(t.entries(), { lead, pressing: t.mostPressing(), width })
}

test('footer at 80 columns: the model\'s provider leads with its governing windows, every other provider gets one cell', async () => {
  const t = await fiveLogins()
  try {
    const line = footer(t, { provider: 'openai-codex', id: 'gpt-5.3-codex' }, 80)
    assert.ok(visibleWidth(line) <= 80, `${visibleWidth(line)}: ${line}`)
    const cells = line.split(' │ ')
    // Spark's windows are scoped to the Spark model: they never lead a non-Spark Codex model
    assert.match(cells[0], /^codex (7d|5h) \d+%/, line)
    assert.doesNotMatch(cells[0], /spark/, line)
    const governing = t.checkQuota('openai-codex', 'gpt-5.3-codex').windowIds
    assert.ok(governing.includes('5h') && governing.includes('7d') && !governing.some((id) => id.startsWith('spark_')), governing.join())
    // every other provider with data is there, one compact cell each, no "…"
    const labels = cells.map((c) => c.split(' ')[0])
    assert.deepEqual([...labels].sort(), ['antigravity', 'claude', 'codex', 'copilot', 'deepseek'], line)
    assert.ok(!line.includes('…'), line)
    // ... in the addon's order of urgency (the exhausted Antigravity model first)
    const order = t.mostPressing().map((p) => fmt.providerLabel(p.providerId)).filter((l) => l !== 'codex')
    assert.deepEqual(labels.slice(1), order)
    assert.match(cells[1], /^antigravity (claude-opus-4-5-thinking )?100%$/)
    // a balance is its money, never a percent
    assert.match(line, /deepseek \$\d+\.\d\d(?: |$)/)

    // with room, the lead has its reset countdown and the others what 'compact' shows
    const wide = footer(t, { provider: 'openai-codex', id: 'gpt-5.3-codex' }, 200)
    assert.match(wide, /^codex (7d|5h) \d+% ↻\S+ · (7d|5h) \d+%.* │ antigravity claude-opus-4-5-thinking 100% ↻\S+ │ claude extra \$12\.50\/\$50\.00 · 5h 37% │ /)
    assert.doesNotMatch(wide.split(' │ ')[0], /spark/)
    // the Spark model is governed by Spark's windows too
    const spark = footer(t, { provider: 'openai-codex', id: 'gpt-5.3-codex-spark' }, 200)
    assert.match(spark.split(' │ ')[0], /^codex .*spark_7d \d+%.*spark_5h \d+%/)
  } finally {
    await t.stop()
  }
})

test('footer narrower than the compact cells: the lead gives up its other windows first, then "…" takes the last cells', async () => {
  const t = await fiveLogins()
  try {
    const model = { provider: 'anthropic', id: 'claude-opus-4-5' } // governed by extra usage and 7d_opus
    const wide = footer(t, model, 200)
    assert.ok(!wide.includes('…'))
    const leadWindows = wide.split(' │ ')[0].split(' · ').length
    assert.ok(leadWindows >= 2, wide)
    let sawOneWindowLead = false
    for (let width = visibleWidth(wide) - 1; width >= 30; width--) {
      const line = footer(t, model, width)
      assert.ok(visibleWidth(line) <= width, `${width}: ${line}`)
      const cells = line.split(' │ ')
      assert.match(cells[0], /^claude /, line)
      if (cells[0].split(' · ').length === 1) sawOneWindowLead = true
      // "…" only once the lead is down to its binding window, without its countdown
      if (line.includes('…')) assert.match(cells[0], /^claude [^·↻]+$/, `${width}: ${line}`)
      // the cells that are shown are whole and in the order of the wide line
      const shown = cells.filter((c) => c !== '…').map((c) => c.split(' ')[0])
      assert.deepEqual(shown, wide.split(' │ ').map((c) => c.split(' ')[0]).slice(0, shown.length), `${width}: ${line}`)
    }
    assert.ok(sawOneWindowLead)
  } finally {
    await t.stop()
  }
})
