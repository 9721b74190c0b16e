//! Defensive readers the services' parsers share: lenient numbers and times (numbers sent
//! as strings, ISO or epoch times), window ids from lengths and service-chosen names, the
//! calendar month, a 2xx body that is an error, the rule for pools that could not be read,
//! and service messages that are safe to show.
use chrono::{DateTime, Datelike, TimeZone, Utc};
use serde_json::Value;

use super::{iso_to_ms, pct_quota, WireError};
use crate::model::{
    ErrorKind, FetchError, FetchOutcome, QuotaDefinition, QuotaKind, ResetBehavior, UsageSnapshot,
    WindowType,
};

/// A finite number sent as a JSON number or a numeric string (`"212.5"`).
pub(crate) fn number(v: Option<&Value>) -> Option<f64> {
    let n = match v? {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    n.is_finite().then_some(n)
}

/// A window id from a name the service chose: lower-case, `[a-z0-9_.-]` only, other runs
/// folded into one `_`. `None` when nothing is left.
pub(crate) fn sanitize_id(name: &str) -> Option<String> {
    let mut out = String::new();
    for c in name.trim().chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    let out = out.trim_matches('_').to_string();
    (!out.is_empty()).then_some(out)
}

/// The next calendar month's start (epoch ms, UTC) and the length in seconds of the month
/// that ends there: a monthly window that resets on the 1st.
pub(crate) fn month_window(now_ms: i64) -> Option<(i64, f64)> {
    let now = DateTime::<Utc>::from_timestamp_millis(now_ms)?;
    let start = Utc
        .with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .single()?;
    let (y, m) = if now.month() == 12 {
        (now.year() + 1, 1)
    } else {
        (now.year(), now.month() + 1)
    };
    let next = Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0).single()?;
    Some((next.timestamp_millis(), (next - start).num_seconds() as f64))
}

/// The length in seconds of the calendar month that ends at `reset_ms` (a monthly window
/// whose reset the service reports).
pub(crate) fn month_ending_at(reset_ms: i64) -> Option<f64> {
    let reset = DateTime::<Utc>::from_timestamp_millis(reset_ms)?;
    let start = reset.checked_sub_months(chrono::Months::new(1))?;
    Some((reset - start).num_seconds() as f64)
}

