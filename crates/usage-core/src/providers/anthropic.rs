//! Claude: GET /api/oauth/usage. `utilization` is percent used; any window may be `null`;
//! the service adds keys without notice, and an unknown `{utilization, resets_at}` key
//! becomes a window of its own.

use serde_json::Value;

use std::path::Path;

use super::{
    iso_to_ms, pct_quota, HttpRequest, ParseContext, RequestContext, Wire, WireConfig, WireError,
};
use crate::credentials::{num_at, read_json, str_at, AuthRule, CredentialKind, Credentials};
use crate::model::{FetchOutcome, QuotaDefinition, UsageSnapshot};

const PATH: &str = "/api/oauth/usage";
const BETA: &str = "oauth-2025-04-20";
const USER_AGENT: &str = "claude-code/2.0.31";

const FIVE_HOURS: f64 = 18_000.0;
const SEVEN_DAYS: f64 = 604_800.0;

/// Known keys and the window ids they become.
const KNOWN: [(&str, &str, f64); 4] = [
    ("five_hour", "5h", FIVE_HOURS),
    ("seven_day", "7d", SEVEN_DAYS),
    ("seven_day_opus", "7d_opus", SEVEN_DAYS),
    ("seven_day_sonnet", "7d_sonnet", SEVEN_DAYS),
];

pub struct Anthropic;

impl Wire for Anthropic {
    fn quotas(&self, _config: &WireConfig) -> Vec<QuotaDefinition> {
        KNOWN
            .iter()
            .map(|(_, id, secs)| pct_quota(id, Some(*secs)))
            .collect()
    }

    /// The usage endpoint reads a Claude login's OAuth token; an API key has no plan usage.
    fn auth(&self) -> AuthRule {
        AuthRule {
            env: &["ANTHROPIC_OAUTH_TOKEN"],
            ..AuthRule::OAUTH
        }
    }

    fn tool_credentials(&self, home: &Path) -> Option<Credentials> {
        let v = read_json(&home.join(".claude/.credentials.json"))?;
        let mut c = Credentials::new(
            str_at(&v, &["claudeAiOauth", "accessToken"])?,
            CredentialKind::OAuth,
        );
        c.expires_at = num_at(&v, &["claudeAiOauth", "expiresAt"]);
        c.plan = str_at(&v, &["claudeAiOauth", "subscriptionType"])
            .or_else(|| str_at(&v, &["claudeAiOauth", "rateLimitTier"]))
            .map(String::from);
        Some(c)
    }

    fn requests(&self, ctx: &RequestContext) -> Vec<HttpRequest> {
        vec![HttpRequest::get(format!("{}{PATH}", ctx.base_url))
            .bearer(&ctx.credentials.access_token)
            .header("anthropic-beta", BETA)
            .header("User-Agent", USER_AGENT)
            .header("Accept", "application/json")]
    }

    fn parse(&self, body: &[u8], _ctx: &ParseContext) -> Result<FetchOutcome, WireError> {
        parse(&serde_json::from_slice(body)?).map_err(WireError::Shape)
    }
}

fn window(value: &Value) -> Option<(f64, Option<i64>)> {
    let obj = value.as_object()?;
    let utilization = obj.get("utilization")?.as_f64()?;
    if !obj.contains_key("resets_at") {
        return None;
    }
    let resets_at = obj
        .get("resets_at")
        .and_then(Value::as_str)
        .and_then(iso_to_ms);
    Some((utilization, resets_at))
}

pub fn parse(body: &Value) -> Result<FetchOutcome, String> {
    let obj = body.as_object().ok_or("expected a JSON object")?;
    let mut outcome = FetchOutcome::default();
    // Known windows first, in their usual order; then whatever the service added.
    let known = KNOWN.iter().map(|(k, id, _)| (*k, Some(*id)));
    let unknown = obj
        .keys()
        .filter(|k| !KNOWN.iter().any(|(known, _, _)| known == k))
        .map(|k| (k.as_str(), None));
    for (key, known_id) in known.chain(unknown) {
        let Some((utilization, resets_at)) = obj.get(key).and_then(window) else {
            continue;
        };
        let id = match known_id {
            Some(id) => id.to_string(),
            None => {
                let secs = if key.starts_with("seven_day") {
                    Some(SEVEN_DAYS)
                } else if key.starts_with("five_hour") {
                    Some(FIVE_HOURS)
                } else {
                    None
                };
                outcome.extra_quotas.push(pct_quota(key, secs));
                key.to_string()
            }
        };
        let mut s = UsageSnapshot::new(id);
        s.used_ratio = Some(utilization / 100.0);
        s.resets_at = resets_at;
        outcome.snapshots.push(s);
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> Value {
        serde_json::from_str(include_str!("../../fixtures/anthropic-usage.json")).unwrap()
    }

    #[test]
    fn fixture_windows_and_unknown_keys() {
        let out = parse(&fixture()).unwrap();
        let ids: Vec<&str> = out.snapshots.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["5h", "7d", "7d_opus", "seven_day_omelette"]);
        let five = &out.snapshots[0];
        assert_eq!(five.used_ratio, Some(0.37));
        assert_eq!(
            five.resets_at,
            iso_to_ms("2026-11-23T21:00:00.123456+00:00")
        );
        assert_eq!(
            out.snapshots[3].resets_at, None,
            "null resets_at is kept as unknown"
        );
        assert_eq!(out.extra_quotas.len(), 1);
        assert_eq!(out.extra_quotas[0].duration_secs, Some(SEVEN_DAYS));
    }

    #[test]
    fn nulls_missing_and_odd_values_are_tolerated() {
        let body = serde_json::json!({
            "five_hour": null,
            "seven_day": {"utilization": 10},
            "extra_usage": {"is_enabled": false, "utilization": null},
            "tangelo": {"utilization": 5, "resets_at": null},
            "limits": []
        });
        let out = parse(&body).unwrap();
        let ids: Vec<&str> = out.snapshots.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(
            ids,
            ["tangelo"],
            "a window without resets_at is not a window shape"
        );
        assert!(parse(&serde_json::json!([1, 2])).is_err());
    }
}
