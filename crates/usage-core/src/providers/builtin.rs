//! The one runner behind every built-in: finds credentials, sends the wire's requests,
//! hands the body to the wire's parser. It knows no service by name.

use std::sync::{Arc, Mutex};

use reqwest::Url;

use super::{
    http, Account, BuiltinSpec, HttpRequest, ParseContext, RequestContext, WireConfig, WireError,
    BASE_URL_ENV,
};
use crate::clock::wall_clock_ms;
use crate::credentials::{self, CredentialKind, Credentials, Found};
use crate::error::CoreError;
use crate::model::{ErrorKind, FetchError, FetchOutcome, QuotaDefinition};
use crate::provider::{AccountKeys, Authentication, BoxFuture, Session, UsageProvider};
use crate::scrub::Secrets;

/// How long a Google account's tier and project are trusted before they are re-read.
const ACCOUNT_TTL_MS: i64 = 60 * 60_000;

pub struct BuiltinConfig {
    pub instance_id: Option<String>,
    pub base_url: Option<String>,
    pub credentials: Option<Credentials>,
    pub wire: WireConfig,
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

pub fn create_builtin(
    kind_id: &str,
    config: BuiltinConfig,
) -> Result<Arc<dyn UsageProvider>, CoreError> {
    let spec = super::builtin(kind_id).ok_or_else(|| super::unknown_builtin(kind_id))?;
    // An explicit base URL (option or environment) wins over an account's own host.
    let base_override = config
        .base_url
        .or_else(|| std::env::var(BASE_URL_ENV).ok().filter(|s| !s.is_empty()))
        .map(|b| validate_base_url(&b))
        .transpose()?;
    Ok(Arc::new(BuiltinProvider {
        inner: Arc::new(Inner {
            id: config.instance_id.unwrap_or_else(|| spec.id.to_string()),
            spec,
            base_override,
            quotas: spec.wire.quotas(&config.wire),
            fixed_credentials: config.credentials,
            account: Mutex::new((0, Account::default())),
            secrets: Mutex::new(None),
        }),
    }))
}

/// Credentials of one instance, in order: pi's `auth.json` under the instance id, then (for
/// the default instance only) the wire's alias keys of `auth.json`, the environment variable
/// pi reads and the tool's own file. A second account must bring its own.
/// A broken file leaves its logins unread (the environment and the tool's own file still
/// count; the file's problem is shown once, `credentials::last_auth_problem`); a broken entry
/// is that provider's error.
pub fn discover(spec: &BuiltinSpec, instance_id: &str) -> Option<Found> {
    let rule = spec.wire.auth();
    let auth = credentials::PiAuth::load();
    let from_auth_json = |key: &str| match auth.entry(key)? {
        Ok(entry) => credentials::from_pi_entry(instance_id, entry, &rule),
        Err(problem) => Some(Found::Unusable(format!(
            "{instance_id}: {}",
            problem.message()
        ))),
    };
    if let Some(found) = from_auth_json(instance_id) {
        return Some(found);
    }
    if instance_id != spec.id {
        return None;
    }
    if let Some(found) = spec
        .wire
        .auth_aliases()
        .iter()
        .find_map(|k| from_auth_json(k))
    {
        return Some(found);
    }
    credentials::from_env(&rule)
        .or_else(|| spec.wire.tool_credentials(&credentials::home_dir()?))
        .map(Found::Usable)
}

pub struct BuiltinProvider {
    inner: Arc<Inner>,
}

struct Inner {
    id: String,
    spec: &'static BuiltinSpec,
    base_override: Option<String>,
    quotas: Vec<QuotaDefinition>,
    fixed_credentials: Option<Credentials>,
    /// (fetched at, account), for wires with an account request.
    account: Mutex<(i64, Account)>,
    /// What the scrubber hides, from the credentials of the last fetch (read once more only
    /// when there was none, so a response's headers do not re-read auth.json each time).
    secrets: Mutex<Option<Arc<Secrets>>>,
}

impl Inner {
    fn found(&self) -> Option<Found> {
        let found = match &self.fixed_credentials {
            Some(c) => Some(credentials::checked(
                &self.id,
                c.clone(),
                &self.spec.wire.auth(),
            )),
            None => discover(self.spec, &self.id),
        };
        match found {
            // An API key of a provider pi routes elsewhere belongs to that host: it is not
            // sent here, and its command is not run. A login the service minted is its own.
            Some(Found::Pending(_)) => self.routed_away().or(found),
            Some(Found::Usable(ref c)) if c.kind == CredentialKind::ApiKey => {
                self.routed_away().or(found)
            }
            other => other,
        }
    }

