#!/usr/bin/env node
'use strict'
// usage-store: fetch AI subscription quotas once, outside pi, and print them.
// Same addon and credential discovery as the pi extension (pi's auth.json, then
// the tools' own credential files); see `usage-store --help`.

const { parseArgs } = require('node:util')
const path = require('node:path')
const { renderTable, toJson, formatAgo, formatPercent, formatMoney, formatDuration, providerLabel, paintAnsi, errorText } = require('../lib/format.js')
const { renderView, sparkline, truncateToWidth, visibleWidth } = require('../lib/view.js')
const { terminalWidth } = require('../lib/terminal.js')

const BUILTINS = require('../index.js').BUILTIN_PROVIDER_IDS

const HELP = `usage: usage-store [options]
       usage-store view [--all] [options]
       usage-store history [--provider <id>] [--window <id>] [--since <age>] [--json]

Fetch usage of your AI subscriptions once and print it as a table; \`view\` prints the
same view as /usage-store in pi, fitted to the terminal's width (--all: every window of
every model). \`history\` prints the usage recorded next to the shared cache by pi and by
usage-store (nothing is fetched): one row per window with a sparkline of its course over
the window, or every point with --json; with --since, what each window used since then
(a reset counts use before and after it, a balance counts money spent, not top-ups).

options:
  --json                    print JSON (shape documented in lib/format.js) instead of a table
  --wide                    the full table, however wide; by default the table fits the terminal
                            (its width, else $COLUMNS, else 80) by leaving out, in this order:
                            resets at; plan and update time (said under the table); the
                            provider on each model's row; pace words; the pace (the run-out
                            time stays); used and remaining in one column
  --provider <id>           only this built-in provider; repeatable
                            (${BUILTINS.join(', ')})
  --guard <id>[/<model>]    check one entry instead of printing the table; exit 0 when every
                            window has at least --min-remaining percent left, 1 when not,
                            2 on error or no data
  --min-remaining <pct>     the bound for --guard, 0-100
  --base-url <url>          send every request to this host (default: $PI_USAGE_TRACKER_BASE_URL,
                            else each provider's real API)
  --timeout <ms>            per-request timeout (default 30000)
  --no-cache                neither read nor write the shared cache file (nor the history)
  --window <id>             history: only this window; repeatable
  --since <age>             history: each window's change over the last <age> (90s, 30m, 2h, 7d)
  --all                     view: every window of every model, not only the main ones
  -h, --help                show this help

Credentials come from pi's auth.json ($PI_CODING_AGENT_DIR or ~/.pi/agent), then from
~/.claude/.credentials.json, ~/.codex/auth.json and ~/.gemini/oauth_creds.json.
exit status: 0 ok, 1 guard below bound, 2 error (bad usage, addon not loadable,
every provider failed, or guard without data).`

class UsageError extends Error {}

const AGE_UNITS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }
/** `--since 2h` → milliseconds. */
function parseAge(text) {
  const m = /^(\d+(?:\.\d+)?)([smhd])$/.exec(String(text).trim())
  const ms = m ? Number(m[1]) * AGE_UNITS[m[2]] : NaN
  if (!(ms > 0)) throw new UsageError(`--since wants an age like 90s, 30m, 2h or 7d, got "${text}"`)
  return ms
}

const COMMANDS = ['view', 'history']

