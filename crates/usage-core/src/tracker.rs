//! The update loop (DESIGN §4): every interval, all due providers are fetched concurrently,
//! each under a timeout; results go to the store; the sink is told once per cycle.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};
use tokio::runtime::Handle;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::cache::{CacheLookup, SharedCache, DATA_LOCK_WAIT};
use crate::error::CoreError;
use crate::model::{
    ErrorKind, FetchError, FetchOutcome, QuotaDefinition, QuotaKind, ResolvedWindow, StoreEntry,
    DEFAULT_MODEL,
};
use crate::quota::{self, Candidate, QuotaCheck, Selection, ThresholdEvent, ThresholdTracker};
use crate::resolve::{resolve_snapshots, validate_snapshot};
use crate::store::{Schedule, Store};

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A source of usage: a built-in provider or a strategy written in JS.
pub trait UsageProvider: Send + Sync + 'static {
    fn id(&self) -> &str;
    fn quotas(&self) -> &[QuotaDefinition];
    fn has_authentication(&self) -> BoxFuture<Result<bool, FetchError>>;
    fn fetch_usage(&self) -> BoxFuture<Result<FetchOutcome, FetchError>>;
    /// A non-reversible fingerprint of the account, for the shared cache. `None` keeps the
    /// provider out of the cache (JS strategies: we cannot know whose data they return).
    fn account_fingerprint(&self) -> Option<String> {
        None
    }
}

pub trait Clock: Send + Sync + 'static {
    fn now_ms(&self) -> i64;
}

/// Epoch ms from the system clock (0 if it reads before 1970).
pub fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        wall_clock_ms()
    }
}

/// What listeners get once per cycle.
#[derive(Debug, Clone)]
pub struct CycleUpdate {
    pub entries: Vec<StoreEntry>,
    pub events: Vec<ThresholdEvent>,
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
    pub low_quota_threshold: f64,
    pub cache_path: Option<PathBuf>,
}

impl Default for TrackerOptions {
    fn default() -> Self {
        Self {
            interval_ms: 60_000,
            max_backoff_multiplier: 8,
            request_timeout_ms: 30_000,
            low_quota_threshold: 0.10,
            cache_path: None,
        }
    }
}

