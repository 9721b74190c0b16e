// Unit tests of lib/view.js: the /usage-store view as lines. Fixed `now`, hand-made entries.
process.env.TZ = 'UTC'

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'
import { pisToTest } from './helpers/pi-install.mjs'
import { testNeeding } from './helpers/ci.mjs'

const require = createRequire(import.meta.url)
const view = require('../lib/view.js')
const fmt = require('../lib/format.js')

const NOW = Date.parse('2026-11-23T18:50:00Z')
const MIN = 60_000
const HOUR = 60 * MIN
const DAY = 24 * HOUR

function pw(id, usedPct, extra = {}) {
  const usedRatio = usedPct / 100
  return { id, modelId: 'default', kind: 'percentage', total: 100, used: usedPct, remaining: 100 - usedPct, usedRatio, remainingRatio: 1 - usedRatio, level: 'ok', ...extra }
}

function entry(providerId, modelId, windows, extra = {}) {
  return { key: `${providerId}/${modelId}`, providerId, modelId, windows, updated: NOW - 2 * MIN, fails: 0, active: true, stale: false, ...extra }
}

const claude = entry('anthropic', 'default', [
  pw('5h', 37, { duration: 18000, resetsAt: NOW + 2 * HOUR + 10 * MIN, elapsedRatio: 0.5, pace: 0.12, paceStage: 'ahead', runsOutAt: NOW + HOUR + 20 * MIN, paceSource: 'measured' }),
  pw('7d', 64, { duration: 604800, resetsAt: NOW + 3 * DAY, elapsedRatio: 0.57, pace: 0.07, paceStage: 'slightly-ahead', paceSource: 'linear', level: 'warn' }),
  pw('7d_opus', 12, { resetsAt: NOW + 3 * DAY }),
  pw('seven_day_omelette', 3),
], { plan: 'max' })
const copilot = entry('github-copilot', 'default', [{
  id: 'premium', modelId: 'default', kind: 'multiplier', total: 300, used: 127, remaining: 173, usedRatio: 127 / 300,
  remainingRatio: 173 / 300, resetsAt: NOW + 7 * DAY, duration: 30 * 86400, elapsedRatio: 0.75, level: 'ok',
}], { plan: 'individual_pro' })
const copilotViews = [
  entry('github-copilot', 'claude-opus-4.5', [{ ...copilot.windows[0], modelId: 'claude-opus-4.5', total: 100, used: 127 / 3, remaining: 173 / 3, poolView: true }], { plan: 'individual_pro' }),
  entry('github-copilot', 'gpt-4.1', [{ ...copilot.windows[0], modelId: 'gpt-4.1', unlimited: true, usedRatio: 0, remainingRatio: 1, poolView: true }], { plan: 'individual_pro' }),
]
const codexLimited = entry('openai-codex', 'default', [pw('5h', 23, { resetsAt: NOW + 3 * HOUR })], {
  error: { kind: 'rate_limited', message: 'openai-codex: HTTP 429 Too Many Requests', retryAt: NOW + 4 * MIN }, fails: 2,
})
const exhausted = entry('google-antigravity', 'claude-opus-4-5-thinking', [pw('quota', 100, { level: 'exhausted', resetsAt: NOW + 7 * HOUR })])
const balance = entry('openrouter', 'default', [{ id: 'balance', modelId: 'default', kind: 'balance', unit: 'USD', total: 0, used: 12.5, remaining: 37.42, usedRatio: 0, remainingRatio: 1, level: 'ok' }])
const noCreds = ['google-gemini-cli', 'zai', 'xai'].map((id) => entry(id, 'default', [], { active: false, updated: 0 }))
const unusable = entry('kimi-coding', 'default', [], { active: false, updated: 0, error: { kind: 'auth', message: 'kimi-coding: an API key is stored, the usage endpoint needs a login', retryAt: null } })

const ALL = [claude, copilot, ...copilotViews, codexLimited, exhausted, balance, ...noCreds, unusable]

