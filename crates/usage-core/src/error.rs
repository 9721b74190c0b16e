//! Errors for bad arguments and configuration. Fetch failures are data (`model::FetchError`).

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq)]
pub enum CoreError {
    #[error("invalid option `{field}`: {reason}")]
    InvalidOption { field: &'static str, reason: String },
    #[error("invalid quota at quotas[{index}] (id '{id}'): {reason}")]
    InvalidQuota {
        index: usize,
        id: String,
        reason: String,
    },
    #[error("invalid provider `id` '{0}': must be a non-empty string without '/'")]
    InvalidProviderId(String),
    #[error("a provider with id '{0}' is already registered")]
    DuplicateProvider(String),
    #[error("no provider with id '{0}' is registered")]
    UnknownProvider(String),
    #[error("unknown built-in provider '{0}'; expected one of anthropic, openai-codex, github-copilot, google-antigravity, google-gemini-cli")]
    UnknownBuiltin(String),
    #[error("refusing base URL '{url}': {reason}")]
    InvalidBaseUrl { url: String, reason: &'static str },
}
