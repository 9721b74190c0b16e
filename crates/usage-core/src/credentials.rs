//! Where tokens come from, in order: the `credentials` option; pi's `auth.json`; the
//! environment variable pi reads; the tool's own file. Files are re-read on every fetch
//! because pi rewrites `auth.json` whole on each refresh. Tokens are never refreshed, logged,
//! cached or printed here.

use std::path::{Path, PathBuf};

use serde_json::Value;

use sha2::{Digest, Sha256};

/// Which kind of secret a credential is; a usage endpoint takes one or the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    OAuth,
    ApiKey,
}

impl CredentialKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::OAuth => "oauth",
            CredentialKind::ApiKey => "api_key",
        }
    }
}

/// What a provider's usage endpoint accepts from pi's credentials (each provider's `Wire`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthRule {
    /// The field of an OAuth entry holding the token the usage endpoint takes (`None`: no
    /// OAuth login works there).
    pub oauth_field: Option<&'static str>,
    /// The usage endpoint takes the provider's API key.
    pub api_key: bool,
    /// Environment variables pi reads for this provider when `auth.json` has no entry.
    pub env: &'static [&'static str],
    /// What an environment variable holds.
    pub env_kind: CredentialKind,
    /// The entry's `enterpriseUrl` names the API host (GitHub Enterprise).
    pub enterprise_host: bool,
}

impl AuthRule {
    pub const OAUTH: AuthRule = AuthRule {
        oauth_field: Some("access"),
        api_key: false,
        env: &[],
        env_kind: CredentialKind::OAuth,
        enterprise_host: false,
    };
    pub const API_KEY: AuthRule = AuthRule {
        oauth_field: None,
        api_key: true,
        env: &[],
        env_kind: CredentialKind::ApiKey,
        enterprise_host: false,
    };
}

#[derive(Clone, PartialEq)]
pub struct Credentials {
    pub access_token: String,
    pub kind: CredentialKind,
    pub account_id: Option<String>,
    pub project_id: Option<String>,
    /// Epoch ms after which the token no longer works.
    pub expires_at: Option<i64>,
    /// Plan/tier when the credentials file says (Claude's `subscriptionType`).
    pub plan: Option<String>,
    /// API host this account lives on, when not the provider's default (GitHub Enterprise).
    pub base_url: Option<String>,
    /// What to do once `expires_at` has passed, when not pi's `/login` (a tool's own file).
    pub expired_hint: Option<&'static str>,
}

impl Credentials {
    pub fn new(access_token: impl Into<String>, kind: CredentialKind) -> Self {
        Self {
            access_token: access_token.into(),
            kind,
            account_id: None,
            project_id: None,
            expires_at: None,
            plan: None,
            base_url: None,
            expired_hint: None,
        }
    }

    /// A non-reversible, short identity of the account, for the shared cache.
    pub fn fingerprint(&self, provider_id: &str) -> String {
        fingerprint(provider_id, &self.access_token)
    }

    /// A key that stays while the account does, for the usage history: the account or project
    /// id where the login names one; an API key itself (keys do not rotate); else the provider
    /// instance, since a login's token is refreshed every few hours and would cut the history.
    pub fn history_key(&self, provider_id: &str) -> String {
        match (&self.account_id, &self.project_id, self.kind) {
            (Some(account), _, _) => fingerprint(provider_id, &format!("account\0{account}")),
            (None, Some(project), _) => fingerprint(provider_id, &format!("project\0{project}")),
            (None, None, CredentialKind::ApiKey) => self.fingerprint(provider_id),
            (None, None, CredentialKind::OAuth) => fingerprint(provider_id, "login"),
        }
    }
}

pub fn fingerprint(provider_id: &str, secret: &str) -> String {
    let digest = Sha256::digest(format!("pi-usage-tracker\0{provider_id}\0{secret}").as_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

// Hand-written so a token can never reach a log through `{:?}`.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_token", &"<redacted>")
            .field("kind", &self.kind)
            .field("account_id", &self.account_id.as_ref().map(|_| "<set>"))
            .field("project_id", &self.project_id)
            .field("expires_at", &self.expires_at)
            .field("base_url", &self.base_url)
            .finish()
    }
}

