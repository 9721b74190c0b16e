// Several pi windows, one poll: four Node processes, each with its own tracker, share one
// cache file and one sandbox. The shared cache (crates/usage-core/src/cache.rs) must turn 4 polls per interval into
// about one request per provider, every process must show the same values, and a process
// killed mid-fetch must not stall the others (its OS file lock dies with it).
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { startSandbox } from './sandbox.mjs'

const CHILD = fileURLToPath(new URL('./helpers/shared-poll-child.mjs', import.meta.url))
const PROVIDERS = ['anthropic', 'openai-codex', 'github-copilot']
const INTERVAL = 1000
const CHILDREN = 4

let sb
let dir

before(async () => {
  sb = await startSandbox()
  dir = mkdtempSync(path.join(tmpdir(), 'shared-poll-'))
})

after(async () => {
  await sb?.close()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

// Requests seen before the last sb.reset() of a test (reset also clears scripts).
let earlier = []

/** Serve one fixed body per provider, so processes that saw different fetches still agree. */
function pinFixtures(bodies = Object.fromEntries(PROVIDERS.map((id) => [id, sb.fixture(id)]))) {
  earlier.push(...sb.requests)
  sb.reset()
  for (const id of PROVIDERS) sb.setFixture(id, bodies[id])
  return bodies
}

const allRequests = () => [...earlier, ...sb.requests]
const counts = () => Object.fromEntries(PROVIDERS.map((id) => [id, allRequests().filter((r) => r.providerId === id).length]))

function spawnChild(cachePath, runMs) {
  const config = {
    url: sb.url,
    credentials: Object.fromEntries(PROVIDERS.map((id) => [id, sb.credentials(id)])),
    cachePath,
    intervalMs: INTERVAL,
    runMs,
  }
  // Asynchronous spawn: the sandbox answers from this process's event loop.
  const proc = spawn(process.execPath, [CHILD], {
    env: { PATH: process.env.PATH, HOME: dir, SHARED_POLL: JSON.stringify(config) },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const child = { proc, updates: [], final: null, stderr: '' }
  let buf = ''
  proc.stdout.on('data', (d) => {
    buf += d
    let nl
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl)
      buf = buf.slice(nl + 1)
      const space = line.indexOf(' ')
      const [tag, value] = [line.slice(0, space), JSON.parse(line.slice(space + 1))]
      if (tag === 'UPDATE') child.updates.push(value)
      if (tag === 'ENTRIES') child.final = value
    }
  })
  proc.stderr.on('data', (d) => (child.stderr += d))
  child.exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })))
  return child
}

/** What must be equal across processes: the values, not the clock-derived pace/elapsed fields. */
function comparable(entries) {
  return entries
    .map((e) => ({
      key: e.key,
      active: e.active,
      fails: e.fails,
      error: e.error?.kind ?? null,
      plan: e.plan ?? null,
      windows: e.windows.map((w) => ({
        id: w.id,
        modelId: w.modelId,
        kind: w.kind,
        total: w.total,
        used: w.used,
        remaining: w.remaining,
        usedRatio: w.usedRatio,
        remainingRatio: w.remainingRatio,
        duration: w.duration ?? null,
      })),
    }))
    .sort((a, b) => a.key.localeCompare(b.key))
}

function assertStoresAgree(children) {
  const [first, ...rest] = children.map((c) => c.final)
  assert.ok(first.entries.length >= PROVIDERS.length, 'every provider has entries')
  for (const f of [first, ...rest]) {
    assert.deepEqual(comparable(f.entries), comparable(first.entries), `store of pid ${f.pid} differs from pid ${first.pid}`)
    const byKey = new Map(first.entries.map((e) => [e.key, e]))
    for (const e of f.entries) {
      assert.equal(e.error, undefined, `${e.key} in pid ${f.pid} has an error: ${JSON.stringify(e.error)}`)
      assert.equal(e.stale, false, `${e.key} in pid ${f.pid} is stale`)
      // live data: fetched (by someone) within the last two intervals of this process's end
      assert.ok(f.at - e.updated <= 2.5 * INTERVAL, `${e.key} in pid ${f.pid} updated ${f.at - e.updated} ms before its end`)
      // resetsAt of codex is computed from a relative `reset_after_seconds`: equal up to the
      // time between two fetches
      const other = byKey.get(e.key)
      e.windows.forEach((w, i) => {
        const o = other.windows[i]
        if (w.resetsAt === undefined) return assert.equal(o.resetsAt, undefined)
        assert.ok(Math.abs(w.resetsAt - o.resetsAt) <= 3 * INTERVAL, `${e.key} ${w.id} resetsAt ${w.resetsAt} vs ${o.resetsAt}`)
      })
    }
  }
}

