//! Where tokens come from, in order: the `credentials` option; pi's `auth.json`; the tool's
//! own file. Files are re-read on every fetch because pi rewrites `auth.json` whole on each
//! refresh. Tokens are never refreshed, logged, cached or printed here.

use std::path::{Path, PathBuf};

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialSource {
    Option,
    PiAuth,
    ToolFile,
}

#[derive(Clone, PartialEq)]
pub struct Credentials {
    pub access_token: String,
    pub account_id: Option<String>,
    pub project_id: Option<String>,
    /// Epoch ms after which the token no longer works.
    pub expires_at: Option<i64>,
    pub source: CredentialSource,
    /// Plan/tier when the credentials file says (Claude's `subscriptionType`).
    pub plan: Option<String>,
}

// Hand-written so a token can never reach a log through `{:?}`.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_token", &"<redacted>")
            .field("account_id", &self.account_id.as_ref().map(|_| "<set>"))
            .field("project_id", &self.project_id)
            .field("expires_at", &self.expires_at)
            .field("source", &self.source)
            .finish()
    }
}

fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .or_else(|| std::env::var_os("USERPROFILE"))
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// pi's agent dir: `$PI_CODING_AGENT_DIR`, else `~/.pi/agent`.
pub fn agent_dir() -> PathBuf {
    match std::env::var_os("PI_CODING_AGENT_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => home_dir().unwrap_or_default().join(".pi").join("agent"),
    }
}

fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for key in path {
        cur = cur.get(key)?;
    }
    cur.as_str().filter(|s| !s.is_empty())
}

fn num_at(v: &Value, path: &[&str]) -> Option<i64> {
    let mut cur = v;
    for key in path {
        cur = cur.get(key)?;
    }
    cur.as_i64().or_else(|| cur.as_f64().map(|f| f as i64))
}

/// An entry of pi's auth.json for `provider_key`, in the shape of that provider.
pub fn from_pi_auth(auth: &Value, provider_key: &str, builtin: &str) -> Option<Credentials> {
    let entry = auth.get(provider_key)?;
    let mut creds = Credentials {
        access_token: String::new(),
        account_id: str_at(entry, &["accountId"]).map(String::from),
        project_id: str_at(entry, &["projectId"]).map(String::from),
        expires_at: num_at(entry, &["expires"]),
        source: CredentialSource::PiAuth,
        plan: None,
    };
    let token = match (builtin, str_at(entry, &["type"])) {
        // The usage endpoint takes the GitHub OAuth token (`refresh`), not the Copilot token,
        // and it does not expire when the Copilot token does.
        ("github-copilot", _) => {
            creds.expires_at = None;
            str_at(entry, &["refresh"])
        }
        (_, Some("api_key")) => {
            let key = str_at(entry, &["key"])?;
            // Google providers' API key is the JSON string {"token","projectId"}.
            if let Ok(parsed) = serde_json::from_str::<Value>(key) {
                if let Some(token) = str_at(&parsed, &["token"]) {
                    creds.project_id = str_at(&parsed, &["projectId"])
                        .map(String::from)
                        .or(creds.project_id);
                    creds.access_token = token.to_string();
                    return Some(creds);
                }
            }
            Some(key)
        }
        _ => str_at(entry, &["access"]),
    }?;
    creds.access_token = token.to_string();
    Some(creds)
}

/// The tool's own credentials file, for the default instance of each built-in.
pub fn from_tool_file(builtin: &str, home: &Path) -> Option<Credentials> {
    let tool = |token: &str| Credentials {
        access_token: token.to_string(),
        account_id: None,
        project_id: None,
        expires_at: None,
        source: CredentialSource::ToolFile,
        plan: None,
    };
    match builtin {
        "anthropic" => {
            let v = read_json(&home.join(".claude/.credentials.json"))?;
            let mut c = tool(str_at(&v, &["claudeAiOauth", "accessToken"])?);
            c.expires_at = num_at(&v, &["claudeAiOauth", "expiresAt"]);
            c.plan = str_at(&v, &["claudeAiOauth", "subscriptionType"])
                .or_else(|| str_at(&v, &["claudeAiOauth", "rateLimitTier"]))
                .map(String::from);
            Some(c)
        }
        "openai-codex" => {
            let v = read_json(&home.join(".codex/auth.json"))?;
            let mut c = tool(str_at(&v, &["tokens", "access_token"])?);
            c.account_id = str_at(&v, &["tokens", "account_id"]).map(String::from);
            Some(c)
        }
        "github-copilot" => ["hosts.json", "apps.json"].iter().find_map(|name| {
            let v = read_json(&home.join(".config/github-copilot").join(name))?;
            let token = v.as_object()?.iter().find_map(|(host, entry)| {
                host.contains("github.com")
                    .then(|| str_at(entry, &["oauth_token"]))
                    .flatten()
            })?;
            Some(tool(token))
        }),
        "google-gemini-cli" => {
            let v = read_json(&home.join(".gemini/oauth_creds.json"))?;
            let mut c = tool(str_at(&v, &["access_token"])?);
            c.expires_at = num_at(&v, &["expiry_date"]);
            c.project_id = std::env::var("GOOGLE_CLOUD_PROJECT")
                .ok()
                .filter(|p| !p.is_empty());
            Some(c)
        }
        _ => None,
    }
}

