// The usage-store CLI as a child process against the loopback sandbox. HOME and the pi agent
// dir are temp dirs, so no real credentials are read and nothing reaches beyond 127.0.0.1.
import { test, before, after, beforeEach } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { createRequire } from 'node:module'
import { startSandbox } from './sandbox.mjs'

const CLI = fileURLToPath(new URL('../bin/usage-store.js', import.meta.url))
const { visibleWidth } = createRequire(import.meta.url)('../lib/view.js')
const BUILTINS = createRequire(import.meta.url)('../index.js').BUILTIN_PROVIDER_IDS
// Built-ins with a usage endpoint; the header-only ones have entries only after model traffic.
const POLLED = createRequire(import.meta.url)('../index.js').BUILTIN_PROVIDERS.filter((p) => p.polled).map((p) => p.id)

let sb
let home
let agentDir
let emptyAgentDir

before(async () => {
  sb = await startSandbox()
  home = mkdtempSync(path.join(tmpdir(), 'usage-cli-home-'))
  agentDir = mkdtempSync(path.join(tmpdir(), 'usage-cli-agent-'))
  emptyAgentDir = mkdtempSync(path.join(tmpdir(), 'usage-cli-empty-'))
  writeFileSync(path.join(agentDir, 'auth.json'), JSON.stringify(sb.authJson(), null, 2))
})

after(async () => {
  await sb?.close()
  for (const d of [home, agentDir, emptyAgentDir]) if (d) rmSync(d, { recursive: true, force: true })
})

beforeEach(() => sb.reset())

// Run the CLI asynchronously (the sandbox lives in this process's event loop).
function run(args, { agent = agentDir, baseUrl = sb.url, cache = false, env: extra = {} } = {}) {
  const env = {
    PATH: process.env.PATH,
    HOME: home,
    XDG_CONFIG_HOME: path.join(home, '.config'),
    PI_CODING_AGENT_DIR: agent,
    NO_COLOR: '1',
    ...extra,
  }
  if (baseUrl) env.PI_USAGE_TRACKER_BASE_URL = baseUrl
  const argv = cache ? args : ['--no-cache', ...args]
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...argv], { env, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr })
    })
  })
}

const rows = (stdout) => stdout.trimEnd().split('\n').slice(1).map((l) => l.split(/\s{2,}/))

test('--help prints usage and exits 0', async () => {
  const r = await run(['--help'])
  assert.equal(r.code, 0)
  assert.match(r.stdout, /^usage: usage-store/)
  for (const opt of ['--json', '--provider', '--guard', '--min-remaining', '--base-url', '--timeout', '--no-cache']) {
    assert.ok(r.stdout.includes(opt), opt)
  }
  assert.equal(sb.requests.length, 0)
})

test('bad usage exits 2 with a message', async () => {
  for (const args of [['--bogus'], ['--guard', 'anthropic'], ['--provider', 'nope'], ['--timeout', 'soon'], ['--guard', 'anthropic', '--min-remaining', '150']]) {
    const r = await run(args)
    assert.equal(r.code, 2, args.join(' '))
    assert.match(r.stderr, /usage-store: /)
  }
})

test('table shows every provider from the fixtures', async () => {
  const r = await run(['--wide'])
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stderr, '')
  const lines = r.stdout.trimEnd().split('\n')
  assert.match(lines[0], /^provider\s+window\s+used\s+remaining\s+resets in\s+resets at\s+pace\s+plan\s+updated$/)
  const byKey = new Map(rows(r.stdout).map((c) => [`${c[0]} ${c[1]}`, c]))
  assert.deepEqual(byKey.get('anthropic 5h').slice(2, 4), ['37%', '63%'])
  assert.match(byKey.get('anthropic 5h')[4], /^(1h59m|2h)$/) // fixture resets 2 h after "now"
  assert.deepEqual(byKey.get('anthropic 7d').slice(2, 4), ['64%', '36%'])
  assert.deepEqual(byKey.get('anthropic 7d_opus').slice(2, 4), ['12%', '88%'])
  // seven_day_omelette (Claude Design, drawn from the main limit) is not shown; extra
  // usage is the money window `extra` (the sandbox's account spent $12.50 of $50)
  assert.equal(byKey.get('anthropic seven_day_omelette'), undefined)
  assert.equal(byKey.get('anthropic extra')[2], '25%')
  assert.deepEqual(byKey.get('openai-codex 5h').slice(2, 4), ['23%', '77%'])
  assert.deepEqual(byKey.get('openai-codex 7d').slice(2, 4), ['41%', '59%'])
  assert.deepEqual(byKey.get('github-copilot premium').slice(2, 4), ['42%', '173/300'])
  assert.deepEqual(byKey.get('google-antigravity/gemini-3-pro-high quota').slice(2, 4), ['20%', '80%'])
  assert.deepEqual(byKey.get('google-antigravity/claude-opus-4-5-thinking quota').slice(2, 4), ['100%', '0%'])
  assert.equal(byKey.get('google-gemini-cli/gemini-2.5-pro daily')[2], '19%')
  assert.ok(r.stdout.includes(' plus '), 'codex plan')
  assert.ok(!/no credentials/.test(r.stdout))
})

