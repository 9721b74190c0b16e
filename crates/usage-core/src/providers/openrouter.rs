//! OpenRouter (`openrouter`): GET /api/v1/key with Bearer, which any inference key may call
//! (`/credits` wants a management key, which pi never holds). Money in USD floats. A key with
//! a spend cap is an amount window over `limit_reset`; without a cap the endpoint says nothing
//! about money left, so the window is unlimited and shows this month's spend. A cap that cannot
//! be read leaves what the key spent in the cap's period, with a warning, never an unlimited key.

use chrono::{DateTime, Datelike, NaiveDate};
use serde_json::Value;

use super::shape::{finish, number};
use super::spend;
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
        parse(&serde_json::from_slice(body)?, ctx.now_ms)
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

/// What the key spent in its cap's period: `usage_daily` / `_weekly` / `_monthly`, or the
/// lifetime `usage` of a cap without a period; with the key's own-provider (BYOK) spend added
/// when the cap counts it.
fn period_usage(data: &Value, period: Option<&str>) -> Option<f64> {
    let suffix = match period {
        Some("daily") => "_daily",
        Some("weekly") => "_weekly",
        Some("monthly") => "_monthly",
        None => "",
        Some(_) => return None,
    };
    let spent = number(data.get(format!("usage{suffix}"))).filter(|u| *u >= 0.0)?;
    let byok = if data.get("include_byok_in_limit").and_then(Value::as_bool) == Some(true) {
        number(data.get(format!("byok_usage{suffix}")))
            .filter(|u| *u >= 0.0)
            .unwrap_or(0.0)
    } else {
        0.0
    };
    Some(spent + byok)
}

