'use strict'
/**
 * Shared, pure formatting of usage-store entries for the pi footer, the
 * `/usage-store` command and the `usage-store` CLI. Every function takes plain
 * entries (UsageStoreEntry[] as returned by `tracker.entries()`) and an
 * injectable `now` (epoch ms), so it is testable and cheap enough for the
 * footer's render path; the only addon calls are the provider table's labels
 * and order (`providerLabel`, `providerRank`). Types: lib/format.d.ts.
 *
 * Exports
 *   formatDuration(ms) -> "45s" | "12m" | "2h10m" | "3d4h" | "now" (ms <= 0 or < 1 s)
 *   providerLabel(providerId) -> short label ("anthropic-work" -> "claude-work")
 *   footerParts(entries, { now, providers, style, lead: { providerId, modelId, windowIds },
 *     pressing, width }) -> [{ providerId, label, segments: [{ text, level, kind }] }]
 *     (with `pressing`, the addon's tracker.mostPressing(): the footer by urgency, fitted to
 *     `width`; see footerByUrgency)
 *   formatFooterLine(entries, opts) -> "claude 5h 37% ↻2h10m · 7d 64% │ copilot 173/300"
 *   renderTable(entries, { now, color, width }) -> multi-line string, at most `width` columns
 *     wide by the narrower forms of TABLE_FITS (default: the full table)
 *   errorText(error, now, { inactive, retries }) -> an entry's error in words
 *   renderFooterParts(parts, paint?) -> the footer line (one join rule; paint colours pieces)
 *   toJson(entries, { now }) -> object (shape below)
 *   also: formatPercent, formatAmount, formatPace, formatResetAt, formatAgo,
 *         windowLevel, isAmountWindow, isCurrency, sortEntries, pickWindows,
 *         foldMultiplierViews, BUILTIN_LABELS (lib/view.js builds on these)
 *
 * Footer rules. One part per provider id (instance ids like "anthropic-work"
 * are providers of their own); inactive providers and active ones with no
 * windows and no error are left out. Percent windows show used %, amount
 * windows (kind 'amount' / 'multiplier', e.g. Copilot premium requests) show
 * remaining/total, with the window id left out when it is the part's only
 * window. 'compact' (default) shows the `default` model's first two windows
 * plus any other window at warn/critical level, and a "↻" reset countdown after
 * the first one when it resets within 24 h; a provider without a `default`
 * entry (per-model providers, e.g. Antigravity) shows its most
 * constrained model as "<model> <used>%". 'full' shows every window of every
 * model with its reset countdown. Levels come from the remaining ratio:
 * each window's `level` as the tracker published it; a stale entry's
 * values are 'stale'; reset countdowns are 'muted'; an entry with `error` adds
 * a trailing "!" segment at level 'error'. Segment `kind` ('value' | 'reset' |
 * 'error') tells a renderer how to join: " · " before a value, " " otherwise.
 * Windows the addon marks `viewOnly` (per-minute rate limits) never reach the footer.
 *
 * JSON shape of toJson (version 1; `usage-store --json`, `/usage-store json`).
 * All times are epoch milliseconds; absent values are null, never missing.
 * {
 *   version: 1,
 *   generatedAt: number,               // `now`
 *   entries: [{
 *     key: string,                     // "<providerId>/<modelId>"
 *     providerId: string, modelId: string,
 *     active: boolean,                 // provider has credentials
 *     stale: boolean,
 *     plan: string | null,
 *     updated: number,                 // last successful fetch, 0 = never
 *     fails: number,                   // consecutive failed fetches
 *     error: { kind, message, retryAt: number | null } | null,
 *     windows: [{
 *       id: string,
 *       kind: string,                  // 'percentage' | 'amount' | 'multiplier' | 'duration' | 'perModel'
 *       usedPercent: number,           // 0..100, one decimal
 *       remainingPercent: number,      // 0..100, one decimal
 *       used: number, remaining: number, total: number,   // in the quota's unit
 *       resetsAt: number | null,
 *       resetsInSeconds: number | null,  // whole seconds from `now`, >= 0
 *       pace: number | null,           // -1..1, > 0 = spending too fast: usedRatio - elapsedRatio, or from the measured rate
 *       paceStage: string | null,      // 'on-track' | 'slightly-ahead' | 'ahead' | 'far-ahead' | 'slightly-behind' | 'behind' | 'far-behind'
 *       paceSource: string | null,     // 'measured' (last hour of history) | 'linear' (usage so far, spread evenly)
 *       runsOutAt: number | null       // projected exhaustion time
 *     }]
 *   }]
 * }
 * Entries are sorted: built-in providers in the order below, then other ids
 * alphabetically; the `default` model first, then models alphabetically.
 */