// A long model id in many scripts: CJK, emoji (with a ZWJ sequence), combining marks, RTL letters.
const wide = entry('google-antigravity', 'gemini-模型-超长名称-🚀-👨‍👩‍👧-café-ñ́-שלום-very-long-model-identifier-that-goes-on', [
  pw('quota-窗口-😀', 55, { level: 'warn', resetsAt: NOW + 5 * HOUR, duration: 86400, elapsedRatio: 0.3, pace: 0.25, paceStage: 'ahead', runsOutAt: NOW + 2 * HOUR }),
])

const ramp = (length) => Array.from({ length: 120 }, (_, i) => ({ at: NOW - length + (i * length) / 120, usedRatio: i / 200 }))
const history = (providerId, windowId, modelId) => ramp(windowId === '5h' ? 5 * HOUR : DAY)

const strip = (s) => s.replace(/\x1b\[[0-9;]*m/g, '')

test('visibleWidth counts terminal columns', () => {
  const cases = { abc: 3, '模型': 4, '🚀': 2, 'é': 1, 'ｶ': 1, '⚡': 2, '❤️': 2, '1️⃣': 2, '█░│↻·…': 6, '\x1b[31mred\x1b[0m': 3, '': 0 }
  for (const [text, width] of Object.entries(cases)) assert.equal(view.visibleWidth(text), width, JSON.stringify(text))
  // A ZWJ family is one glyph of 2 columns in most terminals; counting more is safe, fewer is not.
  assert.ok(view.visibleWidth('👨‍👩‍👧') >= 2)
  assert.equal(view.truncateToWidth('abcdef', 4), 'abc…')
  assert.equal(view.truncateToWidth('模型模型', 5), '模型…')
  assert.equal(view.truncateToWidth('abc', 3), 'abc')
  assert.equal(view.truncateToWidth('abc', 0), '')
})

test('no line is wider than the width: 60, 80 and 150 columns, long ids, wide unicode, both modes', () => {
  const paints = [undefined, fmt.paintAnsi, (c, t) => `<${c}>${t}</${c}>`]
  for (const width of [60, 61, 79, 80, 100, 150]) {
    for (const mode of ['compact', 'all']) {
      for (const paint of paints) {
        const lines = view.renderView([...ALL, wide], { width, now: NOW, mode, history, paint, warnings: ['usage history file \'/home/u/.pi/agent/cache/usage-tracker.json.history-x.jsonl\' is unreadable (no history header); set aside'] })
        assert.ok(lines.length > 5)
        for (const line of lines) {
          const plain = paint && paint !== fmt.paintAnsi ? line.replace(/<\/?[a-z]+>/g, '') : strip(line)
          assert.ok(view.visibleWidth(plain) <= width, `${width} ${mode}: ${view.visibleWidth(plain)} > ${width}: ${plain}`)
          assert.equal(plain, plain.trimEnd(), 'no trailing blanks')
        }
      }
    }
  }
})

// pi-tui of the pis the suite installs (helpers/pi-install.mjs), each run on the Node its pi
// needs: the lines go in on stdin, each line's width by pi-tui comes back. Without those pis:
// skipped with the reason, a failure on CI.
const pis = pisToTest()
const missingPis = pis.filter((p) => p.skip).map((p) => p.skip).join('; ')
testNeeding('lines fit by pi-tui\'s own measure too, in each pinned pi', missingPis, { timeout: 120_000 }, () => {
  const lines = [60, 80, 150].flatMap((width) =>
    view.renderView([...ALL, wide], { width, now: NOW, mode: 'all', history, paint: fmt.paintAnsi }).map((line) => ({ width, line })))
  assert.ok(lines.length > 30, `${lines.length} lines rendered`)
  for (const pi of pis) {
    const tuiDir = join(pi.packageDir, '..', 'pi-tui')
    const tui = pathToFileURL(join(tuiDir, JSON.parse(readFileSync(join(tuiDir, 'package.json'), 'utf8')).main)).href
    const script = `import(${JSON.stringify(tui)}).then((tui) => {
      let s = ''; process.stdin.on('data', (c) => (s += c)).on('end', () =>
        console.log(JSON.stringify(JSON.parse(s).map((l) => tui.visibleWidth(l)))))
    })`
    const out = execFileSync(pi.node, ['--input-type=module', '-e', script], { input: JSON.stringify(lines.map((l) => l.line)), encoding: 'utf8' })
    const widths = JSON.parse(out)
    assert.equal(widths.length, lines.length, pi.label)
    lines.forEach(({ width, line }, i) => assert.ok(widths[i] <= width, `${pi.label}: ${widths[i]} > ${width}: ${line}`))
  }
})

test('one line per window: label, bar marked at the elapsed share, value, reset, pace in words', () => {
  const lines = view.renderView([claude], { width: 100, now: NOW })
  assert.equal(lines[0], 'claude · max · updated 2m ago')
  const [five, seven] = [lines[1], lines[2]]
  assert.match(five, /^ {2}5h +[█░│]+ 37% used +↻2h10m \+12 ahead, runs out in 1h20m at the last hour's rate$/)
  assert.match(seven, /^ {2}7d +[█░│]+ 64% used +↻3d +\+7 slightly ahead$/)
  // The bar: used share filled, the elapsed share marked.
  const bar = five.match(/[█░│]+/)[0]
  const cells = [...bar].length
  assert.equal([...bar].indexOf('│'), Math.floor(0.5 * cells))
  assert.equal([...bar].filter((c) => c === '█').length, Math.round(0.37 * cells) - (Math.floor(0.5 * cells) < Math.round(0.37 * cells) ? 1 : 0))
  assert.equal(lines[3], '  +2 more windows', 'compact shows the main windows and says what it left out')
  const all = view.renderView([claude], { width: 100, now: NOW, mode: 'all' })
  assert.ok(all.some((l) => /^ {2}seven_day_omelette +[░]+ 3% used$/.test(l)))
  assert.ok(!all.some((l) => /more window/.test(l)))
})

test('values carry their unit; balances have no bar', () => {
  const lines = view.renderView([copilot, balance, exhausted], { width: 150, now: NOW })
  assert.ok(lines.some((l) => /premium +[█░│]+ 173\/300 left +↻7d$/.test(l)), lines.join('\n'))
  assert.ok(lines.some((l) => /^ {2}balance +\$37\.42 left$/.test(l)), lines.join('\n'))
  assert.ok(lines.some((l) => /claude-opus-4-5-thinking quota +█+ 100% used +↻7h$/.test(l)), lines.join('\n'))
  const spend = entry('xai', 'default', [{ id: 'monthly', modelId: 'default', kind: 'amount', unit: 'USD', total: 200, used: 47.31, remaining: 152.69, usedRatio: 0.2366, remainingRatio: 0.7634, level: 'ok' }])
  const requests = entry('zai', 'default', [{ id: 'prompts', modelId: 'default', kind: 'amount', unit: 'requests', total: 600, used: 20, remaining: 580, usedRatio: 1 / 30, remainingRatio: 29 / 30, level: 'ok' }])
  const more = view.renderView([spend, requests], { width: 100, now: NOW })
  assert.ok(more.some((l) => /\$47\.31\/\$200\.00 spent$/.test(l)), more.join('\n'))
  assert.ok(more.some((l) => /580\/600 requests left$/.test(l)), more.join('\n'))
})

test('a long model id is cut in its own part, so the window id stays readable', () => {
  const lines = view.renderView([exhausted], { width: 60, now: NOW })
  assert.match(lines[1], /^ {2}claude\S*… quota +█+ 100% used/, lines[1])
})

test('colours come from the published level, through the paint callback', () => {
  const calls = []
  const paint = (color, text) => {
    calls.push([color, text])
    return text
  }
  view.renderView([claude, exhausted, { ...codexLimited, stale: true }], { width: 100, now: NOW, paint })
  const colorOf = (re) => calls.find(([, t]) => re.test(t))?.[0]
  assert.equal(colorOf(/^37% used/), fmt.LEVEL_COLORS.ok)
  assert.equal(colorOf(/^64% used/), fmt.LEVEL_COLORS.warn)
  assert.equal(colorOf(/^100% used/), fmt.LEVEL_COLORS.exhausted)
  assert.equal(colorOf(/^23% used/), fmt.LEVEL_COLORS.stale, 'a stale entry is dimmed')
  assert.equal(colorOf(/^│$/), 'accent', 'the elapsed mark')
  assert.ok(calls.some(([c, t]) => c === fmt.LEVEL_COLORS.warn && /^█+$/.test(t)), 'the 7d bar is filled in the warn colour')
  assert.equal(colorOf(/rate limited/), 'error')
})

test('errors say what happened and what to do; no credentials once, at the bottom, dim', () => {
  const calls = []
  const lines = view.renderView(ALL, { width: 150, now: NOW, paint: (c, t) => (calls.push([c, t]), t) })
  assert.ok(lines.includes('  ! rate limited by the service; next try in 4m: openai-codex: HTTP 429 Too Many Requests'), lines.join('\n'))
  assert.ok(lines.includes('  ! cannot be used: kimi-coding: an API key is stored, the usage endpoint needs a login'), lines.join('\n'))
  const last = lines[lines.length - 1]
  assert.equal(last, 'no credentials: gemini-cli, zai, xai — log in with pi (/login)'.replace('gemini-cli', fmt.providerLabel('google-gemini-cli')).replace('zai', fmt.providerLabel('zai')).replace('xai', fmt.providerLabel('xai')))
  assert.equal(lines.filter((l) => l.includes('no credentials')).length, 1)
  assert.equal(calls.find(([, t]) => t.startsWith('no credentials'))[0], 'dim')
  const auth = entry('anthropic', 'default', [pw('5h', 10)], { error: { kind: 'auth', message: 'anthropic: HTTP 401', retryAt: null } })
  assert.ok(view.renderView([auth], { width: 100, now: NOW }).includes('  ! login not accepted; log in again in pi (/login): anthropic: HTTP 401'))
  const net = entry('anthropic', 'default', [pw('5h', 10)], { error: { kind: 'network', message: 'anthropic: connection refused', retryAt: null } })
  assert.ok(view.renderView([net], { width: 100, now: NOW }).includes('  ! service not reachable; check the network; retrying: anthropic: connection refused'))
  assert.deepEqual(view.renderView(noCreds, { width: 80, now: NOW }), [
    'no usage data: no provider has credentials',
    `no credentials: ${noCreds.map((e) => fmt.providerLabel(e.providerId)).join(', ')} — log in with pi (/login)`,
  ])
  assert.deepEqual(view.renderView([], { width: 80, now: NOW }), ['no usage data yet'])
  // A long message wraps under its "!" (three lines at most) instead of being cut at 60 columns.
  const long = entry('anthropic', 'default', [], { error: { kind: 'server', message: `anthropic: HTTP 503 ${'upstream overloaded '.repeat(12)}`, retryAt: null } })
  const wrapped = view.renderView([long], { width: 60, now: NOW })
  assert.deepEqual(wrapped.slice(1, 3), ['  ! the service failed; retrying: anthropic: HTTP 503', '    upstream overloaded upstream overloaded upstream'])
  assert.equal(wrapped.length, 4)
  assert.ok(wrapped[3].endsWith('…') && view.visibleWidth(wrapped[3]) <= 60)
})

test('a metered login says so, a window\'s status is said in words, skipped parts are named', () => {
  const extra = { id: 'extra', modelId: 'default', kind: 'amount', unit: 'USD', total: 50, used: 12.5, remaining: 37.5, usedRatio: 0.25, remainingRatio: 0.75, level: 'ok', billing: 'extra_usage', resetsAt: NOW + 7 * DAY }
  const metered = entry('anthropic', 'default', [extra, pw('5h', 37)], { billing: 'extra_usage', warnings: ['a malformed pool was skipped'] })
  const lines = view.renderView([metered], { width: 150, now: NOW })
  assert.match(lines[1], /^ {2}pi's calls on this login are billed to extra usage/)
  assert.ok(lines.some((l) => /^ {2}extra +[█░│]+ \$12\.50\/\$50\.00 spent/.test(l)), lines.join('\n'))
  assert.ok(lines.includes('  skipped: a malformed pool was skipped'), lines.join('\n'))
  const off = entry('anthropic', 'default', [{ ...extra, status: 'disabled', level: 'exhausted' }, { ...pw('spend', 100), status: 'limit_reached', level: 'exhausted' }])
  const offLines = view.renderView([off], { width: 100, now: NOW })
  assert.ok(offLines.some((l) => /extra .* switched off$/.test(l)), offLines.join('\n'))
  assert.ok(offLines.some((l) => /spend .* spend cap reached$/.test(l)), offLines.join('\n'))
  const gone = entry('google-gemini-cli', 'default', [], { error: { kind: 'unsupported', message: 'google-gemini-cli: Gemini CLI no longer serves consumer accounts', retryAt: null } })
  assert.ok(view.renderView([gone], { width: 150, now: NOW }).includes('  ! not served for this login: google-gemini-cli: Gemini CLI no longer serves consumer accounts'))
})

test('all windows folds per-model views of a pool and lists the free models once', () => {
  const lines = view.renderView([copilot, ...copilotViews], { width: 150, now: NOW, mode: 'all' })
  assert.ok(lines.some((l) => /^ {2}premium /.test(l)))
  assert.ok(lines.some((l) => /^ {2}claude-opus-4\.5 premium .* 58\/100 left/.test(l)), lines.join('\n'))
  assert.ok(lines.includes('  included at no cost: gpt-4.1'), lines.join('\n'))
})

test('a sparkline of the recorded course over the window, from 100 columns', () => {
  assert.equal(view.sparkline([], { from: 0, to: 8, cells: 8 }), '        ')
  const points = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => ({ at: i, usedRatio: i / 7 }))
  assert.equal(view.sparkline(points, { from: 0, to: 8, cells: 8 }), '▁▂▃▄▅▆▇█')
  assert.equal(view.sparkline(points.filter((p) => p.at % 2 === 0), { from: 0, to: 8, cells: 8 }), '▁ ▃ ▅ ▇ ', 'gaps stay blank')
  assert.equal(view.sparkline([{ at: -5, usedRatio: 1 }, { at: 3, usedRatio: 0 }], { from: 0, to: 4, cells: 4 }), '   ▁')
  const asked = []
  const wideLines = view.renderView([claude], { width: 150, now: NOW, history: (...a) => (asked.push(a), history(...a)) })
  assert.deepEqual(asked[0], ['anthropic', '5h', 'default'])
  assert.ok(/[▁▂▃▄▅▆▇█]{10,}/.test(wideLines[1]), wideLines[1])
  const narrow = []
  view.renderView([claude], { width: 99, now: NOW, history: (...a) => (narrow.push(a), []) })
  assert.equal(narrow.length, 0, 'no sparkline column below 100 columns')
  const nothing = view.renderView([claude], { width: 150, now: NOW, history: () => [] })
  assert.ok(/37% used +↻2h10m \+12 ahead/.test(nothing[1]), `no empty column without a history: ${nothing[1]}`)
})

test('narrow views keep the run-out time and the reset countdown whole: pace words go first, then the bar', () => {
  const fast = entry('anthropic', 'default', [
    pw('5h', 37, { duration: 18000, resetsAt: NOW + 2 * HOUR + 10 * MIN, elapsedRatio: 0.2, pace: 0.3, paceStage: 'far-ahead', runsOutAt: NOW + HOUR + 20 * MIN }),
    pw('7d', 64, { duration: 604800, resetsAt: NOW + 3 * DAY + 13 * HOUR, elapsedRatio: 0.57, pace: -0.08, paceStage: 'behind' }),
  ], { plan: 'max' })
  const entries = [fast, copilot, balance, ...noCreds]
  const at = (width) => view.renderView(entries, { width, now: NOW })
  const row = (lines, label) => lines.find((l) => l.startsWith(`  ${label} `))
  // wide: the pace in full words
  assert.match(row(at(120), '5h'), /↻2h10m +\+30 far ahead, runs out in 1h20m$/)
  for (const width of [80, 60, 50, 40]) {
    const lines = at(width)
    for (const l of lines) assert.ok(view.visibleWidth(l) <= width, `${width}: ${l}`)
    const text = lines.join('\n')
    assert.ok(!/↻\S*…|runs out in \S*…|out in \S*…/.test(text), `${width}:\n${text}`)
    assert.match(text, /↻2h10m/, `reset countdown whole at ${width}`)
    assert.match(text, /↻3d13h/, `reset countdown whole at ${width}`)
    assert.match(text, /(runs )?out in 1h20m/, `run-out time whole at ${width}`)
    // a balance is the money left, never a share
    assert.match(row(lines, 'balance'), /\$37\.42 left/)
    assert.doesNotMatch(row(lines, 'balance'), /%/)
    // every provider without credentials is named, none cut
    for (const name of ['gemini', 'zai', 'grok']) assert.match(text, new RegExp(`\\b${name}\\b`), `${name} at ${width}`)
  }
  // in order: shorter pace words, then the run-out time alone, then fewer bar cells, then none,
  // then the run-out time on a line of its own (and the bar back in what room there is)
  assert.match(row(at(80), '5h'), /█.*↻2h10m +\+30 far ahead, runs out in 1h20m$/)
  assert.match(row(at(70), '5h'), /█.*↻2h10m +\+30 ahead, out in 1h20m$/)
  assert.match(row(at(60), '5h'), /[█░│]{8,} 37% used +↻2h10m +runs out in 1h20m$/)
  assert.match(row(at(55), '5h'), /^ {2}5h +[█░│]{3,7} 37% used +↻2h10m +runs out in 1h20m$/)
  assert.match(row(at(50), '5h'), /^ {2}5h +37% used +↻2h10m +runs out in 1h20m$/)
  const at40 = at(40)
  const i = at40.indexOf(row(at40, '5h'))
  assert.match(at40[i], /^ {2}5h +([█░│]+ )?37% used +↻2h10m$/)
  assert.match(at40[i + 1], /^ +runs out in 1h20m$/)
})

test('refreshNote: r says at once what it did, or why it did not ask again and when it can', () => {
  const at = (updated) => entry('anthropic', 'default', [pw('5h', 10)], { updated })
  const startedAt = NOW
  // a fresh fetch
  assert.equal(view.refreshNote([at(NOW + 200), at(NOW - 40_000)], { startedAt, now: NOW + 300, holdMs: 30_000 }), 'refreshed')
  // the shared cache answered: fetched 12 s ago, the hold is 30 s
  assert.equal(view.refreshNote([at(NOW - 12_000)], { startedAt, now: NOW, holdMs: 30_000 }), 'fetched 12s ago — next refresh possible in 18s')
  assert.equal(view.refreshNote([at(NOW - 29_500)], { startedAt, now: NOW, holdMs: 30_000 }), 'fetched 29s ago — press r again to fetch now')
  assert.equal(view.refreshNote([at(NOW - 300)], { startedAt, now: NOW, holdMs: 30_000 }), 'fetched just now — next refresh possible in 29s')
  // without a cache nothing holds a refresh back
  assert.equal(view.refreshNote([at(NOW - 12_000)], { startedAt, now: NOW, holdMs: 0 }), 'refreshed')
  assert.equal(view.refreshNote([entry('zai', 'default', [], { active: false, updated: 0 })], { startedAt, now: NOW, holdMs: 30_000 }), 'refreshed: no provider has data')
})
