//! One cycle: pick the due providers, fetch them concurrently (each under the timeout and
//! the shared cache's lock), hand each result to `admit` (the one road into the store) as it
//! arrives, then compute threshold events and publish once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};
use tokio_util::sync::CancellationToken;

use super::admit::{check, Arrival, Origin, Prepared};
use super::{lock, Inner};
use crate::cache::{self, CacheLookup, CacheWrite, ProviderLock, DATA_LOCK_WAIT};
use crate::model::{ErrorKind, FetchError};
use crate::provider::{Authentication, Session, UsageProvider};

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
        let timeout = Duration::from_millis(opts.request_timeout_ms);
        let write_wait = DATA_LOCK_WAIT.min(timeout / 4);
        let mut pending: FuturesUnordered<_> = due
            .iter()
            .map(|p| async move {
                // Credentials are read once per fetch (after a key command, if any, has run):
                // the cache's key for its lock and record, the history's for what is recorded,
                // authentication and the fetch itself all come from that one reading.
                let session = p.clone().session().await;
                let keys = session.keys.clone();
                let (arrival, guard) = self.fetch_one(p.id(), session, forced, now, cancel).await;
                // Pace's samples are read here, before the state lock.
                let samples = self.samples(p.id(), keys.history.as_deref());
                (p, keys, arrival, guard, samples)
            })
            .collect();
        // Each result reaches the store as soon as it arrives, so a hung provider holds back
        // nobody's values; listeners still run once, when the cycle is complete, and the
        // shared cache is written once, with every result (each account's fetch lock held
        // until then, so a peer waits for the result rather than fetching again).
        let mut writes: Vec<CacheWrite> = Vec::new();
        let mut locks: Vec<ProviderLock> = Vec::new();
        loop {
            let next = tokio::select! {
                biased;
                _ = cancel.cancelled() => return,
                next = pending.next() => next,
            };
            let Some((provider, keys, arrival, guard, samples)) = next else {
                break;
            };
            // Resolved and paced before the state lock is taken: readers on the JS thread
            // never wait for a resolution.
            let resolved = self.pre_resolve(provider.as_ref(), &keys, &arrival, &samples, now);
            let followup = {
                let mut state = lock(&self.state);
                if cancel.is_cancelled() {
                    return;
                }
                let prepared = Prepared { samples, resolved };
                self.admit(&mut state, provider.as_ref(), keys, arrival, prepared, now)
            };
            if let Ok(mut followup) = followup {
                writes.extend(followup.take_cache_write(provider.id()));
                tokio::select! {
                    biased;
                    _ = cancel.cancelled() => return,
                    _ = self.follow_up(provider.as_ref(), followup, write_wait) => {}
                }
            }
            locks.extend(guard);
        }
        drop(pending);
        if let (Some(cache), false) = (&self.cache, writes.is_empty()) {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => return,
                _ = cache.write_batch_async(&writes, self.clock.now_ms(), write_wait) => {}
            }
        }
        // Other processes waiting for these accounts' results find them in the cache now.
        drop(locks);

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

    /// Asks one provider (or the shared cache, when another process asked it recently). A
    /// fetch under the shared cache comes back with the account's cache lock, held until
    /// its result is shared.
    pub(super) async fn fetch_one(
        &self,
        id: &str,
        session: Session,
        forced: bool,
        attempt_at: i64,
        cancel: &CancellationToken,
    ) -> (Arrival, Option<ProviderLock>) {
        let timeout = Duration::from_millis(self.options.request_timeout_ms);
        let Session {
            keys,
            authentication,
            fetch,
        } = session;
        let shared = self.cache.as_ref().zip(keys.cache.as_deref());
        let failed = |error| Arrival::Failed {
            error,
            shared: false,
        };
        let fetched = |outcome| Arrival::Outcome {
            origin: Origin::Fetched,
            outcome,
            at: attempt_at,
        };
        let work = async {
            match authentication.await {
                Ok(Authentication::Ready) => {}
                Ok(Authentication::Missing) => return (Arrival::NoAuth(None), None),
                Ok(Authentication::Unusable(reason)) => {
                    return (Arrival::NoAuth(Some(reason)), None)
                }
                Err(e) => return (failed(e), None),
            }
            let Some((cache, fp)) = shared else {
                return match fetch.await {
                    Ok(outcome) => (fetched(outcome), None),
                    Err(e) => (failed(e), None),
                };
            };
            let max_age = cache::fresh_for_ms(
                forced,
                self.options.interval_ms,
                self.options.due_slack_ms(),
            );
            let guard = cache.lock_provider(id, fp, timeout).await;
            match cache.lookup(id, fp, self.clock.now_ms(), max_age) {
                // A record that fails the checks (a forged file) is not used; we fetch instead.
                CacheLookup::Fresh(record) if check(id, &record.outcome).is_ok() => {
                    let arrival = Arrival::Outcome {
                        origin: Origin::Cached,
                        outcome: record.outcome,
                        at: record.fetched_at,
                    };
                    return (arrival, None);
                }
                CacheLookup::Fresh(_) => {}
                CacheLookup::RetryAt(at) => {
                    let error = FetchError::new(
                        ErrorKind::RateLimited,
                        format!("{id}: rate limited (shared with other processes); retrying after the provider's Retry-After"),
                    )
                    .with_retry_at(at);
                    return (failed(error), None);
                }
                CacheLookup::Miss => {}
            }
            // Shared with other processes after it is stored, stamped with when the fetch
            // started, like `lastAttempt`: a slow fetch must not make this process's own
            // next tick find its result "fresh" and skip a poll.
            match fetch.await {
                Ok(outcome) => (fetched(outcome), Some(guard)),
                Err(error) => (
                    Arrival::Failed {
                        error,
                        shared: true,
                    },
                    Some(guard),
                ),
            }
        };
        tokio::select! {
            biased;
            // Dropped on stop; the caller discards it.
            _ = cancel.cancelled() => (failed(FetchError::new(ErrorKind::Network, "cancelled")), None),
            result = tokio::time::timeout(timeout, work) => match result {
                Ok(r) => r,
                Err(_) => (failed(FetchError::new(
                    ErrorKind::Timeout,
                    format!("{id}: no answer within {} ms", self.options.request_timeout_ms),
                )), None),
            },
        }
    }
}
