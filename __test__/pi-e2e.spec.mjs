// End-to-end: the real pi TUI loads extensions/usage-tracker/index.ts with `pi -e`, under tmux, against the
// provider sandbox, with the same cases for each pinned pi version (helpers/pi-install.mjs: 0.73.1
// on our Node, 1.6.0 on a Node 22). Checks the footer values, /usage-store, that /reload leaves one
// poller, that a token rotated in auth.json is picked up, that pi quits promptly even with a
// provider fetch hanging, that `pi install <package dir>` loads the extension from package.json,
// and the exhausted-model guard in its "ask" (Escape) and "switch" settings (every branch of it
// is driven directly in guard.spec).
// pi runs offline (--offline) with a throwaway HOME and agent dir; nothing leaves 127.0.0.1.
// A version is skipped only when tmux or that pi can neither be found nor installed, and then
// only off CI: with CI=1 or CI=true (.ci/run) it fails instead (helpers/ci.mjs).
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startSandbox } from './sandbox.mjs'
import { startModelApi, anthropicUnifiedHeaders } from './model-api.mjs'
import { ensureTmux, PiSession, sleep } from './helpers/pi-tmux.mjs'
import { pisToTest } from './helpers/pi-install.mjs'
import { piEnv } from './helpers/pi-env.mjs'
import { describeNeeding } from './helpers/ci.mjs'

const here = dirname(fileURLToPath(import.meta.url))
// PI_E2E_EXTENSION: run the same test against another copy of the extension (e.g. an installed one)
const EXTENSION = process.env.PI_E2E_EXTENSION ?? join(here, '..', 'extensions', 'usage-tracker', 'index.ts')
const INTERVAL_MS = 1500

const tmux = ensureTmux()
const pis = tmux ? pisToTest() : [{ label: 'pi', skip: 'tmux not found and could not be installed' }]

/** The footer line our status lives on (pi joins extension statuses on one line). */
const usageLine = (screen) => screen.split('\n').find((l) => l.includes('claude ')) ?? ''

// one suite per pi; when that pi cannot be had, skipped with the reason (a failure on CI)
for (const pi of pis) describeNeeding(pi.label, pi.skip, () => cases(pi))
for (const pi of pis) describeNeeding(`${pi.label}: live from model traffic`, pi.skip, () => trafficCases(pi))
for (const pi of pis) describeNeeding(`${pi.label}: logins beyond the first five`, pi.skip, () => newProviderCases(pi))
for (const pi of pis) describeNeeding(`${pi.label}: whenExhausted "switch"`, pi.skip, () => switchCases(pi))

