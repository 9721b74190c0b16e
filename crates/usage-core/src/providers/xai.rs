//! xAI Grok subscription (`xai`): GET cli-chat-proxy.grok.com/v1/billing with the OAuth
//! token of pi's "Sign in with SuperGrok or X Premium". First `?format=credits` (a percent
//! used over `currentPeriod`); unified-billing accounts answer that without a percent, so the
//! default form (`monthlyLimit` / `used` over the billing period) is the fallback.
//! Never an API key: `XAI_API_KEY` is a paid key, not the subscription.

use serde_json::Value;

use super::shape::{
    calendar_quota, instant_ms, length_id, number, percent_ratio, push_extra, push_pct, SEVEN_DAYS,
};
use super::{pct_quota, HttpRequest, ParseContext, RequestContext, Wire, WireConfig, WireError};
use crate::credentials::{AuthRule, CredentialKind};
use crate::model::{FetchOutcome, QuotaDefinition, UsageSnapshot};

const PATH: &str = "/v1/billing";

const DECLARED: [&str; 2] = ["7d", "monthly"];

pub struct Xai;

impl Wire for Xai {
    fn quotas(&self, _config: &WireConfig) -> Vec<QuotaDefinition> {
        vec![pct_quota("7d", Some(SEVEN_DAYS)), calendar_quota("monthly")]
    }

    /// The OAuth login only, and no environment variable.
    fn auth(&self) -> AuthRule {
        AuthRule::OAUTH
    }

    /// The client headers are what the CLIs that call this proxy send; none is known to be
    /// required, none is known to hurt. An API key handed in directly is never sent.
    fn requests(&self, ctx: &RequestContext) -> Vec<HttpRequest> {
        if ctx.credentials.kind == CredentialKind::ApiKey {
            return Vec::new();
        }
        let request = |query: &str| {
            HttpRequest::get(format!("{}{PATH}{query}", ctx.base_url))
                .bearer(&ctx.credentials.access_token)
                .header("Accept", "application/json")
                .header("x-xai-token-auth", "xai-grok-cli")
                .header("x-grok-client-surface", "grok-build")
                .header("x-grok-client-version", "1.0.0")
        };
        vec![request("?format=credits"), request("")]
    }

    fn parse(&self, body: &[u8], ctx: &ParseContext) -> Result<FetchOutcome, WireError> {
        parse(&serde_json::from_slice(body)?, ctx.now_ms, ctx.attempt == 0)
            .map_err(WireError::Shape)
    }
}

/// `{val}` amounts, whose unit is not documented: only their ratio is used.
fn val(v: Option<&Value>) -> Option<f64> {
    number(v?.get("val"))
}

fn period_id(kind: &str, secs: Option<f64>) -> Option<(String, Option<f64>)> {
    if kind.ends_with("WEEKLY") {
        Some(("7d".into(), Some(SEVEN_DAYS)))
    } else if kind.ends_with("MONTHLY") {
        Some(("monthly".into(), None))
    } else {
        Some((length_id(secs?)?, secs))
    }
}

fn credits(config: &Value, now: i64, outcome: &mut FetchOutcome) -> Result<(), String> {
    let period = config
        .get("currentPeriod")
        .filter(|p| p.is_object())
        .ok_or("no `currentPeriod`")?;
    let start = instant_ms(period.get("start"));
    let end = instant_ms(period.get("end"));
    let percent = match number(config.get("creditUsagePercent")) {
        Some(p) => p,
        // Omitted on a fresh period: nothing used yet, if the period is the current one.
        None if start.is_none_or(|s| s <= now) && end.is_some_and(|e| e > now) => 0.0,
        None => return Err("no `creditUsagePercent` and no current period".into()),
    };
    let secs = match (start, end) {
        (Some(a), Some(b)) if b > a => Some((b - a) as f64 / 1000.0),
        _ => None,
    };
    let kind = period.get("type").and_then(Value::as_str).unwrap_or("");
    let (id, length) = period_id(kind, secs).ok_or("unknown `currentPeriod.type`")?;
    let mut s = UsageSnapshot::new(id);
    s.used_ratio = Some(percent_ratio(percent));
    s.resets_at = end;
    s.duration_secs = length;
    if length.is_some() {
        push_pct(outcome, &DECLARED, s, length);
    } else {
        push_extra(outcome, &DECLARED, calendar_quota(&s.id));
        outcome.snapshots.push(s);
    }
    Ok(())
}

/// The default form; one source only, so a missing or zero limit is refused, not guessed.
fn monthly(config: &Value, outcome: &mut FetchOutcome) -> Result<(), String> {
    let limit = val(config.get("monthlyLimit"))
        .filter(|l| *l > 0.0)
        .ok_or("no positive `monthlyLimit.val`")?;
    let used = val(config.get("used")).ok_or("no `used.val`")?;
    let mut s = UsageSnapshot::new("monthly");
    s.used_ratio = Some((used / limit).clamp(0.0, 1.0));
    s.resets_at = instant_ms(config.get("billingPeriodEnd"));
    outcome.snapshots.push(s);
    Ok(())
}

