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
  for (const width of [50, 80, 150]) describeNeeding(`${pi.label} at ${width} columns`, pi.skip, () => viewCases(pi, width))
  describeNeeding(`${pi.label}: r within the shared cache's hold`, pi.skip, () => heldRefreshCases(pi))
}

// The title: the keys, after what `r` did when there is room (else what `r` did alone).
const TITLE = /^Usage · ((refreshing…|refreshed|fetched [^—]+ — .+) · )?(r refresh · a (all|main) windows( · ↑↓ scroll)? · esc close|r · a (all|main)( · ↑↓)? · esc)$|^Usage · (refreshing…|refreshed|fetched [^—]+ — .+)$/

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
      assert.match(row, /^(\S.*· updated |  \S|    \S|no credentials: |! |[↓↑] \d+ rows? | {4,}runs out in \S+$)/, `not a row of the view (wrapped?): ${row}`)
      assert.ok(visibleWidth(row) <= width, row)
      // reset countdowns and run-out times are never cut
      assert.doesNotMatch(row, /↻\S*…|runs out in \S*…|out in \S*…/, row)
      for (const reset of row.match(/↻\S+/g) ?? []) assert.match(reset, /^↻(now|\d+[smhd](\d+[mh])?)$/, row)
    }
    assert.ok(rows.some((r) => /^claude · updated /.test(r)))
    if (width >= 80) assert.ok(rows.some((r) => /^ {2}5h +[█░│]+ 37% used +↻\S+/.test(r)), 'the 5h window with its bar, value and reset')
    else assert.ok(rows.some((r) => /^ {2}5h +([█░│]+ )?37% used +↻\S+/.test(r)), 'the 5h window with its value and reset')
    assert.ok(rows.some((r) => /^ {2}premium +([█░│]+ )?173\/300 requests left +↻\S+/.test(r)))
    // the sparkline from the recorded history: at 150 columns; at 80 the bar and value take the room
    const spark = rows.some((r) => /37% used +↻\S+ +[▁▂▃▄▅▆▇█ ]*[▁▂▃▄▅▆▇█]/.test(r))
    assert.equal(spark, width >= 100, `a sparkline at ${width} columns: ${spark}`)
    const history = readdirSync(join(agentDir, 'cache')).filter((f) => f.includes('.history-'))
    assert.ok(history.some((f) => f.endsWith('.jsonl')), `history beside the cache: ${history}`)
  })

  test('a shows every window, r refreshes, Esc gives the editor back', { timeout: 30_000 }, async () => {
    session.type('a')
    const all = await session.waitFor((s) => /· a main( windows)? ·/.test(s) && /^↓ \d+ rows? more$/m.test(s), { what: 'all windows, taller than the pane' })
    assert.ok(viewRows(all).some((r) => /^ {2}7d_opus +([█░│]+ )?12% used/.test(r)), 'a window compact leaves out')
    // Taller than the pane (Copilot's per-model views): it scrolls, the title stays.
    assert.match(all, /↑↓( scroll)? ·/)
    assert.ok(viewRows(all).some((r) => /^↓ \d+ rows? more$/.test(r)))
    session.key('Down')
    session.key('Down')
    const scrolled = await session.waitFor(/^↑ 2 rows above( · ↓ \d+ rows? more)?$/m, { what: 'the view scrolled' })
    assert.ok(TITLE.test(viewRows(scrolled)[0]), 'the title stays on top')
    assert.ok(!/^claude · updated/m.test(scrolled), 'the first rows scrolled away')
    const before = sb.count('anthropic')
    session.type('r')
    // r answers at once: what it did (a refresh, or the cache's answer and when it can ask again)
    await session.waitFor((s) => /^Usage · (refreshed|fetched [^—\n]+ — [^\n]+)/m.test(s) && sb.count('anthropic') > before, { what: 'a refresh' })
    session.key('Escape')
    const back = await session.waitFor((s) => viewRows(s) === null, { what: 'the view to close' })
    assert.match(back, /^\s*claude \S/m, 'the footer is back')
    assert.ok(!session.dead(), 'pi is still running')
    assert.ok(!existsSync(join(root, 'home', '.pi', 'agent', 'pi-crash.log')), 'no line too wide for pi')
  })

  test('the footer fits the line and shows every provider with data', { timeout: 20_000 }, async () => {
    const labels = ['claude', 'codex', 'copilot', 'antigravity', 'gemini']
    const footerLine = (s) => s.split('\n').reverse().find((l) => /^\s*claude (?!·)/.test(l)) ?? ''
    const screen = await session.waitFor((s) => labels.every((l) => footerLine(s).includes(`${l} `)) || /\.\.\.|…/.test(footerLine(s)), { what: 'the footer' })
    const line = footerLine(screen)
    console.log(`# ${pi.label}, ${width} columns, footer: ${line}`)
    assert.ok(visibleWidth(line) <= width, line)
    if (width >= 80) {
      // five logins at 80 columns: every one has a cell, nothing is cut
      for (const l of labels) assert.match(line, new RegExp(`(^| )${l} `), `${l} in: ${line}`)
      assert.doesNotMatch(line, /\.\.\.|…/, line)
      // the model's provider leads with the windows that govern the model (a Claude login's
      // extra usage, which pi's calls are billed to)
      assert.match(line, /^\s*claude (extra )?\$12\.50\/\$50\.00/, line)
    }
  })

  // (the table's narrowest form is about 72 columns; below that its lines are cut, not wrapped)
  if (width >= 80) test('/usage-store table and /usage-store refresh fit pi\'s chat width: no row wraps', { timeout: 40_000 }, async () => {
    await session.command('/usage-store table')
    const screen = await session.waitForTranscript(/provider[\s\S]*no credentials: /, { what: 'the /usage-store table' })
    // pi 1.6 draws its scrollbar over the chat's right padding column
    const unbar = (l) => l.replace(/\s+[│┃█]$/, '').trimEnd()
    const lines = screen.split('\n').map(unbar)
    const start = lines.findLastIndex((l) => /^ ?provider/.test(l))
    const end = lines.findIndex((l, i) => i > start && /no credentials: /.test(l))
    const table = lines.slice(start, end + 1)
    console.log(`# ${pi.label}, ${width} columns, /usage-store table:\n${table.map((r) => `#   ${r}`).join('\n')}`)
    for (const l of table) assert.ok(visibleWidth(l) <= width, `${visibleWidth(l)}: ${l}`)
    // each row is one line, name to last cell (a wrapped row would leave its tail on the next)
    const text = table.join('\n')
    assert.match(text, /^ ?anthropic +5h +37% +(63% +)?\S+/m)
    assert.match(text, /^ ?github-copilot +premium +(42% +173\/300|173\/300 left) +\S+/m)
    assert.match(text, /^ ? {0,2}(google-antigravity\/)?gemini-3-pro-high +quota +20% +(80% +)?\S+$/m)
    assert.match(text, /^ ? {0,2}(google-antigravity\/)?claude-opus-4-5-thinking +quota +100% +(0% +)?\S+$/m)

    await session.command('/usage-store refresh')
    const view = await session.waitForTranscript(/claude · updated [\s\S]*no credentials: /, { what: 'the view in the chat' })
    const viewLines = view.split('\n').map(unbar)
    const from = viewLines.findLastIndex((l) => /^ ?claude · updated /.test(l))
    const shown = viewLines.slice(from, viewLines.findIndex((l, i) => i > from && /no credentials: /.test(l)) + 1)
    console.log(`# ${pi.label}, ${width} columns, /usage-store refresh:\n${shown.map((r) => `#   ${r}`).join('\n')}`)
    for (const l of shown) {
      assert.ok(visibleWidth(l) <= width, `${visibleWidth(l)}: ${l}`)
      // pi's one column of padding, then a line of the view: no tail of a wrapped line
      assert.match(l, /^ ?(\S.*· updated |  \S|    \S|no credentials: |! | {4,}runs out in \S+$)/, `wrapped? ${l}`)
    }
    assert.ok(shown.some((l) => /^ ? {2}5h +([█░│]+ )?37% used +↻\S+/.test(l)), shown.join('\n'))
  })
}

/** pi with a 60 s poll: the shared cache holds a refresh for 30 s after the start's fetch. */
function heldRefreshCases(pi) {
  let sb
  let session
  let root

  before(async () => {
    sb = await startSandbox()
    root = mkdtempSync(join(tmpdir(), 'pi-view-held-'))
    const agentDir = join(root, 'agent')
    const home = join(root, 'home')
    const project = join(root, 'project')
    for (const d of [agentDir, home, project]) mkdirSync(d, { recursive: true })
    writeFileSync(join(agentDir, 'auth.json'), JSON.stringify(sb.authJson(), null, 2), { mode: 0o600 })
    writeFileSync(join(agentDir, 'usage-tracker.json'), JSON.stringify({ intervalMs: 60_000 }))
    const env = {
      PATH: pi.env.PATH,
      HOME: home,
      TERM: 'tmux-256color',
      LANG: 'C.UTF-8',
      PI_CODING_AGENT_DIR: agentDir,
      PI_OFFLINE: '1',
      PI_SKIP_VERSION_CHECK: '1',
      PI_TELEMETRY: '0',
      PI_HYPERLINKS: '0',
      PI_USAGE_TRACKER_BASE_URL: sb.url,
    }
    session = new PiSession({ tmux, socket: join(root, 'tmux.sock'), width: 80, height: 50 })
    session.start([...pi.argv, '--offline', '--no-session', '--no-extensions', '--no-context-files', '--no-skills', '-e', EXTENSION], { cwd: project, env })
    await session.waitFor(/^\s*claude \S/m, { what: 'usage in the footer', timeoutMs: 25_000 })
  })

  after(async () => {
    session?.kill()
    await sb?.close()
    if (root) rmSync(root, { recursive: true, force: true })
  })

  test('r within 30 s of the last fetch says when it was fetched and when a refresh can ask again', { timeout: 30_000 }, async () => {
    await session.command('/usage-store')
    await session.waitFor((s) => viewRows(s) !== null, { what: 'the usage view' })
    const before = sb.count('anthropic')
    session.type('r')
    const screen = await session.waitFor(/^Usage · fetched [^—]+ — next refresh possible in \S+/m, { what: 'the refresh held back, in words' })
    const title = screen.split('\n').find((l) => l.startsWith('Usage · '))
    console.log(`# ${pi.label}: ${title}`)
    assert.ok(visibleWidth(title) <= 80, title)
    assert.match(title, /^Usage · fetched (\d+s ago|just now) — next refresh possible in \d+s$/)
    assert.equal(sb.count('anthropic'), before, 'the services were not asked again')
    session.key('Escape')
    await session.waitFor((s) => viewRows(s) === null, { what: 'the view to close' })
  })
}
