//! Usage that arrives with pi's own traffic: the quota headers of a model response enter the
//! store exactly like a fetch result (merged into the last one), are published at once, and
//! reach the shared cache so other processes see them.

//!
//! Headers come from whoever is on the model path (a proxy, a gateway), so what they can add
//! is bounded: a provider keeps at most [`MAX_HEADER_WINDOWS`] windows its last full result
//! did not have, forgets one not seen again for its own length, and the next poll's answer
//! replaces them all. Only the first [`validate::MAX_RESPONSE_HEADERS`] headers are read.

use tokio::runtime::Handle;

use super::admit::{Arrival, Origin, Prepared};
use super::{lock, Inner, Slot, Tracker};
use crate::model::{FetchOutcome, UsageSnapshot};
use crate::validate;

/// Windows a provider keeps that only headers have reported.
pub const MAX_HEADER_WINDOWS: usize = 8;
/// Quota headers handed to a provider's reader (a service sends a few dozen at most).
pub const MAX_QUOTA_HEADERS: usize = 64;
/// Name groups (a name's first two words: `x-codex`, `anthropic-ratelimit`) they may come
/// from. A service's families share its group; a reader's cost grows with the square of the
/// families it is given, so a response naming a new group per header is cut short here.
pub const MAX_HEADER_GROUPS: usize = 16;
/// How long a header-learned window without a length is kept unseen.
const UNSIZED_KEEP_MS: i64 = 3_600_000;

/// A window only headers have reported, and when they last did.
pub(super) struct Learned {
    id: String,
    model_id: String,
    seen_at: i64,
    keep_ms: i64,
}

impl Learned {
    fn is(&self, s: &UsageSnapshot) -> bool {
        self.id == s.id && self.model_id == s.model_id()
    }
}

fn has(outcome: &FetchOutcome, s: &UsageSnapshot) -> bool {
    outcome
        .snapshots
        .iter()
        .any(|o| o.id == s.id && o.model_id() == s.model_id())
}

/// Folds what a response reported into the slot's last result and returns it: windows the
/// last full result had are updated; others are learned, at most [`MAX_HEADER_WINDOWS`] of
/// them (the most recently seen), each forgotten once unseen for its own length.
///
/// Every window of the last result that is not the poll's is in `slot.learned`, so what is
/// not learned there came from the poll.
pub(super) fn merge_bounded(slot: &mut Slot, mut observed: FetchOutcome, now: i64) -> FetchOutcome {
    let mut merged = slot.last_outcome.take().unwrap_or_default();
    let mut forgotten: Vec<Learned> = Vec::new();
    let (kept, expired) = std::mem::take(&mut slot.learned)
        .into_iter()
        .partition(|l| now - l.seen_at < l.keep_ms);
    slot.learned = kept;
    forgotten.extend(expired);
    let gone = |forgotten: &[Learned], s: &UsageSnapshot| forgotten.iter().any(|l| l.is(s));
    merged.snapshots.retain(|s| !gone(&forgotten, s));
    for s in &observed.snapshots {
        let keep_ms = s
            .duration_secs
            .filter(|d| d.is_finite() && *d > 0.0)
            .map_or(UNSIZED_KEEP_MS, |d| {
                (d * 1000.0).min(i64::MAX as f64) as i64
            });
        // Kept most recently seen first.
        if let Some(at) = slot.learned.iter().position(|l| l.is(s)) {
            let mut l = slot.learned.remove(at);
            l.seen_at = now;
            l.keep_ms = keep_ms;
            slot.learned.insert(0, l);
        } else if !has(&merged, s) {
            slot.learned.insert(
                0,
                Learned {
                    id: s.id.clone(),
                    model_id: s.model_id().to_string(),
                    seen_at: now,
                    keep_ms,
                },
            );
        }
    }
    if slot.learned.len() > MAX_HEADER_WINDOWS {
        forgotten.extend(slot.learned.split_off(MAX_HEADER_WINDOWS));
    }
    merged.snapshots.retain(|s| !gone(&forgotten, s));
    observed.snapshots.retain(|s| !gone(&forgotten, s));
    let named = |snapshots: &[UsageSnapshot], id: &str| snapshots.iter().any(|s| s.id == id);
    let observed_snapshots = &observed.snapshots;
    observed
        .extra_quotas
        .retain(|q| named(observed_snapshots, &q.id));
    let merged_snapshots = &merged.snapshots;
    merged
        .extra_quotas
        .retain(|q| !forgotten.iter().any(|l| l.id == q.id) || named(merged_snapshots, &q.id));
    merged.merge_observed(observed);
    merged
}

