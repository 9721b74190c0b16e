//! The tracker's public face: options, registration, start/stop/refresh and the queries.
//! The cycle itself (fetch → resolve → store → events → publish) is in `cycle.rs`.

mod admit;
mod cycle;
mod observe;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};

use futures::future::{FutureExt, Shared};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::cache::SharedCache;
use crate::clock::Clock;
use crate::error::CoreError;
use crate::history::{History, HistoryPoint};
use crate::model::{
    FetchOutcome, ProviderView, QuotaDefinition, QuotaKind, ResolvedWindow, StoreEntry,
    DEFAULT_MODEL,
};
use crate::provider::{AccountKeys, BoxFuture, UsageProvider};
use crate::quota::{
    self, Candidate, QuotaCheck, Selection, ThresholdEvent, ThresholdTracker, Thresholds,
};
use crate::store::{Schedule, Store};
use crate::validate;

use admit::{Arrival, Origin, Prepared};
use cycle::Mode;

type RefreshInFlight = Shared<BoxFuture<()>>;

/// What listeners get once per cycle (the store as flat entries and as one view per
/// provider), or when one provider's values change (a delta: `changed`).
#[derive(Debug, Clone)]
pub struct CycleUpdate {
    /// Every entry, or (with `changed`) every entry of those providers only.
    pub entries: Vec<StoreEntry>,
    /// One view per provider of `entries`.
    pub providers: Vec<ProviderView>,
    pub events: Vec<ThresholdEvent>,
    /// A delta: only these providers changed, and `entries` holds all of theirs (none for a
    /// provider that has none now); the rest is as last published. `None`: the whole store.
    pub changed: Option<Vec<String>>,
}

/// Where updates go (the JS thread, in the addon). The returned future resolves once the
/// listeners have run, so `refresh()` can wait for them.
pub trait UpdateSink: Send + Sync + 'static {
    fn publish(&self, update: CycleUpdate) -> BoxFuture<()>;
}

#[derive(Debug, Clone)]
pub struct TrackerOptions {
    pub interval_ms: u64,
    pub max_backoff_multiplier: u32,
    pub request_timeout_ms: u64,
    /// Remaining ratios at which a window turns `warn` and `critical` (`checkQuota`: `low`).
    pub thresholds: Thresholds,
    pub cache_path: Option<PathBuf>,
    /// Record every stored value next to the cache (`history.rs`); off without a cache.
    pub history: bool,
}

impl Default for TrackerOptions {
    fn default() -> Self {
        Self {
            interval_ms: 60_000,
            max_backoff_multiplier: 8,
            request_timeout_ms: 30_000,
            thresholds: Thresholds::default(),
            cache_path: None,
            history: true,
        }
    }
}

impl TrackerOptions {
    /// Refuses values the tracker cannot run with, naming the option.
    pub fn check(&self) -> Result<(), CoreError> {
        let o = self;
        let bad = |field: &'static str, reason: &str| {
            Err(CoreError::InvalidOption {
                field,
                reason: reason.to_string(),
            })
        };
        if o.interval_ms < validate::MIN_INTERVAL_MS {
            return bad("intervalMs", "must be at least 1000 (ms)");
        }
        if o.max_backoff_multiplier == 0 {
            return bad("maxBackoffMultiplier", "must be at least 1");
        }
        if o.request_timeout_ms == 0 {
            return bad("requestTimeoutMs", "must be greater than 0");
        }
        let t = &o.thresholds;
        if !(0.0..=1.0).contains(&t.critical_at) {
            return bad("criticalAt", "must be between 0 and 1");
        }
        if !(0.0..=1.0).contains(&t.warn_at) {
            return bad("warnAt", "must be between 0 and 1");
        }
        if t.warn_at < t.critical_at {
            return bad("warnAt", "must not be below criticalAt");
        }
        if let Some(path) = &o.cache_path {
            crate::cache::SharedCache::validate_path(path)?;
        }
        Ok(())
    }

    /// Timer jitter tolerated when deciding whether a provider is due (5% of the interval, ≤ 2 s).
    fn due_slack_ms(&self) -> i64 {
        (self.interval_ms as i64 / 20).min(2_000)
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    pub providers: usize,
    pub entries: usize,
    pub active_entries: usize,
    pub exhausted_windows: usize,
    pub stale_entries: usize,
    pub last_cycle_ms: f64,
    pub cycles: u64,
    pub fetch_ok: u64,
    pub fetch_errors: u64,
    pub last_cycle_at: i64,
    pub cache_hits: u64,
    /// Model responses whose headers updated the store.
    pub observed_responses: u64,
    /// Scheduled polls skipped because traffic brought the values within the interval.
    pub requests_saved: u64,
}