function cases(pi) {
  // the install case loads the package's own extension, so it means nothing for another copy
  const skipInstall = process.env.PI_E2E_EXTENSION ? 'PI_E2E_EXTENSION is set' : false

  let sb
  let session
  let root
  let agentDir
  let baseEnv
  let t0

  before(async () => {
    t0 = Date.now()
    sb = await startSandbox()
    root = mkdtempSync(join(tmpdir(), 'pi-e2e-'))
    agentDir = join(root, 'agent')
    const home = join(root, 'home')
    const project = join(root, 'project')
    for (const d of [agentDir, home, project]) mkdirSync(d, { recursive: true })
    writeFileSync(join(agentDir, 'auth.json'), JSON.stringify(sb.authJson(), null, 2), { mode: 0o600 })
    // the session cell (pi-session.spec) would take the room of codex's second window here
    writeFileSync(join(agentDir, 'usage-tracker.json'), JSON.stringify({ intervalMs: INTERVAL_MS, cachePath: null, sessionCost: false }))

    baseEnv = piEnv(pi, { home, agentDir, sandboxUrl: sb.url })
    session = new PiSession({ tmux, socket: join(root, 'tmux.sock'), width: 200, height: 50 })
    session.start([...pi.argv, '--offline', '--no-session', '--no-extensions', '--no-context-files', '--no-skills', '-e', EXTENSION], { cwd: project, env: baseEnv })
  })

  after(async () => {
    session?.kill()
    await sb?.close()
    if (root) rmSync(root, { recursive: true, force: true })
    if (t0) console.log(`# ${pi.label}: e2e took ${((Date.now() - t0) / 1000).toFixed(1)} s`)
  })

  test('footer shows the sandbox usage next to pi\'s own footer', { timeout: 30_000 }, async () => {
    const screen = await session.waitFor((s) => /claude extra \$12\.50/.test(s) && /copilot 173\/300/.test(s), { what: 'usage in the footer', timeoutMs: 25_000 })
    const line = usageLine(screen)
    console.log(`# footer: ${line.trim()}`)
    const startup = session.screen({ history: true })
    // both pis list their extensions at startup; ours by a name a user recognises
    assert.match(startup, /\[Extensions\]\s*\n\s*usage-tracker\b/, 'pi lists the extension as usage-tracker')
    // pi's model is Claude Opus on a Claude login: extra usage (what pi's calls are billed to)
    // leads, then the Opus weekly cap; nothing else governs the model, so nothing else leads.
    assert.match(line, /^\s*claude extra \$12\.50\/\$50\.00 ↻\S+ · 7d_opus 12% │/)
    assert.match(line, /codex 5h 23%( ↻\S+)? · 7d 41%/)
    assert.match(line, /copilot 173\/300/)
    // pi's own footer (cwd line, context gauge) is still drawn above it
    assert.match(screen, /project\s*\n.*\(auto\)/, 'pi\'s built-in footer is kept')
    assert.ok(sb.count('anthropic') >= 1 && sb.count('openai-codex') >= 1 && sb.count('github-copilot') >= 1)
  })

  test('/usage-store table prints the table', { timeout: 20_000 }, async () => {
    await session.command('/usage-store table')
    const screen = await session.waitForTranscript(/provider\s+window\s+used\s+remaining[\s\S]*no credentials: /, { what: 'the /usage-store table' })
    assert.match(screen, /anthropic\s+5h\s+37%\s+63%/)
    assert.match(screen, /openai-codex\s+5h\s+23%/)
    assert.match(screen, /github-copilot\s+premium\s+42%\s+173\/300/)

    await session.command('/usage-store json')
    const json = await session.waitForTranscript((s) => /"providerId": "github-copilot"/.test(s) && /"providerId": "anthropic"/.test(s), { what: '/usage-store json', maxPages: 80 })
    assert.match(json, /"providerId": "openai-codex"/)
  })

  test('/reload keeps a single poller', { timeout: 40_000 }, async () => {
    for (let i = 0; i < 2; i++) {
      await session.command('/reload')
      await session.waitFor(/Reloaded/, { what: 'reload to finish' })
      await sleep(300)
    }
    await session.waitFor(/claude extra \$12\.50/, { what: 'usage in the footer after /reload' })
    await sleep(INTERVAL_MS) // let the new tracker's first fetch pass
    const c0 = sb.count('anthropic')
    const t0 = Date.now()
    await sleep(6 * INTERVAL_MS)
    const polls = sb.count('anthropic') - c0
    const expected = (Date.now() - t0) / INTERVAL_MS
    console.log(`# after 2 reloads: ${polls} anthropic polls in ${((Date.now() - t0) / 1000).toFixed(1)} s (one per interval = ${expected.toFixed(1)})`)
    // one poller: ~expected; a leaked tracker per reload would give 2-3x that
    assert.ok(polls >= Math.floor(expected) - 1, `still polling (${polls})`)
    assert.ok(polls <= Math.ceil(expected) + 1, `one poller, not ${polls} polls for ${expected.toFixed(1)} intervals`)
  })

  test('a token rotated in auth.json is picked up after a 401', { timeout: 20_000 }, async () => {
    // Another pi refreshed the Claude token: the sandbox now wants the new one (sb.tokens is
    // live) and auth.json holds it, while this pi still has the old one in memory.
    sb.tokens.anthropic = 'test-anthropic-token-rotated'
    writeFileSync(join(agentDir, 'auth.json'), JSON.stringify(sb.authJson(), null, 2), { mode: 0o600 })
    const until = Date.now() + 6 * INTERVAL_MS
    const rotatedOk = () => sb.requests.some((r) => r.providerId === 'anthropic' && r.headers.authorization === 'Bearer test-anthropic-token-rotated' && r.status === 200)
    while (!rotatedOk() && Date.now() < until) await sleep(100)
    assert.ok(rotatedOk(), 'the tracker fetched with the rotated token')
    await session.waitFor((s) => /claude extra \$12\.50\/\$50\.00 ↻\S+ · 7d_opus 12% │/.test(s), { what: 'claude back in the footer without an error mark' })
  })

  test('quitting exits within 2 s, even with a fetch hanging', { timeout: 20_000 }, async () => {
    sb.script('anthropic', { hang: true, times: Infinity })
    const before = sb.count('anthropic')
    const until = Date.now() + 4 * INTERVAL_MS
    while (sb.count('anthropic') === before && Date.now() < until) await sleep(50) // a request is now in flight
    assert.ok(sb.count('anthropic') > before, 'a hanging anthropic request is in flight')

    await session.command('/quit')
    const t0 = Date.now()
    while (!session.dead() && Date.now() - t0 < 5000) await sleep(50)
    const took = Date.now() - t0
    console.log(`# pi exited ${took} ms after /quit`)
    assert.ok(session.dead(), `pi still running 5 s after /quit; screen:\n${session.screen()}`)
    assert.ok(took < 2000, `pi took ${took} ms to exit`)
    assert.equal(session.exitStatus(), 0)
  })

  test('pi install <package dir> loads the extension from package.json', { skip: skipInstall, timeout: 40_000 }, async () => {
    // A second pi, with the package installed by path (settings.json "packages"), no -e.
    sb.reset() // drop the hanging script of the previous test
    const pkgDir = join(here, '..')
    const agent2 = join(root, 'agent-installed')
    mkdirSync(agent2)
    writeFileSync(join(agent2, 'auth.json'), JSON.stringify(sb.authJson(), null, 2), { mode: 0o600 })
    writeFileSync(join(agent2, 'usage-tracker.json'), JSON.stringify({ intervalMs: 60_000, cachePath: null, providers: { 'github-copilot': false } }))
    const env = { ...baseEnv, PI_CODING_AGENT_DIR: agent2 }
    execFileSync(pi.argv[0], [...pi.argv.slice(1), 'install', pkgDir], { env, stdio: 'pipe', timeout: 30_000 })
    const installed = new PiSession({ tmux, socket: join(root, 'tmux.sock'), name: 'installed', width: 200, height: 50 })
    installed.start([...pi.argv, '--offline', '--no-session', '--no-context-files', '--no-skills'], { cwd: join(root, 'project'), env })
    try {
      const screen = await installed.waitFor(/codex 5h 23%/, { what: 'usage in the footer of the installed package', timeoutMs: 25_000 })
      const line = usageLine(screen)
      assert.match(line, /claude extra \$12\.50/)
      assert.doesNotMatch(line, /copilot/, 'providers.github-copilot: false in usage-tracker.json turns it off')
    } finally {
      installed.key('C-c')
      installed.key('C-c')
    }
  })
}

