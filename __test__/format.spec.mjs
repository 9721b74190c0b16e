// Unit tests of lib/format.js: fixed `now`, hand-made entries, exact strings.
// Local times in the table depend on the time zone, so pin it before any Date use.
process.env.TZ = 'UTC'

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const fmt = require('../lib/format.js')

const { visibleWidth } = require('../lib/terminal.js')
const NOW = Date.parse('2026-11-23T18:50:00Z')
const MIN = 60_000
const HOUR = 60 * MIN
const DAY = 24 * HOUR

function pw(id, usedPct, extra = {}) {
  const usedRatio = usedPct / 100
  return {
    id, modelId: 'default', kind: 'percentage', total: 100, used: usedPct, remaining: 100 - usedPct,
    usedRatio, remainingRatio: 1 - usedRatio, ...extra,
  }
}

function entry(providerId, modelId, windows, extra = {}) {
  return {
    key: `${providerId}/${modelId}`, providerId, modelId, windows,
    updated: NOW - 2 * MIN, fails: 0, active: true, stale: false, ...extra,
  }
}

const claude = entry('anthropic', 'default', [
  pw('5h', 37, { duration: 18000, resetsAt: NOW + 2 * HOUR + 10 * MIN, elapsedRatio: 0.25, pace: 0.12, paceStage: 'ahead', runsOutAt: NOW + HOUR + 20 * MIN }),
  pw('7d', 64, { duration: 604800, resetsAt: Date.parse('2026-11-27T08:00:00Z'), pace: -0.08, paceStage: 'behind' }),
  pw('7d_opus', 12, { resetsAt: Date.parse('2026-11-27T08:00:00Z') }),
  pw('seven_day_omelette', 3),
], { plan: 'max' })
const codex = entry('openai-codex', 'default', [
  pw('5h', 23, { resetsAt: NOW + 9120_000, pace: 0.004, paceStage: 'on-track' }),
  pw('7d', 41, { resetsAt: NOW + 301_000_000 }),
], { plan: 'plus' })
const copilotWindow = {
  id: 'premium', modelId: 'default', kind: 'multiplier', total: 300, used: 127, remaining: 173,
  usedRatio: 127 / 300, remainingRatio: 173 / 300, resetsAt: Date.parse('2026-12-01T00:00:00Z'),
}
const copilot = entry('github-copilot', 'default', [copilotWindow], { plan: 'individual_pro' })
const agWin = (remaining, resetsAt) => ({ ...pw('quota', 100 - remaining), resetsAt, level: remaining === 0 ? 'exhausted' : 'ok' })
const antigravity = [
  entry('google-antigravity', 'gemini-3-pro-high', [agWin(80, NOW + 4 * HOUR + 20 * MIN)]),
  entry('google-antigravity', 'claude-opus-4-5-thinking', [agWin(0, NOW + 7 * HOUR + 10 * MIN)]),
  entry('google-antigravity', 'gemini-3-flash', [agWin(100, NOW + 4 * HOUR + 20 * MIN)]),
]
const inactiveGemini = entry('google-gemini-cli', 'default', [], { active: false, updated: 0 })

test('formatDuration', () => {
  assert.equal(fmt.formatDuration(-5), 'now')
  assert.equal(fmt.formatDuration(0), 'now')
  assert.equal(fmt.formatDuration(999), 'now')
  assert.equal(fmt.formatDuration(NaN), 'now')
  assert.equal(fmt.formatDuration(45_000), '45s')
  assert.equal(fmt.formatDuration(59_999), '59s')
  assert.equal(fmt.formatDuration(60_000), '1m')
  assert.equal(fmt.formatDuration(12 * MIN + 30_000), '12m')
  assert.equal(fmt.formatDuration(2 * HOUR), '2h')
  assert.equal(fmt.formatDuration(2 * HOUR + 10 * MIN), '2h10m')
  assert.equal(fmt.formatDuration(3 * DAY + 4 * HOUR + 59 * MIN), '3d4h')
  assert.equal(fmt.formatDuration(7 * DAY), '7d')
})