// Labels and order come from the addon's provider table; nothing here lists providers or
// reads a provider's id for its name.
const binding = require('./binding.js')
const BUILTIN_LABELS = Object.freeze(Object.fromEntries(binding.builtinProviders().map((p) => [p.id, p.label])))
const { visibleWidth, truncateToWidth } = require('./terminal.js')
const DAY_MS = 86400000

function formatDuration(ms) {
  if (!Number.isFinite(ms) || ms < 1000) return 'now'
  const s = Math.floor(ms / 1000)
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m`
  const h = Math.floor(m / 60)
  if (h < 24) return m % 60 ? `${h}h${m % 60}m` : `${h}h`
  const d = Math.floor(h / 24)
  return h % 24 ? `${d}d${h % 24}h` : `${d}d`
}

/** What a provider id is called on screen, as the addon's table names it (an instance
 *  `<id>-<name>` of a built-in is `<label>-<name>`; any other id is its own label). */
function providerLabel(providerId) {
  return fromTable(labels, binding.providerLabel, providerId)
}

// The provider table never changes while the process runs: each id asks the addon once (a
// crossing costs far more than a Map read, and formatting runs on every publish). Bounded, as
// ids come from callers.
const labels = new Map()
const ranks = new Map()
function fromTable(memo, ask, providerId) {
  const id = String(providerId)
  let v = memo.get(id)
  if (v === undefined) {
    if (memo.size >= 4096) memo.clear()
    v = ask(id)
    memo.set(id, v)
  }
  return v
}

// Stable order whatever order the store returns (it may iterate a hash map).
function sortEntries(entries) {
  const rank = (id) => fromTable(ranks, binding.providerRank, id)
  return [...(entries || [])].sort((a, b) => {
    const r = rank(a.providerId) - rank(b.providerId)
    if (r) return r
    if (a.providerId !== b.providerId) return a.providerId < b.providerId ? -1 : 1
    if (a.modelId === b.modelId) return 0
    if (a.modelId === 'default') return -1
    if (b.modelId === 'default') return 1
    return a.modelId < b.modelId ? -1 : 1
  })
}

function isAmountWindow(w) {
  return w.kind === 'amount' || w.kind === 'multiplier' || w.kind === 'balance'
}

const CURRENCY_SYMBOLS = { USD: '$', EUR: '€', GBP: '£', CNY: '¥', JPY: '¥' }
const isCurrency = (unit) => typeof unit === 'string' && /^[A-Z]{3}$/.test(unit)

/** Money with its currency and two decimals ("$47.31", "12.00 CHF"); other units as counts. */
function formatMoney(value, unit) {
  const v = num(value).toFixed(2)
  const symbol = CURRENCY_SYMBOLS[unit]
  return symbol ? `${symbol}${v}` : `${v} ${unit}`
}

function num(x, fallback = 0) {
  return Number.isFinite(x) ? x : fallback
}

function usedRatio(w) {
  if (Number.isFinite(w.usedRatio)) return w.usedRatio
  return w.total > 0 ? num(w.used) / w.total : 0
}

function remainingRatio(w) {
  if (Number.isFinite(w.remainingRatio)) return w.remainingRatio
  return w.total > 0 ? num(w.remaining) / w.total : 0
}

function formatPercent(ratio) {
  return `${Math.round(num(ratio) * 100)}%`
}

/** Money windows show spend against the cap ("$47.31/$200.00") or what is left of a balance
 *  ("$12.40"); counted windows show remaining/total. */
function formatAmount(w) {
  if (isCurrency(w.unit)) {
    if (w.kind === 'balance') return formatMoney(w.remaining, w.unit)
    return w.total > 0 ? `${formatMoney(w.used, w.unit)}/${formatMoney(w.total, w.unit)}` : formatMoney(w.used, w.unit)
  }
  if (w.kind === 'balance') return `${Math.round(num(w.remaining))}${w.unit ? ' ' + w.unit : ''}`
  return `${Math.round(num(w.remaining))}/${Math.round(num(w.total))}`
}

const BILLING_WHY = {
  extra_usage: 'pi\'s calls on this login are billed to extra usage (per token, against its monthly cap), not to the plan\'s 5h/7d limits',
}

/** One line per provider whose traffic a meter pays for, saying so (`/usage-store`, CLI). */
function billingNotes(entries) {
  const seen = new Map()
  for (const e of entries || []) {
    if (!e.active || !e.billing || seen.has(e.providerId)) continue
    seen.set(e.providerId, `${providerLabel(e.providerId)}: ${BILLING_WHY[e.billing] || `billed as ${e.billing}`}`)
  }
  return [...seen.values()]
}

/** The level the tracker computed (its `warnAt`/`criticalAt`, the rule `checkQuota` uses). */
function windowLevel(w) {
  return w.level || 'ok'
}

/** Level → semantic colour, for pi's theme (`theme.fg(name)`) and the ANSI table below. */
const LEVEL_COLORS = Object.freeze({
  ok: 'success',
  warn: 'warning',
  critical: 'error',
  exhausted: 'error',
  error: 'error',
  stale: 'dim',
  muted: 'dim',
})

const PACE_WORDS = {
  'on-track': 'on track',
  'slightly-ahead': 'slightly ahead',
  ahead: 'ahead',
  'far-ahead': 'far ahead',
  'slightly-behind': 'slightly behind',
  behind: 'behind',
  'far-behind': 'far behind',
}

// Shorter words for a stage: how far ahead or behind is in the points already.
const PACE_SHORT = { 'slightly-ahead': 'ahead', 'far-ahead': 'ahead', 'slightly-behind': 'behind', 'far-behind': 'behind' }

/** The pace in words, in one of three lengths for narrow places (the run-out time is in all):
 *  'full' "+30 far ahead, runs out in 1h20m", 'short' "+30 ahead, out in 1h20m",
 *  'runout' "runs out in 1h20m" (empty when the window does not run out before its reset). */
function formatPace(w, now = Date.now(), form = 'full') {
  let text = ''
  if (Number.isFinite(w.pace) && form !== 'runout') {
    const points = Math.round(w.pace * 100)
    const stage = w.paceStage || (points > 0 ? 'ahead' : points < 0 ? 'behind' : 'on-track')
    const words = form === 'short' ? PACE_SHORT[stage] || PACE_WORDS[stage] : PACE_WORDS[stage]
    if (stage === 'on-track') text = 'on track'
    else text = `${points > 0 ? '+' : ''}${points} ${words || stage}`
  }
  if (Number.isFinite(w.runsOutAt)) {
    const out = `${form === 'short' ? 'out' : 'runs out'} in ${formatDuration(w.runsOutAt - now)}`
    text = text ? `${text}, ${out}` : out
  }
  return text
}

// What each kind of failure means and what to do about it; the message says the details.
const ERROR_WORDS = {
  auth: ['login not accepted', 'log in again in pi (/login)'],
  rate_limited: ['rate limited by the service', ''],
  network: ['service not reachable', 'check the network'],
  timeout: ['no answer in time', ''],
  server: ['the service failed', ''],
  parse: ['unexpected answer', 'update pi-usage-tracker if it persists'],
  provider: ['provider error', ''],
  unsupported: ['not served for this login', ''],
}
// Kinds that pass by themselves: worth another try.
const TRANSIENT = new Set(['rate_limited', 'network', 'timeout', 'server', 'provider'])

/** An entry's error in words: what happened, what to do, when it is tried again, then the
 *  message. `retries: false` for a one-shot fetch (the CLI): nothing tries again by itself. */
function errorText(error, now = Date.now(), { inactive = false, retries = true } = {}) {
  const [what, todo] = ERROR_WORDS[error.kind] || ['error', '']
  const parts = [inactive ? 'cannot be used' : what]
  const message = String(error.message || '')
  // An unusable login's reason already says what to do.
  if (todo && !inactive && !message.includes('/login')) parts.push(todo)
  const waits = Number.isFinite(error.retryAt) && error.retryAt > now
  if (retries) {
    if (waits) parts.push(`next try in ${formatDuration(error.retryAt - now)}`)
    else if (!inactive && error.kind !== 'auth' && error.kind !== 'unsupported') parts.push('retrying')
  } else if (!inactive && TRANSIENT.has(error.kind)) {
    parts.push(waits ? `try again in ${formatDuration(error.retryAt - now)}` : 'try again later')
  }
  return `${parts.join('; ')}: ${message}`
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']
const pad2 = (n) => String(n).padStart(2, '0')

// Local wall-clock time: "21:00" within the next 24 h, else "Nov 27 08:00".
function formatResetAt(resetsAt, now = Date.now()) {
  if (!Number.isFinite(resetsAt)) return ''
  const d = new Date(resetsAt)
  const hm = `${pad2(d.getHours())}:${pad2(d.getMinutes())}`
  if (resetsAt - now < DAY_MS && resetsAt >= now) return hm
  return `${MONTHS[d.getMonth()]} ${d.getDate()} ${hm}`
}

function formatAgo(at, now = Date.now()) {
  if (!at) return 'never'
  const ms = now - at
  return ms < 1000 ? 'just now' : `${formatDuration(ms)} ago`
}

// ---------------------------------------------------------------- footer ----

function valueText(w, { withId = true, modelId } = {}) {
  const value = isAmountWindow(w) ? formatAmount(w) : formatPercent(usedRatio(w))
  const name = [modelId, withId ? w.id : null].filter(Boolean).join(' ')
  return name ? `${name} ${value}` : value
}

function groupByProvider(entries) {
  const groups = new Map()
  for (const e of sortEntries(entries)) {
    if (!groups.has(e.providerId)) groups.set(e.providerId, [])
    groups.get(e.providerId).push(e)
  }
  return groups
}

// Windows the footer shows: the addon marks the ones only the view lists (per-minute limits).
const footerWindows = (e) => (e.windows || []).filter((w) => !w.viewOnly)

// Picks which (entry, window) pairs a part shows, in order.
function pickWindows(group, style) {
  const withWindows = group.filter((e) => e.active && footerWindows(e).length)
  if (style === 'full') {
    return withWindows.flatMap((e) => footerWindows(e).map((w) => ({ e, w })))
  }
  const def = withWindows.find((e) => e.modelId === 'default')
  if (def) {
    // The window a meter bills pi's traffic to (Claude's extra usage) leads.
    const ordered = [...footerWindows(def).filter((w) => w.billing), ...footerWindows(def).filter((w) => !w.billing)]
    return ordered
      .filter((w, i) => i < 2 || windowLevel(w) !== 'ok')
      .map((w) => ({ e: def, w }))
  }
  // Per-model provider: its most constrained model tells the story.
  let best = null
  for (const e of withWindows) {
    for (const w of footerWindows(e)) {
      if (!best || remainingRatio(w) < remainingRatio(best.w)) best = { e, w }
    }
  }
  return best ? [best] : []
}

/** The lead's windows first (the ones that govern the current model, as the tracker named
 *  them), then what the part shows anyway. */
function leadWindows(group, lead, style) {
  const found = []
  for (const id of lead.windowIds || []) {
    for (const e of group) {
      if (e.modelId !== 'default' && e.modelId !== lead.modelId) continue
      const w = e.active && footerWindows(e).find((x) => x.id === id)
      if (w && !found.some((f) => f.w === w)) found.push({ e, w })
    }
  }
  if (style === 'governing') return found
  const rest = pickWindows(group, style).filter(({ w }) => !found.some((f) => f.w === w))
  return [...found, ...rest]
}

/** One compact cell per provider: the window the addon named as its most pressing. */
function pressingWindows(group, pressing) {
  for (const e of group) {
    if (e.modelId !== pressing.modelId) continue
    const w = e.windows.find((x) => x.id === pressing.windowId)
    if (w) return [{ e, w }]
  }
  return []
}

/**
 * The footer by urgency (`pressing`: the addon's `tracker.mostPressing()`): the lead provider
 * with the windows that govern its model (the binding one with its reset countdown), then the
 * other providers with data, most urgent first, then providers that only failed. Fitted to
 * `width` columns: the others show what 'compact' shows where there is room, else one cell
 * each (the addon's most pressing window); then the lead keeps only its binding window, the
 * other cells drop their window's or model's name ("antigravity 100%") and then show counted
 * amounts as the share used ("gemini 19%"), the lead drops its reset countdown; only then do
 * the last cells make room for "…".
 */
function footerByUrgency(entries, opts) {
  const { now = Date.now(), providers, lead, pressing, width = Infinity } = opts
  const groups = groupByProvider(entries)
  const allowed = (id) => groups.has(id) && (!Array.isArray(providers) || providers.includes(id))
  const order = []
  if (lead && allowed(lead.providerId)) order.push(lead.providerId)
  for (const p of pressing) if (allowed(p.providerId) && !order.includes(p.providerId)) order.push(p.providerId)
  for (const id of groups.keys()) if (allowed(id) && !order.includes(id)) order.push(id)
  // step by step narrower; each step keeps what the ones before it gave up
  const STEPS = [
    { othersFull: true, leadAll: true, named: true, leadReset: true },
    { othersFull: false, leadAll: true, named: true, leadReset: true },
    { othersFull: false, leadAll: false, named: true, leadReset: true },
    { othersFull: false, leadAll: false, named: false, leadReset: true },
    { othersFull: false, leadAll: false, named: false, leadReset: true, shares: true },
    { othersFull: false, leadAll: false, named: false, leadReset: false, shares: true },
  ]
  const build = ({ othersFull, leadAll, named, leadReset, shares = false }) => {
    const parts = []
    for (const providerId of order) {
      const group = groups.get(providerId).filter((e) => e.active)
      const isLead = Boolean(lead && lead.providerId === providerId)
      const own = pressing.find((p) => p.providerId === providerId)
      let picked = []
      if (isLead) {
        picked = leadWindows(group, { ...lead }, 'governing')
        if (!leadAll) picked = picked.slice(0, 1)
      } else if (othersFull) picked = pickWindows(group, 'compact')
      if (!picked.length && own) picked = pressingWindows(group, own)
      const hasError = group.some((e) => e.error)
      if (!picked.length && !hasError) continue
      const segments = []
      const showName = named || isLead
      picked.forEach(({ e, w }, i) => {
        const modelId = e.modelId !== 'default' ? e.modelId : undefined
        // a lone amount needs no name ("copilot 173/300"), a model's window its model only
        const withId = !(picked.length === 1 && isAmountWindow(w)) && !modelId && showName
        // counted amounts ("812/1000" left) as the share used, like the percent cells ("19%")
        const asShare = shares && !isLead && isAmountWindow(w) && !isCurrency(w.unit) && w.kind !== 'balance'
        const text = asShare ? formatPercent(usedRatio(w)) : valueText(w, { withId, modelId: showName ? modelId : undefined })
        segments.push({ text, level: e.stale ? 'stale' : windowLevel(w), kind: 'value' })
        const reset = isLead ? leadReset : othersFull && w.resetsAt - now < DAY_MS
        if (reset && i === 0 && Number.isFinite(w.resetsAt)) segments.push({ text: `↻${formatDuration(w.resetsAt - now)}`, level: 'muted', kind: 'reset' })
      })
      if (hasError) segments.push({ text: '!', level: 'error', kind: 'error' })
      parts.push({ providerId, label: providerLabel(providerId), segments })
    }
    return parts
  }
  const fits = (parts) => visibleWidth(renderFooterParts(parts)) <= width
  let parts = []
  for (const step of STEPS) {
    parts = build(step)
    if (fits(parts)) return parts
  }
  const more = { providerId: '', label: '…', segments: [] }
  while (parts.length > 1 && !fits([...parts, more])) parts.pop()
  return [...parts, more]
}

function footerParts(entries, opts = {}) {
  if (Array.isArray(opts.pressing) && opts.style !== 'full') return footerByUrgency(entries, opts)
  const { now = Date.now(), providers, style = 'compact', lead } = opts
  const groups = groupByProvider(entries)
  // A `providers` list filters and also orders the parts; the lead provider comes first.
  let ids = Array.isArray(providers) ? providers.filter((id) => groups.has(id)) : [...groups.keys()]
  if (lead && groups.has(lead.providerId)) ids = [lead.providerId, ...ids.filter((id) => id !== lead.providerId)]
  const parts = []
  for (const providerId of ids) {
    const group = groups.get(providerId).filter((e) => e.active)
    const isLead = lead && lead.providerId === providerId
    const picked = isLead ? leadWindows(group, lead, style) : pickWindows(group, style)
    const hasError = group.some((e) => e.error)
    if (!picked.length && !hasError) continue
    const onlyOne = picked.length === 1
    const segments = []
    picked.forEach(({ e, w }, i) => {
      const modelId = e.modelId !== 'default' ? e.modelId : undefined
      // A lone amount window needs no name ("copilot 173/300"); a per-model one does.
      const withId = !(onlyOne && isAmountWindow(w)) && !(modelId && style !== 'full')
      segments.push({
        text: valueText(w, { withId, modelId }),
        level: e.stale ? 'stale' : windowLevel(w),
        kind: 'value',
      })
      const showReset =
        Number.isFinite(w.resetsAt) &&
        (style === 'full' || (i === 0 && (isLead || w.resetsAt - now < DAY_MS)))
      if (showReset) {
        segments.push({ text: `↻${formatDuration(w.resetsAt - now)}`, level: 'muted', kind: 'reset' })
      }
    })
    if (hasError) segments.push({ text: '!', level: 'error', kind: 'error' })
    parts.push({ providerId, label: providerLabel(providerId), segments })
  }
  return parts
}

const plain = (_color, text) => text

/** The one footer join rule: " · " before a value, " " before a reset or "!", " │ " between
 *  providers. `paint(color, text)` colours a piece (pi's theme.fg, ANSI, or nothing). */
function renderFooterParts(parts, paint = plain) {
  return parts
    .map((p) => {
      const segs = p.segments.map((s, i) => {
        const sep = i === 0 || s.kind !== 'value' ? ' ' : paint('dim', ' · ')
        return sep + paint(LEVEL_COLORS[s.level] || 'text', s.text)
      })
      return paint('muted', p.label) + segs.join('')
    })
    .join(paint('dim', ' │ '))
}

function joinSegments(segments) {
  return renderFooterParts([{ label: '', segments }]).trimStart()
}

function formatFooterLine(entries, opts = {}) {
  return renderFooterParts(footerParts(entries, opts))
}

// ----------------------------------------------------------------- table ----

const ANSI_BY_COLOR = { success: '\x1b[32m', warning: '\x1b[33m', error: '\x1b[31m', dim: '\x1b[2m', muted: '\x1b[2m' }
/** Colours `text` for a terminal by a semantic colour name (see LEVEL_COLORS). */
const paintAnsi = (color, text) => (ANSI_BY_COLOR[color] ? `${ANSI_BY_COLOR[color]}${text}\x1b[0m` : text)
const ANSI = { ...Object.fromEntries(Object.entries(LEVEL_COLORS).map(([l, c]) => [l, ANSI_BY_COLOR[c]])), header: '\x1b[1m' }

/**
 * Per-model views of a shared multiplier pool (Copilot: one entry per model; the addon marks
 * each such window `poolView`) would flood the table: a 1× view repeats the pool's own row,
 * and 0× models are never limited. Keep the views that differ; list the 0× models once per
 * provider.
 */
function foldMultiplierViews(entries) {
  const pools = new Map() // "provider#window" -> total of the pool the views are taken of
  for (const e of entries) {
    if (e.modelId !== 'default') continue
    for (const w of e.windows || []) if (!w.poolView) pools.set(`${e.providerId}#${w.id}`, w.total)
  }
  const included = new Map()
  const shown = entries.filter((e) => {
    const views = e.active && e.windows?.length > 0 && e.windows.every((w) => w.poolView)
    if (!views) return true
    if (e.windows.every((w) => w.unlimited)) {
      if (!included.has(e.providerId)) included.set(e.providerId, [])
      included.get(e.providerId).push(e.modelId)
      return false
    }
    return !e.windows.every((w) => w.total === pools.get(`${e.providerId}#${w.id}`))
  })
  return { shown, included }
}

