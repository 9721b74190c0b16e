// Usage history through the addon: every stored value is recorded next to the cache and read
// back with tracker.history(); processes sharing a cache record each result once; a torn or
// killed write leaves a history that loads; a corrupt file is set aside with a warning.
import { test, before, after, beforeEach } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { startSandbox } from './sandbox.mjs'

const require = createRequire(import.meta.url)
const { UsageTracker } = require('../index.js')
const CHILD = fileURLToPath(new URL('./helpers/shared-poll-child.mjs', import.meta.url))

// A forced refresh reuses a cached result younger than min(30 s, interval): 1 s here.
const INTERVAL = 1000
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

let sb
let root
let dir
let n = 0

before(async () => {
  sb = await startSandbox()
  root = mkdtempSync(path.join(tmpdir(), 'usage-history-'))
})

after(async () => {
  await sb?.close()
  if (root) rmSync(root, { recursive: true, force: true })
})

beforeEach(() => {
  sb.reset()
  dir = path.join(root, `case-${++n}`)
})

const cachePath = () => path.join(dir, 'usage.json')

function tracker(ids = ['anthropic'], options = {}) {
  const t = new UsageTracker({ cachePath: cachePath(), intervalMs: INTERVAL, ...options })
  for (const id of ids) t.registerBuiltinProvider(id, { baseUrl: sb.url, credentials: sb.credentials(id) })
  return t
}

function withUtilization(pct) {
  const body = sb.fixture('anthropic')
  body.five_hour.utilization = pct
  // limits[] is what the service says last, and the wire believes it first
  for (const l of body.limits ?? []) if (l.kind === 'session') l.percent = pct
  sb.setFixture('anthropic', body)
}

const historyFiles = () => readdirSync(dir).filter((f) => /\.history-.*\.jsonl$/.test(f))
const asideFiles = () => readdirSync(dir).filter((f) => f.includes('.jsonl.corrupt-'))

/** Three fetches a little over a second apart, so none is served from the cache. */
async function threePoints(t) {
  for (const pct of [10, 20, 30]) {
    withUtilization(pct)
    await t.refresh()
    if (pct !== 30) await sleep(INTERVAL + 100)
  }
}

test('every stored value is recorded next to the cache and read back', async () => {
  const t = tracker(['anthropic', 'github-copilot'])
  const before = Date.now()
  await threePoints(t)
  const points = await t.history('anthropic', '5h')
  assert.deepEqual(points.map((p) => p.usedRatio), [0.1, 0.2, 0.3])
  assert.ok(points.every((p, i) => p.at >= before && (i === 0 || p.at > points[i - 1].at)))
  assert.deepEqual(Object.keys(points[0]).sort(), ['at', 'resetsAt', 'usedRatio'], 'percent-only: no amounts; the reset then')
  assert.ok(points.every((p) => Number.isFinite(p.resetsAt) && p.resetsAt > p.at), 'each point carries its window reset')
  assert.equal((await t.history('anthropic', '5h', { since: points[1].at })).length, 2)
  assert.deepEqual(await t.history('anthropic', 'no-such-window'), [])
  assert.deepEqual(await t.history('anthropic', '5h', { modelId: 'other' }), [])
  assert.equal(t.getWindow('anthropic', '5h').paceSource, 'linear', 'three points in 2 s measure nothing')

  // A pool keeps its amounts; a per-model view of it reads the pool's ratios.
  const pool = await t.history('github-copilot', 'premium')
  assert.equal(pool.length, 1, 'its values never moved: one point')
  assert.deepEqual([pool[0].used, pool[0].remaining], [127, 173])
  const view = await t.history('github-copilot', 'premium', { modelId: 'claude-opus-4.5' })
  assert.deepEqual(view.map((p) => p.usedRatio), pool.map((p) => p.usedRatio))
  assert.equal(view[0].used, undefined)

  const files = historyFiles()
  assert.equal(files.length, 2)
  for (const f of files) {
    assert.match(f, /^usage\.json\.history-(anthropic|github-copilot)-[0-9a-f]{16}\.jsonl$/)
    assert.equal(statSync(path.join(dir, f)).mode & 0o777, 0o600)
    const text = readFileSync(path.join(dir, f), 'utf8')
    assert.ok(!text.includes(sb.tokens.anthropic) && !text.includes(sb.tokens['github-copilot']))
  }
  assert.deepEqual(t.warnings(), [])
  await t.stop()
})