/// What pi's stored login means for one provider's usage endpoint.
#[derive(Debug, Clone, PartialEq)]
pub enum Found {
    Usable(Credentials),
    /// There is a login, but not one this endpoint takes; the reason says what to do.
    Unusable(String),
}

pub fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .or_else(|| std::env::var_os("USERPROFILE"))
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// pi's agent dir: `$PI_CODING_AGENT_DIR` (a leading `~` is the home dir), else `~/.pi/agent`.
pub fn agent_dir() -> PathBuf {
    let home = || home_dir().unwrap_or_default();
    match std::env::var("PI_CODING_AGENT_DIR")
        .ok()
        .filter(|d| !d.is_empty())
    {
        Some(dir) if dir == "~" => home(),
        Some(dir) => match dir.strip_prefix("~/") {
            Some(rest) => home().join(rest),
            None => PathBuf::from(dir),
        },
        None => home().join(".pi").join("agent"),
    }
}

pub(crate) fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

pub(crate) fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for key in path {
        cur = cur.get(key)?;
    }
    cur.as_str().filter(|s| !s.is_empty())
}

pub(crate) fn num_at(v: &Value, path: &[&str]) -> Option<i64> {
    let mut cur = v;
    for key in path {
        cur = cur.get(key)?;
    }
    cur.as_i64().or_else(|| cur.as_f64().map(|f| f as i64))
}

/// `$NAME` / `${NAME}` replaced from `env` (the entry's own map) then the process; `$$` is a
/// literal `$`. An unset variable makes the whole value unset, as in pi.
fn interpolate(value: &str, env: Option<&Value>) -> Option<String> {
    let lookup = |name: &str| {
        env.and_then(|e| e.get(name))
            .and_then(Value::as_str)
            .map(String::from)
            .or_else(|| std::env::var(name).ok())
            .filter(|v| !v.is_empty())
    };
    let mut out = String::new();
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        match chars.peek() {
            Some('$') => {
                chars.next();
                out.push('$');
            }
            Some('{') => {
                chars.next();
                let name: String = chars.by_ref().take_while(|c| *c != '}').collect();
                out.push_str(&lookup(&name)?);
            }
            Some(c) if c.is_ascii_alphabetic() || *c == '_' => {
                let mut name = String::new();
                while let Some(c) = chars
                    .peek()
                    .filter(|c| c.is_ascii_alphanumeric() || **c == '_')
                {
                    name.push(*c);
                    chars.next();
                }
                out.push_str(&lookup(&name)?);
            }
            _ => out.push('$'),
        }
    }
    Some(out)
}

const COMMAND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// `!command`: its trimmed stdout, run once per process like pi does (a password manager
/// must not be asked on every poll). Failures and timeouts give nothing.
fn run_key_command(command: &str) -> Option<String> {
    use std::collections::HashMap;
    use std::sync::Mutex;
    static CACHE: Mutex<Option<HashMap<String, Option<String>>>> = Mutex::new(None);
    if let Some(hit) = CACHE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(HashMap::new)
        .get(command)
    {
        return hit.clone();
    }
    let result = (|| {
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(command)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok()?;
        let deadline = std::time::Instant::now() + COMMAND_TIMEOUT;
        loop {
            match child.try_wait().ok()? {
                Some(status) if status.success() => break,
                Some(_) => return None,
                None if std::time::Instant::now() >= deadline => {
                    let _ = child.kill();
                    return None;
                }
                None => std::thread::sleep(std::time::Duration::from_millis(20)),
            }
        }
        let mut out = String::new();
        std::io::Read::read_to_string(&mut child.stdout.take()?, &mut out).ok()?;
        Some(out.trim().to_string()).filter(|s| !s.is_empty())
    })();
    CACHE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(HashMap::new)
        .insert(command.to_string(), result.clone());
    result
}

