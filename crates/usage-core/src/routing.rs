//! Where pi sends a provider's models, from `<agent dir>/models.json` read the way pi reads it
//! (a BOM, `//` comments and trailing commas allowed; a file pi cannot parse changes nothing).
//! A provider routed to another host (a company gateway, a proxy, a local server) often uses
//! a key of that host: such a key is not sent to the service's own usage endpoint.

use serde_json::Value;

use crate::credentials::agent_dir;
use crate::sanitize::clean_text;

/// The host (with its port) pi sends `provider_id`'s models to, when `models.json` routes
/// them anywhere but `own_base_url`'s host; `None` when it does not (or there is no file).
pub fn routed_host(provider_id: &str, own_base_url: &str) -> Option<String> {
    let text = std::fs::read_to_string(agent_dir().join("models.json")).ok()?;
    let config: Value =
        serde_json::from_str(&strip_json_comments(text.trim_start_matches('\u{feff}'))).ok()?;
    let own = host_of(own_base_url)?;
    let provider = config.pointer(&format!("/providers/{}", escape_pointer(provider_id)))?;
    let host = base_urls(provider)
        .filter_map(host_of)
        .find(|host| *host != own)?;
    Some(clean_text(&host, 100))
}

/// The provider's `baseUrl`, its models' and its model overrides'.
fn base_urls(provider: &Value) -> impl Iterator<Item = &str> {
    let own = provider.get("baseUrl").into_iter();
    let models = provider
        .get("models")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| m.get("baseUrl"));
    let overrides = provider
        .get("modelOverrides")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|o| o.values())
        .filter_map(|m| m.get("baseUrl"));
    own.chain(models).chain(overrides).filter_map(Value::as_str)
}

fn host_of(url: &str) -> Option<String> {
    let url = url::Url::parse(url.trim()).ok()?;
    let host = url.host_str()?.to_ascii_lowercase();
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host,
    })
}

fn escape_pointer(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// JSON with `//` line comments and trailing commas (before `}` or `]`) removed, string
/// literals untouched: what pi accepts in models.json.
fn strip_json_comments(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    let mut chars = input.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                out.push(c);
                while let Some(s) = chars.next() {
                    out.push(s);
                    match s {
                        '\\' => out.extend(chars.next()),
                        '"' => break,
                        _ => {}
                    }
                }
            }
            '/' if chars.peek() == Some(&'/') => {
                for s in chars.by_ref() {
                    if s == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            ',' => {
                // Dropped when only whitespace (or comments) stand before a closing bracket.
                let mut look = chars.clone();
                loop {
                    match look.peek() {
                        Some(s) if s.is_whitespace() => {
                            look.next();
                        }
                        Some('/') => {
                            let mut after = look.clone();
                            after.next();
                            if after.peek() != Some(&'/') {
                                break;
                            }
                            look = after;
                            look.by_ref().find(|s| *s == '\n');
                        }
                        _ => break,
                    }
                }
                if !matches!(look.peek(), Some('}' | ']')) {
                    out.push(',');
                }
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn comments_and_trailing_commas_as_pi_accepts_them() {
        let text = "{\n // a comment\n \"a\": \"x//y\", \"b\": [1, 2,],\n}";
        let v: Value = serde_json::from_str(&strip_json_comments(text)).unwrap();
        assert_eq!(v, json!({"a": "x//y", "b": [1, 2]}));
        let quoted: Value =
            serde_json::from_str(&strip_json_comments(r#"{"a": "say \",}\" // no"}"#)).unwrap();
        assert_eq!(quoted, json!({"a": "say \",}\" // no"}));
    }

    #[test]
    fn every_base_url_of_the_provider_counts() {
        let p = json!({
            "baseUrl": "https://api.z.ai/api/coding/paas/v4",
            "models": [{"id": "m", "baseUrl": "http://127.0.0.1:4000/v1"}],
            "modelOverrides": {"glm": {"baseUrl": "https://gw.example.com"}}
        });
        let hosts: Vec<String> = base_urls(&p).filter_map(host_of).collect();
        assert_eq!(hosts, ["api.z.ai", "127.0.0.1:4000", "gw.example.com"]);
        assert_eq!(host_of("not a url"), None);
    }
}
