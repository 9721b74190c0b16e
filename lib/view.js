'use strict'
/**
 * The usage view: what `/usage-store` shows in pi and `usage-store view` prints. Pure: plain
 * entries (as `tracker.entries()` returns them), each window's recorded history, a width and
 * a clock in; lines out, none wider than the width in terminal columns (wide CJK and emoji
 * count two, combining marks none).
 *
 *   claude · max · updated 12s ago
 *     5h         ████████░░│░░░░░░░░░  37% used       ↻2h10m  +12 ahead, runs out in 1h20m
 *     7d         ███████████████│░░░░  64% used       ↻3d13h  -8 behind
 *   copilot · individual_pro · updated 12s ago
 *     premium    ████████░░░░░░░│░░░░  173/300 left   ↻7d5h
 *   no credentials: gemini-cli, codex — log in with pi (/login)
 *
 * One block per provider (label, plan, last update), one line per window: its label, a bar of
 * the used share coloured by the window's `level` with a mark at the share of the window's time
 * that has passed (`elapsedRatio`), the value in its unit, the reset countdown, a sparkline of
 * the recorded course over the window (from 100 columns), and the pace in words (or the
 * window's status: switched off, spend cap reached). A provider whose traffic a meter pays for
 * says so under its name; errors say what happened and what to do; parts of an answer that were
 * skipped are named; providers without credentials share one dim line at the end.
 * Which windows: 'compact' those the footer shows (each provider's main windows and any that
 * are not ok), 'all' every window of every model.
 *
 * Exports
 *   renderView(entries, { width, now, mode, history, paint, warnings, authProblem }) -> string[]
 *     authProblem: the message of a broken pi auth.json (`piAuthProblem()`): said instead of
 *       "no credentials", since logging in again does not mend the file
 *     history(providerId, windowId, modelId) -> [{ at, usedRatio }] (oldest first), optional
 *     paint(color, text) -> text: a semantic colour (LEVEL_COLORS values, 'accent', 'dim',
 *       'muted', 'text') applied to a piece; pi's theme.fg or format.paintAnsi
 *   sparkline(points, { from, to, cells }) -> string of `cells` columns
 *   visibleWidth(text), truncateToWidth(text, width)
 */

const fmt = require('./format.js')

const DAY_MS = 86_400_000
const MIN_WIDTH = 20

// ---------------------------------------------------------------- terminal columns ----

// Zero-width: combining marks, joiners, variation selectors.
const ZERO_WIDTH = [
  [0x0300, 0x036f], [0x0483, 0x0489], [0x0591, 0x05bd], [0x0610, 0x061a], [0x064b, 0x065f],
  [0x1ab0, 0x1aff], [0x1dc0, 0x1dff], [0x200b, 0x200f], [0x2060, 0x2064], [0x20d0, 0x20ff],
  [0xfe00, 0xfe0f], [0xfe20, 0xfe2f], [0xe0100, 0xe01ef],
]
// East Asian Wide and Fullwidth, and emoji shown two columns wide.
const WIDE = [
  [0x1100, 0x115f], [0x231a, 0x231b], [0x2329, 0x232a], [0x23e9, 0x23ec], [0x23f0, 0x23f0],
  [0x23f3, 0x23f3], [0x25fd, 0x25fe], [0x2614, 0x2615], [0x2648, 0x2653], [0x267f, 0x267f],
  [0x2693, 0x2693], [0x26a1, 0x26a1], [0x26aa, 0x26ab], [0x26bd, 0x26be], [0x26c4, 0x26c5],
  [0x26ce, 0x26ce], [0x26d4, 0x26d4], [0x26ea, 0x26ea], [0x26f2, 0x26f3], [0x26f5, 0x26f5],
  [0x26fa, 0x26fa], [0x26fd, 0x26fd], [0x2705, 0x2705], [0x270a, 0x270b], [0x2728, 0x2728],
  [0x274c, 0x274c], [0x274e, 0x274e], [0x2753, 0x2755], [0x2757, 0x2757], [0x2795, 0x2797],
  [0x27b0, 0x27b0], [0x27bf, 0x27bf], [0x2b1b, 0x2b1c], [0x2b50, 0x2b50], [0x2b55, 0x2b55],
  [0x2e80, 0x303e], [0x3041, 0x33ff], [0x3400, 0x4dbf], [0x4e00, 0x9fff], [0xa000, 0xa4cf],
  [0xa960, 0xa97f], [0xac00, 0xd7a3], [0xf900, 0xfaff], [0xfe10, 0xfe19], [0xfe30, 0xfe6f],
  [0xff00, 0xff60], [0xffe0, 0xffe6], [0x16fe0, 0x16fe4], [0x17000, 0x18cff], [0x1b000, 0x1b2ff],
  [0x1f004, 0x1f004], [0x1f0cf, 0x1f0cf], [0x1f18e, 0x1f18e], [0x1f191, 0x1f19a], [0x1f1e6, 0x1f202],
  [0x1f210, 0x1f23b], [0x1f240, 0x1f248], [0x1f250, 0x1f251], [0x1f260, 0x1f265], [0x1f300, 0x1f64f],
  [0x1f680, 0x1f6ff], [0x1f7e0, 0x1f7eb], [0x1f900, 0x1f9ff], [0x1fa70, 0x1faff], [0x20000, 0x3fffd],
]