/// An `api_key` entry's `key` as pi resolves it: literal, `!command`, or `$ENV` interpolation.
pub fn resolve_key_value(raw: &str, env: Option<&Value>) -> Option<String> {
    match raw.strip_prefix('!') {
        Some(command) => run_key_command(command),
        None => interpolate(raw, env).filter(|k| !k.is_empty()),
    }
}

/// Whether `rule` lets these credentials reach the usage endpoint; a kind it does not take is
/// an unusable login with a reason that says what to do instead.
pub fn checked(provider_id: &str, creds: Credentials, rule: &AuthRule) -> Found {
    match creds.kind {
        CredentialKind::ApiKey if !rule.api_key => key_not_taken(provider_id),
        CredentialKind::OAuth if rule.oauth_field.is_none() => login_not_taken(provider_id),
        _ => Found::Usable(creds),
    }
}

fn key_not_taken(provider_id: &str) -> Found {
    Found::Unusable(format!(
        "{provider_id}: an API key cannot read this service's plan usage; sign in with /login in pi to see it"
    ))
}

fn login_not_taken(provider_id: &str) -> Found {
    Found::Unusable(format!(
        "{provider_id}: this login cannot read usage; set an API key for it in pi"
    ))
}

/// One entry of pi's `auth.json`, read for a provider with `rule`. `None`: the entry holds
/// nothing to use (empty, or an unresolvable key).
pub fn from_pi_entry(provider_id: &str, entry: &Value, rule: &AuthRule) -> Option<Found> {
    let kind = str_at(entry, &["type"]).unwrap_or("oauth");
    let mut creds = if kind == "api_key" {
        let raw = str_at(entry, &["key"])?;
        // Decided before the key is resolved: a `!command` is not run for a key we cannot use.
        if !rule.api_key && !raw.trim_start().starts_with('{') {
            return Some(key_not_taken(provider_id));
        }
        let key = resolve_key_value(raw, entry.get("env"))?;
        let mut creds = Credentials::new(key, CredentialKind::ApiKey);
        // Google providers' API key is the JSON string {"token","projectId"}.
        if let Ok(parsed) = serde_json::from_str::<Value>(&creds.access_token) {
            if let Some(token) = str_at(&parsed, &["token"]) {
                creds.project_id = str_at(&parsed, &["projectId"]).map(String::from);
                creds.access_token = token.to_string();
                creds.kind = CredentialKind::OAuth;
            }
        }
        creds
    } else {
        let Some(field) = rule.oauth_field else {
            return Some(login_not_taken(provider_id));
        };
        let mut creds = Credentials::new(str_at(entry, &[field])?, CredentialKind::OAuth);
        // `expires` describes `access`; another field (Copilot's GitHub token) outlives it.
        if field == "access" {
            creds.expires_at = num_at(entry, &["expires"]);
        }
        creds
    };
    creds.account_id = str_at(entry, &["accountId"]).map(String::from);
    creds.project_id = creds
        .project_id
        .take()
        .or_else(|| str_at(entry, &["projectId"]).map(String::from));
    if rule.enterprise_host {
        if let Some(host) = str_at(entry, &["enterpriseUrl"]) {
            let host = host
                .trim_start_matches("https://")
                .trim_start_matches("http://")
                .trim_end_matches('/');
            creds.base_url = Some(format!("https://api.{host}"));
        }
    }
    Some(checked(provider_id, creds, rule))
}

/// The environment variable pi would read for this provider.
pub fn from_env(rule: &AuthRule) -> Option<Credentials> {
    rule.env.iter().find_map(|name| {
        let value = std::env::var(name).ok().filter(|v| !v.trim().is_empty())?;
        Some(Credentials::new(value.trim(), rule.env_kind))
    })
}

