// The core through the built addon: JS strategies fetching from a real loopback HTTP server,
// the store rules (crates/usage-core/src/store.rs), listeners, bad input, and a process that exits by itself.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
const pkg = require('../index.js')
const { UsageTracker } = pkg
const ROOT = fileURLToPath(new URL('..', import.meta.url))

/** A loopback usage server whose answers the test controls. */
function usageServer() {
  const state = { body: {}, status: 200, hits: 0 }
  const server = http.createServer((req, res) => {
    state.hits++
    res.writeHead(state.status, { 'content-type': 'application/json' })
    res.end(JSON.stringify(state.body))
  })
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      state.url = `http://127.0.0.1:${server.address().port}`
      state.close = () => new Promise((r) => server.close(r))
      resolve(state)
    }),
  )
}

async function getJson(url) {
  const res = await fetch(url)
  if (!res.ok) throw new Error(`HTTP ${res.status}`)
  return res.json()
}

const claudeQuotas = [
  { id: '5h', percentageOnly: true, duration: 18000, windowType: 'rolling', resetBehavior: 'continuous' },
  { id: '7d', percentageOnly: true, duration: 604800 },
]

function claudeStrategy(server, id = 'claude-js') {
  return {
    id,
    quotas: claudeQuotas,
    hasAuthentication: () => true,
    async fetchUsage() {
      const body = await getJson(`${server.url}/claude`)
      return [
        { id: '5h', usedRatio: body.five / 100, resetsAt: body.fiveReset },
        { id: '7d', usedRatio: body.week / 100, resetsAt: body.weekReset },
      ]
    },
  }
}

function copilotStrategy(server) {
  return {
    id: 'copilot-js',
    quotas: [{ id: 'premium', baseAmount: 300, multipliers: { 'gpt-4o': 0, 'o1': 4 } }],
    hasAuthentication: async () => true,
    async fetchUsage() {
      const body = await getJson(`${server.url}/copilot`)
      return [{ id: 'premium', limit: body.entitlement, remaining: body.remaining }]
    },
  }
}

describe('two JS strategies against a loopback server', () => {
  let server
  let tracker
  const updates = []
  before(async () => {
    server = await usageServer()
  })
  after(async () => {
    await tracker?.stop()
    await server.close()
  })

  test('onUpdate, get, getWindow and entries show exactly what the server served', async () => {
    const fiveReset = Date.now() + 2 * 3600_000
    const weekReset = Date.now() + 3 * 86400_000
    server.body = { five: 37, week: 64, fiveReset, weekReset, entitlement: 300, remaining: 173 }
    tracker = new UsageTracker({ intervalMs: 60_000, cachePath: null }) // one scheduled tick; refresh() drives the rest
    tracker.registerProvider(claudeStrategy(server))
    tracker.registerProvider(copilotStrategy(server))
    tracker.onUpdate((entries) => updates.push(entries))
    const firstUpdate = new Promise((resolve) => {
      const off = tracker.onUpdate(() => {
        off()
        resolve()
      })
    })
    tracker.start({ who: 'test' })
    assert.equal(tracker.running, true)
    await firstUpdate

    const last = updates.at(-1)
    assert.deepEqual(last.map((e) => e.key).sort(), [
      'claude-js/default',
      'copilot-js/default',
      'copilot-js/gpt-4o',
      'copilot-js/o1',
    ])
    const claude = tracker.get('claude-js')
    assert.equal(claude.active, true)
    assert.equal(claude.fails, 0)
    assert.ok(claude.updated > 0)
    const five = tracker.getWindow('claude-js', '5h')
    assert.equal(five.kind, 'percentage')
    assert.equal(five.total, 100)
    assert.ok(Math.abs(five.used - 37) < 1e-9)
    assert.ok(Math.abs(five.remaining - 63) < 1e-9)
    assert.equal(five.resetsAt, fiveReset)
    assert.equal(five.duration, 18000)
    assert.equal(five.windowType, 'rolling')
    assert.ok(Math.abs(tracker.getWindow('claude-js', '7d').usedRatio - 0.64) < 1e-9)

    const premium = tracker.getWindow('copilot-js', 'premium')
    assert.deepEqual([premium.total, premium.remaining, premium.used], [300, 173, 127])
    const o1 = tracker.getWindow('copilot-js', 'premium', 'o1')
    assert.deepEqual([o1.total, o1.remaining], [75, 43.25])
    assert.equal(tracker.getWindow('copilot-js', 'premium', 'gpt-4o').unlimited, true)
    assert.deepEqual(
      tracker.entries().map((e) => e.key),
      last.map((e) => e.key),
    )

    // The server changes; the next cycles show the new values.
    server.body = { ...server.body, five: 50, remaining: 100 }
    await tracker.refresh()
    assert.ok(Math.abs(tracker.getWindow('claude-js', '5h').used - 50) < 1e-9)
    assert.equal(tracker.getWindow('copilot-js', 'premium').remaining, 100)
    assert.equal(tracker.snapshot.windows.get('copilot-js').get('default').get('premium').remaining, 100, 'snapshot current after refresh')
  })

  test('listeners ran once per cycle with every provider done', () => {
    // the start's first tick and the refresh() above: the loop below has those two to check
    assert.equal(updates.length, 2, `${updates.length} updates`)
    assert.equal(tracker.stats().cycles, updates.length, 'one update per cycle')
    for (const entries of updates) {
      assert.equal(entries.filter((e) => e.providerId === 'claude-js').length, 1)
      assert.ok(entries.some((e) => e.providerId === 'copilot-js'))
    }
    const stats = tracker.stats()
    assert.equal(stats.providers, 2)
    assert.ok(stats.cycles >= updates.length)
    assert.ok(stats.fetchOk >= 2 * updates.length - 2)
  })
})