function assertCacheFileSafe(cachePath) {
  assert.equal(statSync(cachePath).mode & 0o777, 0o600, 'cache file mode')
  for (const name of readdirSync(path.dirname(cachePath))) {
    const file = path.join(path.dirname(cachePath), name)
    const text = readFileSync(file, 'utf8')
    for (const [id, token] of Object.entries(sb.tokens)) {
      assert.ok(!text.includes(token), `${name} contains the ${id} token`)
    }
    assert.equal(statSync(file).mode & 0o077, 0, `${name} is readable by others`)
  }
}

/** pid holding an flock on `file`, from /proc/locks (Linux); null when none or not Linux. */
function flockHolder(file) {
  let ino
  let text
  try {
    ino = statSync(file).ino
    text = readFileSync('/proc/locks', 'utf8')
  } catch {
    return null
  }
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/)
    // "1: FLOCK  ADVISORY  WRITE 1234 00:2e:5678 0 EOF"; waiters have "->" and are skipped
    if (f[1] !== 'FLOCK') continue
    if (Number(f[5]?.split(':')[2]) === ino) return Number(f[4])
  }
  return null
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

test('four processes share one poll: ~one request per provider per interval, same store everywhere', { timeout: 30_000 }, async (t) => {
  sb.reset()
  earlier = []
  pinFixtures()
  const cachePath = path.join(dir, 'a', 'cache', 'usage-tracker.json')
  const runMs = 4_500
  const startedAt = Date.now()
  const children = Array.from({ length: CHILDREN }, () => spawnChild(cachePath, runMs))
  const exits = await Promise.all(children.map((c) => c.exited))
  exits.forEach((e, i) => assert.deepEqual(e, { code: 0, signal: null }, children[i].stderr))

  const intervals = Math.floor(runMs / INTERVAL) + 1 // ticks at 0, 1, 2, 3, 4 s; stop at 4.5 s
  const c = counts()
  t.diagnostic(`requests per provider over ${intervals} intervals × ${CHILDREN} processes: ${JSON.stringify(c)}`)
  for (const id of PROVIDERS) t.diagnostic(`${id} requests at +ms: ${allRequests().filter((r) => r.providerId === id).map((r) => r.at - startedAt).join(' ')}`)
  for (const id of PROVIDERS) {
    assert.ok(c[id] <= intervals + 2, `${id}: ${c[id]} requests for ${intervals} intervals (unshared would be ~${intervals * CHILDREN})`)
    assert.ok(c[id] >= 3, `${id}: only ${c[id]} requests; was it polled at all?`)
  }

  // Each request is one process's fetch; every other cycle was served from the shared cache.
  const stats = children.map((ch) => ch.final.stats)
  const fetched = stats.reduce((s, x) => s + x.fetchOk, 0)
  const hits = stats.reduce((s, x) => s + x.cacheHits, 0)
  t.diagnostic(`fetchOk per process ${stats.map((s) => s.fetchOk)}, cacheHits ${stats.map((s) => s.cacheHits)}`)
  assert.equal(fetched, Object.values(c).reduce((a, b) => a + b, 0), 'fetches made = requests the sandbox saw')
  assert.ok(hits > fetched, `cache hits ${hits} should outnumber fetches ${fetched}`)

  assertStoresAgree(children)
  assertCacheFileSafe(cachePath)
})