/// Why pi's `auth.json` cannot be used, and where: never a value from the file, so never a
/// secret. A broken file is the file's fault, not a missing login: nothing here says "log in".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthFileProblem {
    pub path: PathBuf,
    /// Where in the file: `line 3, column 7` (for a value of the wrong kind, where it
    /// starts), or `entry "anthropic"`.
    pub place: String,
    /// What is wrong there.
    pub problem: String,
}

impl AuthFileProblem {
    /// The whole story, for the CLI, the view and a provider's error.
    pub fn message(&self) -> String {
        format!(
            "pi's auth.json is broken at {}: {} ({}); usage is not read from it until the file is fixed (this tool only reads it)",
            self.place,
            self.problem,
            self.path.display()
        )
    }

    /// One short line, for the footer.
    pub fn short(&self) -> String {
        format!("auth.json broken: {}", self.place)
    }
}

/// pi's `auth.json` as read once: its entries by key, or why the file cannot be used.
#[derive(Debug, Clone)]
pub struct PiAuth {
    pub path: PathBuf,
    entries: Result<serde_json::Map<String, Value>, AuthFileProblem>,
}

impl PiAuth {
    /// Reads `path` as pi does: no file or an empty one has no entries; a byte-order mark is
    /// skipped; anything else must be a JSON object. Never writes the file.
    pub fn read(path: &Path) -> PiAuth {
        let entries = match std::fs::read(path) {
            Ok(bytes) => parse_auth_file(path, &bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Default::default()),
            Err(e) => Err(AuthFileProblem {
                path: path.to_path_buf(),
                place: "the file".into(),
                problem: format!("cannot be read ({})", e.kind()),
            }),
        };
        PiAuth {
            path: path.to_path_buf(),
            entries,
        }
    }

    /// `<agent dir>/auth.json`, remembered as the last read (`last_auth_problem`).
    pub fn load() -> PiAuth {
        let auth = Self::read(&agent_dir().join("auth.json"));
        *LAST_PROBLEM.lock().unwrap_or_else(|e| e.into_inner()) = auth.problem().cloned();
        auth
    }

    /// Why the whole file cannot be used, if it cannot.
    pub fn problem(&self) -> Option<&AuthFileProblem> {
        self.entries.as_ref().err()
    }

    /// The entry under `key`: `None` when the file has none (or cannot be read at all);
    /// `Err` when the entry is not what pi keeps there (its key and what is wrong).
    pub fn entry(&self, key: &str) -> Option<Result<&Value, AuthFileProblem>> {
        let entry = self.entries.as_ref().ok()?.get(key)?;
        Some(match entry_problem(entry) {
            None => Ok(entry),
            Some(problem) => Err(AuthFileProblem {
                path: self.path.clone(),
                place: format!("entry \"{key}\""),
                problem,
            }),
        })
    }
}

static LAST_PROBLEM: std::sync::Mutex<Option<AuthFileProblem>> = std::sync::Mutex::new(None);

/// What the last read of pi's `auth.json` found wrong with the whole file (`None`: it was
/// fine or absent). Kept so a caller can show it without reading the file on its own thread.
pub fn last_auth_problem() -> Option<AuthFileProblem> {
    LAST_PROBLEM
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
}

fn parse_auth_file(
    path: &Path,
    bytes: &[u8],
) -> Result<serde_json::Map<String, Value>, AuthFileProblem> {
    let problem = |place: String, problem: String| AuthFileProblem {
        path: path.to_path_buf(),
        place,
        problem,
    };
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.is_empty() {
        return Ok(Default::default());
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let (line, column) = line_column(&bytes[..e.valid_up_to()]);
        problem(
            format!("line {line}, column {column}"),
            "not text (binary data where JSON belongs)".into(),
        )
    })?;
    // serde_json's syntax messages name the expectation, never the text around it.
    let value: Value = serde_json::from_str(text).map_err(|e| {
        let place = format!("line {}, column {}", e.line(), e.column());
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let what = e.to_string();
        let what = what.strip_suffix(&suffix).unwrap_or(&what).to_string();
        let what = if e.is_eof() {
            format!("{what} (the file ends too early: cut off?)")
        } else {
            what
        };
        problem(place, what)
    })?;
    match value {
        Value::Object(entries) => Ok(entries),
        other => Err(problem(
            {
                let start = text.len() - text.trim_start().len();
                let (line, column) = line_column(&bytes[..start]);
                format!("line {line}, column {column}")
            },
            format!(
                "{} where pi keeps an object with one entry per provider",
                json_type(&other)
            ),
        )),
    }
}

