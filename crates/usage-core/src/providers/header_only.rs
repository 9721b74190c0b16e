//! Services pi talks to that have no usage endpoint a pi credential can read (Groq,
//! Cerebras, OpenAI's API keys, Mistral) but send OpenAI-style rate-limit headers with every
//! model response. The tracker never polls them; the first response pi gets shows their
//! windows (see `ratelimit.rs`). One wire for all, told apart by the environment variable pi
//! reads for the key and by what the service's bare header names count.

use super::ratelimit::{self, Dialect};
use super::{Headers, HttpRequest, ParseContext, RequestContext, Wire, WireConfig, WireError};
use crate::credentials::AuthRule;
use crate::model::{FetchOutcome, QuotaDefinition};

pub struct HeaderOnly {
    pub env: &'static [&'static str],
    pub dialect: Dialect,
}

impl Wire for HeaderOnly {
    /// Every window is learned from a response; none is known before.
    fn quotas(&self, _config: &WireConfig) -> Vec<QuotaDefinition> {
        Vec::new()
    }

    /// The key only tells whose account the windows belong to (cache and history); it is
    /// never sent anywhere.
    fn auth(&self) -> AuthRule {
        AuthRule {
            env: self.env,
            ..AuthRule::API_KEY
        }
    }

    fn polls(&self) -> bool {
        false
    }

    fn requests(&self, _ctx: &RequestContext) -> Vec<HttpRequest> {
        Vec::new()
    }

    fn parse(&self, _body: &[u8], _ctx: &ParseContext) -> Result<FetchOutcome, WireError> {
        Err(WireError::Shape(
            "this service has no usage endpoint".into(),
        ))
    }

    fn parse_headers(&self, _status: u16, headers: &Headers, now_ms: i64) -> Option<FetchOutcome> {
        ratelimit::parse(headers, self.dialect, now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::{builtin, BUILTINS};

    fn wire(id: &str) -> &'static dyn Wire {
        builtin(id).unwrap().wire
    }

    #[test]
    fn never_polled_and_read_the_key_pi_reads() {
        for (id, var) in [
            ("groq", "GROQ_API_KEY"),
            ("cerebras", "CEREBRAS_API_KEY"),
            ("openai", "OPENAI_API_KEY"),
            ("mistral", "MISTRAL_API_KEY"),
        ] {
            let w = wire(id);
            assert!(!w.polls(), "{id}");
            assert_eq!(w.auth().env, [var], "{id}");
            assert!(w.quotas(&WireConfig::default()).is_empty());
        }
        // Every service with an endpoint is polled.
        assert!(BUILTINS
            .iter()
            .filter(|b| !["groq", "cerebras", "openai", "mistral"].contains(&b.id))
            .all(|b| b.wire.polls()));
    }

    #[test]
    fn groq_and_openai_read_the_bare_names_their_own_way() {
        let raw: Vec<(String, String)> = [
            ("x-ratelimit-limit-requests", "1000"),
            ("x-ratelimit-remaining-requests", "998"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let id = |p: &str| {
            wire(p)
                .parse_headers(200, &Headers(&raw), 0)
                .unwrap()
                .snapshots[0]
                .id
                .clone()
        };
        assert_eq!(id("groq"), "requests-day");
        assert_eq!(id("openai"), "requests-minute");
        assert_eq!(id("cerebras"), "requests-minute");
    }
}
