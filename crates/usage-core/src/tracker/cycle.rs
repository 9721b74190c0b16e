//! One cycle: pick the due providers, fetch them concurrently (each under the timeout and
//! the shared cache's lock), resolve each result into the store as it arrives, then compute
//! threshold events and publish once.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};
use tokio_util::sync::CancellationToken;

use super::{lock, Inner, State};
use crate::cache::{self, CacheLookup, CacheWrite, ProviderLock, DATA_LOCK_WAIT};
use crate::model::{ErrorKind, FetchError, FetchOutcome, ResolvedWindow};
use crate::provider::{Authentication, UsageProvider};
use crate::providers::http::cap_retry_at;
use crate::resolve::resolve_snapshots;
use crate::validate;

pub(super) enum FetchResult {
    Fetched(FetchOutcome),
    /// Another process fetched it recently: use its result, not the network.
    Cached(FetchOutcome, i64),
    /// No usable credentials; the reason when there is a login this provider cannot use.
    NoAuth(Option<String>),
    Failed(FetchError),
}

/// A stored result for the history, stamped like the cache stamps it (when its fetch
/// started), so every process that takes it records the same point.
pub(super) struct ToRecord {
    fp: String,
    windows: Vec<ResolvedWindow>,
    at: i64,
}

/// A result to write to the shared cache at the cycle's end, and the account's fetch lock
/// held until then.
pub(super) struct Share {
    lock: ProviderLock,
    write: CacheWrite,
}

/// A success resolved outside the state lock.
pub(super) struct Resolved {
    windows: BTreeMap<String, Vec<ResolvedWindow>>,
    history_key: Option<String>,
}

#[derive(Clone, Copy, PartialEq)]
pub(super) enum Mode<'a> {
    Scheduled,
    Forced(Option<&'a str>),
}