    fn routed_away(&self) -> Option<Found> {
        let host = crate::routing::routed_host(&self.id, self.spec.default_base_url)?;
        Some(Found::Unusable(format!(
            "{}: pi sends this provider's models to {host} (models.json), so its API key is for that host; it is not sent to {}'s usage endpoint",
            self.id, self.spec.label
        )))
    }

    fn secrets_of(&self, creds: &Credentials) -> Secrets {
        Secrets::except(
            [creds.access_token.as_str()],
            [self.id.as_str(), self.spec.id, self.spec.label],
        )
    }

    fn secrets(&self) -> Arc<Secrets> {
        let mut known = self.secrets.lock().unwrap_or_else(|e| e.into_inner());
        known
            .get_or_insert_with(|| {
                Arc::new(match self.found() {
                    Some(Found::Usable(c)) => self.secrets_of(&c),
                    _ => Secrets::new([]),
                })
            })
            .clone()
    }

    /// Runs the `!command` the credentials wait for, if any (once per process; the result
    /// is kept by `key_command`), so `found()` can read them without running anything.
    async fn prepare(&self) {
        // An entry holds one command; a few rounds cover an alias entry after a failed one.
        for _ in 0..4 {
            match self.found() {
                Some(Found::Pending(command)) => {
                    let _ = crate::key_command::resolve(&command.0).await;
                }
                _ => return,
            }
        }
    }

    fn base_url(&self, creds: &Credentials) -> Result<String, FetchError> {
        if let Some(base) = &self.base_override {
            return Ok(base.clone());
        }
        match &creds.base_url {
            Some(own) => validate_base_url(own).map_err(|e| {
                FetchError::new(
                    ErrorKind::Auth,
                    format!("{}: the stored login's host is unusable: {e}", self.id),
                )
            }),
            None => Ok(self.spec.default_base_url.to_string()),
        }
    }

    async fn send(
        &self,
        request: HttpRequest,
        kind: CredentialKind,
    ) -> Result<Vec<u8>, FetchError> {
        let client = http::client();
        let mut builder = if request.post {
            client.post(&request.url)
        } else {
            client.get(&request.url)
        };
        for (name, value) in &request.headers {
            builder = builder.header(*name, value);
        }
        if let Some(body) = &request.json {
            builder = builder.json(body);
        }
        let wire = self.spec.wire;
        let key_refused = |status: u16| {
            let env = wire.auth().env;
            let place = match env.first() {
                Some(var) => format!("the key for {} in pi's auth.json, or ${var}", self.id),
                None => format!("the key for {} in pi's auth.json", self.id),
            };
            FetchError::new(
                ErrorKind::Auth,
                format!("HTTP {status}, the API key was refused; check {place}"),
            )
        };
        http::send_with(&self.id, builder, wall_clock_ms, &|status, body| {
            wire.service_error(status, body).or_else(|| {
                // Logging in again does not fix a refused API key: say which key to check.
                (kind == CredentialKind::ApiKey && matches!(status, 401 | 403))
                    .then(|| key_refused(status))
            })
        })
        .await
    }

    /// Account facts (Google tier and project), re-read at most hourly; failures here never
    /// fail the usage fetch.
    async fn account(&self, base: &str, creds: &Credentials) -> Account {
        let Some(request) = self.spec.wire.account_request(base, creds) else {
            return Account::default();
        };
        let now = wall_clock_ms();
        {
            let cached = self.account.lock().unwrap_or_else(|e| e.into_inner());
            if cached.0 > 0 && now - cached.0 < ACCOUNT_TTL_MS {
                return cached.1.clone();
            }
        }
        // A failed read is not kept: the next fetch asks again rather than going an hour
        // without what the usage request may need (Fireworks' account slug).
        let account = match self.send(request, creds.kind).await {
            Ok(body) => self.spec.wire.parse_account(&body),
            Err(_) => return Account::default(),
        };
        *self.account.lock().unwrap_or_else(|e| e.into_inner()) = (now, account.clone());
        account
    }