/// `first`: the credits request answered. Unified-billing accounts go on to the default form.
pub fn parse(body: &Value, now: i64, first: bool) -> Result<FetchOutcome, String> {
    let config = body
        .get("config")
        .filter(|c| c.is_object())
        .ok_or("`config` is not an object")?;
    let unified = config.get("isUnifiedBillingUser").and_then(Value::as_bool) == Some(true);
    if first && unified && config.get("creditUsagePercent").is_none() {
        return Err("a unified-billing account: the credits form has no percent".into());
    }
    let mut outcome = FetchOutcome {
        plan: config
            .get("subscriptionTier")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(String::from),
        ..Default::default()
    };
    if config.get("monthlyLimit").is_some() {
        monthly(config, &mut outcome)?;
    } else {
        credits(config, now, &mut outcome)?;
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// 2026-12-01T00:00:00Z, the fixtures' "now".
    const NOW: i64 = 1_796_083_200_000;

    fn fixture(name: &str) -> Value {
        let text = match name {
            "credits" => include_str!("../../fixtures/current/xai-grok-billing-credits.json"),
            _ => include_str!("../../fixtures/current/xai-grok-billing-monthly.json"),
        };
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn credits_fixture_weekly_percent() {
        let out = parse(&fixture("credits"), NOW, true).unwrap();
        assert_eq!(out.plan.as_deref(), Some("SuperGrok"));
        assert_eq!(out.snapshots.len(), 1);
        let s = &out.snapshots[0];
        assert_eq!((s.id.as_str(), s.used_ratio), ("7d", Some(0.38)));
        assert_eq!(s.resets_at, Some(1_796_351_040_983));
        assert_eq!(s.duration_secs, Some(SEVEN_DAYS));
    }

    #[test]
    fn monthly_fixture_is_refused_first_and_read_as_the_fallback() {
        assert!(parse(&fixture("monthly"), NOW, true).is_err());
        let out = parse(&fixture("monthly"), NOW, false).unwrap();
        let s = &out.snapshots[0];
        assert_eq!(s.id, "monthly");
        assert!((s.used_ratio.unwrap() - 0.58).abs() < 1e-9);
        assert_eq!(s.resets_at, Some(NOW + 14 * 86_400_000));
    }

    #[test]
    fn fresh_period_without_percent_is_zero() {
        let body = json!({"config": {"currentPeriod": {
            "type": "USAGE_PERIOD_TYPE_MONTHLY", "start": "2026-11-30T00:00:00Z", "end": "2026-12-30T00:00:00Z"}}});
        let out = parse(&body, NOW, true).unwrap();
        assert_eq!(out.snapshots[0].id, "monthly");
        assert_eq!(out.snapshots[0].used_ratio, Some(0.0));
        let past = json!({"config": {"currentPeriod": {"type": "USAGE_PERIOD_TYPE_WEEKLY", "end": "2026-11-30T00:00:00Z"}}});
        assert!(parse(&past, NOW, true).is_err());
    }

    #[test]
    fn unknown_period_types_by_length_and_wrong_shapes() {
        let body = json!({"config": {"creditUsagePercent": "12", "currentPeriod": {
            "type": "USAGE_PERIOD_TYPE_DAILY", "start": "2026-12-01T00:00:00Z", "end": "2026-12-02T00:00:00Z"}}});
        let out = parse(&body, NOW, true).unwrap();
        assert_eq!(out.snapshots[0].id, "24h");
        assert_eq!(out.extra_quotas[0].id, "24h");
        for body in [
            json!({}),
            json!({"config": {"monthlyLimit": {"val": 0}, "used": {"val": 1}}}),
            json!({"config": {"monthlyLimit": {"val": "3000"}}}),
            json!({"config": {"creditUsagePercent": 5}}),
        ] {
            assert!(parse(&body, NOW, false).is_err(), "{body}");
        }
    }

    #[test]
    fn oauth_only_and_never_the_paid_api_key() {
        let rule = Xai.auth();
        assert_eq!((rule.oauth_field, rule.api_key), (Some("access"), false));
        assert!(rule.env.is_empty(), "XAI_API_KEY must never be read");
        let key = crate::credentials::Credentials::new("xai-paid", CredentialKind::ApiKey);
        let ctx = RequestContext {
            base_url: "https://h",
            credentials: &key,
            account: &Default::default(),
        };
        assert!(
            Xai.requests(&ctx).is_empty(),
            "a key passed in directly is not sent either"
        );
    }
}