struct Slot {
    provider: Arc<dyn UsageProvider>,
    schedule: Schedule,
    /// The last full result (fetched, cached or seeded) that observed headers merge into.
    last_outcome: Option<FetchOutcome>,
    /// Windows only headers have reported since that result (`observe.rs` bounds them).
    learned: Vec<observe::Learned>,
    /// When a model response last brought this provider's values.
    observed_at: Option<i64>,
    /// The account keys of the last full result, for observed values (reading them again
    /// under the state lock could run a credential command).
    keys: AccountKeys,
    /// When header-fed values were last written to the shared cache (`observe.rs`).
    share: observe::ShareState,
}

#[derive(Default)]
struct State {
    providers: BTreeMap<String, Slot>,
    store: Store,
    thresholds: ThresholdTracker,
    stats: Stats,
}

struct Inner {
    options: TrackerOptions,
    clock: Arc<dyn Clock>,
    sink: Arc<dyn UpdateSink>,
    cache: Option<SharedCache>,
    history: Option<History>,
    state: Mutex<State>,
    /// One cycle at a time: a refresh waits for the cycle in flight, then fetches again.
    cycle_lock: tokio::sync::Mutex<()>,
    /// Forced cycles in flight, by provider id (`None`: all), for `refresh()` to join.
    refreshing: Mutex<HashMap<Option<String>, RefreshInFlight>>,
    cancel: Mutex<CancellationToken>,
    loop_task: Mutex<Option<JoinHandle<()>>>,
    running: AtomicBool,
}

impl Inner {
    /// The store as JS and listeners see it: staleness as of now, each window's level set.
    fn published_entries(&self, state: &State) -> Vec<StoreEntry> {
        let mut entries = state
            .store
            .snapshot(self.clock.now_ms(), self.options.interval_ms);
        quota::assign_levels(&mut entries, &self.options.thresholds);
        entries
    }

    /// The published entries as one view per provider.
    fn provider_views(&self, state: &State, entries: &[StoreEntry]) -> Vec<ProviderView> {
        ProviderView::of_entries(entries, |id| {
            (state.providers.get(id)).map_or_else(|| id.to_string(), |s| s.provider.label())
        })
    }

    /// What to publish: the whole store, or only `only`'s providers (a delta, so one
    /// provider's change costs the JS thread that provider's entries, not the store's).
    /// Levels, threshold events and the views come from the entries published.
    fn update(&self, state: &mut State, only: Option<Vec<String>>) -> CycleUpdate {
        let entries = match &only {
            None => self.published_entries(state),
            Some(ids) => {
                let now = self.clock.now_ms();
                let interval = self.options.interval_ms;
                let mut entries: Vec<StoreEntry> = ids
                    .iter()
                    .flat_map(|id| state.store.provider_snapshot(id, now, interval))
                    .collect();
                quota::assign_levels(&mut entries, &self.options.thresholds);
                entries
            }
        };
        let events = state.thresholds.observe(&entries, &self.options.thresholds);
        let providers = self.provider_views(state, &entries);
        CycleUpdate {
            entries,
            providers,
            events,
            changed: only,
        }
    }
}

/// Never let a panic elsewhere poison the tracker for good.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Clone)]
pub struct Tracker {
    inner: Arc<Inner>,
}

impl Tracker {
    pub fn new(
        options: TrackerOptions,
        clock: Arc<dyn Clock>,
        sink: Arc<dyn UpdateSink>,
    ) -> Result<Self, CoreError> {
        options.check()?;
        let cache = options.cache_path.clone().map(SharedCache::new);
        let history = (options.cache_path.as_deref())
            .filter(|_| options.history)
            .map(|path| History::new(path, clock.clone()));
        Ok(Self {
            inner: Arc::new(Inner {
                options,
                clock,
                sink,
                cache,
                history,
                state: Mutex::new(State::default()),
                cycle_lock: tokio::sync::Mutex::new(()),
                refreshing: Mutex::new(HashMap::new()),
                cancel: Mutex::new(CancellationToken::new()),
                loop_task: Mutex::new(None),
                running: AtomicBool::new(false),
            }),
        })
    }

