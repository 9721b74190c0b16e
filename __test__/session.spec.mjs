// "What this session cost" outside pi: `usage-store history --since` and `tracker.since()` over
// a recorded history (resets inside the span, argument errors), the session ledger's argument
// checks, and its words in the footer cell and the view (lib/session.js, lib/view.js). The
// counting rules themselves are unit-tested in usage-core (session.rs); the pi footer and
// view in pi-session.spec.mjs.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { createRequire } from 'node:module'
import { startSandbox } from './sandbox.mjs'

const require = createRequire(import.meta.url)
const CLI = fileURLToPath(new URL('../bin/usage-store.js', import.meta.url))
const { UsageTracker } = require('../index.js')
const { sessionCell, sessionLines, sessionJson } = require('../lib/session.js')
const { renderView } = require('../lib/view.js')

const HOUR = 3_600_000
let sb
let root

before(async () => {
  sb = await startSandbox()
  root = mkdtempSync(path.join(tmpdir(), 'usage-session-'))
})

after(async () => {
  await sb?.close()
  if (root) rmSync(root, { recursive: true, force: true })
})

function run(args, agent) {
  const env = { PATH: process.env.PATH, HOME: root, PI_CODING_AGENT_DIR: agent, NO_COLOR: '1', COLUMNS: '100', PI_USAGE_TRACKER_BASE_URL: sb.url }
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr })
    })
  })
}

/** An agent dir whose Claude history holds a 5h window that reset 2.5 hours ago:
 *  60% → 70%, reset, 5% → 12% → what the fetch saw. */
async function recordedAgent() {
  const agent = mkdtempSync(path.join(root, 'agent-'))
  writeFileSync(path.join(agent, 'auth.json'), JSON.stringify(sb.authJson(), null, 2))
  const fetched = await run(['--provider', 'anthropic'], agent)
  assert.equal(fetched.code, 0, fetched.stderr)
  const cacheDir = path.join(agent, 'cache')
  const file = path.join(cacheDir, readdirSync(cacheDir).find((f) => /\.history-anthropic-[0-9a-f]+\.jsonl$/.test(f)))
  const [header, ...rest] = readFileSync(file, 'utf8').trimEnd().split('\n')
  const last = rest.map((l) => JSON.parse(l)).find((l) => l.w === '5h')
  const now = Date.now()
  const reset2 = last.rs
  const reset1 = reset2 - 5 * HOUR
  const earlier = [
    { w: '5h', t: now - 4 * HOUR, ur: 0.6, d: 18000, rs: reset1 },
    { w: '5h', t: now - 3 * HOUR, ur: 0.7, d: 18000, rs: reset1 },
    { w: '5h', t: now - 1.5 * HOUR, ur: 0.05, d: 18000, rs: reset2 },
    { w: '5h', t: now - 1 * HOUR, ur: 0.12, d: 18000, rs: reset2 },
  ].map((l) => JSON.stringify(l))
  writeFileSync(file, [header, ...earlier, ...rest].join('\n') + '\n')
  return { agent, lastUsed: last.ur }
}

test("usage-store history --since: each window's change, a reset counting use before and after it", async () => {
  const { agent, lastUsed } = await recordedAgent()
  const after = Math.round((lastUsed - 0.12) * 100)
  const two = await run(['history', '--since', '2h', '--provider', 'anthropic', '--window', '5h'], agent)
  assert.equal(two.code, 0, two.stderr)
  const lines = two.stdout.trimEnd().split('\n')
  assert.match(lines[0], /^provider\s+window\s+used\s+resets\s+recorded from$/)
  assert.match(lines[1], new RegExp(`^anthropic\\s+5h\\s+\\+${7 + after}%\\s+0\\s+1h30m ago$`), two.stdout)

  const four = await run(['history', '--since', '5h', '--json', '--provider', 'anthropic', '--window', '5h'], agent)
  assert.equal(four.code, 0, four.stderr)
  const j = JSON.parse(four.stdout)
  assert.equal(j.windows.length, 1)
  const w = j.windows[0]
  assert.equal(w.windowId, '5h')
  assert.equal(w.resets, 1)
  assert.equal(w.points, 5)
  assert.equal(Math.round(w.change), 10 + 5 + 7 + after, '60→70, reset, 5→12→now')
  assert.equal(w.inUnit, false, 'percent points')
})

