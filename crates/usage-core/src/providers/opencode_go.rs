//! OpenCode Go (`opencode-go`): GET opencode.ai/zen/go/v1/usage with Bearer (the OpenCode
//! API key). `usage.{rolling,weekly,monthly}` carry `percent` USED and an ISO `resetsAt`;
//! rolling is 5 h, weekly 7 d, monthly follows the subscription's anniversary.

use serde_json::Value;

use super::shape::{
    calendar_quota, finish, instant_ms, number, percent_ratio, FIVE_HOURS, SEVEN_DAYS, USER_AGENT,
};
use super::{pct_quota, HttpRequest, ParseContext, RequestContext, Wire, WireConfig, WireError};
use crate::credentials::AuthRule;
use crate::model::{FetchOutcome, QuotaDefinition, UsageSnapshot};

const PATH: &str = "/zen/go/v1/usage";

/// Wire key → window id and length.
const WINDOWS: [(&str, &str, Option<f64>); 3] = [
    ("rolling", "5h", Some(FIVE_HOURS)),
    ("weekly", "7d", Some(SEVEN_DAYS)),
    ("monthly", "monthly", None),
];

pub struct OpenCodeGo;

impl Wire for OpenCodeGo {
    fn quotas(&self, _config: &WireConfig) -> Vec<QuotaDefinition> {
        vec![
            pct_quota("5h", Some(FIVE_HOURS)),
            pct_quota("7d", Some(SEVEN_DAYS)),
            calendar_quota("monthly"),
        ]
    }

    fn auth(&self) -> AuthRule {
        AuthRule {
            env: &["OPENCODE_API_KEY"],
            ..AuthRule::API_KEY
        }
    }

    /// `x-opencode-session` wants a stable install id; the key's fingerprint is stable per
    /// account and reveals nothing the service does not already hold.
    fn requests(&self, ctx: &RequestContext) -> Vec<HttpRequest> {
        vec![HttpRequest::get(format!("{}{PATH}", ctx.base_url))
            .bearer(&ctx.credentials.access_token)
            .header("Accept", "application/json")
            .header("User-Agent", USER_AGENT)
            .header(
                "x-opencode-session",
                ctx.credentials.fingerprint("opencode-go"),
            )]
    }

    fn parse(&self, body: &[u8], _ctx: &ParseContext) -> Result<FetchOutcome, WireError> {
        parse(&serde_json::from_slice(body)?)
    }
}

/// A malformed window is a warning beside the readable ones; with none readable the answer
/// fails and the last good values stay.
pub fn parse(body: &Value) -> Result<FetchOutcome, WireError> {
    let usage = body
        .get("usage")
        .filter(|u| u.is_object())
        .ok_or_else(|| WireError::Shape("`usage` is not an object".into()))?;
    let mut outcome = FetchOutcome::default();
    let mut warnings = Vec::new();
    for (key, id, secs) in WINDOWS {
        let Some(w) = usage.get(key).filter(|w| !w.is_null()) else {
            continue;
        };
        let limited = w.get("status").and_then(Value::as_str) == Some("rate-limited");
        let percent = number(w.get("percent"));
        let mut s = UsageSnapshot::new(id);
        // The floor of the percent can read 99 on a window the service already blocks.
        s.used_ratio = match (limited, percent) {
            (true, _) => Some(1.0),
            (false, Some(p)) => Some(percent_ratio(p)),
            (false, None) => {
                warnings.push(format!("usage.{key}.percent is not a number"));
                continue;
            }
        };
        s.resets_at = instant_ms(w.get("resetsAt"));
        s.duration_secs = secs;
        outcome.snapshots.push(s);
    }
    if outcome.snapshots.is_empty() && warnings.is_empty() {
        return Err(WireError::Shape(
            "`usage` has none of rolling, weekly, monthly".into(),
        ));
    }
    finish(outcome, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fixture() -> Value {
        serde_json::from_str(include_str!(
            "../../fixtures/current/opencode-go-usage.json"
        ))
        .unwrap()
    }

    #[test]
    fn fixture_three_windows_percent_used() {
        let out = parse(&fixture()).unwrap();
        let got: Vec<_> = out
            .snapshots
            .iter()
            .map(|s| (s.id.as_str(), s.used_ratio, s.resets_at))
            .collect();
        assert_eq!(
            got,
            [
                ("5h", Some(0.41), Some(1_796_094_764_000)),
                ("7d", Some(0.67), Some(1_796_601_600_000)),
                ("monthly", Some(0.23), Some(1_797_698_402_000)),
            ]
        );
    }

    #[test]
    fn rate_limited_reads_as_spent_and_missing_windows_are_skipped() {
        let out = parse(&json!({"usage": {"rolling": {"status": "rate-limited", "percent": 99}, "weekly": null}})).unwrap();
        assert_eq!(out.snapshots.len(), 1);
        assert_eq!(out.snapshots[0].used_ratio, Some(1.0));
        assert_eq!(out.snapshots[0].resets_at, None);
    }

    #[test]
    fn a_malformed_window_is_a_warning_beside_the_others() {
        let out =
            parse(&json!({"usage": {"rolling": {"percent": 10}, "weekly": {"percent": "x"}}}))
                .unwrap();
        assert_eq!(out.snapshots.len(), 1);
        assert_eq!(out.snapshots[0].id, "5h");
        assert_eq!(
            out.snapshots[0].warnings,
            ["usage.weekly.percent is not a number"]
        );
        match parse(&json!({"usage": {"weekly": {"percent": "x"}}})) {
            Err(WireError::Shape(m)) => assert!(m.contains("usage.weekly.percent"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert!(parse(&json!({"usage": {}})).is_err());
        assert!(parse(&json!({"windows": []})).is_err());
    }

    #[test]
    fn api_key_only() {
        let rule = OpenCodeGo.auth();
        assert!(rule.api_key && rule.oauth_field.is_none());
        assert_eq!(rule.env, ["OPENCODE_API_KEY"]);
    }
}
