//! Vercel AI Gateway (`vercel-ai-gateway`): GET /v1/credits with Bearer and the gateway API
//! key. The team's prepaid credit balance and its lifetime spend, decimal strings in USD
//! major units. The balance may be zero or negative and is kept as sent.

use serde_json::Value;

use super::shape::{error_in_body, finish, number};
use super::{HttpRequest, ParseContext, RequestContext, Wire, WireConfig, WireError};
use crate::credentials::AuthRule;
use crate::model::{FetchOutcome, QuotaDefinition, QuotaKind, UsageSnapshot};

const PATH: &str = "/v1/credits";

pub struct VercelAiGateway;

impl Wire for VercelAiGateway {
    fn quotas(&self, _config: &WireConfig) -> Vec<QuotaDefinition> {
        vec![QuotaDefinition::new("credits", QuotaKind::Balance).with_unit("USD")]
    }

    fn auth(&self) -> AuthRule {
        AuthRule {
            env: &["AI_GATEWAY_API_KEY"],
            ..AuthRule::API_KEY
        }
    }

    fn requests(&self, ctx: &RequestContext) -> Vec<HttpRequest> {
        vec![HttpRequest::get(format!("{}{PATH}", ctx.base_url))
            .bearer(&ctx.credentials.access_token)
            .header("Accept", "application/json")]
    }

    fn parse(&self, body: &[u8], _ctx: &ParseContext) -> Result<FetchOutcome, WireError> {
        parse(&serde_json::from_slice(body)?)
    }
}

pub fn parse(body: &Value) -> Result<FetchOutcome, WireError> {
    if let Some(e) = error_in_body(body) {
        return Err(WireError::Service(e));
    }
    let balance = number(body.get("balance")).ok_or_else(|| {
        WireError::Shape("`balance` is not a number (a decimal string of US dollars)".into())
    })?;
    let mut s = UsageSnapshot::new("credits");
    s.remaining = Some(balance);
    let mut warnings = Vec::new();
    match number(body.get("total_used")) {
        Some(used) => s.used = Some(used),
        None => {
            warnings.push("`total_used` is not a number; the lifetime spend is left out".into())
        }
    }
    finish(
        FetchOutcome {
            snapshots: vec![s],
            ..Default::default()
        },
        warnings,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ErrorKind;
    use serde_json::json;

    fn fixture() -> Value {
        serde_json::from_str(include_str!(
            "../../fixtures/current/vercel-ai-gateway-credits.json"
        ))
        .unwrap()
    }

    #[test]
    fn fixture_balance_and_lifetime_spend() {
        let out = parse(&fixture()).unwrap();
        let s = &out.snapshots[0];
        assert_eq!(
            (s.id.as_str(), s.remaining, s.used),
            ("credits", Some(95.5), Some(4.5))
        );
        assert!(s.warnings.is_empty());
    }

    #[test]
    fn negative_and_zero_balances_are_kept() {
        let out = parse(&json!({"balance": "-3.25", "total_used": "203.25"})).unwrap();
        assert_eq!(out.snapshots[0].remaining, Some(-3.25));
        let out = parse(&json!({"balance": 0, "total_used": "1"})).unwrap();
        assert_eq!(out.snapshots[0].remaining, Some(0.0));
    }

    #[test]
    fn a_missing_spend_is_a_warning_a_missing_balance_an_error() {
        let out = parse(&json!({"balance": "12.00", "total_used": null})).unwrap();
        assert_eq!(out.snapshots[0].remaining, Some(12.0));
        assert_eq!(out.snapshots[0].used, None);
        assert!(out.snapshots[0].warnings[0].contains("total_used"));
        for body in [
            json!({"total_used": "1"}),
            json!({"balance": "lots"}),
            json!([]),
        ] {
            assert!(matches!(parse(&body), Err(WireError::Shape(_))), "{body}");
        }
        let err = json!({"error": {"type": "authentication_error", "message": "Invalid API key"}});
        let Err(WireError::Service(e)) = parse(&err) else {
            panic!()
        };
        assert_eq!(e.kind, ErrorKind::Auth);
    }

    #[test]
    fn api_key_from_auth_json_or_the_gateway_variable() {
        let rule = VercelAiGateway.auth();
        assert!(rule.api_key && rule.oauth_field.is_none());
        assert_eq!(rule.env, ["AI_GATEWAY_API_KEY"]);
    }
}