function parse(argv) {
  const { values, positionals } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      json: { type: 'boolean', default: false },
      wide: { type: 'boolean', default: false },
      provider: { type: 'string', multiple: true },
      guard: { type: 'string' },
      'min-remaining': { type: 'string' },
      'base-url': { type: 'string' },
      timeout: { type: 'string' },
      'no-cache': { type: 'boolean', default: false },
      window: { type: 'string', multiple: true },
      since: { type: 'string' },
      all: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (positionals.length > 1 || (positionals.length && !COMMANDS.includes(positionals[0]))) {
    throw new UsageError(`unknown command "${positionals.join(' ')}" (one of: ${COMMANDS.join(', ')})`)
  }
  const command = positionals[0] ?? null
  const only = (flag, where) => {
    if (values[flag] !== undefined && values[flag] !== false && command !== where) {
      throw new UsageError(`--${flag} goes with \`usage-store ${where}\``)
    }
  }
  only('window', 'history')
  only('since', 'history')
  only('all', 'view')
  if (command && (values.guard !== undefined || values['min-remaining'] !== undefined)) {
    throw new UsageError(`--guard does not go with \`usage-store ${command}\``)
  }
  if (command === 'history' && values['no-cache']) throw new UsageError('the history lives next to the shared cache: --no-cache leaves nothing to show')
  if (command && values.wide) throw new UsageError(`--wide is for the table, not \`usage-store ${command}\``)
  if (command === 'view' && values.json) throw new UsageError('`usage-store view` prints text; use `usage-store --json` for JSON')
  const opts = {
    command,
    windows: values.window ? [...new Set(values.window)] : null,
    sinceMs: values.since === undefined ? null : parseAge(values.since),
    all: values.all,
    help: values.help,
    json: values.json,
    wide: values.wide,
    noCache: values['no-cache'],
    baseUrl: values['base-url'] || process.env.PI_USAGE_TRACKER_BASE_URL || undefined,
    providers: values.provider ? [...new Set(values.provider)] : null,
    guard: null,
    minRemaining: null,
    timeoutMs: undefined,
  }
  for (const id of opts.providers || []) {
    if (!BUILTINS.includes(id)) throw new UsageError(`unknown provider "${id}" (one of: ${BUILTINS.join(', ')})`)
  }
  if (values.timeout !== undefined) {
    const t = Number(values.timeout)
    if (!Number.isInteger(t) || t <= 0) throw new UsageError(`--timeout wants a positive number of milliseconds, got "${values.timeout}"`)
    opts.timeoutMs = t
  }
  if ((values.guard === undefined) !== (values['min-remaining'] === undefined)) {
    throw new UsageError('--guard and --min-remaining go together')
  }
  if (values.guard !== undefined) {
    const slash = values.guard.indexOf('/')
    const providerId = slash < 0 ? values.guard : values.guard.slice(0, slash)
    const modelId = slash < 0 ? 'default' : values.guard.slice(slash + 1)
    if (!BUILTINS.includes(providerId)) throw new UsageError(`unknown provider "${providerId}" in --guard`)
    if (!modelId) throw new UsageError(`--guard wants <provider>[/<model>], got "${values.guard}"`)
    const min = Number(String(values['min-remaining']).replace(/%$/, ''))
    if (!Number.isFinite(min) || min < 0 || min > 100) {
      throw new UsageError(`--min-remaining wants a percentage 0-100, got "${values['min-remaining']}"`)
    }
    opts.guard = { providerId, modelId }
    opts.minRemaining = min
  }
  return opts
}

// remainingRatio as a percent without float noise (0.63 * 100 = 63.00000000000001).
const remainingPct = (w) => Math.round(w.remainingRatio * 1e6) / 1e4

function guardResult(entries, { providerId, modelId }, min, authProblem) {
  const key = `${providerId}/${modelId}`
  const e = entries.find((x) => x.providerId === providerId && x.modelId === modelId)
  if (!e) return { code: 2, line: `${key}: no data` }
  if (!e.active) return { code: 2, line: `${key}: ${authProblem?.message ?? 'no credentials found'}` }
  if (e.error) return { code: 2, line: `${key}: ${errorText(e.error, Date.now(), { retries: false })}` }
  if (!e.windows.length) return { code: 2, line: `${key}: no data` }
  const low = e.windows.filter((w) => remainingPct(w) < min)
  if (low.length) {
    const list = low.map((w) => `${w.id} ${remainingPct(w)}%`).join(', ')
    return { code: 1, line: `${key}: below ${min}% remaining: ${list}` }
  }
  const least = Math.min(...e.windows.map(remainingPct))
  return { code: 0, line: `${key}: ok, lowest remaining ${least}% >= ${min}%` }
}

