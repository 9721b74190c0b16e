//! Gemini CLI: POST /v1internal:retrieveUserQuota `{"project": id}`: one bucket per model,
//! `remainingAmount` a string, `remainingFraction` 0..1, daily reset. Consumer accounts
//! have been refused since 2026-06 (`unsupported`); Workspace/Cloud projects still answer.

use std::path::Path;

use serde_json::Value;

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
        parse(body)
    }
}

fn quotas() -> Vec<QuotaDefinition> {
    vec![
        // Sized by each bucket (remaining ÷ fraction); a bucket with only a fraction is a share.
        QuotaDefinition::new("daily", QuotaKind::Amount { amount: 0.0 })
            .with_unit("requests")
            .with_duration(86_400.0)
            .with_window(WindowType::Fixed, ResetBehavior::Calendar),
    ]
}

/// One bucket as a window of its model: the fraction left, and the amounts when
/// `remainingAmount` sizes it (a `TOKENS` bucket counts tokens).
fn bucket_snapshot(
    at: &str,
    b: &serde_json::Map<String, Value>,
    warnings: &mut Vec<String>,
) -> Option<UsageSnapshot> {
    let model = b
        .get("modelId")
        .and_then(Value::as_str)
        .filter(|m| !m.trim().is_empty());
    let Some(model) = model else {
        warnings.push(format!("{at}: no modelId"));
        return None;
    };
    let raw = b.get("remainingFraction").filter(|v| !v.is_null());
    let Some(fraction) = shape::number(raw).filter(|f| (0.0..=1.0).contains(f)) else {
        // Named by position and type, never quoted: the value may be anything.
        warnings.push(match raw {
            None => format!("{at}: no remainingFraction"),
            Some(v) if v.is_number() => format!("{at}.remainingFraction: out of range"),
            Some(v) => format!(
                "{at}.remainingFraction: expected a number, found {}",
                shape::type_name(v)
            ),
        });
        return None;
    };
    let mut s = UsageSnapshot::new("daily");
    s.model_id = Some(model.to_string());
    s.remaining_ratio = Some(fraction);
    if let Some(rem) = shape::number(b.get("remainingAmount")).filter(|r| *r >= 0.0) {
        s.remaining = Some(rem);
        if fraction > 0.0 {
            s.limit = Some((rem / fraction).round());
        } else {
            // Used up: the amount left is 0, the size unknown; the share says it all.
            s.remaining = None;
        }
        let tokens = b.get("tokenType").and_then(Value::as_str) == Some("TOKENS");
        s.unit = Some(if tokens { "tokens" } else { "requests" }.into());
    }
    s.resets_at = b
        .get("resetTime")
        .and_then(Value::as_str)
        .and_then(iso_to_ms);
    Some(s)
}

/// One window per model. When a model has several buckets (one per `tokenType`), the
/// `REQUESTS` one is kept; a model whose only bucket counts `TOKENS` keeps that one.
pub fn parse(body: &[u8]) -> Result<FetchOutcome, WireError> {
    let body: Value = serde_json::from_slice(body)?;
    let buckets = match body.get("buckets") {
        None | Some(Value::Null) => return Ok(FetchOutcome::default()),
        Some(Value::Array(b)) => b,
        Some(_) => return Err(WireError::Shape("buckets: not a list".into())),
    };
    let mut outcome = FetchOutcome::default();
    let mut warnings = Vec::new();
    let mut requests_bucket: Vec<bool> = Vec::new();
    for (i, b) in buckets.iter().enumerate() {
        let at = format!("buckets[{i}]");
        let Some(b) = b.as_object() else {
            warnings.push(format!("{at}: not an object"));
            continue;
        };
        let Some(s) = bucket_snapshot(&at, b, &mut warnings) else {
            continue;
        };
        let is_requests = b
            .get("tokenType")
            .and_then(Value::as_str)
            .is_none_or(|t| t == "REQUESTS");
        match outcome
            .snapshots
            .iter()
            .position(|o| o.model_id == s.model_id)
        {
            Some(at) if is_requests && !requests_bucket[at] => {
                outcome.snapshots[at] = s;
                requests_bucket[at] = true;
            }
            Some(_) => {}
            None => {
                outcome.snapshots.push(s);
                requests_bucket.push(is_requests);
            }
        }
    }
    shape::finish(outcome, warnings)
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
        let m = &out.snapshots[0];
        assert_eq!(
            (m.remaining, m.limit, m.remaining_ratio),
            (None, None, Some(0.0)),
            "used up: a share of 0, no invented size"
        );
        assert_eq!(out.snapshots[1].remaining_ratio, Some(0.5));
        assert_eq!(out.snapshots[1].remaining, None);
        assert_eq!(m.warnings, ["buckets[3]: no modelId"]);
        assert!(matches!(
            parse(br#"{"buckets": {}}"#),
            Err(WireError::Shape(_))
        ));
    }

    #[test]
    fn a_tokens_only_model_is_kept_and_requests_win_when_both_come() {
        let body = br#"{"buckets":[
            {"modelId":"pro","tokenType":"TOKENS","remainingAmount":"50","remainingFraction":0.2},
            {"modelId":"flash","tokenType":"TOKENS","remainingAmount":"9","remainingFraction":0.9},
            {"modelId":"flash","tokenType":"REQUESTS","remainingAmount":"30","remainingFraction":0.3},
            {"modelId":"lite","remainingFraction":0.7}]}"#;
        let out = parse(body).unwrap();
        let by = |m: &str| {
            out.snapshots
                .iter()
                .find(|s| s.model_id.as_deref() == Some(m))
                .unwrap()
        };
        assert_eq!(out.snapshots.len(), 3);
        assert_eq!(
            (by("pro").limit, by("pro").unit.as_deref()),
            (Some(250.0), Some("tokens"))
        );
        assert_eq!(
            (by("flash").limit, by("flash").unit.as_deref()),
            (Some(100.0), Some("requests"))
        );
        let lite = by("lite");
        assert_eq!((lite.limit, lite.remaining_ratio), (None, Some(0.7)));
        let res = crate::resolve::resolve_snapshots(&quotas(), &out.snapshots, 0);
        let w = &res.windows_by_model["lite"][0];
        assert_eq!(
            (w.kind.as_str(), w.total, w.unit.as_deref()),
            ("percentage", 100.0, None)
        );
        assert!(
            (w.used_ratio - 0.3).abs() < 1e-9,
            "a share, not an amount of 0"
        );
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
