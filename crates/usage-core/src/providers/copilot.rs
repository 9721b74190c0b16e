//! GitHub Copilot: GET /copilot_internal/user with the GitHub OAuth token. The `premium`
//! pool counts AI credits (float `quota_remaining`) on credit-billed plans, premium requests
//! on the legacy request-billed ones; `-1` or `unlimited: true` is no limit; an org-billed
//! seat reports a 0/0 placeholder; Copilot Free may still send its older counters. Resets on
//! the 1st, 00:00 UTC. One unreadable pool never fails the rest.

use std::collections::BTreeMap;

use serde_json::Value;

use std::path::Path;

use super::{
    iso_to_ms, pct_quota, shape, Headers, HttpRequest, ParseContext, RequestContext, Wire,
    WireConfig, WireError,
};
use crate::credentials::{read_json, str_at, AuthRule, CredentialKind, Credentials};
use crate::model::{
    FetchOutcome, QuotaDefinition, QuotaKind, ResetBehavior, UsageSnapshot, WindowType,
};

const PATH: &str = "/copilot_internal/user";
const EDITOR_VERSION: &str = "vscode/1.96.2";
const PLUGIN_VERSION: &str = "copilot-chat/0.26.7";
const USER_AGENT: &str = "GitHubCopilotChat/0.26.7";
const API_VERSION: &str = "2025-04-01";

/// Premium-request multipliers of the plans still billed per request: GitHub's "Model
/// multipliers for annual plans on request-based billing (legacy)" (docs.github.com, after
/// the move to AI credits on 2026-06-01). Credit-billed plans get no per-model views unless
/// the user configures multipliers, which replace this table.
pub const DEFAULT_MULTIPLIERS: [(&str, f64); 26] = [
    ("claude-haiku-4.5", 0.33),
    ("claude-opus-4.5", 15.0),
    ("claude-opus-4.6", 27.0),
    ("claude-opus-4.7", 27.0),
    ("claude-opus-4.8", 27.0),
    ("claude-sonnet-4.5", 6.0),
    ("claude-sonnet-4.6", 9.0),
    ("gemini-2.5-pro", 1.0),
    ("gemini-3-flash-preview", 0.33),
    ("gemini-3-pro-preview", 6.0),
    ("gemini-3.1-pro-preview", 6.0),
    ("gemini-3.5-flash", 14.0),
    ("gpt-4o", 0.33),
    ("gpt-4o-mini", 0.33),
    ("gpt-4.1", 1.0),
    ("gpt-5-mini", 0.33),
    ("gpt-5.1", 3.0),
    ("gpt-5.1-codex", 3.0),
    ("gpt-5.1-codex-mini", 0.33),
    ("gpt-5.1-codex-max", 3.0),
    ("gpt-5.2", 3.0),
    ("gpt-5.2-codex", 3.0),
    ("gpt-5.3-codex", 6.0),
    ("gpt-5.4", 6.0),
    ("gpt-5.4-mini", 6.0),
    ("gpt-5.5", 57.0),
];

/// The pools of `quota_snapshots` and the window ids they become.
const POOLS: [(&str, &str); 3] = [
    ("premium_interactions", PREMIUM),
    ("chat", "chat"),
    ("completions", "completions"),
];
const PREMIUM: &str = "premium";
/// Since 2026-06-01 every plan draws its premium pool in AI credits (1 credit = $0.01).
const CREDITS: &str = "credits";
const REQUESTS: &str = "requests";

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

    fn parse_headers(&self, status: u16, headers: &Headers, now_ms: i64) -> Option<FetchOutcome> {
        from_headers(status, headers, now_ms)
    }

    fn parse(&self, body: &[u8], _ctx: &ParseContext) -> Result<FetchOutcome, WireError> {
        parse(body)
    }
}

fn monthly(q: QuotaDefinition) -> QuotaDefinition {
    q.with_window(WindowType::Fixed, ResetBehavior::Calendar)
}

fn multiplier_pool(base_amount: f64, multipliers: BTreeMap<String, f64>) -> QuotaDefinition {
    monthly(QuotaDefinition::new(
        PREMIUM,
        QuotaKind::Multiplier {
            base_amount,
            multipliers,
        },
    ))
}

