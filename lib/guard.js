'use strict'
// Before a prompt goes to a model whose quota is used up: say so, with when it resets and the
// best model with room, then ask, switch or warn as the `whenExhausted` setting says. The
// decision is taken here from the tracker's answers (checkQuota, selectBestModel); what only pi
// can do (ask the user, switch the model, show a message) comes in as functions, so the
// extension and the tests run the same code.

const format = require('./format.js')

/** The best of `available` ({ provider, id }) other than `current`, as the tracker ranks them;
 *  undefined when none is known to have room. */
function bestAlternative(tracker, current, available) {
  const candidates = available
    .filter((m) => m && m.provider && m.id && !(m.provider === current.provider && m.id === current.id))
    .map((m) => ({ providerId: m.provider, modelId: m.id }))
  if (candidates.length === 0) return undefined
  const best = tracker.selectBestModel(candidates)
  if (!best.providerId || !best.modelId || best.decision === 'exhausted') return undefined
  return { provider: best.providerId, id: best.modelId, why: best.reason }
}

/**
 * Runs the guard for a prompt to `model` ({ provider, id }).
 * `options`: whenExhausted ('ask' | 'switch' | 'warn'), hasUI (a dialog can be shown).
 * `io`: confirm(title, text) → Promise<boolean>, switchTo(provider, id) → Promise<boolean>,
 * notify(message, 'info' | 'warning').
 * Resolves with what happened: 'proceed' (not used up), 'no-alternative', 'warned', 'stayed',
 * 'switched' or 'switch-failed'. The prompt goes ahead in every case; only the model may change.
 */
async function guardExhausted(tracker, model, available, options, io) {
  const check = tracker.checkQuota(model.provider, model.id)
  if (check.decision !== 'exhausted') return 'proceed'
  const resets = check.resetsAt ? `; resets in ${format.formatDuration(check.resetsAt - Date.now())}` : ''
  const what = `${format.providerLabel(model.provider)} ${check.windowId ?? ''}`.trim()
  const message = `Usage: ${what} is used up for ${model.id}${resets}.`
  const alt = bestAlternative(tracker, model, available)
  if (!alt) {
    io.notify(`${message} No other model with room was found; the prompt goes ahead.`, 'warning')
    return 'no-alternative'
  }
  const target = `${alt.provider}/${alt.id}`
  const mode = options.whenExhausted
  let doSwitch = mode === 'switch'
  if (mode === 'ask' && options.hasUI) {
    doSwitch = await io.confirm('Quota used up', `${message}\nSwitch to ${target} for this prompt and after?`)
  }
  if (!doSwitch) {
    const warned = mode === 'warn'
    io.notify(warned ? `${message} ${target} has room.` : `${message} Staying on ${model.id}.`, 'warning')
    return warned ? 'warned' : 'stayed'
  }
  const ok = await io.switchTo(alt.provider, alt.id)
  io.notify(ok ? `${message} Switched to ${target}.` : `${message} Could not switch to ${target}.`, ok ? 'info' : 'warning')
  return ok ? 'switched' : 'switch-failed'
}

module.exports = { bestAlternative, guardExhausted }
