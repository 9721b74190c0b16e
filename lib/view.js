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
 *     session: what this pi session used (`SessionCost.summary()`): a "this session" block per
 *       provider (lib/session.js)
 *     authProblem: the message of a broken pi auth.json (`piAuthProblem()`): said instead of
 *       "no credentials", since logging in again does not mend the file
 *     history(providerId, windowId, modelId) -> [{ at, usedRatio }] (oldest first), optional
 *     paint(color, text) -> text: a semantic colour (LEVEL_COLORS values, 'accent', 'dim',
 *       'muted', 'text') applied to a piece; pi's theme.fg or format.paintAnsi
 *   refreshNote(entries, { startedAt, now, holdMs }) -> what `r` did, in words
 *   sparkline(points, { from, to, cells }) -> string of `cells` columns
 *   visibleWidth(text), truncateToWidth(text, width)
 */

const fmt = require('./format.js')
const { sessionLines } = require('./session.js')

const DAY_MS = 86_400_000
const MIN_WIDTH = 20

const { visibleWidth, truncateToWidth } = require('./terminal.js')

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
 *  status when it has one. Narrower forms for a narrow view (PACE_FORMS), the run-out time in all. */
function paceText(w, now, form = 'measured') {
  if (STATUS_WORDS[w.status]) return STATUS_WORDS[w.status]
  const text = fmt.formatPace(w, now, form === 'measured' ? 'full' : form)
  if (!text) return ''
  return form === 'measured' && w.paceSource === 'measured' ? `${text} at the last hour's rate` : text
}
/** From the widest to the narrowest: what a narrow view gives up first is the pace's words. */
const PACE_FORMS = ['measured', 'full', 'short', 'runout']

/** A window's state that its numbers do not tell. */
const STATUS_WORDS = { disabled: 'switched off', limit_reached: 'spend cap reached' }

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
  const { now = Date.now(), mode = 'compact', history = null, paint = plain, warnings = [], authProblem = null, session = null } = opts
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
      blocks.push({ providerId, label, group, rows: [], hidden: 0, included: [], errors: [fmt.errorText(unusable.error, now, { inactive: true })] })
      continue
    }
    const { rows, hidden, included } = windowsOf(group, mode)
    const errors = [...new Set(group.filter((e) => e.active && e.error).map((e) => fmt.errorText(e.error, now)))]
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
  // The run-out time is never cut: the pace's words go first (shorter, then only the run-out
  // time), then the bar's cells (from 10, or 8 under 80 columns, down to 3, then none); what
  // still does not fit goes on a line of its own under the row.
  const rest = width - fixed
  const barMin = width >= 80 ? 10 : 8
  const paceWidth = (form) => Math.max(0, ...allRows.map(({ w }) => visibleWidth(paceText(w, now, form))))
  const paceForm = PACE_FORMS.find((form) => rest - barMin - 1 >= paceWidth(form)) ?? 'runout'
  const paceW = paceWidth(paceForm)
  let barW = Math.max(barMin, Math.min(30, Math.floor(rest * 0.4), rest - paceW - 1))
  if (rest - barW - 1 < paceW) barW = rest - paceW - 1 >= 3 ? rest - paceW - 1 : 0
  const paceBelow = paceW > 0 && rest - (barW ? barW + 1 : 0) < paceW
  // the run-out time has a line of its own: the bar needs to give up nothing for it
  if (paceBelow) barW = Math.max(0, Math.min(barMin, rest - 1))

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
      for (const part of wrapToWidth(own, width - 2, 3)) line([{ text: `  ${part}`, color: 'dim' }])
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
        ...(barW ? [...barPieces(w, barW, color), { text: ' ', color: 'text' }] : []),
        { text: padEnd(truncateToWidth(valueText(w), valueW), valueW), color },
        { text: ' ', color: 'text' },
      ]
      if (resetW) pieces.push({ text: padEnd(reset, resetW) + ' ', color: 'muted' })
      if (sparkW) {
        const length = Number.isFinite(w.duration) && w.duration > 0 ? w.duration * 1000 : DAY_MS
        pieces.push({ text: sparkline(course, { from: now - length, to: now, cells: sparkW }) + ' ', color: 'dim' })
      }
      const pace = paceText(w, now, paceForm)
      const hurried = w.paceStage === 'ahead' || w.paceStage === 'far-ahead' || Number.isFinite(w.runsOutAt)
      const paceColor = STATUS_WORDS[w.status] ? color : hurried ? 'warning' : 'muted'
      if (!paceBelow) pieces.push({ text: pace, color: paceColor })
      line(pieces)
      if (paceBelow && pace) line([{ text: ' '.repeat(Math.max(4, width - visibleWidth(pace))), color: 'text' }, { text: pace, color: paceColor }])
    }
    for (const text of sessionLines(session, b.providerId, now)) {
      const indent = text.startsWith(' ') ? '    ' : '  ' // a window's line under the block's title
      wrapToWidth(text.trimStart(), width - indent.length - 2, 3).forEach((part, i) => line([{ text: `${indent}${i ? '  ' : ''}${part}`, color: 'muted' }]))
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
    const text = `no credentials: ${noCredentials.join(', ')} — log in with pi (/login)`
    wrapToWidth(text, width - 2, 4).forEach((part, i) => line([{ text: i ? `  ${part}` : part, color: 'dim' }]))
  }
  for (const warning of warnings) line([{ text: `! ${warning}`, color: 'warning' }])
  return lines
}

/**
 * What a refresh asked at `startedAt` did, for the view's title: "refreshed", or, when every
 * provider's values are older than the request (the shared cache answered: a refresh within
 * `holdMs` of the last fetch does not ask again), when they were fetched and when a refresh
 * can next ask the services. `holdMs` is the tracker's `refreshHoldMs()`.
 */
function refreshNote(entries, { startedAt, now = Date.now(), holdMs = 0 }) {
  const shown = (entries || []).filter((e) => e.active && e.updated > 0)
  if (!shown.length) return 'refreshed: no provider has data'
  const latest = Math.max(...shown.map((e) => e.updated))
  if (latest >= startedAt || !(holdMs > 0)) return 'refreshed'
  const wait = latest + holdMs - now
  const ago = `fetched ${fmt.formatAgo(latest, now)}`
  return wait >= 1000 ? `${ago} — next refresh possible in ${fmt.formatDuration(wait)}` : `${ago} — press r again to fetch now`
}

module.exports = { renderView, refreshNote, sparkline, visibleWidth, truncateToWidth, wrapToWidth }
