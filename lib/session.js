'use strict'
// What this pi session cost: the addon's ledger (usage-core's session.rs) of every window's
// change since the session began, and its words for the footer and the view. Every rule of
// the count is the addon's; this file only words it.
//
//   const cost = await tracker.openSession(piSessionId)
//   cost.note()                                   // after the store changed by a poll
//   cost.note({ providerId, modelId })            // after a model response's headers
//   cost.summary()   -> { sessionId, startedAt, updatedAt, providers: [{ providerId, windows }] }
//   sessionCell(summary, providerId)  -> { label: 'session', text: '+$18.50' | '+12% 5h' } | undefined
//   sessionLines(summary, providerId, now) -> the view's "this session" lines of a provider
//   sessionJson(summary) -> the session in `/usage-store json` (changed windows only)

const binding = require('./binding.js')
const { callNative } = require('./errors.js')
const fmt = require('./format.js')

/** A session's ledger, noted from one tracker's store. */
class SessionCost {
  #ledger
  #tracker
  constructor(ledger, nativeTracker) {
    this.#ledger = ledger
    this.#tracker = nativeTracker
  }

  /** Takes the store as it is now; `response` names the model response that brought it. */
  note(response) {
    return this.#ledger.note(this.#tracker, response?.providerId, response?.modelId)
  }

  summary() {
    return this.#ledger.summary()
  }
}

/** Opens the ledger of pi session `sessionId` (see `UsageTracker.openSession`). */
async function openSession(nativeTracker, sessionId, cachePath) {
  const ledger = await callNative(() => binding.openSessionCost(String(sessionId), cachePath ?? undefined))
  return new SessionCost(ledger, nativeTracker)
}

/** One change in its unit: money "+$18.50", percent points "+12%", counts "+3 credits". */
function changeText(w) {
  if (w.money) return `+${fmt.formatMoney(w.change, w.unit)}`
  if (!w.unit) return `+${Math.round(w.change)}%`
  const n = Number.isInteger(w.change) ? String(w.change) : w.change.toFixed(2)
  return `+${n} ${w.unit}`
}

/** The provider's headline change: money first, else the window that moved most. */
function headline(summary, providerId) {
  return summary?.providers.find((p) => p.providerId === providerId)?.windows[0]
}

/** The footer's cell for the lead provider, `{ label: 'session', text }`: "session +$18.50"
 *  for money, "session +12% 5h" for a plan window; none until the session has used something
 *  (a "+$0.00" would only take room from other providers' windows). */
function sessionCell(summary, providerId) {
  const w = headline(summary, providerId)
  if (!w || !(w.change > 0)) return undefined
  return { label: 'session', text: w.money ? changeText(w) : `${changeText(w)} ${w.windowId}` }
}

/** The view's "this session" block of one provider: each changed window, per model where a
 *  response said so, the rest as other use of this login, and the session's length; none
 *  while nothing changed. */
function sessionLines(summary, providerId, now = Date.now()) {
  const p = summary?.providers.find((x) => x.providerId === providerId)
  if (!p) return []
  const length = fmt.formatDuration(Math.max(0, now - summary.startedAt))
  const changed = p.windows.filter((w) => w.change > 0)
  if (!changed.length) return [] // nothing used yet: the footer's cell says +0
  const lines = [`this session (${length}):`]
  for (const w of changed) {
    const parts = w.byModel.map((m) => `${m.modelId} ${changeText({ ...w, change: m.change })}`)
    if (w.other > 0) parts.push(`other use of this login ${changeText({ ...w, change: w.other })}`)
    const resets = w.resets ? `, reset ${w.resets}×` : ''
    lines.push(`  ${w.windowId} ${changeText(w)}${resets}${parts.length ? ` — ${parts.join(', ')}` : ''}`)
  }
  return lines
}

/** The session as `/usage-store json` carries it: each provider's changed windows only (an
 *  unchanged one is its baseline, not news). */
function sessionJson(summary) {
  if (!summary) return null
  return { ...summary, providers: summary.providers.map((p) => ({ ...p, windows: p.windows.filter((w) => w.change > 0) })) }
}

module.exports = { SessionCost, openSession, sessionCell, sessionLines, sessionJson, changeText }
