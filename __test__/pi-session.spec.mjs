// End-to-end, "what this session cost" (issue 24): a real pi under tmux (1.6 and 0.73) with the
// extension, the provider sandbox and the loopback model API. Two prompts whose response
// headers move Claude's extra-usage meter from $81.50 to $100.00 of $250 show `session +$18.50`
// in the footer and in the view, attributed to the model in use; `/reload` continues the count
// (the ledger is kept per pi session id); `/new` starts at zero.
// pi runs offline with a throwaway HOME and agent dir; nothing leaves 127.0.0.1.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
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
const EXTENSION = process.env.PI_E2E_EXTENSION ?? join(here, '..', 'extensions', 'usage-tracker', 'index.ts')
const OPUS = 'anthropic/claude-opus-4-7'

const tmux = ensureTmux()
const pis = tmux ? pisToTest() : [{ label: 'pi', skip: 'tmux not found and could not be installed' }]

/** Claude's extra usage: $used of a $250 monthly limit, as the usage endpoint says it (cents). */
function extraUsage(usedDollars) {
  return { is_enabled: true, monthly_limit: 25000, used_credits: Math.round(usedDollars * 100), utilization: (usedDollars / 250) * 100, currency: 'USD', decimal_places: 2, disabled_reason: null }
}

/** The footer line our status lives on. */
const usageLine = (screen) => screen.split('\n').find((l) => l.includes('claude ')) ?? ''

for (const pi of pis) describeNeeding(`${pi.label}: this session`, pi.skip, () => sessionCases(pi))

