'use strict'
// The public UsageTracker: owns the JS listeners and the snapshot the addon publishes once per
// cycle; every rule stays in the addon.
//
// The addon keeps the JS functions it calls back alive for as long as the native tracker
// lives, so none of them may hold the UsageTracker itself: they reach it through a WeakRef,
// and the user's strategies live in the tracker. A forgotten tracker is then garbage like any
// object; if it was running, `unreachable` stops its native loop.

const { AsyncLocalStorage } = require('node:async_hooks')
const { NativeUsageTracker, windowChangeSince } = require('./binding.js')
const { fromFailure, callNative, toJsError, argTypeError, excerpt } = require('./errors.js')
const { openSession } = require('./session.js')

const SNAPSHOT = Symbol.for('pi-usage-tracker.snapshot')
const DEFAULT_MODEL = 'default'
/** `{ maxSnapshotsPerFetch, minIntervalMs }`, the addon's own numbers. */
const LIMITS = Object.freeze(NativeUsageTracker.limits())

/** Set while a strategy callback runs (and in everything it awaits): which tracker's cycle
 *  is waiting for it. */
const inStrategy = new AsyncLocalStorage()

/** A running tracker that became unreachable without `stop()`: stop its native loop. */
const unreachable = new FinalizationRegistry((native) => {
  native.stop().catch(() => {})
})

/** Each provider's part, in the addon's key order (`providerId/modelId`): `{ entries, view }`. */
const PARTS = Symbol('providers')

/** Whether provider `a`'s entries come before `b`'s in the addon's key order. */
const keyBefore = (a, b) => `${a}/` < `${b}/`

/** modelId → windowId → window, for one provider's entries. */
function modelsOf(list) {
  const models = new Map()
  for (const entry of list) models.set(entry.modelId, new Map(entry.windows.map((w) => [w.id, w])))
  return models
}

/** The frozen snapshot readers see. `windows`: providerId → modelId → windowId → window, so a
 *  reader never builds a key; `providers`: the addon's one view per provider; `byKey` is built
 *  the first time it is read (nothing here does). */
function snapshotOf(parts, windows) {
  const entries = []
  const providers = []
  for (const part of parts.values()) {
    for (const entry of part.entries) entries.push(entry)
    if (part.view) providers.push(part.view)
  }
  let byKey
  return Object.freeze({
    entries,
    providers,
    get byKey() {
      if (byKey === undefined) byKey = new Map(entries.map((e) => [e.key, e]))
      return byKey
    },
    windows,
    [PARTS]: parts,
  })
}

/** Groups entries and views by provider id: `ids` (all of them when absent) → part. */
function partsOf(entries, providers, ids = null) {
  const parts = new Map(ids?.map((id) => [id, { entries: [], view: undefined }]))
  for (const entry of entries) {
    let part = parts.get(entry.providerId)
    if (!part && !ids) parts.set(entry.providerId, (part = { entries: [], view: undefined }))
    part?.entries.push(entry)
  }
  for (const view of providers) {
    const part = parts.get(view.id)
    if (part) part.view = view
  }
  return parts
}

/** A snapshot of the whole store. */
function buildSnapshot(entries, providers) {
  const parts = partsOf(entries, providers)
  const windows = new Map()
  for (const [id, part] of parts) windows.set(id, modelsOf(part.entries))
  return snapshotOf(parts, windows)
}

/** `previous` with the providers `ids` replaced by `entries` and `providers` (all of theirs;
 *  a provider with none is gone): only their part is built, every other one is shared. */
function withProviders(previous, ids, entries, providers) {
  const fresh = partsOf(entries, providers, ids)
  const pending = [...fresh.keys()].sort((a, b) => (keyBefore(a, b) ? -1 : keyBefore(b, a) ? 1 : 0))
  const parts = new Map()
  const place = (id) => {
    const part = fresh.get(id)
    if (part.entries.length > 0) parts.set(id, part)
  }
  let i = 0
  for (const [id, part] of previous[PARTS]) {
    while (i < pending.length && keyBefore(pending[i], id)) place(pending[i++])
    if (pending[i] === id) place(pending[i++])
    else parts.set(id, part)
  }
  while (i < pending.length) place(pending[i++])
  const windows = new Map(previous.windows)
  for (const [id, part] of fresh) {
    if (part.entries.length > 0) windows.set(id, modelsOf(part.entries))
    else windows.delete(id)
  }
  return snapshotOf(parts, windows)
}

