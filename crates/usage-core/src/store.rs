//! The store: one record per provider (its facts once, its models' windows), updated by the
//! success/failure/no-auth rules below, with the flat `provider/model` entries as a view of
//! it; plus each provider's fetch schedule (backoff and `retryAt`).

use std::collections::BTreeMap;

use crate::model::{store_key, ErrorKind, FetchError, ResolvedWindow, StoreEntry, DEFAULT_MODEL};
use crate::sanitize::{clean_text, MAX_MESSAGE_CHARS, MAX_NAME_CHARS};

/// When a provider was last tried and how it went; drives backoff.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Schedule {
    /// When the previous fetch *started*, epoch ms.
    pub last_attempt: Option<i64>,
    /// Not before this (a 429's `Retry-After`), even when forced.
    pub retry_at: Option<i64>,
}

impl Schedule {
    /// The wait after the last attempt: `interval × min(1 + fails, max_multiplier)`.
    pub fn backoff_ms(&self, fails: u32, interval_ms: u64, max_multiplier: u32) -> i64 {
        let multiplier = fails.saturating_add(1).min(max_multiplier.max(1));
        // Both factors come from the caller; saturate rather than wrap into "due at once".
        i64::try_from(interval_ms)
            .unwrap_or(i64::MAX)
            .saturating_mul(multiplier as i64)
    }

    /// Whether a scheduled (not forced) cycle at `now` should fetch. `slack_ms` absorbs
    /// timer jitter so a healthy provider is fetched on every tick, not every other one.
    /// `fails` is the provider's consecutive failures, as its store entries count them.
    pub fn is_due(
        &self,
        now: i64,
        fails: u32,
        interval_ms: u64,
        max_multiplier: u32,
        slack_ms: i64,
    ) -> bool {
        if self.blocked_by_retry_at(now) {
            return false;
        }
        match self.last_attempt {
            None => true,
            Some(last) => {
                last.saturating_add(self.backoff_ms(fails, interval_ms, max_multiplier)) - slack_ms
                    <= now
            }
        }
    }

    pub fn blocked_by_retry_at(&self, now: i64) -> bool {
        self.retry_at.is_some_and(|at| at > now)
    }
}

/// Everything the store knows of one provider: the facts of the provider (plan, error, fails,
/// whether it is active and up to date) once, and its models' windows. The unit of change: a
/// result, a failure or a lost login replaces one record.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProviderRecord {
    pub provider_id: String,
    /// Epoch ms of the last successful fetch; 0 = never.
    pub updated: i64,
    /// Consecutive failed fetches (the one counter backoff reads).
    pub fails: u32,
    pub active: bool,
    /// Seeded from another process's result and not fetched since.
    pub stale: bool,
    pub plan: Option<String>,
    pub error: Option<FetchError>,
    /// Each model's windows; a model without windows is still listed (a lost login clears
    /// the windows, not the models).
    pub models: BTreeMap<String, Vec<ResolvedWindow>>,
}

impl ProviderRecord {
    fn new(provider_id: &str) -> Self {
        Self {
            provider_id: provider_id.to_string(),
            active: true,
            ..Default::default()
        }
    }

    /// The flat entries of this record, one per model (`default` alone when it has none).
    pub fn entries(&self) -> Vec<StoreEntry> {
        if self.models.is_empty() {
            return vec![self.entry(DEFAULT_MODEL, Vec::new())];
        }
        (self.models.iter())
            .map(|(model, windows)| self.entry(model, windows.clone()))
            .collect()
    }

    fn entry(&self, model_id: &str, windows: Vec<ResolvedWindow>) -> StoreEntry {
        StoreEntry {
            key: store_key(&self.provider_id, model_id),
            provider_id: self.provider_id.clone(),
            model_id: model_id.to_string(),
            windows,
            updated: self.updated,
            fails: self.fails,
            active: self.active,
            stale: self.stale,
            plan: self.plan.clone(),
            error: self.error.clone(),
        }
    }

    fn get(&self, model_id: &str) -> Option<StoreEntry> {
        match self.models.get(model_id) {
            Some(windows) => Some(self.entry(model_id, windows.clone())),
            None if self.models.is_empty() && model_id == DEFAULT_MODEL => {
                Some(self.entry(DEFAULT_MODEL, Vec::new()))
            }
            None => None,
        }
    }
}

