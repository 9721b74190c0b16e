//! Gemini CLI: POST /v1internal:retrieveUserQuota `{"project": id}`: one bucket per model,
//! `remainingAmount` a string, `remainingFraction` 0..1, daily reset. Consumer accounts
//! have been refused since 2026-06 (`unsupported`); Workspace/Cloud projects still answer.

use serde::Deserialize;

use std::path::Path;

use super::{
    google, iso_to_ms, shape, Account, HttpRequest, ParseContext, RequestContext, Wire, WireConfig,
    WireError,
};
use crate::credentials::{num_at, read_json, str_at, CredentialKind, Credentials};
use crate::model::{
    ErrorKind, FetchError, FetchOutcome, QuotaDefinition, QuotaKind, ResetBehavior, UsageSnapshot,
    WindowType,
};

const PATH: &str = "/v1internal:retrieveUserQuota";
const USER_AGENT: &str = "GeminiCLI/0.18.0 (linux; x64)";

pub struct Gemini;

impl Wire for Gemini {
    fn quotas(&self, _config: &WireConfig) -> Vec<QuotaDefinition> {
        quotas()
    }

    fn tool_credentials(&self, home: &Path) -> Option<Credentials> {
        let v = read_json(&home.join(".gemini/oauth_creds.json"))?;
        let mut c = Credentials::new(str_at(&v, &["access_token"])?, CredentialKind::OAuth);
        c.expires_at = num_at(&v, &["expiry_date"]);
        // Only the Gemini CLI refreshes its own file.
        c.expired_hint = Some("run `gemini` once to refresh ~/.gemini/oauth_creds.json");
        c.project_id = std::env::var("GOOGLE_CLOUD_PROJECT")
            .ok()
            .filter(|p| !p.is_empty());
        Some(c)
    }

