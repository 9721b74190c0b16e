//! The contract every source of usage fulfils: a built-in provider (`providers/`) or a
//! strategy written in JS (the binding's `js_callback.rs`). The tracker drives it; it never
//! sees the tracker.

use std::future::Future;
use std::pin::Pin;

use crate::model::{FetchError, FetchOutcome, QuotaDefinition};

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Whether a provider can fetch, and if not, why (shown on its inactive entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authentication {
    Ready,
    /// Nothing to authenticate with; the provider stays quiet.
    Missing,
    /// Credentials exist but cannot be used for usage (e.g. an API key where the usage
    /// endpoint needs a login); the reason is shown on the entry.
    Unusable(String),
}

/// Where an account's results are kept. The cache follows the secret (a result is only
/// shared between holders of the same token); the history follows the account, which can
/// outlive a token (logins refresh theirs every few hours).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountKeys {
    pub cache: Option<String>,
    pub history: Option<String>,
}

/// A provider's credentials as read once for one fetch: the account's keys, whether the
/// credentials can be used, and the fetch with those same credentials. Both futures start
/// only when awaited (the tracker awaits them under its timeout).
pub struct Session {
    pub keys: AccountKeys,
    pub authentication: BoxFuture<Result<Authentication, FetchError>>,
    pub fetch: BoxFuture<Result<FetchOutcome, FetchError>>,
}

pub trait UsageProvider: Send + Sync + 'static {
    fn id(&self) -> &str;
    /// What the provider is called on screen (a built-in's table label; otherwise its id).
    fn label(&self) -> String {
        self.id().to_string()
    }
    fn quotas(&self) -> &[QuotaDefinition];
    fn authentication(&self) -> BoxFuture<Result<Authentication, FetchError>>;
    fn fetch_usage(&self) -> BoxFuture<Result<FetchOutcome, FetchError>>;
    /// Work that must not run on the caller's thread before the account is known (a built-in's
    /// `!command` key); the cycle awaits it before reading `account_keys`.
    fn prepare(&self) -> BoxFuture<()> {
        Box::pin(async {})
    }
    /// A non-reversible fingerprint of the account, for the shared cache. `None` keeps the
    /// provider out of the cache (JS strategies: we cannot know whose data they return).
    fn account_fingerprint(&self) -> Option<String> {
        None
    }
    /// The account's keys for the shared cache and for the usage history, read together.
    fn account_keys(&self) -> AccountKeys {
        let fp = self.account_fingerprint();
        AccountKeys {
            cache: fp.clone(),
            history: fp,
        }
    }
    /// What the tracker reads before each fetch, in one go: after `prepare`, the account's
    /// keys, `authentication` and the fetch. A built-in reads pi's auth.json once for all.
    fn session(self: std::sync::Arc<Self>) -> BoxFuture<Session> {
        Box::pin(async move {
            self.prepare().await;
            let keys = self.account_keys();
            let me = self.clone();
            Session {
                keys,
                authentication: Box::pin(async move { me.authentication().await }),
                fetch: Box::pin(async move { self.fetch_usage().await }),
            }
        })
    }
    /// Usage read off one of the service's model responses (status and lower-cased headers),
    /// holding only the windows the headers report. `None`: nothing usable in them.
    fn observe(
        &self,
        _status: u16,
        _headers: &[(String, String)],
        _now_ms: i64,
    ) -> Option<FetchOutcome> {
        None
    }
    /// `false` when there is nothing to fetch (a service known only from its response
    /// headers): the tracker leaves it out of every cycle.
    fn polls(&self) -> bool {
        true
    }
}