test('no history without a cache, with history: false, or for a provider written in JS', async () => {
  const noCache = new UsageTracker({ cachePath: null })
  noCache.registerBuiltinProvider('anthropic', { baseUrl: sb.url, credentials: sb.credentials('anthropic') })
  await noCache.refresh()
  assert.deepEqual(await noCache.history('anthropic', '5h'), [])
  const off = tracker(['anthropic'], { history: false })
  await off.refresh()
  assert.deepEqual(await off.history('anthropic', '5h'), [])
  assert.deepEqual(historyFiles(), [])
  off.registerProvider({ id: 'js', quotas: [{ id: 'q', percentageOnly: true }], fetchUsage: () => [{ id: 'q', usedRatio: 0.5 }] })
  await off.refresh()
  assert.deepEqual(await off.history('js', 'q'), [])
  await assert.rejects(off.history('nope', '5h'), (e) => e.code === 'ERR_UNKNOWN_PROVIDER' && !(e instanceof TypeError))
  await assert.rejects(off.history('anthropic', 5), TypeError)
  await assert.rejects(off.history('anthropic', '5h', { since: Number.NaN }), TypeError)
  await Promise.all([noCache.stop(), off.stop()])
})

test('trackers sharing a cache record each result once', async () => {
  const [a, b] = [tracker(), tracker()]
  withUtilization(10)
  await a.refresh()
  await b.refresh() // served from a's cache record: the same point
  await sleep(INTERVAL + 100)
  withUtilization(20)
  await b.refresh()
  await a.refresh()
  assert.equal(sb.count('anthropic'), 2)
  for (const t of [a, b]) assert.deepEqual((await t.history('anthropic', '5h')).map((p) => p.usedRatio), [0.1, 0.2])
  const lines = readFileSync(path.join(dir, historyFiles()[0]), 'utf8').trimEnd().split('\n')
  const windows = a.entries().flatMap((e) => e.windows).length
  const points = lines.slice(1).map((l) => JSON.parse(l))
  const perWindow = new Map()
  for (const p of points) perWindow.set(`${p.w}/${p.m ?? 'default'}`, (perWindow.get(`${p.w}/${p.m ?? 'default'}`) ?? 0) + 1)
  assert.equal(perWindow.size, windows, `every one of ${windows} windows recorded`)
  assert.equal(perWindow.get('5h/default'), 2, 'the window that moved: a point per result')
  // The others did not change: a second point only if the 15-minute bucket turned between.
  for (const [w, count] of perWindow) assert.ok(count === 1 || count === 2, `${w}: ${count} points`)
  assert.equal(new Set(points.map((p) => `${p.w}/${p.m}/${p.t}`)).size, points.length, 'no window twice at one instant')
  await Promise.all([a.stop(), b.stop()])
})

test('a write cut short at any byte leaves a history that loads, and the next one starts clean', async () => {
  const t = tracker()
  await threePoints(t)
  await t.stop()
  const file = path.join(dir, historyFiles()[0])
  const full = readFileSync(file)
  // The last append: one line per window, written with one write(2); a kill keeps a prefix.
  const text = full.toString('utf8')
  const lastAt = (await t.history('anthropic', '5h')).at(-1).at
  const lineStart = text.lastIndexOf('\n', text.indexOf(`"t":${lastAt}`)) + 1
  const start = Buffer.byteLength(text.slice(0, lineStart))
  for (let cut = start; cut < full.length; cut++) {
    writeFileSync(file, full.subarray(0, cut))
    const reader = tracker()
    const points = await reader.history('anthropic', '5h')
    assert.ok(points.length === 2 || points.length === 3, `cut at ${cut}: ${points.length}`)
    assert.deepEqual(points.slice(0, 2).map((p) => p.usedRatio), [0.1, 0.2])
    assert.deepEqual(reader.warnings(), [])
  }
  writeFileSync(file, full.subarray(0, start + 10))
  const next = tracker()
  await sleep(INTERVAL + 100)
  withUtilization(40)
  await next.refresh()
  assert.deepEqual((await next.history('anthropic', '5h')).map((p) => p.usedRatio), [0.1, 0.2, 0.4])
  assert.deepEqual(next.warnings(), [])
  for (const line of readFileSync(file, 'utf8').trimEnd().split('\n')) JSON.parse(line)
  assert.deepEqual(asideFiles(), [])
  await next.stop()
})

