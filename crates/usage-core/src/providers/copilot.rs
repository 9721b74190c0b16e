//! GitHub Copilot: GET /copilot_internal/user with the GitHub OAuth token. `remaining` can go
//! negative with overage; `unlimited: true` pools carry no limit; resets on the 1st, 00:00 UTC.

use std::collections::BTreeMap;

use chrono::{DateTime, Months, Utc};
use serde::Deserialize;

use std::path::Path;

use super::{iso_to_ms, HttpRequest, ParseContext, RequestContext, Wire, WireConfig, WireError};
use crate::credentials::{read_json, str_at, AuthRule, CredentialKind, Credentials};
use crate::model::{
    FetchOutcome, QuotaDefinition, QuotaKind, ResetBehavior, UsageSnapshot, WindowType,
};

const PATH: &str = "/copilot_internal/user";
const EDITOR_VERSION: &str = "vscode/1.96.2";
const PLUGIN_VERSION: &str = "copilot-chat/0.26.7";
const USER_AGENT: &str = "GitHubCopilotChat/0.26.7";
const API_VERSION: &str = "2025-04-01";

/// Premium-request multipliers of the paid plans (GitHub docs, "Requests in GitHub Copilot",
/// late 2025): 0 = included, not drawn from the pool. Users can override it.
pub const DEFAULT_MULTIPLIERS: [(&str, f64); 16] = [
    ("gpt-4.1", 0.0),
    ("gpt-4o", 0.0),
    ("gpt-5-mini", 0.0),
    ("grok-code-fast-1", 0.0),
    ("claude-haiku-4.5", 0.33),
    ("gemini-3-flash-preview", 0.33),
    ("gpt-5.1-codex-mini", 0.33),
    ("claude-sonnet-4", 1.0),
    ("claude-sonnet-4.5", 1.0),
    ("gemini-2.5-pro", 1.0),
    ("gemini-3-pro-preview", 1.0),
    ("gpt-5", 1.0),
    ("gpt-5.1", 1.0),
    ("gpt-5.1-codex", 1.0),
    ("claude-opus-4.5", 3.0),
    ("claude-opus-41", 10.0),
];

#[derive(Deserialize)]
struct Body {
    copilot_plan: Option<String>,
    access_type_sku: Option<String>,
    quota_reset_date_utc: Option<String>,
    quota_reset_date: Option<String>,
    #[serde(default)]
    quota_snapshots: BTreeMap<String, Option<Pool>>,
}

#[derive(Deserialize)]
struct Pool {
    entitlement: Option<f64>,
    remaining: Option<f64>,
    percent_remaining: Option<f64>,
    #[serde(default)]
    unlimited: bool,
}

pub struct Copilot;

impl Wire for Copilot {
    fn quotas(&self, config: &WireConfig) -> Vec<QuotaDefinition> {
        quotas(config.multipliers.as_ref())
    }

    /// The usage endpoint takes the GitHub OAuth token (pi's `refresh`), not the Copilot
    /// token, and it does not expire when the Copilot token does.
    fn auth(&self) -> AuthRule {
        AuthRule {
            oauth_field: Some("refresh"),
            env: &["COPILOT_GITHUB_TOKEN"],
            env_kind: CredentialKind::OAuth,
            enterprise_host: true,
            ..AuthRule::OAUTH
        }
    }

    fn tool_credentials(&self, home: &Path) -> Option<Credentials> {
        ["hosts.json", "apps.json"].iter().find_map(|name| {
            let v = read_json(&home.join(".config/github-copilot").join(name))?;
            let token = v.as_object()?.iter().find_map(|(host, entry)| {
                host.contains("github.com")
                    .then(|| str_at(entry, &["oauth_token"]))
                    .flatten()
            })?;
            Some(Credentials::new(token, CredentialKind::OAuth))
        })
    }

    fn requests(&self, ctx: &RequestContext) -> Vec<HttpRequest> {
        vec![HttpRequest::get(format!("{}{PATH}", ctx.base_url))
            .header(
                "Authorization",
                format!("token {}", ctx.credentials.access_token),
            )
            .header("Accept", "application/json")
            .header("Editor-Version", EDITOR_VERSION)
            .header("Editor-Plugin-Version", PLUGIN_VERSION)
            .header("User-Agent", USER_AGENT)
            .header("X-Github-Api-Version", API_VERSION)]
    }

    fn parse(&self, body: &[u8], _ctx: &ParseContext) -> Result<FetchOutcome, WireError> {
        Ok(parse(body)?)
    }
}

