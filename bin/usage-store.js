#!/usr/bin/env node
'use strict'
// usage-store: fetch AI subscription quotas once, outside pi, and print them.
// Same addon and credential discovery as the pi extension (pi's auth.json, then
// the tools' own credential files); see `usage-store --help`.

const { parseArgs } = require('node:util')
const path = require('node:path')
const { renderTable, toJson } = require('../lib/format.js')

const BUILTINS = require('../index.js').BUILTIN_PROVIDER_IDS

const HELP = `usage: usage-store [options]

Fetch usage of your AI subscriptions once and print it as a table.

options:
  --json                    print JSON (shape documented in lib/format.js) instead of a table
  --provider <id>           only this built-in provider; repeatable
                            (${BUILTINS.join(', ')})
  --guard <id>[/<model>]    check one entry instead of printing the table; exit 0 when every
                            window has at least --min-remaining percent left, 1 when not,
                            2 on error or no data
  --min-remaining <pct>     the bound for --guard, 0-100
  --base-url <url>          send every request to this host (default: $PI_USAGE_TRACKER_BASE_URL,
                            else each provider's real API)
  --timeout <ms>            per-request timeout (default 30000)
  --no-cache                neither read nor write the shared cache file
  -h, --help                show this help

Credentials come from pi's auth.json ($PI_CODING_AGENT_DIR or ~/.pi/agent), then from
~/.claude/.credentials.json, ~/.codex/auth.json and ~/.gemini/oauth_creds.json.
exit status: 0 ok, 1 guard below bound, 2 error (bad usage, addon not loadable,
every provider failed, or guard without data).`

class UsageError extends Error {}

function parse(argv) {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      json: { type: 'boolean', default: false },
      provider: { type: 'string', multiple: true },
      guard: { type: 'string' },
      'min-remaining': { type: 'string' },
      'base-url': { type: 'string' },
      timeout: { type: 'string' },
      'no-cache': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  const opts = {
    help: values.help,
    json: values.json,
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

function guardResult(entries, { providerId, modelId }, min) {
  const key = `${providerId}/${modelId}`
  const e = entries.find((x) => x.providerId === providerId && x.modelId === modelId)
  if (!e) return { code: 2, line: `${key}: no data` }
  if (!e.active) return { code: 2, line: `${key}: no credentials found` }
  if (e.error) return { code: 2, line: `${key}: ${e.error.kind}: ${e.error.message}` }
  if (!e.windows.length) return { code: 2, line: `${key}: no data` }
  const low = e.windows.filter((w) => remainingPct(w) < min)
  if (low.length) {
    const list = low.map((w) => `${w.id} ${remainingPct(w)}%`).join(', ')
    return { code: 1, line: `${key}: below ${min}% remaining: ${list}` }
  }
  const least = Math.min(...e.windows.map(remainingPct))
  return { code: 0, line: `${key}: ok, lowest remaining ${least}% >= ${min}%` }
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

  // A guard needs only its own provider unless --provider says otherwise.
  const ids = opts.providers || (opts.guard ? [opts.guard.providerId] : BUILTINS)
  const trackerOptions = {}
  if (opts.noCache) trackerOptions.cachePath = null
  if (opts.timeoutMs !== undefined) trackerOptions.requestTimeoutMs = opts.timeoutMs

  let entries
  const tracker = new addon.UsageTracker(trackerOptions)
  try {
    for (const id of ids) tracker.registerBuiltinProvider(id, opts.baseUrl ? { baseUrl: opts.baseUrl } : {})
    // One fetch, no loop: a started loop's first tick would race the refresh into a second request.
    await tracker.refresh()
    entries = tracker.entries().filter((e) => ids.includes(e.providerId))
  } finally {
    await tracker.stop()
  }
  const now = Date.now()

  if (opts.guard) {
    const r = guardResult(entries, opts.guard, opts.minRemaining)
    if (opts.json) process.stdout.write(JSON.stringify({ ...toJson(entries, { now }), guard: { ...r, min: opts.minRemaining } }, null, 2) + '\n')
    else process.stdout.write(r.line + '\n')
    return r.code
  }

  const inactive = ids.filter((id) => {
    const own = entries.filter((e) => e.providerId === id)
    return own.length === 0 || own.every((e) => !e.active)
  })
  const active = entries.filter((e) => e.active)
  if (opts.json) {
    process.stdout.write(JSON.stringify(toJson(entries, { now }), null, 2) + '\n')
  } else if (active.length) {
    process.stdout.write(renderTable(active, { now, color: !!process.stdout.isTTY && !process.env.NO_COLOR }) + '\n')
  }
  // A login that cannot be used is always explained; a missing one only when asked for by name
  // (most users have a few of the many providers, the rest stay quiet).
  const named = Boolean(opts.providers)
  let explained = 0
  for (const id of inactive) {
    const reason = entries.find((e) => e.providerId === id && e.error)?.error.message
    if (reason) {
      explained++
      process.stderr.write(`${reason}\n`)
    } else if (named) {
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
  return allFailed ? 2 : 0
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