impl TrackerOptions {
    pub fn validate(&self) -> Result<(), CoreError> {
        let bad = |field: &'static str, reason: &str| {
            Err(CoreError::InvalidOption {
                field,
                reason: reason.to_string(),
            })
        };
        if self.interval_ms == 0 {
            return bad("intervalMs", "must be greater than 0");
        }
        if self.max_backoff_multiplier == 0 {
            return bad("maxBackoffMultiplier", "must be at least 1");
        }
        if self.request_timeout_ms == 0 {
            return bad("requestTimeoutMs", "must be greater than 0");
        }
        if !(0.0..=1.0).contains(&self.low_quota_threshold) {
            return bad("lowQuotaThreshold", "must be between 0 and 1");
        }
        if let Some(path) = &self.cache_path {
            SharedCache::validate_path(path)?;
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
}

struct Slot {
    provider: Arc<dyn UsageProvider>,
    schedule: Schedule,
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
    state: Mutex<State>,
    /// One cycle at a time: a refresh waits for the cycle in flight, then fetches again.
    cycle_lock: tokio::sync::Mutex<()>,
    cancel: Mutex<CancellationToken>,
    loop_task: Mutex<Option<JoinHandle<()>>>,
    running: AtomicBool,
}

/// Never let a panic elsewhere poison the tracker for good.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

enum FetchResult {
    Fetched(FetchOutcome),
    /// Another process fetched it recently: use its result, not the network.
    Cached(FetchOutcome, i64),
    NoAuth,
    Failed(FetchError),
}

#[derive(Clone, Copy, PartialEq)]
enum Mode<'a> {
    Scheduled,
    Forced(Option<&'a str>),
}

#[derive(Clone)]
pub struct Tracker {
    inner: Arc<Inner>,
}

fn validate_quotas(quotas: &[QuotaDefinition]) -> Result<(), CoreError> {
    let mut seen = std::collections::HashSet::new();
    for (i, q) in quotas.iter().enumerate() {
        let bad = |reason: String| {
            Err(CoreError::InvalidQuota {
                index: i,
                id: q.id.clone(),
                reason,
            })
        };
        if q.id.is_empty() {
            return bad("`id` must be a non-empty string".into());
        }
        if !seen.insert(q.id.as_str()) {
            return bad(format!("duplicate quota id '{}'", q.id));
        }
        if let Some(d) = q.duration_secs {
            if !d.is_finite() || d <= 0.0 {
                return bad(format!("`duration` must be a positive number, got {d}"));
            }
        }
        match &q.kind {
            QuotaKind::Duration if q.duration_secs.is_none() => {
                return bad("`duration` is required".into())
            }
            QuotaKind::Amount { amount } if !amount.is_finite() || *amount < 0.0 => {
                return bad(format!(
                    "`amount` must be a non-negative number, got {amount}"
                ));
            }
            QuotaKind::Multiplier {
                base_amount,
                multipliers,
            } => {
                if !base_amount.is_finite() || *base_amount < 0.0 {
                    return bad(format!(
                        "`baseAmount` must be a non-negative number, got {base_amount}"
                    ));
                }
                if let Some((model, m)) = multipliers
                    .iter()
                    .find(|(_, m)| !m.is_finite() || **m < 0.0)
                {
                    return bad(format!(
                        "`multipliers.{model}` must be a non-negative number, got {m}"
                    ));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

impl Tracker {
    pub fn new(
        options: TrackerOptions,
        clock: Arc<dyn Clock>,
        sink: Arc<dyn UpdateSink>,
    ) -> Result<Self, CoreError> {
        options.validate()?;
        let cache = options.cache_path.clone().map(SharedCache::new);
        Ok(Self {
            inner: Arc::new(Inner {
                options,
                clock,
                sink,
                cache,
                state: Mutex::new(State::default()),
                cycle_lock: tokio::sync::Mutex::new(()),
                cancel: Mutex::new(CancellationToken::new()),
                loop_task: Mutex::new(None),
                running: AtomicBool::new(false),
            }),
        })
    }

    pub fn options(&self) -> &TrackerOptions {
        &self.inner.options
    }

    pub fn register(&self, provider: Arc<dyn UsageProvider>) -> Result<(), CoreError> {
        let id = provider.id().to_string();
        if id.is_empty() || id.contains('/') {
            return Err(CoreError::InvalidProviderId(id));
        }
        validate_quotas(provider.quotas())?;
        let mut state = lock(&self.inner.state);
        if state.providers.contains_key(&id) {
            return Err(CoreError::DuplicateProvider(id));
        }
        // Last known values from the shared cache show at once, marked stale.
        if let (Some(cache), Some(fp)) = (&self.inner.cache, provider.account_fingerprint()) {
            if let Some(record) = cache.read_record(&id, &fp) {
                let now = self.inner.clock.now_ms();
                let res = resolve_snapshots(
                    &record.outcome.quotas_with(provider.quotas()),
                    &record.outcome.snapshots,
                    now,
                );
                let mut scratch = Store::new();
                scratch.apply_success(
                    &id,
                    res.windows_by_model,
                    record.outcome.plan.clone(),
                    record.fetched_at,
                );
                state.store.seed_from_cache(scratch.provider_entries(&id));
            }
        }
        state.providers.insert(
            id,
            Slot {
                provider,
                schedule: Schedule::default(),
            },
        );
        Ok(())
    }

    pub fn unregister(&self, id: &str) -> bool {
        let mut state = lock(&self.inner.state);
        let existed = state.providers.remove(id).is_some();
        state.store.remove_provider(id);
        state.thresholds.forget_provider(id);
        existed
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
        let cancel = lock(&self.inner.cancel).clone();
        self.inner
            .run_cycle(Mode::Forced(provider_id), &cancel)
            .await;
        Ok(())
    }

    /// One scheduled cycle now, honouring interval, backoff and `retryAt` (the loop's step).
    pub async fn tick(&self) {
        let cancel = lock(&self.inner.cancel).clone();
        self.inner.run_cycle(Mode::Scheduled, &cancel).await;
    }

    pub fn entries(&self) -> Vec<StoreEntry> {
        let now = self.inner.clock.now_ms();
        lock(&self.inner.state)
            .store
            .snapshot(now, self.inner.options.interval_ms)
    }

    pub fn get(&self, provider_id: &str, model_id: &str) -> Option<StoreEntry> {
        let now = self.inner.clock.now_ms();
        let state = lock(&self.inner.state);
        state
            .store
            .view(provider_id, model_id, now, self.inner.options.interval_ms)
    }

    pub fn get_window(
        &self,
        provider_id: &str,
        window_id: &str,
        model_id: &str,
    ) -> Option<ResolvedWindow> {
        let state = lock(&self.inner.state);
        let entry = state.store.get(provider_id, model_id)?;
        entry.windows.iter().find(|w| w.id == window_id).cloned()
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
            model_entry,
            default_entry,
            now,
            opts.interval_ms,
            opts.low_quota_threshold,
        )
    }

    pub fn select_best(&self, provider_ids: &[String], model_id: &str) -> Selection {
        let candidates = provider_ids
            .iter()
            .map(|id| {
                let plan = lock(&self.inner.state)
                    .store
                    .get(id, DEFAULT_MODEL)
                    .and_then(|e| e.plan.clone());
                Candidate {
                    provider_id: id.clone(),
                    check: self.check_quota(id, model_id),
                    plan,
                }
            })
            .collect();
        quota::select_best(candidates)
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
            .flat_map(|e| e.windows.iter())
            .filter(|w| !w.unlimited && quota::is_exhausted(w.remaining_ratio))
            .count();
        stats
    }

    pub fn provider_ids(&self) -> Vec<String> {
        lock(&self.inner.state).providers.keys().cloned().collect()
    }

    pub fn quotas_of(&self, provider_id: &str) -> Option<Vec<QuotaDefinition>> {
        lock(&self.inner.state)
            .providers
            .get(provider_id)
            .map(|s| s.provider.quotas().to_vec())
    }
}

impl Inner {
    async fn run_cycle(&self, mode: Mode<'_>, cancel: &CancellationToken) {
        let _cycle = tokio::select! {
            guard = self.cycle_lock.lock() => guard,
            _ = cancel.cancelled() => return,
        };
        let started = Instant::now();
        let now = self.clock.now_ms();
        let opts = &self.options;
        let due: Vec<Arc<dyn UsageProvider>> = {
            let mut state = lock(&self.state);
            state
                .providers
                .values_mut()
                .filter(|slot| match mode {
                    Mode::Forced(only) => {
                        only.is_none_or(|id| id == slot.provider.id())
                            && !slot.schedule.blocked_by_retry_at(now)
                    }
                    Mode::Scheduled => slot.schedule.is_due(
                        now,
                        opts.interval_ms,
                        opts.max_backoff_multiplier,
                        opts.due_slack_ms(),
                    ),
                })
                .map(|slot| {
                    slot.schedule.last_attempt = Some(now);
                    slot.provider.clone()
                })
                .collect()
        };
        let forced = matches!(mode, Mode::Forced(_));
        let mut pending: FuturesUnordered<_> = due
            .iter()
            .map(|p| async move { (p, self.fetch_one(p.clone(), forced, now, cancel).await) })
            .collect();
        // Each result reaches the store as soon as it arrives, so a hung provider holds back
        // nobody's values; listeners still run once, when the cycle is complete.
        loop {
            let next = tokio::select! {
                biased;
                _ = cancel.cancelled() => return,
                next = pending.next() => next,
            };
            let Some((provider, result)) = next else {
                break;
            };
            let mut state = lock(&self.state);
            if cancel.is_cancelled() {
                return;
            }
            self.apply(&mut state, provider.as_ref(), result, now);
        }
        drop(pending);

        let update = {
            let mut state = lock(&self.state);
            let entries = state.store.snapshot(self.clock.now_ms(), opts.interval_ms);
            let events = state.thresholds.observe(&entries, opts.low_quota_threshold);
            state.stats.cycles += 1;
            state.stats.last_cycle_ms = started.elapsed().as_secs_f64() * 1000.0;
            state.stats.last_cycle_at = now;
            CycleUpdate { entries, events }
        };
        if cancel.is_cancelled() {
            return;
        }
        tokio::select! {
            biased;
            _ = cancel.cancelled() => {},
            _ = self.sink.publish(update) => {},
        }
    }

    fn apply(
        &self,
        state: &mut State,
        provider: &dyn UsageProvider,
        result: FetchResult,
        now: i64,
    ) {
        let id = provider.id().to_string();
        // A provider unregistered while its fetch ran leaves no trace.
        let Some(slot) = state.providers.get_mut(&id) else {
            return;
        };
        let (outcome, fetched_at) = match result {
            FetchResult::Fetched(outcome) => {
                state.stats.fetch_ok += 1;
                (outcome, now)
            }
            FetchResult::Cached(outcome, at) => {
                state.stats.cache_hits += 1;
                (outcome, at)
            }
            FetchResult::NoAuth => {
                slot.schedule.fails = 0;
                slot.schedule.retry_at = None;
                state.store.apply_no_auth(&id);
                return;
            }
            FetchResult::Failed(error) => {
                slot.schedule.fails += 1;
                slot.schedule.retry_at = error.retry_at;
                state.stats.fetch_errors += 1;
                state.store.apply_failure(&id, &error);
                return;
            }
        };
        slot.schedule.fails = 0;
        slot.schedule.retry_at = None;
        let quotas = outcome.quotas_with(provider.quotas());
        // Pace is computed against now, also for a result another process fetched.
        let res = resolve_snapshots(&quotas, &outcome.snapshots, now);
        state
            .store
            .apply_success(&id, res.windows_by_model, outcome.plan, fetched_at);
    }

    async fn fetch_one(
        &self,
        provider: Arc<dyn UsageProvider>,
        forced: bool,
        attempt_at: i64,
        cancel: &CancellationToken,
    ) -> FetchResult {
        let timeout = Duration::from_millis(self.options.request_timeout_ms);
        let id = provider.id().to_string();
        let fingerprint = provider.account_fingerprint();
        let shared = self.cache.as_ref().zip(fingerprint.as_deref());
        let work = async {
            match provider.has_authentication().await {
                Ok(false) => return FetchResult::NoAuth,
                Err(e) => return FetchResult::Failed(e),
                Ok(true) => {}
            }
            let Some((cache, fp)) = shared else {
                return fetch_validated(provider.as_ref()).await;
            };
            // Fresh for a scheduled poll: younger than the interval; for a forced refresh:
            // younger than 30 s, so N windows refreshing together make one request.
            let max_age = if forced {
                30_000.min(self.options.interval_ms as i64)
            } else {
                self.options.interval_ms as i64 - self.options.due_slack_ms()
            };
            let guard = cache.lock_provider(&id, fp, timeout).await;
            match cache.lookup(&id, fp, self.clock.now_ms(), max_age) {
                CacheLookup::Fresh(record) => return FetchResult::Cached(record.outcome, record.fetched_at),
                CacheLookup::RetryAt(at) => {
                    return FetchResult::Failed(
                        FetchError::new(
                            ErrorKind::RateLimited,
                            format!("{id}: rate limited (shared with other processes); retrying after the provider's Retry-After"),
                        )
                        .with_retry_at(at),
                    )
                }
                CacheLookup::Miss => {}
            }
            let result = fetch_validated(provider.as_ref()).await;
            // Stamped with when the fetch started, like `lastAttempt`: a slow fetch must not
            // make this process's own next tick find its result "fresh" and skip a poll.
            let write_wait = DATA_LOCK_WAIT.min(timeout / 4);
            match &result {
                FetchResult::Fetched(outcome) => {
                    cache
                        .write_success_async(&id, fp, outcome, attempt_at, write_wait)
                        .await
                }
                FetchResult::Failed(err) => {
                    cache
                        .write_failure_async(&id, fp, err, attempt_at, write_wait)
                        .await
                }
                _ => {}
            }
            drop(guard);
            result
        };
        tokio::select! {
            biased;
            // Dropped on stop; the caller discards it.
            _ = cancel.cancelled() => FetchResult::Failed(FetchError::new(ErrorKind::Network, "cancelled")),
            result = tokio::time::timeout(timeout, work) => match result {
                Ok(r) => r,
                Err(_) => FetchResult::Failed(FetchError::new(
                    ErrorKind::Timeout,
                    format!("{id}: no answer within {} ms", self.options.request_timeout_ms),
                )),
            },
        }
    }
}

async fn fetch_validated(provider: &dyn UsageProvider) -> FetchResult {
    match provider.fetch_usage().await {
        Ok(outcome) => {
            for (i, s) in outcome.snapshots.iter().enumerate() {
                if let Err(reason) = validate_snapshot(s, i) {
                    return FetchResult::Failed(FetchError::new(
                        ErrorKind::Provider,
                        format!("{}: fetchUsage returned bad data: {reason}", provider.id()),
                    ));
                }
            }
            FetchResult::Fetched(outcome)
        }
        Err(e) => FetchResult::Failed(e),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicI64, AtomicUsize};

    use super::*;
    use crate::model::UsageSnapshot;

    const T0: i64 = 1_800_000_000_000;
    const INTERVAL: u64 = 60_000;

    struct ManualClock(AtomicI64);

    impl ManualClock {
        fn advance(&self, ms: i64) {
            self.0.fetch_add(ms, Ordering::SeqCst);
        }
    }

    impl Clock for ManualClock {
        fn now_ms(&self) -> i64 {
            self.0.load(Ordering::SeqCst)
        }
    }

    #[derive(Default)]
    struct CountingSink(AtomicUsize);

    impl UpdateSink for CountingSink {
        fn publish(&self, _update: CycleUpdate) -> BoxFuture<()> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Box::pin(async {})
        }
    }

    type Behaviour =
        Box<dyn Fn(usize) -> BoxFuture<Result<FetchOutcome, FetchError>> + Send + Sync>;

    struct Fake {
        id: String,
        quotas: Vec<QuotaDefinition>,
        calls: Arc<AtomicUsize>,
        behaviour: Behaviour,
    }

    impl UsageProvider for Fake {
        fn id(&self) -> &str {
            &self.id
        }
        fn quotas(&self) -> &[QuotaDefinition] {
            &self.quotas
        }
        fn has_authentication(&self) -> BoxFuture<Result<bool, FetchError>> {
            Box::pin(async { Ok(true) })
        }
        fn fetch_usage(&self) -> BoxFuture<Result<FetchOutcome, FetchError>> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            (self.behaviour)(n)
        }
    }

    fn fake(id: &str, behaviour: Behaviour) -> (Arc<Fake>, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let quotas = vec![QuotaDefinition::new(
            "q",
            QuotaKind::Amount { amount: 10.0 },
        )];
        (
            Arc::new(Fake {
                id: id.into(),
                quotas,
                calls: calls.clone(),
                behaviour,
            }),
            calls,
        )
    }

    fn ok_used(used: f64) -> Result<FetchOutcome, FetchError> {
        let mut s = UsageSnapshot::new("q");
        s.used = Some(used);
        Ok(FetchOutcome {
            snapshots: vec![s],
            ..Default::default()
        })
    }

    fn tracker(clock: Arc<ManualClock>, sink: Arc<CountingSink>) -> Tracker {
        let options = TrackerOptions {
            interval_ms: INTERVAL,
            request_timeout_ms: 1_000,
            ..Default::default()
        };
        Tracker::new(options, clock, sink).unwrap()
    }

    #[tokio::test]
    async fn backoff_growth_capped_at_eight_intervals() {
        let clock = Arc::new(ManualClock(AtomicI64::new(T0)));
        let t = tracker(clock.clone(), Arc::default());
        let (p, calls) = fake(
            "down",
            Box::new(|_| Box::pin(async { Err(FetchError::new(ErrorKind::Server, "503")) })),
        );
        t.register(p).unwrap();
        let mut fetched_at_tick = Vec::new();
        for tick in 0..60 {
            let before = calls.load(Ordering::SeqCst);
            t.tick().await;
            if calls.load(Ordering::SeqCst) > before {
                fetched_at_tick.push(tick);
            }
            clock.advance(INTERVAL as i64);
        }
        let gaps: Vec<i64> = fetched_at_tick.windows(2).map(|w| w[1] - w[0]).collect();
        assert_eq!(gaps[..9], [2, 3, 4, 5, 6, 7, 8, 8, 8]);
        assert_eq!(
            t.get("down", "default").unwrap().fails as usize,
            calls.load(Ordering::SeqCst)
        );
    }

    #[tokio::test]
    async fn recovery_resets_fails_and_healthy_is_fetched_every_tick() {
        let clock = Arc::new(ManualClock(AtomicI64::new(T0)));
        let t = tracker(clock.clone(), Arc::default());
        let (p, calls) = fake(
            "flaky",
            Box::new(|n| {
                Box::pin(async move {
                    if n == 1 {
                        Err(FetchError::new(ErrorKind::Network, "x"))
                    } else {
                        ok_used(n as f64)
                    }
                })
            }),
        );
        t.register(p).unwrap();
        t.tick().await; // ok
        clock.advance(INTERVAL as i64);
        t.tick().await; // fails
        assert_eq!(
            t.get("flaky", "default").unwrap().windows[0].used,
            0.0,
            "last good kept"
        );
        clock.advance(2 * INTERVAL as i64);
        t.tick().await; // recovers
        let e = t.get("flaky", "default").unwrap();
        assert_eq!((e.fails, e.windows[0].used), (0, 2.0));
        for _ in 0..5 {
            clock.advance(INTERVAL as i64);
            t.tick().await;
        }
        assert_eq!(calls.load(Ordering::SeqCst), 8);
    }

    #[tokio::test]
    async fn forced_refresh_never_bypasses_retry_at() {
        let clock = Arc::new(ManualClock(AtomicI64::new(T0)));
        let sink = Arc::new(CountingSink::default());
        let t = tracker(clock.clone(), sink.clone());
        let (p, calls) = fake(
            "limited",
            Box::new(|_| {
                Box::pin(async {
                    Err(FetchError::new(ErrorKind::RateLimited, "429").with_retry_at(T0 + 300_000))
                })
            }),
        );
        t.register(p).unwrap();
        t.refresh(None).await.unwrap();
        t.refresh(None).await.unwrap();
        clock.advance(299_999);
        t.refresh(Some("limited")).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        clock.advance(1);
        t.refresh(None).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert_eq!(
            sink.0.load(Ordering::SeqCst),
            4,
            "listeners still run once per cycle"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn providers_run_concurrently_and_a_hung_one_times_out_alone() {
        let clock = Arc::new(ManualClock(AtomicI64::new(T0)));
        let t = tracker(clock, Arc::default());
        for id in ["a", "b", "c"] {
            let (p, _) = fake(
                id,
                Box::new(|_| {
                    Box::pin(async {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        ok_used(1.0)
                    })
                }),
            );
            t.register(p).unwrap();
        }
        let (hung, _) = fake("hung", Box::new(|_| Box::pin(std::future::pending())));
        t.register(hung).unwrap();
        let started = tokio::time::Instant::now();
        t.refresh(None).await.unwrap();
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(1_000) && took < Duration::from_millis(1_100),
            "{took:?}"
        );
        for id in ["a", "b", "c"] {
            assert_eq!(t.get(id, "default").unwrap().windows[0].used, 1.0);
        }
        let e = t.get("hung", "default").unwrap();
        assert_eq!(e.error.unwrap().kind, ErrorKind::Timeout);
    }

    #[tokio::test(start_paused = true)]
    async fn results_reach_the_store_while_a_hung_provider_is_still_pending() {
        let clock = Arc::new(ManualClock(AtomicI64::new(T0)));
        let sink = Arc::new(CountingSink::default());
        let t = tracker(clock, sink.clone());
        let (fast, _) = fake(
            "fast",
            Box::new(|_| {
                Box::pin(async {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    ok_used(3.0)
                })
            }),
        );
        let (hung, _) = fake("hung", Box::new(|_| Box::pin(std::future::pending())));
        t.register(fast).unwrap();
        t.register(hung).unwrap();
        let cycle = tokio::spawn({
            let t = t.clone();
            async move { t.refresh(None).await }
        });
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(t.get("fast", "default").unwrap().windows[0].used, 3.0);
        assert_eq!(
            sink.0.load(Ordering::SeqCst),
            0,
            "listeners wait for the whole cycle"
        );
        cycle.await.unwrap().unwrap();
        assert_eq!(sink.0.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn stop_during_a_hung_fetch_returns_promptly_and_publishes_nothing() {
        let clock = Arc::new(ManualClock(AtomicI64::new(T0)));
        let sink = Arc::new(CountingSink::default());
        let options = TrackerOptions {
            interval_ms: INTERVAL,
            request_timeout_ms: 60_000,
            ..Default::default()
        };
        let t = Tracker::new(options, clock, sink.clone()).unwrap();
        let (hung, calls) = fake("hung", Box::new(|_| Box::pin(std::future::pending())));
        t.register(hung).unwrap();
        t.start(&Handle::current());
        while calls.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let started = Instant::now();
        t.stop().await;
        assert!(started.elapsed() < Duration::from_millis(200));
        assert!(!t.is_running());
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(sink.0.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn duplicate_and_invalid_registrations_are_errors() {
        let t = tracker(Arc::new(ManualClock(AtomicI64::new(T0))), Arc::default());
        let (p, _) = fake("x", Box::new(|_| Box::pin(async { ok_used(0.0) })));
        t.register(p.clone()).unwrap();
        assert_eq!(
            t.register(p).unwrap_err(),
            CoreError::DuplicateProvider("x".into())
        );
        let (slash, _) = fake("a/b", Box::new(|_| Box::pin(async { ok_used(0.0) })));
        assert!(matches!(
            t.register(slash),
            Err(CoreError::InvalidProviderId(_))
        ));
        assert!(matches!(
            t.refresh(Some("nope")).await,
            Err(CoreError::UnknownProvider(_))
        ));
    }
}