pub fn quotas(multipliers: Option<&BTreeMap<String, f64>>) -> Vec<QuotaDefinition> {
    let multipliers = multipliers.cloned().unwrap_or_else(|| {
        DEFAULT_MULTIPLIERS
            .iter()
            .map(|(m, x)| (m.to_string(), *x))
            .collect()
    });
    let monthly = |q: QuotaDefinition| q.with_window(WindowType::Fixed, ResetBehavior::Calendar);
    vec![
        monthly(QuotaDefinition::new(
            "premium",
            QuotaKind::Multiplier {
                base_amount: 300.0,
                multipliers,
            },
        )),
        monthly(QuotaDefinition::new(
            "chat",
            QuotaKind::Amount { amount: 0.0 },
        )),
        monthly(QuotaDefinition::new(
            "completions",
            QuotaKind::Amount { amount: 0.0 },
        )),
    ]
}

/// The monthly window ending at `reset_ms` (its length varies with the month).
fn month_length_secs(reset_ms: i64) -> Option<f64> {
    let reset = DateTime::<Utc>::from_timestamp_millis(reset_ms)?;
    let start = reset.checked_sub_months(Months::new(1))?;
    Some((reset - start).num_seconds() as f64)
}

pub fn parse(body: &[u8]) -> Result<FetchOutcome, serde_json::Error> {
    let body: Body = serde_json::from_slice(body)?;
    let resets_at = body
        .quota_reset_date_utc
        .as_deref()
        .and_then(iso_to_ms)
        .or_else(|| {
            body.quota_reset_date
                .as_deref()
                .and_then(|d| iso_to_ms(&format!("{d}T00:00:00Z")))
        });
    let mut outcome = FetchOutcome {
        plan: body.copilot_plan.or(body.access_type_sku),
        ..Default::default()
    };
    for (key, id) in [
        ("premium_interactions", "premium"),
        ("chat", "chat"),
        ("completions", "completions"),
    ] {
        let Some(Some(pool)) = body.quota_snapshots.get(key) else {
            continue;
        };
        // Unlimited chat/completions are not limits worth a window; premium always shows.
        if pool.unlimited && id != "premium" {
            continue;
        }
        let mut s = UsageSnapshot::new(id);
        s.resets_at = resets_at;
        s.duration_secs = resets_at.and_then(month_length_secs);
        if pool.unlimited {
            s.unlimited = true;
        } else {
            s.limit = pool.entitlement;
            s.remaining = pool.remaining;
            if s.remaining.is_none() {
                s.remaining_ratio = pool.percent_remaining.map(|p| p / 100.0);
            }
        }
        outcome.snapshots.push(s);
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve::resolve_snapshots;

    const FIXTURE: &[u8] = include_bytes!("../../fixtures/copilot-user.json");

    #[test]
    fn fixture_premium_pool_and_plan() {
        let out = parse(FIXTURE).unwrap();
        assert_eq!(out.plan.as_deref(), Some("individual_pro"));
        assert_eq!(
            out.snapshots.len(),
            1,
            "unlimited chat/completions are skipped"
        );
        let p = &out.snapshots[0];
        assert_eq!(
            (p.id.as_str(), p.limit, p.remaining),
            ("premium", Some(300.0), Some(173.0))
        );
        assert_eq!(p.resets_at, iso_to_ms("2026-12-01T00:00:00Z"));
        assert_eq!(
            p.duration_secs,
            Some(30.0 * 86_400.0),
            "November has 30 days"
        );
    }

    #[test]
    fn per_model_views_from_the_default_table() {
        let out = parse(FIXTURE).unwrap();
        let res = resolve_snapshots(&quotas(None), &out.snapshots, 0);
        assert_eq!(res.windows_by_model["default"][0].remaining, 173.0);
        assert!(res.windows_by_model["gpt-4o"][0].unlimited);
        assert!((res.windows_by_model["claude-opus-4.5"][0].remaining - 173.0 / 3.0).abs() < 1e-9);
        let custom = BTreeMap::from([("my-model".to_string(), 2.0)]);
        let res = resolve_snapshots(&quotas(Some(&custom)), &out.snapshots, 0);
        assert_eq!(res.windows_by_model.len(), 2);
        assert_eq!(res.windows_by_model["my-model"][0].remaining, 86.5);
    }

    #[test]
    fn overage_limited_chat_and_missing_pools() {
        let body = br#"{"quota_reset_date":"2026-12-01","quota_snapshots":{
            "premium_interactions":{"entitlement":300,"remaining":-12,"unlimited":false},
            "chat":{"entitlement":50,"remaining":20,"unlimited":false},
            "completions":null}}"#;
        let out = parse(body).unwrap();
        assert_eq!(out.snapshots[0].remaining, Some(-12.0));
        assert_eq!(out.snapshots[1].id, "chat");
        assert_eq!(out.snapshots[1].limit, Some(50.0));
        assert_eq!(
            out.snapshots[0].resets_at,
            iso_to_ms("2026-12-01T00:00:00Z")
        );
        let unlimited = br#"{"quota_snapshots":{"premium_interactions":{"unlimited":true}}}"#;
        assert!(parse(unlimited).unwrap().snapshots[0].unlimited);
        assert!(parse(b"{}").unwrap().snapshots.is_empty());
    }
}
