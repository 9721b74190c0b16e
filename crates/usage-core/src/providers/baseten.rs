//! Baseten (`baseten`): GET api.baseten.co/v1/billing/usage_summary for the trailing 30
//! days (`start_date`, `end_date` ISO UTC, at most 31 days apart), `Authorization: Api-Key`
//! (the form every version of the docs accepts). Spend only, in USD, organisation-wide:
//! pi's traffic is `model_apis_usage`, read as `total` (after credits); a null or absent
//! section is an organisation with no Model API usage.

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use super::shape::{error_in_body, finish, number};
use super::{spend, HttpRequest, ParseContext, RequestContext, Wire, WireConfig, WireError};
use crate::credentials::AuthRule;
use crate::model::{FetchOutcome, QuotaDefinition};

const PATH: &str = "/v1/billing/usage_summary";
const DAYS: i64 = 30;
/// The service keeps no usage before this day.
const EARLIEST: &str = "2026-01-01T00:00:00Z";

pub struct Baseten;

impl Wire for Baseten {
    fn quotas(&self, _config: &WireConfig) -> Vec<QuotaDefinition> {
        vec![spend::quota("30d", "USD")]
    }

    fn auth(&self) -> AuthRule {
        AuthRule {
            env: &["BASETEN_API_KEY"],
            ..AuthRule::API_KEY
        }
    }

    fn requests(&self, ctx: &RequestContext) -> Vec<HttpRequest> {
        let (start, end) = range(crate::clock::wall_clock_ms());
        vec![HttpRequest::get(format!(
            "{}{PATH}?start_date={start}&end_date={end}",
            ctx.base_url
        ))
        .header(
            "Authorization",
            format!("Api-Key {}", ctx.credentials.access_token),
        )
        .header("Accept", "application/json")]
    }

    fn parse(&self, body: &[u8], _ctx: &ParseContext) -> Result<FetchOutcome, WireError> {
        parse(&serde_json::from_slice(body)?)
    }
}

/// The 30 days up to now, to the second, never before the first day the service keeps.
fn range(now_ms: i64) -> (String, String) {
    let now = DateTime::<Utc>::from_timestamp_millis(now_ms).unwrap_or_default();
    let earliest = DateTime::parse_from_rfc3339(EARLIEST)
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_default();
    let start = (now - Duration::days(DAYS)).max(earliest);
    let iso = |d: DateTime<Utc>| d.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    (iso(start), iso(now))
}

pub fn parse(body: &Value) -> Result<FetchOutcome, WireError> {
    if let Some(e) = error_in_body(body) {
        return Err(WireError::Service(e));
    }
    if !body.is_object() {
        return Err(WireError::Shape("the answer is not an object".into()));
    }
    let mut warnings = Vec::new();
    let amount = match body.get("model_apis_usage") {
        None | Some(Value::Null) => 0.0,
        Some(section @ Value::Object(_)) => match number(section.get("total")) {
            Some(total) => total,
            None => {
                let gross = number(section.get("subtotal")).ok_or_else(|| {
                    WireError::Shape(
                        "`model_apis_usage` has neither `total` nor `subtotal` as a number".into(),
                    )
                })?;
                warnings.push(
                    "`model_apis_usage.total` is not a number; the spend shown is before credits"
                        .to_string(),
                );
                gross
            }
        },
        Some(_) => {
            return Err(WireError::Shape(
                "`model_apis_usage` is not an object".into(),
            ))
        }
    };
    finish(
        FetchOutcome {
            snapshots: vec![spend::snapshot("30d", amount, "USD")],
            ..Default::default()
        },
        warnings,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fixture() -> Value {
        serde_json::from_str(include_str!(
            "../../fixtures/current/baseten-usage-summary.json"
        ))
        .unwrap()
    }

    #[test]
    fn fixture_model_api_spend() {
        // The docs' placeholder body: shape only, every number is 123.
        let out = parse(&fixture()).unwrap();
        let s = &out.snapshots[0];
        assert_eq!(
            (s.id.as_str(), s.used, s.unit.as_deref()),
            ("30d", Some(123.0), Some("USD"))
        );
        assert!(s.warnings.is_empty());
    }

    #[test]
    fn net_then_gross_then_none() {
        let out = parse(
            &json!({"model_apis_usage": {"subtotal": "12.5", "credits_used": 2, "total": "10.5"}}),
        )
        .unwrap();
        assert_eq!(out.snapshots[0].used, Some(10.5));
        let out = parse(&json!({"model_apis_usage": {"subtotal": 12.5, "total": null}})).unwrap();
        assert_eq!(out.snapshots[0].used, Some(12.5));
        assert!(out.snapshots[0].warnings[0].contains("before credits"));
        let out =
            parse(&json!({"dedicated_usage": {"total": 99}, "model_apis_usage": null})).unwrap();
        assert_eq!(out.snapshots[0].used, Some(0.0));
        for body in [
            json!({"model_apis_usage": {"credits_used": 1}}),
            json!({"model_apis_usage": "1"}),
            json!([1]),
        ] {
            assert!(matches!(parse(&body), Err(WireError::Shape(_))), "{body}");
        }
    }

    #[test]
    fn thirty_days_to_now_never_before_the_earliest_day() {
        let now = super::super::iso_to_ms("2026-12-01T15:30:00Z").unwrap();
        assert_eq!(
            range(now),
            ("2026-11-01T15:30:00Z".into(), "2026-12-01T15:30:00Z".into())
        );
        let early = super::super::iso_to_ms("2026-01-10T00:00:00Z").unwrap();
        assert_eq!(range(early).0, "2026-01-01T00:00:00Z");
        assert_eq!(Baseten.auth().env, ["BASETEN_API_KEY"]);
    }
}