test('a process killed mid-fetch does not stall the others', { timeout: 30_000 }, async (t) => {
  sb.reset()
  earlier = []
  const bodies = pinFixtures()
  // A slow anthropic keeps its fetch lock held for half a second, so we can kill the holder.
  // (Only until the kill: a fetch slower than intervalMs/20 makes the next tick find the
  // process's own result "fresh", so a slow provider is polled every other interval and its
  // entry turns stale just before each fetch, which is not what this test is about.)
  sb.script('anthropic', { delayMs: 500, times: Infinity })
  const cachePath = path.join(dir, 'b', 'cache', 'usage-tracker.json')
  const runMs = 6_500 // ends between two ticks, so no process stops in the middle of a fetch
  const startedAt = Date.now()
  const children = Array.from({ length: CHILDREN }, () => spawnChild(cachePath, runMs))

  // Mid-run (after ~2 intervals) find the process holding anthropic's fetch lock and SIGKILL it.
  await sleep(1_800)
  const cacheDir = path.dirname(cachePath)
  let victim = null
  const deadline = Date.now() + 3_000
  while (!victim && Date.now() < deadline) {
    const lockFile = (existsSync(cacheDir) ? readdirSync(cacheDir) : []).find((n) => n.includes('.anthropic-') && n.endsWith('.lock'))
    const pid = lockFile ? flockHolder(path.join(cacheDir, lockFile)) : null
    victim = children.find((ch) => ch.proc.pid === pid) ?? null
    if (!victim) await sleep(10)
  }
  // the premise of the test: the victim holds anthropic's fetch lock, i.e. is mid-fetch
  // (found through /proc/locks, which every Linux has)
  assert.ok(victim, `no process held the anthropic fetch lock within 3 s (locks in ${cacheDir}: ${existsSync(cacheDir) ? readdirSync(cacheDir).join(' ') : 'none'})`)
  const killAt = Date.now()
  const atKill = counts()
  victim.proc.kill('SIGKILL')
  pinFixtures(bodies) // anthropic answers at once from here on
  t.diagnostic(`killed pid ${victim.proc.pid} while it held the anthropic fetch lock, at +${killAt - startedAt} ms; counts then ${JSON.stringify(atKill)}`)

  assert.deepEqual(await victim.exited, { code: null, signal: 'SIGKILL' })
  const survivors = children.filter((ch) => ch !== victim)
  const exits = await Promise.all(survivors.map((c) => c.exited))
  exits.forEach((e, i) => assert.deepEqual(e, { code: 0, signal: null }, survivors[i].stderr))

  const end = counts()
  t.diagnostic(`counts at the end ${JSON.stringify(end)}`)
  for (const id of PROVIDERS) t.diagnostic(`${id} requests at +ms: ${allRequests().filter((r) => r.providerId === id).map((r) => r.at - startedAt).join(' ')}`)
  const intervals = Math.floor(runMs / INTERVAL) + 1
  for (const id of PROVIDERS) {
    assert.ok(end[id] - atKill[id] >= 2, `${id}: polling stopped after the kill (${atKill[id]} → ${end[id]})`)
    // + 1 beyond the first test's bound: a fetch in flight in the killed process is lost, and
    // the next process to take the lock (released by the OS) makes it again
    assert.ok(end[id] <= intervals + 3, `${id}: ${end[id]} requests for ${intervals} intervals`)
  }
  // Every survivor kept getting new values after the kill, anthropic included.
  for (const ch of survivors) {
    const later = ch.updates.filter((u) => u.at > killAt)
    assert.ok(later.length >= 2, `pid ${ch.proc.pid}: ${later.length} updates after the kill`)
    for (const id of PROVIDERS) {
      const newest = Math.max(...later.map((u) => u.updated[`${id}/default`] ?? 0))
      assert.ok(newest > killAt, `pid ${ch.proc.pid}: ${id} not updated after the kill`)
    }
  }
  assertStoresAgree(survivors)
  assertCacheFileSafe(cachePath)
})