test('COLUMNS=80: the default table fits 80 columns, no row wraps, nothing is cut; a wide terminal gets every column', async () => {
  sb.script('github-copilot', { status: 503, times: Infinity })
  const r = await run([], { env: { COLUMNS: '80' } })
  assert.equal(r.code, 0, r.stderr)
  const lines = r.stdout.trimEnd().split('\n')
  for (const l of lines) assert.ok(visibleWidth(l) <= 80, `${visibleWidth(l)} columns: ${l}`)
  assert.ok(!r.stdout.includes('…'), r.stdout)
  // every row is one line: each window row starts with its name and ends in its own cells
  const header = lines[0].split(/\s{2,}/)
  assert.equal(header[0], 'provider / model')
  const byName = new Map(lines.slice(1).map((l) => [l.trim().split(/\s{2,}/)[0] + ' ' + (l.trim().split(/\s{2,}/)[1] ?? ''), l]))
  assert.match(byName.get('anthropic 5h'), /^anthropic +5h +37% +63% +(1h59m|2h)/)
  assert.match(byName.get('anthropic extra'), /\$12\.50\/\$50\.00/)
  assert.match(byName.get('gemini-3-pro-high quota'), /^ {2}gemini-3-pro-high +quota +20% +80%/)
  assert.ok(lines.includes('google-antigravity'), 'per-model rows sit under their provider')
  // the failure is said in words, on lines of its own that fit too
  // (a note longer than the width goes on under it, indented)
  assert.match(r.stdout.replace(/\n {2}/g, ' '), /^github-copilot: the service failed; try again later: github-copilot: HTTP 503 from the service$/m)
  assert.doesNotMatch(r.stdout, /\bserver\b/)
  assert.match(r.stdout, /^plans: .*openai-codex plus/m)

  const wide = await run([], { env: { COLUMNS: '250' } })
  assert.deepEqual(wide.stdout.split('\n')[0].split(/\s{2,}/), ['provider', 'window', 'used', 'remaining', 'resets in', 'resets at', 'pace', 'plan', 'updated'])
  const flag = await run(['--wide'], { env: { COLUMNS: '80' } })
  assert.deepEqual(flag.stdout.split('\n')[0].split(/\s{2,}/), ['provider', 'window', 'used', 'remaining', 'resets in', 'resets at', 'pace', 'plan', 'updated'])
})