    fn wire_error(&self, body_len: usize, e: WireError) -> FetchError {
        match e {
            WireError::Json(e) => http::parse_error(&self.id, body_len, e),
            WireError::Shape(what) => http::parse_error(&self.id, body_len, what),
            WireError::Service(mut e) => {
                e.message = format!("{}: {}", self.id, e.message);
                e
            }
        }
    }

    async fn fetch(&self) -> Result<FetchOutcome, FetchError> {
        self.prepare().await;
        self.fetch_found(self.found()).await
    }

    /// The fetch with credentials already read (`found`).
    async fn fetch_found(&self, found: Option<Found>) -> Result<FetchOutcome, FetchError> {
        let creds = match found {
            Some(Found::Usable(c)) => c,
            Some(Found::Unusable(reason)) => return Err(FetchError::new(ErrorKind::Auth, reason)),
            Some(Found::Pending(_)) | None => {
                return Err(FetchError::new(
                    ErrorKind::Auth,
                    format!("{}: no credentials found", self.id),
                ))
            }
        };
        if creds.access_token.trim().is_empty() {
            return Err(FetchError::new(
                ErrorKind::Auth,
                format!(
                    "{}: the stored token is empty; log in again in pi (/login)",
                    self.id
                ),
            ));
        }
        if let Some(expires) = creds.expires_at {
            if expires <= wall_clock_ms() {
                let what = creds
                    .expired_hint
                    .unwrap_or("log in again in pi (/login) or open pi to refresh it");
                return Err(FetchError::new(
                    ErrorKind::Auth,
                    format!("{}: the access token has expired; {what}", self.id),
                ));
            }
        }
        // Whatever the service wrote back passes the scrubber before it is kept anywhere.
        let secrets = Arc::new(self.secrets_of(&creds));
        *self.secrets.lock().unwrap_or_else(|e| e.into_inner()) = Some(secrets.clone());
        self.fetch_as(&creds)
            .await
            .map(|o| secrets.outcome(o))
            .map_err(|e| secrets.error(e))
    }

    async fn fetch_as(&self, creds: &Credentials) -> Result<FetchOutcome, FetchError> {
        let creds = creds.clone();
        let base = self.base_url(&creds)?;
        let account = self.account(&base, &creds).await;
        let wire = self.spec.wire;
        let requests = wire.requests(&RequestContext {
            base_url: &base,
            credentials: &creds,
            account: &account,
        });
        let mut last_error = FetchError::new(
            ErrorKind::Provider,
            format!("{}: nothing to request", self.id),
        );
        let mut service_said: Option<FetchError> = None;
        for (attempt, request) in requests.into_iter().enumerate() {
            let body = match self.send(request, creds.kind).await {
                Ok(body) => body,
                // A rejected login or client fails the same on every endpoint; others may answer.
                Err(e) if matches!(e.kind, ErrorKind::Auth | ErrorKind::Unsupported) => {
                    return Err(e)
                }
                Err(e) => {
                    last_error = e;
                    continue;
                }
            };
            let ctx = ParseContext {
                now_ms: wall_clock_ms(),
                credentials: &creds,
                account: &account,
                attempt,
            };
            match wire.parse(&body, &ctx) {
                Ok(mut outcome) => {
                    if outcome.plan.is_none() {
                        outcome.plan = account.plan.clone().or_else(|| creds.plan.clone());
                    }
                    return Ok(outcome);
                }
                // The service's own word ("no billing configured") outlives a fallback's 404.
                Err(e @ WireError::Service(_)) => {
                    let e = self.wire_error(body.len(), e);
                    service_said.get_or_insert(e);
                }
                Err(e) => last_error = self.wire_error(body.len(), e),
            }
        }
        Err(service_said.unwrap_or(last_error))
    }
}

impl UsageProvider for BuiltinProvider {
    fn id(&self) -> &str {
        &self.inner.id
    }