test('providerLabel', () => {
  assert.equal(fmt.providerLabel('anthropic'), 'claude')
  assert.equal(fmt.providerLabel('openai-codex'), 'codex')
  assert.equal(fmt.providerLabel('github-copilot'), 'copilot')
  assert.equal(fmt.providerLabel('google-antigravity'), 'antigravity')
  assert.equal(fmt.providerLabel('google-gemini-cli'), 'gemini')
  assert.equal(fmt.providerLabel('anthropic-work'), 'claude-work')
  assert.equal(fmt.providerLabel('openai-codex-team'), 'codex-team')
  assert.equal(fmt.providerLabel('google-gemini-cli-2'), 'gemini-2')
  assert.equal(fmt.providerLabel('my-provider'), 'my-provider')
  assert.equal(fmt.providerLabel('anthropicx'), 'anthropicx')
})

test('formatFooterLine: compact line of the brief', () => {
  // Entries in a scrambled order: output order is fixed by provider.
  const line = fmt.formatFooterLine([copilot, codex, claude], { now: NOW })
  assert.equal(line, 'claude 5h 37% ↻2h10m · 7d 64% │ codex 5h 23% ↻2h32m · 7d 41% │ copilot 173/300')
})

test('footerParts: segments, levels and kinds', () => {
  const parts = fmt.footerParts([claude, copilot], { now: NOW })
  assert.deepEqual(parts, [
    {
      providerId: 'anthropic', label: 'claude', segments: [
        { text: '5h 37%', level: 'ok', kind: 'value' },
        { text: '↻2h10m', level: 'muted', kind: 'reset' },
        { text: '7d 64%', level: 'ok', kind: 'value' },
      ],
    },
    { providerId: 'github-copilot', label: 'copilot', segments: [{ text: '173/300', level: 'ok', kind: 'value' }] },
  ])
})

test('footerParts: warn/critical thresholds, extra low windows, error and stale', () => {
  // Levels are the tracker's (published on each window); the formatter only paints them.
  const low = entry('anthropic', 'default', [pw('5h', 80, { level: 'warn' }), pw('7d', 95, { level: 'critical' }), pw('7d_opus', 76, { level: 'warn' }), pw('7d_sonnet', 10, { level: 'ok' })], {
    error: { kind: 'rate_limited', message: 'HTTP 429' },
  })
  const parts = fmt.footerParts([low], { now: NOW })
  assert.deepEqual(parts[0].segments, [
    { text: '5h 80%', level: 'warn', kind: 'value' },
    { text: '7d 95%', level: 'critical', kind: 'value' },
    { text: '7d_opus 76%', level: 'warn', kind: 'value' },
    { text: '!', level: 'error', kind: 'error' },
  ])
  assert.equal(fmt.formatFooterLine([low], { now: NOW }), 'claude 5h 80% · 7d 95% · 7d_opus 76% !')
  // No level published (an older addon's entries): plain.
  assert.equal(fmt.footerParts([entry('anthropic', 'default', [pw('5h', 99)])], { now: NOW })[0].segments[0].level, 'ok')
  // Stale overrides the level; an active entry with only an error still shows "!".
  const stale = { ...codex, stale: true }
  const failing = entry('github-copilot', 'default', [], { error: { kind: 'auth', message: 'HTTP 401' } })
  assert.deepEqual(fmt.footerParts([stale, failing], { now: NOW }).map((p) => p.segments.map((s) => s.level)), [
    ['stale', 'muted', 'stale'],
    ['error'],
  ])
  assert.equal(fmt.formatFooterLine([failing], { now: NOW }), 'copilot !')
})