test('usage-store history --since: a bad age is named', async () => {
  for (const bad of ['2', 'two hours', '-1h', '0h']) {
    const r = await run(['history', `--since=${bad}`], root)
    assert.equal(r.code, 2)
    assert.match(r.stderr, new RegExp(`--since wants an age like 90s, 30m, 2h or 7d, got "${bad}"`))
  }
  const r = await run(['--since', '2h'], root)
  assert.equal(r.code, 2)
  assert.match(r.stderr, /--since goes with `usage-store history`/)
})

test('tracker.since: each recorded window, a reset counted; a bad time is a TypeError', async () => {
  const { agent, lastUsed } = await recordedAgent()
  const tracker = new UsageTracker({ cachePath: path.join(agent, 'cache', 'usage-tracker.json') })
  try {
    tracker.registerBuiltinProvider('anthropic', { baseUrl: sb.url, credentials: sb.credentials('anthropic') })
    const changes = await tracker.since(Date.now() - 5 * HOUR)
    const five = changes.find((c) => c.windowId === '5h')
    assert.ok(five, JSON.stringify(changes))
    assert.equal(five.resets, 1)
    assert.equal(Math.round(five.change), 22 + Math.round((lastUsed - 0.12) * 100))
    assert.equal(five.unit, null, 'percent points')
    assert.ok(changes.every((c) => c.points >= 1 && c.change >= 0), JSON.stringify(changes))
    await assert.rejects(() => tracker.since('2h'), { name: 'TypeError', message: /since: expected epoch ms as a number, got string/ })
  } finally {
    await tracker.stop()
  }
})

test('openSession refuses an id that is not a pi session id', async () => {
  const tracker = new UsageTracker({ cachePath: null })
  for (const bad of ['../etc', '', 'a/b']) {
    await assert.rejects(() => tracker.openSession(bad), (err) => err instanceof TypeError && /is not a pi session id/.test(err.message))
  }
})

test("a session ledger: a baseline, a response's change to its model, kept in a private file", async () => {
  const cachePath = path.join(root, 'ledger-cache', 'usage.json')
  const id = '0197b3a4-1c2d-7e8f-9a0b-1c2d3e4f5a6b'
  const tracker = new UsageTracker({ cachePath, intervalMs: 60_000 })
  try {
    tracker.registerBuiltinProvider('anthropic', { baseUrl: sb.url, credentials: sb.credentials('anthropic') })
    const cost = await tracker.openSession(id)
    await tracker.refresh()
    assert.equal(cost.note(), true, 'the first values are the baseline')
    assert.equal(cost.note(), false, 'the same values again change nothing')
    const start = cost.summary().providers.find((p) => p.providerId === 'anthropic')
    assert.ok(start.windows.length > 0 && start.windows.every((w) => w.change === 0), JSON.stringify(start))
    assert.equal(start.windows[0].windowId, 'extra', 'money first')

    // a model response: extra usage $12.50 → $25.00 of $50
    tracker.observeResponse('anthropic', 200, { 'anthropic-ratelimit-unified-overage-utilization': '0.5', 'anthropic-ratelimit-unified-overage-status': 'allowed' })
    assert.equal(cost.note({ providerId: 'anthropic', modelId: 'claude-opus-4-7' }), true)
    const extra = cost.summary().providers.find((p) => p.providerId === 'anthropic').windows[0]
    assert.equal(extra.windowId, 'extra')
    assert.equal(extra.change, 12.5)
    assert.deepEqual(extra.byModel, [{ modelId: 'claude-opus-4-7', change: 12.5 }])
    assert.equal(extra.other, 0)
    assert.deepEqual(sessionCell(cost.summary(), 'anthropic'), { label: 'session', text: '+$12.50' })

    // kept beside the cache, private, written off the JS thread
    const file = path.join(root, 'ledger-cache', 'usage-sessions', `${id}.json`)
    for (let i = 0; i < 100 && !/claude-opus-4-7/.test(readIfAny(file)); i++) await new Promise((r) => setTimeout(r, 20))
    assert.match(readIfAny(file), /"claude-opus-4-7":12\.5/)
    assert.equal(statSync(file).mode & 0o077, 0)
    for (const token of Object.values(sb.tokens)) assert.ok(!readIfAny(file).includes(token), 'no token in the ledger')
    // the same session opened again (a /reload) continues the count
    const again = await tracker.openSession(id)
    assert.equal(again.summary().providers.find((p) => p.providerId === 'anthropic').windows[0].change, 12.5)
  } finally {
    await tracker.stop()
  }
})

