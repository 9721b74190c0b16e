#!/usr/bin/env node
// `npm run demo`: the tracker against the loopback provider sandbox, no credentials needed.
// All five built-ins are registered with the sandbox's test tokens; the served usage drifts
// every cycle and the view is redrawn like pi's footer would be (plain lines when piped).
//
//   node scripts/demo.mjs [--cycles N] [--watch] [--interval MS]
import { spawn } from 'node:child_process'
import { readdirSync, mkdtempSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const require = createRequire(import.meta.url)

function parseArgs(argv) {
  const args = { cycles: 8, watch: false, intervalMs: 1000 }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--watch') args.watch = true
    else if (a === '--cycles') args.cycles = Number(argv[++i])
    else if (a === '--interval') args.intervalMs = Number(argv[++i])
    else if (a === '-h' || a === '--help') {
      console.log('usage: node scripts/demo.mjs [--cycles N] [--watch] [--interval MS]')
      process.exit(0)
    } else {
      console.error(`unknown argument: ${a}`)
      process.exit(2)
    }
  }
  if (!(args.cycles > 0)) {
    console.error('--cycles must be a number > 0')
    process.exit(2)
  }
  return args
}
const args = parseArgs(process.argv.slice(2))

const elapsed = (since) => {
  const s = Math.round((Date.now() - since) / 1000)
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
}