/// How often header-fed values are written to the shared cache, at most.
pub const SHARE_EVERY_MS: i64 = 5_000;

/// When header-fed values of a provider were last shared through the cache, and whether
/// newer ones wait for their turn.
#[derive(Default)]
pub(super) struct ShareState {
    at: Option<i64>,
    /// A write is scheduled (it takes the values current when it runs).
    scheduled: bool,
    /// Headers brought values since the last write or poll.
    dirty: bool,
}

impl ShareState {
    /// A poll's answer is shared by its cycle: nothing observed waits to be written.
    pub(super) fn polled(&mut self) {
        self.dirty = false;
    }
}

impl Inner {
    /// Writes a provider's latest header-fed values to the cache, stamped with when they
    /// arrived, unless a poll has shared newer ones since.
    async fn share_observed(&self, id: &str, provider: &dyn crate::provider::UsageProvider) {
        let now = self.clock.now_ms();
        let pending = {
            let mut state = lock(&self.state);
            let Some(slot) = state.providers.get_mut(id) else {
                return;
            };
            slot.share.scheduled = false;
            if !std::mem::take(&mut slot.share.dirty) {
                return;
            }
            slot.share.at = Some(now);
            slot.last_outcome.clone().zip(slot.observed_at)
        };
        let Some((outcome, at)) = pending else {
            return;
        };
        if let (Some(cache), Some(fp)) = (&self.cache, provider.account_fingerprint()) {
            cache
                .write_success_async(id, &fp, &outcome, at, crate::cache::DATA_LOCK_WAIT)
                .await;
        }
    }
}

/// Whether a header can carry usage: services name theirs `x-…` (`x-codex-…`,
/// `x-ratelimit-…`) or `…ratelimit…` (`anthropic-ratelimit-…`), and a 429 has `retry-after`.
fn is_quota_header(name: &str) -> bool {
    name.starts_with("x-") || name.contains("ratelimit") || name == "retry-after"
}

fn group(name: &str) -> &str {
    let mut dashes = name.match_indices('-').map(|(i, _)| i);
    match (dashes.next(), dashes.next()) {
        (Some(_), Some(end)) => &name[..end],
        _ => name,
    }
}