// pi's own model calls, against a loopback Anthropic: the quota headers of each response reach
// the footer without a usage poll, the footer follows the model, and a prompt to a model whose
// quota is used up is stopped for a choice before anything is sent.
function trafficCases(pi) {
  const OPUS = 'anthropic/claude-opus-4-7'
  const COPILOT_MODEL = 'github-copilot/claude-haiku-4.5'
  let sb
  let api
  let session
  let root

  before(async () => {
    sb = await startSandbox()
    api = await startModelApi()
    api.setHeaders(() => anthropicUnifiedHeaders({ fiveHour: 0.81, sevenDay: 0.5, overage: { utilization: 0.5 } }))
    root = mkdtempSync(join(tmpdir(), 'pi-e2e-traffic-'))
    const agentDir = join(root, 'agent')
    const home = join(root, 'home')
    const project = join(root, 'project')
    for (const d of [agentDir, home, project]) mkdirSync(d, { recursive: true })
    writeFileSync(join(agentDir, 'auth.json'), JSON.stringify(sb.authJson(), null, 2), { mode: 0o600 })
    // one poll at start, then none for a minute: whatever changes later came with traffic
    writeFileSync(join(agentDir, 'usage-tracker.json'), JSON.stringify({ intervalMs: 60_000, cachePath: null, whenExhausted: 'ask' }))
    writeFileSync(join(agentDir, 'models.json'), JSON.stringify({ providers: { anthropic: { baseUrl: api.url } } }))
    const env = piEnv(pi, { home, agentDir, sandboxUrl: sb.url })
    session = new PiSession({ tmux, socket: join(root, 'tmux.sock'), width: 200, height: 50 })
    session.start([...pi.argv, '--offline', '--no-session', '--no-extensions', '--no-context-files', '--no-skills', '--models', `${OPUS},${COPILOT_MODEL}`, '--model', OPUS, '-e', EXTENSION], { cwd: project, env })
    await session.waitFor(/claude extra \$12\.50/, { what: 'the first poll in the footer', timeoutMs: 25_000 })
  })

  after(async () => {
    session?.kill()
    await sb?.close()
    await api?.close()
    if (root) rmSync(root, { recursive: true, force: true })
  })

  test("a prompt's response headers move the footer, without a usage request", { timeout: 40_000 }, async () => {
    const polls = sb.count('anthropic')
    session.type('say hello')
    await sleep(200)
    session.key('Enter')
    await session.waitFor(/Hello from the loopback model/, { what: "the model's answer", timeoutMs: 25_000 })
    const screen = await session.waitFor(/claude extra \$25\.00\/\$50\.00/, { what: 'the header values in the footer' })
    const line = usageLine(screen)
    console.log(`# footer after one prompt: ${line.trim()}`)
    // the plan's 5h window does not govern a metered login, so it does not lead the footer:
    // the table shows it took the headers' value too
    assert.doesNotMatch(line, /^\s*claude [^│]*5h/, 'only the windows that govern the model lead')
    await session.command('/usage-store table')
    const table = await session.waitForTranscript(/^ ?anthropic +5h +81%/m, { what: 'the 5h window from the headers (the usage endpoint says 37%)' })
    assert.match(table, /^ ?anthropic +5h +81%/m)
    assert.ok(api.count() >= 1, 'the prompt reached the loopback model')
    assert.equal(sb.count('anthropic'), polls, 'no usage request in between')
  })

  test("switching the model changes the footer's lead", { timeout: 20_000 }, async () => {
    session.key('C-p')
    const screen = await session.waitFor((s) => /^\s*copilot \S/m.test(s), { what: 'copilot leading the footer' })
    assert.match(screen, /claude-haiku-4\.5/, 'pi switched to the Copilot model')
    session.key('C-p')
    await session.waitFor((s) => /^\s*claude extra/m.test(s), { what: 'claude leading again' })
  })

  test('a prompt to a model whose quota is used up brings up the choice before any request', { timeout: 40_000 }, async () => {
    // Extra usage (what pi's Claude calls are billed to) is used up: the next poll says so.
    const body = sb.fixture('anthropic')
    body.extra_usage = { is_enabled: true, monthly_limit: 5000, used_credits: 5000, utilization: 100, currency: 'USD', decimal_places: 2, disabled_reason: null }
    sb.setFixture('anthropic', body)
    await session.command('/usage-store refresh')
    await session.waitFor(/claude extra \$50\.00\/\$50\.00/, { what: 'extra usage used up in the footer' })
    const sent = api.count()
    session.type('are you there?')
    await sleep(200)
    session.key('Enter')
    const dialog = await session.waitFor(/Quota used up/, { what: 'the choice before the call' })
    assert.match(dialog, /used up for claude-opus-4-7/)
    assert.match(dialog, /Switch to \S+\//, 'the best model with room is offered')
    assert.equal(api.count(), sent, 'nothing was sent while the user decides')
    session.key('Escape') // stay: the prompt goes ahead, with a word about it
    await session.waitFor(/Staying on claude-opus-4-7/, { what: 'the answer to the choice' })
    const until = Date.now() + 15_000
    while (api.count() === sent && Date.now() < until) await sleep(100)
    assert.equal(api.count(), sent + 1, 'the prompt went to the model the user kept')
  })
}

// whenExhausted "switch": a prompt to a model whose quota is used up goes, without a dialog, to
// the model the tracker ranks best, and pi shows and uses that model. Only a Claude login, and
// every Claude model routed to the loopback API, so whichever model is picked the call stays
// on 127.0.0.1 and the test reads which one it was.
function switchCases(pi) {
  const OPUS = 'anthropic/claude-opus-4-7'
  let sb
  let api
  let session
  let root

  before(async () => {
    sb = await startSandbox()
    // Opus's weekly cap is used up (in the limits list and the legacy key alike); the plan's
    // 5h and 7d windows have room, and there is no extra usage to bill pi's calls to.
    const body = sb.fixture('anthropic')
    body.extra_usage = null
    body.seven_day_opus.utilization = 100
    body.limits.find((l) => l.kind === 'weekly_scoped').percent = 100
    sb.setFixture('anthropic', body)
    api = await startModelApi()
    api.setHeaders(() => anthropicUnifiedHeaders({ fiveHour: 0.4, sevenDay: 0.66 }))
    root = mkdtempSync(join(tmpdir(), 'pi-e2e-switch-'))
    const agentDir = join(root, 'agent')
    const home = join(root, 'home')
    const project = join(root, 'project')
    for (const d of [agentDir, home, project]) mkdirSync(d, { recursive: true })
    writeFileSync(join(agentDir, 'auth.json'), JSON.stringify({ anthropic: sb.authJson().anthropic }, null, 2), { mode: 0o600 })
    writeFileSync(join(agentDir, 'usage-tracker.json'), JSON.stringify({ intervalMs: 60_000, cachePath: null, whenExhausted: 'switch' }))
    writeFileSync(join(agentDir, 'models.json'), JSON.stringify({ providers: { anthropic: { baseUrl: api.url } } }))
    const env = piEnv(pi, { home, agentDir, sandboxUrl: sb.url })
    session = new PiSession({ tmux, socket: join(root, 'tmux.sock'), width: 200, height: 50 })
    session.start([...pi.argv, '--offline', '--no-session', '--no-extensions', '--no-context-files', '--no-skills', '--model', OPUS, '-e', EXTENSION], { cwd: project, env })
    await session.waitFor(/claude 7d_opus 100%/, { what: 'the used-up Opus cap leading the footer', timeoutMs: 25_000 })
  })

  after(async () => {
    session?.kill()
    await sb?.close()
    await api?.close()
    if (root) rmSync(root, { recursive: true, force: true })
  })

  test('the prompt goes to the best model with room, without a dialog', { timeout: 40_000 }, async () => {
    assert.equal(api.count(), 0)
    session.type('are you there?')
    await sleep(200)
    session.key('Enter')
    const screen = await session.waitFor(/Switched to anthropic\/\S+\./, { what: 'the switch notice' })
    assert.doesNotMatch(screen, /Quota used up/, 'no dialog in "switch" mode')
    assert.match(screen, /Usage: claude 7d_opus is used up for claude-opus-4-7; resets in \S+\./)
    const target = screen.match(/Switched to anthropic\/(\S+)\./)[1]
    console.log(`# switched from claude-opus-4-7 to ${target}`)
    assert.doesNotMatch(target, /opus/, `the tracker ranks a model outside the Opus cap best, not ${target}`)
    await session.waitFor(/Hello from the loopback model/, { what: "the model's answer", timeoutMs: 25_000 })
    assert.deepEqual(api.requests.filter((r) => r.path === '/v1/messages').map((r) => r.model), [target], 'the one call went to the model switched to')
    // the footer follows: the new model's windows lead (no Opus cap), and pi shows its name
    const after = await session.waitFor((s) => /^\s*claude 7d \d+%/m.test(s), { what: 'the new model leading the footer' })
    assert.ok(after.includes(target), `pi shows ${target}:\n${after}`)
  })
}

// pi signs users in to many more services than the first five: three of them here, each
// with a different kind of credential — an OAuth login, a literal API key, and a key that
// auth.json takes from an environment variable — show in the footer and in /usage-store.
function newProviderCases(pi) {
  let sb
  let session
  let root

  before(async () => {
    sb = await startSandbox()
    root = mkdtempSync(join(tmpdir(), 'pi-e2e-more-'))
    const agentDir = join(root, 'agent')
    const home = join(root, 'home')
    const project = join(root, 'project')
    for (const d of [agentDir, home, project]) mkdirSync(d, { recursive: true })
    const expires = Date.now() + 3600_000
    const auth = {
      'kimi-coding': { type: 'oauth', access: sb.tokens['kimi-coding'], refresh: 'test-kimi-refresh', expires },
      zai: { type: 'api_key', key: sb.tokens.zai },
      deepseek: { type: 'api_key', key: '$E2E_DEEPSEEK_KEY' },
    }
    writeFileSync(join(agentDir, 'auth.json'), JSON.stringify(auth, null, 2), { mode: 0o600 })
    writeFileSync(join(agentDir, 'usage-tracker.json'), JSON.stringify({ intervalMs: 60_000, cachePath: null }))
    const env = piEnv(pi, { home, agentDir, sandboxUrl: sb.url, extra: { E2E_DEEPSEEK_KEY: sb.tokens.deepseek } })
    session = new PiSession({ tmux, socket: join(root, 'tmux.sock'), width: 200, height: 50 })
    session.start([...pi.argv, '--offline', '--no-session', '--no-extensions', '--no-context-files', '--no-skills', '-e', EXTENSION], { cwd: project, env })
  })

  after(async () => {
    session?.kill()
    await sb?.close()
    if (root) rmSync(root, { recursive: true, force: true })
  })

  test('an OAuth login, an API key and a $ENV key show their values', { timeout: 40_000 }, async () => {
    const screen = await session.waitFor((s) => /zai 5h \d+%/.test(s) && /kimi 5h \d+%/.test(s) && /deepseek \$37\.42/.test(s), { what: 'the three providers in the footer', timeoutMs: 25_000 })
    const line = screen.split('\n').find((l) => l.includes('deepseek $')) ?? ''
    console.log(`# footer: ${line.trim()}`)
    assert.doesNotMatch(line, /claude|codex|copilot/, 'no login, no part')
    // each request carried its credential in the form the service wants
    const seen = (id) => sb.requests.find((r) => r.providerId === id && r.status === 200)
    assert.equal(seen('zai')?.headers.authorization, sb.tokens.zai, 'z.ai takes the raw key')
    assert.equal(seen('deepseek')?.headers.authorization, `Bearer ${sb.tokens.deepseek}`, 'the key came from $E2E_DEEPSEEK_KEY')
    assert.equal(seen('kimi-coding')?.headers.authorization, `Bearer ${sb.tokens['kimi-coding']}`)

    await session.command('/usage-store table')
    const table = await session.waitForTranscript(/provider\s+window\s+used[\s\S]*no credentials: /, { what: 'the /usage-store table' })
    for (const id of ['zai', 'kimi-coding', 'deepseek']) assert.match(table, new RegExp(`^\\s*${id}\\s+\\S+`, 'm'), `${id} is listed`)
  })
}