impl Inner {
    pub(super) async fn run_cycle(&self, mode: Mode<'_>, cancel: &CancellationToken) {
        let _cycle = tokio::select! {
            guard = self.cycle_lock.lock() => guard,
            _ = cancel.cancelled() => return,
        };
        let started = Instant::now();
        let now = self.clock.now_ms();
        let opts = &self.options;
        let due: Vec<Arc<dyn UsageProvider>> = {
            let mut guard = lock(&self.state);
            let state = &mut *guard;
            state
                .providers
                .values_mut()
                .filter(|slot| slot.provider.polls())
                .filter(|slot| match mode {
                    Mode::Forced(only) => {
                        only.is_none_or(|id| id == slot.provider.id())
                            && !slot.schedule.blocked_by_retry_at(now)
                    }
                    Mode::Scheduled => {
                        let due = slot.schedule.is_due(
                            now,
                            state.store.fails_of(slot.provider.id()),
                            opts.interval_ms,
                            opts.max_backoff_multiplier,
                            opts.due_slack_ms(),
                        );
                        // Traffic brought fresh values within the interval: no request needed.
                        let fresh = slot.observed_at.is_some_and(|at| {
                            now - at < opts.interval_ms as i64 - opts.due_slack_ms()
                        });
                        if due && fresh {
                            state.stats.requests_saved += 1;
                        }
                        due && !fresh
                    }
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
            .map(|p| async move {
                // Read once per fetch: the cache's key for its lock and record, the history's
                // for what is recorded (after a key command, if any, has run).
                p.prepare().await;
                let keys = p.account_keys();
                let (result, share) = self
                    .fetch_one(p.clone(), keys.cache.as_deref(), forced, now, cancel)
                    .await;
                (p, keys.history, result, share)
            })
            .collect();
        // Each result reaches the store as soon as it arrives, so a hung provider holds back
        // nobody's values; listeners still run once, when the cycle is complete, and the
        // shared cache is written once, with every result (each account's fetch lock held
        // until then, so a peer waits for the result rather than fetching again).
        let mut shares: Vec<Share> = Vec::new();
        loop {
            let next = tokio::select! {
                biased;
                _ = cancel.cancelled() => return,
                next = pending.next() => next,
            };
            let Some((provider, history_key, result, share)) = next else {
                break;
            };
            shares.extend(share);
            // Resolved (and paced from the history) before the state lock is taken: readers on
            // the JS thread never wait for a resolution or a file.
            let resolved = self.resolve_result(provider.as_ref(), history_key, &result, now);
            let recorded = {
                let mut state = lock(&self.state);
                if cancel.is_cancelled() {
                    return;
                }
                self.apply(&mut state, provider.as_ref(), resolved, result, now)
            };
            if let (Some(history), Some(r)) = (&self.history, recorded) {
                tokio::select! {
                    biased;
                    _ = cancel.cancelled() => return,
                    _ = history.record(provider.id(), &r.fp, &r.windows, r.at) => {}
                }
            }
        }
        drop(pending);
        if let (Some(cache), false) = (&self.cache, shares.is_empty()) {
            let timeout = Duration::from_millis(self.options.request_timeout_ms);
            let (locks, writes): (Vec<_>, Vec<_>) =
                shares.into_iter().map(|s| (s.lock, s.write)).unzip();
            tokio::select! {
                biased;
                _ = cancel.cancelled() => return,
                _ = cache.write_batch_async(&writes, self.clock.now_ms(), DATA_LOCK_WAIT.min(timeout / 4)) => {}
            }
            drop(locks);
        }

        // A refresh of one provider publishes that provider's part only.
        let only = match mode {
            Mode::Forced(Some(id)) => Some(vec![id.to_string()]),
            _ => None,
        };
        let update = {
            let mut state = lock(&self.state);
            let update = self.update(&mut state, only);
            state.stats.cycles += 1;
            state.stats.last_cycle_ms = started.elapsed().as_secs_f64() * 1000.0;
            state.stats.last_cycle_at = now;
            update
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

    /// A successful result's windows, resolved and paced, and the history key they were
    /// paced by; nothing for a failure.
    fn resolve_result(
        &self,
        provider: &dyn UsageProvider,
        history_key: Option<String>,
        result: &FetchResult,
        now: i64,
    ) -> Option<Resolved> {
        let (outcome, fetched_at) = match result {
            FetchResult::Fetched(outcome) => (outcome, now),
            FetchResult::Cached(outcome, at) => (outcome, *at),
            FetchResult::NoAuth(_) | FetchResult::Failed(_) => return None,
        };
        let mut windows = resolve_outcome(provider, outcome, now);
        if let (Some(history), Some(fp)) = (&self.history, &history_key) {
            let all = windows.values_mut().flatten();
            history.apply_measured_pace(provider.id(), fp, all, fetched_at, now);
        }
        Some(Resolved {
            windows,
            history_key,
        })
    }

    /// Takes one result into the store; a success returns what the history should record.
    fn apply(
        &self,
        state: &mut State,
        provider: &dyn UsageProvider,
        resolved: Option<Resolved>,
        result: FetchResult,
        now: i64,
    ) -> Option<ToRecord> {
        let id = provider.id().to_string();
        // A provider unregistered while its fetch ran leaves no trace.
        let slot = state.providers.get_mut(&id)?;
        let (outcome, fetched_at) = match result {
            FetchResult::Fetched(outcome) => {
                state.stats.fetch_ok += 1;
                (outcome, now)
            }
            FetchResult::Cached(outcome, at) => {
                state.stats.cache_hits += 1;
                (outcome, at)
            }
            FetchResult::NoAuth(reason) => {
                slot.schedule.retry_at = None;
                state.store.apply_no_auth(&id, reason);
                return None;
            }
            FetchResult::Failed(mut error) => {
                // Whoever set it (a JS strategy, a provider of another crate), a retryAt
                // waits no longer than a server's Retry-After may make us wait.
                error.retry_at = error.retry_at.map(|at| cap_retry_at(at, now));
                slot.schedule.retry_at = error.retry_at;
                state.stats.fetch_errors += 1;
                state.store.apply_failure(&id, &error);
                return None;
            }
        };
        slot.schedule.retry_at = None;
        let Resolved {
            windows,
            history_key,
        } = resolved?;
        slot.history_key.clone_from(&history_key);
        let recorded = match (&self.history, history_key) {
            (Some(_), Some(fp)) => Some(ToRecord {
                fp,
                windows: windows.values().flatten().cloned().collect(),
                at: fetched_at,
            }),
            _ => None,
        };
        state
            .store
            .apply_success(&id, windows, outcome.plan.clone(), fetched_at);
        slot.last_outcome = Some(outcome);
        // A poll's answer replaces whatever headers taught since the last one.
        slot.learned.clear();
        slot.share.polled();
        recorded
    }

    pub(super) async fn fetch_one(
        &self,
        provider: Arc<dyn UsageProvider>,
        fingerprint: Option<&str>,
        forced: bool,
        attempt_at: i64,
        cancel: &CancellationToken,
    ) -> (FetchResult, Option<Share>) {
        let timeout = Duration::from_millis(self.options.request_timeout_ms);
        let id = provider.id().to_string();
        let shared = self.cache.as_ref().zip(fingerprint);
        let work = async {
            match provider.authentication().await {
                Ok(Authentication::Ready) => {}
                Ok(Authentication::Missing) => return (FetchResult::NoAuth(None), None),
                Ok(Authentication::Unusable(reason)) => {
                    return (FetchResult::NoAuth(Some(reason)), None)
                }
                Err(e) => return (FetchResult::Failed(e), None),
            }
            let Some((cache, fp)) = shared else {
                return (fetch_validated(provider.as_ref()).await, None);
            };
            let max_age = cache::fresh_for_ms(
                forced,
                self.options.interval_ms,
                self.options.due_slack_ms(),
            );
            let guard = cache.lock_provider(&id, fp, timeout).await;
            match cache.lookup(&id, fp, self.clock.now_ms(), max_age) {
                // A record over the snapshot cap (a forged file) is not used; we fetch instead.
                CacheLookup::Fresh(record) if within_cap(&record.outcome) => return (FetchResult::Cached(record.outcome, record.fetched_at), None),
                CacheLookup::Fresh(_) => {}
                CacheLookup::RetryAt(at) => {
                    return (FetchResult::Failed(
                        FetchError::new(
                            ErrorKind::RateLimited,
                            format!("{id}: rate limited (shared with other processes); retrying after the provider's Retry-After"),
                        )
                        .with_retry_at(at),
                    ), None)
                }
                CacheLookup::Miss => {}
            }
            let result = fetch_validated(provider.as_ref()).await;
            // Stamped with when the fetch started, like `lastAttempt`: a slow fetch must not
            // make this process's own next tick find its result "fresh" and skip a poll.
            let shared = match &result {
                FetchResult::Fetched(outcome) => Some(Ok(outcome.clone())),
                FetchResult::Failed(err) => Some(Err(err.clone())),
                _ => None,
            };
            let share = shared.map(|result| Share {
                lock: guard,
                write: CacheWrite {
                    provider_id: id.clone(),
                    fp: fp.to_string(),
                    result,
                    at: attempt_at,
                },
            });
            (result, share)
        };
        tokio::select! {
            biased;
            // Dropped on stop; the caller discards it.
            _ = cancel.cancelled() => (FetchResult::Failed(FetchError::new(ErrorKind::Network, "cancelled")), None),
            result = tokio::time::timeout(timeout, work) => match result {
                Ok(r) => r,
                Err(_) => (FetchResult::Failed(FetchError::new(
                    ErrorKind::Timeout,
                    format!("{id}: no answer within {} ms", self.options.request_timeout_ms),
                )), None),
            },
        }
    }
}

/// A provider's outcome as resolved windows per model: the one road from snapshots to the
/// store, for fetched, cached and seeded results alike. Pace is computed against now, also
/// for a result another process fetched.
pub(super) fn resolve_outcome(
    provider: &dyn UsageProvider,
    outcome: &FetchOutcome,
    now: i64,
) -> BTreeMap<String, Vec<ResolvedWindow>> {
    let quotas = outcome.quotas_with(provider.quotas());
    resolve_snapshots(&quotas, &outcome.snapshots, now).windows_by_model
}

/// Whether a result another process wrote keeps to the snapshot cap our own fetches obey.
pub(super) fn within_cap(outcome: &FetchOutcome) -> bool {
    validate::snapshot_count(outcome.snapshots.len()).is_ok()
}

async fn fetch_validated(provider: &dyn UsageProvider) -> FetchResult {
    match provider.fetch_usage().await {
        Ok(outcome) => {
            if let Err(reason) = validate::snapshot_count(outcome.snapshots.len()) {
                return FetchResult::Failed(FetchError::new(
                    ErrorKind::Provider,
                    format!("{}: {reason}", provider.id()),
                ));
            }
            for (i, s) in outcome.snapshots.iter().enumerate() {
                if let Err(reason) = validate::snapshot(s, i) {
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