/// A code worth naming in a message: a short identifier (`PERMISSION_DENIED`, `403`), never
/// free text from the body.
fn code_name(v: Option<&Value>) -> Option<String> {
    let s = match v? {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let ok =
        !s.is_empty() && s.len() <= 40 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    ok.then_some(s)
}

/// A 2xx body that carries the service's error instead of usage: `{"error": …}` (Google,
/// and Anthropic's `{"type": "error", "error": …}`) or GitHub's `{"message",
/// "documentation_url"}`. The kind follows the code it names.
pub(crate) fn error_in_body(body: &Value) -> Option<FetchError> {
    let obj = body.as_object()?;
    let err = match obj.get("error") {
        Some(e @ (Value::Object(_) | Value::String(_))) => e,
        _ if obj.contains_key("message") && obj.contains_key("documentation_url") => body,
        _ => return None,
    };
    let codes: Vec<String> = [
        err.get("status"),
        err.get("type"),
        err.get("code"),
        obj.get("status"),
    ]
    .into_iter()
    .filter_map(code_name)
    .collect();
    let has = |needles: &[&str]| {
        codes.iter().any(|c| {
            let c = c.to_ascii_lowercase();
            needles.iter().any(|n| c.contains(n))
        })
    };
    let kind = if has(&[
        "401",
        "403",
        "unauthenticated",
        "permission",
        "authentication",
    ]) {
        ErrorKind::Auth
    } else if has(&["429", "resource_exhausted", "rate_limit"]) {
        ErrorKind::RateLimited
    } else if has(&[
        "500",
        "502",
        "503",
        "internal",
        "unavailable",
        "api_error",
        "overloaded",
    ]) {
        ErrorKind::Server
    } else {
        ErrorKind::Provider
    };
    let named = codes.first().map(|c| format!(" ({c})")).unwrap_or_default();
    let hint = if kind == ErrorKind::Auth {
        "; log in again in pi (/login)"
    } else {
        ""
    };
    Some(FetchError::new(
        kind,
        format!("the service answered with an error instead of usage{named}{hint}"),
    ))
}

/// A fetch in which some pools could not be read: the readable windows are the result and
/// every one of them carries the warnings (they reach the entry that way); with none
/// readable the warnings are the parse error.
pub(crate) fn finish(
    mut outcome: FetchOutcome,
    warnings: Vec<String>,
) -> Result<FetchOutcome, WireError> {
    if warnings.is_empty() {
        return Ok(outcome);
    }
    if outcome.snapshots.is_empty() {
        return Err(WireError::Shape(warnings.join("; ")));
    }
    for s in &mut outcome.snapshots {
        s.warnings = warnings.clone();
    }
    Ok(outcome)
}

/// The model entry of money spent beyond the plan (a wallet, on-demand spend) when the answer
/// also has plan windows: drawn on only once the plan is spent, so a spent wallet must not read
/// as a spent plan. Without plan windows it is the account's own (the default entry).
pub(crate) const EXTRA_MODEL: &str = "extra";

/// Moves the snapshots from `first` on to [`EXTRA_MODEL`] when snapshots before `first` (the
/// plan's windows) exist.
pub(crate) fn beside_plan(outcome: &mut FetchOutcome, first: usize) {
    if first == 0 {
        return;
    }
    for s in outcome.snapshots.iter_mut().skip(first) {
        s.model_id = Some(EXTRA_MODEL.into());
    }
}

pub(crate) const FIVE_HOURS: f64 = 18_000.0;
pub(crate) const SEVEN_DAYS: f64 = 604_800.0;

/// Sent where a service wants a client name and none is known to be required.
pub(crate) const USER_AGENT: &str = concat!("pi-usage-tracker/", env!("CARGO_PKG_VERSION"));

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
    use crate::model::UsageSnapshot;
    use serde_json::json;

    #[test]
    fn numbers_from_numbers_and_strings_only() {
        assert_eq!(number(Some(&json!(2.5))), Some(2.5));
        assert_eq!(number(Some(&json!(" 212.5 "))), Some(212.5));
        assert_eq!(number(Some(&json!("lots"))), None);
        assert_eq!(number(Some(&json!("NaN"))), None);
        assert_eq!(number(Some(&json!("inf"))), None);
        assert_eq!(number(Some(&json!(null))), None);
        assert_eq!(number(Some(&json!(true))), None);
        assert_eq!(number(None), None);
    }

    #[test]
    fn ids_are_lower_case_and_safe() {
        assert_eq!(sanitize_id("Fable").as_deref(), Some("fable"));
        assert_eq!(
            sanitize_id("GPT-5.3-Codex-Spark").as_deref(),
            Some("gpt-5.3-codex-spark")
        );
        assert_eq!(
            sanitize_id(" Opus 4 (beta)/x ").as_deref(),
            Some("opus_4_beta_x")
        );
        assert_eq!(sanitize_id("Ünïcode").as_deref(), Some("n_code"));
        assert_eq!(sanitize_id("  /// "), None);
    }

    #[test]
    fn month_window_ends_on_the_next_first() {
        let ms = |s: &str| super::super::iso_to_ms(s).unwrap();
        assert_eq!(
            month_window(ms("2026-12-01T00:00:00Z")),
            Some((ms("2027-01-01T00:00:00Z"), 31.0 * 86_400.0))
        );
        assert_eq!(
            month_window(ms("2027-02-14T13:00:00Z")),
            Some((ms("2027-03-01T00:00:00Z"), 28.0 * 86_400.0))
        );
        assert_eq!(
            month_window(ms("2026-11-30T23:59:59Z")),
            Some((ms("2026-12-01T00:00:00Z"), 30.0 * 86_400.0))
        );
    }

    #[test]
    fn errors_in_a_2xx_body() {
        let google = json!({"error": {"code": 403, "message": "secret text", "status": "PERMISSION_DENIED"}});
        let e = error_in_body(&google).unwrap();
        assert_eq!(e.kind, ErrorKind::Auth);
        assert!(e.message.contains("PERMISSION_DENIED") && !e.message.contains("secret"));
        let anthropic =
            json!({"type": "error", "error": {"type": "rate_limit_error", "message": "x"}});
        assert_eq!(
            error_in_body(&anthropic).unwrap().kind,
            ErrorKind::RateLimited
        );
        let github = json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com", "status": "401"});
        assert_eq!(error_in_body(&github).unwrap().kind, ErrorKind::Auth);
        let free_text = json!({"error": "something went wrong with token abc"});
        let e = error_in_body(&free_text).unwrap();
        assert_eq!(e.kind, ErrorKind::Provider);
        assert!(!e.message.contains("abc"), "{}", e.message);
        assert!(error_in_body(&json!({"error": null, "five_hour": {}})).is_none());
        assert!(error_in_body(&json!({"login": "octo"})).is_none());
    }

    #[test]
    fn warnings_ride_on_every_window_or_fail_when_none_is_left() {
        let out = FetchOutcome {
            snapshots: vec![UsageSnapshot::new("a"), UsageSnapshot::new("b")],
            ..Default::default()
        };
        let out = finish(out, vec!["chat: not an object".into()]).unwrap();
        assert!(out
            .snapshots
            .iter()
            .all(|s| s.warnings == ["chat: not an object"]));
        match finish(FetchOutcome::default(), vec!["x: bad".into()]) {
            Err(WireError::Shape(m)) => assert_eq!(m, "x: bad"),
            other => panic!("{other:?}"),
        }
        assert!(finish(FetchOutcome::default(), vec![]).is_ok());
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
