//! The one road into the store. Whatever brought a provider's result — a fetch, another
//! process's record in the shared cache, a model response's headers, the cache at
//! registration — `Inner::admit` is the only caller of the store's writing methods: it checks
//! the result (the same checks for every origin), resolves it, takes pace from the history's
//! samples, stores it, and says what to record in the history and share through the cache.
//! `Inner::follow_up` does that once the state lock is released: no file is touched under it.

use std::time::Duration;

use super::{observe, State};
use crate::burn;
use crate::cache::CacheWrite;
use crate::model::{ErrorKind, FetchError, FetchOutcome, ResolvedWindow};
use crate::provider::{AccountKeys, UsageProvider};
use crate::providers::http::cap_retry_at;
use crate::resolve::{apply_measured_pace, resolve_snapshots};
use crate::validate;

use super::Inner;

type Windows = std::collections::BTreeMap<String, Vec<ResolvedWindow>>;

/// What is worked out before the state lock: the samples pace is measured from and, for a
/// fetched, cached or seeded result, its resolution (`Inner::pre_resolve`).
#[derive(Default)]
pub(super) struct Prepared {
    pub(super) samples: burn::Series,
    pub(super) resolved: Option<Windows>,
}

/// Where a result came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Origin {
    /// This process asked the service.
    Fetched,
    /// Another process asked it recently (the shared cache, under the provider's lock).
    Cached,
    /// The quota headers of one of pi's model responses, merged into the last full result.
    Observed,
    /// The shared cache when the provider was registered: shown at once, marked stale.
    Seeded,
}

/// What reaches the store.
pub(super) enum Arrival {
    /// A result; `at` is when it was fetched (for a cached one, when its fetch started).
    Outcome {
        origin: Origin,
        outcome: FetchOutcome,
        at: i64,
    },
    /// No usable credentials; the reason when there is a login this provider cannot use.
    NoAuth(Option<String>),
    /// The provider was unregistered: its slot, entries and threshold states go.
    Unregistered,
    /// A failed fetch; `shared` when it came from the service and other processes should see it.
    Failed { error: FetchError, shared: bool },
}

/// What `admit` leaves for after the state lock: the history point and the cache write.
#[derive(Default)]
pub(super) struct Followup {
    record: Option<Record>,
    share: Option<Share>,
}

impl Followup {
    /// The history point only: the cache write is the caller's (a cycle writes every result
    /// at once; header-fed values are written at most once per few seconds).
    pub(super) fn without_share(mut self) -> Self {
        self.share = None;
        self
    }

    /// The cache write, when the account is known, for the caller to make with others.
    pub(super) fn take_cache_write(&mut self, provider_id: &str) -> Option<CacheWrite> {
        let share = self.share.take()?;
        Some(CacheWrite {
            provider_id: provider_id.to_string(),
            fp: share.cache_key?,
            result: share.what,
            at: share.at,
        })
    }
}

/// A stored result for the history, stamped like the cache stamps it (when its fetch
/// started), so every process that takes it records the same point.
struct Record {
    history_key: String,
    windows: Vec<ResolvedWindow>,
    at: i64,
    /// Headers can arrive every few seconds: an unmoved value adds no point.
    thin: bool,
}

struct Share {
    /// The cache's key for the account; `None`: read it from the provider when sharing
    /// (off the caller's thread: it may read pi's auth.json).
    cache_key: Option<String>,
    what: Result<FetchOutcome, FetchError>,
    at: i64,
}

/// Why a result was not taken.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Refused {
    /// The provider is not registered (any more).
    Unknown,
    /// The result failed the checks; for a fetched one, the store holds it as a failure.
    Invalid(String),
}

/// The checks every result passes, whatever its origin; the reason in words when it does not.
pub(super) fn check(provider_id: &str, outcome: &FetchOutcome) -> Result<(), String> {
    validate::outcome(outcome).map_err(|reason| format!("{provider_id}: {reason}"))
}

impl Inner {
    /// The history samples pace is measured from, for an account: reads the history file's
    /// end the first time, so call it before taking the state lock.
    pub(super) fn samples(&self, provider_id: &str, history_key: Option<&str>) -> burn::Series {
        match (&self.history, history_key) {
            (Some(h), Some(key)) => h.samples(provider_id, key, self.clock.now_ms()),
            _ => burn::Series::default(),
        }
    }

    /// A fetched or cached result resolved and paced ahead of `admit`, outside the state
    /// lock (headers merge into the last result first, so they resolve in `admit`).
    pub(super) fn pre_resolve(
        &self,
        provider: &dyn UsageProvider,
        keys: &AccountKeys,
        arrival: &Arrival,
        samples: &burn::Series,
        now: i64,
    ) -> Option<Windows> {
        let Arrival::Outcome {
            origin: Origin::Fetched | Origin::Cached | Origin::Seeded,
            outcome,
            at,
        } = arrival
        else {
            return None;
        };
        check(provider.id(), outcome).ok()?;
        Some(self.resolved(provider, outcome, keys.history.is_some(), samples, *at, now))
    }

    /// An outcome's windows per model, paced from the history's samples when it has any.
    fn resolved(
        &self,
        provider: &dyn UsageProvider,
        outcome: &FetchOutcome,
        paced: bool,
        samples: &burn::Series,
        at: i64,
        now: i64,
    ) -> Windows {
        let quotas = outcome.quotas_with(provider.quotas());
        let mut windows = resolve_snapshots(&quotas, &outcome.snapshots, now).windows_by_model;
        if paced && self.history.is_some() {
            apply_measured_pace(windows.values_mut().flatten(), samples, at, now);
        }
        windows
    }

