//! Kimi Code (`kimi-coding`): GET api.kimi.com/coding/v1/usages with Bearer (pi's OAuth
//! `access` or a Kimi API key). `usage` is the weekly total; `limits[]` are rolling windows
//! of `window.duration` × `window.timeUnit`. Counts come as numeric strings in an opaque unit,
//! so windows are percentages.

use serde_json::Value;

use super::shape::{instant_ms, length_id, number, push_pct, FIVE_HOURS, SEVEN_DAYS, USER_AGENT};
use super::{pct_quota, HttpRequest, ParseContext, RequestContext, Wire, WireConfig, WireError};
use crate::credentials::{AuthRule, CredentialKind};
use crate::model::{FetchOutcome, QuotaDefinition, UsageSnapshot};

const PATH: &str = "/coding/v1/usages";

const DECLARED: [&str; 2] = ["5h", "7d"];

pub struct Kimi;

impl Wire for Kimi {
    fn quotas(&self, _config: &WireConfig) -> Vec<QuotaDefinition> {
        vec![
            pct_quota("5h", Some(FIVE_HOURS)),
            pct_quota("7d", Some(SEVEN_DAYS)),
        ]
    }

    /// pi's "Sign in with Kimi Code" login, or a Kimi API key.
    fn auth(&self) -> AuthRule {
        AuthRule {
            oauth_field: Some("access"),
            api_key: true,
            env: &["KIMI_API_KEY"],
            env_kind: CredentialKind::ApiKey,
            enterprise_host: false,
        }
    }

    fn requests(&self, ctx: &RequestContext) -> Vec<HttpRequest> {
        vec![HttpRequest::get(format!("{}{PATH}", ctx.base_url))
            .bearer(&ctx.credentials.access_token)
            .header("Accept", "application/json")
            .header("User-Agent", USER_AGENT)]
    }

    fn parse(&self, body: &[u8], ctx: &ParseContext) -> Result<FetchOutcome, WireError> {
        parse(&serde_json::from_slice(body)?, ctx.now_ms).map_err(WireError::Shape)
    }
}

fn unit_secs(unit: &str) -> Option<f64> {
    Some(match unit.trim_start_matches("TIME_UNIT_") {
        "SECOND" => 1.0,
        "MINUTE" => 60.0,
        "HOUR" => 3_600.0,
        "DAY" => 86_400.0,
        _ => return None,
    })
}

/// Used ratio of one `{limit, used, remaining}`: `used` when given, else `limit − remaining`.
fn used_ratio(detail: &Value) -> Option<f64> {
    let limit = number(detail.get("limit")).filter(|l| *l > 0.0)?;
    let used = number(detail.get("used"))
        .or_else(|| number(detail.get("remaining")).map(|r| limit - r))?;
    Some((used / limit).clamp(0.0, 1.0))
}

/// The reset under any of the names it has been sent as, absolute or relative.
fn reset(detail: &Value, now: i64) -> Option<i64> {
    ["resetTime", "reset_at", "resetAt", "reset_time"]
        .iter()
        .find_map(|k| instant_ms(detail.get(*k)))
        .or_else(|| {
            ["reset_in", "ttl"]
                .iter()
                .find_map(|k| number(detail.get(*k)))
                .filter(|s| *s >= 0.0)
                .map(|secs| now + (secs * 1000.0) as i64)
        })
}

