//! Kimi Code (`kimi-coding`): GET api.kimi.com/coding/v1/usages with Bearer (pi's OAuth
//! `access` or a Kimi API key). `usage` is the weekly total; `limits[]` are rolling windows
//! of `window.duration` × `window.timeUnit`. Counts come as numeric strings in an opaque unit,
//! so windows are percentages.

use serde_json::Value;

use super::shape::{
    finish, instant_ms, length_id, number, push_extra, push_pct, sanitize_id, FIVE_HOURS,
    SEVEN_DAYS, USER_AGENT,
};
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
        parse(&serde_json::from_slice(body)?, ctx.now_ms)
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

/// Used ratio of one `{limit, used, remaining}`: `used` when it is a count (over the limit is
/// over-use, shown spent), else `limit − remaining` when that lies within the limit. A negative
/// count (`"-1"`) is the service's "unknown", never 0 %.
fn used_ratio(detail: &Value) -> Option<f64> {
    let limit = number(detail.get("limit")).filter(|l| *l > 0.0)?;
    let used = number(detail.get("used"))
        .filter(|u| *u >= 0.0)
        .or_else(|| {
            number(detail.get("remaining"))
                .filter(|r| (0.0..=limit).contains(r))
                .map(|r| limit - r)
        })?;
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

/// A `limits[]` window: its id and length. A unit this parser does not know keeps the window,
/// named from what the service sent, without a length.
fn window_of(window: &Value) -> Option<(String, Option<f64>)> {
    let duration = number(window.get("duration")).filter(|d| *d > 0.0)?;
    let unit = window.get("timeUnit").and_then(Value::as_str).unwrap_or("");
    if let Some(secs) = unit_secs(unit).map(|u| duration * u) {
        if let Some(id) = length_id(secs) {
            return Some((id, Some(secs)));
        }
    }
    let name = unit.trim_start_matches("TIME_UNIT_");
    let id = sanitize_id(&format!("{duration} {name}"))?;
    Some((id, None))
}

pub fn parse(body: &Value, now: i64) -> Result<FetchOutcome, WireError> {
    let weekly = body.get("usage").filter(|v| v.is_object());
    let limits = body.get("limits").and_then(Value::as_array);
    if weekly.is_none() && limits.is_none() {
        return Err(WireError::Shape(
            "neither `usage` nor `limits` is present".into(),
        ));
    }
    let mut outcome = FetchOutcome::default();
    let mut warnings = Vec::new();
    for (key, ok) in [("usage", weekly.is_some()), ("limits", limits.is_some())] {
        if !ok && body.get(key).is_some_and(|v| !v.is_null()) {
            warnings.push(format!(
                "`{key}` is not {}",
                if key == "usage" {
                    "an object"
                } else {
                    "a list"
                }
            ));
        }
    }
    for (i, item) in limits.into_iter().flatten().enumerate() {
        let window = item.get("window");
        let Some((id, secs)) = window.and_then(window_of) else {
            warnings.push(format!("limits[{i}]: no readable `window`"));
            continue;
        };
        if secs.is_none()
            && !window
                .and_then(|w| w.get("timeUnit"))
                .is_some_and(Value::is_string)
        {
            warnings.push(format!(
                "limits[{i}] ({id}): `window.timeUnit` is not a name"
            ));
        }
        // Values sit in `detail`; a flat item is read the same way.
        let detail = item.get("detail").filter(|d| d.is_object()).unwrap_or(item);
        let Some(ratio) = used_ratio(detail) else {
            warnings.push(format!(
                "limits[{i}] ({id}): no usable `limit`/`used`/`remaining`"
            ));
            continue;
        };
        let mut s = UsageSnapshot::new(id);
        s.used_ratio = Some(ratio);
        s.duration_secs = secs;
        s.resets_at = reset(detail, now);
        if secs.is_some() {
            push_pct(&mut outcome, &DECLARED, s, secs);
        } else {
            push_extra(&mut outcome, &DECLARED, pct_quota(&s.id, None));
            outcome.snapshots.push(s);
        }
    }
    // The weekly total has no length of its own on the wire; a `limits[]` week wins.
    if let Some(weekly) = weekly.filter(|_| !outcome.snapshots.iter().any(|s| s.id == "7d")) {
        match used_ratio(weekly) {
            Some(ratio) => {
                let mut s = UsageSnapshot::new("7d");
                s.used_ratio = Some(ratio);
                s.resets_at = reset(weekly, now);
                outcome.snapshots.push(s);
            }
            None => warnings.push("usage (7d): no usable `limit`/`used`/`remaining`".into()),
        }
    }
    finish(outcome, warnings)
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
            .map(|s| (s.id.as_str(), s.used_ratio, s.resets_at, s.duration_secs))
            .collect();
        assert_eq!(
            got,
            [
                ("1h", Some(0.25), Some(61_000), Some(3_600.0)),
                ("5_fortnight", Some(1.0), None, None),
                ("5h", Some(1.0), Some(1_796_083_200_000), Some(FIVE_HOURS)),
            ],
            "an unknown unit keeps its window without a length; over-use is clamped"
        );
        assert_eq!(
            out.snapshots[0].warnings,
            ["limits[2] (5h): no usable `limit`/`used`/`remaining`"]
        );
        let extra: Vec<_> = out
            .extra_quotas
            .iter()
            .map(|q| (q.id.as_str(), q.duration_secs))
            .collect();
        assert_eq!(extra, [("1h", Some(3_600.0)), ("5_fortnight", None)]);
    }

    #[test]
    fn a_negative_used_count_is_unknown_not_zero() {
        let body = json!({"usage": {"limit": "100", "used": "-1", "remaining": "75"}});
        let out = parse(&body, 0).unwrap();
        assert_eq!(out.snapshots[0].used_ratio, Some(0.25), "from remaining");
        // Neither count usable: the window is a warning, not 0 % used.
        for remaining in ["-1", "101", "x"] {
            let body = json!({"usage": {"limit": "100", "used": "-1", "remaining": remaining},
                "limits": [{"window": {"duration": 300, "timeUnit": "TIME_UNIT_MINUTE"},
                            "detail": {"limit": "100", "used": "5"}}]});
            let out = parse(&body, 0).unwrap();
            let ids: Vec<&str> = out.snapshots.iter().map(|s| s.id.as_str()).collect();
            assert_eq!(ids, ["5h"], "{remaining}");
            assert_eq!(
                out.snapshots[0].warnings,
                ["usage (7d): no usable `limit`/`used`/`remaining`"]
            );
        }
    }

    #[test]
    fn nothing_recognisable_is_an_error() {
        assert!(parse(&json!({"parallel": {"limit": "20"}}), 0).is_err());
        assert!(matches!(
            parse(&json!({"usage": {"limit": "abc"}}), 0),
            Err(WireError::Shape(m)) if m.contains("usage (7d)")
        ));
    }

    #[test]
    fn oauth_login_or_api_key() {
        let rule = Kimi.auth();
        assert_eq!((rule.oauth_field, rule.api_key), (Some("access"), true));
        assert_eq!(rule.env, ["KIMI_API_KEY"]);
    }
}
