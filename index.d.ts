// Package entry types: the generated binding's shapes plus the JS-side helpers under lib/.
import type {
  AuthFileProblem,
  BuiltinOptions,
  BuiltinProviderInfo,
  HistoryOptions,
  HistoryPoint,
  PiCredentialInfo,
  ProviderView,
  QuotaCheck,
  PressingWindow,
  ResolvedUsageWindow,
  Selection,
  SettingsRead,
  SessionSummary,
  CourseChange,
  ThresholdEvent,
  TrackerLimits,
  TrackerOptions,
  TrackerStats,
  UsageSnapshot,
  UsageStoreEntry,
} from './binding'

export type {
  AuthFileProblem,
  ExtensionSettings,
  SettingsRead,
  BuiltinCredentials,
  BuiltinProviderInfo,
  PiCredentialInfo,
  BuiltinOptions,
  EntryError,
  HistoryOptions,
  HistoryPoint,
  ModelWindows,
  PerModelLimit,
  ProviderView,
  QuotaCheck,
  PressingWindow,
  ResolvedUsageWindow,
  Selection,
  SelectionCandidate,
  SessionModelShare,
  SessionProvider,
  SessionSummary,
  SessionWindow,
  ThresholdEvent,
  TrackerLimits,
  TrackerOptions,
  TrackerStats,
  UsageSnapshot,
  UsageStoreEntry,
} from './binding'

export type QuotaWindowType = 'rolling' | 'fixed' | 'session'
export type QuotaResetBehavior = 'continuous' | 'calendar' | 'session-start'
export type QuotaAggregationStrategy = 'min' | 'max' | 'sum' | 'individual'
/** A built-in provider id: one of `BUILTIN_PROVIDERS` (the addon's table). */
export type BuiltinProviderId = string

interface QuotaBase {
  id: string
  modelIds?: string[]
  windowType?: QuotaWindowType
  resetBehavior?: QuotaResetBehavior
}
/** Total is the window length in seconds. */
export interface QuotaDurationDefinition extends QuotaBase {
  duration: number
}
/** Total is `amount` (requests, credits…); `duration` is the window length when known. */
export interface QuotaAmountDefinition extends QuotaBase {
  amount: number
  duration?: number
}
/** The provider reports percentages only: total is 100; `duration` is time metadata. */
export interface QuotaPercentageDefinition extends QuotaBase {
  percentageOnly: true
  duration?: number
}
/** A shared pool of `baseAmount`; a request of a model costs `multipliers[model]` (0 = free). */
export interface QuotaMultiplierDefinition extends QuotaBase {
  baseAmount: number
  multipliers: Record<string, number>
  duration?: number
}
/** Separate limits per model; `aggregationStrategy` adds a `default` view (min/max/sum). */
export interface QuotaBalanceDefinition extends QuotaBase {
  /** Prepaid money or credits with no limit; only what is left counts. */
  balance: true
  unit?: string
}
export interface QuotaPerModelDefinition extends QuotaBase {
  perModel: Record<string, { amount?: number; duration?: number }>
  aggregationStrategy?: QuotaAggregationStrategy
}
export type QuotaDefinition =
  | QuotaDurationDefinition
  | QuotaAmountDefinition
  | QuotaPercentageDefinition
  | QuotaMultiplierDefinition
  | QuotaPerModelDefinition
  | QuotaBalanceDefinition

/** The addon's kind of a quota definition (the tracker's rule), or null for one it refuses; the guards below ask it. */
export declare function quotaKind(q: QuotaDefinition): 'duration' | 'amount' | 'percentage' | 'multiplier' | 'perModel' | 'balance' | null
export declare function isQuotaDuration(q: QuotaDefinition): q is QuotaDurationDefinition
export declare function isQuotaAmount(q: QuotaDefinition): q is QuotaAmountDefinition
export declare function isQuotaPercentage(q: QuotaDefinition): q is QuotaPercentageDefinition
export declare function isQuotaMultiplier(q: QuotaDefinition): q is QuotaMultiplierDefinition
export declare function isQuotaPerModel(q: QuotaDefinition): q is QuotaPerModelDefinition
export declare function isQuotaBalance(q: QuotaDefinition): q is QuotaBalanceDefinition

/** A provider written in JS. Callbacks may be sync or async and get the `ctx` given to `start`.
 *  `fetchUsage` may return at most `UsageTracker.limits.maxSnapshotsPerFetch` snapshots; a
 *  callback must not await its own tracker's `refresh()` (it rejects with `ERR_REENTRANT_REFRESH`). */