pub fn parse(body: &Value, now: i64) -> Result<FetchOutcome, String> {
    let weekly = body.get("usage").filter(|v| v.is_object());
    let limits = body.get("limits").and_then(Value::as_array);
    if weekly.is_none() && limits.is_none() {
        return Err("neither `usage` nor `limits` is present".into());
    }
    let mut outcome = FetchOutcome::default();
    for item in limits.into_iter().flatten() {
        let Some(window) = item.get("window") else {
            continue;
        };
        let secs = number(window.get("duration")).and_then(|d| {
            let unit = window.get("timeUnit").and_then(Value::as_str)?;
            Some(d * unit_secs(unit)?)
        });
        let Some((secs, id)) = secs.and_then(|s| Some((s, length_id(s)?))) else {
            continue;
        };
        // Values sit in `detail`; a flat item is read the same way.
        let detail = item.get("detail").unwrap_or(item);
        let Some(ratio) = used_ratio(detail) else {
            continue;
        };
        let mut s = UsageSnapshot::new(id);
        s.used_ratio = Some(ratio);
        s.duration_secs = Some(secs);
        s.resets_at = reset(detail, now);
        push_pct(&mut outcome, &DECLARED, s, Some(secs));
    }
    // The weekly total has no length of its own on the wire; a `limits[]` week wins.
    if let Some(weekly) = weekly.filter(|_| !outcome.snapshots.iter().any(|s| s.id == "7d")) {
        if let Some(ratio) = used_ratio(weekly) {
            let mut s = UsageSnapshot::new("7d");
            s.used_ratio = Some(ratio);
            s.resets_at = reset(weekly, now);
            outcome.snapshots.push(s);
        }
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fixture() -> Value {
        serde_json::from_str(include_str!(
            "../../fixtures/current/kimi-coding-usages.json"
        ))
        .unwrap()
    }

    #[test]
    fn fixture_strings_become_ratios() {
        let out = parse(&fixture(), 0).unwrap();
        let five = out.snapshots.iter().find(|s| s.id == "5h").unwrap();
        assert_eq!(five.used_ratio, Some(0.15));
        assert_eq!(five.duration_secs, Some(FIVE_HOURS));
        assert_eq!(five.resets_at, Some(1_796_095_200_718));
        let week = out.snapshots.iter().find(|s| s.id == "7d").unwrap();
        assert_eq!(week.used_ratio, Some(0.38));
        assert_eq!(week.resets_at, Some(1_796_554_800_718));
        assert!(out.extra_quotas.is_empty());
        assert_eq!(out.plan, None);
    }

    #[test]
    fn used_from_remaining_relative_resets_and_odd_windows() {
        let body = json!({
            "limits": [
                {"window": {"duration": 1, "timeUnit": "TIME_UNIT_HOUR"},
                 "detail": {"limit": "200", "remaining": "150", "reset_in": 60}},
                {"window": {"duration": 5, "timeUnit": "TIME_UNIT_FORTNIGHT"},
                 "detail": {"limit": "1", "used": "1"}},
                {"window": {"duration": 300, "timeUnit": "TIME_UNIT_MINUTE"},
                 "detail": {"limit": "0", "used": "0"}},
                {"window": {"duration": 300, "timeUnit": "TIME_UNIT_MINUTE"},
                 "limit": 10, "used": 20, "reset_at": 1796083200}
            ]
        });
        let out = parse(&body, 1_000).unwrap();
        let got: Vec<_> = out
            .snapshots
            .iter()
            .map(|s| (s.id.as_str(), s.used_ratio, s.resets_at))
            .collect();
        assert_eq!(
            got,
            [
                ("1h", Some(0.25), Some(61_000)),
                ("5h", Some(1.0), Some(1_796_083_200_000)),
            ],
            "unknown units and zero limits are skipped; over-use is clamped"
        );
        assert_eq!(out.extra_quotas.len(), 1);
        assert_eq!(out.extra_quotas[0].id, "1h");
    }

    #[test]
    fn nothing_recognisable_is_an_error() {
        assert!(parse(&json!({"parallel": {"limit": "20"}}), 0).is_err());
        assert!(parse(&json!({"usage": {"limit": "abc"}}), 0)
            .unwrap()
            .snapshots
            .is_empty());
    }

    #[test]
    fn oauth_login_or_api_key() {
        let rule = Kimi.auth();
        assert_eq!((rule.oauth_field, rule.api_key), (Some("access"), true));
        assert_eq!(rule.env, ["KIMI_API_KEY"]);
    }
}