/// `premium` is declared only with the user's own multipliers (their views then always
/// show); otherwise each response declares it as what its billing makes it.
pub fn quotas(multipliers: Option<&BTreeMap<String, f64>>) -> Vec<QuotaDefinition> {
    let mut quotas = Vec::new();
    if let Some(m) = multipliers {
        quotas.push(multiplier_pool(300.0, m.clone()));
    }
    for id in ["chat", "completions"] {
        quotas.push(monthly(
            QuotaDefinition::new(id, QuotaKind::Amount { amount: 0.0 }).with_unit(REQUESTS),
        ));
    }
    quotas
}

fn default_multipliers() -> BTreeMap<String, f64> {
    DEFAULT_MULTIPLIERS
        .iter()
        .map(|(m, x)| (m.to_string(), *x))
        .collect()
}

/// A reset given as an ISO instant or a bare date (midnight UTC).
fn reset_ms(v: Option<&Value>) -> Option<i64> {
    let s = v?.as_str()?.trim();
    iso_to_ms(s).or_else(|| iso_to_ms(&format!("{s}T00:00:00Z")))
}

fn plan(body: &Map) -> Option<String> {
    let text = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let sku = text("access_type_sku");
    // Copilot Free is told by its sku; its copilot_plan reads "individual" like Pro.
    if sku.is_some_and(|s| s.contains("free")) {
        return Some("free".into());
    }
    text("copilot_plan").or(sku).map(String::from)
}

type Map = serde_json::Map<String, Value>;

/// One pool: `None` when it is no window (unlimited chat/completions, an org placeholder),
/// `Err` with a body-free description when it cannot be read.
fn pool(
    key: &str,
    id: &str,
    v: &Value,
    credit_billed: bool,
) -> Result<Option<UsageSnapshot>, String> {
    let Some(p) = v.as_object() else {
        return Err(format!("{key}: not an object"));
    };
    let entitlement = shape::number(p.get("entitlement"));
    let raw_remaining = shape::number(p.get("remaining"));
    // `quota_remaining` is the precise (fractional credits) form of `remaining`; where the
    // two disagree beyond rounding, `remaining`, which every peer reads, wins.
    let precise = shape::number(p.get("quota_remaining"));
    let remaining = match (precise, raw_remaining) {
        (Some(q), Some(r)) if (q - r).abs() < 1.0 => Some(q),
        (q, r) => r.or(q),
    };
    let percent = shape::number(p.get("percent_remaining"));
    let unlimited = p.get("unlimited").and_then(Value::as_bool) == Some(true)
        || entitlement == Some(-1.0)
        || raw_remaining == Some(-1.0);
    let mut s = UsageSnapshot::new(id);
    s.unit = Some(
        if id == PREMIUM && credit_billed {
            CREDITS
        } else {
            REQUESTS
        }
        .into(),
    );
    if unlimited {
        if id != PREMIUM {
            return Ok(None);
        }
        s.unlimited = true;
        // What the user spent this cycle, when the pool counts it (a token-billed seat).
        s.used = shape::number(p.get("credits_used")).filter(|u| *u >= 0.0);
        return Ok(Some(s));
    }
    match entitlement {
        // An org-billed seat: no per-seat meter (its percent_remaining means nothing).
        Some(0.0) => Ok(None),
        Some(e) if e > 0.0 => {
            s.limit = Some(e);
            s.remaining = remaining.or_else(|| percent.map(|p| p.clamp(0.0, 100.0) / 100.0 * e));
            if s.remaining.is_none() {
                return Err(format!("{key}: no remaining count"));
            }
            Ok(Some(s))
        }
        Some(_) => Err(format!("{key}: negative entitlement")),
        None => match percent {
            Some(p) => {
                s.remaining_ratio = Some(p.clamp(0.0, 100.0) / 100.0);
                Ok(Some(s))
            }
            None => Err(format!("{key}: no usable numbers")),
        },
    }
}

