//! Defensive readers for the newer services' bodies, which send numbers as numbers or as
//! strings, times as ISO strings or epoch numbers, and windows as a length to classify.

use serde_json::Value;

use super::{iso_to_ms, pct_quota};
use crate::model::{
    FetchOutcome, QuotaDefinition, QuotaKind, ResetBehavior, UsageSnapshot, WindowType,
};

pub(crate) const FIVE_HOURS: f64 = 18_000.0;
pub(crate) const SEVEN_DAYS: f64 = 604_800.0;

/// Sent where a service wants a client name and none is known to be required.
pub(crate) const USER_AGENT: &str = concat!("pi-usage-tracker/", env!("CARGO_PKG_VERSION"));

/// A finite number, given as a JSON number or as a numeric string (`"37.42"`).
pub(crate) fn number(v: Option<&Value>) -> Option<f64> {
    let n = match v? {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    n.is_finite().then_some(n)
}

/// Epoch milliseconds from an ISO-8601 string or an epoch number. Numbers below 1e11 are
/// read as seconds: no reset lies before 1973 in milliseconds or after 5138 in seconds.
pub(crate) fn instant_ms(v: Option<&Value>) -> Option<i64> {
    if let Some(s) = v?.as_str() {
        if let Some(ms) = iso_to_ms(s.trim()) {
            return Some(ms);
        }
    }
    let n = number(v)?;
    if n <= 0.0 {
        return None;
    }
    let ms = if n < 1e11 { n * 1000.0 } else { n };
    Some(ms as i64)
}

/// Percent 0–100 to a ratio 0–1; out-of-range values are clamped, not trusted further.
pub(crate) fn percent_ratio(percent: f64) -> f64 {
    (percent / 100.0).clamp(0.0, 1.0)
}

/// The window id for a length: `5h`, `7d`, else whole hours below two days, whole days
/// above; `None` for lengths that are neither.
pub(crate) fn length_id(secs: f64) -> Option<String> {
    if !(secs.is_finite() && secs > 0.0) {
        return None;
    }
    let secs = secs.round() as i64;
    if secs % 86_400 == 0 && secs >= 2 * 86_400 {
        Some(format!("{}d", secs / 86_400))
    } else if secs % 3_600 == 0 {
        Some(format!("{}h", secs / 3_600))
    } else if secs % 60 == 0 {
        Some(format!("{}m", secs / 60))
    } else {
        None
    }
}

/// A percent window: the snapshot, plus a quota of its own when `declared` has no such id.
pub(crate) fn push_pct(
    outcome: &mut FetchOutcome,
    declared: &[&str],
    snapshot: UsageSnapshot,
    duration_secs: Option<f64>,
) {
    let id = snapshot.id.as_str();
    if !declared.contains(&id) && !outcome.extra_quotas.iter().any(|q| q.id == id) {
        outcome.extra_quotas.push(pct_quota(id, duration_secs));
    }
    outcome.snapshots.push(snapshot);
}

/// A percent window that follows the calendar (a month, a billing period) instead of a length.
pub(crate) fn calendar_quota(id: &str) -> QuotaDefinition {
    QuotaDefinition::new(id, QuotaKind::Percentage)
        .with_window(WindowType::Fixed, ResetBehavior::Calendar)
}

/// A quota this response discovered (a window length or a currency no declared quota names).
pub(crate) fn push_extra(outcome: &mut FetchOutcome, declared: &[&str], quota: QuotaDefinition) {
    if !declared.contains(&quota.id.as_str())
        && !outcome.extra_quotas.iter().any(|q| q.id == quota.id)
    {
        outcome.extra_quotas.push(quota);
    }
}

/// The service's own message, when short and free of the token, for errors a 2xx carried.
pub(crate) fn service_message(msg: Option<&Value>, token: &str) -> Option<String> {
    let msg = msg?.as_str()?.trim();
    let safe = !msg.is_empty()
        && msg.chars().count() <= 120
        && (token.is_empty() || !msg.contains(token))
        && !msg.chars().any(char::is_control);
    safe.then(|| msg.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_from_numbers_and_strings_only() {
        assert_eq!(number(Some(&json!(3))), Some(3.0));
        assert_eq!(number(Some(&json!(" 37.42 "))), Some(37.42));
        assert_eq!(number(Some(&json!("NaN"))), None);
        assert_eq!(number(Some(&json!("inf"))), None);
        assert_eq!(number(Some(&json!("abc"))), None);
        assert_eq!(number(Some(&json!(null))), None);
        assert_eq!(number(Some(&json!(true))), None);
        assert_eq!(number(None), None);
    }

    #[test]
    fn instants_from_iso_seconds_and_millis() {
        let ms = 1_796_083_200_000;
        assert_eq!(instant_ms(Some(&json!("2026-12-01T00:00:00Z"))), Some(ms));
        assert_eq!(
            instant_ms(Some(&json!("2026-12-01T00:00:00.718434Z"))),
            Some(ms + 718)
        );
        assert_eq!(instant_ms(Some(&json!(1_796_083_200))), Some(ms));
        assert_eq!(instant_ms(Some(&json!(ms))), Some(ms));
        assert_eq!(instant_ms(Some(&json!("1796083200000"))), Some(ms));
        assert_eq!(instant_ms(Some(&json!(0))), None);
        assert_eq!(instant_ms(Some(&json!("soon"))), None);
    }

    #[test]
    fn lengths_to_ids() {
        assert_eq!(length_id(FIVE_HOURS).as_deref(), Some("5h"));
        assert_eq!(length_id(SEVEN_DAYS).as_deref(), Some("7d"));
        assert_eq!(length_id(86_400.0).as_deref(), Some("24h"));
        assert_eq!(length_id(1_800.0).as_deref(), Some("30m"));
        assert_eq!(length_id(61.0), None);
        assert_eq!(length_id(0.0), None);
        assert_eq!(length_id(f64::NAN), None);
    }

    #[test]
    fn service_messages_only_when_safe() {
        assert_eq!(
            service_message(Some(&json!("no plan")), "k").as_deref(),
            Some("no plan")
        );
        assert_eq!(
            service_message(Some(&json!("bad key sk-123")), "sk-123"),
            None
        );
        assert_eq!(service_message(Some(&json!("x".repeat(200))), "k"), None);
        assert_eq!(service_message(Some(&json!("a\nb")), "k"), None);
        assert_eq!(service_message(Some(&json!(5)), "k"), None);
    }
}