    pub fn register(&self, provider: Arc<dyn UsageProvider>) -> Result<(), CoreError> {
        let id = provider.id().to_string();
        validate::provider_id(&id)?;
        validate::quotas(provider.quotas())?;
        // Last known values from the shared cache show at once, marked stale. Read before the
        // state lock: no file is touched under it.
        let keys = provider.account_keys();
        let record = (self.inner.cache.as_ref())
            .zip(keys.cache.as_deref())
            .and_then(|(cache, fp)| cache.read_record(&id, fp));
        let samples = match (&self.inner.history, keys.history.as_deref()) {
            (Some(h), Some(key)) => h.samples_in_memory(&id, key),
            _ => Default::default(),
        };
        let now = self.inner.clock.now_ms();
        // Resolved before the state lock too.
        let seeded = record.map(|record| {
            let arrival = Arrival::Outcome {
                origin: Origin::Seeded,
                outcome: record.outcome,
                at: record.fetched_at,
            };
            let resolved =
                (self.inner).pre_resolve(provider.as_ref(), &keys, &arrival, &samples, now);
            (arrival, resolved)
        });
        let mut state = lock(&self.inner.state);
        if state.providers.contains_key(&id) {
            return Err(CoreError::DuplicateProvider(id));
        }
        state.providers.insert(
            id,
            Slot {
                provider: provider.clone(),
                schedule: Schedule::default(),
                last_outcome: None,
                learned: Vec::new(),
                observed_at: None,
                keys: AccountKeys::default(),
                share: observe::ShareState::default(),
            },
        );
        if let Some((arrival, resolved)) = seeded {
            // A record that fails the checks (a forged file) is not shown; nothing to follow up.
            let prepared = Prepared { samples, resolved };
            let p = provider.as_ref();
            let _ = (self.inner).admit(&mut state, p, keys, arrival, prepared, now);
        }
        Ok(())
    }

    pub fn unregister(&self, id: &str) -> bool {
        let mut state = lock(&self.inner.state);
        let Some(provider) = state.providers.get(id).map(|s| s.provider.clone()) else {
            return false;
        };
        let now = self.inner.clock.now_ms();
        let keys = AccountKeys::default();
        let gone = Arrival::Unregistered;
        let none = Prepared::default();
        let _ = (self.inner).admit(&mut state, provider.as_ref(), keys, gone, none, now);
        true
    }

    pub fn is_running(&self) -> bool {
        self.inner.running.load(Ordering::SeqCst)
    }

