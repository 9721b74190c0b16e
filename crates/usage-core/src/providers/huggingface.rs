//! Hugging Face (`huggingface`): GET huggingface.co/api/settings/billing/usage-v2 with
//! Bearer and the HF token, for the UTC month so far (`startDate`, `endDate` in epoch
//! seconds). Inference Providers money in nano-USD integers: what was spent this month
//! (`month`, spend without a cap) and how much of the included monthly credit it used
//! (`included`, an allowance that renews on the 1st). `periodEnd` echoes the query and is
//! not a reset. A fine-grained token without "Billing read" gets 403.

use serde_json::Value;

use super::shape::{finish, month_window, number};
use super::{spend, HttpRequest, ParseContext, RequestContext, Wire, WireConfig, WireError};
use crate::credentials::AuthRule;
use crate::model::{
    ErrorKind, FetchError, FetchOutcome, QuotaDefinition, QuotaKind, ResetBehavior, UsageSnapshot,
    WindowType,
};

const PATH: &str = "/api/settings/billing/usage-v2";
const NANO: f64 = 1e9;

pub struct HuggingFace;

impl Wire for HuggingFace {
    fn quotas(&self, _config: &WireConfig) -> Vec<QuotaDefinition> {
        vec![
            spend::quota("month", "USD"),
            QuotaDefinition::new("included", QuotaKind::Amount { amount: 0.0 })
                .with_unit("USD")
                .with_window(WindowType::Fixed, ResetBehavior::Calendar),
        ]
    }

    fn auth(&self) -> AuthRule {
        AuthRule {
            env: &["HF_TOKEN"],
            ..AuthRule::API_KEY
        }
    }

    /// 403 is a token that may not read billing, which a new login does not fix.
    fn service_error(&self, status: u16, _body: &[u8]) -> Option<FetchError> {
        (status == 403).then(|| {
            FetchError::new(
                ErrorKind::Auth,
                "HTTP 403, the token may not read billing; use a classic read token or give the fine-grained token \"Billing read\"",
            )
        })
    }

    fn requests(&self, ctx: &RequestContext) -> Vec<HttpRequest> {
        let now = crate::clock::wall_clock_ms() / 1000;
        let start = month_start_secs(now);
        vec![HttpRequest::get(format!(
            "{}{PATH}?startDate={start}&endDate={now}",
            ctx.base_url
        ))
        .bearer(&ctx.credentials.access_token)
        .header("Accept", "application/json")]
    }

    fn parse(&self, body: &[u8], ctx: &ParseContext) -> Result<FetchOutcome, WireError> {
        parse(&serde_json::from_slice(body)?, ctx.now_ms)
    }
}

/// The first of the month 00:00 UTC containing `now` (epoch seconds).
fn month_start_secs(now: i64) -> i64 {
    use chrono::{Datelike, TimeZone, Utc};
    let Some(t) = chrono::DateTime::<Utc>::from_timestamp(now, 0) else {
        return now;
    };
    Utc.with_ymd_and_hms(t.year(), t.month(), 1, 0, 0, 0)
        .single()
        .map_or(now, |d| d.timestamp())
}

/// Nano-USD as dollars. The service sends JSON integers; a string or a negative amount is a
/// changed format, not money (peers refuse them too).
fn dollars(v: Option<&Value>) -> Option<f64> {
    v.filter(|v| v.is_number())
        .and_then(|v| number(Some(v)))
        .filter(|n| *n >= 0.0)
        .map(|n| n / NANO)
}

