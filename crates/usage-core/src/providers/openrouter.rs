//! OpenRouter (`openrouter`): GET /api/v1/key with Bearer, which any inference key may call
//! (`/credits` wants a management key, which pi never holds). Money in USD floats. A key with
//! a spend cap is an amount window over `limit_reset`; without a cap the endpoint says nothing
//! about money left, so the window is unlimited and shows this month's spend.

use chrono::{DateTime, Datelike, NaiveDate};
use serde_json::Value;

use super::shape::number;
use super::{HttpRequest, ParseContext, RequestContext, Wire, WireConfig, WireError};
use crate::credentials::{AuthRule, CredentialKind};
use crate::model::{FetchOutcome, QuotaDefinition, QuotaKind, UsageSnapshot};

const PATH: &str = "/api/v1/key";

pub struct OpenRouter;

impl Wire for OpenRouter {
    /// The limit comes with each answer (`limit`), so the declared amount is only a floor.
    fn quotas(&self, _config: &WireConfig) -> Vec<QuotaDefinition> {
        vec![QuotaDefinition::new("key", QuotaKind::Amount { amount: 0.0 }).with_unit("USD")]
    }

    /// pi's "Sign in with OpenRouter" stores a permanent API key as `access`.
    fn auth(&self) -> AuthRule {
        AuthRule {
            oauth_field: Some("access"),
            api_key: true,
            env: &["OPENROUTER_API_KEY"],
            env_kind: CredentialKind::ApiKey,
            enterprise_host: false,
        }
    }

    fn requests(&self, ctx: &RequestContext) -> Vec<HttpRequest> {
        vec![HttpRequest::get(format!("{}{PATH}", ctx.base_url))
            .bearer(&ctx.credentials.access_token)
            .header("Accept", "application/json")]
    }

    fn parse(&self, body: &[u8], ctx: &ParseContext) -> Result<FetchOutcome, WireError> {
        parse(&serde_json::from_slice(body)?, ctx.now_ms).map_err(WireError::Shape)
    }
}

/// Start of the next period in UTC: day, Monday-started week, calendar month.
fn next_reset(period: &str, now: i64) -> Option<(i64, Option<f64>)> {
    let today = DateTime::from_timestamp_millis(now)?.date_naive();
    let (next, secs) = match period {
        "daily" => (today.succ_opt()?, Some(86_400.0)),
        "weekly" => {
            let days = 7 - i64::from(today.weekday().num_days_from_monday());
            (today + chrono::Duration::days(days), Some(604_800.0))
        }
        "monthly" => {
            let (y, m) = if today.month() == 12 {
                (today.year() + 1, 1)
            } else {
                (today.year(), today.month() + 1)
            };
            (NaiveDate::from_ymd_opt(y, m, 1)?, None)
        }
        _ => return None,
    };
    Some((
        next.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis(),
        secs,
    ))
}

pub fn parse(body: &Value, now: i64) -> Result<FetchOutcome, String> {
    let data = body
        .get("data")
        .filter(|d| d.is_object())
        .ok_or("`data` is not an object")?;
    let mut outcome = FetchOutcome {
        plan: (data.get("is_free_tier").and_then(Value::as_bool) == Some(true))
            .then(|| "free".to_string()),
        ..Default::default()
    };
    let mut s = UsageSnapshot::new("key");
    match number(data.get("limit")) {
        Some(limit) if limit >= 0.0 => {
            let remaining = number(data.get("limit_remaining"))
                .ok_or("`limit` is set but `limit_remaining` is not a number")?;
            s.limit = Some(limit);
            s.remaining = Some(remaining);
            s.used = Some((limit - remaining).max(0.0));
            // A zero cap has nothing to divide by: it is spent.
            if limit == 0.0 {
                s.remaining_ratio = Some(0.0);
            }
            let period = data.get("limit_reset").and_then(Value::as_str);
            if let Some((at, secs)) = period.and_then(|p| next_reset(p, now)) {
                s.resets_at = Some(at);
                s.duration_secs = secs;
            }
        }
        Some(_) => return Err("`limit` is negative".into()),
        None if data.get("limit").is_some_and(|l| !l.is_null()) => {
            return Err("`limit` is neither a number nor null".into())
        }
        None => {
            // No cap: the key spends the account's credits, which this endpoint does not
            // report. `remaining` means nothing on an unlimited window; 0 keeps it finite.
            s.unlimited = true;
            s.used = Some(number(data.get("usage_monthly")).unwrap_or(0.0).max(0.0));
            s.remaining = Some(0.0);
            s.resets_at = next_reset("monthly", now).map(|(at, _)| at);
        }
    }
    outcome.snapshots.push(s);
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// 2026-12-01T00:00:00Z, a Tuesday.
    const NOW: i64 = 1_796_083_200_000;
    const DAY: i64 = 86_400_000;

    fn fixture() -> Value {
        serde_json::from_str(include_str!("../../fixtures/current/openrouter-key.json")).unwrap()
    }

    #[test]
    fn capped_key_is_an_amount_window_over_its_period() {
        let out = parse(&fixture(), NOW + 5 * DAY).unwrap();
        let s = &out.snapshots[0];
        assert_eq!((s.limit, s.remaining), (Some(50.0), Some(31.27)));
        assert!((s.used.unwrap() - 18.73).abs() < 1e-9);
        assert!(!s.unlimited);
        // monthly: the 1st of the next month, 00:00 UTC
        assert_eq!(s.resets_at, Some(NOW + 31 * DAY));
        assert_eq!(s.duration_secs, None);
        assert_eq!(out.plan, None);
    }

    #[test]
    fn reset_periods() {
        assert_eq!(
            next_reset("daily", NOW + 1),
            Some((NOW + DAY, Some(86_400.0)))
        );
        // Tuesday → next Monday
        assert_eq!(
            next_reset("weekly", NOW),
            Some((NOW + 6 * DAY, Some(604_800.0)))
        );
        assert_eq!(next_reset("monthly", NOW), Some((NOW + 31 * DAY, None)));
        assert_eq!(next_reset("yearly", NOW), None);
    }

    #[test]
    fn uncapped_free_and_zero_caps() {
        let out = parse(
            &json!({"data": {"limit": null, "limit_remaining": null, "usage_monthly": 2.5, "is_free_tier": true}}),
            NOW,
        )
        .unwrap();
        let s = &out.snapshots[0];
        assert!(s.unlimited);
        assert_eq!((s.used, s.remaining, s.limit), (Some(2.5), Some(0.0), None));
        assert_eq!(out.plan.as_deref(), Some("free"));

        let zero = parse(&json!({"data": {"limit": 0, "limit_remaining": 0}}), NOW).unwrap();
        assert_eq!(zero.snapshots[0].remaining_ratio, Some(0.0));
        assert_eq!(
            zero.snapshots[0].resets_at, None,
            "no period: a lifetime cap"
        );
    }

    #[test]
    fn wrong_shapes_are_errors() {
        for body in [
            json!({}),
            json!({"data": []}),
            json!({"data": {"limit": "lots"}}),
            json!({"data": {"limit": -1, "limit_remaining": 0}}),
            json!({"data": {"limit": 10}}),
        ] {
            assert!(parse(&body, NOW).is_err(), "{body}");
        }
    }

    #[test]
    fn oauth_key_or_api_key() {
        let rule = OpenRouter.auth();
        assert_eq!((rule.oauth_field, rule.api_key), (Some("access"), true));
        assert_eq!(rule.env, ["OPENROUTER_API_KEY"]);
    }
}