    /// Starts the loop on `handle`. Starting a running tracker does nothing.
    pub fn start(&self, handle: &Handle) {
        if self.inner.running.swap(true, Ordering::SeqCst) {
            return;
        }
        let cancel = lock(&self.inner.cancel).clone();
        let inner = self.inner.clone();
        let task = handle.spawn(async move {
            let mut ticker =
                tokio::time::interval(Duration::from_millis(inner.options.interval_ms));
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = ticker.tick() => {}
                }
                inner.run_cycle(Mode::Scheduled, &cancel).await;
            }
        });
        *lock(&self.inner.loop_task) = Some(task);
    }

    /// Cancels everything in flight and returns promptly; nothing is published after.
    pub async fn stop(&self) {
        self.inner.running.store(false, Ordering::SeqCst);
        let old = std::mem::replace(&mut *lock(&self.inner.cancel), CancellationToken::new());
        old.cancel();
        let task = lock(&self.inner.loop_task).take();
        if let Some(task) = task {
            // The loop only awaits cancellable futures, so this is quick; never wait long.
            let _ = tokio::time::timeout(Duration::from_millis(500), task).await;
        }
    }

    /// Fetches now (all providers, or one), ignoring interval and backoff but never a
    /// provider's `retryAt`; resolves after that update was published.
    pub async fn refresh(&self, provider_id: Option<&str>) -> Result<(), CoreError> {
        if let Some(id) = provider_id {
            if !lock(&self.inner.state).providers.contains_key(id) {
                return Err(CoreError::UnknownProvider(id.to_string()));
            }
        }
        self.shared_refresh(provider_id.map(str::to_string)).await;
        Ok(())
    }

    /// The forced cycle for `key` in flight, or a new one: concurrent `refresh()` calls for
    /// the same provider (or for all) share one request each, and all resolve after its
    /// publish. Whoever awaits drives it; it leaves the table when it ends.
    fn shared_refresh(&self, key: Option<String>) -> RefreshInFlight {
        let mut table = lock(&self.inner.refreshing);
        if let Some(running) = table.get(&key) {
            return running.clone();
        }
        let inner = self.inner.clone();
        let cancel = lock(&self.inner.cancel).clone();
        let own = key.clone();
        let run: BoxFuture<()> = Box::pin(async move {
            inner.run_cycle(Mode::Forced(own.as_deref()), &cancel).await;
            lock(&inner.refreshing).remove(&own);
        });
        let shared = run.shared();
        table.insert(key, shared.clone());
        shared
    }

    /// One scheduled cycle now, honouring interval, backoff and `retryAt` (the loop's step).
    pub async fn tick(&self) {
        let cancel = lock(&self.inner.cancel).clone();
        self.inner.run_cycle(Mode::Scheduled, &cancel).await;
    }

    pub fn entries(&self) -> Vec<StoreEntry> {
        self.inner.published_entries(&lock(&self.inner.state))
    }

    /// The store as one view per provider (`entries()` is the same data per model).
    pub fn providers(&self) -> Vec<ProviderView> {
        let state = lock(&self.inner.state);
        let entries = self.inner.published_entries(&state);
        self.inner.provider_views(&state, &entries)
    }

    /// One provider's entries and its view, as published (`entries()` and `providers()` of
    /// that provider only).
    pub fn provider_part(&self, provider_id: &str) -> (Vec<StoreEntry>, Vec<ProviderView>) {
        let now = self.inner.clock.now_ms();
        let state = lock(&self.inner.state);
        let mut entries =
            state
                .store
                .provider_snapshot(provider_id, now, self.inner.options.interval_ms);
        quota::assign_levels(&mut entries, &self.inner.options.thresholds);
        let views = self.inner.provider_views(&state, &entries);
        (entries, views)
    }

    /// Each provider's most pressing window, the most urgent provider first.
    pub fn most_pressing(&self) -> Vec<crate::urgency::Pressing> {
        crate::urgency::most_pressing(&self.entries())
    }

    /// How long after a provider's last fetch a `refresh` still takes that result from the
    /// shared cache instead of asking the service again (0 without a cache).
    pub fn refresh_hold_ms(&self) -> i64 {
        match self.inner.cache {
            Some(_) => crate::cache::fresh_for_ms(
                true,
                self.inner.options.interval_ms,
                self.inner.options.due_slack_ms(),
            ),
            None => 0,
        }
    }

    pub fn get(&self, provider_id: &str, model_id: &str) -> Option<StoreEntry> {
        let now = self.inner.clock.now_ms();
        let state = lock(&self.inner.state);
        let mut entry =
            state
                .store
                .view(provider_id, model_id, now, self.inner.options.interval_ms)?;
        quota::assign_levels(
            std::slice::from_mut(&mut entry),
            &self.inner.options.thresholds,
        );
        Some(entry)
    }

    pub fn get_window(
        &self,
        provider_id: &str,
        window_id: &str,
        model_id: &str,
    ) -> Option<ResolvedWindow> {
        let entry = self.get(provider_id, model_id)?;
        entry.windows.into_iter().find(|w| w.id == window_id)
    }

    pub fn check_quota(&self, provider_id: &str, model_id: &str) -> QuotaCheck {
        let now = self.inner.clock.now_ms();
        let opts = &self.inner.options;
        let state = lock(&self.inner.state);
        let model_entry = if model_id == DEFAULT_MODEL {
            None
        } else {
            state.store.get(provider_id, model_id)
        };
        let default_entry = state.store.get(provider_id, DEFAULT_MODEL);
        quota::check_quota(
            model_id,
            model_entry.as_ref(),
            default_entry.as_ref(),
            now,
            opts.interval_ms,
            &opts.thresholds,
        )
    }

    pub fn select_best(&self, provider_ids: &[String], model_id: &str) -> Selection {
        let candidates = provider_ids
            .iter()
            .map(|id| self.candidate(id, model_id, None))
            .collect();
        quota::select_best(candidates)
    }

    /// The best of `(provider, model)` pairs, by the same ranking as `select_best`.
    pub fn select_best_model(&self, pairs: &[(String, String)]) -> Selection {
        let candidates = pairs
            .iter()
            .map(|(p, m)| self.candidate(p, m, Some(m.clone())))
            .collect();
        quota::select_best(candidates)
    }

    fn candidate(&self, provider_id: &str, model_id: &str, named: Option<String>) -> Candidate {
        let plan = lock(&self.inner.state)
            .store
            .get(provider_id, DEFAULT_MODEL)
            .and_then(|e| e.plan.clone());
        Candidate {
            provider_id: provider_id.to_string(),
            model_id: named,
            check: self.check_quota(provider_id, model_id),
            plan,
        }
    }

    pub fn stats(&self) -> Stats {
        let now = self.inner.clock.now_ms();
        let state = lock(&self.inner.state);
        let interval = self.inner.options.interval_ms;
        let mut stats = state.stats.clone();
        stats.providers = state.providers.len();
        stats.entries = state.store.len();
        stats.active_entries = state.store.entries().filter(|e| e.active).count();
        stats.stale_entries = state
            .store
            .entries()
            .filter(|e| Store::is_stale(e, now, interval))
            .count();
        stats.exhausted_windows = state
            .store
            .entries()
            .filter(|e| e.active)
            .flat_map(|e| e.windows)
            .filter(|w| !w.unlimited && quota::is_exhausted(w.remaining_ratio))
            .count();
        stats
    }

    /// Why the shared cache is off or was ignored (a symlink, FIFO or oversized file at its
    /// path), when it is; tracking goes on without it.
    pub fn cache_warning(&self) -> Option<String> {
        self.inner.cache.as_ref().and_then(SharedCache::warning)
    }

    pub fn provider_ids(&self) -> Vec<String> {
        lock(&self.inner.state).providers.keys().cloned().collect()
    }

    /// The recorded course of one window of a provider's current account, oldest first,
    /// from `since` on; empty without a history (no cache, `history: false`, a JS provider).
    /// A per-model view of a multiplier pool reads the pool's course, ratios only (its amounts
    /// would be in another unit). The file is read and parsed on a blocking thread: a history
    /// can be tens of MiB and the caller's thread (pi's UI) must not wait for it.
    pub async fn history(
        &self,
        provider_id: &str,
        window_id: &str,
        model_id: &str,
        since: Option<i64>,
    ) -> Result<Vec<HistoryPoint>, CoreError> {
        Ok(self
            .history_reader(provider_id, window_id, model_id, since)?
            .await)
    }

    /// `history()` in two steps: what the caller got wrong is known at once (an unknown
    /// provider); the returned future reads the file.
    pub fn history_reader(
        &self,
        provider_id: &str,
        window_id: &str,
        model_id: &str,
        since: Option<i64>,
    ) -> Result<impl std::future::Future<Output = Vec<HistoryPoint>> + Send + 'static, CoreError>
    {
        let (provider, pooled) = {
            let state = lock(&self.inner.state);
            let slot = state
                .providers
                .get(provider_id)
                .ok_or_else(|| CoreError::UnknownProvider(provider_id.to_string()))?;
            // A per-model view of a pool, as the store holds it (the pool may be declared or
            // discovered in the answer).
            let pooled = model_id != DEFAULT_MODEL
                && state.store.get(provider_id, model_id).is_some_and(|e| {
                    e.windows
                        .iter()
                        .any(|w| w.id == window_id && w.kind == QuotaKind::MULTIPLIER)
                });
            (slot.provider.clone(), pooled)
        };
        let inner = self.inner.clone();
        let (provider_id, window_id) = (provider_id.to_string(), window_id.to_string());
        let model_id = if pooled { DEFAULT_MODEL } else { model_id }.to_string();
        let read = move || {
            let Some(history) = &inner.history else {
                return Vec::new();
            };
            // Reading the account reads pi's auth.json: also off the caller's thread.
            let Some(fp) = provider.account_keys().history else {
                return Vec::new();
            };
            let mut points = history.points(&provider_id, &fp, &window_id, &model_id, since);
            if pooled {
                for p in &mut points {
                    p.used = None;
                    p.remaining = None;
                }
            }
            points
        };
        let wanted = self.inner.history.is_some();
        Ok(async move {
            if !wanted {
                return Vec::new();
            }
            tokio::task::spawn_blocking(read).await.unwrap_or_default()
        })
    }

    /// Why the shared cache or the history is not doing its job, for the caller to show once.
    pub fn warnings(&self) -> Vec<String> {
        let cache = self.inner.cache.as_ref().and_then(|c| c.warning());
        let history = self.inner.history.as_ref().and_then(|h| h.warning());
        cache.into_iter().chain(history).collect()
    }

    pub fn quotas_of(&self, provider_id: &str) -> Option<Vec<QuotaDefinition>> {
        lock(&self.inner.state)
            .providers
            .get(provider_id)
            .map(|s| s.provider.quotas().to_vec())
    }
}
