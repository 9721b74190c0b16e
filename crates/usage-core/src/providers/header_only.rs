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

    struct NoSink;

    impl crate::tracker::UpdateSink for NoSink {
        fn publish(&self, _update: crate::tracker::CycleUpdate) -> crate::provider::BoxFuture<()> {
            Box::pin(async {})
        }
    }

    #[tokio::test]
    async fn the_tracker_never_polls_it_and_shows_what_a_response_said() {
        use crate::credentials::{CredentialKind, Credentials};
        use crate::providers::{create_builtin, BuiltinConfig};
        use crate::tracker::{Tracker, TrackerOptions};
        use std::sync::Arc;

        let t = Tracker::new(
            TrackerOptions::default(),
            Arc::new(crate::clock::SystemClock),
            Arc::new(NoSink),
        )
        .unwrap();
        let groq = create_builtin(
            "groq",
            BuiltinConfig {
                instance_id: None,
                // A closed port: any request would fail and leave an error on the entry.
                base_url: Some("http://127.0.0.1:9".into()),
                credentials: Some(Credentials::new("gsk-test", CredentialKind::ApiKey)),
                wire: WireConfig::default(),
            },
        )
        .unwrap();
        t.register(groq).unwrap();
        t.tick().await;
        assert!(
            t.get("groq", "default").is_none(),
            "not polled: no entry, no error"
        );
        let raw: Vec<(String, String)> = [
            ("x-ratelimit-limit-requests", "1000"),
            ("x-ratelimit-remaining-requests", "990"),
            ("x-ratelimit-limit-tokens", "6000"),
            ("x-ratelimit-remaining-tokens", "5000"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let handle = tokio::runtime::Handle::current();
        assert!(t.observe_response(&handle, "groq", 200, &raw));
        let e = t.get("groq", "default").unwrap();
        let got: Vec<_> = e
            .windows
            .iter()
            .map(|w| (w.id.as_str(), w.remaining, w.total, w.view_only))
            .collect();
        assert_eq!(
            got,
            [
                ("requests-day", 990.0, 1000.0, false),
                ("tokens-minute", 5000.0, 6000.0, true),
            ]
        );
        assert!(e.active && e.error.is_none());
        t.tick().await;
        assert!(
            t.get("groq", "default").unwrap().error.is_none(),
            "still not polled"
        );
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
