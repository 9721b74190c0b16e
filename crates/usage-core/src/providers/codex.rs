//! OpenAI Codex: GET /backend-api/wham/usage. Windows are classified by
//! `limit_window_seconds` (18000 = 5 h, 604800 = 7 d); `secondary_window` may be `null`.

use serde::Deserialize;

use std::path::Path;

use super::{pct_quota, HttpRequest, ParseContext, RequestContext, Wire, WireConfig, WireError};
use crate::credentials::{read_json, str_at, CredentialKind, Credentials};
use crate::model::{FetchOutcome, QuotaDefinition, UsageSnapshot};

const PATH: &str = "/backend-api/wham/usage";

pub struct Codex;

impl Wire for Codex {
    fn quotas(&self, _config: &WireConfig) -> Vec<QuotaDefinition> {
        vec![
            pct_quota("5h", Some(18_000.0)),
            pct_quota("7d", Some(604_800.0)),
            pct_quota("primary", None),
            pct_quota("secondary", None),
        ]
    }

    fn tool_credentials(&self, home: &Path) -> Option<Credentials> {
        let v = read_json(&home.join(".codex/auth.json"))?;
        let mut c = Credentials::new(
            str_at(&v, &["tokens", "access_token"])?,
            CredentialKind::OAuth,
        );
        c.account_id = str_at(&v, &["tokens", "account_id"]).map(String::from);
        Some(c)
    }

    fn requests(&self, ctx: &RequestContext) -> Vec<HttpRequest> {
        let mut request = HttpRequest::get(format!("{}{PATH}", ctx.base_url))
            .bearer(&ctx.credentials.access_token)
            .header("Accept", "application/json")
            .header("User-Agent", "codex-cli");
        if let Some(account) = &ctx.credentials.account_id {
            request = request.header("ChatGPT-Account-Id", account.clone());
        }
        vec![request]
    }

    fn parse(&self, body: &[u8], ctx: &ParseContext) -> Result<FetchOutcome, WireError> {
        Ok(parse(body, ctx.now_ms)?)
    }
}

#[derive(Deserialize)]
struct Body {
    plan_type: Option<String>,
    rate_limit: Option<RateLimit>,
}

#[derive(Deserialize)]
struct RateLimit {
    primary_window: Option<Window>,
    secondary_window: Option<Window>,
}

#[derive(Deserialize)]
struct Window {
    used_percent: Option<f64>,
    limit_window_seconds: Option<f64>,
    reset_after_seconds: Option<f64>,
    /// Epoch seconds.
    reset_at: Option<f64>,
}

pub fn parse(body: &[u8], now: i64) -> Result<FetchOutcome, serde_json::Error> {
    let body: Body = serde_json::from_slice(body)?;
    let mut outcome = FetchOutcome {
        plan: body.plan_type,
        ..Default::default()
    };
    let Some(limits) = body.rate_limit else {
        return Ok(outcome);
    };
    for (fallback_id, window) in [
        ("primary", limits.primary_window),
        ("secondary", limits.secondary_window),
    ] {
        let Some(w) = window else { continue };
        let Some(used_percent) = w.used_percent else {
            continue;
        };
        let id = match w.limit_window_seconds.map(|s| s.round() as i64) {
            Some(18_000) => "5h",
            Some(604_800) => "7d",
            _ => fallback_id,
        };
        let mut s = UsageSnapshot::new(id);
        s.used_ratio = Some(used_percent / 100.0);
        s.duration_secs = w.limit_window_seconds.filter(|d| *d > 0.0);
        // The relative form is immune to clock skew between us and the service, and wins
        // when the two disagree.
        s.resets_at = w
            .reset_after_seconds
            .map(|secs| now + (secs * 1000.0) as i64)
            .or_else(|| w.reset_at.map(|secs| (secs * 1000.0) as i64));
        outcome.snapshots.push(s);
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &[u8] = include_bytes!("../../fixtures/codex-usage.json");

    #[test]
    fn fixture_classified_by_window_length() {
        let out = parse(FIXTURE, 1_000).unwrap();
        assert_eq!(out.plan.as_deref(), Some("plus"));
        let five = &out.snapshots[0];
        assert_eq!((five.id.as_str(), five.used_ratio), ("5h", Some(0.23)));
        assert_eq!(
            five.resets_at,
            Some(1_000 + 9_120_000),
            "reset_after_seconds preferred"
        );
        assert_eq!(five.duration_secs, Some(18_000.0));
        assert_eq!(out.snapshots[1].id, "7d");
    }

    #[test]
    fn null_secondary_unknown_length_and_relative_reset() {
        let body = br#"{"rate_limit":{"primary_window":{"used_percent":50,"limit_window_seconds":3600,"reset_at":61},"secondary_window":null}}"#;
        let out = parse(body, 1_000).unwrap();
        assert_eq!(out.snapshots.len(), 1);
        assert_eq!(out.snapshots[0].id, "primary");
        assert_eq!(
            out.snapshots[0].resets_at,
            Some(61_000),
            "absolute reset_at when alone"
        );
        assert!(parse(br#"{"rate_limit": 5}"#, 0).is_err());
        assert!(parse(br#"{"plan_type": "pro"}"#, 0)
            .unwrap()
            .snapshots
            .is_empty());
    }
}