// The table's columns, and the order in which a narrow terminal gives them up (TABLE_FITS).
const TABLE_HEADERS = {
  name: 'provider',
  window: 'window',
  used: 'used',
  remaining: 'remaining',
  value: 'used / left',
  resetsIn: 'resets in',
  resets: 'resets',
  runsOut: 'runs out in',
  resetsAt: 'resets at',
  pace: 'pace',
  plan: 'plan',
  updated: 'updated',
}
/**
 * Narrower and narrower forms of the table; the first that fits the width is used. In order:
 * drop `resets at` (the countdown says it), move plan and update time into lines under the
 * table, put a provider's models under its name, shorten the pace words, keep only the
 * run-out time (a column of its own), merge used and remaining into one column. Only then is
 * a line cut.
 */
const TABLE_FITS = [
  { columns: ['name', 'window', 'used', 'remaining', 'resetsIn', 'resetsAt', 'pace', 'plan', 'updated'], pace: 'full' },
  { columns: ['name', 'window', 'used', 'remaining', 'resetsIn', 'pace', 'plan', 'updated'], pace: 'full' },
  { columns: ['name', 'window', 'used', 'remaining', 'resetsIn', 'pace'], pace: 'full' },
  { columns: ['name', 'window', 'used', 'remaining', 'resets', 'pace'], pace: 'full', grouped: true },
  { columns: ['name', 'window', 'used', 'remaining', 'resets', 'pace'], pace: 'short', grouped: true },
  { columns: ['name', 'window', 'used', 'remaining', 'resets', 'runsOut'], grouped: true },
  { columns: ['name', 'window', 'value', 'resets', 'runsOut'], grouped: true },
]