function readIfAny(file) {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return ''
  }
}

const SUMMARY = {
  sessionId: 's',
  startedAt: 1_000,
  updatedAt: 2_000,
  providers: [
    {
      providerId: 'anthropic',
      windows: [
        { windowId: 'extra', modelId: 'default', unit: 'USD', money: true, balance: false, change: 18.5, byModel: [{ modelId: 'claude-opus-4-7', change: 15 }], other: 3.5, resets: 0, since: 1_000 },
        { windowId: '5h', modelId: 'default', money: false, balance: false, change: 12.4, byModel: [], other: 12.4, resets: 1, since: 1_000 },
      ],
    },
    { providerId: 'zai', windows: [{ windowId: 'tokens', modelId: 'default', money: false, balance: false, change: 0, byModel: [], other: 0, resets: 0, since: 1_000 }] },
  ],
}

test('the footer cell: money first, a plan window with its name, nothing without data', () => {
  assert.deepEqual(sessionCell(SUMMARY, 'anthropic'), { label: 'session', text: '+$18.50' })
  assert.equal(sessionCell(SUMMARY, 'zai'), undefined, 'nothing used yet: no cell')
  assert.equal(sessionCell(SUMMARY, 'github-copilot'), undefined)
  assert.equal(sessionCell(undefined, 'anthropic'), undefined)
})

test('the session in /usage-store json: changed windows only', () => {
  const j = sessionJson(SUMMARY)
  assert.deepEqual(j.providers.map((p) => [p.providerId, p.windows.map((w) => w.windowId)]), [['anthropic', ['extra', '5h']], ['zai', []]])
  assert.equal(sessionJson(undefined), null)
})

test("the view's \"this session\" block: per model, other use, resets and the session's length", () => {
  const now = 1_000 + 12 * 60_000
  assert.deepEqual(sessionLines(SUMMARY, 'anthropic', now), [
    'this session (12m):',
    '  extra +$18.50 — claude-opus-4-7 +$15.00, other use of this login +$3.50',
    '  5h +12%, reset 1× — other use of this login +12%',
  ])
  assert.deepEqual(sessionLines(SUMMARY, 'zai', now), [], 'nothing used: no block')
  const entries = [{ key: 'anthropic/default', providerId: 'anthropic', modelId: 'default', active: true, stale: false, updated: now, fails: 0, windows: [{ id: '5h', modelId: 'default', kind: 'percentage', total: 100, used: 40, remaining: 60, usedRatio: 0.4, remainingRatio: 0.6, level: 'ok' }] }]
  const lines = renderView(entries, { width: 100, now, session: SUMMARY })
  const at = lines.findIndex((l) => l.startsWith('  this session (12m):'))
  assert.ok(at > 0, lines.join('\n'))
  assert.match(lines[at + 1], /^ {4}extra \+\$18\.50 — claude-opus-4-7 \+\$15\.00/)
  assert.ok(!renderView(entries, { width: 100, now }).some((l) => l.includes('this session')), 'no session: no block')
})