// Build the addon before anything loads it: a fresh clone has no binary yet. The release build
// is the one `npm test` runs, so it finds this one up to date.
if (!readdirSync(root).some((f) => /^usage-tracker\..+\.node$/.test(f))) {
  const started = Date.now()
  console.log('demo: no native addon in this checkout yet (usage-tracker.*.node)')
  console.log('demo: step 1/2, building it: `npm run build` (release build of the Rust addon; cargo prints its progress below)')
  // cargo shows a progress bar on a terminal only; a log gets a line every 30 s
  const beat = process.stderr.isTTY ? null : setInterval(() => console.log(`demo: still building… ${elapsed(started)}`), 30_000)
  const child = spawn('npm', ['run', 'build'], { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' })
  const status = await new Promise((resolve) => {
    child.on('error', (err) => {
      console.error(`demo: could not start npm: ${err.message}`)
      resolve(1)
    })
    child.on('exit', (code, signal) => resolve(signal ? 1 : code))
  })
  clearInterval(beat)
  if (status !== 0) {
    console.error(`demo: the build failed after ${elapsed(started)} (cargo's output above says why). The demo needs the native addon: install Rust 1.88+, then run \`npm run build\` or \`npm run demo\` again.`)
    process.exit(1)
  }
  console.log(`demo: built in ${elapsed(started)}; step 2/2, starting the demo`)
}

// Point pi's agent dir at an empty temp dir: the demo must never read or write the user's files.
const agentDir = mkdtempSync(join(tmpdir(), 'pi-usage-demo-'))
process.env.PI_CODING_AGENT_DIR = agentDir

const { UsageTracker } = require(join(root, 'index.js'))
const fmt = require(join(root, 'lib/format.js'))
const { terminalWidth, visibleWidth } = require(join(root, 'lib/terminal.js'))
const { wrapToWidth } = require(join(root, 'lib/view.js'))
const { startSandbox, drift, PROVIDER_IDS, rateLimitHeaders } = await import(new URL('../__test__/sandbox.mjs', import.meta.url))
const { BUILTIN_PROVIDERS } = require(join(root, 'index.js'))

const { minIntervalMs } = UsageTracker.limits
if (!(args.intervalMs >= minIntervalMs)) {
  console.error(`--interval must be >= ${minIntervalMs} ms`)
  process.exit(2)
}

const tty = Boolean(process.stdout.isTTY)
const color = tty && !process.env.NO_COLOR
const paint = (colorName, s) => (color ? fmt.paintAnsi(colorName, s) : s)

// A 6-cell bar of the used ratio, with eighth blocks for the partial cell.
function bar(ratio, cells = 6) {
  const eighths = Math.round(Math.min(1, Math.max(0, ratio)) * cells * 8)
  const full = Math.floor(eighths / 8)
  const part = eighths % 8 ? ' ▏▎▍▌▋▊▉'[eighths % 8] : ''
  return '█'.repeat(full) + part + '░'.repeat(cells - full - (part ? 1 : 0))
}

function windowText(entry, w, now) {
  // per-model providers (antigravity, gemini) name the model, the others the window
  const name = entry.modelId === 'default' ? w.id : entry.modelId
  // money against a cap reads as spent/cap; balances and counted pools as what is left
  const spent = /^[A-Z]{3}$/.test(w.unit ?? '') && w.kind !== 'balance'
  const value = fmt.isAmountWindow(w) ? `${fmt.formatAmount(w)}${spent ? '' : ' left'}` : `${Math.round(w.usedRatio * 100)}%`
  let s = `${name} ${paint(fmt.LEVEL_COLORS[fmt.windowLevel(w)], bar(w.usedRatio))} ${value}`
  if (Number.isFinite(w.resetsAt)) s += paint('dim', ` ↻${fmt.formatDuration(w.resetsAt - now)}`)
  return s
}

/** A provider's lines: label, plan and its windows, the windows wrapped (never cut) onto lines
 *  under the first when `width` is set. */
function providerLines(providerId, group, now, width) {
  const label = fmt.providerLabel(providerId).padEnd(12)
  if (!group.some((e) => e.active)) return [`${label}${paint('dim', 'no credentials')}`]
  // A provider with a `default` entry shows that one (copilot's per-model multiplier entries
  // only restate premium); per-model providers show every model, most used first.
  const def = group.find((e) => e.modelId === 'default')
  const windows = (def ? [def] : group).flatMap((e) => e.windows.map((w) => [e, w]))
  if (!def) windows.sort((a, b) => b[1].usedRatio - a[1].usedRatio)
  const parts = windows.map(([e, w]) => windowText(e, w, now))
  const plan = group.find((e) => e.plan)?.plan
  let head = ''
  if (plan) head += `[${plan}] `
  if (group.some((e) => e.stale)) head += paint('dim', '(stale) ')
  if (!parts.length) return [`${label}${head}${paint('dim', 'waiting…')}`]
  const lines = [`${label}${head}${parts[0]}`]
  for (const part of parts.slice(1)) {
    const joined = `${lines[lines.length - 1]}  ${part}`
    if (!width || visibleWidth(joined) <= width) lines[lines.length - 1] = joined
    else lines.push(`${' '.repeat(12)}${part}`)
  }
  return lines
}

// A failure in words under its provider: what happened, what to do, the service's message.
function errorLines(group, now, width) {
  const err = group.find((e) => e.active && e.error)?.error
  if (!err) return []
  const text = fmt.errorText(err, now)
  const lines = width ? wrapToWidth(text, Math.max(20, width - 14), 3) : [text]
  return lines.map((l, i) => paint('error', `${i ? '            ' : '          ! '}${l}`))
}

// Cut a line to the terminal width without counting ANSI escapes.
function fit(line, width) {
  if (!width) return line
  let visible = 0
  let out = ''
  for (let i = 0; i < line.length; i++) {
    if (line[i] === '\x1b') {
      const end = line.indexOf('m', i)
      out += line.slice(i, end + 1)
      i = end
      continue
    }
    if (visible === width - 1 && i < line.length - 1) return out + '…' + (color ? '\x1b[0m' : '')
    out += line[i]
    visible++
  }
  return out
}

let drawn = 0
function render(entries, cycle, total, sandboxUrl) {
  const now = Date.now()
  const groups = new Map()
  for (const e of fmt.sortEntries(entries)) {
    if (!groups.has(e.providerId)) groups.set(e.providerId, [])
    groups.get(e.providerId).push(e)
  }
  const head = `pi-usage-tracker demo · sandbox ${sandboxUrl} · cycle ${cycle}${total ? `/${total}` : ''} · ${new Date(now).toLocaleTimeString()}`
  const width = tty ? terminalWidth() : 0
  const lines = [head, ...[...groups].flatMap(([id, g]) => [...providerLines(id, g, now, width), ...errorLines(g, now, width)])]
  // the footer as pi draws it at this width (80 columns when piped)
  const footerWidth = (width || 80) - 'footer: '.length
  lines.push(paint('dim', `footer: ${fmt.formatFooterLine(entries, { now, pressing: tracker.mostPressing(), width: footerWidth })}`))
  if (!tty) {
    console.log(lines.join('\n') + '\n')
    return
  }
  // move up over the previous frame and clear it, then draw the new one
  const up = drawn ? `\x1b[${drawn}A\x1b[J` : ''
  process.stdout.write(up + lines.map((l) => fit(l, width)).join('\n') + '\n')
  drawn = lines.length
}

const sb = await startSandbox()
const tracker = new UsageTracker({ intervalMs: args.intervalMs, cachePath: null, requestTimeoutMs: 5000 })
// every built-in, each with the credential form its usage endpoint takes
for (const { id } of BUILTIN_PROVIDERS) tracker.registerBuiltinProvider(id, { credentials: sb.credentials(id), baseUrl: sb.url })

let cycle = 0
let finishing = false
let unsubscribe = () => {}
async function finish(code) {
  if (finishing) return
  finishing = true
  clearTimeout(watchdog)
  unsubscribe()
  await tracker.stop()
  await sb.close()
  rmSync(agentDir, { recursive: true, force: true })
  const s = tracker.stats?.()
  if (s) console.log(`stopped after ${s.cycles} cycles: ${s.fetchOk} fetches ok, ${s.fetchErrors} failed`)
  process.exit(code)
}

// If the tracker stops delivering updates the demo must not sit there forever.
let watchdog
const armWatchdog = () => {
  clearTimeout(watchdog)
  watchdog = setTimeout(() => {
    console.error(`no update from the tracker for ${(args.intervalMs * 10) / 1000}s, giving up`)
    finish(1)
  }, args.intervalMs * 10 + 10000)
}

// Services with no usage endpoint (never polled) show what a model response's headers say.
const HEADER_ONLY = BUILTIN_PROVIDERS.filter((p) => !p.polled).map((p) => p.id)
let polls = 0
unsubscribe = tracker.onUpdate((entries) => {
  if (finishing) return
  // A model response's headers publish too; only a finished poll cycle counts as one.
  const cycles = tracker.stats().cycles
  // (a terminal redraws in place; a log gets one frame per cycle)
  if (cycles === polls) return void (tty && render(entries, cycle, args.watch ? 0 : args.cycles, sb.url))
  polls = cycles
  cycle++
  armWatchdog()
  render(entries, cycle, args.watch ? 0 : args.cycles, sb.url)
  if (!args.watch && cycle >= args.cycles) return void finish(0)
  // Next cycle sees moved usage; once, a provider fails, to show an error and its recovery.
  for (const id of PROVIDER_IDS) sb.setFixture(id, drift(id, cycle))
  for (const id of HEADER_ONLY) tracker.observeResponse(id, 200, rateLimitHeaders(id, cycle))
  if (cycle === 3) sb.script('github-copilot', { status: 503 })
})
process.on('SIGINT', () => finish(0))
process.on('SIGTERM', () => finish(0))

armWatchdog()
tracker.start()