/// One record per provider; the flat `provider/model` entries are a view of them.
#[derive(Debug, Default, Clone)]
pub struct Store {
    records: BTreeMap<String, ProviderRecord>,
}

/// Model ids, window ids, units and plans come from providers (servers, user JS, the cache
/// file) and become store keys and footer text: every one passes here on its way in, so no
/// control or bidi character and no unbounded name ever reaches a key or a terminal.
fn clean_name(name: &str) -> String {
    clean_text(name, MAX_NAME_CHARS)
}

fn clean_error(error: &FetchError) -> FetchError {
    FetchError {
        message: clean_text(&error.message, MAX_MESSAGE_CHARS),
        ..error.clone()
    }
}

/// The windows per model with clean names. A name with nothing printable is dropped; names
/// that clean to the same text share one entry, the first window of each id kept.
fn clean_windows(
    windows_by_model: BTreeMap<String, Vec<ResolvedWindow>>,
) -> BTreeMap<String, Vec<ResolvedWindow>> {
    let mut out: BTreeMap<String, Vec<ResolvedWindow>> = BTreeMap::new();
    for (model_id, windows) in windows_by_model {
        let model_id = clean_name(&model_id);
        if model_id.is_empty() {
            continue;
        }
        let kept = out.entry(model_id.clone()).or_default();
        let mut ids: std::collections::HashSet<String> =
            kept.iter().map(|w| w.id.clone()).collect();
        for mut window in windows {
            window.id = clean_name(&window.id);
            if window.id.is_empty() || !ids.insert(window.id.clone()) {
                continue;
            }
            window.model_id = model_id.clone();
            window.unit = window.unit.as_deref().map(clean_name);
            kept.push(window);
        }
    }
    out
}

impl Store {
    pub fn new() -> Self {
        Self::default()
    }

    /// One provider's record.
    pub fn record(&self, provider_id: &str) -> Option<&ProviderRecord> {
        self.records.get(provider_id)
    }

    /// Every provider's record, by id.
    pub fn records(&self) -> impl Iterator<Item = &ProviderRecord> {
        self.records.values()
    }

    pub fn get(&self, provider_id: &str, model_id: &str) -> Option<StoreEntry> {
        self.records.get(provider_id)?.get(model_id)
    }

    /// Every entry, in `provider/model` key order.
    pub fn entries(&self) -> impl Iterator<Item = StoreEntry> {
        let mut all: Vec<StoreEntry> = self.records.values().flat_map(|r| r.entries()).collect();
        all.sort_by(|a, b| a.key.cmp(&b.key));
        all.into_iter()
    }