/** The published window, or undefined; three map reads, no addon call. */
function snapshotWindow(snapshot, providerId, modelId, windowId) {
  return snapshot.windows.get(providerId)?.get(modelId ?? DEFAULT_MODEL)?.get(windowId)
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

/** The part of a response's headers the addon reads (`limits`), flat as `[name, value, …]`:
 *  the first `maxResponseHeaders` of them, values no longer than `maxHeaderValueChars`
 *  (repeated values joined by ", "). Copied before the call, so a response with thousands of
 *  headers costs the JS thread no conversion. */
function readableHeaders(headers) {
  const out = []
  let n = 0
  for (const name in headers) {
    if (n++ >= LIMITS.maxResponseHeaders) break
    let value = headers[name]
    if (typeof value === 'number') value = String(value)
    else if (Array.isArray(value) && value.length <= 8 && value.every((v) => typeof v === 'string')) value = value.join(', ')
    if (typeof value === 'string' && value.length <= LIMITS.maxHeaderValueChars) out.push(name, value)
  }
  return out
}

const typeName = (v) => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v)

function checkString(value, what) {
  if (typeof value !== 'string') throw argTypeError(`${what} must be a string, got ${typeName(value)}`)
}

function checkOptionalString(value, what) {
  if (value != null) checkString(value, what)
}

/**
 * The promise of a refresh. The addon answers through a weak callback, so a refresh nobody
 * waits for never holds the process open; once someone does wait (`await`, `then`, `catch`,
 * `finally`, `Promise.all`: all of them call `then`), a timer holds it until it settles.
 */
class RefreshPromise extends Promise {
  static get [Symbol.species]() {
    return Promise
  }

  #settled = false
  #hold = null