/// Discovery for a provider instance: pi's auth.json under the instance id, then (for the
/// default instance only) the tool's own file. A second account must bring its own.
pub fn discover(builtin: &str, instance_id: &str) -> Option<Credentials> {
    let auth = read_json(&agent_dir().join("auth.json"));
    if let Some(creds) = auth
        .as_ref()
        .and_then(|a| from_pi_auth(a, instance_id, builtin))
    {
        return Some(creds);
    }
    if instance_id != builtin {
        return None;
    }
    from_tool_file(builtin, &home_dir()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pi_auth_shapes_per_provider() {
        let auth = json!({
            "anthropic": {"type": "oauth", "access": "a-tok", "refresh": "r", "expires": 123},
            "openai-codex": {"type": "oauth", "access": "c-tok", "refresh": "r", "expires": 5, "accountId": "acct"},
            "github-copilot": {"type": "oauth", "access": "tid=copilot", "refresh": "gho_github", "expires": 1},
            "google-antigravity": {"type": "oauth", "access": "g-tok", "refresh": "r", "expires": 9, "projectId": "proj"},
            "google-gemini-cli": {"type": "api_key", "key": "{\"token\":\"gem-tok\",\"projectId\":\"p2\"}"}
        });
        let a = from_pi_auth(&auth, "anthropic", "anthropic").unwrap();
        assert_eq!(
            (a.access_token.as_str(), a.expires_at),
            ("a-tok", Some(123))
        );
        let c = from_pi_auth(&auth, "openai-codex", "openai-codex").unwrap();
        assert_eq!(c.account_id.as_deref(), Some("acct"));
        let gh = from_pi_auth(&auth, "github-copilot", "github-copilot").unwrap();
        assert_eq!(
            gh.access_token, "gho_github",
            "the GitHub token, not the Copilot one"
        );
        assert_eq!(gh.expires_at, None);
        let ag = from_pi_auth(&auth, "google-antigravity", "google-antigravity").unwrap();
        assert_eq!(ag.project_id.as_deref(), Some("proj"));
        let gem = from_pi_auth(&auth, "google-gemini-cli", "google-gemini-cli").unwrap();
        assert_eq!(
            (gem.access_token.as_str(), gem.project_id.as_deref()),
            ("gem-tok", Some("p2"))
        );
        assert!(from_pi_auth(&auth, "anthropic-work", "anthropic").is_none());
    }

    #[test]
    fn tool_files() {
        let home = tempfile::tempdir().unwrap();
        let h = home.path();
        std::fs::create_dir_all(h.join(".claude")).unwrap();
        std::fs::write(
            h.join(".claude/.credentials.json"),
            r#"{"claudeAiOauth":{"accessToken":"cl","expiresAt":77,"subscriptionType":"max"}}"#,
        )
        .unwrap();
        std::fs::create_dir_all(h.join(".codex")).unwrap();
        std::fs::write(
            h.join(".codex/auth.json"),
            r#"{"tokens":{"access_token":"cx","account_id":"id1"}}"#,
        )
        .unwrap();
        std::fs::create_dir_all(h.join(".config/github-copilot")).unwrap();
        std::fs::write(
            h.join(".config/github-copilot/apps.json"),
            r#"{"github.com:Iv1":{"oauth_token":"gho_x"}}"#,
        )
        .unwrap();
        let cl = from_tool_file("anthropic", h).unwrap();
        assert_eq!(
            (cl.access_token.as_str(), cl.expires_at, cl.plan.as_deref()),
            ("cl", Some(77), Some("max"))
        );
        assert_eq!(
            from_tool_file("openai-codex", h)
                .unwrap()
                .account_id
                .as_deref(),
            Some("id1")
        );
        assert_eq!(
            from_tool_file("github-copilot", h).unwrap().access_token,
            "gho_x"
        );
        assert!(from_tool_file("google-gemini-cli", h).is_none());
    }

    #[test]
    fn debug_never_shows_the_token() {
        let c = Credentials {
            access_token: "sk-secret".into(),
            account_id: Some("acct-secret".into()),
            project_id: None,
            expires_at: None,
            source: CredentialSource::Option,
            plan: None,
        };
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("sk-secret") && !shown.contains("acct-secret"),
            "{shown}"
        );
    }
}