export interface ProviderStrategy<Ctx = unknown> {
  id: string
  quotas: QuotaDefinition[]
  hasAuthentication?(ctx: Ctx): boolean | Promise<boolean>
  fetchUsage(ctx: Ctx): UsageSnapshot[] | Promise<UsageSnapshot[]>
}

/** What the tracker published with its last update; frozen, replaced once per cycle. */
export interface UsageSnapshotView {
  readonly entries: readonly UsageStoreEntry[]
  /** The same store, one view per provider (its facts once, its models' windows). */
  readonly providers: readonly ProviderView[]
  /** `provider/model` → entry */
  readonly byKey: ReadonlyMap<string, UsageStoreEntry>
  /** `provider/model#window` → window */
  /** providerId → modelId → windowId → window */
  readonly windows: ReadonlyMap<string, ReadonlyMap<string, ReadonlyMap<string, ResolvedUsageWindow>>>
}

/**
 * Keep a reference for as long as you want its updates: a tracker nobody references is
 * garbage-collected like any object, and a running one is then stopped.
 */
export declare class UsageTracker<Ctx = unknown> {
  /** Throws `TypeError` naming the field (`TrackerOptions.intervalMs: expected a number, got a string`);
   *  whole-number options must be whole numbers, `intervalMs` at least `limits.minIntervalMs`. */
  constructor(options?: TrackerOptions)
  /** What the tracker enforces: `{ maxSnapshotsPerFetch: 10000, minIntervalMs: 1000, maxResponseHeaders: 128, maxHeaderValueChars: 512 }`. */
  static readonly limits: Readonly<TrackerLimits>
  /** Throws TypeError naming the field for a bad strategy, quota or a duplicate id. */
  registerProvider(strategy: ProviderStrategy<Ctx>): void
  /** Returns the instance id (`options.id`, else `id`). */
  registerBuiltinProvider(id: BuiltinProviderId, options?: BuiltinOptions): string
  /** Its entries are deleted. */
  unregisterProvider(id: string): boolean
  /** `ctx` is handed to strategy callbacks. Starting a running tracker does nothing. */
  start(ctx?: Ctx): void
  /** Cancels fetches in flight and resolves promptly; no callback runs after. Rejects, never throws. */
  stop(): Promise<void>
  /**
   * Fetch now (all, or one provider), ignoring interval and backoff but never a `retryAt`;
   * resolves after the listeners ran. Rejects, never throws: `ERR_UNKNOWN_PROVIDER`,
   * `ERR_INVALID_ARG_TYPE`, or `ERR_REENTRANT_REFRESH` when called from inside one of this
   * tracker's strategy callbacks (the cycle waits for that callback). A refresh nobody waits
   * for does not keep the process alive; an awaited one does, until it settles.
   */
  refresh(providerId?: string): Promise<void>
  /** Once per cycle, after every provider finished. Returns unsubscribe. */
  /** Usage from a model response's headers (pi's `after_provider_response`), merged into the
   *  store and published at once; returns whether anything changed. */
  observeResponse(providerId: string, status: number, headers: Record<string, string | string[]>): boolean
  onUpdate(listener: (entries: UsageStoreEntry[]) => void): () => void
  /** Edge-triggered: once per crossing. Returns unsubscribe. */
  onThreshold(listener: (event: ThresholdEvent) => void): () => void
  get(providerId: string, modelId?: string): UsageStoreEntry | null
  getWindow(providerId: string, windowId: string, modelId?: string): ResolvedUsageWindow | null
  entries(): UsageStoreEntry[]
  /** The store as one view per provider: `{ id, label, plan, error, billing, warnings, models }`. */
  providers(): ProviderView[]
  readonly running: boolean
  /** Why the shared cache is off (a symlink, FIFO or device at `cachePath`, a file over
   *  8 MiB), or `null` while it works or was disabled on purpose; tracking goes on either way. */
  readonly cacheWarning: string | null
  checkQuota(providerId: string, modelId?: string): QuotaCheck
  /** Each provider's most pressing window (its most used; a balance when it has nothing else),
   *  the most urgent provider first: what a footer too narrow for every window keeps. */
  mostPressing(): PressingWindow[]
  /** Milliseconds after a provider's last fetch during which `refresh()` takes that result
   *  from the shared cache instead of asking the service again (0 without a cache). */
  refreshHoldMs(): number
  /** Best account: decision, then tier, then remaining ratio; says why. */
  selectBest(providerIds: string[], modelId?: string): Selection
  /** The best of several `(provider, model)` pairs (e.g. the models pi has credentials for). */
  selectBestModel(candidates: Array<{ providerId: string; modelId: string }>): Selection
  stats(): TrackerStats
  /**
   * The recorded course of one window of the provider's current account, oldest first
   * (`since`: epoch ms). Empty without a history: `cachePath: null`, `history: false`, or a
   * provider written in JS. A per-model view of a shared pool reads the pool's ratios; a point
   * stamped in the future (beyond five minutes of clock skew) is dropped. The file is read
   * and parsed off the JS thread. Rejects with `ERR_UNKNOWN_PROVIDER` for an id that is not
   * registered, with a `TypeError` for a bad argument.
   */
  history(providerId: string, windowId: string, options?: HistoryOptions): Promise<HistoryPoint[]>
  /** What pi session `sessionId` used of every window since it began (lib/session.js): its
   *  ledger, kept beside the cache (else in pi's agent dir) so a reload or a resumed session
   *  continues the count. Rejects with a `TypeError` for an id that is not a pi session id. */
  openSession(sessionId: string): Promise<SessionCost>
  /** Each window's change since `at` (epoch ms), from the recorded history (read off the JS
   *  thread), by the rules of a session's count (a reset counts use before and after it; a
   *  balance counts money spent). Windows with a recorded course only. */
  since(at: number): Promise<WindowSince[]>
  /** Why the shared cache or the usage history is not working as it should; empty when fine. */
  warnings(): string[]
  providerIds(): string[]
  windowIds(providerId: string): string[]
  /** The snapshot of the last update (what the footer factories read). */
  readonly snapshot: UsageSnapshotView
}