pub fn parse(body: &Value, now_ms: i64) -> Result<FetchOutcome, WireError> {
    if let Some(e) = super::shape::error_in_body(body) {
        return Err(WireError::Service(e));
    }
    let usage = body
        .pointer("/usage/inferenceProviders")
        .filter(|u| u.is_object())
        .ok_or_else(|| WireError::Shape("`usage.inferenceProviders` is not an object".into()))?;
    let used = dollars(usage.get("usedNanoUsd")).ok_or_else(|| {
        WireError::Shape("`usage.inferenceProviders.usedNanoUsd` is not a number".into())
    })?;
    let month = month_window(now_ms);
    let mut outcome = FetchOutcome::default();
    let mut warnings = Vec::new();
    let mut spent = spend::snapshot("month", used, "USD");
    spent.resets_at = month.map(|(at, _)| at);
    outcome.snapshots.push(spent);
    match usage.get("includedNanoUsd") {
        None | Some(Value::Null) => {}
        v => match dollars(v) {
            Some(included) if included > 0.0 => {
                let mut s = UsageSnapshot::new("included");
                s.limit = Some(included);
                s.used = Some(used.min(included));
                s.remaining = Some((included - used).max(0.0));
                s.resets_at = month.map(|(at, _)| at);
                s.duration_secs = month.map(|(_, secs)| secs);
                outcome.snapshots.push(s);
            }
            Some(_) => {}
            None => warnings.push(
                "`usage.inferenceProviders.includedNanoUsd` is not a number; the included credit is left out".into(),
            ),
        },
    }
    finish(outcome, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_796_083_200_000 + 14 * 86_400_000; // 2026-12-15

    fn fixture() -> Value {
        serde_json::from_str(include_str!(
            "../../fixtures/current/huggingface-billing-usage.json"
        ))
        .unwrap()
    }

    #[test]
    fn fixture_month_spend_and_included_credit() {
        let out = parse(&fixture(), NOW).unwrap();
        let next_month = super::super::iso_to_ms("2027-01-01T00:00:00Z").unwrap();
        let got: Vec<_> = out
            .snapshots
            .iter()
            .map(|s| (s.id.as_str(), s.used, s.limit, s.remaining, s.resets_at))
            .collect();
        assert_eq!(
            got,
            [
                ("month", Some(2.45), None, Some(0.0), Some(next_month)),
                (
                    "included",
                    Some(2.0),
                    Some(2.0),
                    Some(0.0),
                    Some(next_month)
                ),
            ]
        );
        assert_eq!(out.snapshots[1].duration_secs, Some(31.0 * 86_400.0));
    }

    #[test]
    fn under_the_included_credit_and_without_one() {
        let body = json!({"usage": {"inferenceProviders": {"usedNanoUsd": 50_000_000, "includedNanoUsd": 100_000_000}}});
        let out = parse(&body, NOW).unwrap();
        let inc = &out.snapshots[1];
        assert_eq!((inc.used, inc.remaining), (Some(0.05), Some(0.05)));
        let body =
            json!({"usage": {"inferenceProviders": {"usedNanoUsd": 7, "includedNanoUsd": 0}}});
        assert_eq!(parse(&body, NOW).unwrap().snapshots.len(), 1);
    }

    #[test]
    fn unreadable_parts() {
        let body =
            json!({"usage": {"inferenceProviders": {"usedNanoUsd": 1e9, "includedNanoUsd": "x"}}});
        let out = parse(&body, NOW).unwrap();
        assert_eq!(out.snapshots.len(), 1);
        assert!(out.snapshots[0].warnings[0].contains("includedNanoUsd"));
        for body in [
            json!({}),
            json!({"usage": {"inferenceProviders": {"usedNanoUsd": -5}}}),
            json!({"usage": {"inferenceProviders": {"usedNanoUsd": true}}}),
            json!({"usage": {"inferenceProviders": {"usedNanoUsd": "450000000"}}}),
            json!({"usage": {"inferenceProviders": 3}}),
        ] {
            assert!(
                matches!(parse(&body, NOW), Err(WireError::Shape(_))),
                "{body}"
            );
        }
        assert!(matches!(
            parse(
                &json!({"error": "Invalid credentials in Authorization header"}),
                NOW
            ),
            Err(WireError::Service(_))
        ));
    }

    #[test]
    fn the_query_is_the_utc_month_so_far_in_seconds() {
        assert_eq!(month_start_secs(1_797_292_800), 1_796_083_200);
        assert_eq!(month_start_secs(1_796_083_200), 1_796_083_200);
        let e = HuggingFace.service_error(403, b"{}").unwrap();
        assert_eq!(e.kind, ErrorKind::Auth);
        assert!(e.message.contains("Billing read"));
        assert!(HuggingFace.service_error(401, b"{}").is_none());
        assert_eq!(HuggingFace.auth().env, ["HF_TOKEN"]);
    }
}
