//! Defensive readers the subscription services' parsers share: lenient numbers, window ids
//! made from service-chosen names, the calendar month, a 2xx body that is an error, and
//! the rule for pools that could not be read.

use chrono::{DateTime, Datelike, TimeZone, Utc};
use serde_json::Value;

use super::WireError;
use crate::model::{ErrorKind, FetchError, FetchOutcome};

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
}
