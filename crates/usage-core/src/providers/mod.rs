//! The five built-in providers over their real APIs (DESIGN §5), one module each for the
//! request constants and the response parser, and one provider type that runs them.

pub mod anthropic;
pub mod antigravity;
pub mod codex;
pub mod copilot;
pub mod gemini;
pub mod http;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use reqwest::Url;
use serde_json::{json, Value};

use crate::cache::fingerprint;
use crate::credentials::{self, Credentials};
use crate::error::CoreError;
use crate::model::{
    ErrorKind, FetchError, FetchOutcome, QuotaDefinition, QuotaKind, ResetBehavior, WindowType,
};
use crate::tracker::{wall_clock_ms, BoxFuture, UsageProvider};

pub const BUILTIN_IDS: [&str; 5] = [
    "anthropic",
    "openai-codex",
    "github-copilot",
    "google-antigravity",
    "google-gemini-cli",
];

/// Environment variable pointing every built-in at one host (tests, the demo).
pub const BASE_URL_ENV: &str = "PI_USAGE_TRACKER_BASE_URL";

const LOAD_CODE_ASSIST: &str = "/v1internal:loadCodeAssist";
const TIER_TTL_MS: i64 = 60 * 60_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Anthropic,
    Codex,
    Copilot,
    Antigravity,
    Gemini,
}

impl Kind {
    pub fn from_id(id: &str) -> Option<Self> {
        Some(match id {
            "anthropic" => Kind::Anthropic,
            "openai-codex" => Kind::Codex,
            "github-copilot" => Kind::Copilot,
            "google-antigravity" => Kind::Antigravity,
            "google-gemini-cli" => Kind::Gemini,
            _ => return None,
        })
    }

    pub fn id(self) -> &'static str {
        match self {
            Kind::Anthropic => "anthropic",
            Kind::Codex => "openai-codex",
            Kind::Copilot => "github-copilot",
            Kind::Antigravity => "google-antigravity",
            Kind::Gemini => "google-gemini-cli",
        }
    }

    fn default_base(self) -> &'static str {
        match self {
            Kind::Anthropic => "https://api.anthropic.com",
            Kind::Codex => "https://chatgpt.com",
            Kind::Copilot => "https://api.github.com",
            Kind::Antigravity | Kind::Gemini => "https://cloudcode-pa.googleapis.com",
        }
    }
}

pub(crate) fn iso_to_ms(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.timestamp_millis())
}

pub(crate) fn pct_quota(id: &str, duration_secs: Option<f64>) -> QuotaDefinition {
    let mut q = QuotaDefinition::new(id, QuotaKind::Percentage)
        .with_window(WindowType::Rolling, ResetBehavior::Continuous);
    q.duration_secs = duration_secs;
    q
}

/// https anywhere; plain http only to this machine, so a token never crosses a network in clear.
pub fn validate_base_url(raw: &str) -> Result<String, CoreError> {
    let url = Url::parse(raw).map_err(|_| CoreError::InvalidBaseUrl {
        url: raw.to_string(),
        reason: "not a URL",
    })?;
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(CoreError::InvalidBaseUrl {
                url: raw.to_string(),
                reason: "plain http is only allowed to loopback (127.0.0.1, ::1, localhost)",
            })
        }
        _ => {
            return Err(CoreError::InvalidBaseUrl {
                url: raw.to_string(),
                reason: "scheme must be https",
            })
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(CoreError::InvalidBaseUrl {
            url: "<hidden>".into(),
            reason: "must not carry credentials",
        });
    }
    Ok(raw.trim_end_matches('/').to_string())
}

pub struct BuiltinConfig {
    pub instance_id: Option<String>,
    pub base_url: Option<String>,
    pub credentials: Option<Credentials>,
    /// Copilot only: premium-request multipliers per model, replacing the shipped table.
    pub multipliers: Option<BTreeMap<String, f64>>,
}

#[derive(Default, Clone)]
struct GoogleAccount {
    fetched_at: i64,
    plan: Option<String>,
    project: Option<String>,
}

pub struct BuiltinProvider {
    core: Arc<Core>,
}

struct Core {
    id: String,
    kind: Kind,
    base_url: String,
    quotas: Vec<QuotaDefinition>,
    fixed_credentials: Option<Credentials>,
    google_account: Mutex<GoogleAccount>,
}