test('footerParts: inactive and empty providers are skipped', () => {
  const pending = entry('openai-codex', 'default', [])
  assert.deepEqual(fmt.footerParts([inactiveGemini, pending], { now: NOW }), [])
  assert.equal(fmt.formatFooterLine([inactiveGemini], { now: NOW }), '')
  assert.equal(fmt.formatFooterLine([], { now: NOW }), '')
})

test('footerParts: per-model provider shows its most constrained model', () => {
  assert.equal(fmt.formatFooterLine(antigravity, { now: NOW }), 'antigravity claude-opus-4-5-thinking 100% ↻7h10m')
  assert.equal(fmt.footerParts(antigravity, { now: NOW })[0].segments[0].level, 'exhausted')
})

test('footerParts: providers filter picks and orders parts', () => {
  const all = [claude, codex, copilot, ...antigravity, inactiveGemini]
  assert.equal(
    fmt.formatFooterLine(all, { now: NOW, providers: ['github-copilot', 'anthropic', 'nope'] }),
    'copilot 173/300 │ claude 5h 37% ↻2h10m · 7d 64%',
  )
})

test('footerParts: full style shows every window and model with resets', () => {
  assert.equal(
    fmt.formatFooterLine([codex, copilot], { now: NOW, style: 'full' }),
    'codex 5h 23% ↻2h32m · 7d 41% ↻3d11h │ copilot 173/300 ↻7d5h',
  )
  assert.equal(
    fmt.formatFooterLine(antigravity, { now: NOW, style: 'full' }),
    'antigravity claude-opus-4-5-thinking quota 100% ↻7h10m · gemini-3-flash quota 0% ↻4h20m · gemini-3-pro-high quota 20% ↻4h20m',
  )
  // Copilot with a default entry plus per-model entries: two amount windows get their ids.
  const perModel = entry('github-copilot', 'claude-opus-4', [{ ...copilotWindow, modelId: 'claude-opus-4', total: 30, used: 12.7, remaining: 17.3 }])
  assert.equal(fmt.formatFooterLine([copilot, perModel], { now: NOW }), 'copilot 173/300')
  assert.equal(
    fmt.formatFooterLine([copilot, perModel], { now: NOW, style: 'full' }),
    'copilot premium 173/300 ↻7d5h · claude-opus-4 premium 17/30 ↻7d5h',
  )
})

test('footerParts: instance ids are their own parts', () => {
  const work = { ...claude, key: 'anthropic-work/default', providerId: 'anthropic-work', windows: [pw('5h', 5)] }
  assert.equal(fmt.formatFooterLine([work, claude], { now: NOW }), 'claude 5h 37% ↻2h10m · 7d 64% │ claude-work 5h 5%')
})

test('formatPace', () => {
  assert.equal(fmt.formatPace({ pace: 0.12, paceStage: 'ahead' }, NOW), '+12 ahead')
  assert.equal(fmt.formatPace({ pace: -0.08, paceStage: 'behind' }, NOW), '-8 behind')
  assert.equal(fmt.formatPace({ pace: 0.004, paceStage: 'on-track' }, NOW), 'on track')
  assert.equal(fmt.formatPace({ pace: 0.31, paceStage: 'far-ahead' }, NOW), '+31 far ahead')
  assert.equal(fmt.formatPace({ pace: -0.05 }, NOW), '-5 behind')
  assert.equal(fmt.formatPace({ pace: 0.12, paceStage: 'ahead', runsOutAt: NOW + 80 * MIN }, NOW), '+12 ahead, runs out in 1h20m')
  assert.equal(fmt.formatPace({ runsOutAt: NOW + 5 * MIN }, NOW), 'runs out in 5m')
  assert.equal(fmt.formatPace({}, NOW), '')
})

test('formatResetAt and formatAgo', () => {
  assert.equal(fmt.formatResetAt(Date.parse('2026-11-23T21:00:00.123Z'), NOW), '21:00')
  assert.equal(fmt.formatResetAt(Date.parse('2026-11-27T08:00:00Z'), NOW), 'Nov 27 08:00')
  assert.equal(fmt.formatResetAt(undefined, NOW), '')
  assert.equal(fmt.formatAgo(0, NOW), 'never')
  assert.equal(fmt.formatAgo(NOW - 500, NOW), 'just now')
  assert.equal(fmt.formatAgo(NOW - 2 * MIN, NOW), '2m ago')
})