test('--json has the documented shape and the fixture values', async () => {
  const before = Date.now()
  const r = await run(['--json'])
  assert.equal(r.code, 0, r.stderr)
  const j = JSON.parse(r.stdout)
  assert.equal(j.version, 1)
  assert.ok(j.generatedAt >= before && j.generatedAt <= Date.now())
  assert.deepEqual(Object.keys(j).sort(), ['entries', 'generatedAt', 'version'])
  const keys = j.entries.map((e) => e.key)
  for (const k of ['anthropic/default', 'openai-codex/default', 'github-copilot/default', 'google-antigravity/gemini-3-pro-high', 'google-gemini-cli/gemini-2.5-pro']) {
    assert.ok(keys.includes(k), k)
  }
  for (const e of j.entries) {
    assert.deepEqual(Object.keys(e).sort(), ['active', 'error', 'fails', 'key', 'modelId', 'plan', 'providerId', 'stale', 'updated', 'windows'].sort())
    for (const w of e.windows) {
      assert.deepEqual(Object.keys(w).sort(), ['id', 'kind', 'pace', 'paceSource', 'paceStage', 'remaining', 'remainingPercent', 'resetsAt', 'resetsInSeconds', 'runsOutAt', 'total', 'used', 'usedPercent'].sort())
    }
  }
  const get = (key) => j.entries.find((e) => e.key === key)
  const claude = get('anthropic/default')
  assert.equal(claude.active, true)
  assert.equal(claude.error, null)
  assert.equal(claude.fails, 0)
  assert.ok(claude.updated >= before)
  const w5h = claude.windows.find((w) => w.id === '5h')
  assert.equal(w5h.usedPercent, 37)
  assert.equal(w5h.remainingPercent, 63)
  assert.ok(w5h.resetsInSeconds > 7100 && w5h.resetsInSeconds <= 7200, String(w5h.resetsInSeconds))
  assert.ok(Math.abs(w5h.resetsAt - j.generatedAt - w5h.resetsInSeconds * 1000) <= 500)
  assert.deepEqual(claude.windows.map((w) => w.id).sort(), ['5h', '7d', '7d_opus', 'extra'])
  const codex = get('openai-codex/default')
  assert.equal(codex.plan, 'plus')
  assert.deepEqual(codex.windows.map((w) => [w.id, w.usedPercent]), [['5h', 23], ['7d', 41]])
  const premium = get('github-copilot/default').windows.find((w) => w.id === 'premium')
  assert.deepEqual([premium.remaining, premium.total, premium.remainingPercent], [173, 300, 57.7])
  const ag = j.entries.filter((e) => e.providerId === 'google-antigravity' && e.windows.length)
  assert.deepEqual(
    Object.fromEntries(ag.map((e) => [e.modelId, e.windows[0].remainingPercent])),
    { 'claude-opus-4-5-thinking': 0, 'claude-sonnet-4-5': 25, 'gemini-3-flash': 100, 'gemini-3-pro-high': 80 },
  )
  const gem = get('google-gemini-cli/gemini-2.5-pro').windows[0]
  assert.equal(gem.id, 'daily')
  assert.equal(gem.remainingPercent, 81.2)
})

test('--provider limits what is fetched and printed', async () => {
  const r = await run(['--wide', '--provider', 'openai-codex', '--provider', 'github-copilot'])
  assert.equal(r.code, 0, r.stderr)
  // copilot also has per-model rows ("github-copilot/<model>")
  const providers = new Set(rows(r.stdout).map((c) => c[0].split('/')[0]))
  assert.deepEqual([...providers].sort(), ['github-copilot', 'openai-codex'])
  assert.equal(sb.count('anthropic'), 0)
  assert.equal(sb.count('google-antigravity', 'all'), 0)
  assert.equal(sb.count('openai-codex'), 1)
  const j = JSON.parse((await run(['--json', '--provider', 'anthropic'])).stdout)
  assert.deepEqual([...new Set(j.entries.map((e) => e.providerId))], ['anthropic'])
})

test('--base-url works without the environment variable', async () => {
  const r = await run(['--json', '--provider', 'anthropic', '--base-url', sb.url], { baseUrl: null })
  assert.equal(r.code, 0, r.stderr)
  assert.equal(JSON.parse(r.stdout).entries[0].windows.length, 4)
  assert.equal(sb.count('anthropic'), 1)
})

test('--guard exit codes: 0 above the bound, 1 below, 2 on error or no data', async () => {
  // anthropic remaining: 5h 63, 7d 36, 7d_opus 88, extra 75
  let r = await run(['--guard', 'anthropic', '--min-remaining', '30'])
  assert.equal(r.code, 0, r.stdout + r.stderr)
  assert.match(r.stdout, /anthropic\/default: ok/)
  assert.equal(sb.count('openai-codex'), 0, 'a guard fetches only its provider')

  r = await run(['--guard', 'anthropic', '--min-remaining', '36'])
  assert.equal(r.code, 0, 'the bound is inclusive')

  r = await run(['--guard', 'anthropic', '--min-remaining', '40'])
  assert.equal(r.code, 1)
  assert.match(r.stdout, /below 40% remaining: 7d 36%/)

  r = await run(['--guard', 'google-antigravity/gemini-3-pro-high', '--min-remaining', '50'])
  assert.equal(r.code, 0, r.stdout + r.stderr)
  r = await run(['--guard', 'google-antigravity/claude-opus-4-5-thinking', '--min-remaining', '1'])
  assert.equal(r.code, 1)

  r = await run(['--guard', 'google-antigravity/no-such-model', '--min-remaining', '1'])
  assert.equal(r.code, 2)
  assert.match(r.stdout, /no data/)

  sb.script('anthropic', { status: 500, times: Infinity })
  r = await run(['--guard', 'anthropic', '--min-remaining', '1'])
  assert.equal(r.code, 2)
  assert.match(r.stdout, /^anthropic\/default: the service failed; try again later: anthropic: HTTP 500 from the service$/m)

  r = await run(['--guard', 'anthropic', '--min-remaining', '1'], { agent: emptyAgentDir })
  assert.equal(r.code, 2)
  assert.match(r.stdout, /no credentials/)
})