const useColor = () => !!process.stdout.isTTY && !process.env.NO_COLOR

/** Every window of the providers with a recorded course: from the store (seeded from the cache,
 *  so per-model windows are known) and the windows each provider declares. */
/** Every window's recorded course (the addon reads the files off this thread), for the view's
 *  synchronous `history` lookup: `providerId/modelId#windowId` → points. */
async function recordedCourses(tracker, entries) {
  const courses = new Map()
  for (const e of entries) {
    for (const w of e.windows) {
      courses.set(`${e.providerId}/${e.modelId}#${w.id}`, await tracker.history(e.providerId, w.id, { modelId: e.modelId }).catch(() => []))
    }
  }
  return courses
}

async function historyRows(tracker, ids, windowFilter) {
  const rows = []
  for (const providerId of ids) {
    const seen = new Set()
    const candidates = []
    for (const e of tracker.entries().filter((x) => x.providerId === providerId)) {
      // A per-model view of a shared pool has the pool's course: the pool's row shows it.
      const views = e.windows.filter((w) => !w.poolView)
      for (const w of views) candidates.push({ modelId: e.modelId, windowId: w.id, duration: w.duration ?? null })
    }
    for (const windowId of tracker.windowIds(providerId)) candidates.push({ modelId: 'default', windowId, duration: null })
    for (const c of candidates) {
      const key = `${c.modelId}#${c.windowId}`
      if (seen.has(key) || (windowFilter && !windowFilter.includes(c.windowId))) continue
      seen.add(key)
      const points = await tracker.history(providerId, c.windowId, { modelId: c.modelId })
      if (points.length) rows.push({ providerId, ...c, points })
    }
  }
  return rows
}

function renderHistoryTable(rows, { now, width, color }) {
  const header = ['provider', 'window', 'points', 'since', 'used', 'course over the window']
  const cellsOf = (r) => [
    r.modelId === 'default' ? r.providerId : `${r.providerId}/${r.modelId}`,
    r.windowId,
    String(r.points.length),
    formatAgo(r.points[0].at, now),
    formatPercent(r.points[r.points.length - 1].usedRatio),
  ]
  const table = rows.map(cellsOf)
  const widths = header.slice(0, 5).map((h, i) => Math.max(visibleWidth(h), ...table.map((c) => visibleWidth(c[i]))))
  const fixed = widths.reduce((a, b) => a + b + 2, 0)
  const cells = Math.max(12, Math.min(48, width - fixed))
  const pad = (text, w, right) => (right ? ' '.repeat(Math.max(0, w - visibleWidth(text))) + text : text + ' '.repeat(Math.max(0, w - visibleWidth(text))))
  const line = (cols, spark) => truncateToWidth([...cols.map((c, i) => pad(c, widths[i], i === 2 || i === 4)), spark].join('  ').trimEnd(), width)
  const out = [line(header.slice(0, 5), header[5])]
  rows.forEach((r, i) => {
    // The window's length when known, else the last day.
    const length = r.duration > 0 ? r.duration * 1000 : 86_400_000
    const spark = sparkline(r.points, { from: now - length, to: now, cells })
    out.push(line(table[i], color ? paintAnsi('dim', spark) : spark))
  })
  return out.join('\n')
}

/** One change in its unit: "+$18.50", "+12%", "+3 requests". */
function changeText(c) {
  if (!c.inUnit) return `+${Math.round(c.change)}%`
  if (c.unit && /^[A-Z]{3}$/.test(c.unit)) return `+${formatMoney(c.change, c.unit)}`
  return `+${Number.isInteger(c.change) ? c.change : c.change.toFixed(2)}${c.unit ? ` ${c.unit}` : ''}`
}

