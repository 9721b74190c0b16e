// Settings and a broken auth.json inside the real pi TUI (each pinned pi, under tmux, against the
// provider sandbox): `/usage-store settings` changes the file and the footer at once, and the
// change survives /reload; a settings file with warnAt below criticalAt starts with one clear
// problem and the defaults; a broken auth.json is named in the footer and the view, and left as
// it was. pi runs offline with a throwaway HOME and agent dir; nothing leaves 127.0.0.1.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startSandbox } from './sandbox.mjs'
import { ensureTmux, PiSession, sleep } from './helpers/pi-tmux.mjs'
import { pisToTest } from './helpers/pi-install.mjs'
import { piEnv } from './helpers/pi-env.mjs'
import { describeNeeding } from './helpers/ci.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const EXTENSION = join(here, '..', 'extensions', 'usage-tracker', 'index.ts')
const INTERVAL_MS = 1500

const tmux = ensureTmux()
const pis = tmux ? pisToTest() : [{ label: 'pi', skip: 'tmux not found and could not be installed' }]

// one suite per pi; when that pi cannot be had, skipped with the reason (a failure on CI)
for (const pi of pis) describeNeeding(`${pi.label}: settings and auth.json`, pi.skip, () => cases(pi))

/** The screen with its colours (SGR sequences), to tell a value's level. */
const coloured = (session) => session.t('capture-pane', '-p', '-e', '-t', session.name)
/** The SGR sequences in force where `text` starts on the screen. */
function colourBefore(screen, text) {
  const at = screen.indexOf(text)
  assert.ok(at >= 0, `${text} on the screen`)
  const line = screen.slice(screen.lastIndexOf('\n', at) + 1, at)
  return [...line.matchAll(/\x1b\[[0-9;]*m/g)].slice(-2).map((m) => m[0]).join('')
}
/** Our lines of a screen (pi's own, e.g. its "No models available" hint, say other things). */
const ours = (screen) => screen.split('\n').filter((l) => /usage|auth\.json/.test(l)).join('\n')
/** Text on the screen with pi's line wrapping undone. */
const flat = (screen) => screen.replace(/\s+/g, ' ')

function cases(pi) {
  let sb
  let root
  const sessions = []

  before(async () => {
    sb = await startSandbox()
    root = mkdtempSync(join(tmpdir(), 'pi-settings-'))
  })

  after(async () => {
    for (const s of sessions) s.kill()
    await sb?.close()
    if (root) rmSync(root, { recursive: true, force: true })
  })

  /** A pi with its own agent dir holding `auth` (bytes or an object) and `settings`. */
  function startPi(name, { auth, settings }) {
    const dir = join(root, name)
    const agentDir = join(dir, 'agent')
    const home = join(dir, 'home')
    const project = join(dir, 'project')
    for (const d of [agentDir, home, project]) mkdirSync(d, { recursive: true })
    const authFile = join(agentDir, 'auth.json')
    writeFileSync(authFile, typeof auth === 'object' && !Buffer.isBuffer(auth) ? JSON.stringify(auth, null, 2) : auth, { mode: 0o600 })
    const settingsFile = join(agentDir, 'usage-tracker.json')
    writeFileSync(settingsFile, JSON.stringify(settings))
    const session = new PiSession({ tmux, socket: join(dir, 'tmux.sock'), width: 200, height: 50 })
    sessions.push(session)
    session.start([...pi.argv, '--offline', '--no-session', '--no-extensions', '--no-context-files', '--no-skills', '-e', EXTENSION], {
      cwd: project,
      env: piEnv(pi, { home, agentDir, sandboxUrl: sb.url }),
    })
    return { session, authFile, settingsFile }
  }

  test('/usage-store settings: a provider turned off and a new warn level apply at once and hold after /reload', { timeout: 90_000 }, async () => {
    const { session, settingsFile } = startPi('settings', {
      auth: sb.authJson(),
      // the session cell (pi-session.spec) would take the room of codex's 5h window
      settings: { intervalMs: INTERVAL_MS, cachePath: null, warnAt: 0.5, myNote: 'kept', sessionCost: false },
    })
    const usage = (s) => /copilot 173\/300/.test(s) && /codex 5h 23%/.test(s)
    await session.waitFor(usage, { what: 'usage in the footer', timeoutMs: 25_000 })
    const okColour = colourBefore(coloured(session), '173/300')

    await session.command('/usage-store settings')
    await session.waitFor(/Usage tracker settings/, { what: 'the settings list' })
    // Typing filters the rows (as in pi's /settings); Enter moves the row to its next value.
    session.type('openai-codex')
    await session.waitFor(/codex \(openai-codex\)\s+on/, { what: 'the codex row' })
    session.key('Enter')
    await session.waitFor(/codex \(openai-codex\)\s+off/, { what: 'codex off in the list' })
    await session.waitFor((s) => /copilot 173\/300/.test(s) && !/codex 5h/.test(s), { what: 'codex gone from the footer at once', timeoutMs: 15_000 })
    assert.deepEqual(JSON.parse(readFileSync(settingsFile, 'utf8')).providers, { 'openai-codex': false })

    for (let i = 0; i < 'openai-codex'.length; i++) session.key('BSpace')
    session.type('warn') // no space: 0.73's list takes Space as "next value" even while filtering
    await session.waitFor(/Warn level\s+50% left/, { what: 'the warn level row' })
    session.key('Enter')
    await session.waitFor(/Warn level\s+60% left/, { what: 'the warn level moved on' })
    // copilot has 57.7% left: under the new level it turns to the warning colour, at once.
    const until = Date.now() + 15_000
    let warnColour = okColour
    while (warnColour === okColour && Date.now() < until) {
      await sleep(200)
      const screen = coloured(session)
      if (screen.includes('173/300')) warnColour = colourBefore(screen, '173/300')
    }
    assert.notEqual(warnColour, okColour, 'copilot changed colour under the new warn level')
    const saved = JSON.parse(readFileSync(settingsFile, 'utf8'))
    assert.deepEqual(saved, { intervalMs: INTERVAL_MS, cachePath: null, warnAt: 0.6, myNote: 'kept', sessionCost: false, providers: { 'openai-codex': false } })

    session.key('Escape')
    await session.waitFor((s) => !/Usage tracker settings/.test(s), { what: 'the list to close' })
    await session.command('/reload')
    await session.waitFor(/Reloaded/, { what: 'reload to finish' })
    await sleep(3 * INTERVAL_MS)
    const after = await session.waitFor(/copilot 173\/300/, { what: 'usage in the footer after /reload' })
    assert.doesNotMatch(after, /codex 5h/, 'codex stays off after /reload')
    assert.equal(colourBefore(coloured(session), '173/300'), warnColour, 'the warn level holds after /reload')
    assert.deepEqual(JSON.parse(readFileSync(settingsFile, 'utf8')), saved)
  })

  test('a settings file with warnAt below criticalAt starts with one clear problem and the defaults', { timeout: 40_000 }, async () => {
    const { session } = startPi('crossed', {
      auth: sb.authJson(),
      settings: { intervalMs: INTERVAL_MS, cachePath: null, warnAt: 0.05, criticalAt: 0.3 },
    })
    const screen = await session.waitFor((s) => /copilot 173\/300/.test(s) && /is below "criticalAt"/.test(flat(s)), { what: 'the footer and the problem', timeoutMs: 25_000 })
    assert.match(flat(screen), /usage-tracker\.json: "warnAt" \(0\.05\) is below "criticalAt" \(0\.3\), expected warnAt at or above criticalAt .*using the defaults 0\.25 and 0\.1/)
    assert.doesNotMatch(screen, /could not start/)
    assert.equal(flat(screen).match(/is below "criticalAt"/g).length, 1, 'said once')
  })

  test('a broken auth.json is named in the footer and in /usage-store, and left as it was', { timeout: 40_000 }, async () => {
    const bytes = '{\n  "anthropic": {"type": "oauth", "access": "sk-ant-'
    const { session, authFile } = startPi('broken-auth', { auth: bytes, settings: { intervalMs: INTERVAL_MS, cachePath: null } })
    const footer = await session.waitFor(/usage: auth\.json broken: line 2, column 51/, { what: 'the footer naming the broken file', timeoutMs: 25_000 })
    assert.doesNotMatch(ours(footer), /log ?in|no credentials/i)
    await session.command('/usage-store')
    const view = await session.waitFor(/no usage data: pi's auth\.json cannot be read/, { what: 'the view' })
    assert.match(flat(view), new RegExp(`pi's auth\\.json is broken at line 2, column 51: EOF while parsing a string .*\\(${authFile.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\)`))
    assert.doesNotMatch(ours(view), /log ?in|no credentials/i)
    session.key('Escape')
    assert.equal(readFileSync(authFile, 'utf8'), bytes, 'auth.json is byte-identical')
  })
}