test('a failing provider shows its error; exit 2 when every provider failed', async () => {
  sb.script('anthropic', { status: 401, times: Infinity })
  let r = await run(['--provider', 'anthropic', '--provider', 'openai-codex'])
  assert.equal(r.code, 0, 'one provider still worked')
  assert.match(r.stdout, /^anthropic +-$/m)
  assert.match(r.stdout.replace(/\n {2}/g, ' '), /^anthropic: login not accepted: anthropic: HTTP 401, the token was rejected; log in again in pi \(\/login\)$/m)
  r = await run(['--provider', 'anthropic'])
  assert.equal(r.code, 2)
  const failed = await run(['--json', '--provider', 'anthropic'])
  assert.equal(failed.code, 2, '--json exits 2 too when every provider failed')
  const j = JSON.parse(failed.stdout)
  assert.equal(j.entries[0].error.kind, 'auth')
  assert.ok(j.entries[0].fails >= 1)
})

test('--timeout bounds a hung provider', async () => {
  sb.script('anthropic', { hang: true, times: Infinity })
  const t0 = Date.now()
  const r = await run(['--json', '--provider', 'anthropic', '--timeout', '500'])
  assert.ok(Date.now() - t0 < 10_000, 'returned promptly')
  assert.equal(r.code, 2)
  assert.equal(JSON.parse(r.stdout).entries[0].error.kind, 'timeout')
})

test('no credentials: one quiet line, a message per provider named, no request made', async () => {
  const r = await run([], { agent: emptyAgentDir })
  assert.equal(r.code, 0)
  assert.equal(r.stdout, '')
  assert.equal(r.stderr, 'no credentials found for any provider (log in with pi /login, or see README)\n')
  const named = await run(['--provider', BUILTINS[0], '--provider', BUILTINS[1]], { agent: emptyAgentDir })
  assert.equal(named.code, 0, named.stderr)
  for (const id of BUILTINS.slice(0, 2)) {
    assert.ok(named.stderr.includes(`no credentials found for ${id} (log in with pi /login, or see README)\n`), id)
  }
  assert.equal(sb.requests.length, 0)
  const j = await run(['--json'], { agent: emptyAgentDir })
  assert.equal(j.code, 0)
  const parsed = JSON.parse(j.stdout)
  assert.deepEqual(parsed.entries.map((e) => [e.key, e.active, e.windows.length]).sort(),
    POLLED.map((id) => [`${id}/default`, false, 0]).sort())
  assert.ok(!j.stdout.includes('no credentials'))
})

test('view: the /usage-store view, fitted to the terminal width', async () => {
  for (const columns of [60, 80, 150]) {
    const r = await run(['view', '--provider', 'anthropic', '--provider', 'github-copilot', '--provider', 'google-antigravity'], { env: { COLUMNS: String(columns) } })
    assert.equal(r.code, 0, r.stderr)
    const lines = r.stdout.trimEnd().split('\n')
    for (const line of lines) assert.ok(visibleWidth(line) <= columns, `${columns}: ${line}`)
    assert.match(lines[0], /^claude · updated just now|^claude · updated \d+s ago/)
    assert.ok(lines.some((l) => /^ {2}5h +[█░│]+ 37% used +↻(1h59m|2h)/.test(l)), r.stdout)
    assert.ok(lines.some((l) => /^ {2}premium +[█░│]+ 173\/300 requests left +↻\S+/.test(l)), r.stdout)
    // the run-out time is whole, on the row or on a line of its own under it
    assert.ok(lines.some((l) => / runs out in \d+d\d+h$/.test(l)), r.stdout)
    assert.ok(lines.some((l) => /^antigravity/.test(l)), r.stdout)
  }
  const all = await run(['view', '--all', '--provider', 'anthropic'], { env: { COLUMNS: '100' } })
  assert.equal(all.code, 0, all.stderr)
  assert.ok(/7d_opus +[█░│]+ 12% used/.test(all.stdout), all.stdout)
  const none = await run(['view', '--provider', 'anthropic', '--provider', 'openai-codex'], { agent: emptyAgentDir, env: { COLUMNS: '80' } })
  assert.equal(none.code, 0)
  assert.deepEqual(none.stdout.trimEnd().split('\n'), ['no usage data: no provider has credentials', 'no credentials: claude, codex — log in with pi (/login)'])
  for (const args of [['view', '--json'], ['view', '--guard', 'anthropic', '--min-remaining', '5'], ['--all'], ['--window', '5h'], ['history', '--no-cache'], ['history', '--bogus']]) {
    const r = await run(args)
    assert.equal(r.code, 2, args.join(' '))
    assert.match(r.stderr, /usage-store: /)
  }
})