describe('store rules through the addon', () => {
  test('auth lost → inactive with no windows; back → active', async () => {
    let authed = true
    const t = new UsageTracker({ cachePath: null })
    t.registerProvider({
      id: 'p',
      quotas: [{ id: 'd', amount: 10 }],
      hasAuthentication: () => authed,
      fetchUsage: () => [{ id: 'd', used: 4 }],
    })
    await t.refresh()
    assert.equal(t.get('p').windows[0].remaining, 6)
    authed = false
    await t.refresh()
    const e = t.get('p')
    assert.deepEqual([e.active, e.windows.length, e.fails], [false, 0, 0])
    assert.equal(t.checkQuota('p').decision, 'unknown')
    authed = true
    await t.refresh()
    assert.equal(t.get('p').active, true)
  })

  test('failure keeps the last good values and counts; success resets', async () => {
    let fail = false
    const t = new UsageTracker({ cachePath: null })
    t.registerProvider({
      id: 'p',
      quotas: [{ id: 'd', amount: 10 }],
      fetchUsage: () => {
        if (fail) throw new Error('upstream said no')
        return [{ id: 'd', used: 3 }]
      },
    })
    await t.refresh()
    fail = true
    await t.refresh()
    await t.refresh()
    let e = t.get('p')
    assert.equal(e.fails, 2)
    assert.equal(e.windows[0].used, 3, 'last good value kept')
    assert.equal(e.error.kind, 'provider')
    assert.match(e.error.message, /p: fetchUsage failed: upstream said no/)
    fail = false
    await t.refresh()
    e = t.get('p')
    assert.equal(e.fails, 0)
    assert.equal(e.error, undefined)
  })

  test('backoff: a failing provider is skipped between ticks, a healthy one is not', async () => {
    let failing = 0
    let healthy = 0
    const t = new UsageTracker({ intervalMs: 1000, maxBackoffMultiplier: 8, cachePath: null })
    t.registerProvider({
      id: 'bad',
      quotas: [],
      fetchUsage: () => {
        failing++
        throw new Error('down')
      },
    })
    t.registerProvider({ id: 'good', quotas: [], fetchUsage: () => (healthy++, []) })
    t.start()
    await new Promise((r) => setTimeout(r, 3500))
    await t.stop()
    // Ticks at 0, 1, 2, 3 s (1000 ms is the shortest interval): the healthy one is fetched at
    // each; the failing one waits 2× then 3× the interval → at 0 and 2 s only.
    assert.ok(healthy >= 4, `healthy fetched every tick (${healthy})`)
    assert.equal(failing, 2, `failing fetches back off (${failing} vs ${healthy})`)
    assert.ok(t.get('bad').fails === failing)
  })

  test('unregisterProvider deletes its entries only', async () => {
    const t = new UsageTracker({ cachePath: null })
    const s = (id) => ({ id, quotas: [{ id: 'q', amount: 1 }], fetchUsage: () => [{ id: 'q', used: 0 }] })
    t.registerProvider(s('a'))
    t.registerProvider(s('a-2'))
    await t.refresh()
    assert.equal(t.unregisterProvider('a'), true)
    assert.equal(t.unregisterProvider('a'), false)
    assert.deepEqual(
      t.entries().map((e) => e.key),
      ['a-2/default'],
    )
    assert.equal(t.snapshot.byKey.has('a/default'), false)
  })

  test('refresh of one provider only fetches that one; an unknown id rejects with ERR_UNKNOWN_PROVIDER', async () => {
    const calls = { a: 0, b: 0 }
    const t = new UsageTracker({ cachePath: null })
    for (const id of ['a', 'b']) t.registerProvider({ id, quotas: [], fetchUsage: () => (calls[id]++, []) })
    await t.refresh('a')
    assert.deepEqual(calls, { a: 1, b: 0 })
    await assert.rejects(t.refresh('nope'), (err) => !(err instanceof TypeError) && err.code === 'ERR_UNKNOWN_PROVIDER' && /nope/.test(err.message))
    await assert.rejects(t.refresh(0), (err) => err instanceof TypeError && err.code === 'ERR_INVALID_ARG_TYPE', 'a wrong type rejects, it does not throw')
  })

  test('ctx from start() reaches the strategy; sync and async strategies both work', async () => {
    const seen = []
    const t = new UsageTracker({ cachePath: null })
    t.registerProvider({
      id: 'sync',
      quotas: [{ id: 'q', amount: 5 }],
      hasAuthentication: (ctx) => (seen.push(ctx), true),
      fetchUsage: () => [{ id: 'q', remaining: 1 }],
    })
    t.registerProvider({
      id: 'async',
      quotas: [{ id: 'q', amount: 5 }],
      hasAuthentication: async () => true,
      fetchUsage: async (ctx) => (seen.push(ctx), [{ id: 'q', remaining: 2 }]),
    })
    const ctx = { cwd: '/tmp' }
    t.start(ctx)
    await t.refresh()
    await t.stop()
    assert.ok(seen.every((c) => c === ctx) && seen.length >= 2)
    assert.equal(t.getWindow('sync', 'q').remaining, 1)
    assert.equal(t.getWindow('async', 'q').remaining, 2)
  })
})