/// One `x-quota-snapshot-*` / `x-usage-ratelimit-*` value: a URL-encoded query of `ent`
/// (entitlement, −1 = unlimited), `rem` (percent REMAINING), `rst` (reset time), `ov`
/// (overage used). A positive `ent` sizes the pool, so the first response already makes a
/// window with its amounts; the merge with the last polled result keeps the pool's unit.
fn header_pool(value: &str, id: &str) -> Option<UsageSnapshot> {
    let fields: BTreeMap<String, String> = url::form_urlencoded::parse(value.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let num = |k: &str| {
        fields
            .get(k)
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|v| v.is_finite())
    };
    let mut s = UsageSnapshot::new(id);
    if num("ent") == Some(-1.0) {
        s.unlimited = true;
        return Some(s);
    }
    let share = num("rem")?.clamp(0.0, 100.0) / 100.0;
    match num("ent").filter(|e| *e > 0.0) {
        Some(ent) => {
            s.limit = Some(ent);
            s.remaining = Some(share * ent);
        }
        None => s.remaining_ratio = Some(share),
    }
    s.resets_at = fields
        .get("rst")
        .and_then(|r| iso_to_ms(r).or_else(|| iso_to_ms(&format!("{r}T00:00:00Z"))));
    Some(s)
}

/// What a Copilot model response's headers say: the premium pool (`premium_models`, or the
/// older `premium_interactions`), `chat` for Free users, and the session/weekly rate limits.
fn from_headers(_status: u16, h: &Headers, _now_ms: i64) -> Option<FetchOutcome> {
    let mut outcome = FetchOutcome::default();
    let premium = h
        .get("x-quota-snapshot-premium_models")
        .or_else(|| h.get("x-quota-snapshot-premium_interactions"));
    if let Some(s) = premium.and_then(|v| header_pool(v, PREMIUM)) {
        // Declared as the poll would declare it, so a first response has a window to fill;
        // a pool a poll already declared (with its multipliers) keeps that declaration.
        outcome.extra_quotas.push(monthly(QuotaDefinition::new(
            PREMIUM,
            QuotaKind::Amount { amount: 0.0 },
        )));
        outcome.snapshots.push(s);
    }
    if let Some(s) = h
        .get("x-quota-snapshot-chat")
        .and_then(|v| header_pool(v, "chat"))
        .filter(|s| !s.unlimited)
    {
        outcome.snapshots.push(s);
    }
    for (name, id, secs) in [
        ("x-usage-ratelimit-session", "session", None),
        ("x-usage-ratelimit-weekly", "weekly", Some(604_800.0)),
    ] {
        if let Some(s) = h.get(name).and_then(|v| header_pool(v, id)) {
            outcome.extra_quotas.push(pct_quota(id, secs));
            outcome.snapshots.push(s);
        }
    }
    (!outcome.snapshots.is_empty()).then_some(outcome)
}

/// Copilot Free's older counters: `limited_user_quotas` (REMAINING) of `monthly_quotas`.
fn legacy_free(
    body: &Map,
    resets_at: Option<i64>,
    warnings: &mut Vec<String>,
) -> Vec<UsageSnapshot> {
    let (Some(totals), Some(left)) = (body.get("monthly_quotas"), body.get("limited_user_quotas"))
    else {
        return Vec::new();
    };
    let (Some(totals), Some(left)) = (totals.as_object(), left.as_object()) else {
        warnings.push("limited_user_quotas: not an object".into());
        return Vec::new();
    };
    let resets_at = reset_ms(body.get("limited_user_reset_date")).or(resets_at);
    let mut out = Vec::new();
    for id in ["chat", "completions"] {
        let (Some(total), Some(remaining)) =
            (shape::number(totals.get(id)), shape::number(left.get(id)))
        else {
            continue;
        };
        if total <= 0.0 {
            continue;
        }
        let mut s = UsageSnapshot::new(id);
        s.limit = Some(total);
        s.remaining = Some(remaining);
        s.unit = Some(REQUESTS.into());
        s.resets_at = resets_at;
        out.push(s);
    }
    out
}

/// How a pool this answer read is declared: `premium` as billing makes it (per-model views
/// only where a request is what a model's multiplier counts), a pool the service added as
/// a count of requests; chat and completions are declared already.
fn pool_quota(s: &UsageSnapshot, credit_billed: bool) -> Option<QuotaDefinition> {
    let amount = |id: &str| monthly(QuotaDefinition::new(id, QuotaKind::Amount { amount: 0.0 }));
    match s.id.as_str() {
        "chat" | "completions" => None,
        PREMIUM if credit_billed || s.unlimited => Some(amount(PREMIUM)),
        PREMIUM => Some(multiplier_pool(
            s.limit.unwrap_or(300.0),
            default_multipliers(),
        )),
        other => Some(amount(other).with_unit(REQUESTS)),
    }
}

