//! Built-in providers. Each file owns one service's whole wire contract (its `Wire`):
//! quotas, which credentials it takes, the request, and the parser. [`BUILTINS`] is the one
//! list of built-in ids in the project; the addon hands it to JS. Adding a provider is one
//! file plus one row here (see docs/ARCHITECTURE.md).

pub mod anthropic;
pub mod antigravity;
pub mod baseten;
mod builtin;
pub mod codex;
pub mod copilot;
#[cfg(test)]
mod corpus_tests;
pub mod deepseek;
pub mod fireworks;
pub mod gemini;
pub mod google;
pub mod header_only;
pub mod http;
pub mod huggingface;
pub mod kimi;
pub mod minimax;
pub mod moonshot;
#[cfg(test)]
mod mutate;
pub mod opencode_go;
pub mod openrouter;
pub mod ratelimit;
mod shape;
mod spend;
pub mod vercel_ai_gateway;
pub mod xai;
pub mod zai;

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::credentials::{AuthRule, Credentials};
use crate::model::{
    FetchError, FetchOutcome, QuotaDefinition, QuotaKind, ResetBehavior, WindowType,
};

pub use builtin::{create_builtin, validate_base_url, BuiltinConfig};

/// Environment variable pointing every built-in at one host (tests, the demo).
pub const BASE_URL_ENV: &str = "PI_USAGE_TRACKER_BASE_URL";

/// One built-in provider: the row a newcomer adds.
pub struct BuiltinSpec {
    /// pi's own provider id, so pi's credentials map one-to-one.
    pub id: &'static str,
    /// Short name for footers and tables.
    pub label: &'static str,
    pub default_base_url: &'static str,
    pub wire: &'static dyn Wire,
}

pub const BUILTINS: &[BuiltinSpec] = &[
    BuiltinSpec {
        id: "anthropic",
        label: "claude",
        default_base_url: "https://api.anthropic.com",
        wire: &anthropic::Anthropic,
    },
    BuiltinSpec {
        id: "openai-codex",
        label: "codex",
        default_base_url: "https://chatgpt.com",
        wire: &codex::Codex,
    },
    BuiltinSpec {
        id: "github-copilot",
        label: "copilot",
        default_base_url: "https://api.github.com",
        wire: &copilot::Copilot,
    },
    BuiltinSpec {
        id: "google-antigravity",
        label: "antigravity",
        default_base_url: "https://cloudcode-pa.googleapis.com",
        wire: &antigravity::Antigravity,
    },
    BuiltinSpec {
        id: "google-gemini-cli",
        label: "gemini",
        default_base_url: "https://cloudcode-pa.googleapis.com",
        wire: &gemini::Gemini,
    },
    BuiltinSpec {
        id: "zai",
        label: "zai",
        default_base_url: "https://api.z.ai",
        wire: &zai::Zai { cn: false },
    },
    BuiltinSpec {
        id: "zai-coding-cn",
        label: "zai-cn",
        default_base_url: "https://open.bigmodel.cn",
        wire: &zai::Zai { cn: true },
    },
    BuiltinSpec {
        id: "kimi-coding",
        label: "kimi",
        default_base_url: "https://api.kimi.com",
        wire: &kimi::Kimi,
    },
    BuiltinSpec {
        id: "minimax",
        label: "minimax",
        default_base_url: "https://api.minimax.io",
        wire: &minimax::MiniMax { cn: false },
    },
    BuiltinSpec {
        id: "minimax-cn",
        label: "minimax-cn",
        default_base_url: "https://api.minimaxi.com",
        wire: &minimax::MiniMax { cn: true },
    },
    BuiltinSpec {
        id: "openrouter",
        label: "openrouter",
        default_base_url: "https://openrouter.ai",
        wire: &openrouter::OpenRouter,
    },
    BuiltinSpec {
        id: "opencode-go",
        label: "opencode-go",
        default_base_url: "https://opencode.ai",
        wire: &opencode_go::OpenCodeGo,
    },
    BuiltinSpec {
        id: "deepseek",
        label: "deepseek",
        default_base_url: "https://api.deepseek.com",
        wire: &deepseek::DeepSeek,
    },
    BuiltinSpec {
        id: "moonshotai",
        label: "moonshot",
        default_base_url: "https://api.moonshot.ai",
        wire: &moonshot::Moonshot { cn: false },
    },
    BuiltinSpec {
        id: "moonshotai-cn",
        label: "moonshot-cn",
        default_base_url: "https://api.moonshot.cn",
        wire: &moonshot::Moonshot { cn: true },
    },
    BuiltinSpec {
        id: "xai",
        label: "grok",
        default_base_url: "https://cli-chat-proxy.grok.com",
        wire: &xai::Xai,
    },
    BuiltinSpec {
        id: "vercel-ai-gateway",
        label: "vercel",
        default_base_url: "https://ai-gateway.vercel.sh",
        wire: &vercel_ai_gateway::VercelAiGateway,
    },
    BuiltinSpec {
        id: "huggingface",
        label: "hf",
        default_base_url: "https://huggingface.co",
        wire: &huggingface::HuggingFace,
    },
    BuiltinSpec {
        id: "fireworks",
        label: "fireworks",
        default_base_url: "https://api.fireworks.ai",
        wire: &fireworks::Fireworks,
    },
    BuiltinSpec {
        id: "baseten",
        label: "baseten",
        default_base_url: "https://api.baseten.co",
        wire: &baseten::Baseten,
    },
    BuiltinSpec {
        id: "groq",
        label: "groq",
        default_base_url: "https://api.groq.com",
        wire: &header_only::HeaderOnly {
            env: &["GROQ_API_KEY"],
            dialect: ratelimit::Dialect::GROQ,
        },
    },
    BuiltinSpec {
        id: "cerebras",
        label: "cerebras",
        default_base_url: "https://api.cerebras.ai",
        wire: &header_only::HeaderOnly {
            env: &["CEREBRAS_API_KEY"],
            dialect: ratelimit::Dialect::OPENAI,
        },
    },
    BuiltinSpec {
        id: "openai",
        label: "openai",
        default_base_url: "https://api.openai.com",
        wire: &header_only::HeaderOnly {
            env: &["OPENAI_API_KEY"],
            dialect: ratelimit::Dialect::OPENAI,
        },
    },
    BuiltinSpec {
        id: "mistral",
        label: "mistral",
        default_base_url: "https://api.mistral.ai",
        wire: &header_only::HeaderOnly {
            env: &["MISTRAL_API_KEY"],
            dialect: ratelimit::Dialect::OPENAI,
        },
    },
];