describe('bad input', () => {
  const t = new UsageTracker({ cachePath: null })
  test('strategies without id or fetchUsage, bad quotas, duplicates → TypeError naming the field', () => {
    assert.throws(() => t.registerProvider({ quotas: [], fetchUsage() {} }), { name: 'TypeError', message: /strategy\.id/ })
    assert.throws(() => t.registerProvider({ id: 'x', quotas: [] }), { name: 'TypeError', message: /fetchUsage/ })
    assert.throws(() => t.registerProvider({ id: 'x', fetchUsage() {} }), { name: 'TypeError', message: /quotas/ })
    assert.throws(() => t.registerProvider({ id: 'x', quotas: [{ id: 'q' }], fetchUsage() {} }), {
      name: 'TypeError',
      message: /quotas\[0\] \(id 'q'\): no known quota kind/,
    })
    assert.throws(
      () => t.registerProvider({ id: 'x', quotas: [{ id: 'q', amount: 1, windowType: 'weekly' }], fetchUsage() {} }),
      { name: 'TypeError', message: /windowType.*'weekly'/ },
    )
    assert.throws(() => t.registerProvider({ id: 'x', quotas: [{ id: 'q', duration: -5 }], fetchUsage() {} }), {
      name: 'TypeError',
      message: /duration/,
    })
    t.registerProvider({ id: 'x', quotas: [], fetchUsage: () => [] })
    assert.throws(() => t.registerProvider({ id: 'x', quotas: [], fetchUsage: () => [] }), {
      name: 'Error',
      code: 'ERR_DUPLICATE_PROVIDER',
      message: /'x' is already registered/,
    })
    assert.throws(() => new UsageTracker({ intervalMs: 0 }), { name: 'TypeError', message: /intervalMs/ })
    assert.throws(() => new UsageTracker({ lowQuotaThreshold: 2, cachePath: null }), { name: 'TypeError', code: 'ERR_INVALID_OPTION', message: /lowQuotaThreshold/ })
    assert.throws(() => new UsageTracker({ warnAt: 0.05, criticalAt: 0.1, cachePath: null }), { name: 'TypeError', message: /warnAt/ })
  })

  test('garbage from fetchUsage is a provider error on that provider only', async () => {
    const t2 = new UsageTracker({ cachePath: null })
    let answer = () => [{ id: 'q', used: 1 }]
    t2.registerProvider({ id: 'bad', quotas: [{ id: 'q', amount: 10 }], fetchUsage: () => answer() })
    t2.registerProvider({ id: 'ok', quotas: [{ id: 'q', amount: 10 }], fetchUsage: () => [{ id: 'q', used: 2 }] })
    await t2.refresh()
    for (const [garbage, pattern] of [
      [() => 'not an array', /must resolve to an array/],
      [() => [{ id: 'q', used: NaN }], /`used` is NaN/],
      [() => [{ id: 'q', limit: -3 }], /`limit` is negative/],
      [() => ({ length: 1 }), /must resolve to an array/],
    ]) {
      answer = garbage
      await t2.refresh()
      const e = t2.get('bad')
      assert.equal(e.error?.kind, 'provider', String(garbage))
      assert.match(e.error.message, pattern)
      assert.equal(e.windows[0].used, 1, 'last good value kept')
      assert.equal(t2.get('ok').error, undefined)
      assert.equal(t2.get('ok').windows[0].used, 2)
    }
  })

  test('providers(): one view per provider, its facts once and its models, also in the published snapshot', async () => {
    const t = new UsageTracker({ cachePath: null })
    t.registerProvider({
      id: 'p',
      quotas: [{ id: 'q', amount: 10 }],
      fetchUsage: () => [
        { id: 'q', modelId: 'm1', used: 3 },
        { id: 'q', modelId: 'm2', used: 4 },
      ],
    })
    await t.refresh()
    const views = t.providers()
    assert.equal(views.length, 1)
    const [v] = views
    assert.deepEqual([v.id, v.label, v.active, v.fails, v.warnings], ['p', 'p', true, 0, []])
    assert.deepEqual(v.models.map((m) => [m.modelId, m.windows[0].used]), [['m1', 3], ['m2', 4]])
    assert.equal(t.entries().length, 2, 'entries() stays, one per model')
    assert.deepEqual(t.snapshot.providers, views)
    await t.stop()
  })

  test('unknown snapshot ids are skipped, never fatal', async () => {
    const t3 = new UsageTracker({ cachePath: null })
    t3.registerProvider({
      id: 'p',
      quotas: [{ id: 'q', amount: 10 }],
      fetchUsage: () => [{ id: 'mystery', used: 1 }, { id: 'q', used: 3 }],
    })
    await t3.refresh()
    assert.deepEqual(t3.get('p').windows.map((w) => w.id), ['q'])
    assert.equal(t3.get('p').error, undefined)
  })
})

