//! Every check of what callers and providers hand the tracker, in one place: options,
//! provider ids, quota definitions, and the numbers in a snapshot.

use crate::error::CoreError;
use crate::model::{QuotaDefinition, QuotaKind, UsageSnapshot};
use crate::tracker::TrackerOptions;

pub fn options(o: &TrackerOptions) -> Result<(), CoreError> {
    let bad = |field: &'static str, reason: &str| {
        Err(CoreError::InvalidOption {
            field,
            reason: reason.to_string(),
        })
    };
    if o.interval_ms == 0 {
        return bad("intervalMs", "must be greater than 0");
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
    fn provider_ids_have_no_slash_or_controls() {
        assert!(provider_id("anthropic-work").is_ok());
        for bad in ["", "a/b", "a\u{1b}[2J"] {
            assert!(provider_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn warn_below_critical_is_refused() {
        let mut o = TrackerOptions::default();
        o.thresholds.warn_at = 0.05;
        assert!(options(&o).unwrap_err().to_string().contains("warnAt"));
    }
}
