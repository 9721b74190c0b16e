//! Errors for bad arguments and configuration. Fetch failures are data (`model::FetchError`).

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq)]
pub enum CoreError {
    #[error("invalid option `{field}`: {reason}")]
    InvalidOption { field: &'static str, reason: String },
    #[error("invalid quota at quotas[{index}] (id '{}'): {reason}", excerpt(id))]
    InvalidQuota {
        index: usize,
        id: String,
        reason: String,
    },
    #[error("invalid provider `id` '{}': must be a non-empty string without '/'", excerpt(.0))]
    InvalidProviderId(String),
    #[error("a provider with id '{}' is already registered", excerpt(.0))]
    DuplicateProvider(String),
    #[error("no provider with id '{}' is registered", excerpt(.0))]
    UnknownProvider(String),
    /// `known`: the built-in ids, as the provider table lists them (`providers::unknown_builtin`).
    #[error("unknown built-in provider '{}'; expected one of {}", excerpt(id), known.join(", "))]
    UnknownBuiltin {
        id: String,
        known: Vec<&'static str>,
    },
    #[error("refusing base URL '{}': {reason}", excerpt(url))]
    InvalidBaseUrl { url: String, reason: &'static str },
}

/// Longest excerpt of a caller's value an error quotes.
pub const MAX_EXCERPT_CHARS: usize = 40;

/// A caller's value as an error quotes it: printable, at most [`MAX_EXCERPT_CHARS`].
pub fn excerpt(value: &str) -> String {
    crate::sanitize::clean_text(value, MAX_EXCERPT_CHARS)
}

impl CoreError {
    /// Every code, for the JS side's error classes (`lib/errors.js`).
    pub const CODES: [&'static str; 7] = [
        "ERR_INVALID_OPTION",
        "ERR_INVALID_QUOTA",
        "ERR_INVALID_PROVIDER_ID",
        "ERR_DUPLICATE_PROVIDER",
        "ERR_UNKNOWN_PROVIDER",
        "ERR_UNKNOWN_BUILTIN",
        "ERR_INVALID_BASE_URL",
    ];

    /// A stable code per variant, so callers can branch on the cause.
    pub fn code(&self) -> &'static str {
        match self {
            CoreError::InvalidOption { .. } => "ERR_INVALID_OPTION",
            CoreError::InvalidQuota { .. } => "ERR_INVALID_QUOTA",
            CoreError::InvalidProviderId(_) => "ERR_INVALID_PROVIDER_ID",
            CoreError::DuplicateProvider(_) => "ERR_DUPLICATE_PROVIDER",
            CoreError::UnknownProvider(_) => "ERR_UNKNOWN_PROVIDER",
            CoreError::UnknownBuiltin { .. } => "ERR_UNKNOWN_BUILTIN",
            CoreError::InvalidBaseUrl { .. } => "ERR_INVALID_BASE_URL",
        }
    }

    /// Whether the caller handed a value of the wrong shape (JS: `TypeError`) rather than a
    /// well-formed request the tracker cannot serve (JS: `Error`).
    pub fn is_argument_error(code: &str) -> bool {
        !matches!(code, "ERR_DUPLICATE_PROVIDER" | "ERR_UNKNOWN_PROVIDER")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_listed_and_distinct() {
        let all = [
            CoreError::InvalidOption {
                field: "f",
                reason: String::new(),
            },
            CoreError::InvalidQuota {
                index: 0,
                id: String::new(),
                reason: String::new(),
            },
            CoreError::InvalidProviderId(String::new()),
            CoreError::DuplicateProvider(String::new()),
            CoreError::UnknownProvider(String::new()),
            CoreError::UnknownBuiltin {
                id: String::new(),
                known: Vec::new(),
            },
            CoreError::InvalidBaseUrl {
                url: String::new(),
                reason: "",
            },
        ];
        let codes: Vec<&str> = all.iter().map(CoreError::code).collect();
        assert_eq!(codes, CoreError::CODES);
        assert!(!CoreError::is_argument_error("ERR_UNKNOWN_PROVIDER"));
        assert!(CoreError::is_argument_error("ERR_INVALID_OPTION"));
    }
}

#[cfg(test)]
mod excerpt_tests {
    use super::*;

    #[test]
    fn errors_quote_a_short_clean_excerpt_of_the_caller_s_value() {
        let huge = "x".repeat(10_000_000);
        let shown = CoreError::UnknownBuiltin {
            id: huge,
            known: vec!["anthropic"],
        }
        .to_string();
        assert!(shown.len() < 600, "{} bytes", shown.len());
        let shown =
            CoreError::UnknownProvider("evil\u{1b}]0;title\u{7}\u{202e}id".into()).to_string();
        assert_eq!(shown, "no provider with id 'evilid' is registered");
    }
}
