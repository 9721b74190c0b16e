//! Every check of what callers and providers hand the tracker, in one place: provider ids,
//! quota definitions, and the numbers in a snapshot and a result. (The tracker's options
//! check themselves: `TrackerOptions::check`.)

use crate::error::CoreError;
use crate::model::{FetchOutcome, QuotaDefinition, QuotaKind, UsageSnapshot};

/// Shortest poll interval: a tighter loop only burns the services' rate limits.
pub const MIN_INTERVAL_MS: u64 = 1_000;

/// Most snapshots one fetch may hand over. Real providers return a few dozen; each one costs
/// a conversion on the JS thread and memory in the store, so a million would stall the host.
pub const MAX_SNAPSHOTS_PER_FETCH: usize = 10_000;
/// Headers of one model response taken from JS (a real one has a few dozen); the rest are
/// not looked at, so no response can make `observeResponse` slow.
pub const MAX_RESPONSE_HEADERS: usize = 128;
/// Longest header value read (quota headers hold a number or a short name).
pub const MAX_HEADER_VALUE_CHARS: usize = 512;

/// Largest whole number a JS number carries exactly (`Number.MAX_SAFE_INTEGER`).
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// A whole-number option handed in as a JS number, taken exactly: a fraction, a negative
/// number or one above `max` is refused rather than truncated or wrapped.
pub fn whole_number(field: &'static str, value: f64, max: u64) -> Result<u64, CoreError> {
    if value.is_finite() && value >= 0.0 && value.fract() == 0.0 && value <= max as f64 {
        Ok(value as u64)
    } else {
        Err(CoreError::InvalidOption {
            field,
            reason: format!("expected a whole number between 0 and {max}, got {value}"),
        })
    }
}

/// How many snapshots one fetch may return (`MAX_SNAPSHOTS_PER_FETCH`).
pub fn snapshot_count(count: usize) -> Result<(), String> {
    if count > MAX_SNAPSHOTS_PER_FETCH {
        return Err(format!(
            "fetchUsage returned {count} snapshots; at most {MAX_SNAPSHOTS_PER_FETCH} are accepted"
        ));
    }
    Ok(())
}

/// The checks every result passes before it reaches the store, whatever brought it (a fetch,
/// another process's cache record, a model response's headers, the cache at registration):
/// the snapshot cap, each snapshot's numbers, and the quotas the answer discovered.
pub fn outcome(outcome: &FetchOutcome) -> Result<(), String> {
    snapshot_count(outcome.snapshots.len())?;
    let bad = |reason: String| format!("fetchUsage returned bad data: {reason}");
    for (i, s) in outcome.snapshots.iter().enumerate() {
        snapshot(s, i).map_err(bad)?;
    }
    quotas(&outcome.extra_quotas).map_err(|e| bad(format!("a discovered quota: {e}")))
}

pub fn provider_id(id: &str) -> Result<(), CoreError> {
    if id.is_empty() || id.contains('/') || id.chars().any(char::is_control) {
        return Err(CoreError::InvalidProviderId(id.to_string()));
    }
    Ok(())
}

pub fn quotas(quotas: &[QuotaDefinition]) -> Result<(), CoreError> {
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

/// Checks the numbers a provider (often user JS) handed us. Negative `remaining` is
/// legitimate (Copilot overage); NaN, infinities and negative totals or usage are not.
pub fn snapshot(snapshot: &UsageSnapshot, index: usize) -> Result<(), String> {
    let at = || format!("snapshot {index} (id '{}')", snapshot.id);
    if snapshot.id.is_empty() {
        return Err(format!("snapshot {index} has an empty `id`"));
    }
    let fields = [
        ("used", snapshot.used),
        ("remaining", snapshot.remaining),
        ("usedRatio", snapshot.used_ratio),
        ("remainingRatio", snapshot.remaining_ratio),
        ("limit", snapshot.limit),
        ("duration", snapshot.duration_secs),
    ];
    for (name, value) in fields {
        if let Some(v) = value {
            if !v.is_finite() {
                return Err(format!(
                    "{}: `{name}` is {v}, expected a finite number",
                    at()
                ));
            }
        }
    }
    for (name, value) in [
        ("limit", snapshot.limit),
        ("used", snapshot.used),
        ("duration", snapshot.duration_secs),
    ] {
        if let Some(v) = value {
            if v < 0.0 {
                return Err(format!("{}: `{name}` is negative ({v})", at()));
            }
        }
    }
    if snapshot
        .scope
        .as_deref()
        .is_some_and(|s| s.trim().is_empty())
    {
        return Err(format!(
            "{}: `scope` is empty; name the model family the window limits, or leave it out for the whole account",
            at()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(id: &str) -> UsageSnapshot {
        UsageSnapshot::new(id)
    }

    #[test]
    fn validation_rejects_nan_infinite_and_negative_totals() {
        let mut s = snap("a");
        s.used = Some(f64::NAN);
        let err = snapshot(&s, 2).unwrap_err();
        assert!(
            err.contains("snapshot 2 (id 'a')") && err.contains("`used`"),
            "{err}"
        );
        let mut s = snap("a");
        s.limit = Some(-1.0);
        assert!(snapshot(&s, 0).unwrap_err().contains("`limit` is negative"));
        let mut s = snap("a");
        s.remaining = Some(-3.0);
        assert!(
            snapshot(&s, 0).is_ok(),
            "negative remaining is overage, allowed"
        );
        assert!(snapshot(&snap(""), 1).is_err());
    }

    #[test]
    fn an_empty_scope_is_refused_by_name() {
        let mut s = snap("turbo");
        s.scope = Some(" ".into());
        let err = snapshot(&s, 1).unwrap_err();
        assert!(
            err.contains("snapshot 1 (id 'turbo')") && err.contains("`scope` is empty"),
            "{err}"
        );
        s.scope = Some("turbo".into());
        assert_eq!(snapshot(&s, 1), Ok(()));
    }

    #[test]
    fn provider_ids_have_no_slash_or_controls() {
        assert!(provider_id("anthropic-work").is_ok());
        for bad in ["", "a/b", "a\u{1b}[2J"] {
            assert!(provider_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn whole_numbers_are_taken_exactly() {
        assert_eq!(whole_number("f", 8.0, u32::MAX as u64), Ok(8));
        assert_eq!(whole_number("f", 0.0, 10), Ok(0));
        let max = MAX_SAFE_INTEGER as f64;
        assert_eq!(
            whole_number("f", max, MAX_SAFE_INTEGER),
            Ok(MAX_SAFE_INTEGER)
        );
        let over_u32 = 2f64.powi(32) + 1.0;
        for bad in [1.5, -1.0, over_u32, f64::NAN, f64::INFINITY, max + 2.0] {
            let err = whole_number("maxBackoffMultiplier", bad, u32::MAX as u64).unwrap_err();
            assert_eq!(err.code(), "ERR_INVALID_OPTION");
            assert!(err.to_string().contains("maxBackoffMultiplier"), "{err}");
        }
    }

    #[test]
    fn snapshots_per_fetch_are_capped() {
        assert!(snapshot_count(MAX_SNAPSHOTS_PER_FETCH).is_ok());
        assert_eq!(
            snapshot_count(1_000_000).unwrap_err(),
            "fetchUsage returned 1000000 snapshots; at most 10000 are accepted"
        );
    }
}
