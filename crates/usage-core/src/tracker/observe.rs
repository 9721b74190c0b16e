//! Usage that arrives with pi's own traffic: the quota headers of a model response enter the
//! store exactly like a fetch result (merged into the last one), are published at once, and
//! reach the shared cache so other processes see them.

use tokio::runtime::Handle;

use super::{cycle, lock, CycleUpdate, Tracker};
use crate::validate;

impl Tracker {
    /// Reads one model response's status and lower-cased headers for `provider_id`. Returns
    /// whether they changed anything; unknown providers, unknown or malformed headers change
    /// nothing and raise nothing. Publishing and the cache write run on `handle`.
    pub fn observe_response(
        &self,
        handle: &Handle,
        provider_id: &str,
        status: u16,
        headers: &[(String, String)],
    ) -> bool {
        let inner = &self.inner;
        let now = inner.clock.now_ms();
        let mut guard = lock(&inner.state);
        let state = &mut *guard;
        let Some(slot) = state.providers.get_mut(provider_id) else {
            return false;
        };
        let Some(observed) = slot.provider.observe(status, headers, now) else {
            return false;
        };
        if observed
            .snapshots
            .iter()
            .enumerate()
            .any(|(i, s)| validate::snapshot(s, i).is_err())
        {
            return false;
        }
        let mut merged = slot.last_outcome.clone().unwrap_or_default();
        merged.merge_observed(observed);
        slot.last_outcome = Some(merged.clone());
        slot.observed_at = Some(now);
        let provider = slot.provider.clone();
        let mut windows = cycle::resolve_outcome(provider.as_ref(), &merged, now);
        // The account of the last fetch: the headers came with that login's traffic.
        let fp = slot.history_key.clone();
        if let (Some(h), Some(fp)) = (&inner.history, &fp) {
            h.apply_measured_pace(provider_id, fp, windows.values_mut().flatten(), now, now);
        }
        let observed: Vec<_> = match (&inner.history, &fp) {
            (Some(_), Some(_)) => windows.values().flatten().cloned().collect(),
            _ => Vec::new(),
        };
        state
            .store
            .apply_success(provider_id, windows, merged.plan.clone(), now);
        state.stats.observed_responses += 1;
        let entries = inner.published_entries(state);
        let events = state
            .thresholds
            .observe(&entries, &inner.options.thresholds);
        drop(guard);

        let inner = inner.clone();
        let id = provider_id.to_string();
        let cancel = lock(&inner.cancel).clone();
        handle.spawn(async move {
            if let (Some(cache), Some(fp)) = (&inner.cache, provider.account_fingerprint()) {
                cache
                    .write_success_async(&id, &fp, &merged, now, crate::cache::DATA_LOCK_WAIT)
                    .await;
            }
            if let (Some(h), Some(fp)) = (&inner.history, fp) {
                h.record_observed(&id, &fp, &observed, now).await;
            }
            if cancel.is_cancelled() {
                return;
            }
            tokio::select! {
                biased;
                _ = cancel.cancelled() => {},
                _ = inner.sink.publish(CycleUpdate { entries, events }) => {},
            }
        });
        true
    }
}