/** One window's change over its recorded course (`UsageTracker.since`). */
export interface WindowSince extends CourseChange {
  providerId: string
  modelId: string
  windowId: string
  /** The window's unit when `inUnit` and the store knows it; null: percent points. */
  unit: string | null
}

/** One pi session's ledger: `note()` after the store changed by a poll, `note({ providerId,
 *  modelId })` after a model response brought it; `summary()` the change of every window. */
export declare class SessionCost {
  note(response?: { providerId: string; modelId: string }): boolean
  summary(): SessionSummary
}

/** The built-in providers, from the addon's one table. */
export declare const BUILTIN_PROVIDERS: readonly Readonly<BuiltinProviderInfo>[]
export declare const BUILTIN_PROVIDER_IDS: readonly BuiltinProviderId[]
/** pi's agent dir as the tracker resolves it (`$PI_CODING_AGENT_DIR`, `~` expanded). */
export declare function agentDir(): string
/** What one of pi's auth.json entries means for a built-in provider's usage endpoint; never the
 *  token. Runs nothing: a `!command` key is described (`keyCommand: true`), not executed. */
export declare function credentialsFromPiAuth(providerId: BuiltinProviderId, entry: unknown): PiCredentialInfo | null
/** The pi extension's settings file as the addon reads it: every key's value, and each bad value in words (its default used). */
export declare function readSettings(): SettingsRead
/** Changes the settings file atomically, keeping keys not named; throws (TypeError) on a value the rules refuse, leaving the file as it was. */
export declare function saveSettings(changes: Record<string, unknown>): SettingsRead
/** What the last read of pi's auth.json in this process found wrong with the whole file; `null` when it was fine or absent. Reads nothing. */
export declare function piAuthProblem(): AuthFileProblem | null

/** Resolution of one snapshot by the addon's fallback chain (pure). */
export declare function resolveUsageWindow(quota: QuotaDefinition, snapshot: UsageSnapshot): ResolvedUsageWindow

/** A footer value reader: cheap enough for every render; `null` = no data. */
export type ContextValueProvider = () => number | null
type Factory = (tracker: UsageTracker<any>, platformId: string, windowId: string, modelId?: string) => ContextValueProvider

/** Time elapsed in the window, 0–100. */
export declare const createWindowProgressPercentageProvider: Factory
/** Seconds until reset. */
export declare const createWindowRemainingTimeProvider: Factory
/** Seconds elapsed in the window. */
export declare const createWindowUsedTimeProvider: Factory
/** Window length, seconds. */
export declare const createWindowTotalTimeProvider: Factory
/** Remaining, in the quota's unit. */
export declare const createWindowRemainingAmountProvider: Factory
/** Used, in the quota's unit. */
export declare const createWindowUsedAmountProvider: Factory
/** Total, in the quota's unit. */
export declare const createWindowTotalAmountProvider: Factory
/** usedRatio × 100. */
export declare const createWindowQuotaUsedPercentageProvider: Factory
/** remainingRatio × 100. */
export declare const createWindowQuotaRemainingPercentageProvider: Factory

/** Every known window of a platform × nine metrics, named `<platform>[/<model>].<window>.<metric>`. */
export declare function createPlatformContextProviders(
  tracker: UsageTracker<any>,
  platformId: string,
): Array<{ name: string; provider: ContextValueProvider }>