pub fn create_builtin(
    kind_id: &str,
    config: BuiltinConfig,
) -> Result<Arc<dyn UsageProvider>, CoreError> {
    let kind =
        Kind::from_id(kind_id).ok_or_else(|| CoreError::UnknownBuiltin(kind_id.to_string()))?;
    let base = config
        .base_url
        .or_else(|| std::env::var(BASE_URL_ENV).ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| kind.default_base().to_string());
    let quotas = match kind {
        Kind::Anthropic => anthropic::quotas(),
        Kind::Codex => codex::quotas(),
        Kind::Copilot => copilot::quotas(config.multipliers.as_ref()),
        Kind::Antigravity => antigravity::quotas(),
        Kind::Gemini => gemini::quotas(),
    };
    Ok(Arc::new(BuiltinProvider {
        core: Arc::new(Core {
            id: config.instance_id.unwrap_or_else(|| kind.id().to_string()),
            kind,
            base_url: validate_base_url(&base)?,
            quotas,
            fixed_credentials: config.credentials,
            google_account: Mutex::new(GoogleAccount::default()),
        }),
    }))
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

impl Core {
    fn credentials(&self) -> Option<Credentials> {
        self.fixed_credentials
            .clone()
            .or_else(|| credentials::discover(self.kind.id(), &self.id))
    }

    fn parse_failure(&self, len: usize, e: impl std::fmt::Display) -> FetchError {
        http::parse_error(&self.id, len, e)
    }

    fn parse_json(&self, body: &[u8]) -> Result<Value, FetchError> {
        serde_json::from_slice(body).map_err(|e| self.parse_failure(body.len(), e))
    }

    /// Tier and project of a Google account, from loadCodeAssist, re-read at most hourly.
    /// Failures here never fail the usage fetch.
    async fn google_account(&self, creds: &Credentials, user_agent: &str) -> GoogleAccount {
        let cached = self
            .google_account
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let now = wall_clock_ms();
        if cached.fetched_at > 0 && now - cached.fetched_at < TIER_TTL_MS {
            return cached;
        }
        let ide = if self.kind == Kind::Antigravity {
            "ANTIGRAVITY"
        } else {
            "IDE_UNSPECIFIED"
        };
        let request = http::client()
            .post(format!("{}{LOAD_CODE_ASSIST}", self.base_url))
            .bearer_auth(&creds.access_token)
            .header("User-Agent", user_agent)
            .json(&json!({"metadata": {"ideType": ide, "platform": "PLATFORM_UNSPECIFIED", "pluginType": "GEMINI"}}));
        let mut account = GoogleAccount {
            fetched_at: now,
            ..Default::default()
        };
        if let Ok(body) = http::send(&self.id, request, wall_clock_ms).await {
            if let Ok(v) = serde_json::from_slice::<Value>(&body) {
                account.plan = google_plan(&v);
                account.project = v
                    .get("cloudaicompanionProject")
                    .and_then(|p| p.as_str().or_else(|| p.get("id").and_then(Value::as_str)))
                    .map(String::from);
            }
        }
        *self
            .google_account
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = account.clone();
        account
    }

    async fn fetch(&self) -> Result<FetchOutcome, FetchError> {
        let creds = self.credentials().ok_or_else(|| {
            FetchError::new(
                ErrorKind::Auth,
                format!("{}: no credentials found", self.id),
            )
        })?;
        if let Some(expires) = creds.expires_at {
            if expires <= wall_clock_ms() {
                return Err(FetchError::new(
                    ErrorKind::Auth,
                    format!("{}: the access token has expired; log in again in pi (/login) or open pi to refresh it", self.id),
                ));
            }
        }
        let client = http::client();
        let base = &self.base_url;
        match self.kind {
            Kind::Anthropic => {
                let request = client
                    .get(format!("{base}{}", anthropic::PATH))
                    .bearer_auth(&creds.access_token)
                    .header("anthropic-beta", anthropic::BETA)
                    .header("User-Agent", anthropic::USER_AGENT)
                    .header("Accept", "application/json");
                let body = http::send(&self.id, request, wall_clock_ms).await?;
                let mut outcome = anthropic::parse(&self.parse_json(&body)?)
                    .map_err(|e| self.parse_failure(body.len(), e))?;
                outcome.plan = creds.plan.clone();
                Ok(outcome)
            }
            Kind::Codex => {
                let mut request = client
                    .get(format!("{base}{}", codex::PATH))
                    .bearer_auth(&creds.access_token)
                    .header("Accept", "application/json")
                    .header("User-Agent", "codex-cli");
                if let Some(account) = &creds.account_id {
                    request = request.header("ChatGPT-Account-Id", account);
                }
                let body = http::send(&self.id, request, wall_clock_ms).await?;
                codex::parse(&body, wall_clock_ms()).map_err(|e| self.parse_failure(body.len(), e))
            }
            Kind::Copilot => {
                let request = client
                    .get(format!("{base}{}", copilot::PATH))
                    .header("Authorization", format!("token {}", creds.access_token))
                    .header("Accept", "application/json")
                    .header("Editor-Version", copilot::EDITOR_VERSION)
                    .header("Editor-Plugin-Version", copilot::PLUGIN_VERSION)
                    .header("User-Agent", copilot::USER_AGENT)
                    .header("X-Github-Api-Version", copilot::API_VERSION);
                let body = http::send(&self.id, request, wall_clock_ms).await?;
                copilot::parse(&body).map_err(|e| self.parse_failure(body.len(), e))
            }
            Kind::Antigravity | Kind::Gemini => {
                let (path, user_agent) = if self.kind == Kind::Antigravity {
                    (antigravity::PATH, antigravity::USER_AGENT)
                } else {
                    (gemini::PATH, gemini::USER_AGENT)
                };
                let account = self.google_account(&creds, user_agent).await;
                let project = creds.project_id.clone().or(account.project.clone());
                let payload = match &project {
                    Some(p) => json!({ "project": p }),
                    None => json!({}),
                };
                let request = client
                    .post(format!("{base}{path}"))
                    .bearer_auth(&creds.access_token)
                    .header("User-Agent", user_agent)
                    .json(&payload);
                let body = http::send(&self.id, request, wall_clock_ms).await?;
                let mut outcome = if self.kind == Kind::Antigravity {
                    antigravity::parse(&self.parse_json(&body)?)
                        .map_err(|e| self.parse_failure(body.len(), e))?
                } else {
                    gemini::parse(&body).map_err(|e| self.parse_failure(body.len(), e))?
                };
                outcome.plan = account.plan;
                Ok(outcome)
            }
        }
    }
}

impl UsageProvider for BuiltinProvider {
    fn id(&self) -> &str {
        &self.core.id
    }

    fn quotas(&self) -> &[QuotaDefinition] {
        &self.core.quotas
    }

    fn has_authentication(&self) -> BoxFuture<Result<bool, FetchError>> {
        let found = self.core.credentials().is_some();
        Box::pin(async move { Ok(found) })
    }

    fn fetch_usage(&self) -> BoxFuture<Result<FetchOutcome, FetchError>> {
        let core = self.core.clone();
        Box::pin(async move { core.fetch().await })
    }

    fn account_fingerprint(&self) -> Option<String> {
        let creds = self.core.credentials()?;
        Some(fingerprint(&self.core.id, &creds.access_token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_https_or_loopback_only() {
        assert!(validate_base_url("https://api.anthropic.com").is_ok());
        assert_eq!(
            validate_base_url("http://127.0.0.1:8080/").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert!(validate_base_url("http://localhost:1").is_ok());
        assert!(validate_base_url("http://[::1]:1").is_ok());
        let err = validate_base_url("http://example.com")
            .unwrap_err()
            .to_string();
        assert!(err.contains("only allowed to loopback"), "{err}");
        assert!(validate_base_url("ftp://127.0.0.1").is_err());
        assert!(validate_base_url("not a url").is_err());
        let err = validate_base_url("https://user:secret@host")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("secret"));
    }

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
    fn unknown_builtin_is_named() {
        let err = create_builtin(
            "claude",
            BuiltinConfig {
                instance_id: None,
                base_url: None,
                credentials: None,
                multipliers: None,
            },
        )
        .err()
        .unwrap();
        assert!(err
            .to_string()
            .contains("unknown built-in provider 'claude'"));
    }
}