test('renderTable: exact plain table; a failure is said in words under it', () => {
  const failing = entry('openai-codex', 'default', [], { error: { kind: 'auth', message: 'HTTP 401: token expired' }, updated: 0, fails: 1 })
  const table = fmt.renderTable([inactiveGemini, copilot, failing, claude, antigravity[0]], { now: NOW })
  const expected = [
    'provider                              window              used  remaining  resets in  resets at     pace                          plan            updated',
    'anthropic                             5h                  37%   63%        2h10m      21:00         +12 ahead, runs out in 1h20m  max             2m ago',
    'anthropic                             7d                  64%   36%        3d13h      Nov 27 08:00  -8 behind                     max             2m ago',
    'anthropic                             7d_opus             12%   88%        3d13h      Nov 27 08:00                                max             2m ago',
    'anthropic                             seven_day_omelette  3%    97%                                                               max             2m ago',
    'openai-codex                          -',
    'github-copilot                        premium             42%   173/300    7d5h       Dec 1 00:00                                 individual_pro  2m ago',
    'google-antigravity/gemini-3-pro-high  quota               20%   80%        4h20m      23:10                                                       2m ago',
    'openai-codex: login not accepted; log in again in pi (/login): HTTP 401: token expired',
    'no credentials: gemini',
  ].join('\n')
  assert.equal(table, expected)
})

test('renderTable at a width: gives up columns in the stated order, never a value, and fits', () => {
  const pace = pw('5h', 37, { resetsAt: NOW + 2 * HOUR + 10 * MIN, pace: 0.3, paceStage: 'far-ahead', runsOutAt: NOW + HOUR + 20 * MIN })
  const claudeFast = entry('anthropic', 'default', [pace, claude.windows[1]], { plan: 'max' })
  const entries = [claudeFast, codex, copilot, ...antigravity]
  const full = fmt.renderTable(entries, { now: NOW }).split('\n')
  const widest = Math.max(...full.map(visibleWidth))
  assert.ok(widest > 100, `the full table is wide (${widest})`)
  assert.deepEqual(fmt.renderTable(entries, { now: NOW, width: widest }).split('\n'), full, 'a terminal as wide as the table gets all of it')
  const headerAt = (width) => fmt.renderTable(entries, { now: NOW, width }).split('\n')[0].split(/\s{2,}/)
  assert.deepEqual(headerAt(widest - 1), ['provider', 'window', 'used', 'remaining', 'resets in', 'pace', 'plan', 'updated'])
  for (const width of [100, 90, 80, 75, 72]) {
    const lines = fmt.renderTable(entries, { now: NOW, width }).split('\n')
    for (const l of lines) assert.ok(visibleWidth(l) <= width, `${width}: ${l}`)
    const text = lines.join('\n')
    // nothing is cut: the run-out time, every window's value, the models under their provider
    assert.ok(!text.includes('…'), `${width}:\n${text}`)
    assert.match(text, /1h20m/, `run-out time at ${width}`)
    for (const v of ['37%', '64%', '23%', '41%', '173/300', '20%']) assert.ok(text.includes(v), `${v} at ${width}`)
    assert.match(text, /^ {2}claude-opus-4-5-thinking +quota/m)
    // what the narrow forms leave out of the columns is said under the table
    assert.match(text, /individual_pro/)
    assert.match(text, /2m ago/)
  }
  const at100 = fmt.renderTable(entries, { now: NOW, width: 100 }).split('\n')
  assert.deepEqual(at100[0].split(/\s{2,}/), ['provider / model', 'window', 'used', 'remaining', 'resets', 'pace'])
  assert.match(at100.find((l) => l.startsWith('anthropic ')), /\+30 far ahead, runs out in 1h20m$/)
  const at90 = fmt.renderTable(entries, { now: NOW, width: 90 }).split('\n')
  assert.match(at90.find((l) => l.startsWith('anthropic ')), /\+30 ahead, out in 1h20m$/)
  for (const width of [80, 75]) {
    const lines = fmt.renderTable(entries, { now: NOW, width }).split('\n')
    assert.deepEqual(lines[0].split(/\s{2,}/), ['provider / model', 'window', 'used', 'remaining', 'resets', 'runs out in'])
    assert.match(lines.find((l) => l.startsWith('anthropic ')), /\s1h20m$/)
  }
  const at72 = fmt.renderTable(entries, { now: NOW, width: 72 }).split('\n')
  assert.deepEqual(at72[0].split(/\s{2,}/), ['provider / model', 'window', 'used / left', 'resets', 'runs out in'])
  assert.match(at72.find((l) => l.startsWith('github-copilot ')), /premium +173\/300 left +7d5h$/)
  // narrower than every form: lines are cut (the last resort), never wrapped
  for (const l of fmt.renderTable(entries, { now: NOW, width: 50 }).split('\n')) assert.ok(visibleWidth(l) <= 50, l)
})