test('history: what pi and usage-store recorded, as a table with sparklines or as JSON', async () => {
  const agent = mkdtempSync(path.join(tmpdir(), 'usage-cli-history-'))
  try {
    writeFileSync(path.join(agent, 'auth.json'), JSON.stringify(sb.authJson(), null, 2))
    const empty = await run(['history'], { agent, cache: true })
    assert.equal(empty.code, 0)
    assert.equal(empty.stdout, '')
    assert.match(empty.stderr, /^no usage history yet: it is recorded next to the shared cache each time pi or usage-store fetches\n$/)
    assert.equal(sb.requests.length, 0, 'history fetches nothing')

    // One fetch records a point per window; earlier points are added the way another
    // process would have written them.
    const fetched = await run(['--provider', 'anthropic', '--provider', 'github-copilot'], { agent, cache: true })
    assert.equal(fetched.code, 0, fetched.stderr)
    const cacheDir = path.join(agent, 'cache')
    const file = readdirSync(cacheDir).find((f) => /^usage-tracker\.json\.history-anthropic-[0-9a-f]+\.jsonl$/.test(f))
    assert.ok(file, readdirSync(cacheDir).join(' '))
    const now = Date.now()
    const earlier = [4, 3, 2, 1].map((h) => JSON.stringify({ w: '5h', t: now - h * 3_600_000, ur: Math.round((0.37 - h * 0.05) * 100) / 100, d: 18000 }))
    const text = readFileSync(path.join(cacheDir, file), 'utf8')
    const [header, ...rest] = text.trimEnd().split('\n')
    writeFileSync(path.join(cacheDir, file), [header, ...earlier, ...rest].join('\n') + '\n')

    const r = await run(['history', '--provider', 'anthropic', '--provider', 'github-copilot'], { agent, cache: true, env: { COLUMNS: '100' } })
    assert.equal(r.code, 0, r.stderr)
    const lines = r.stdout.trimEnd().split('\n')
    assert.match(lines[0], /^provider\s+window\s+points\s+since\s+used\s+course over the window$/)
    const row = lines.find((l) => /^anthropic\s+5h\s/.test(l))
    assert.match(row, /^anthropic\s+5h\s+5\s+4h ago\s+37%\s+[▁▂▃▄▅▆▇█ ]+$/)
    assert.equal([...row.matchAll(/[▁▂▃▄▅▆▇█]/g)].length, 5, 'five points, five marks')
    assert.ok(lines.some((l) => /^github-copilot\s+premium\s+1\s/.test(l)), r.stdout)
    for (const line of lines) assert.ok(visibleWidth(line) <= 100, line)

    const h = await run(['history', '--json', '--provider', 'anthropic', '--window', '5h'], { agent, cache: true })
    assert.equal(h.code, 0, h.stderr)
    const j = JSON.parse(h.stdout)
    assert.equal(j.version, 1)
    assert.deepEqual(j.windows.map((w) => [w.providerId, w.modelId, w.windowId, w.duration]), [['anthropic', 'default', '5h', 18000]])
    const points = j.windows[0].points
    assert.equal(points.length, 5)
    assert.deepEqual(Object.keys(points[0]).sort(), ['at', 'remaining', 'used', 'usedRatio'])
    assert.deepEqual(points.map((p) => p.usedRatio), [0.17, 0.22, 0.27, 0.32, 0.37])
    assert.ok(points.every((p, i) => i === 0 || p.at > points[i - 1].at))
    assert.equal(points[0].used, null, 'percent-only window')

    const c = await run(['history', '--json', '--provider', 'github-copilot'], { agent, cache: true })
    assert.equal(c.code, 0, c.stderr)
    const copilot = JSON.parse(c.stdout)
    const premium = copilot.windows.find((w) => w.windowId === 'premium' && w.modelId === 'default')
    assert.deepEqual([premium.points[0].used, premium.points[0].remaining], [127, 173])

    const none = await run(['history', '--provider', 'anthropic', '--window', 'nope'], { agent, cache: true })
    assert.equal(none.code, 0, 'no history of a window is an answer, not an error')
    assert.equal(none.stdout, '')
    assert.match(none.stderr, /no usage history of window nope for claude yet/)
  } finally {
    rmSync(agent, { recursive: true, force: true })
  }
})