const inRanges = (ranges, cp) => {
  let lo = 0
  let hi = ranges.length - 1
  while (lo <= hi) {
    const mid = (lo + hi) >> 1
    if (cp < ranges[mid][0]) hi = mid - 1
    else if (cp > ranges[mid][1]) lo = mid + 1
    else return true
  }
  return false
}

// eslint-disable-next-line no-control-regex
const ANSI_RE = /\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b_[^\x1b]*\x1b\\/g

/** Columns of each code point of plain text, in order. Errs on the wide side: a terminal
 *  that draws a character narrower than counted leaves a gap, never a broken line. */
function columns(text) {
  const out = []
  let prev = 0 // columns of the last visible character
  for (const ch of text) {
    const cp = ch.codePointAt(0)
    let w
    if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) w = 0
    else if (cp === 0xfe0f) w = prev === 1 ? 1 : 0 // emoji presentation widens a narrow symbol
    else if (inRanges(ZERO_WIDTH, cp)) w = prev > 0 ? 0 : 1 // a mark with nothing to sit on
    else w = inRanges(WIDE, cp) ? 2 : 1
    out.push([ch, w])
    if (cp === 0xfe0f) prev += w
    else if (w > 0) prev = w
  }
  return out
}

function visibleWidth(text) {
  let width = 0
  for (const [, w] of columns(String(text).replace(ANSI_RE, ''))) width += w
  return width
}

/** Plain text cut to `width` columns, with "…" when something was cut. */
function truncateToWidth(text, width) {
  text = String(text)
  if (width <= 0) return ''
  if (visibleWidth(text) <= width) return text
  let out = ''
  let used = 0
  for (const [ch, w] of columns(text)) {
    if (used + w > width - 1) break
    out += ch
    used += w
  }
  return out + '…'
}

/** Plain text in lines of at most `width` columns, broken between words where it can;
 *  at most `maxLines`, the last one cut with "…". */
function wrapToWidth(text, width, maxLines) {
  const lines = []
  let current = ''
  for (const word of String(text).split(/\s+/).filter(Boolean)) {
    const candidate = current ? `${current} ${word}` : word
    if (visibleWidth(candidate) <= width) {
      current = candidate
      continue
    }
    if (current) lines.push(current)
    current = word
    while (visibleWidth(current) > width) {
      const head = truncateToWidth(current, width + 1).slice(0, -1) // cut without the "…"
      lines.push(head)
      current = current.slice(head.length)
    }
  }
  if (current) lines.push(current)
  if (lines.length > maxLines) {
    const kept = lines.slice(0, maxLines)
    kept[maxLines - 1] = truncateToWidth(`${kept[maxLines - 1]} …`, width)
    return kept
  }
  return lines
}

function padEnd(text, width) {
  return text + ' '.repeat(Math.max(0, width - visibleWidth(text)))
}

const plain = (_color, text) => text