    pub fn len(&self) -> usize {
        self.records.values().map(|r| r.models.len().max(1)).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    fn record_mut(&mut self, provider_id: &str) -> &mut ProviderRecord {
        self.records
            .entry(provider_id.to_string())
            .or_insert_with(|| ProviderRecord::new(provider_id))
    }

    /// Success: each model's windows are replaced, fails reset, active; models the
    /// provider no longer reports are dropped.
    pub fn apply_success(
        &mut self,
        provider_id: &str,
        windows_by_model: BTreeMap<String, Vec<ResolvedWindow>>,
        plan: Option<String>,
        now: i64,
    ) {
        let mut models = clean_windows(windows_by_model);
        if models.is_empty() {
            // A provider that answered with no windows is still active and up to date.
            models.insert(DEFAULT_MODEL.to_string(), Vec::new());
        }
        let record = self.record_mut(provider_id);
        record.models = models;
        record.updated = now;
        record.fails = 0;
        record.active = true;
        record.stale = false;
        record.error = None;
        record.plan = plan.as_deref().map(clean_name);
    }

    /// No authentication: inactive, windows cleared, fails 0. `reason` says why a login that
    /// exists cannot be used (shown as an `auth` error).
    pub fn apply_no_auth(&mut self, provider_id: &str, reason: Option<String>) {
        let error = reason.map(|r| clean_error(&FetchError::new(ErrorKind::Auth, r)));
        let record = self.record_mut(provider_id);
        record.active = false;
        record.models.values_mut().for_each(Vec::clear);
        record.fails = 0;
        record.error = error;
        record.stale = false;
    }

    /// Failure: fails + 1, last good windows kept, the error recorded.
    pub fn apply_failure(&mut self, provider_id: &str, error: &FetchError) {
        let error = clean_error(error);
        let record = self.record_mut(provider_id);
        record.fails += 1;
        record.error = Some(error);
    }

    /// Fills a new provider's record from another process's result: values shown at once,
    /// marked stale until this process fetches.
    pub fn seed_from_cache(
        &mut self,
        provider_id: &str,
        windows_by_model: BTreeMap<String, Vec<ResolvedWindow>>,
        plan: Option<String>,
        fetched_at: i64,
    ) {
        self.apply_success(provider_id, windows_by_model, plan, fetched_at);
        self.record_mut(provider_id).stale = true;
    }

    /// Consecutive failed fetches of a provider (the one counter backoff reads).
    pub fn fails_of(&self, provider_id: &str) -> u32 {
        self.records.get(provider_id).map_or(0, |r| r.fails)
    }

    /// Forgets a provider; returns how many entries it had.
    pub fn remove_provider(&mut self, provider_id: &str) -> usize {
        self.records
            .remove(provider_id)
            .map_or(0, |r| r.models.len().max(1))
    }

    /// Stale: seeded from the cache and not fetched since, or older than two intervals.
    pub fn is_stale(e: &StoreEntry, now: i64, interval_ms: u64) -> bool {
        let old = e.updated > 0 && now - e.updated > 2 * interval_ms as i64;
        e.active && (e.stale || old)
    }

    fn reader_copy(e: &StoreEntry, now: i64, interval_ms: u64) -> StoreEntry {
        let mut copy = e.clone();
        copy.stale = Self::is_stale(e, now, interval_ms);
        copy
    }

    /// A copy of every entry for readers, with `stale` as of `now`.
    pub fn snapshot(&self, now: i64, interval_ms: u64) -> Vec<StoreEntry> {
        self.entries()
            .map(|e| Self::reader_copy(&e, now, interval_ms))
            .collect()
    }

    /// A copy of one provider's entries for readers, with `stale` as of `now`: its record
    /// only, whatever the rest of the store holds.
    pub fn provider_snapshot(
        &self,
        provider_id: &str,
        now: i64,
        interval_ms: u64,
    ) -> Vec<StoreEntry> {
        (self.records.get(provider_id))
            .map(|r| r.entries())
            .unwrap_or_default()
            .iter()
            .map(|e| Self::reader_copy(e, now, interval_ms))
            .collect()
    }

    /// A reader's copy of one entry, with `stale` as of `now`.
    pub fn view(
        &self,
        provider_id: &str,
        model_id: &str,
        now: i64,
        interval_ms: u64,
    ) -> Option<StoreEntry> {
        self.get(provider_id, model_id)
            .map(|e| Self::reader_copy(&e, now, interval_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ErrorKind, FetchError, QuotaDefinition, QuotaKind, UsageSnapshot};
    use crate::resolve::resolve_snapshots;

    const T0: i64 = 1_800_000_000_000;
    const MIN: u64 = 60_000;

    fn anthropic_quotas() -> Vec<QuotaDefinition> {
        vec![
            QuotaDefinition::new("5h", QuotaKind::Percentage).with_duration(18_000.0),
            QuotaDefinition::new("7d", QuotaKind::Percentage).with_duration(604_800.0),
        ]
    }

    fn pct(id: &str, used: f64) -> UsageSnapshot {
        let mut s = UsageSnapshot::new(id);
        s.used_ratio = Some(used);
        s
    }

    fn apply(
        store: &mut Store,
        provider: &str,
        quotas: &[QuotaDefinition],
        snaps: &[UsageSnapshot],
        now: i64,
    ) {
        let res = resolve_snapshots(quotas, snaps, now);
        store.apply_success(provider, res.windows_by_model, None, now);
    }

    #[test]
    fn anthropic_single_default_entry() {
        let mut store = Store::new();
        apply(
            &mut store,
            "anthropic",
            &anthropic_quotas(),
            &[pct("5h", 0.37), pct("7d", 0.64)],
            T0,
        );
        assert_eq!(store.len(), 1);
        let e = store.get("anthropic", "default").unwrap();
        assert_eq!(e.key, "anthropic/default");
        assert_eq!(e.windows.len(), 2);
        assert!(e.active && e.fails == 0 && e.updated == T0);
        assert!((e.windows[0].used - 37.0).abs() < 1e-9);
    }

    #[test]
    fn copilot_several_models_with_multipliers() {
        let quotas = vec![QuotaDefinition::new(
            "premium",
            QuotaKind::Multiplier {
                base_amount: 300.0,
                multipliers: [("gpt-4o".to_string(), 0.0), ("o1".to_string(), 4.0)].into(),
            },
        )];
        let mut s = UsageSnapshot::new("premium");
        s.remaining = Some(200.0);
        let mut store = Store::new();
        apply(&mut store, "github-copilot", &quotas, &[s], T0);
        let keys: Vec<_> = store.entries().map(|e| e.key).collect();
        assert_eq!(
            keys,
            [
                "github-copilot/default",
                "github-copilot/gpt-4o",
                "github-copilot/o1"
            ]
        );
        assert_eq!(
            store.get("github-copilot", "o1").unwrap().windows[0].remaining,
            50.0
        );
        assert!(store.get("github-copilot", "gpt-4o").unwrap().windows[0].unlimited);
    }

    #[test]
    fn antigravity_per_model_entries_and_vanished_models_dropped() {
        let quotas = vec![QuotaDefinition::new("quota", QuotaKind::Percentage)];
        let per = |model: &str, rem: f64| {
            let mut s = UsageSnapshot::new("quota");
            s.model_id = Some(model.into());
            s.remaining_ratio = Some(rem);
            s
        };
        let mut store = Store::new();
        apply(
            &mut store,
            "google-antigravity",
            &quotas,
            &[per("gemini-3-pro", 0.8), per("claude-sonnet", 0.25)],
            T0,
        );
        assert_eq!(store.len(), 2);
        assert_eq!(
            store
                .get("google-antigravity", "claude-sonnet")
                .unwrap()
                .windows[0]
                .remaining,
            25.0
        );
        apply(
            &mut store,
            "google-antigravity",
            &quotas,
            &[per("gemini-3-pro", 0.7)],
            T0 + 1,
        );
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn no_auth_deactivates_and_clears() {
        let mut store = Store::new();
        store.apply_no_auth("anthropic", None);
        let e = store.get("anthropic", "default").unwrap();
        assert!(!e.active && e.windows.is_empty());
        apply(
            &mut store,
            "anthropic",
            &anthropic_quotas(),
            &[pct("5h", 0.1)],
            T0,
        );
        store.apply_failure("anthropic", &FetchError::new(ErrorKind::Network, "down"));
        store.apply_no_auth("anthropic", None);
        let e = store.get("anthropic", "default").unwrap();
        assert!(!e.active && e.windows.is_empty() && e.fails == 0 && e.error.is_none());
    }

    #[test]
    fn failure_keeps_last_good_then_recovery_resets() {
        let mut store = Store::new();
        apply(
            &mut store,
            "anthropic",
            &anthropic_quotas(),
            &[pct("5h", 0.2)],
            T0,
        );
        let err = FetchError::new(ErrorKind::Server, "anthropic: HTTP 503");
        store.apply_failure("anthropic", &err);
        store.apply_failure("anthropic", &err);
        let e = store.get("anthropic", "default").unwrap();
        assert_eq!(e.fails, 2);
        assert_eq!(e.windows.len(), 1, "last good windows kept");
        assert_eq!(e.updated, T0);
        assert_eq!(e.error.as_ref().unwrap().kind, ErrorKind::Server);
        apply(
            &mut store,
            "anthropic",
            &anthropic_quotas(),
            &[pct("5h", 0.3)],
            T0 + 5,
        );
        let e = store.get("anthropic", "default").unwrap();
        assert!(e.fails == 0 && e.error.is_none() && e.updated == T0 + 5);
    }

    #[test]
    fn failure_counts_on_every_model_entry() {
        let quotas = vec![QuotaDefinition::new("quota", QuotaKind::Percentage)];
        let mut a = UsageSnapshot::new("quota");
        a.model_id = Some("a".into());
        let mut b = a.clone();
        b.model_id = Some("b".into());
        let mut store = Store::new();
        apply(&mut store, "p", &quotas, &[a, b], T0);
        store.apply_failure("p", &FetchError::new(ErrorKind::Timeout, "slow"));
        assert!(store.entries().all(|e| e.fails == 1));
    }

    #[test]
    fn unregister_deletes_only_that_provider() {
        let mut store = Store::new();
        apply(
            &mut store,
            "anthropic",
            &anthropic_quotas(),
            &[pct("5h", 0.2)],
            T0,
        );
        apply(
            &mut store,
            "anthropic-work",
            &anthropic_quotas(),
            &[pct("5h", 0.2)],
            T0,
        );
        assert_eq!(store.remove_provider("anthropic"), 1);
        assert!(store.get("anthropic", "default").is_none());
        assert!(
            store.get("anthropic-work", "default").is_some(),
            "prefix must not match"
        );
    }

    #[test]
    fn backoff_grows_with_fails_and_caps_at_max() {
        let s = Schedule {
            last_attempt: Some(T0),
            ..Default::default()
        };
        let waits: Vec<i64> = (0..12)
            .map(|fails| s.backoff_ms(fails, MIN, 8) / MIN as i64)
            .collect();
        assert_eq!(waits, [1, 2, 3, 4, 5, 6, 7, 8, 8, 8, 8, 8]);
        assert_eq!(
            s.backoff_ms(u32::MAX, MIN, 8),
            8 * MIN as i64,
            "no overflow"
        );
        assert!(!s.is_due(T0 + 3 * MIN as i64 - 1, 2, MIN, 8, 0));
        assert!(s.is_due(T0 + 3 * MIN as i64, 2, MIN, 8, 0));
    }

    #[test]
    fn huge_intervals_and_multipliers_saturate_instead_of_wrapping() {
        let s = Schedule {
            last_attempt: Some(T0),
            ..Default::default()
        };
        let interval = (1u64 << 53) - 1;
        assert_eq!(s.backoff_ms(u32::MAX, interval, u32::MAX), i64::MAX);
        assert!(!s.is_due(T0 + 1, 5, interval, u32::MAX, 0));
        let in_ten_years = T0 + 10 * 365 * 86_400_000;
        assert!(!s.is_due(in_ten_years, u32::MAX, interval, u32::MAX, 2_000));
    }

    #[test]
    fn healthy_provider_is_due_every_tick_despite_jitter() {
        let s = Schedule {
            last_attempt: Some(T0 + 40),
            ..Default::default()
        };
        // The next tick fires 15 ms "early" relative to when the last fetch started.
        assert!(s.is_due(T0 + MIN as i64 + 25, 0, MIN, 8, 1_000));
        assert!(!s.is_due(T0 + MIN as i64 + 25, 0, MIN, 8, 0));
    }

    #[test]
    fn retry_at_blocks_until_it_passes() {
        let s = Schedule {
            last_attempt: Some(T0),
            retry_at: Some(T0 + 10 * MIN as i64),
        };
        assert!(!s.is_due(T0 + 9 * MIN as i64, 1, MIN, 8, 0));
        assert!(s.blocked_by_retry_at(T0 + 9 * MIN as i64));
        assert!(s.is_due(T0 + 10 * MIN as i64, 1, MIN, 8, 0));
    }

    #[test]
    fn snapshot_marks_old_data_stale() {
        let mut store = Store::new();
        apply(
            &mut store,
            "anthropic",
            &anthropic_quotas(),
            &[pct("5h", 0.2)],
            T0,
        );
        assert!(!store.snapshot(T0 + 2 * MIN as i64, MIN)[0].stale);
        assert!(store.snapshot(T0 + 2 * MIN as i64 + 1, MIN)[0].stale);
    }

    #[test]
    fn cache_seed_is_stale_and_failures_count_once_per_provider() {
        let mut store = Store::new();
        let mut windows = BTreeMap::new();
        windows.insert(DEFAULT_MODEL.to_string(), Vec::new());
        store.seed_from_cache("codex", windows, Some("plus".into()), T0 - 5);
        let e = store.get("codex", "default").unwrap();
        assert!(e.stale && e.active && e.updated == T0 - 5);
        assert_eq!(store.fails_of("codex"), 0);
        store.apply_failure("codex", &FetchError::new(ErrorKind::Server, "503"));
        store.apply_failure("codex", &FetchError::new(ErrorKind::Server, "503"));
        assert_eq!(store.fails_of("codex"), 2);
        assert_eq!(store.fails_of("nobody"), 0);
    }

    #[test]
    fn names_and_messages_are_cleaned_where_they_enter_the_store() {
        let quotas = vec![
            QuotaDefinition::new("5h\u{1b}[2J", QuotaKind::Percentage),
            QuotaDefinition::new("5h", QuotaKind::Percentage),
            QuotaDefinition::new("\u{202e}", QuotaKind::Percentage),
        ];
        let snap = |id: &str, model: &str| {
            let mut s = pct(id, 0.5);
            s.model_id = Some(model.into());
            s
        };
        let long_model = "m".repeat(500);
        let snaps = [
            snap("5h\u{1b}[2J", "gpt\u{7}\u{1b}]0;title\u{7}-5"),
            snap("5h", "gpt-5"),
            snap("\u{202e}", "gpt-5"),
            snap("5h", "\u{0}\u{1b}"),
            snap("5h", &long_model),
        ];
        let mut store = Store::new();
        let res = resolve_snapshots(&quotas, &snaps, T0);
        store.apply_success(
            "p",
            res.windows_by_model,
            Some("pro\u{1b}[31m\n".into()),
            T0,
        );
        let keys: Vec<_> = store.entries().map(|e| e.key.clone()).collect();
        let cut = format!("p/{}…", "m".repeat(MAX_NAME_CHARS - 1));
        assert_eq!(keys, ["p/gpt-5".to_string(), cut]);
        let e = store.get("p", "gpt-5").unwrap();
        let ids: Vec<_> = e.windows.iter().map(|w| w.id.as_str()).collect();
        assert_eq!(ids, ["5h"], "colliding and empty window ids kept once");
        assert!(e.windows.iter().all(|w| w.model_id == "gpt-5"));
        assert_eq!(e.plan.as_deref(), Some("pro"));

        let long = format!("p: \u{1b}[2J{}", "x".repeat(10_000));
        store.apply_failure("p", &FetchError::new(ErrorKind::Server, long));
        let message = store.get("p", "gpt-5").unwrap().error.unwrap().message;
        assert!(message.starts_with("p: xxx") && message.chars().count() == MAX_MESSAGE_CHARS);
        store.apply_no_auth("p", Some("log in\u{1b}]8;;http://x\u{1b}\\ again".into()));
        let e = store.get("p", "gpt-5").unwrap();
        assert_eq!(e.error.as_ref().unwrap().message, "log in again");
    }
}

#[cfg(test)]
mod record_tests {
    use super::*;
    use crate::model::ProviderView;

    fn two_models() -> BTreeMap<String, Vec<ResolvedWindow>> {
        ["a", "b"]
            .into_iter()
            .map(|m| (m.to_string(), Vec::new()))
            .collect()
    }

    #[test]
    fn a_provider_s_facts_live_once_in_its_record_and_entries_are_its_view() {
        let mut store = Store::new();
        store.apply_success("p", two_models(), Some("pro".into()), 5);
        store.apply_failure("p", &FetchError::new(ErrorKind::Server, "503"));
        store.apply_failure("p", &FetchError::new(ErrorKind::Server, "503"));
        let record = store.record("p").unwrap();
        assert_eq!((record.fails, record.plan.as_deref()), (2, Some("pro")));
        assert_eq!(record.models.len(), 2);
        let entries: Vec<_> = store.entries().collect();
        assert_eq!(entries.len(), 2);
        assert!(entries
            .iter()
            .all(|e| e.fails == 2 && e.error == record.error));
        // A lost login clears the windows, not the models; the facts change once.
        store.apply_no_auth("p", Some("log in again".into()));
        assert_eq!(store.entries().filter(|e| !e.active).count(), 2);
        assert_eq!(store.fails_of("p"), 0);
        // One view per provider, its models under it.
        let views = ProviderView::of_entries(&store.snapshot(5, 60_000), |id| id.to_uppercase());
        assert_eq!(views.len(), 1);
        assert_eq!((views[0].label.as_str(), views[0].models.len()), ("P", 2));
        assert_eq!(views[0].error.as_ref().unwrap().message, "log in again");
        assert_eq!(store.remove_provider("p"), 2);
        assert!(store.is_empty() && store.entries().next().is_none());
    }

    #[test]
    fn a_failure_before_any_result_shows_one_default_entry() {
        let mut store = Store::new();
        store.apply_failure("p", &FetchError::new(ErrorKind::Network, "down"));
        let entries: Vec<_> = store.entries().collect();
        assert_eq!(entries.len(), 1);
        assert_eq!(
            (entries[0].model_id.as_str(), entries[0].fails),
            ("default", 1)
        );
        assert!(entries[0].active && entries[0].windows.is_empty());
    }
}