pub fn builtin(id: &str) -> Option<&'static BuiltinSpec> {
    BUILTINS.iter().find(|b| b.id == id)
}

impl BuiltinSpec {
    /// What `id` is called on screen when it is this row or an instance of it: the row's
    /// label, or `<label>-<name>` for `<id>-<name>`; `None` for any other id.
    pub fn instance_label(&self, id: &str) -> Option<String> {
        match id.strip_prefix(self.id)? {
            "" => Some(self.label.to_string()),
            rest if rest.starts_with('-') => Some(format!("{}{rest}", self.label)),
            _ => None,
        }
    }
}

/// The row an id is, or extends as `<id>-<name>`: the longest such id, so `openai-codex-x` is
/// never read as an instance of some shorter id.
fn row_of(id: &str) -> Option<(usize, &'static BuiltinSpec)> {
    (BUILTINS.iter().enumerate())
        .filter(|(_, b)| b.instance_label(id).is_some())
        .max_by_key(|(_, b)| b.id.len())
}

/// What a provider id is called on screen: its row's label (`<label>-<name>` for an instance
/// `<id>-<name>`), else the id itself (a JS strategy, an instance named otherwise).
pub fn label_of(id: &str) -> String {
    row_of(id)
        .and_then(|(_, b)| b.instance_label(id))
        .unwrap_or_else(|| id.to_string())
}

/// Where a provider id sorts: its row's place in the table; any other id after every row.
pub fn rank_of(id: &str) -> usize {
    row_of(id).map_or(BUILTINS.len(), |(at, _)| at)
}

/// The error for an id the table does not hold, listing the ids it does.
pub fn unknown_builtin(id: &str) -> crate::error::CoreError {
    crate::error::CoreError::UnknownBuiltin {
        id: id.to_string(),
        known: BUILTINS.iter().map(|b| b.id).collect(),
    }
}

/// A request as data; the runner (`builtin.rs`) sends it.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRequest {
    pub post: bool,
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub json: Option<Value>,
}

impl HttpRequest {
    pub fn get(url: String) -> Self {
        Self {
            post: false,
            url,
            headers: Vec::new(),
            json: None,
        }
    }

    pub fn post_json(url: String, body: Value) -> Self {
        Self {
            post: true,
            url,
            headers: Vec::new(),
            json: Some(body),
        }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn bearer(self, token: &str) -> Self {
        self.header("Authorization", format!("Bearer {token}"))
    }
}

/// Account facts some services need before the usage request (Google: project and tier).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Account {
    pub plan: Option<String>,
    pub project: Option<String>,
}

/// Per-registration settings a wire may read.
#[derive(Debug, Clone, Default)]
pub struct WireConfig {
    /// Copilot: premium-request multipliers per model, replacing the shipped table.
    pub multipliers: Option<BTreeMap<String, f64>>,
}

pub struct RequestContext<'a> {
    pub base_url: &'a str,
    pub credentials: &'a Credentials,
    pub account: &'a Account,
}