pub fn parse(body: &Value, now: i64) -> Result<FetchOutcome, WireError> {
    let data = body
        .get("data")
        .filter(|d| d.is_object())
        .ok_or_else(|| WireError::Shape("`data` is not an object".into()))?;
    let mut outcome = FetchOutcome {
        plan: (data.get("is_free_tier").and_then(Value::as_bool) == Some(true))
            .then(|| "free".to_string()),
        ..Default::default()
    };
    let mut warnings = Vec::new();
    let period = data.get("limit_reset").and_then(Value::as_str);
    let mut s = UsageSnapshot::new("key");
    match data.get("limit").filter(|l| !l.is_null()) {
        Some(limit) => match number(Some(limit)).filter(|l| *l >= 0.0) {
            Some(limit) => {
                // The service's own remaining, else the cap less what the period spent.
                let remaining = number(data.get("limit_remaining"))
                    .or_else(|| period_usage(data, period).map(|u| limit - u));
                if let Some(remaining) = remaining {
                    // Below 0 is over the cap: spent.
                    let remaining = remaining.max(0.0);
                    s.limit = Some(limit);
                    s.remaining = Some(remaining);
                    s.used = Some((limit - remaining).max(0.0));
                    // A zero cap has nothing to divide by: it is spent.
                    if limit == 0.0 {
                        s.remaining_ratio = Some(0.0);
                    }
                    if let Some((at, secs)) = period.and_then(|p| next_reset(p, now)) {
                        s.resets_at = Some(at);
                        s.duration_secs = secs;
                    }
                    outcome.snapshots.push(s);
                } else {
                    warnings.push(
                        "key: `limit` is set but neither `limit_remaining` nor the period's usage is a number"
                            .to_string(),
                    );
                }
            }
            // The cap cannot be read: what the key spent still can, shown as spend with no
            // cap (never as an unlimited key).
            None => {
                warnings.push(
                    "key: `limit` is neither a number of 0 or more nor null; the cap could not be read, shown is what the key spent"
                        .into(),
                );
                if let Some(spent) = period_usage(data, period) {
                    let mut s = spend::snapshot("key", spent, "USD");
                    if let Some((at, secs)) = period.and_then(|p| next_reset(p, now)) {
                        s.resets_at = Some(at);
                        s.duration_secs = secs;
                    }
                    outcome.snapshots.push(s);
                } else {
                    warnings.push("key: no usage of the cap's period either".into());
                }
            }
        },
        // No cap (null, or not sent): the key spends the account's credits, which this
        // endpoint does not report; shown is this month's spend. Without that there is
        // nothing to show (an answer with only a label is not an unused unlimited key).
        None => match number(data.get("usage_monthly")) {
            Some(month) => {
                s.unlimited = true;
                s.used = Some(month.max(0.0));
                // `remaining` means nothing on an unlimited window; 0 keeps it finite.
                s.remaining = Some(0.0);
                s.resets_at = next_reset("monthly", now).map(|(at, _)| at);
                outcome.snapshots.push(s);
            }
            None => warnings.push("key: no `limit` and no `usage_monthly`".into()),
        },
    }
    finish(outcome, warnings)
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
    fn a_cap_without_limit_remaining_is_read_from_the_periods_usage() {
        let body = json!({"data": {"limit": 500, "limit_reset": "monthly",
            "usage": 433.286754736, "usage_monthly": 45.457405021}});
        let s = &parse(&body, NOW).unwrap().snapshots[0];
        assert_eq!(s.limit, Some(500.0));
        assert!((s.used.unwrap() - 45.457405021).abs() < 1e-9);
        assert!((s.remaining.unwrap() - 454.542594979).abs() < 1e-9);
        assert!(s.warnings.is_empty());
        // A cap that counts BYOK spend adds it.
        let byok = json!({"data": {"limit": 100, "limit_reset": "weekly", "include_byok_in_limit": true,
            "usage_weekly": 10, "byok_usage_weekly": 5}});
        assert_eq!(
            parse(&byok, NOW).unwrap().snapshots[0].remaining,
            Some(85.0)
        );
        // A lifetime cap (no period) counts the key's lifetime usage.
        let lifetime = parse(&json!({"data": {"limit": 20, "usage": 5}}), NOW).unwrap();
        assert_eq!(lifetime.snapshots[0].remaining, Some(15.0));
        assert_eq!(lifetime.snapshots[0].resets_at, None);
        // Over the cap reads as spent, not as a negative amount left.
        let over = parse(
            &json!({"data": {"limit": 500, "limit_remaining": -5, "limit_reset": "monthly"}}),
            NOW,
        )
        .unwrap();
        assert_eq!(over.snapshots[0].remaining, Some(0.0));
        assert_eq!(over.snapshots[0].used, Some(500.0));
    }

    #[test]
    fn a_label_alone_is_not_an_unused_unlimited_key() {
        let body = json!({"data": {"label": "sk-or-v1-abc...123"}});
        match parse(&body, NOW) {
            Err(WireError::Shape(m)) => assert_eq!(m, "key: no `limit` and no `usage_monthly`"),
            other => panic!("{other:?}"),
        }
        // Not sent at all is the same as null: no cap, this month's spend.
        let out = parse(&json!({"data": {"usage_monthly": 3.5}}), NOW).unwrap();
        assert!(out.snapshots[0].unlimited);
        assert_eq!(out.snapshots[0].used, Some(3.5));
    }

    #[test]
    fn wrong_shapes_are_errors() {
        for body in [
            json!({}),
            json!({"data": []}),
            json!({"data": {"limit": -1, "limit_remaining": 0}}),
            json!({"data": {"limit": 10}}),
            json!({"data": {"limit": 10, "limit_reset": "hourly", "usage": 1}}),
        ] {
            assert!(parse(&body, NOW).is_err(), "{body}");
        }
    }

    #[test]
    fn an_unreadable_cap_keeps_the_keys_spend_with_a_warning_never_an_unlimited_key() {
        let mut body = fixture();
        for limit in [json!("lots"), json!(-1), json!(true), json!({"usd": 50})] {
            body["data"]["limit"] = limit.clone();
            let out = parse(&body, NOW).unwrap();
            let s = &out.snapshots[0];
            assert_eq!(out.snapshots.len(), 1, "{limit}");
            assert_eq!(s.id, "key");
            assert!(!s.unlimited, "{limit}: not an unlimited key");
            assert_eq!(s.limit, None, "{limit}: no cap is made up");
            // This month's spend (the cap's period), not the service's `limit_remaining`.
            assert_eq!(s.used, Some(18.73), "{limit}");
            assert_eq!((s.remaining, s.remaining_ratio), (Some(0.0), Some(1.0)));
            assert_eq!(s.unit.as_deref(), Some("USD"));
            assert_eq!(s.resets_at, Some(NOW + 31 * DAY));
            assert_eq!(
                s.warnings,
                ["key: `limit` is neither a number of 0 or more nor null; the cap could not be read, shown is what the key spent"]
            );
        }
        // Without a period the cap would count the lifetime usage.
        let lifetime = parse(&json!({"data": {"limit": "20", "usage": 5}}), NOW).unwrap();
        assert_eq!(
            lifetime.snapshots[0].limit,
            Some(20.0),
            "a numeric string is a cap"
        );
        let lifetime = parse(&json!({"data": {"limit": "twenty", "usage": 5}}), NOW).unwrap();
        assert_eq!(lifetime.snapshots[0].used, Some(5.0));
        assert_eq!(lifetime.snapshots[0].resets_at, None);
        // With no spend to show either, nothing is readable: the error names both.
        match parse(&json!({"data": {"limit": "lots"}}), NOW) {
            Err(WireError::Shape(m)) => {
                assert!(m.contains("`limit` is neither a number"), "{m}");
                assert!(m.contains("no usage of the cap's period"), "{m}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn oauth_key_or_api_key() {
        let rule = OpenRouter.auth();
        assert_eq!((rule.oauth_field, rule.api_key), (Some("access"), true));
        assert_eq!(rule.env, ["OPENROUTER_API_KEY"]);
    }
}