/// 1-based line and column of the byte after `before`.
fn line_column(before: &[u8]) -> (usize, usize) {
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let column = before.len()
        - before
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |i| i + 1)
        + 1;
    (line, column)
}

/// A JSON value's type, with its article.
fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// What is wrong with one entry, by the types pi itself requires of a login (`type`, and
/// `key`/`env` or `access`/`refresh`/`expires`). Missing fields are left to the reader.
pub fn entry_problem(entry: &Value) -> Option<String> {
    let Some(fields) = entry.as_object() else {
        return Some(format!(
            "{} where pi keeps an object like {{\"type\": \"api_key\", \"key\": …}}",
            json_type(entry)
        ));
    };
    let wrong = |field: &str, want: &str| {
        let got = fields.get(field)?;
        let ok = match want {
            "a string" => got.is_string(),
            "a number" => got.as_f64().is_some(),
            _ => got
                .as_object()
                .is_some_and(|m| m.values().all(Value::is_string)),
        };
        (!ok).then(|| format!("\"{field}\" is {}, expected {want}", json_type(got)))
    };
    let kind = match fields.get("type") {
        None => "oauth",
        Some(Value::String(k)) if k == "oauth" || k == "api_key" => k.as_str(),
        Some(Value::String(_)) => {
            return Some("\"type\" is neither \"oauth\" nor \"api_key\"".into())
        }
        Some(other) => {
            return Some(format!(
                "\"type\" is {}, expected \"oauth\" or \"api_key\"",
                json_type(other)
            ))
        }
    };
    if kind == "api_key" {
        wrong("key", "a string").or_else(|| wrong("env", "an object of strings"))
    } else {
        wrong("access", "a string")
            .or_else(|| wrong("refresh", "a string"))
            .or_else(|| wrong("expires", "a number"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const COPILOT: AuthRule = AuthRule {
        oauth_field: Some("refresh"),
        enterprise_host: true,
        ..AuthRule::OAUTH
    };

    fn usable(found: Option<Found>) -> Credentials {
        match found {
            Some(Found::Usable(c)) => c,
            other => panic!("expected usable credentials, got {other:?}"),
        }
    }

    #[test]
    fn fingerprint_is_stable_short_and_not_the_secret() {
        let a = fingerprint("anthropic", "sk-ant-secret-token");
        assert_eq!(a, fingerprint("anthropic", "sk-ant-secret-token"));
        assert_ne!(a, fingerprint("anthropic", "other"));
        assert_ne!(a, fingerprint("anthropic-work", "sk-ant-secret-token"));
        assert_eq!(a.len(), 16);
        assert!(!a.contains("secret"));
    }

    #[test]
    fn oauth_entries_per_rule() {
        let a = usable(from_pi_entry(
            "anthropic",
            &json!({"type": "oauth", "access": "a-tok", "refresh": "r", "expires": 123}),
            &AuthRule::OAUTH,
        ));
        assert_eq!(
            (a.access_token.as_str(), a.expires_at, a.kind),
            ("a-tok", Some(123), CredentialKind::OAuth)
        );
        let c = usable(from_pi_entry(
            "openai-codex",
            &json!({"type": "oauth", "access": "c", "refresh": "r", "expires": 5, "accountId": "acct"}),
            &AuthRule::OAUTH,
        ));
        assert_eq!(c.account_id.as_deref(), Some("acct"));
        let gh = usable(from_pi_entry(
            "github-copilot",
            &json!({"type": "oauth", "access": "tid=copilot", "refresh": "gho_github", "expires": 1}),
            &COPILOT,
        ));
        assert_eq!(
            (gh.access_token.as_str(), gh.expires_at, gh.base_url),
            ("gho_github", None, None)
        );
    }

    #[test]
    fn copilot_enterprise_host_becomes_the_base_url() {
        let gh = usable(from_pi_entry(
            "github-copilot",
            &json!({"type": "oauth", "access": "x", "refresh": "ghu", "expires": 1, "enterpriseUrl": "company.ghe.com"}),
            &COPILOT,
        ));
        assert_eq!(gh.base_url.as_deref(), Some("https://api.company.ghe.com"));
        let other = usable(from_pi_entry(
            "anthropic",
            &json!({"type": "oauth", "access": "x", "refresh": "r", "expires": 1, "enterpriseUrl": "company.ghe.com"}),
            &AuthRule::OAUTH,
        ));
        assert_eq!(
            other.base_url, None,
            "only rules that say so read enterpriseUrl"
        );
    }

    #[test]
    fn api_key_where_the_endpoint_needs_a_login_is_unusable_with_a_reason() {
        let found = from_pi_entry(
            "anthropic",
            &json!({"type": "api_key", "key": "sk-ant-api03-secret"}),
            &AuthRule::OAUTH,
        );
        let Some(Found::Unusable(reason)) = found else {
            panic!("{found:?}")
        };
        assert!(reason.starts_with("anthropic: an API key"), "{reason}");
        assert!(!reason.contains("secret"));
    }

    #[test]
    fn api_keys_literal_env_and_command() {
        std::env::set_var("PIUT_TEST_KEY", "from-env");
        let lit = usable(from_pi_entry(
            "zai",
            &json!({"type": "api_key", "key": "k-literal"}),
            &AuthRule::API_KEY,
        ));
        assert_eq!(
            (lit.access_token.as_str(), lit.kind),
            ("k-literal", CredentialKind::ApiKey)
        );
        let env = usable(from_pi_entry(
            "zai",
            &json!({"type": "api_key", "key": "$PIUT_TEST_KEY"}),
            &AuthRule::API_KEY,
        ));
        assert_eq!(env.access_token, "from-env");
        let braces = usable(from_pi_entry(
            "zai",
            &json!({"type": "api_key", "key": "${OWN}-x", "env": {"OWN": "entry"}}),
            &AuthRule::API_KEY,
        ));
        assert_eq!(braces.access_token, "entry-x", "the entry's env wins");
        assert_eq!(resolve_key_value("a$$b", None).as_deref(), Some("a$b"));
        assert_eq!(
            from_pi_entry(
                "zai",
                &json!({"type": "api_key", "key": "$PIUT_UNSET_VAR"}),
                &AuthRule::API_KEY
            ),
            None
        );
        let cmd = usable(from_pi_entry(
            "zai",
            &json!({"type": "api_key", "key": "!echo ' from-cmd '"}),
            &AuthRule::API_KEY,
        ));
        assert_eq!(cmd.access_token, "from-cmd");
        assert_eq!(
            from_pi_entry(
                "zai",
                &json!({"type": "api_key", "key": "!exit 3"}),
                &AuthRule::API_KEY
            ),
            None
        );
        // Google providers store {"token","projectId"} as the key.
        let gem = usable(from_pi_entry(
            "google-gemini-cli",
            &json!({"type": "api_key", "key": "{\"token\":\"gem-tok\",\"projectId\":\"p2\"}"}),
            &AuthRule {
                api_key: true,
                ..AuthRule::OAUTH
            },
        ));
        assert_eq!(
            (gem.access_token.as_str(), gem.project_id.as_deref()),
            ("gem-tok", Some("p2"))
        );
    }

    #[test]
    fn agent_dir_expands_the_home_dir() {
        let home = home_dir().unwrap_or_default();
        std::env::set_var("PI_CODING_AGENT_DIR", "~/custom/agent");
        assert_eq!(agent_dir(), home.join("custom/agent"));
        std::env::set_var("PI_CODING_AGENT_DIR", "/abs/agent");
        assert_eq!(agent_dir(), PathBuf::from("/abs/agent"));
        std::env::remove_var("PI_CODING_AGENT_DIR");
        assert_eq!(agent_dir(), home.join(".pi/agent"));
    }

    #[test]
    fn debug_never_shows_the_token() {
        let mut c = Credentials::new("sk-secret", CredentialKind::ApiKey);
        c.account_id = Some("acct-secret".into());
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("sk-secret") && !shown.contains("acct-secret"),
            "{shown}"
        );
    }

    #[test]
    fn kinds_a_rule_does_not_take_are_unusable_before_any_command_runs() {
        // pi <= 0.70 stored Google logins as api_key entries holding {"token","projectId"}.
        let gem = usable(from_pi_entry(
            "google-gemini-cli",
            &json!({"type": "api_key", "key": "{\"token\":\"g\",\"projectId\":\"p\"}"}),
            &AuthRule::OAUTH,
        ));
        assert_eq!(
            (gem.access_token.as_str(), gem.kind),
            ("g", CredentialKind::OAuth)
        );
        let marker = std::env::temp_dir().join(format!("piut-cmd-ran-{}", std::process::id()));
        let cmd = format!("!touch {} && echo k", marker.display());
        let found = from_pi_entry(
            "xai",
            &json!({"type": "api_key", "key": cmd}),
            &AuthRule::OAUTH,
        );
        assert!(matches!(found, Some(Found::Unusable(_))));
        assert!(
            !marker.exists(),
            "the key command was not run for a key that cannot be used"
        );
        let login = Credentials::new("tok", CredentialKind::OAuth);
        assert!(
            matches!(checked("deepseek", login, &AuthRule::API_KEY), Found::Unusable(r) if r.contains("set an API key"))
        );
    }

    /// Writes `bytes` as an auth.json, reads it, and checks the file is untouched.
    fn read_auth(bytes: &[u8]) -> (PiAuth, PathBuf, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth.json");
        std::fs::write(&path, bytes).unwrap();
        let auth = PiAuth::read(&path);
        assert_eq!(
            std::fs::read(&path).unwrap(),
            bytes,
            "auth.json is never written"
        );
        (auth, path, dir)
    }

    fn file_problem(bytes: &[u8]) -> AuthFileProblem {
        let (auth, path, _dir) = read_auth(bytes);
        let problem = auth.problem().cloned().expect("a broken file");
        assert_eq!(problem.path, path);
        assert!(
            auth.entry("anthropic").is_none(),
            "no entry of a broken file is read"
        );
        let message = problem.message();
        assert!(message.contains(&path.display().to_string()), "{message}");
        for never in ["log in", "/login", "no credentials", "secret"] {
            assert!(!message.contains(never), "{message}");
        }
        problem
    }

    #[test]
    fn a_truncated_auth_json_names_the_line_and_column_where_it_ends() {
        let p = file_problem(b"{\n  \"anthropic\": {\"type\": \"oauth\", \"access\": \"sk-secret");
        assert_eq!(p.place, "line 2, column 53");
        assert!(
            p.problem.starts_with("EOF while parsing a string"),
            "{}",
            p.problem
        );
        assert!(p.problem.contains("ends too early"), "{}", p.problem);
        assert_eq!(p.short(), "auth.json broken: line 2, column 53");
    }

    #[test]
    fn an_auth_json_that_is_not_an_object_says_what_it_is() {
        let p = file_problem(b"[1,2,3]");
        assert_eq!(p.place, "line 1, column 1");
        assert_eq!(
            p.problem,
            "an array where pi keeps an object with one entry per provider"
        );
        let n = file_problem(b"\n  42");
        assert!(n.problem.starts_with("a number"), "{}", n.problem);
        assert_eq!(n.place, "line 2, column 3");
    }

    #[test]
    fn binary_garbage_in_auth_json_is_named_as_not_text_with_its_place() {
        let p = file_problem(b"{\n\xff\xfe\x00\x9c secret");
        assert_eq!(p.place, "line 2, column 1");
        assert!(p.problem.starts_with("not text"), "{}", p.problem);
        // Valid UTF-8 that is still not JSON is a syntax error at its place.
        let q = file_problem(b"\x00\x01 garbage");
        assert_eq!(q.place, "line 1, column 1");
    }

    #[test]
    fn an_entry_of_the_wrong_type_names_the_entry_and_the_field() {
        let (auth, path, _dir) = read_auth(
            br#"{"anthropic": {"type": "oauth", "access": 12345, "refresh": "r-secret", "expires": 1},
                 "zai": "sk-bare-secret",
                 "deepseek": {"type": "api_key", "key": "k", "env": {"A": 1}},
                 "kimi": {"type": 7},
                 "openai-codex": {"type": "oauth", "access": "a", "refresh": "r", "expires": "soon"},
                 "xai": {"type": "api_key", "key": "k-ok"}}"#,
        );
        assert!(auth.problem().is_none(), "the file itself is fine");
        let broken = |key: &str| match auth.entry(key) {
            Some(Err(p)) => {
                assert_eq!(p.path, path);
                assert_eq!(p.place, format!("entry \"{key}\""));
                assert!(!p.message().contains("secret"), "{}", p.message());
                p.problem
            }
            other => panic!("{key}: {other:?}"),
        };
        assert_eq!(
            broken("anthropic"),
            "\"access\" is a number, expected a string"
        );
        assert!(
            broken("zai").starts_with("a string where pi keeps an object"),
            "a bare string entry"
        );
        assert_eq!(
            broken("deepseek"),
            "\"env\" is an object, expected an object of strings"
        );
        assert_eq!(
            broken("kimi"),
            "\"type\" is a number, expected \"oauth\" or \"api_key\""
        );
        assert_eq!(
            broken("openai-codex"),
            "\"expires\" is a string, expected a number"
        );
        assert!(matches!(auth.entry("xai"), Some(Ok(_))));
        assert!(auth.entry("github-copilot").is_none());
    }

    #[test]
    fn no_file_an_empty_one_or_a_bom_is_not_a_problem() {
        let dir = tempfile::tempdir().unwrap();
        let missing = PiAuth::read(&dir.path().join("auth.json"));
        assert!(missing.problem().is_none() && missing.entry("zai").is_none());
        let (empty, _, _d1) = read_auth(b"");
        assert!(empty.problem().is_none());
        let (bom, _, _d2) =
            read_auth(b"\xEF\xBB\xBF{\"zai\": {\"type\": \"api_key\", \"key\": \"k\"}}");
        assert!(matches!(bom.entry("zai"), Some(Ok(_))));
    }

    #[test]
    fn the_history_key_outlives_a_refreshed_token() {
        let mut a = Credentials::new("tok-1", CredentialKind::OAuth);
        let mut b = Credentials::new("tok-2", CredentialKind::OAuth);
        assert_ne!(a.fingerprint("anthropic"), b.fingerprint("anthropic"));
        assert_eq!(a.history_key("anthropic"), b.history_key("anthropic"));
        a.account_id = Some("acct-1".into());
        b.account_id = Some("acct-2".into());
        assert_ne!(a.history_key("openai-codex"), b.history_key("openai-codex"));
        let k1 = Credentials::new("key-1", CredentialKind::ApiKey);
        let k2 = Credentials::new("key-2", CredentialKind::ApiKey);
        assert_ne!(k1.history_key("zai"), k2.history_key("zai"));
        assert!(!a.history_key("x").contains("acct"));
    }
}