/** A window's value in one cell: used % for a percent window, what is left for an amount. */
function valueCell(w) {
  if (!isAmountWindow(w)) return formatPercent(usedRatio(w))
  return `${formatAmount(w)}${isCurrency(w.unit) && w.kind !== 'balance' ? '' : ' left'}`
}

/**
 * The store as a table, `width` columns wide at most (default: no limit, the full table).
 * Errors and notes follow the table as lines of their own, in words.
 */
function renderTable(entries, opts = {}) {
  const { now = Date.now(), color = false } = opts
  const width = Number.isFinite(opts.width) && opts.width > 0 ? Math.floor(opts.width) : Infinity
  const rows = [] // { providerId, modelId, cells, level, stale }
  const errors = []
  const { shown, included } = foldMultiplierViews(entries)
  const idle = []
  for (const e of sortEntries(shown)) {
    const base = {
      providerId: e.providerId,
      modelId: e.modelId,
      level: e.stale ? 'stale' : 'muted',
      cells: { window: '-', plan: e.plan || '', updated: formatAgo(e.updated, now) + (e.stale ? ' (stale)' : '') },
    }
    if (e.error) errors.push(`${e.modelId === 'default' ? e.providerId : `${e.providerId}/${e.modelId}`}: ${errorText(e.error, now, { inactive: !e.active, retries: false })}`)
    if (!e.active) {
      // A login that cannot be used is named with its error below; a provider with nothing set
      // up is one name in the closing line, not a row.
      if (!e.error) idle.push(providerLabel(e.providerId))
      continue
    }
    if (!e.windows || !e.windows.length) {
      rows.push({ ...base, level: e.error ? 'error' : 'muted', cells: { ...base.cells, updated: e.error ? '' : base.cells.updated } })
      continue
    }
    for (const w of e.windows) {
      const hasReset = Number.isFinite(w.resetsAt)
      rows.push({
        ...base,
        level: e.stale ? 'stale' : windowLevel(w),
        cells: {
          ...base.cells,
          window: w.id,
          // a balance has no share used: what is left is the value
          used: w.kind === 'balance' ? '' : formatPercent(usedRatio(w)),
          remaining: isAmountWindow(w) ? formatAmount(w) : formatPercent(remainingRatio(w)),
          value: valueCell(w),
          resetsIn: hasReset ? formatDuration(w.resetsAt - now) : '',
          resets: hasReset ? formatDuration(w.resetsAt - now) : '',
          runsOut: Number.isFinite(w.runsOutAt) ? formatDuration(w.runsOutAt - now) : '',
          resetsAt: hasReset ? formatResetAt(w.resetsAt, now) : '',
          pace: { full: formatPace(w, now), short: formatPace(w, now, 'short') },
        },
      })
    }
  }
  for (const [provider, models] of included) {
    rows.push({ providerId: provider, modelId: '…', level: 'muted', cells: { window: 'included (0×)', remaining: 'unlimited', value: 'unlimited', note: models.join(', ') } })
  }
  if (!rows.length && !errors.length) return ['no usage data', ...(idle.length ? [`no credentials: ${idle.join(', ')}`] : [])].join('\n')

  const paint = (text, level) => (color && ANSI[level] ? `${ANSI[level]}${text}\x1b[0m` : text)
  const layout = (fit) => {
    const nameOf = (r) => {
      const model = r.modelId === 'default' ? '' : r.modelId
      if (!fit.grouped) return model ? `${r.providerId}/${model}` : r.providerId
      return model ? `  ${model}` : r.providerId
    }
    const lines = [] // { cells: string[], level }
    let lastProvider = null
    for (const r of rows) {
      // grouped: a provider's models under a line with its name (its own row when it has a `default`)
      if (fit.grouped && r.modelId !== 'default' && r.providerId !== lastProvider) lines.push({ cells: [r.providerId], level: 'muted' })
      lastProvider = r.providerId
      const cell = (c) => {
        if (c === 'name') return nameOf(r)
        if (c === 'pace') return r.cells.pace ? r.cells.pace[fit.pace] : r.cells.note || ''
        if ((c === 'updated' || c === 'plan') && r.modelId === '…') return ''
        return r.cells[c] ?? ''
      }
      lines.push({ cells: fit.columns.map(cell), level: r.level })
    }
    const head = fit.columns.map((c) => (c === 'name' && fit.grouped ? 'provider / model' : TABLE_HEADERS[c]))
    const widths = head.map((h, i) => Math.max(visibleWidth(h), ...lines.filter((l) => l.cells.length > 1).map((l) => visibleWidth(l.cells[i]))))
    const text = (cells) =>
      cells.length === 1 ? cells[0] : cells.map((c, i) => c + ' '.repeat(Math.max(0, widths[i] - visibleWidth(c)))).join('  ').trimEnd()
    return [{ text: text(head), level: 'header' }, ...lines.map((l) => ({ text: text(l.cells), level: l.level }))]
  }
  let fit = TABLE_FITS[TABLE_FITS.length - 1]
  let table = null
  for (const f of TABLE_FITS) {
    const t = layout(f)
    if (t.every((l) => visibleWidth(l.text) <= width)) {
      fit = f
      table = t
      break
    }
  }
  if (!table) table = layout(fit).map((l) => ({ ...l, text: truncateToWidth(l.text, width) }))

  // What the table left out, as lines under it, wrapped to the width.
  const notes = []
  if (!fit.columns.includes('plan')) {
    const plans = new Map()
    for (const e of sortEntries(shown)) if (e.active && e.plan && !plans.has(e.providerId)) plans.set(e.providerId, e.plan)
    if (plans.size) notes.push({ text: `plans: ${[...plans].map(([id, plan]) => `${id} ${plan}`).join(', ')}`, level: 'muted' })
  }
  if (!fit.columns.includes('updated')) {
    const seen = new Map()
    for (const e of sortEntries(shown)) {
      if (!e.active || !e.windows?.length || seen.has(e.providerId)) continue
      seen.set(e.providerId, formatAgo(e.updated, now) + (e.stale ? ' (stale: the last good values)' : ''))
    }
    const values = [...new Set(seen.values())]
    if (values.length === 1) notes.push({ text: `updated ${values[0]}`, level: 'muted' })
    else if (values.length) notes.push({ text: `updated: ${[...seen].map(([id, ago]) => `${id} ${ago}`).join(', ')}`, level: 'muted' })
  }
  for (const err of errors) notes.push({ text: err, level: 'error' })
  for (const note of billingNotes(entries)) notes.push({ text: note, level: 'muted' })
  if (idle.length) notes.push({ text: `no credentials: ${idle.join(', ')}`, level: 'muted' })
  const out = (rows.length ? table : []).map((l) => paint(l.text, l.level))
  for (const n of notes) for (const part of wrapText(n.text, width)) out.push(paint(part, n.level))
  return out.join('\n')
}