/** `history --since`: what each window used over the last `sinceMs`. */
async function sinceCommand(tracker, opts, now) {
  const since = now - opts.sinceMs
  const changes = (await tracker.since(since)).filter((c) => !opts.windows || opts.windows.includes(c.windowId))
  if (opts.json) {
    process.stdout.write(JSON.stringify({ version: 1, generatedAt: now, since, windows: changes }, null, 2) + '\n')
  } else if (changes.length) {
    const rows = [['provider', 'window', 'used', 'resets', 'recorded from']]
    for (const c of changes) {
      rows.push([c.modelId === 'default' ? c.providerId : `${c.providerId}/${c.modelId}`, c.windowId, changeText(c), String(c.resets), formatAgo(c.from, now)])
    }
    const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => visibleWidth(r[i]))))
    const text = rows.map((r) => r.map((c, i) => c + ' '.repeat(widths[i] - visibleWidth(c))).join('  ').trimEnd())
    process.stdout.write(text.map((l) => truncateToWidth(l, terminalWidth())).join('\n') + '\n')
  }
  return changes.length
}

async function historyCommand(addon, opts) {
  const ids = opts.providers || BUILTINS
  const tracker = new addon.UsageTracker({})
  try {
    for (const id of ids) tracker.registerBuiltinProvider(id, opts.baseUrl ? { baseUrl: opts.baseUrl } : {})
    const now = Date.now()
    if (opts.sinceMs !== null) {
      const found = await sinceCommand(tracker, opts, now)
      for (const w of tracker.warnings()) process.stderr.write(`usage-store: ${w}\n`)
      if (!found) process.stderr.write(`no usage history over the last ${formatDuration(opts.sinceMs)}: it is recorded next to the shared cache each time pi or usage-store fetches\n`)
      return 0
    }
    const rows = await historyRows(tracker, ids, opts.windows)
    if (opts.json) {
      const windows = rows.map((r) => ({
        providerId: r.providerId,
        modelId: r.modelId,
        windowId: r.windowId,
        duration: r.duration,
        points: r.points.map((p) => ({ at: p.at, usedRatio: p.usedRatio, used: p.used ?? null, remaining: p.remaining ?? null })),
      }))
      process.stdout.write(JSON.stringify({ version: 1, generatedAt: now, windows }, null, 2) + '\n')
    } else if (rows.length) {
      process.stdout.write(renderHistoryTable(rows, { now, width: terminalWidth(), color: useColor() }) + '\n')
    }
    for (const w of tracker.warnings()) process.stderr.write(`usage-store: ${w}\n`)
    if (!rows.length) {
      const which = opts.windows ? ` of window ${opts.windows.join(', ')}` : ''
      const whom = opts.providers ? ` for ${opts.providers.map(providerLabel).join(', ')}` : ''
      process.stderr.write(`no usage history${which}${whom} yet: it is recorded next to the shared cache each time pi or usage-store fetches\n`)
    }
    return 0
  } finally {
    await tracker.stop()
  }
}