  /** `start(settle)` begins the work; `settle(error?)` ends it. A throw rejects. */
  static begin(start) {
    let resolve
    let reject
    const promise = new RefreshPromise((res, rej) => {
      resolve = res
      reject = rej
    })
    const settle = (err) => {
      promise.#settled = true
      clearInterval(promise.#hold)
      promise.#hold = null
      if (err) reject(err)
      else resolve()
    }
    try {
      start(settle)
    } catch (err) {
      settle(toJsError(err))
    }
    return promise
  }

  then(onFulfilled, onRejected) {
    if (!this.#settled && this.#hold === null) this.#hold = setInterval(() => {}, 2 ** 30)
    return super.then(onFulfilled, onRejected)
  }
}

class UsageTracker {
  #native
  #generation = 0
  #ctx = undefined
  #listeners = new Set()
  #thresholdListeners = new Set()
  /** registration number → { id, fetchUsage, hasAuthentication } (the user's functions). */
  #strategies = new Map()
  #registrations = 0
  #cachePath = undefined

  constructor(options) {
    if (options != null && (typeof options !== 'object' || Array.isArray(options))) {
      throw argTypeError(`UsageTracker options must be an object, got ${typeName(options)}`)
    }
    this.#cachePath = options?.cachePath
    const publish = UsageTracker.#publisher(new WeakRef(this))
    this.#native = callNative(() => new NativeUsageTracker(options ?? undefined, publish))
    this.#generation = this.#native.retireGeneration()
    this[SNAPSHOT] = buildSnapshot([], [])
  }

  /** What pi session `sessionId` used of every window (lib/session.js): its ledger, kept beside
   *  the cache, noted from this tracker's store. A promise: the ledger's file is read off the
   *  JS thread. */
  openSession(sessionId) {
    return openSession(this.#native, sessionId, this.#cachePath)
  }

  /** Each window's change since `at` (epoch ms), from the recorded history (read off the JS
   *  thread), by the rules of a session's count: `[{ providerId, modelId, windowId, unit,
   *  change, inUnit, balance, resets, from, to, points }]`, windows with a recorded course only. */
  async since(at) {
    if (typeof at !== 'number' || !Number.isFinite(at)) throw argTypeError(`since: expected epoch ms as a number, got ${typeName(at)}`)
    const windows = new Map() // providerId/modelId#windowId → what the store says of it
    for (const e of this.#native.entries()) {
      for (const w of e.windows) windows.set(`${e.providerId}/${e.modelId}#${w.id}`, { providerId: e.providerId, modelId: e.modelId, windowId: w.id, unit: w.unit ?? null, kind: w.kind })
    }
    for (const providerId of this.#native.providerIds()) {
      for (const windowId of this.#native.windowIds(providerId)) {
        const key = `${providerId}/default#${windowId}`
        if (!windows.has(key)) windows.set(key, { providerId, modelId: 'default', windowId, unit: null, kind: undefined })
      }
    }
    const out = []
    for (const w of windows.values()) {
      const balance = w.kind === undefined ? undefined : w.kind === 'balance'
      let c
      try {
        c = await windowChangeSince(this.#native, w.providerId, w.windowId, w.modelId, at, balance)
      } catch (err) {
        throw toJsError(err)
      }
      if (c.points > 0) out.push({ providerId: w.providerId, modelId: w.modelId, windowId: w.windowId, unit: c.inUnit ? w.unit : null, ...c })
    }
    return out
  }

  /** Limits the tracker enforces: `{ maxSnapshotsPerFetch, minIntervalMs }`. */
  static get limits() {
    return LIMITS
  }

  // Closures handed to the addon are made here, where nothing but their arguments is in
  // scope: a closure made in a method would keep that method's `this` alive.
  static #publisher(ref) {
    return (update) => ref.deref()?.#publish(update)
  }

  static #callback(ref, registration, name) {
    return async (generation) => {
      const tracker = ref.deref()
      if (tracker === undefined) throw new Error('the tracker was garbage-collected')
      return tracker.#runStrategy(registration, name, generation)
    }
  }

  #publish(update) {
    if (update.generation !== this.#generation) return // from a run that was stopped
    // A delta names the providers it carries; the rest of the snapshot is kept as it was.
    const snapshot = update.changed
      ? withProviders(this[SNAPSHOT], update.changed, update.entries, update.providers)
      : buildSnapshot(update.entries, update.providers)
    this[SNAPSHOT] = snapshot
    for (const listener of [...this.#listeners]) {
      try {
        listener(snapshot.entries)
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

  /** One provider's part of the snapshot read again (after it was registered or removed). */
  #resync(id) {
    const part = this.#native.providerPart(id)
    this[SNAPSHOT] = withProviders(this[SNAPSHOT], [id], part.entries, part.providers)
  }

  /** Runs one of a strategy's callbacks for the addon: always a promise, `ctx` from `start`,
   *  nothing from a stopped run or an unregistered strategy. */
  async #runStrategy(registration, name, generation) {
    if (generation !== this.#generation) throw new Error('tracker stopped')
    const strategy = this.#strategies.get(registration)
    if (strategy === undefined) throw new Error('provider unregistered')
    const scope = { tracker: this, id: strategy.id, name, running: true }
    try {
      return await inStrategy.run(scope, () => strategy[name](this.#ctx))
    } finally {
      scope.running = false
    }
  }

  registerProvider(strategy) {
    if (strategy == null || typeof strategy !== 'object') {
      throw argTypeError('registerProvider: strategy must be an object')
    }
    const { id, quotas, hasAuthentication, fetchUsage } = strategy
    if (typeof id !== 'string' || id.length === 0) {
      throw argTypeError('registerProvider: strategy.id must be a non-empty string')
    }
    if (typeof fetchUsage !== 'function') {
      throw argTypeError(`registerProvider('${excerpt(id)}'): strategy.fetchUsage must be a function`)
    }
    if (hasAuthentication !== undefined && typeof hasAuthentication !== 'function') {
      throw argTypeError(`registerProvider('${excerpt(id)}'): strategy.hasAuthentication must be a function`)
    }
    if (!Array.isArray(quotas)) {
      throw argTypeError(`registerProvider('${excerpt(id)}'): strategy.quotas must be an array`)
    }
    const notObject = quotas.findIndex((q) => q === null || typeof q !== 'object')
    if (notObject !== -1) {
      throw argTypeError(`registerProvider('${excerpt(id)}'): strategy.quotas[${notObject}] must be an object, got ${typeName(quotas[notObject])}`)
    }
    const max = LIMITS.maxSnapshotsPerFetch
    const registration = ++this.#registrations
    this.#strategies.set(registration, {
      id,
      hasAuthentication: hasAuthentication
        ? async (ctx) => Boolean(await hasAuthentication.call(strategy, ctx))
        : async () => true,
      fetchUsage: async (ctx) => {
        const snapshots = await fetchUsage.call(strategy, ctx)
        if (!Array.isArray(snapshots)) {
          const got = snapshots === null ? 'null' : typeof snapshots
          throw new TypeError(`fetchUsage must resolve to an array of usage snapshots, got ${got}`)
        }
        // Checked before the addon converts them: a million would stall this thread.
        if (snapshots.length > max) {
          throw new RangeError(`fetchUsage returned ${snapshots.length} snapshots; at most ${max} are accepted`)
        }
        return snapshots
      },
    })
    const ref = new WeakRef(this)
    try {
      callNative(() =>
        this.#native.registerProvider(
          id,
          quotas,
          UsageTracker.#callback(ref, registration, 'hasAuthentication'),
          UsageTracker.#callback(ref, registration, 'fetchUsage'),
        ),
      )
    } catch (err) {
      this.#strategies.delete(registration)
      throw err
    }
    this.#resync(id)
  }

  registerBuiltinProvider(id, options) {
    checkString(id, 'registerBuiltinProvider: id')
    if (options != null && (typeof options !== 'object' || Array.isArray(options))) {
      throw argTypeError(`registerBuiltinProvider('${excerpt(id)}'): options must be an object, got ${typeName(options)}`)
    }
    const instanceId = callNative(() => this.#native.registerBuiltinProvider(id, options ?? undefined))
    this.#resync(instanceId) // last known values from the shared cache show at once
    return instanceId
  }

  unregisterProvider(id) {
    const removed = this.#native.unregisterProvider(String(id))
    for (const [registration, strategy] of this.#strategies) {
      if (strategy.id === String(id)) this.#strategies.delete(registration)
    }
    this.#resync(String(id))
    return removed
  }

  start(ctx) {
    this.#ctx = ctx
    this.#generation = this.#native.start()
    unreachable.unregister(this)
    unreachable.register(this, this.#native, this)
  }

  /** Always a promise: it rejects, it never throws. */
  async stop() {
    unreachable.unregister(this)
    this.#generation = this.#native.retireGeneration()
    return this.#native.stop()
  }

  /** Always a promise: a bad argument rejects, it never throws. A refresh nobody waits for
   *  does not keep the process alive. */
  refresh(providerId) {
    if (!(#native in this)) return Promise.reject(new TypeError('refresh: not called on a UsageTracker'))
    if (providerId != null && typeof providerId !== 'string') {
      return Promise.reject(argTypeError(`refresh: providerId must be a string, got ${typeName(providerId)}`))
    }
    const scope = inStrategy.getStore()
    if (scope?.running && scope.tracker === this) {
      // The cycle waits for this very callback, so the refresh would wait for itself.
      const err = new Error(
        `refresh() called from inside ${scope.name} of provider '${excerpt(scope.id)}': the running cycle waits for that callback, so this refresh would wait for itself; call it after the callback has returned`,
      )
      err.code = 'ERR_REENTRANT_REFRESH'
      return Promise.reject(err)
    }
    const native = this.#native
    return RefreshPromise.begin((settle) => native.refresh(providerId ?? undefined, (failure) => settle(failure ? fromFailure(failure) : null)))
  }

  /** Usage from a model response's headers (pi's `after_provider_response`): merged into the
   *  store and published at once. Returns whether anything changed; never throws for bad headers. */
  observeResponse(providerId, status, headers) {
    if (typeof providerId !== 'string' || headers == null || typeof headers !== 'object') return false
    let read
    try {
      read = readableHeaders(headers)
    } catch {
      return false // a throwing getter or Proxy: nothing usable
    }
    return this.#native.observeResponse(providerId, Number.isInteger(status) && status >= 0 ? status : 0, read)
  }

  onUpdate(listener) {
    if (typeof listener !== 'function') throw argTypeError('onUpdate: listener must be a function')
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  onThreshold(listener) {
    if (typeof listener !== 'function') throw argTypeError('onThreshold: listener must be a function')
    this.#thresholdListeners.add(listener)
    return () => this.#thresholdListeners.delete(listener)
  }

  get(providerId, modelId) {
    checkString(providerId, 'get: providerId')
    checkOptionalString(modelId, 'get: modelId')
    return this.#native.get(providerId, modelId ?? undefined)
  }

  getWindow(providerId, windowId, modelId) {
    checkString(providerId, 'getWindow: providerId')
    checkString(windowId, 'getWindow: windowId')
    checkOptionalString(modelId, 'getWindow: modelId')
    return this.#native.getWindow(providerId, windowId, modelId ?? undefined)
  }

  entries() {
    return this.#native.entries()
  }

  /** The store as one view per provider: `{ id, label, plan, error, billing, warnings, models }`. */
  providers() {
    return this.#native.providers()
  }

  get running() {
    return this.#native.running
  }

  /** Why the shared cache is off (something other than a regular file at `cachePath`, or an
   *  oversized one), or `null` while it works or is disabled on purpose. */
  get cacheWarning() {
    return this.#native.cacheWarning ?? null
  }

  checkQuota(providerId, modelId) {
    checkString(providerId, 'checkQuota: providerId')
    checkOptionalString(modelId, 'checkQuota: modelId')
    return this.#native.checkQuota(providerId, modelId ?? undefined)
  }

  /** Each provider's most pressing window `{ providerId, modelId, windowId, level,
   *  remainingRatio }` (its most used; a balance when it has nothing else), the most urgent
   *  provider first: the addon's order for a footer too narrow for every window. */
  mostPressing() {
    return this.#native.mostPressing()
  }

  /** Milliseconds after a provider's last fetch during which `refresh()` takes that result
   *  from the shared cache instead of asking the service again (0 without a cache). */
  refreshHoldMs() {
    return this.#native.refreshHoldMs()
  }

  selectBest(providerIds, modelId) {
    if (!Array.isArray(providerIds)) throw argTypeError('selectBest: providerIds must be an array of provider ids')
    providerIds.forEach((id, i) => checkString(id, `selectBest: providerIds[${i}]`))
    checkOptionalString(modelId, 'selectBest: modelId')
    return this.#native.selectBest(providerIds, modelId ?? undefined)
  }

  /** The best of `[{ providerId, modelId }]` (e.g. the models pi has credentials for). */
  selectBestModel(candidates) {
    if (!Array.isArray(candidates)) throw argTypeError('selectBestModel: candidates must be an array of { providerId, modelId }')
    return callNative(() => this.#native.selectBestModel(candidates))
  }

  stats() {
    return this.#native.stats()
  }

  /** The recorded course of one window, oldest first: a promise of
   *  `[{ at, usedRatio, used?, remaining? }]`. The file is read off the JS thread; a bad
   *  argument rejects. */
  async history(providerId, windowId, options) {
    checkString(providerId, 'history: providerId')
    checkString(windowId, 'history: windowId')
    if (options != null && (typeof options !== 'object' || Array.isArray(options))) {
      throw argTypeError(`history: options must be an object, got ${typeName(options)}`)
    }
    checkOptionalString(options?.modelId, 'history: options.modelId')
    if (options?.since != null && typeof options.since !== 'number') {
      throw argTypeError(`history: options.since must be a number (epoch ms), got ${typeName(options.since)}`)
    }
    try {
      return await this.#native.history(providerId, windowId, options ?? undefined)
    } catch (err) {
      throw toJsError(err)
    }
  }

  /** Every reason the shared cache (`cacheWarning`) or the usage history is not working as it
   *  should; empty when both are fine. */
  warnings() {
    return this.#native.warnings()
  }

  /** Provider ids registered, in id order. */
  providerIds() {
    return this.#native.providerIds()
  }

  /** Window ids a provider declares in its quota definitions. */
  windowIds(providerId) {
    checkString(providerId, 'windowIds: providerId')
    return this.#native.windowIds(providerId)
  }

  /** The snapshot published by the last cycle: `{ entries, providers, byKey, windows }`, frozen. */
  get snapshot() {
    return this[SNAPSHOT]
  }
}

module.exports = { UsageTracker, SNAPSHOT, DEFAULT_MODEL, snapshotWindow }
