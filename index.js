'use strict'
// Package entry: the generated binding plus the JS-side pieces DESIGN §6 asks for.
// The Rust store stays the source of truth; once per cycle the tracker publishes an
// immutable snapshot of it here, and the footer factories are plain closures over that
// snapshot, so the render path never crosses into the addon.

const binding = loadBinding()

/** The generated loader throws "Cannot find native binding" with the package it looked for
 *  buried in `cause`; name the missing platform package and what to do about it. */
function loadBinding() {
  try {
    return require('./binding.js')
  } catch (err) {
    if (!err || !String(err.message).startsWith('Cannot find native binding')) throw err
    const { name, version, optionalDependencies = {} } = require('./package.json')
    const libc = process.report?.getReport?.().header?.glibcVersionRuntime ? '-gnu' : '-musl'
    const abi = process.platform === 'linux' ? libc : process.platform === 'win32' ? '-msvc' : ''
    const platform = `${process.platform}-${process.arch}${abi}`
    const pkg = `${name}-${platform}`
    let why = ''
    for (let e = err.cause; e; e = e.cause) {
      if (!/^Cannot find module /.test(e.message)) why = ` (${e.message.split('\n')[0]})`
    }
    const prebuilt = Object.keys(optionalDependencies).map((d) => d.slice(name.length + 1))
    const message =
      pkg in optionalDependencies
        ? `${name}: no native binary for ${platform}: the package ${pkg} did not load${why}. It is an optional dependency; reinstall without --omit=optional (npm i ${pkg}@${version}), or build from source with \`npm run build\` (needs Rust).`
        : `${name}: no prebuilt binary for ${platform} (prebuilt: ${prebuilt.join(', ')}); build from source with \`npm run build\` (needs Rust).`
    const error = new Error(message, { cause: err })
    error.code = 'ERR_PI_USAGE_TRACKER_NO_BINARY'
    throw error
  }
}

const { NativeUsageTracker, builtinProviders, resolveUsageWindow: nativeResolve } = binding

const SNAPSHOT = Symbol.for('pi-usage-tracker.snapshot')
const DEFAULT_MODEL = 'default'

/** Bad arguments come back from the addon as `InvalidArg`; JS callers expect TypeError. */
function rethrow(err) {
  if (err && err.code === 'InvalidArg') {
    const typed = new TypeError(err.message)
    typed.code = 'InvalidArg'
    throw typed
  }
  throw err
}

function callNative(fn) {
  try {
    return fn()
  } catch (err) {
    return rethrow(err)
  }
}

const windowKey = (providerId, modelId, windowId) => `${providerId}/${modelId ?? DEFAULT_MODEL}#${windowId}`

function buildSnapshot(entries) {
  const byKey = new Map()
  const windows = new Map()
  for (const entry of entries) {
    byKey.set(entry.key, entry)
    for (const w of entry.windows) windows.set(`${entry.key}#${w.id}`, w)
  }
  return Object.freeze({ entries, byKey, windows })
}

function reportListenerError(err) {
  // A listener bug must not stop the others or the tracker; make it visible, once per throw.
  // (Node drops the `type` of an Error warning, so pass the message and keep the stack as detail.)
  const message = err instanceof Error ? err.message : String(err)
  process.emitWarning(`a usage listener threw: ${message}`, {
    type: 'UsageTrackerListenerError',
    detail: err instanceof Error ? err.stack : undefined,
  })
}

class UsageTracker {
  #native
  #generation = 0
  #ctx = undefined
  #listeners = new Set()
  #thresholdListeners = new Set()

  constructor(options) {
    if (options != null && typeof options !== 'object') {
      throw new TypeError('UsageTracker options must be an object')
    }
    this.#native = callNative(() => new NativeUsageTracker(options ?? undefined, (update) => this.#publish(update)))
    this.#generation = this.#native.retireGeneration()
    this[SNAPSHOT] = buildSnapshot([])
  }