    fn account_request(&self, base_url: &str, creds: &Credentials) -> Option<HttpRequest> {
        Some(google::account_request(
            base_url,
            creds,
            "IDE_UNSPECIFIED",
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

    /// Google stopped serving the Gemini CLI's login to consumer accounts (2026-06): the
    /// refusal names `UNSUPPORTED_CLIENT` or says the client is no longer supported.
    fn service_error(&self, status: u16, body: &[u8]) -> Option<FetchError> {
        if !matches!(status, 401 | 403) {
            return None;
        }
        let text = String::from_utf8_lossy(body).to_ascii_lowercase();
        let refused = text.contains("unsupported_client")
            || text.contains("no longer supported for gemini code assist");
        refused.then(|| {
            FetchError::new(
                ErrorKind::Unsupported,
                format!("HTTP {status}: Google no longer serves the Gemini CLI to consumer accounts, so its quota cannot be read; Antigravity replaces it"),
            )
        })
    }

    fn parse(&self, body: &[u8], _ctx: &ParseContext) -> Result<FetchOutcome, WireError> {
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
            if let Some(e) = shape::error_in_body(&v) {
                return Err(WireError::Service(e));
            }
        }
        Ok(parse(body)?)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Body {
    #[serde(default)]
    buckets: Vec<Bucket>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bucket {
    model_id: Option<String>,
    token_type: Option<String>,
    remaining_amount: Option<serde_json::Value>,
    remaining_fraction: Option<f64>,
    reset_time: Option<String>,
}

fn quotas() -> Vec<QuotaDefinition> {
    vec![
        // The request bucket (`tokenType` REQUESTS) is the one kept.
        QuotaDefinition::new("daily", QuotaKind::Amount { amount: 0.0 })
            .with_unit("requests")
            .with_duration(86_400.0)
            .with_window(WindowType::Fixed, ResetBehavior::Calendar),
    ]
}

fn amount(v: &serde_json::Value) -> Option<f64> {
    v.as_f64().or_else(|| v.as_str()?.trim().parse().ok())
}

pub fn parse(body: &[u8]) -> Result<FetchOutcome, serde_json::Error> {
    let body: Body = serde_json::from_slice(body)?;
    let mut outcome = FetchOutcome::default();
    for bucket in body.buckets {
        let Some(model) = bucket.model_id else {
            continue;
        };
        // One window per model: the request bucket when several token types are listed.
        if bucket
            .token_type
            .as_deref()
            .is_some_and(|t| t != "REQUESTS")
        {
            continue;
        }
        let mut s = UsageSnapshot::new("daily");
        s.model_id = Some(model);
        s.remaining_ratio = bucket.remaining_fraction;
        let remaining = bucket.remaining_amount.as_ref().and_then(amount);
        if let (Some(rem), Some(frac)) = (remaining, bucket.remaining_fraction) {
            s.remaining = Some(rem);
            if frac > 0.0 {
                s.limit = Some((rem / frac).round());
            }
        }
        s.resets_at = bucket.reset_time.as_deref().and_then(iso_to_ms);
        outcome.snapshots.push(s);
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixture_string_amounts() {
        let out = parse(include_bytes!("../../fixtures/gemini-quota.json")).unwrap();
        let pro = &out.snapshots[0];
        assert_eq!(pro.model_id.as_deref(), Some("gemini-2.5-pro"));
        assert_eq!((pro.remaining, pro.limit), (Some(812.0), Some(1000.0)));
        assert_eq!(out.snapshots[1].limit, Some(1500.0));
        assert_eq!(pro.resets_at, iso_to_ms("2026-11-24T07:00:00Z"));
    }

    #[test]
    fn exhausted_bucket_and_bad_amounts() {
        let body = br#"{"buckets":[
            {"modelId":"m","remainingAmount":"0","remainingFraction":0},
            {"modelId":"n","remainingAmount":"lots","remainingFraction":0.5},
            {"modelId":"n","tokenType":"TOKENS","remainingFraction":0.1},
            {"remainingFraction":0.5}]}"#;
        let out = parse(body).unwrap();
        assert_eq!(out.snapshots.len(), 2);
        assert_eq!(
            (out.snapshots[0].remaining, out.snapshots[0].limit),
            (Some(0.0), None)
        );
        assert_eq!(out.snapshots[1].remaining_ratio, Some(0.5));
        assert_eq!(out.snapshots[1].remaining, None);
        assert!(parse(br#"{"buckets": {}}"#).is_err());
    }

    #[test]
    fn consumer_shutdown_is_its_own_kind() {
        let google = br#"{"error":{"code":403,"message":"This client is no longer supported for Gemini Code Assist for individuals. To continue using Gemini, please migrate to the Antigravity suite of products.","status":"PERMISSION_DENIED"}}"#;
        let e = Gemini.service_error(403, google).unwrap();
        assert_eq!(e.kind, ErrorKind::Unsupported);
        assert!(e
            .message
            .contains("no longer serves the Gemini CLI to consumer accounts"));
        assert!(!e.message.contains("migrate"), "the body is not quoted");
        let reason = br#"{"error":{"code":401,"status":"UNAUTHENTICATED","details":[{"reason":"UNSUPPORTED_CLIENT"}]}}"#;
        assert_eq!(
            Gemini.service_error(401, reason).unwrap().kind,
            ErrorKind::Unsupported
        );
        assert!(Gemini
            .service_error(403, br#"{"error":{"status":"PERMISSION_DENIED"}}"#)
            .is_none());
        assert!(
            Gemini.service_error(500, reason).is_none(),
            "only a refusal"
        );
    }

    #[test]
    fn an_expired_cli_file_says_how_to_refresh_it() {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(home.path().join(".gemini")).unwrap();
        std::fs::write(
            home.path().join(".gemini/oauth_creds.json"),
            br#"{"access_token":"ya29.x","expiry_date":1000}"#,
        )
        .unwrap();
        let c = Gemini.tool_credentials(home.path()).unwrap();
        assert_eq!(c.expires_at, Some(1000));
        assert!(c.expired_hint.unwrap().contains("run `gemini` once"));
    }
}