pub struct ParseContext<'a> {
    pub now_ms: i64,
    pub credentials: &'a Credentials,
    pub account: &'a Account,
    /// Index into `Wire::requests` of the request that answered.
    pub attempt: usize,
}

/// Why a body could not become usage. The runner turns it into the entry's error; messages
/// describe the shape, never quote the body.
#[derive(Debug)]
pub enum WireError {
    Json(serde_json::Error),
    Shape(String),
    /// A 2xx answer that carries the service's own error (z.ai `success: false`, MiniMax
    /// `base_resp`); kept as the service said it.
    Service(FetchError),
}

impl From<serde_json::Error> for WireError {
    fn from(e: serde_json::Error) -> Self {
        WireError::Json(e)
    }
}

/// One service's wire contract. Implementations are stateless unit structs.
pub trait Wire: Send + Sync + 'static {
    fn quotas(&self, config: &WireConfig) -> Vec<QuotaDefinition>;
    /// Which of pi's credentials the usage endpoint takes.
    fn auth(&self) -> AuthRule {
        AuthRule::OAUTH
    }
    /// The service's own CLI credentials file, for the default instance.
    fn tool_credentials(&self, _home: &Path) -> Option<Credentials> {
        None
    }
    /// Other keys of pi's `auth.json` read for the default instance when its own id has no
    /// entry (a third-party extension's login to the same service).
    fn auth_aliases(&self) -> &'static [&'static str] {
        &[]
    }
    /// The service's own reason in a non-2xx answer (at most `http::ERROR_BODY_CAP` bytes of
    /// its body), when it says more than the status does; `None` lets the status decide. A
    /// kind other than `Auth` and `Unsupported` lets the next request in `requests` be tried.
    fn service_error(&self, _status: u16, _body: &[u8]) -> Option<FetchError> {
        None
    }
    /// A request whose answer `parse_account` reads before the usage request (cached hourly).
    fn account_request(&self, _base_url: &str, _credentials: &Credentials) -> Option<HttpRequest> {
        None
    }
    fn parse_account(&self, _body: &[u8]) -> Account {
        Account::default()
    }
    /// Requests tried in order until one answers with usage (a later one is a fallback).
    fn requests(&self, ctx: &RequestContext) -> Vec<HttpRequest>;
    fn parse(&self, body: &[u8], ctx: &ParseContext) -> Result<FetchOutcome, WireError>;
    /// The windows a model response's headers report (lower-cased names); `None` when the
    /// service sends none. Unknown or malformed values are skipped, never an error.
    fn parse_headers(
        &self,
        _status: u16,
        _headers: &Headers,
        _now_ms: i64,
    ) -> Option<FetchOutcome> {
        None
    }
    /// `false` for a service with no usage endpoint: the tracker never polls it and its
    /// windows come only from `parse_headers`.
    fn polls(&self) -> bool {
        true
    }
}

/// Response headers as pi hands them over: lower-cased names.
pub struct Headers<'a>(pub &'a [(String, String)]);

impl Headers<'_> {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    pub fn number(&self, name: &str) -> Option<f64> {
        self.get(name)?
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
    }

    /// Names starting with `prefix`, for families like `x-<limit>-primary-used-percent`.
    pub fn names_with_prefix<'b>(&'b self, prefix: &'b str) -> impl Iterator<Item = &'b str> + 'b {
        self.0
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(move |k| k.starts_with(prefix))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_labels_set() {
        let mut ids: Vec<&str> = BUILTINS.iter().map(|b| b.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), BUILTINS.len());
        assert!(BUILTINS.iter().all(|b| !b.label.is_empty()));
        assert!(builtin("anthropic").is_some() && builtin("claude").is_none());
    }

    #[test]
    fn labels_and_order_of_rows_and_their_instances() {
        let at = |id: &str| BUILTINS.iter().position(|b| b.id == id).unwrap();
        for (i, b) in BUILTINS.iter().enumerate() {
            assert_eq!((label_of(b.id), rank_of(b.id)), (b.label.to_string(), i));
        }
        assert_eq!(label_of("anthropic-work"), "claude-work");
        assert_eq!(label_of("openai-codex-team"), "codex-team");
        // The longest row wins: `minimax-cn-2` extends `minimax-cn`, not `minimax`.
        assert_eq!(rank_of("minimax-cn-2"), at("minimax-cn"));
        assert_ne!(rank_of("minimax-cn-2"), at("minimax"));
        assert_eq!(rank_of("anthropic-work"), at("anthropic"));
        // Not a row nor an instance of one: its own label, after every row.
        for other in ["my-provider", "anthropicx", "work", ""] {
            assert_eq!(
                (label_of(other), rank_of(other)),
                (other.to_string(), BUILTINS.len())
            );
        }
    }
}