/** Plain text in lines of at most `width` columns, broken between words, the lines after the
 *  first indented by two (a word longer than a line is cut). */
function wrapText(text, width) {
  if (!Number.isFinite(width) || visibleWidth(text) <= width) return [text]
  const lines = []
  let current = ''
  for (const word of text.split(' ')) {
    const next = current ? `${current} ${word}` : `${lines.length ? '  ' : ''}${word}`
    if (visibleWidth(next) <= width || !current) current = truncateToWidth(next, width)
    else {
      lines.push(current)
      current = truncateToWidth(`  ${word}`, width)
    }
  }
  if (current) lines.push(current)
  return lines
}

// ------------------------------------------------------------------ json ----

const round1 = (x) => Math.round(num(x) * 1000) / 10 // ratio -> percent, one decimal
const orNull = (x) => (Number.isFinite(x) ? x : null)

function toJson(entries, opts = {}) {
  const { now = Date.now() } = opts
  return {
    version: 1,
    generatedAt: now,
    entries: sortEntries(entries).map((e) => ({
      key: e.key || `${e.providerId}/${e.modelId}`,
      providerId: e.providerId,
      modelId: e.modelId,
      active: !!e.active,
      stale: !!e.stale,
      plan: e.plan || null,
      updated: num(e.updated),
      fails: num(e.fails),
      error: e.error
        ? { kind: e.error.kind, message: e.error.message, retryAt: orNull(e.error.retryAt) }
        : null,
      windows: (e.windows || []).map((w) => ({
        id: w.id,
        kind: w.kind || null,
        usedPercent: round1(usedRatio(w)),
        remainingPercent: round1(remainingRatio(w)),
        used: num(w.used),
        remaining: num(w.remaining),
        total: num(w.total),
        resetsAt: orNull(w.resetsAt),
        resetsInSeconds: Number.isFinite(w.resetsAt)
          ? Math.max(0, Math.round((w.resetsAt - now) / 1000))
          : null,
        pace: orNull(w.pace),
        paceStage: w.paceStage || null,
        paceSource: w.paceSource || null,
        runsOutAt: orNull(w.runsOutAt),
      })),
    })),
  }
}

module.exports = {
  BUILTIN_LABELS,
  formatDuration,
  providerLabel,
  footerParts,
  formatFooterLine,
  renderTable,
  toJson,
  formatPercent,
  formatAmount,
  formatMoney,
  formatPace,
  formatResetAt,
  formatAgo,
  errorText,
  windowLevel,
  LEVEL_COLORS,
  paintAnsi,
  billingNotes,
  renderFooterParts,
  isAmountWindow,
  isCurrency,
  sortEntries,
  // which windows a compact view shows, and how per-model views of a pool are folded
  pickWindows,
  foldMultiplierViews,
}
