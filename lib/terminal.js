'use strict'
/**
 * Terminal columns, the one place that knows them: how wide the terminal is, and how many
 * columns a piece of text takes there (ANSI escapes none, wide CJK and emoji two, combining
 * marks none). The CLI, the view, the table, the footer and the demo all measure with these.
 *
 * Exports
 *   terminalWidth(stream = process.stdout, env = process.env) -> columns: the stream's when it is
 *     a terminal, else $COLUMNS, else 80
 *   visibleWidth(text) -> columns, truncateToWidth(text, width) -> plain text cut with "…"
 */

/** Columns to fit: the terminal's, else $COLUMNS, else 80. */
function terminalWidth(stream = process.stdout, env = process.env) {
  if (stream && stream.isTTY && stream.columns > 0) return stream.columns
  const fromEnv = Number(env.COLUMNS)
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : 80
}

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

module.exports = { terminalWidth, visibleWidth, truncateToWidth, ANSI_RE }