/** Pieces `[{ text, color }]` painted and cut so the line is at most `width` columns. */
function fitLine(pieces, width, paint) {
  const parts = [...pieces]
  while (parts.length && !parts[parts.length - 1].text.trim()) parts.pop()
  if (parts.length) {
    const last = parts[parts.length - 1]
    parts[parts.length - 1] = { ...last, text: last.text.trimEnd() }
  }
  let used = 0
  let out = ''
  for (const { text, color } of parts) {
    if (!text) continue
    const w = visibleWidth(text)
    if (used + w <= width) {
      out += paint(color, text)
      used += w
      continue
    }
    const rest = truncateToWidth(text.trimEnd(), width - used)
    if (rest) out += paint(color, rest)
    break
  }
  return out
}

// ---------------------------------------------------------------- pieces ----

const SPARKS = '▁▂▃▄▅▆▇█'

/** The course of a used ratio over [from, to] in `cells` columns: the last value seen in each
 *  column, blank where nothing was recorded. */
function sparkline(points, { from, to, cells }) {
  const slots = new Array(cells).fill(null)
  const span = to - from
  if (!(span > 0) || cells <= 0) return ' '.repeat(Math.max(0, cells))
  for (const p of points || []) {
    if (!(p.at >= from && p.at <= to) || !Number.isFinite(p.usedRatio)) continue
    const i = Math.min(cells - 1, Math.floor(((p.at - from) / span) * cells))
    slots[i] = p.usedRatio
  }
  return slots
    .map((r) => (r === null ? ' ' : SPARKS[Math.max(0, Math.min(7, Math.round(r * 7)))]))
    .join('')
}

/** Bar pieces: the used share filled in the level's colour, the elapsed share marked. */
function barPieces(w, cells, color) {
  if (cells <= 0) return []
  if (w.kind === 'balance' || w.unlimited) return [{ text: ' '.repeat(cells), color: 'dim' }]
  const used = Math.max(0, Math.min(1, Number.isFinite(w.usedRatio) ? w.usedRatio : 0))
  const filled = Math.round(used * cells)
  const mark = Number.isFinite(w.elapsedRatio) ? Math.min(cells - 1, Math.floor(w.elapsedRatio * cells)) : -1
  const pieces = []
  const push = (text, c) => {
    const last = pieces[pieces.length - 1]
    if (last && last.color === c) last.text += text
    else pieces.push({ text, color: c })
  }
  for (let i = 0; i < cells; i++) {
    if (i === mark) push('│', 'accent')
    else if (i < filled) push('█', color)
    else push('░', 'dim')
  }
  return pieces
}

/** The value in its unit: "37% used", "173/300 left", "$47.31/$200.00 spent", "$12.40 left". */
function valueText(w) {
  if (w.unlimited) return 'unlimited'
  if (!fmt.isAmountWindow(w)) return `${fmt.formatPercent(w.usedRatio)} used`
  const amount = fmt.formatAmount(w)
  if (w.kind === 'balance') return `${amount} left`
  if (fmt.isCurrency(w.unit)) return `${amount} spent`
  return w.unit ? `${amount} ${w.unit} left` : `${amount} left`
}

/** "+12 ahead, runs out in 1h20m", saying when the last hour's rate was used; or the window's
 *  status when it has one. */
function paceText(w, now) {
  if (STATUS_WORDS[w.status]) return STATUS_WORDS[w.status]
  const text = fmt.formatPace(w, now)
  if (!text) return ''
  return w.paceSource === 'measured' ? `${text} at the last hour's rate` : text
}

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

/** A window's state that its numbers do not tell. */
const STATUS_WORDS = { disabled: 'switched off', limit_reached: 'spend cap reached' }

/** An entry's error in words: what happened, what to do, when it is tried again. */
function errorText(error, now, { inactive = false } = {}) {
  const [what, todo] = ERROR_WORDS[error.kind] || ['error', '']
  const parts = [inactive ? 'cannot be used' : what]
  const message = String(error.message || '')
  // An unusable login's reason already says what to do.
  if (todo && !inactive && !message.includes('/login')) parts.push(todo)
  if (Number.isFinite(error.retryAt) && error.retryAt > now) parts.push(`next try in ${fmt.formatDuration(error.retryAt - now)}`)
  else if (!inactive && error.kind !== 'auth' && error.kind !== 'unsupported') parts.push('retrying')
  return `${parts.join('; ')}: ${message}`
}