    /// The table's label; an instance `<id>-<name>` is `<label>-<name>`, any other instance
    /// id is its own label (`BuiltinSpec::instance_label`).
    fn label(&self) -> String {
        let id = &self.inner.id;
        (self.inner.spec.instance_label(id)).unwrap_or_else(|| id.clone())
    }

    fn quotas(&self) -> &[QuotaDefinition] {
        &self.inner.quotas
    }

    fn authentication(&self) -> BoxFuture<Result<Authentication, FetchError>> {
        let inner = self.inner.clone();
        Box::pin(async move {
            inner.prepare().await;
            Ok(match inner.found() {
                Some(Found::Usable(_)) => Authentication::Ready,
                Some(Found::Unusable(reason)) => Authentication::Unusable(reason),
                Some(Found::Pending(_)) | None => Authentication::Missing,
            })
        })
    }

    fn prepare(&self) -> BoxFuture<()> {
        let inner = self.inner.clone();
        Box::pin(async move { inner.prepare().await })
    }

    fn fetch_usage(&self) -> BoxFuture<Result<FetchOutcome, FetchError>> {
        let inner = self.inner.clone();
        Box::pin(async move { inner.fetch().await })
    }

    fn observe(
        &self,
        status: u16,
        headers: &[(String, String)],
        now_ms: i64,
    ) -> Option<FetchOutcome> {
        let outcome = self
            .inner
            .spec
            .wire
            .parse_headers(status, &super::Headers(headers), now_ms)
            .filter(|o| !o.snapshots.is_empty())?;
        Some(self.inner.secrets().outcome(outcome))
    }

    fn polls(&self) -> bool {
        self.inner.spec.wire.polls()
    }

    fn account_fingerprint(&self) -> Option<String> {
        self.account_keys().cache
    }

    fn account_keys(&self) -> AccountKeys {
        keys_of(&self.inner.id, &self.inner.found())
    }

    fn session(self: Arc<Self>) -> BoxFuture<Session> {
        let inner = self.inner.clone();
        Box::pin(async move {
            inner.prepare().await;
            // pi's auth.json is read once: the same credentials decide authentication, the
            // account's keys and the fetch.
            let found = inner.found();
            let keys = keys_of(&inner.id, &found);
            let authentication = Ok(match &found {
                Some(Found::Usable(_)) => Authentication::Ready,
                Some(Found::Unusable(reason)) => Authentication::Unusable(reason.clone()),
                Some(Found::Pending(_)) | None => Authentication::Missing,
            });
            Session {
                keys,
                authentication: Box::pin(async move { authentication }),
                fetch: Box::pin(async move { inner.fetch_found(found).await }),
            }
        })
    }
}

fn keys_of(id: &str, found: &Option<Found>) -> AccountKeys {
    match found {
        Some(Found::Usable(creds)) => AccountKeys {
            cache: Some(creds.fingerprint(id)),
            history: Some(creds.history_key(id)),
        },
        _ => AccountKeys::default(),
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
    fn a_builtin_is_labelled_by_its_table_row() {
        for row in super::super::BUILTINS {
            let config = BuiltinConfig {
                instance_id: None,
                base_url: None,
                credentials: None,
                wire: WireConfig::default(),
            };
            let provider = create_builtin(row.id, config).ok().unwrap();
            assert_eq!(provider.label(), row.label, "{}", row.id);
        }
        let instance = |id: &str| {
            let config = BuiltinConfig {
                instance_id: Some(id.to_string()),
                base_url: None,
                credentials: None,
                wire: WireConfig::default(),
            };
            create_builtin("anthropic", config).ok().unwrap().label()
        };
        let claude = super::super::builtin("anthropic").unwrap().label;
        assert_eq!(instance("anthropic-work"), format!("{claude}-work"));
        assert_eq!(instance("work"), "work");
    }

    #[test]
    fn unknown_builtin_is_named() {
        let err = create_builtin(
            "claude",
            BuiltinConfig {
                instance_id: None,
                base_url: None,
                credentials: None,
                wire: WireConfig::default(),
            },
        )
        .err()
        .unwrap();
        assert!(err
            .to_string()
            .contains("unknown built-in provider 'claude'"));
    }
}
