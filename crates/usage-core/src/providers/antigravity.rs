//! Google Antigravity: POST /v1internal:fetchAvailableModels `{"project": id}`. `models` is a
//! map (or an array of objects with `model`/`id`); `remainingFraction` is 0..1 and a model
//! with `quotaInfo` but no `remainingFraction` is exhausted.

use serde_json::Value;

use super::{
    google, iso_to_ms, Account, HttpRequest, ParseContext, RequestContext, Wire, WireConfig,
    WireError,
};
use crate::credentials::Credentials;
use crate::model::{FetchOutcome, QuotaDefinition, QuotaKind, UsageSnapshot};

const PATH: &str = "/v1internal:fetchAvailableModels";
const USER_AGENT: &str = "antigravity/1.11.9 linux/x64";

pub struct Antigravity;

impl Wire for Antigravity {
    fn quotas(&self, _config: &WireConfig) -> Vec<QuotaDefinition> {
        vec![QuotaDefinition::new("quota", QuotaKind::Percentage)]
    }

    fn account_request(&self, base_url: &str, creds: &Credentials) -> Option<HttpRequest> {
        Some(google::account_request(
            base_url,
            creds,
            "ANTIGRAVITY",
            USER_AGENT,
        ))
    }

    fn parse_account(&self, body: &[u8]) -> Account {
        google::parse_account(body)
    }

    fn requests(&self, ctx: &RequestContext) -> Vec<HttpRequest> {
        vec![HttpRequest::post_json(
            format!("{}{PATH}", ctx.base_url),
            google::project_body(ctx.credentials, ctx.account),
        )
        .bearer(&ctx.credentials.access_token)
        .header("User-Agent", USER_AGENT)]
    }

    fn parse(&self, body: &[u8], _ctx: &ParseContext) -> Result<FetchOutcome, WireError> {
        parse(&serde_json::from_slice(body)?).map_err(WireError::Shape)
    }
}

fn snapshot(model: &str, info: &Value) -> Option<UsageSnapshot> {
    let quota = info.get("quotaInfo")?.as_object()?;
    let mut s = UsageSnapshot::new("quota");
    s.model_id = Some(model.to_string());
    s.remaining_ratio = Some(
        quota
            .get("remainingFraction")
            .and_then(Value::as_f64)
            .unwrap_or(0.0),
    );
    s.resets_at = quota
        .get("resetTime")
        .and_then(Value::as_str)
        .and_then(iso_to_ms);
    Some(s)
}

pub fn parse(body: &Value) -> Result<FetchOutcome, String> {
    let mut outcome = FetchOutcome::default();
    match body.get("models") {
        Some(Value::Object(models)) => {
            outcome.snapshots = models
                .iter()
                .filter_map(|(name, info)| snapshot(name, info))
                .collect();
        }
        Some(Value::Array(models)) => {
            outcome.snapshots = models
                .iter()
                .filter_map(|info| {
                    let name = info.get("model").or_else(|| info.get("id"))?.as_str()?;
                    snapshot(name, info)
                })
                .collect();
        }
        None | Some(Value::Null) => {}
        Some(_) => return Err("`models` is neither an object nor an array".into()),
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixture_map_with_exhausted_model() {
        let body: Value =
            serde_json::from_str(include_str!("../../fixtures/antigravity-models.json")).unwrap();
        let out = parse(&body).unwrap();
        let by = |m: &str| {
            out.snapshots
                .iter()
                .find(|s| s.model_id.as_deref() == Some(m))
                .unwrap()
        };
        assert_eq!(out.snapshots.len(), 4);
        assert_eq!(by("gemini-3-pro-high").remaining_ratio, Some(0.8));
        assert_eq!(
            by("claude-opus-4-5-thinking").remaining_ratio,
            Some(0.0),
            "missing fraction = exhausted"
        );
        assert_eq!(
            by("claude-sonnet-4-5").resets_at,
            iso_to_ms("2026-11-24T02:00:00Z")
        );
    }

    #[test]
    fn array_shape_and_models_without_quota() {
        let body = serde_json::json!({"models": [
            {"model": "a", "quotaInfo": {"remainingFraction": 0.5}},
            {"id": "b", "quotaInfo": {"remainingFraction": 1}},
            {"id": "no-quota"},
            {"quotaInfo": {"remainingFraction": 1}}
        ]});
        let out = parse(&body).unwrap();
        let models: Vec<_> = out
            .snapshots
            .iter()
            .map(|s| s.model_id.clone().unwrap())
            .collect();
        assert_eq!(models, ["a", "b"]);
        assert!(parse(&serde_json::json!({"models": 3})).is_err());
        assert!(parse(&serde_json::json!({})).unwrap().snapshots.is_empty());
    }
}