pub fn parse(body: &[u8]) -> Result<FetchOutcome, WireError> {
    let body: Value = serde_json::from_slice(body)?;
    if let Some(e) = shape::error_in_body(&body) {
        return Err(WireError::Service(e));
    }
    let body = body
        .as_object()
        .ok_or_else(|| WireError::Shape("expected a JSON object".into()))?;
    let resets_at = reset_ms(body.get("quota_reset_date_utc"))
        .or_else(|| reset_ms(body.get("quota_reset_date")));
    let root_credit_billed = body.get("token_based_billing").and_then(Value::as_bool) == Some(true);
    let mut outcome = FetchOutcome {
        plan: plan(body),
        ..Default::default()
    };
    let mut warnings = Vec::new();
    let pools = match body.get("quota_snapshots") {
        None | Some(Value::Null) => None,
        Some(Value::Object(p)) => Some(p),
        Some(_) => {
            warnings.push("quota_snapshots: not an object".into());
            None
        }
    };
    // The known pools in their order, then any key the service added (a window of its own).
    let unknown: Vec<(String, String)> = pools
        .into_iter()
        .flat_map(|p| p.keys())
        .filter(|k| !POOLS.iter().any(|(known, _)| known == k))
        .filter_map(|k| Some((k.clone(), shape::sanitize_id(k)?)))
        .collect();
    let all = POOLS
        .iter()
        .map(|(k, id)| (k.to_string(), id.to_string()))
        .chain(unknown);
    // Lanes the older Free counters may fill: absent here, or sent but unreadable.
    let mut open_lanes: Vec<&str> = vec!["chat", "completions"];
    let mut lane_warnings: Vec<(String, String)> = Vec::new();
    for (key, id) in all {
        let Some(v) = pools
            .and_then(|p| p.get(&key))
            .filter(|v| !v.is_null() && !v.as_object().is_some_and(|o| o.is_empty()))
        else {
            continue;
        };
        let id = id.as_str();
        let credit_billed = root_credit_billed
            || v.get("token_based_billing").and_then(Value::as_bool) == Some(true);
        let read = pool(&key, id, v, credit_billed);
        if read.is_ok() {
            open_lanes.retain(|l| *l != id);
        }
        match read {
            Ok(Some(s)) => {
                if let Some(q) = pool_quota(&s, credit_billed) {
                    shape::push_extra(&mut outcome, &["chat", "completions"], q);
                }
                outcome.snapshots.push(s);
            }
            Ok(None) => {}
            Err(w) => lane_warnings.push((id.to_string(), w)),
        }
    }
    let legacy = legacy_free(body, resets_at, &mut warnings);
    let filled: Vec<String> = legacy
        .into_iter()
        .filter(|s| open_lanes.contains(&s.id.as_str()))
        .map(|s| {
            let id = s.id.clone();
            outcome.snapshots.push(s);
            id
        })
        .collect();
    // A lane the older counters filled is read; its unreadable direct form is no warning.
    warnings.extend(
        lane_warnings
            .into_iter()
            .filter(|(id, _)| !filled.contains(id))
            .map(|(_, w)| w),
    );
    for s in &mut outcome.snapshots {
        if s.resets_at.is_none() {
            s.resets_at = resets_at;
        }
        s.duration_secs = s.resets_at.and_then(shape::month_ending_at);
    }
    shape::finish(outcome, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve::resolve_snapshots;

    const FIXTURE: &[u8] = include_bytes!("../../fixtures/copilot-user.json");
    const AI_CREDITS: &[u8] = include_bytes!("../../fixtures/current/copilot-user-ai-credits.json");
    const BUSINESS: &[u8] =
        include_bytes!("../../fixtures/current/copilot-user-business-placeholder.json");
    const FREE_LEGACY: &[u8] =
        include_bytes!("../../fixtures/current/copilot-user-free-legacy.json");
    const SENTINEL: &[u8] = include_bytes!("../../fixtures/current/copilot-user-sentinel.json");
    const NOW: i64 = 1_796_083_200_000;

    fn ids(out: &FetchOutcome) -> Vec<&str> {
        out.snapshots.iter().map(|s| s.id.as_str()).collect()
    }

    fn resolve(
        out: &FetchOutcome,
        multipliers: Option<&BTreeMap<String, f64>>,
    ) -> crate::resolve::Resolution {
        resolve_snapshots(&out.quotas_with(&quotas(multipliers)), &out.snapshots, NOW)
    }

    #[test]
    fn old_fixture_premium_requests_and_plan() {
        let out = parse(FIXTURE).unwrap();
        assert_eq!(out.plan.as_deref(), Some("individual_pro"));
        assert_eq!(
            ids(&out),
            ["premium"],
            "unlimited chat/completions are skipped"
        );
        let p = &out.snapshots[0];
        assert_eq!((p.limit, p.remaining), (Some(300.0), Some(173.0)));
        assert_eq!(p.unit.as_deref(), Some("requests"), "not token-billed");
        assert_eq!(p.resets_at, iso_to_ms("2026-12-01T00:00:00Z"));
        assert_eq!(
            p.duration_secs,
            Some(30.0 * 86_400.0),
            "November has 30 days"
        );
    }

    #[test]
    fn request_billed_pool_has_per_model_views_from_the_legacy_table() {
        let out = parse(FIXTURE).unwrap();
        let res = resolve(&out, None);
        let w = |m: &str| res.windows_by_model[m][0].clone();
        assert_eq!(w("default").remaining, 173.0);
        assert_eq!(w("default").kind, "multiplier");
        assert!((w("claude-opus-4.5").remaining - 173.0 / 15.0).abs() < 1e-9);
        assert!((w("gpt-4o").remaining - 173.0 / 0.33).abs() < 1e-9);
        assert_eq!(w("gemini-2.5-pro").remaining, 173.0);
        assert_eq!(res.windows_by_model.len(), DEFAULT_MULTIPLIERS.len() + 1);
        let custom = BTreeMap::from([("my-model".to_string(), 2.0)]);
        let res = resolve(&out, Some(&custom));
        assert_eq!(
            res.windows_by_model.len(),
            2,
            "the user's table replaces ours"
        );
        assert_eq!(res.windows_by_model["my-model"][0].remaining, 86.5);
    }

    #[test]
    fn ai_credits_pool_in_credits_without_views() {
        let out = parse(AI_CREDITS).unwrap();
        assert_eq!(out.plan.as_deref(), Some("individual"));
        assert_eq!(ids(&out), ["premium"]);
        let p = &out.snapshots[0];
        assert_eq!((p.limit, p.remaining), (Some(1500.0), Some(887.35)));
        assert_eq!(p.unit.as_deref(), Some("credits"));
        assert_eq!(p.resets_at, iso_to_ms("2027-01-01T00:00:00Z"));
        assert_eq!(p.duration_secs, Some(31.0 * 86_400.0));
        let res = resolve(&out, None);
        assert_eq!(
            res.windows_by_model.len(),
            1,
            "no per-model views for credits"
        );
        let w = &res.windows_by_model["default"][0];
        assert_eq!((w.kind.as_str(), w.total), ("amount", 1500.0));
        assert!((w.used - 612.65).abs() < 1e-9);
        assert_eq!(w.unit.as_deref(), Some("credits"));
        // With the user's own multipliers the views come back, even for credits.
        let custom = BTreeMap::from([("m".to_string(), 10.0)]);
        let res = resolve(&out, Some(&custom));
        assert!((res.windows_by_model["m"][0].remaining - 88.735).abs() < 1e-9);
    }

    #[test]
    fn org_placeholder_is_a_plan_without_a_pool() {
        let out = parse(BUSINESS).unwrap();
        assert_eq!(out.plan.as_deref(), Some("business"));
        assert!(
            out.snapshots.is_empty(),
            "no fake 0/0 pool, no percent_remaining meter"
        );
        assert!(out.extra_quotas.is_empty());
    }

    #[test]
    fn free_legacy_counters_are_remaining_of_totals() {
        let out = parse(FREE_LEGACY).unwrap();
        assert_eq!(out.plan.as_deref(), Some("free"));
        assert_eq!(ids(&out), ["chat", "completions"]);
        let chat = &out.snapshots[0];
        assert_eq!((chat.limit, chat.remaining), (Some(500.0), Some(290.0)));
        assert_eq!(chat.unit.as_deref(), Some("requests"));
        assert_eq!(chat.resets_at, iso_to_ms("2026-12-07T00:00:00Z"));
        let res = resolve(&out, None);
        let w = &res.windows_by_model["default"][1];
        assert_eq!(
            (w.id.as_str(), w.total, w.used),
            ("completions", 4000.0, 1680.0)
        );
        assert!((w.used_ratio - 0.42).abs() < 1e-9);
        // A paid account that still carries the old counters shows its pools only.
        let mut paid: Value = serde_json::from_slice(FIXTURE).unwrap();
        paid["monthly_quotas"] = serde_json::json!({"chat": 50});
        paid["limited_user_quotas"] = serde_json::json!({"chat": 10});
        let out = parse(&serde_json::to_vec(&paid).unwrap()).unwrap();
        assert_eq!(ids(&out), ["premium"]);
    }

    #[test]
    fn unlimited_sentinel_is_no_window_and_no_failure() {
        let out = parse(SENTINEL).unwrap();
        assert_eq!(ids(&out), ["premium"]);
        let p = &out.snapshots[0];
        assert_eq!((p.limit, p.remaining), (Some(1500.0), Some(1012.5)));
        assert_eq!(p.unit.as_deref(), Some("credits"));
        let res = resolve(&out, None);
        assert!((res.windows_by_model["default"][0].used_ratio - 0.325).abs() < 1e-9);
        // An unlimited premium pool is unlimited, not 0 of 0.
        let body =
            br#"{"quota_snapshots":{"premium_interactions":{"entitlement":-1,"remaining":-1}}}"#;
        let out = parse(body).unwrap();
        assert!(out.snapshots[0].unlimited);
        let w = &resolve(&out, None).windows_by_model["default"][0];
        assert_eq!((w.remaining_ratio, w.unlimited), (1.0, true));
    }

    #[test]
    fn a_malformed_pool_is_a_warning_not_a_failure() {
        let body = br#"{"quota_reset_date":"2026-12-01","quota_snapshots":{
            "premium_interactions":{"entitlement":300,"remaining":-12,"unlimited":false},
            "chat":"broken",
            "completions":{"entitlement":"n/a","unlimited":false}}}"#;
        let out = parse(body).unwrap();
        assert_eq!(ids(&out), ["premium"]);
        let p = &out.snapshots[0];
        assert_eq!(p.remaining, Some(-12.0), "overage");
        let stale = br#"{"quota_snapshots":{"premium_interactions":{"entitlement":300,"remaining":-12,"quota_remaining":173.0}}}"#;
        assert_eq!(
            parse(stale).unwrap().snapshots[0].remaining,
            Some(-12.0),
            "a float that disagrees with the count is not trusted"
        );
        assert_eq!(p.resets_at, iso_to_ms("2026-12-01T00:00:00Z"));
        assert_eq!(
            p.warnings,
            ["chat: not an object", "completions: no usable numbers"]
        );
        // Nothing readable: the fetch fails with the same words.
        let bad =
            br#"{"quota_snapshots":{"premium_interactions":{"entitlement":-5,"remaining":1}}}"#;
        assert!(
            matches!(parse(bad), Err(WireError::Shape(m)) if m == "premium_interactions: negative entitlement")
        );
        let bad = br#"{"quota_snapshots":[1]}"#;
        assert!(
            matches!(parse(bad), Err(WireError::Shape(m)) if m == "quota_snapshots: not an object")
        );
    }

    fn observe(pairs: &[(&str, &str)]) -> Option<FetchOutcome> {
        let h: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Copilot.parse_headers(200, &Headers(&h), NOW)
    }

    #[test]
    fn quota_snapshot_headers_size_the_pool_on_first_contact() {
        // The URL-encoded form VS Code's own client reads (headers.md §3).
        let out = observe(&[(
            "x-quota-snapshot-premium_models",
            "ent=300&ov=0.0&ovPerm=true&rem=75.5&rst=2026-12-01T00%3A00%3A00Z",
        )])
        .expect("a window before any poll");
        assert_eq!(ids(&out), ["premium"]);
        let p = &out.snapshots[0];
        assert_eq!((p.limit, p.remaining), (Some(300.0), Some(226.5)));
        assert_eq!(p.resets_at, iso_to_ms("2026-12-01T00:00:00Z"));
        // Declared, so the store has a quota to resolve it against.
        let res = resolve(&out, None);
        let w = &res.windows_by_model["default"][0];
        assert_eq!((w.id.as_str(), w.total), ("premium", 300.0));
        assert!((w.remaining - 226.5).abs() < 1e-9);
        // The older name, a date-only reset, and Free's chat pool.
        let out = observe(&[
            (
                "x-quota-snapshot-premium_interactions",
                "ent=50&rem=10&rst=2026-12-01",
            ),
            ("x-quota-snapshot-chat", "ent=500&rem=42&rst=2026-12-01"),
        ])
        .unwrap();
        assert_eq!(ids(&out), ["premium", "chat"]);
        assert_eq!(out.snapshots[1].remaining, Some(210.0));
        assert_eq!(
            out.snapshots[0].resets_at,
            iso_to_ms("2026-12-01T00:00:00Z")
        );
    }

    #[test]
    fn quota_snapshot_headers_partial_unlimited_and_rate_limits() {
        // A share without a size: a share (the merge with a poll brings the amounts).
        let out = observe(&[("x-quota-snapshot-premium_models", "rem=40")]).unwrap();
        assert_eq!(out.snapshots[0].remaining_ratio, Some(0.4));
        assert_eq!(out.snapshots[0].limit, None);
        let out = observe(&[("x-quota-snapshot-premium_models", "ent=-1&rem=100")]).unwrap();
        assert!(out.snapshots[0].unlimited);
        assert!(
            observe(&[("x-quota-snapshot-chat", "ent=-1&rem=100")]).is_none(),
            "unlimited chat is no window"
        );
        let out = observe(&[
            (
                "x-usage-ratelimit-session",
                "rem=80&rst=2026-12-01T05%3A00%3A00Z",
            ),
            ("x-usage-ratelimit-weekly", "rem=12.5"),
        ])
        .unwrap();
        assert_eq!(ids(&out), ["session", "weekly"]);
        assert_eq!(out.snapshots[1].remaining_ratio, Some(0.125));
        let weekly = out.extra_quotas.iter().find(|q| q.id == "weekly").unwrap();
        assert_eq!(weekly.duration_secs, Some(604_800.0));
    }

    #[test]
    fn quota_snapshot_garbage_is_skipped_never_an_error() {
        assert!(observe(&[]).is_none());
        assert!(observe(&[("x-copilot-service-request-id", "abc")]).is_none());
        for bad in [
            "",
            "garbage",
            "ent=300",
            "rem=lots&ent=300",
            "rem=NaN",
            "%%%=&&&",
        ] {
            assert!(
                observe(&[("x-quota-snapshot-premium_models", bad)]).is_none(),
                "{bad:?}"
            );
        }
        // Out-of-range shares are clamped; a bad reset is unknown.
        let out = observe(&[("x-quota-snapshot-premium_models", "rem=140&rst=someday")]).unwrap();
        assert_eq!(
            (out.snapshots[0].remaining_ratio, out.snapshots[0].resets_at),
            (Some(1.0), None)
        );
    }

    #[test]
    fn limited_chat_percent_only_pools_and_missing_pools() {
        let body = br#"{"quota_reset_date_utc":"2026-12-01T00:00:00.000Z","quota_snapshots":{
            "premium_interactions":{"percent_remaining": 40},
            "chat":{"entitlement":50,"remaining":20,"unlimited":false},
            "completions":null}}"#;
        let out = parse(body).unwrap();
        assert_eq!(ids(&out), ["premium", "chat"]);
        assert_eq!(out.snapshots[0].remaining_ratio, Some(0.4));
        assert_eq!(out.snapshots[1].limit, Some(50.0));
        assert!(parse(b"{}").unwrap().snapshots.is_empty());
        let github_error = br#"{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest","status":"401"}"#;
        assert!(
            matches!(parse(github_error), Err(WireError::Service(e)) if e.kind == crate::model::ErrorKind::Auth)
        );
    }
}