describe('exported helpers', () => {
  test('guards follow the addon kind precedence', () => {
    const { isQuotaDuration, isQuotaAmount, isQuotaPercentage, isQuotaMultiplier, isQuotaPerModel } = pkg
    const pct = { id: 'p', percentageOnly: true, duration: 18000 }
    assert.equal(isQuotaPercentage(pct), true)
    assert.equal(isQuotaDuration(pct), false, 'a percentage quota with a duration is not a duration quota')
    assert.equal(isQuotaDuration({ id: 'd', duration: 60 }), true)
    assert.equal(isQuotaAmount({ id: 'a', amount: 5 }), true)
    assert.equal(isQuotaMultiplier({ id: 'm', baseAmount: 300, multipliers: {} }), true)
    assert.equal(isQuotaAmount({ id: 'm', amount: 1, multipliers: {}, baseAmount: 1 }), false)
    assert.equal(isQuotaPerModel({ id: 'x', perModel: { a: { amount: 1 } } }), true)
    assert.equal(isQuotaDuration(null), false)
  })

  test('every quota definition satisfies exactly one guard, the kind the tracker resolves', async () => {
    const guards = {
      duration: pkg.isQuotaDuration,
      amount: pkg.isQuotaAmount,
      percentage: pkg.isQuotaPercentage,
      multiplier: pkg.isQuotaMultiplier,
      perModel: pkg.isQuotaPerModel,
      balance: pkg.isQuotaBalance,
    }
    // One of each kind, and definitions that carry the fields of several.
    const definitions = [
      { id: 'd', duration: 60 },
      { id: 'a', amount: 5 },
      { id: 'p', percentageOnly: true },
      { id: 'm', baseAmount: 300, multipliers: { x: 1 } },
      { id: 'pm', perModel: { x: { amount: 3 } } },
      { id: 'b', balance: true },
      { id: 'ba', balance: true, amount: 5 },
      { id: 'bd', balance: true, duration: 60 },
      { id: 'ad', amount: 5, duration: 60 },
      { id: 'pa', percentageOnly: true, amount: 5, duration: 60 },
      { id: 'ma', baseAmount: 1, multipliers: {}, amount: 1, balance: true },
      { id: 'pma', perModel: { x: { amount: 1 } }, amount: 2, balance: true },
    ]
    for (const def of definitions) {
      const yes = Object.keys(guards).filter((k) => guards[k](def))
      assert.equal(yes.length, 1, `${JSON.stringify(def)}: ${yes.join(', ')}`)
      assert.equal(pkg.quotaKind(def), yes[0])
      // The tracker resolves the definition as that kind.
      const t = new UsageTracker({ cachePath: null })
      const snapshot = yes[0] === 'perModel' ? { id: def.id, modelId: 'x', used: 1 } : { id: def.id, used: 1, remaining: 2 }
      t.registerProvider({ id: 'k', quotas: [def], fetchUsage: () => [snapshot] })
      await t.refresh()
      // A multiplier pool also shows per-model views; the pool is the one of the snapshot's model.
      const windows = t.entries().flatMap((e) => e.windows).filter((w) => w.modelId === (snapshot.modelId ?? 'default'))
      assert.equal(windows.length, 1, JSON.stringify(def))
      assert.equal(windows[0].kind, yes[0], `${JSON.stringify(def)} resolved as ${windows[0].kind}`)
      await t.stop()
    }
    // What the addon refuses is no kind at all.
    for (const bad of [null, 5, {}, { id: 'm', multipliers: {} }, { id: 'x', amount: 'five' }]) {
      assert.deepEqual(Object.keys(guards).filter((k) => guards[k](bad)), [], JSON.stringify(bad))
    }
  })

  test('resolveUsageWindow applies the fallback chain', () => {
    const w = pkg.resolveUsageWindow({ id: 'a', amount: 200 }, { id: 'a', usedRatio: 0.25 })
    assert.deepEqual([w.total, w.used, w.remaining, w.remainingRatio], [200, 50, 150, 0.75])
    assert.throws(() => pkg.resolveUsageWindow({ id: 'a', amount: 1 }, { id: 'a', used: Infinity }), TypeError)
  })

  test('BUILTIN_PROVIDER_IDS are pi ids (the ones pi stores logins under)', () => {
    const ids = [...pkg.BUILTIN_PROVIDER_IDS]
    for (const id of ['anthropic', 'openai-codex', 'github-copilot', 'zai', 'kimi-coding', 'openrouter', 'xai']) {
      assert.ok(ids.includes(id), id)
    }
    assert.deepEqual(ids, pkg.BUILTIN_PROVIDERS.map((p) => p.id))
    assert.ok(ids.every((id) => /^[a-z0-9-]+$/.test(id)))
  })
})

test('a started tracker never keeps Node alive', () => {
  const script = `
    const { UsageTracker } = require(${JSON.stringify(ROOT)});
    const t = new UsageTracker({ intervalMs: 1000, cachePath: null });
    t.registerProvider({ id: 'x', quotas: [], fetchUsage: () => new Promise(() => {}) });
    t.onUpdate(() => {});
    t.start();`
  const started = Date.now()
  const r = spawnSync(process.execPath, ['-e', script], { timeout: 5000 })
  const elapsed = Date.now() - started
  assert.equal(r.status, 0, r.stderr?.toString())
  assert.ok(elapsed < 1000, `exited in ${elapsed} ms`)
})