// ---------------------------------------------------------------- layout ----

function levelColor(entry, w) {
  return entry.stale ? fmt.LEVEL_COLORS.stale : fmt.LEVEL_COLORS[fmt.windowLevel(w)] || 'text'
}

/** The (entry, window) pairs a provider's block lists, and what 'compact' left out. */
function windowsOf(group, mode) {
  const active = group.filter((e) => e.active)
  const { shown, included } = fmt.foldMultiplierViews(active)
  const all = fmt.sortEntries(shown).flatMap((e) => (e.windows || []).map((w) => ({ e, w })))
  if (mode === 'all') return { rows: all, hidden: 0, included: [...included.values()].flat() }
  // What the footer shows, then what the addon keeps out of the footer for the view (per-minute limits).
  const rows = [...fmt.pickWindows(active, 'compact'), ...all.filter(({ w }) => w.viewOnly)]
  return { rows, hidden: Math.max(0, all.length - rows.length), included: [] }
}

/** "5h", or "<model> <window>" cut in the model's part so the window's id stays readable. */
function windowLabel(e, w, width = Infinity) {
  if (e.modelId === 'default') return truncateToWidth(w.id, width)
  const full = `${e.modelId} ${w.id}`
  const idW = visibleWidth(w.id)
  if (visibleWidth(full) <= width || idW > width / 2) return truncateToWidth(full, width)
  return `${truncateToWidth(e.modelId, width - idW - 1)} ${w.id}`
}

/**
 * The view as lines (see the file comment). `width` is clamped to at least 20 columns.
 */