test('a corrupt history is set aside with a warning and a new one started', async () => {
  const t = tracker()
  await t.refresh()
  await t.stop()
  const name = historyFiles()[0]
  const garbage = Buffer.from('\u0000\u0001 this is no history\n{"w": 1}\n')
  writeFileSync(path.join(dir, name), garbage)
  const next = tracker()
  assert.deepEqual(await next.history('anthropic', '5h'), [], 'reading alone changes nothing')
  assert.deepEqual(next.warnings(), [])
  await sleep(INTERVAL + 100)
  await next.refresh()
  const [warning] = next.warnings()
  assert.match(warning, /usage history file '.*\.jsonl' is unreadable \(no history header\); set aside as '.*\.corrupt-\d+' and a new history started/)
  const aside = asideFiles()
  assert.equal(aside.length, 1)
  assert.ok(aside[0].startsWith(name))
  assert.deepEqual(readFileSync(path.join(dir, aside[0])), garbage)
  assert.equal((await next.history('anthropic', '5h')).length, 1)
  await next.stop()
})

test('processes killed while polling leave one loadable history without duplicates', async () => {
  const config = (runMs) => ({
    url: sb.url,
    credentials: { anthropic: sb.credentials('anthropic') },
    cachePath: cachePath(),
    intervalMs: INTERVAL,
    runMs,
  })
  const spawnChild = () =>
    spawn(process.execPath, [CHILD], {
      env: { PATH: process.env.PATH, HOME: dir, SHARED_POLL: JSON.stringify(config(60_000)) },
      stdio: 'ignore',
    })
  const reader = tracker()
  // A point is recorded when a value moves: the service's moves all the time here.
  let pct = 0
  const moving = setInterval(() => withUtilization(++pct % 100), 150)
  for (let round = 0; round < 2; round++) {
    const children = [spawnChild(), spawnChild(), spawnChild()]
    const exited = children.map((c) => new Promise((resolve) => c.on('exit', resolve)))
    // Kill at odd moments: mid-poll, mid-write, whenever.
    for (const child of children) {
      await sleep(700 + Math.floor(Math.random() * 900))
      child.kill('SIGKILL')
      const points = await reader.history('anthropic', '5h')
      assert.ok(points.every((p, i) => i === 0 || p.at > points[i - 1].at), 'one point per instant, in order')
    }
    await Promise.all(exited)
  }
  clearInterval(moving)
  withUtilization((pct % 100) + 0.5)
  const points = await reader.history('anthropic', '5h')
  assert.ok(points.length >= 3, String(points.length))
  assert.ok(points.every((p, i) => i === 0 || p.at > points[i - 1].at))
  // Nobody holds a lock any more: a new process records at once, without a warning.
  const next = tracker()
  await sleep(INTERVAL + 100)
  const started = Date.now()
  await next.refresh()
  assert.ok(Date.now() - started < 2000)
  assert.equal((await next.history('anthropic', '5h')).length, points.length + 1)
  assert.deepEqual(next.warnings(), [])
  assert.deepEqual(asideFiles(), [])
  await Promise.all([reader.stop(), next.stop()])
})

test("a login's refreshed token keeps its history; another API key starts its own", async () => {
  // pi refreshes a Claude login's token every few hours: the history must not start over.
  const first = tracker()
  withUtilization(10)
  await first.refresh()
  await first.stop()
  await sleep(INTERVAL + 100)
  sb.tokens.anthropic = 'test-anthropic-token-refreshed'
  const refreshed = tracker()
  withUtilization(20)
  await refreshed.refresh()
  const points = await refreshed.history('anthropic', '5h')
  assert.deepEqual(points.map((p) => Math.round(p.usedRatio * 100)), [10, 20], 'one history across the token refresh')
  assert.equal(historyFiles().length, 1)
  await refreshed.stop()

  // API keys do not rotate: a different key is a different account.
  const keyed = (key) => {
    const t = new UsageTracker({ cachePath: cachePath(), intervalMs: INTERVAL })
    sb.tokens.deepseek = key
    t.registerBuiltinProvider('deepseek', { baseUrl: sb.url, credentials: { accessToken: key, kind: 'api_key' } })
    return t
  }
  const a = keyed('sk-deepseek-a')
  await a.refresh()
  await a.stop()
  const b = keyed('sk-deepseek-b')
  await b.refresh()
  assert.equal((await b.history('deepseek', b.get('deepseek').windows[0].id)).length, 1, "the other key's points are not this one's")
  await b.stop()
})