function sessionCases(pi) {
  let sb
  let api
  let session
  let root
  let agentDir

  before(async () => {
    sb = await startSandbox()
    const body = sb.fixture('anthropic')
    body.extra_usage = extraUsage(81.5)
    sb.setFixture('anthropic', body)
    api = await startModelApi()
    root = mkdtempSync(join(tmpdir(), 'pi-session-'))
    agentDir = join(root, 'agent')
    const home = join(root, 'home')
    const project = join(root, 'project')
    for (const d of [agentDir, home, project]) mkdirSync(d, { recursive: true })
    writeFileSync(join(agentDir, 'auth.json'), JSON.stringify(sb.authJson(), null, 2), { mode: 0o600 })
    // one poll at start, then none for a minute: what changes later came with the prompts
    writeFileSync(join(agentDir, 'usage-tracker.json'), JSON.stringify({ intervalMs: 60_000, cachePath: null }))
    writeFileSync(join(agentDir, 'models.json'), JSON.stringify({ providers: { anthropic: { baseUrl: api.url } } }))
    const env = piEnv(pi, { home, agentDir, sandboxUrl: sb.url })
    session = new PiSession({ tmux, socket: join(root, 'tmux.sock'), width: 200, height: 50 })
    // a real (saved) session: /new must give it a new id
    session.start([...pi.argv, '--offline', '--no-extensions', '--no-context-files', '--no-skills', '--models', OPUS, '--model', OPUS, '-e', EXTENSION], { cwd: project, env })
    await session.waitFor(/claude extra \$81\.50\/\$250\.00/, { what: 'the first poll in the footer', timeoutMs: 25_000 })
  })

  after(async () => {
    session?.kill()
    await sb?.close()
    await api?.close()
    if (root) rmSync(root, { recursive: true, force: true })
  })

  async function prompt(text, usedDollars) {
    api.setHeaders(() => anthropicUnifiedHeaders({ fiveHour: 0.42, sevenDay: 0.5, overage: { utilization: usedDollars / 250 } }))
    const answered = api.count()
    session.type(text)
    await sleep(200)
    session.key('Enter')
    await session.waitFor(() => api.count() > answered, { what: `the request of "${text}"`, timeoutMs: 25_000 })
    return session.waitFor(new RegExp(`claude extra \\$${usedDollars.toFixed(2).replace('.', '\\.')}/\\$250\\.00`), { what: `extra usage at $${usedDollars}` })
  }

  test('a new session starts at zero after the first poll: no session cell yet', { timeout: 20_000 }, async () => {
    const screen = await session.waitFor(/claude extra \$81\.50\/\$250\.00/, { what: 'the first poll in the footer' })
    console.log(`# ${pi.label}, footer at start: ${usageLine(screen).trim()}`)
    assert.doesNotMatch(usageLine(screen), /session/)
  })

  test('two prompts move extra usage by $18.50: the footer says so, the view names the model', { timeout: 60_000 }, async () => {
    await prompt('say hello', 90)
    await session.waitFor(/│ session \+\$8\.50/, { what: 'the first prompt counted' })
    await prompt('say it again', 100)
    const screen = await session.waitFor(/│ session \+\$18\.50/, { what: 'both prompts counted' })
    const line = usageLine(screen)
    console.log(`# ${pi.label}, footer after two prompts: ${line.trim()}`)
    assert.match(line, /^\s*claude extra \$100\.00\/\$250\.00 ↻\S+[^│]*│ session \+\$18\.50/, 'the cell follows the lead provider')

    await session.command('/usage-store')
    const view = await session.waitFor(/this session \(\S+\):/, { what: 'the view with its session block' })
    console.log(`# ${pi.label}, view:\n${view.split('\n').filter((l) => /this session|^\s+extra \+|^\s+5h \+/.test(l)).map((l) => `#   ${l}`).join('\n')}`)
    assert.match(view, /this session \(\S+\):\s*\n\s+extra \+\$18\.50 — claude-opus-4-7 \+\$18\.50\s*$/m, 'the change under the block title, attributed to the model in use')
    session.key('Escape')
    await session.waitFor((s) => !/this session \(/.test(s), { what: 'the view to close' })

    await session.command('/usage-store json')
    const json = await session.waitForTranscript(/"session": \{/, { what: 'the session in /usage-store json' })
    assert.match(json, /"windowId": "extra"/)
    assert.match(json, /"change": 18\.5\b/)
  })

  test('the ledger is a private file per session id, with no token in it', { timeout: 10_000 }, async () => {
    const dir = join(agentDir, 'cache', 'usage-sessions')
    const files = readdirSync(dir).filter((f) => f.endsWith('.json'))
    assert.equal(files.length, 1, `one session so far: ${files}`)
    assert.equal(statSync(join(dir, files[0])).mode & 0o077, 0, 'mode 0600')
    const text = readFileSync(join(dir, files[0]), 'utf8')
    assert.match(text, /"claude-opus-4-7":18\.5/)
    for (const token of Object.values(sb.tokens)) assert.ok(!text.includes(token), 'no token in the ledger')
  })

  test('/reload continues the count', { timeout: 40_000 }, async () => {
    // the usage endpoint agrees with the headers by now, as the real one would
    const body = sb.fixture('anthropic')
    body.extra_usage = extraUsage(100)
    sb.setFixture('anthropic', body)
    const polls = sb.count('anthropic')
    await session.command('/reload')
    await session.waitFor(() => sb.count('anthropic') > polls, { what: 'the poll after /reload', timeoutMs: 25_000 })
    const screen = await session.waitFor(/claude extra \$100\.00\/\$250\.00[^\n]*│ session \+\$18\.50/, { what: 'the count after /reload' })
    console.log(`# ${pi.label}, footer after /reload: ${usageLine(screen).trim()}`)
  })

  test('/new starts at zero', { timeout: 40_000 }, async () => {
    await session.command('/new')
    // nothing used yet in the new session: the footer has no session cell (it shows no "+$0.00")
    const screen = await session.waitFor((s) => /claude extra \$100\.00\/\$250\.00/.test(s) && !/│ session \+/.test(s), { what: 'a new session at zero', timeoutMs: 25_000 })
    console.log(`# ${pi.label}, footer after /new: ${usageLine(screen).trim()}`)
    assert.doesNotMatch(usageLine(screen), /session/)
    const files = readdirSync(join(agentDir, 'cache', 'usage-sessions')).filter((f) => f.endsWith('.json'))
    assert.equal(files.length, 2, 'a ledger for the new session beside the first')
  })

  test('"sessionCost" off in /usage-store settings takes the cell away at once', { timeout: 40_000 }, async () => {
    await session.command('/usage-store settings')
    await session.waitFor(/Usage tracker settings/, { what: 'the settings list' })
    session.type('session')
    await session.waitFor(/This session in the footer\s+on/, { what: 'the session row' })
    session.key('Enter')
    await session.waitFor(/This session in the footer\s+off/, { what: 'the session row off' })
    session.key('Escape')
    await session.waitFor((s) => !/Usage tracker settings/.test(s), { what: 'the list to close' })
    const screen = await session.waitFor((s) => /claude extra \$100\.00\/\$250\.00/.test(s) && !/│ session \+/.test(s), { what: 'the footer without the session cell', timeoutMs: 25_000 })
    assert.doesNotMatch(usageLine(screen), /session/)
    assert.equal(JSON.parse(readFileSync(join(agentDir, 'usage-tracker.json'), 'utf8')).sessionCost, false)
  })
}