function renderView(entries, opts = {}) {
  const width = Math.max(MIN_WIDTH, Math.floor(Number(opts.width) || 80))
  const { now = Date.now(), mode = 'compact', history = null, paint = plain, warnings = [], authProblem = null } = opts
  const groups = new Map()
  for (const e of fmt.sortEntries(entries)) {
    if (!groups.has(e.providerId)) groups.set(e.providerId, [])
    groups.get(e.providerId).push(e)
  }

  const blocks = []
  const noCredentials = []
  for (const [providerId, group] of groups) {
    const label = fmt.providerLabel(providerId)
    if (group.every((e) => !e.active)) {
      const unusable = group.find((e) => e.error)
      if (!unusable) {
        noCredentials.push(label)
        continue
      }
      blocks.push({ providerId, label, group, rows: [], hidden: 0, included: [], errors: [errorText(unusable.error, now, { inactive: true })] })
      continue
    }
    const { rows, hidden, included } = windowsOf(group, mode)
    const errors = [...new Set(group.filter((e) => e.active && e.error).map((e) => errorText(e.error, now)))]
    blocks.push({ providerId, label, group, rows, hidden, included, errors })
  }

  // Column widths, shared by every block so bars line up.
  const allRows = blocks.flatMap((b) => b.rows)
  const labelCap = Math.max(8, Math.floor(width * 0.22))
  const labelW = Math.min(labelCap, Math.max(0, ...allRows.map(({ e, w }) => visibleWidth(windowLabel(e, w)))))
  const valueW = Math.min(22, Math.max(0, ...allRows.map(({ w }) => visibleWidth(valueText(w)))))
  const resets = allRows.map(({ w }) => (Number.isFinite(w.resetsAt) ? `↻${fmt.formatDuration(w.resetsAt - now)}` : ''))
  const resetW = Math.max(0, ...resets.map(visibleWidth))
  // The course of each window, when there is room for it and anything was recorded.
  const courses = history && width >= 100 ? allRows.map(({ e, w }) => history(e.providerId, w.id, e.modelId) || []) : []
  const sparkW = courses.some((c) => c.length) ? Math.max(12, Math.min(24, Math.floor(width * 0.15))) : 0
  const fixed = 2 + labelW + 1 + valueW + 1 + (resetW ? resetW + 1 : 0) + (sparkW ? sparkW + 1 : 0)
  // The bar takes what the pace words leave, between 8 (10 from 80 columns) and 30 cells.
  const paceW = Math.min(60, Math.max(0, ...allRows.map(({ w }) => visibleWidth(paceText(w, now)))))
  const rest = width - fixed
  const barW = Math.max(width >= 80 ? 10 : 8, Math.min(30, Math.floor(rest * 0.4), rest - paceW - 1))

  const lines = []
  const line = (pieces) => lines.push(fitLine(pieces, width, paint))
  let r = 0
  for (const b of blocks) {
    const meta = []
    const plan = b.group.find((e) => e.plan)?.plan
    if (plan) meta.push(plan)
    const updated = Math.max(0, ...b.group.map((e) => e.updated || 0))
    if (b.group.some((e) => e.active)) meta.push(`updated ${fmt.formatAgo(updated, now)}`)
    if (b.group.some((e) => e.active && e.stale)) meta.push('stale')
    line([{ text: b.label, color: 'accent' }, { text: meta.map((m) => ` · ${m}`).join(''), color: 'dim' }])
    // Why the provider leads with a metered window (Claude's extra usage), in its own words.
    for (const note of fmt.billingNotes(b.group)) {
      const own = note.slice(note.indexOf(': ') + 2)
      for (const part of wrapToWidth(own, width - 2, 2)) line([{ text: `  ${part}`, color: 'dim' }])
    }
    for (const text of b.errors) {
      wrapToWidth(text, width - 4, 3).forEach((part, i) => line([{ text: i ? '    ' : '  ! ', color: 'error' }, { text: part, color: 'error' }]))
    }
    if (!b.rows.length && !b.errors.length) line([{ text: '  no windows reported', color: 'dim' }])
    for (const { e, w } of b.rows) {
      const color = levelColor(e, w)
      const course = courses[r]
      const reset = resets[r++]
      const pieces = [
        { text: '  ', color: 'text' },
        { text: padEnd(windowLabel(e, w, labelW), labelW), color: e.stale ? 'dim' : 'text' },
        { text: ' ', color: 'text' },
        ...barPieces(w, barW, color),
        { text: ' ', color: 'text' },
        { text: padEnd(truncateToWidth(valueText(w), valueW), valueW), color },
        { text: ' ', color: 'text' },
      ]
      if (resetW) pieces.push({ text: padEnd(reset, resetW) + ' ', color: 'muted' })
      if (sparkW) {
        const length = Number.isFinite(w.duration) && w.duration > 0 ? w.duration * 1000 : DAY_MS
        pieces.push({ text: sparkline(course, { from: now - length, to: now, cells: sparkW }) + ' ', color: 'dim' })
      }
      const pace = paceText(w, now)
      const hurried = w.paceStage === 'ahead' || w.paceStage === 'far-ahead' || Number.isFinite(w.runsOutAt)
      pieces.push({ text: pace, color: STATUS_WORDS[w.status] ? color : hurried ? 'warning' : 'muted' })
      line(pieces)
    }
    const skipped = [...new Set(b.group.flatMap((e) => (e.active && e.warnings) || []))]
    for (const text of skipped) line([{ text: `  skipped: ${text}`, color: 'dim' }])
    if (b.included.length) line([{ text: `  included at no cost: ${b.included.join(', ')}`, color: 'dim' }])
    if (b.hidden) line([{ text: `  +${b.hidden} more window${b.hidden === 1 ? '' : 's'}`, color: 'dim' }])
  }
  if (!blocks.length) {
    const why = authProblem ? ": pi's auth.json cannot be read" : noCredentials.length ? ': no provider has credentials' : ' yet'
    line([{ text: `no usage data${why}`, color: 'dim' }])
  }
  if (authProblem) {
    wrapToWidth(authProblem, width - 2, 5).forEach((part, i) => line([{ text: `${i ? ' ' : '!'} ${part}`, color: 'error' }]))
  } else if (noCredentials.length) {
    line([{ text: `no credentials: ${noCredentials.join(', ')} — log in with pi (/login)`, color: 'dim' }])
  }
  for (const warning of warnings) line([{ text: `! ${warning}`, color: 'warning' }])
  return lines
}

module.exports = { renderView, sparkline, visibleWidth, truncateToWidth }
