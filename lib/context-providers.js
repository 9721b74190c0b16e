'use strict'
// Footer context providers: plain closures over the snapshot the tracker publishes once per
// cycle, so a render never crosses into the addon.

const { UsageTracker, SNAPSHOT, DEFAULT_MODEL, snapshotWindow } = require('./tracker.js')

function windowReader(tracker, platformId, windowId, modelId) {
  if (!(tracker instanceof UsageTracker)) throw new TypeError('expected a UsageTracker as the first argument')
  if (typeof platformId !== 'string' || typeof windowId !== 'string') {
    throw new TypeError('platformId and windowId must be strings')
  }
  // The snapshot changes once per cycle; a frame only compares it and reuses the lookup.
  let seen
  let window
  return () => {
    const snapshot = tracker[SNAPSHOT]
    if (snapshot !== seen) {
      seen = snapshot
      window = snapshotWindow(snapshot, platformId, modelId, windowId)
    }
    return window
  }
}

/** Seconds until reset, never below 0 nor above the window length. */
function secondsLeft(w) {
  if (w === undefined || w.resetsAt == null) return null
  const left = Math.max(0, (w.resetsAt - Date.now()) / 1000)
  return w.duration != null ? Math.min(left, w.duration) : left
}

function makeFactory(valueOf) {
  return (tracker, platformId, windowId, modelId) => {
    const read = windowReader(tracker, platformId, windowId, modelId)
    return () => {
      const w = read()
      return w === undefined ? null : valueOf(w)
    }
  }
}

const usedSeconds = (w) => {
  const left = secondsLeft(w)
  return left === null || w.duration == null ? null : w.duration - left
}

const createWindowRemainingTimeProvider = makeFactory(secondsLeft)
const createWindowUsedTimeProvider = makeFactory(usedSeconds)
const createWindowTotalTimeProvider = makeFactory((w) => w.duration ?? null)
const createWindowProgressPercentageProvider = makeFactory((w) => {
  const used = usedSeconds(w)
  return used === null || !(w.duration > 0) ? null : (used / w.duration) * 100
})
const createWindowRemainingAmountProvider = makeFactory((w) => w.remaining)
const createWindowUsedAmountProvider = makeFactory((w) => w.used)
const createWindowTotalAmountProvider = makeFactory((w) => w.total)
const createWindowQuotaUsedPercentageProvider = makeFactory((w) => w.usedRatio * 100)
const createWindowQuotaRemainingPercentageProvider = makeFactory((w) => w.remainingRatio * 100)

const METRICS = [
  ['progress_percentage', createWindowProgressPercentageProvider],
  ['remaining_time', createWindowRemainingTimeProvider],
  ['used_time', createWindowUsedTimeProvider],
  ['total_time', createWindowTotalTimeProvider],
  ['remaining_amount', createWindowRemainingAmountProvider],
  ['used_amount', createWindowUsedAmountProvider],
  ['total_amount', createWindowTotalAmountProvider],
  ['quota_used_percentage', createWindowQuotaUsedPercentageProvider],
  ['quota_remaining_percentage', createWindowQuotaRemainingPercentageProvider],
]

/**
 * Every window known for a platform — declared in its quotas, or seen in the store (per-model
 * windows exist only after a fetch) — times the nine metrics, named
 * `<platform>[/<model>].<window>.<metric>`.
 */
function createPlatformContextProviders(tracker, platformId) {
  if (!(tracker instanceof UsageTracker)) throw new TypeError('expected a UsageTracker as the first argument')
  const windows = new Map() // "model\0window" → [model, window]
  for (const windowId of tracker.windowIds(platformId)) windows.set(`${DEFAULT_MODEL}\0${windowId}`, [DEFAULT_MODEL, windowId])
  for (const entry of tracker[SNAPSHOT].entries) {
    if (entry.providerId !== platformId) continue
    for (const w of entry.windows) windows.set(`${entry.modelId}\0${w.id}`, [entry.modelId, w.id])
  }
  const out = []
  for (const [modelId, windowId] of windows.values()) {
    const prefix = modelId === DEFAULT_MODEL ? platformId : `${platformId}/${modelId}`
    for (const [metric, factory] of METRICS) {
      out.push({ name: `${prefix}.${windowId}.${metric}`, provider: factory(tracker, platformId, windowId, modelId) })
    }
  }
  return out
}

module.exports = {
  createWindowProgressPercentageProvider,
  createWindowRemainingTimeProvider,
  createWindowUsedTimeProvider,
  createWindowTotalTimeProvider,
  createWindowRemainingAmountProvider,
  createWindowUsedAmountProvider,
  createWindowTotalAmountProvider,
  createWindowQuotaUsedPercentageProvider,
  createWindowQuotaRemainingPercentageProvider,
  createPlatformContextProviders,
}
