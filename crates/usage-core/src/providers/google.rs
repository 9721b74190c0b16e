//! What Antigravity and Gemini CLI share: the Code Assist account request (tier and
//! project) and the mapping of Google tier ids to the plan names users know.

use serde_json::{json, Value};

use super::{Account, HttpRequest};
use crate::credentials::Credentials;

const LOAD_CODE_ASSIST: &str = "/v1internal:loadCodeAssist";

pub fn account_request(
    base_url: &str,
    creds: &Credentials,
    ide: &str,
    user_agent: &str,
) -> HttpRequest {
    HttpRequest::post_json(
        format!("{base_url}{LOAD_CODE_ASSIST}"),
        json!({"metadata": {"ideType": ide, "platform": "PLATFORM_UNSPECIFIED", "pluginType": "GEMINI"}}),
    )
    .bearer(&creds.access_token)
    .header("User-Agent", user_agent)
}

pub fn parse_account(body: &[u8]) -> Account {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return Account::default();
    };
    Account {
        plan: google_plan(&v),
        project: v
            .get("cloudaicompanionProject")
            .and_then(|p| p.as_str().or_else(|| p.get("id").and_then(Value::as_str)))
            .map(String::from),
    }
}

/// The project the usage request names: the login's own, else the account's.
pub fn project_body(creds: &Credentials, account: &Account) -> Value {
    match creds.project_id.as_ref().or(account.project.as_ref()) {
        Some(p) => json!({ "project": p }),
        None => json!({}),
    }
}

/// Google tier ids to the names users know; `paidTier` wins over `currentTier`.
pub fn google_plan(body: &Value) -> Option<String> {
    let tier = body
        .get("paidTier")
        .filter(|t| t.is_object())
        .or_else(|| body.get("currentTier"))?;
    let id = tier
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_ascii_lowercase();
    let name = tier
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_ascii_lowercase();
    let both = format!("{id} {name}");
    let plan = if both.contains("ultra") {
        "ultra"
    } else if both.contains("pro") || both.contains("standard") {
        "pro"
    } else if both.contains("free") || both.contains("legacy") {
        "free"
    } else if !id.is_empty() {
        return Some(id);
    } else {
        return None;
    };
    Some(plan.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn google_tiers_prefer_paid() {
        let body = json!({"currentTier": {"id": "free-tier"}, "paidTier": {"id": "g1-ultra-tier", "name": "Google AI Ultra"}});
        assert_eq!(google_plan(&body).as_deref(), Some("ultra"));
        assert_eq!(
            google_plan(&json!({"currentTier": {"id": "standard-tier"}})).as_deref(),
            Some("pro")
        );
        assert_eq!(
            google_plan(&json!({"currentTier": {"id": "free-tier"}, "paidTier": null})).as_deref(),
            Some("free")
        );
        assert_eq!(
            google_plan(&json!({"currentTier": {"id": "g1-pro-tier"}})).as_deref(),
            Some("pro")
        );
        assert_eq!(google_plan(&json!({})), None);
    }

    #[test]
    fn account_project_from_string_or_object() {
        let a = parse_account(
            br#"{"cloudaicompanionProject":{"id":"p1"},"currentTier":{"id":"standard-tier"}}"#,
        );
        assert_eq!(
            (a.project.as_deref(), a.plan.as_deref()),
            (Some("p1"), Some("pro"))
        );
        assert_eq!(parse_account(b"not json"), Account::default());
    }
}