  #publish(update) {
    if (update.generation !== this.#generation) return // from a run that was stopped
    this[SNAPSHOT] = buildSnapshot(update.entries)
    for (const listener of [...this.#listeners]) {
      try {
        listener(update.entries)
      } catch (err) {
        reportListenerError(err)
      }
    }
    for (const event of update.events) {
      for (const listener of [...this.#thresholdListeners]) {
        try {
          listener(event)
        } catch (err) {
          reportListenerError(err)
        }
      }
    }
  }

  #resync() {
    this[SNAPSHOT] = buildSnapshot(this.#native.entries())
  }

  /** Wraps a user callback: always a promise, `ctx` from `start`, nothing from a stopped run. */
  #wrap(strategy, fn) {
    return async (generation) => {
      if (generation !== this.#generation) throw new Error('tracker stopped')
      return fn.call(strategy, this.#ctx)
    }
  }

  registerProvider(strategy) {
    if (strategy == null || typeof strategy !== 'object') {
      throw new TypeError('registerProvider: strategy must be an object')
    }
    const { id, quotas, hasAuthentication, fetchUsage } = strategy
    if (typeof id !== 'string' || id.length === 0) {
      throw new TypeError('registerProvider: strategy.id must be a non-empty string')
    }
    if (typeof fetchUsage !== 'function') {
      throw new TypeError(`registerProvider('${id}'): strategy.fetchUsage must be a function`)
    }
    if (hasAuthentication !== undefined && typeof hasAuthentication !== 'function') {
      throw new TypeError(`registerProvider('${id}'): strategy.hasAuthentication must be a function`)
    }
    if (!Array.isArray(quotas)) {
      throw new TypeError(`registerProvider('${id}'): strategy.quotas must be an array`)
    }
    const hasAuth = hasAuthentication ? this.#wrap(strategy, hasAuthentication) : this.#wrap(strategy, () => true)
    const authAsBoolean = async (generation) => Boolean(await hasAuth(generation))
    const fetchChecked = this.#wrap(strategy, async (ctx) => {
      const snapshots = await fetchUsage.call(strategy, ctx)
      if (!Array.isArray(snapshots)) {
        const got = snapshots === null ? 'null' : typeof snapshots
        throw new TypeError(`fetchUsage must resolve to an array of usage snapshots, got ${got}`)
      }
      return snapshots
    })
    callNative(() => this.#native.registerProvider(id, quotas, authAsBoolean, fetchChecked))
    this.#resync()
  }

  registerBuiltinProvider(id, options) {
    const instanceId = callNative(() => this.#native.registerBuiltinProvider(id, options ?? undefined))
    this.#resync() // last known values from the shared cache show at once
    return instanceId
  }

  unregisterProvider(id) {
    const removed = this.#native.unregisterProvider(String(id))
    this.#resync()
    return removed
  }

  start(ctx) {
    this.#ctx = ctx
    this.#generation = this.#native.start()
  }

  stop() {
    this.#generation = this.#native.retireGeneration()
    return this.#native.stop()
  }

  refresh(providerId) {
    return this.#native.refresh(providerId ?? undefined).catch(rethrow)
  }

  onUpdate(listener) {
    if (typeof listener !== 'function') throw new TypeError('onUpdate: listener must be a function')
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  onThreshold(listener) {
    if (typeof listener !== 'function') throw new TypeError('onThreshold: listener must be a function')
    this.#thresholdListeners.add(listener)
    return () => this.#thresholdListeners.delete(listener)
  }

  get(providerId, modelId) {
    return this.#native.get(providerId, modelId ?? undefined)
  }

  getWindow(providerId, windowId, modelId) {
    return this.#native.getWindow(providerId, windowId, modelId ?? undefined)
  }

  entries() {
    return this.#native.entries()
  }

  get running() {
    return this.#native.running
  }

  checkQuota(providerId, modelId) {
    return this.#native.checkQuota(providerId, modelId ?? undefined)
  }

  selectBest(providerIds, modelId) {
    if (!Array.isArray(providerIds)) throw new TypeError('selectBest: providerIds must be an array of provider ids')
    return this.#native.selectBest(providerIds, modelId ?? undefined)
  }

  stats() {
    return this.#native.stats()
  }

  /** Provider ids registered, in id order. */
  providerIds() {
    return this.#native.providerIds()
  }

  /** Window ids a provider declares in its quota definitions. */
  windowIds(providerId) {
    return this.#native.windowIds(providerId)
  }

  /** The snapshot published by the last cycle: `{ entries, byKey, windows }`, frozen. */
  get snapshot() {
    return this[SNAPSHOT]
  }
}

// ---- quota definition guards (same precedence as the addon's kind detection) ----

const isObject = (q) => q != null && typeof q === 'object'
const isQuotaPercentage = (q) => isObject(q) && q.percentageOnly === true
const isQuotaMultiplier = (q) =>
  isObject(q) && !isQuotaPercentage(q) && (q.multipliers !== undefined || q.baseAmount !== undefined)
const isQuotaPerModel = (q) =>
  isObject(q) && !isQuotaPercentage(q) && !isQuotaMultiplier(q) && q.perModel !== undefined
const isQuotaAmount = (q) =>
  isObject(q) && !isQuotaPercentage(q) && !isQuotaMultiplier(q) && !isQuotaPerModel(q) && q.amount !== undefined
const isQuotaDuration = (q) =>
  isObject(q) &&
  !isQuotaPercentage(q) &&
  !isQuotaMultiplier(q) &&
  !isQuotaPerModel(q) &&
  !isQuotaAmount(q) &&
  q.duration !== undefined

// ---- footer context providers (DESIGN §6): closures over the published snapshot ----

function windowReader(tracker, platformId, windowId, modelId) {
  if (!(tracker instanceof UsageTracker)) throw new TypeError('expected a UsageTracker as the first argument')
  if (typeof platformId !== 'string' || typeof windowId !== 'string') {
    throw new TypeError('platformId and windowId must be strings')
  }
  const key = windowKey(platformId, modelId, windowId)
  return () => tracker[SNAPSHOT].windows.get(key)
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

function resolveUsageWindow(quota, snapshot) {
  return callNative(() => nativeResolve(quota, snapshot))
}

module.exports = {
  UsageTracker,
  BUILTIN_PROVIDERS: Object.freeze(builtinProviders().map((p) => Object.freeze(p))),
  BUILTIN_PROVIDER_IDS: Object.freeze(builtinProviders().map((p) => p.id)),
  resolveUsageWindow,
  isQuotaDuration,
  isQuotaAmount,
  isQuotaPercentage,
  isQuotaMultiplier,
  isQuotaPerModel,
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