test('renderTable: a balance shows the money left, never a percent', () => {
  const balance = { id: 'balance-usd', modelId: 'default', kind: 'balance', unit: 'USD', total: 0, used: 0, remaining: 37.42, usedRatio: 0, remainingRatio: 1 }
  const deepseek = entry('deepseek', 'default', [balance])
  for (const width of [Infinity, 80, 50]) {
    const row = fmt.renderTable([deepseek], { now: NOW, width }).split('\n').find((l) => l.startsWith('deepseek'))
    assert.match(row, /balance-usd +\$37\.42/, `${width}: ${row}`)
    assert.doesNotMatch(row, /%/, `${width}: ${row}`)
  }
})

test('renderTable: stale marker, empty input, color', () => {
  const stale = { ...codex, stale: true, windows: [codex.windows[0]] }
  const table = fmt.renderTable([stale], { now: NOW })
  assert.match(table.split('\n')[1], /2m ago \(stale\)$/)
  assert.equal(fmt.renderTable([], { now: NOW }), 'no usage data')
  const colored = fmt.renderTable([copilot], { now: NOW, color: true })
  const lines = colored.split('\n')
  assert.ok(lines[0].startsWith('\x1b[1mprovider'))
  assert.ok(lines[1].startsWith('\x1b[32mgithub-copilot') && lines[1].endsWith('\x1b[0m'))
  // Color never changes the text itself.
  assert.equal(colored.replace(/\x1b\[[0-9;]*m/g, ''), fmt.renderTable([copilot], { now: NOW }))
})

test('toJson: stable documented shape', () => {
  const failing = entry('openai-codex', 'default', [], {
    error: { kind: 'rate_limited', message: 'HTTP 429', retryAt: NOW + 60_000 }, fails: 2,
  })
  const json = fmt.toJson([inactiveGemini, failing, copilot, claude], { now: NOW })
  assert.equal(json.version, 1)
  assert.equal(json.generatedAt, NOW)
  assert.deepEqual(json.entries.map((e) => e.key), [
    'anthropic/default', 'openai-codex/default', 'github-copilot/default', 'google-gemini-cli/default',
  ])
  assert.deepEqual(json.entries[0].windows[0], {
    id: '5h', kind: 'percentage', usedPercent: 37, remainingPercent: 63, used: 37, remaining: 63, total: 100,
    resetsAt: NOW + 2 * HOUR + 10 * MIN, resetsInSeconds: 7800, pace: 0.12, paceStage: 'ahead', paceSource: null,
    runsOutAt: NOW + 80 * MIN,
  })
  assert.deepEqual(json.entries[0].windows[3], {
    id: 'seven_day_omelette', kind: 'percentage', usedPercent: 3, remainingPercent: 97, used: 3, remaining: 97, total: 100,
    resetsAt: null, resetsInSeconds: null, pace: null, paceStage: null, paceSource: null, runsOutAt: null,
  })
  assert.deepEqual(json.entries[1], {
    key: 'openai-codex/default', providerId: 'openai-codex', modelId: 'default', active: true, stale: false,
    plan: null, updated: NOW - 2 * MIN, fails: 2,
    error: { kind: 'rate_limited', message: 'HTTP 429', retryAt: NOW + 60_000 }, windows: [],
  })
  assert.deepEqual(json.entries[2].windows[0], {
    id: 'premium', kind: 'multiplier', usedPercent: 42.3, remainingPercent: 57.7, used: 127, remaining: 173, total: 300,
    resetsAt: Date.parse('2026-12-01T00:00:00Z'), resetsInSeconds: 623400, pace: null, paceStage: null, paceSource: null, runsOutAt: null,
  })
  assert.equal(json.entries[2].plan, 'individual_pro')
  assert.deepEqual(json.entries[3], {
    key: 'google-gemini-cli/default', providerId: 'google-gemini-cli', modelId: 'default', active: false, stale: false,
    plan: null, updated: 0, fails: 0, error: null, windows: [],
  })
  // Round-trips through JSON unchanged (no undefined, no functions).
  assert.deepEqual(JSON.parse(JSON.stringify(json)), json)
})

test('sortEntries does not mutate its input', () => {
  const input = [copilot, claude]
  const sorted = fmt.sortEntries(input)
  assert.deepEqual(sorted.map((e) => e.providerId), ['anthropic', 'github-copilot'])
  assert.deepEqual(input.map((e) => e.providerId), ['github-copilot', 'anthropic'])
})

test('renderTable folds per-model views of a multiplier pool', () => {
  const pool = { id: 'premium', modelId: 'default', kind: 'multiplier', total: 300, used: 127, remaining: 173, usedRatio: 127 / 300, remainingRatio: 173 / 300, unlimited: false }
  const view = (modelId, m) =>
    m === 0
      ? { ...pool, modelId, used: 0, remaining: 300, usedRatio: 0, remainingRatio: 1, unlimited: true, poolView: true }
      : { ...pool, modelId, total: 300 / m, used: 127 / m, remaining: 173 / m, poolView: true }
  const entries = [
    entry('github-copilot', 'default', [pool]),
    entry('github-copilot', 'gpt-4o', [view('gpt-4o', 0)]),
    entry('github-copilot', 'gpt-4.1', [view('gpt-4.1', 0)]),
    entry('github-copilot', 'claude-sonnet-4.5', [view('claude-sonnet-4.5', 1)]),
    entry('github-copilot', 'claude-opus-4.5', [view('claude-opus-4.5', 3)]),
  ]
  const lines = fmt.renderTable(entries, { now: NOW }).split('\n')
  const names = lines.slice(1).map((l) => l.split(/\s{2,}/)[0])
  assert.deepEqual(names, ['github-copilot', 'github-copilot/claude-opus-4.5', 'github-copilot/…'], '1× view folded into the pool row')
  assert.match(lines.at(-1), /included \(0×\)\s+unlimited\s+gpt-4o, gpt-4\.1$/)
  assert.match(lines[2], /58\/100/)
  // A model's multiplier window the addon did not mark as a view of the pool is a pool of its
  // own, shown whatever its numbers.
  const own = entry('github-copilot', 'claude-sonnet-4.5', [{ ...pool, modelId: 'claude-sonnet-4.5' }])
  const names2 = fmt.renderTable([entries[0], own], { now: NOW }).split('\n').slice(1).map((l) => l.split(/\s{2,}/)[0])
  assert.deepEqual(names2, ['github-copilot', 'github-copilot/claude-sonnet-4.5'])
})
