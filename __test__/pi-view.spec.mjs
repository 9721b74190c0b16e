// End-to-end: /usage-store opens the usage view as a pi component, in the real pi TUI under
// tmux, for each pinned pi version (helpers/pi-install.mjs) at 80 and 150 columns. The view fits
// the pane (no row wraps), `a` shows every window, ↓ scrolls a view taller than the pane under a
// title that stays, `r` refreshes, Esc gives the editor back, and
// the history it draws its sparklines from is recorded next to pi's cache. Offline, throwaway
// HOME and agent dir, the provider sandbox on 127.0.0.1.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createRequire } from 'node:module'
import { startSandbox } from './sandbox.mjs'
import { ensureTmux, PiSession, sleep } from './helpers/pi-tmux.mjs'
import { pisToTest } from './helpers/pi-install.mjs'
import { describeNeeding } from './helpers/ci.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const EXTENSION = process.env.PI_E2E_EXTENSION ?? join(here, '..', 'extensions', 'usage-tracker', 'index.ts')
const { visibleWidth } = createRequire(import.meta.url)('../lib/view.js')

const tmux = ensureTmux()
const pis = tmux ? pisToTest() : [{ label: 'pi', skip: 'tmux not found and could not be installed' }]

for (const pi of pis) {
  for (const width of [80, 150]) describeNeeding(`${pi.label} at ${width} columns`, pi.skip, () => viewCases(pi, width))
}

const TITLE = /^Usage · (refreshing… · )?r refresh · a (all|main) windows( · ↑↓ scroll)? · esc close$/

/** The rows of the view on screen: its title (with the keys), then the body up to pi's editor
 *  border or footer. */
function viewRows(screen) {
  const rows = screen.split('\n')
  const start = rows.findIndex((r) => TITLE.test(r))
  if (start < 0) return null
  const end = rows.findIndex((r, i) => i > start && (/^─{10,}/.test(r) || r.startsWith('/') || r === ''))
  return rows.slice(start, end > start ? end : undefined)
}

function viewCases(pi, width) {
  let sb
  let session
  let root
  let agentDir

  before(async () => {
    sb = await startSandbox()
    root = mkdtempSync(join(tmpdir(), 'pi-view-'))
    agentDir = join(root, 'agent')
    const home = join(root, 'home')
    const project = join(root, 'project')
    for (const d of [agentDir, home, project]) mkdirSync(d, { recursive: true })
    writeFileSync(join(agentDir, 'auth.json'), JSON.stringify(sb.authJson(), null, 2), { mode: 0o600 })
    // The default cache (and history) under the agent dir.
    writeFileSync(join(agentDir, 'usage-tracker.json'), JSON.stringify({ intervalMs: 1500 }))
    const env = {
      PATH: pi.env.PATH,
      HOME: home,
      TERM: 'tmux-256color',
      LANG: 'C.UTF-8',
      PI_CODING_AGENT_DIR: agentDir,
      PI_OFFLINE: '1',
      PI_SKIP_VERSION_CHECK: '1',
      PI_TELEMETRY: '0',
      PI_HYPERLINKS: '0', // see pi-e2e.spec.mjs
      PI_USAGE_TRACKER_BASE_URL: sb.url,
    }
    session = new PiSession({ tmux, socket: join(root, 'tmux.sock'), width, height: 50 })
    session.start([...pi.argv, '--offline', '--no-session', '--no-extensions', '--no-context-files', '--no-skills', '-e', EXTENSION], { cwd: project, env })
    await session.waitFor(/^\s*claude \S/m, { what: 'usage in the footer', timeoutMs: 25_000 })
    await sleep(3500) // a few polls, so the history has points
  })

  after(async () => {
    session?.kill()
    await sb?.close()
    if (root) rmSync(root, { recursive: true, force: true })
  })

  test('/usage-store opens the view, every row within the pane', { timeout: 30_000 }, async () => {
    await session.command('/usage-store')
    const screen = await session.waitFor((s) => viewRows(s) !== null, { what: 'the usage view' })
    const rows = viewRows(screen)
    console.log(`# ${pi.label}, ${width} columns:\n${rows.map((r) => `#   ${r}`).join('\n')}`)
    // A row wider than the pane would wrap: its tail would start a row of its own.
    for (const row of rows.slice(1)) {
      assert.match(row, /^(\S.*· updated |  \S|    \S|no credentials: |! |[↓↑] \d+ rows? )/, `not a row of the view (wrapped?): ${row}`)
      assert.ok(visibleWidth(row) <= width, row)
    }
    assert.ok(rows.some((r) => /^claude · updated /.test(r)))
    assert.ok(rows.some((r) => /^ {2}5h +[█░│]+ 37% used +↻\S+/.test(r)), 'the 5h window with its bar, value and reset')
    assert.ok(rows.some((r) => /^ {2}premium +[█░│]+ 173\/300 requests left/.test(r)))
    // the sparkline from the recorded history: at 150 columns; at 80 the bar and value take the room
    const spark = rows.some((r) => /37% used +↻\S+ +[▁▂▃▄▅▆▇█ ]*[▁▂▃▄▅▆▇█]/.test(r))
    assert.equal(spark, width >= 100, `a sparkline at ${width} columns: ${spark}`)
    const history = readdirSync(join(agentDir, 'cache')).filter((f) => f.includes('.history-'))
    assert.ok(history.some((f) => f.endsWith('.jsonl')), `history beside the cache: ${history}`)
  })

  test('a shows every window, r refreshes, Esc gives the editor back', { timeout: 30_000 }, async () => {
    session.type('a')
    const all = await session.waitFor((s) => /a main windows/.test(s), { what: 'all windows' })
    assert.ok(viewRows(all).some((r) => /^ {2}7d_opus +[█░│]+ 12% used/.test(r)), 'a window compact leaves out')
    // Taller than the pane (Copilot's per-model views): it scrolls, the title stays.
    assert.match(all, /↑↓ scroll/)
    assert.ok(viewRows(all).some((r) => /^↓ \d+ rows? more$/.test(r)))
    session.key('Down')
    session.key('Down')
    const scrolled = await session.waitFor(/^↑ 2 rows above( · ↓ \d+ rows? more)?$/m, { what: 'the view scrolled' })
    assert.ok(TITLE.test(viewRows(scrolled)[0]), 'the title stays on top')
    assert.ok(!/^claude · updated/m.test(scrolled), 'the first rows scrolled away')
    const before = sb.count('anthropic')
    session.type('r')
    await session.waitFor((s) => /^Usage · r refresh · a main windows/m.test(s) && sb.count('anthropic') > before, { what: 'a refresh' })
    session.key('Escape')
    const back = await session.waitFor((s) => viewRows(s) === null, { what: 'the view to close' })
    assert.match(back, /^\s*claude \S/m, 'the footer is back')
    assert.ok(!session.dead(), 'pi is still running')
    assert.ok(!existsSync(join(root, 'home', '.pi', 'agent', 'pi-crash.log')), 'no line too wide for pi')
  })
}