    /// Takes one arrival into the store: the only writer to it. `keys` are the account's
    /// (for a header arrival, the last full result's); `now` is when this cycle or response
    /// began. Returns what to do once the state lock is released.
    pub(super) fn admit(
        &self,
        state: &mut State,
        provider: &dyn UsageProvider,
        keys: AccountKeys,
        arrival: Arrival,
        prepared: Prepared,
        now: i64,
    ) -> Result<Followup, Refused> {
        let Prepared { samples, resolved } = prepared;
        let samples = &samples;
        let id = provider.id().to_string();
        let shares = self.cache.is_some();
        // A provider unregistered while its fetch ran leaves no trace.
        let slot = state.providers.get_mut(&id).ok_or(Refused::Unknown)?;
        let arrival = match arrival {
            // A fetched result that fails the checks is the provider's failure.
            Arrival::Outcome {
                origin: Origin::Fetched,
                outcome,
                at,
            } => match check(&id, &outcome) {
                Ok(()) => Arrival::Outcome {
                    origin: Origin::Fetched,
                    outcome,
                    at,
                },
                Err(reason) => Arrival::Failed {
                    error: FetchError::new(ErrorKind::Provider, reason),
                    shared: true,
                },
            },
            other => other,
        };
        let (origin, mut outcome, at) = match arrival {
            Arrival::Outcome {
                origin,
                outcome,
                at,
            } => (origin, outcome, at),
            Arrival::Unregistered => {
                state.providers.remove(&id);
                state.store.remove_provider(&id);
                state.thresholds.forget_provider(&id);
                return Ok(Followup::default());
            }
            Arrival::NoAuth(reason) => {
                slot.schedule.retry_at = None;
                state.store.apply_no_auth(&id, reason);
                return Ok(Followup::default());
            }
            Arrival::Failed { mut error, shared } => {
                // Whoever set it (a JS strategy, a provider of another crate), a retryAt
                // waits no longer than a server's Retry-After may make us wait.
                error.retry_at = error.retry_at.map(|at| cap_retry_at(at, now));
                slot.schedule.retry_at = error.retry_at;
                state.stats.fetch_errors += 1;
                state.store.apply_failure(&id, &error);
                let share = (shared && shares && keys.cache.is_some()).then(|| Share {
                    cache_key: keys.cache.clone(),
                    what: Err(error),
                    at: now,
                });
                return Ok(Followup {
                    record: None,
                    share,
                });
            }
        };
        // Other origins keep what the store holds: a bad cache record or header is no failure
        // of the provider's.
        if origin != Origin::Fetched {
            check(&id, &outcome).map_err(Refused::Invalid)?;
        }
        match origin {
            Origin::Fetched => state.stats.fetch_ok += 1,
            Origin::Cached => state.stats.cache_hits += 1,
            Origin::Observed => {
                state.stats.observed_responses += 1;
                slot.observed_at = Some(now);
                outcome = observe::merge_bounded(slot, outcome, now);
            }
            Origin::Seeded => {}
        }
        if origin != Origin::Observed {
            slot.schedule.retry_at = None;
            slot.keys = keys.clone();
            // A full result replaces whatever headers taught since the last one.
            slot.learned.clear();
            slot.share.polled();
        }
        // Pace is computed against now, also for a result another process fetched.
        let history_key = slot.keys.history.clone().filter(|_| self.history.is_some());
        let windows = match resolved.filter(|_| origin != Origin::Observed) {
            Some(windows) => windows,
            None => self.resolved(provider, &outcome, history_key.is_some(), samples, at, now),
        };
        let record = match (origin, history_key) {
            (Origin::Fetched | Origin::Cached | Origin::Observed, Some(history_key)) => {
                Some(Record {
                    history_key,
                    windows: windows.values().flatten().cloned().collect(),
                    at,
                    thin: origin == Origin::Observed,
                })
            }
            _ => None,
        };
        let share = match origin {
            Origin::Fetched if shares && keys.cache.is_some() => Some(Share {
                cache_key: keys.cache,
                what: Ok(outcome.clone()),
                at,
            }),
            Origin::Observed if shares => Some(Share {
                cache_key: None,
                what: Ok(outcome.clone()),
                at,
            }),
            _ => None,
        };
        let plan = outcome.plan.clone();
        slot.last_outcome = Some(outcome);
        if origin == Origin::Seeded {
            state.store.seed_from_cache(&id, windows, plan, at);
        } else {
            state.store.apply_success(&id, windows, plan, at);
        }
        Ok(Followup { record, share })
    }

    /// Shares a result through the cache (waiting at most `wait` for its lock), then records
    /// it in the history. Runs after the state lock is released.
    pub(super) async fn follow_up(
        &self,
        provider: &dyn UsageProvider,
        followup: Followup,
        wait: Duration,
    ) {
        let id = provider.id();
        if let (Some(cache), Some(share)) = (&self.cache, followup.share) {
            let key = share.cache_key.or_else(|| provider.account_keys().cache);
            match (key, &share.what) {
                (Some(fp), Ok(outcome)) => {
                    cache
                        .write_success_async(id, &fp, outcome, share.at, wait)
                        .await
                }
                (Some(fp), Err(error)) => {
                    cache
                        .write_failure_async(id, &fp, error, share.at, wait)
                        .await
                }
                (None, _) => {}
            }
        }
        if let (Some(history), Some(r)) = (&self.history, followup.record) {
            if r.thin {
                // Loads the account's recent samples once, off the caller's thread, so the
                // next response's pace is measured.
                let _ = history.samples(id, &r.history_key, r.at);
                history
                    .record_observed(id, &r.history_key, &r.windows, r.at)
                    .await;
            } else {
                history.record(id, &r.history_key, &r.windows, r.at).await;
            }
        }
    }
}