async function main(argv) {
  let opts
  try {
    opts = parse(argv)
  } catch (err) {
    // parseArgs throws TypeErrors with a code for unknown/malformed options.
    if (err instanceof UsageError || (err && String(err.code).startsWith('ERR_PARSE_ARGS'))) {
      process.stderr.write(`usage-store: ${err.message}\nTry 'usage-store --help'.\n`)
      return 2
    }
    throw err
  }
  if (opts.help) {
    process.stdout.write(HELP + '\n')
    return 0
  }

  let addon
  try {
    addon = require(path.join(__dirname, '..', 'index.js'))
  } catch (err) {
    process.stderr.write(`usage-store: cannot load the native addon: ${err.message}\n`)
    return 2
  }
  if (opts.command === 'history') return historyCommand(addon, opts)

  // A guard needs only its own provider unless --provider says otherwise.
  const ids = opts.providers || (opts.guard ? [opts.guard.providerId] : BUILTINS)
  const trackerOptions = {}
  if (opts.noCache) trackerOptions.cachePath = null
  if (opts.timeoutMs !== undefined) trackerOptions.requestTimeoutMs = opts.timeoutMs

  let entries
  let authProblem = null
  let viewText = null
  const tracker = new addon.UsageTracker(trackerOptions)
  try {
    for (const id of ids) tracker.registerBuiltinProvider(id, opts.baseUrl ? { baseUrl: opts.baseUrl } : {})
    // One fetch, no loop: a started loop's first tick would race the refresh into a second request.
    await tracker.refresh()
    entries = tracker.entries().filter((e) => ids.includes(e.providerId))
    // A broken auth.json is named as such: logging in again would not mend it.
    authProblem = addon.piAuthProblem()
    if (opts.command === 'view') {
      const courses = await recordedCourses(tracker, entries)
      const lines = renderView(entries, {
        width: terminalWidth(),
        mode: opts.all ? 'all' : 'compact',
        history: (providerId, windowId, modelId) => courses.get(`${providerId}/${modelId}#${windowId}`),
        paint: useColor() ? paintAnsi : undefined,
        warnings: tracker.warnings(),
        authProblem: authProblem?.message,
      })
      viewText = lines.join('\n')
    }
  } finally {
    await tracker.stop()
  }
  const now = Date.now()

  if (opts.guard) {
    const r = guardResult(entries, opts.guard, opts.minRemaining, authProblem)
    if (opts.json) process.stdout.write(JSON.stringify({ ...toJson(entries, { now }), guard: { ...r, min: opts.minRemaining } }, null, 2) + '\n')
    else process.stdout.write(r.line + '\n')
    return r.code
  }

  const inactive = ids.filter((id) => {
    const own = entries.filter((e) => e.providerId === id)
    return own.length === 0 || own.every((e) => !e.active)
  })
  const active = entries.filter((e) => e.active)
  if (viewText !== null) {
    // The view names providers without credentials, and a broken auth.json, itself.
    process.stdout.write(viewText + '\n')
    return (active.length && active.every((e) => e.error)) || (authProblem && !active.length) ? 2 : 0
  }
  if (opts.json) {
    process.stdout.write(JSON.stringify(toJson(entries, { now }), null, 2) + '\n')
  } else if (active.length) {
    process.stdout.write(renderTable(active, { now, color: useColor(), width: opts.wide ? Infinity : terminalWidth() }) + '\n')
  }
  // A login that cannot be used is always explained; a missing one only when asked for by name
  // (most users have a few of the many providers, the rest stay quiet).
  const named = Boolean(opts.providers)
  if (authProblem) process.stderr.write(`usage-store: ${authProblem.message}\n`)
  let explained = authProblem ? 1 : 0
  for (const id of inactive) {
    const reason = entries.find((e) => e.providerId === id && e.error)?.error.message
    if (reason) {
      explained++
      process.stderr.write(`${reason}\n`)
    } else if (named && !authProblem) {
      process.stderr.write(`no credentials found for ${id} (log in with pi /login, or see README)\n`)
    }
  }
  if (!named && active.length === 0 && explained === 0 && !opts.json) {
    process.stderr.write('no credentials found for any provider (log in with pi /login, or see README)\n')
  }
  // Exit 2 only when something was tried and nothing worked.
  const providersTried = ids.filter((id) => !inactive.includes(id))
  const allFailed =
    providersTried.length > 0 &&
    providersTried.every((id) => active.filter((e) => e.providerId === id).every((e) => e.error))
  return allFailed || (authProblem && !active.length) ? 2 : 0
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (err) => {
    process.stderr.write(`usage-store: ${err && err.stack ? err.stack : err}\n`)
    process.exitCode = 2
  },
)