/// The headers a provider's reader gets: of the first [`validate::MAX_RESPONSE_HEADERS`], the
/// first [`MAX_QUOTA_HEADERS`] quota headers of the first [`MAX_HEADER_GROUPS`] name groups,
/// values no longer than [`validate::MAX_HEADER_VALUE_CHARS`].
fn bounded(headers: &[(String, String)]) -> Vec<(String, String)> {
    let mut groups: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for (name, value) in headers.iter().take(validate::MAX_RESPONSE_HEADERS) {
        if !is_quota_header(name) || value.len() > validate::MAX_HEADER_VALUE_CHARS {
            continue;
        }
        let g = group(name);
        if !groups.contains(&g) {
            if groups.len() == MAX_HEADER_GROUPS {
                continue;
            }
            groups.push(g);
        }
        out.push((name.clone(), value.clone()));
        if out.len() == MAX_QUOTA_HEADERS {
            break;
        }
    }
    out
}

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
        let Some((provider, keys)) = (lock(&inner.state).providers.get(provider_id))
            .map(|slot| (slot.provider.clone(), slot.keys.clone()))
        else {
            return false;
        };
        let headers = bounded(headers);
        // Read outside the state lock: a built-in may read pi's auth.json the first time (to
        // know which of the service's text is a credential).
        let Some(observed) = provider.observe(status, &headers, now) else {
            return false;
        };
        // The account of the last full result: the headers came with that login's traffic.
        // What this process has in memory only: no file is read on the caller's thread.
        let samples = match (&inner.history, keys.history.as_deref()) {
            (Some(h), Some(key)) => h.samples_in_memory(provider_id, key),
            _ => Default::default(),
        };
        let prepared = Prepared {
            samples,
            resolved: None,
        };
        let mut guard = lock(&inner.state);
        let state = &mut *guard;
        let arrival = Arrival::Outcome {
            origin: Origin::Observed,
            outcome: observed,
            at: now,
        };
        let Ok(followup) = inner.admit(state, provider.as_ref(), keys, arrival, prepared, now)
        else {
            return false;
        };
        // The cache hears of header-fed values at most once per SHARE_EVERY_MS: the first
        // response at once, later ones together with the latest values when the time is up.
        let followup = followup.without_share();
        let id = provider_id.to_string();
        let slot = state
            .providers
            .get_mut(provider_id)
            .expect("admitted above");
        slot.share.dirty = inner.cache.is_some();
        let share_in = (inner.cache.is_some() && !slot.share.scheduled).then(|| {
            slot.share.scheduled = true;
            let next = slot
                .share
                .at
                .map_or(now, |at| at.saturating_add(SHARE_EVERY_MS));
            next.saturating_sub(now).max(0) as u64
        });
        drop(guard);

        let inner = inner.clone();
        let cancel = lock(&inner.cancel).clone();
        if let Some(wait_ms) = share_in {
            let (inner, id, provider, cancel) =
                (inner.clone(), id.clone(), provider.clone(), cancel.clone());
            handle.spawn(async move {
                tokio::select! {
                    biased;
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(std::time::Duration::from_millis(wait_ms)) => {}
                }
                inner.share_observed(&id, provider.as_ref()).await;
            });
        }
        handle.spawn(async move {
            inner
                .follow_up(provider.as_ref(), followup, crate::cache::DATA_LOCK_WAIT)
                .await;
            if cancel.is_cancelled() {
                return;
            }
            // Levels and threshold events are worked out here, on the runtime, not in the
            // caller's (pi's UI) thread.
            // Only this provider's part is published: the rest of the store did not change.
            let update = {
                let mut state = lock(&inner.state);
                inner.update(&mut state, Some(vec![id.clone()]))
            };
            tokio::select! {
                biased;
                _ = cancel.cancelled() => {},
                _ = inner.sink.publish(update) => {},
            }
        });
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(names: &[String]) -> Vec<(String, String)> {
        names.iter().map(|n| (n.clone(), "1".to_string())).collect()
    }

    #[test]
    fn readers_get_quota_headers_of_a_few_groups_only() {
        let mut names: Vec<String> = [
            "date",
            "content-type",
            "retry-after",
            "anthropic-ratelimit-unified-5h-utilization",
        ]
        .map(String::from)
        .to_vec();
        names.extend((0..30).map(|i| format!("x-codex-f{i}-primary-used-percent")));
        names.extend((0..100).map(|i| format!("x-fam{i}-primary-used-percent")));
        let kept = bounded(&h(&names));
        let kept: Vec<&str> = kept.iter().map(|(k, _)| k.as_str()).collect();
        assert!(!kept.contains(&"date") && !kept.contains(&"content-type"));
        assert!(kept.contains(&"retry-after"));
        assert!(
            kept.contains(&"x-codex-f29-primary-used-percent"),
            "one group, all its families"
        );
        let groups: std::collections::BTreeSet<&str> = kept.iter().map(|k| group(k)).collect();
        assert_eq!(groups.len(), MAX_HEADER_GROUPS);
        assert!(kept.len() <= MAX_QUOTA_HEADERS);
        let long = vec![("x-codex-plan-type".to_string(), "p".repeat(513))];
        assert!(bounded(&long).is_empty(), "an oversized value is not read");
    }
}
