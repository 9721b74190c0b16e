//! OpenAI Codex: GET /backend-api/wham/usage. Windows are classified by
//! `limit_window_seconds` (18000 = 5 h, 604800 = 7 d), not by slot; `secondary_window` may
//! be `null`. Each `additional_rate_limits` entry brings windows of its own; the `credits`
//! balance (a decimal string) and a team seat's `spend_control` limits are credit windows.

use serde_json::Value;

use std::path::Path;

use super::{
    pct_quota, shape, Headers, HttpRequest, ParseContext, RequestContext, Wire, WireConfig,
    WireError,
};
use crate::credentials::{read_json, str_at, CredentialKind, Credentials};
use crate::model::{
    FetchOutcome, QuotaDefinition, QuotaKind, ResetBehavior, UsageSnapshot, WindowStatus,
    WindowType,
};
use crate::time;

const PATH: &str = "/backend-api/wham/usage";
const CREDITS: &str = "credits";
const CREDITS_UNIT: &str = "credits";
const SPEND_INDIVIDUAL: &str = "spend_individual";
/// Usage-limit resets the account has earned and not yet redeemed.
const RESETS: &str = "resets";
/// Window ids `quotas` declares; any other a response names is added as it comes.
const DECLARED: &[&str] = &[
    "5h",
    "7d",
    "primary",
    "secondary",
    CREDITS,
    SPEND_INDIVIDUAL,
    RESETS,
];

pub struct Codex;

impl Wire for Codex {
    fn quotas(&self, _config: &WireConfig) -> Vec<QuotaDefinition> {
        vec![
            pct_quota("5h", Some(18_000.0)),
            pct_quota("7d", Some(604_800.0)),
            pct_quota("primary", None),
            pct_quota("secondary", None),
            QuotaDefinition::new(CREDITS, QuotaKind::Balance).with_unit(CREDITS_UNIT),
            spend_quota(SPEND_INDIVIDUAL),
            QuotaDefinition::new(RESETS, QuotaKind::Amount { amount: 0.0 }).with_unit(RESETS),
        ]
    }

    fn tool_credentials(&self, home: &Path) -> Option<Credentials> {
        let v = read_json(&home.join(".codex/auth.json"))?;
        let mut c = Credentials::new(
            str_at(&v, &["tokens", "access_token"])?,
            CredentialKind::OAuth,
        );
        c.account_id = str_at(&v, &["tokens", "account_id"]).map(String::from);
        Some(c)
    }

    fn requests(&self, ctx: &RequestContext) -> Vec<HttpRequest> {
        let mut request = HttpRequest::get(format!("{}{PATH}", ctx.base_url))
            .bearer(&ctx.credentials.access_token)
            .header("Accept", "application/json")
            .header("User-Agent", "codex-cli");
        if let Some(account) = &ctx.credentials.account_id {
            request = request.header("ChatGPT-Account-Id", account.clone());
        }
        vec![request]
    }

    fn parse_headers(&self, status: u16, headers: &Headers, now_ms: i64) -> Option<FetchOutcome> {
        from_headers(status, headers, now_ms)
    }

    fn parse(&self, body: &[u8], ctx: &ParseContext) -> Result<FetchOutcome, WireError> {
        parse(body, ctx.now_ms)
    }
}

/// Spend-control limits of a team workspace, in the order they are shown.
const SPEND_LIMITS: [&str; 6] = [
    "individual_limit",
    "group_default_limit",
    "workspace_default_limit",
    "role_budget_limit",
    "group_shared_limit",
    "workspace_shared_limit",
];

type Map = serde_json::Map<String, Value>;

fn obj<'a>(v: Option<&'a Value>, what: &str, warnings: &mut Vec<String>) -> Option<&'a Map> {
    match v {
        None | Some(Value::Null) => None,
        Some(Value::Object(o)) => Some(o),
        Some(_) => {
            warnings.push(format!("{what}: not an object"));
            None
        }
    }
}

/// `reset_after_seconds` (relative, immune to clock skew between us and the service) wins
/// over `reset_at` (epoch seconds) when both are there.
/// An Enterprise seat's limit spells the latter `resets_at`.
fn reset(w: &Map, now: i64) -> Option<i64> {
    shape::number(w.get("reset_after_seconds"))
        .and_then(|secs| time::ms_after(now, secs))
        .or_else(|| {
            shape::number(w.get("reset_at").or_else(|| w.get("resets_at")))
                .and_then(time::epoch_secs_to_ms)
        })
}

/// A window's id and length. The id comes from the length the answer names (`5h`, `7d`,
/// `24h`, …); a window sent without one is named by its slot the way Codex's own client labels
/// it (primary = 5 h, secondary = weekly), so the id stays the same from poll to poll.
fn window_id(length_secs: Option<f64>, slot: &str) -> (String, Option<f64>) {
    if let Some(id) = length_secs.and_then(shape::length_id) {
        return (id, length_secs);
    }
    match (length_secs, slot) {
        (None, "primary") => ("5h".into(), Some(shape::FIVE_HOURS)),
        (None, "secondary") => ("7d".into(), Some(shape::SEVEN_DAYS)),
        _ => (slot.to_string(), length_secs),
    }
}

/// The id of one slot's window under `prefix` (`spark_5h`), and its length; when an earlier
/// window already has the id its length gives, the slot names it instead.
fn unique_id(
    prefix: Option<&str>,
    length: Option<f64>,
    slot: &str,
    outcome: &FetchOutcome,
) -> (String, Option<f64>) {
    let named = |base: &str| prefix.map_or(base.to_string(), |p| format!("{p}_{base}"));
    let (base, length) = window_id(length, slot);
    let id = named(&base);
    if outcome.snapshots.iter().any(|s| s.id == id) {
        return (named(slot), length);
    }
    (id, length)
}

/// The two windows of one `rate_limit` object, named by their length (`5h`, `7d`) rather than
/// their slot: a team plan's lone weekly window comes in `primary_window`. `prefix` names
/// an additional limit's windows (`spark_5h`).
fn windows(
    rl: &Map,
    prefix: Option<&str>,
    now: i64,
    outcome: &mut FetchOutcome,
    warnings: &mut Vec<String>,
) {
    for (slot, key) in [
        ("primary", "primary_window"),
        ("secondary", "secondary_window"),
    ] {
        let what = match prefix {
            Some(p) => format!("{p}.{key}"),
            None => key.to_string(),
        };
        let Some(w) = obj(rl.get(key), &what, warnings) else {
            continue;
        };
        let Some(used_percent) = shape::number(w.get("used_percent")) else {
            continue;
        };
        let length = shape::number(w.get("limit_window_seconds")).filter(|d| *d > 0.0);
        let (id, length) = unique_id(prefix, length, slot, outcome);
        shape::push_extra(outcome, DECLARED, pct_quota(&id, length));
        let mut s = UsageSnapshot::new(id);
        // An additional limit's windows (`spark_5h`) limit only the model it names.
        s.scope = prefix.map(String::from);
        s.used_ratio = Some(used_percent / 100.0);
        s.duration_secs = length;
        s.resets_at = reset(w, now);
        outcome.snapshots.push(s);
    }
}

/// The id prefix of an `additional_rate_limits` entry: `spark` for Codex Spark (its
/// `metered_feature` is spelled several ways, one of them the code name "bengalfox"), else
/// its sanitized `limit_name`.
fn limit_prefix(entry: &Map) -> Option<String> {
    limit_id_prefix(
        entry.get("limit_name").and_then(Value::as_str),
        entry.get("metered_feature").and_then(Value::as_str),
    )
}

fn limit_id_prefix(name: Option<&str>, feature: Option<&str>) -> Option<String> {
    let spark = [name, feature].into_iter().flatten().any(|n| {
        let n = n.to_ascii_lowercase();
        n.contains("spark") || n.contains("bengalfox")
    });
    if spark {
        return Some("spark".into());
    }
    name.or(feature).and_then(shape::sanitize_id)
}

fn additional(body: &Map, now: i64, outcome: &mut FetchOutcome, warnings: &mut Vec<String>) {
    let entries = match body.get("additional_rate_limits") {
        None | Some(Value::Null) => return,
        Some(Value::Array(a)) => a,
        Some(_) => {
            warnings.push("additional_rate_limits: not a list".into());
            return;
        }
    };
    let mut used: Vec<String> = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let what = format!("additional_rate_limits[{i}]");
        let Some(entry) = obj(Some(entry), &what, warnings) else {
            continue;
        };
        let Some(mut prefix) = limit_prefix(entry) else {
            warnings.push(format!("{what}: no name"));
            continue;
        };
        // Two limits with one name keep apart.
        if used.contains(&prefix) {
            prefix = format!("{prefix}_{}", i + 1);
        }
        used.push(prefix.clone());
        if let Some(rl) = obj(entry.get("rate_limit"), &what, warnings) {
            windows(rl, Some(&prefix), now, outcome, warnings);
        }
    }
}

/// What a Codex response's `x-codex-*` headers say (percent 0–100, window minutes, epoch-second
/// resets): the same windows as the usage endpoint, plus the credits balance; other metered
/// families (`x-<limit>-primary-used-percent` with `x-<limit>-limit-name`) as their own
/// windows. A 429 marks the fullest window used up.
fn from_headers(status: u16, h: &Headers, now_ms: i64) -> Option<FetchOutcome> {
    let mut outcome = FetchOutcome::default();
    // A family is named by what precedes `-primary-` or `-secondary-used-percent`: a response
    // may carry its secondary window alone, and that is still the `x-codex-` family, while
    // `x-codex-secondary-primary-used-percent` is the primary window of a limit of its own.
    let mut families: Vec<String> = h
        .names_with_prefix("x-")
        .filter_map(|n| {
            n.strip_suffix("-primary-used-percent")
                .or_else(|| n.strip_suffix("-secondary-used-percent"))
        })
        .filter(|p| p.len() > 2)
        .map(|p| format!("{p}-"))
        .collect();
    families.sort();
    families.dedup();
    for family in &families {
        let prefix = if family == "x-codex-" {
            None
        } else {
            // The limit's id as Codex forms it (`x-codex-secondary-` is `codex_secondary`);
            // a limit-name the server sends names it instead.
            let name = h.get(&format!("{family}limit-name"));
            let raw = family
                .trim_start_matches("x-")
                .trim_end_matches('-')
                .replace('-', "_");
            limit_id_prefix(name.or(Some(&raw)), name.is_none().then_some(raw.as_str()))
        };
        for slot in ["primary", "secondary"] {
            let Some(used) = h
                .number(&format!("{family}{slot}-used-percent"))
                .filter(|p| (0.0..=1000.0).contains(p))
            else {
                continue;
            };
            let length = h
                .number(&format!("{family}{slot}-window-minutes"))
                .filter(|m| *m > 0.0)
                .map(|m| m * 60.0);
            let (id, length) = unique_id(prefix.as_deref(), length, slot, &outcome);
            shape::push_extra(&mut outcome, DECLARED, pct_quota(&id, length));
            let mut s = UsageSnapshot::new(id);
            s.scope = prefix.clone();
            s.used_ratio = Some((used / 100.0).min(1.0));
            s.duration_secs = length;
            s.resets_at = h
                .number(&format!("{family}{slot}-reset-at"))
                .and_then(time::epoch_secs_to_ms)
                .or_else(|| {
                    h.number(&format!("{family}{slot}-reset-after-seconds"))
                        .and_then(|secs| time::ms_after(now_ms, secs))
                });
            outcome.snapshots.push(s);
        }
    }
    let flag = |name: &str| {
        h.get(name)
            .map(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "1"))
    };
    if flag("x-codex-credits-unlimited") == Some(true) {
        let mut s = UsageSnapshot::new(CREDITS);
        s.unit = Some(CREDITS_UNIT.into());
        s.unlimited = true;
        outcome.snapshots.push(s);
    } else if let Some(balance) = h.number("x-codex-credits-balance").filter(|b| *b > 0.0) {
        let mut s = UsageSnapshot::new(CREDITS);
        s.unit = Some(CREDITS_UNIT.into());
        s.remaining = Some(balance);
        outcome.snapshots.push(s);
    }
    if status == 429 {
        if let Some(fullest) = outcome
            .snapshots
            .iter_mut()
            .filter(|s| s.used_ratio.is_some())
            .max_by(|a, b| {
                a.used_ratio
                    .unwrap_or(0.0)
                    .total_cmp(&b.used_ratio.unwrap_or(0.0))
            })
        {
            fullest.used_ratio = Some(1.0);
        }
    }
    if let Some(plan) = h.get("x-codex-plan-type") {
        outcome.plan = Some(plan.to_string());
    }
    (!outcome.snapshots.is_empty()).then_some(outcome)
}

/// The prepaid credits balance (a decimal string), or an unlimited allowance.
fn credits(body: &Map, outcome: &mut FetchOutcome, warnings: &mut Vec<String>) {
    let Some(c) = obj(body.get("credits"), "credits", warnings) else {
        return;
    };
    let mut s = UsageSnapshot::new(CREDITS);
    s.unit = Some(CREDITS_UNIT.into());
    if c.get("unlimited").and_then(Value::as_bool) == Some(true) {
        s.unlimited = true;
        outcome.snapshots.push(s);
        return;
    }
    // Credits pay only once the plan's windows are used up, so an empty balance is no window:
    // a balance at 0 would read as exhausted and stop a plan that still has room. Without a
    // readable balance the credits are unknown, not zero.
    if let Some(b) = shape::number(c.get("balance")).filter(|b| *b > 0.0) {
        s.remaining = Some(b);
        outcome.snapshots.push(s);
    }
}

/// A team seat's monthly spend limits (`spend_control`), in workspace credits. The seat's
/// own limit may also sit at the root or in `rate_limit`; the nearest one wins.
fn spend_control(body: &Map, now: i64, outcome: &mut FetchOutcome, warnings: &mut Vec<String>) {
    let sc = obj(body.get("spend_control"), "spend_control", warnings);
    let rate_limit = body.get("rate_limit").and_then(Value::as_object);
    let reached = sc.and_then(|s| s.get("reached")).and_then(Value::as_bool) == Some(true);
    let reached_type = sc
        .and_then(|s| s.get("reached_limit_type"))
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase);
    let first_new = outcome.snapshots.len();
    for key in SPEND_LIMITS {
        let candidates = if key == "individual_limit" {
            vec![
                body.get(key),
                rate_limit.and_then(|r| r.get(key)),
                sc.and_then(|s| s.get(key)),
            ]
        } else {
            vec![sc.and_then(|s| s.get(key))]
        };
        let Some(l) = candidates.into_iter().flatten().find(|v| !v.is_null()) else {
            continue;
        };
        let what = format!("spend_control.{key}");
        let Some(l) = obj(Some(l), &what, warnings) else {
            continue;
        };
        let stem = key.trim_end_matches("_limit");
        let id = format!("spend_{stem}");
        let mut s = UsageSnapshot::new(id.clone());
        s.unit = Some(CREDITS_UNIT.into());
        s.limit = shape::number(l.get("limit")).filter(|v| *v >= 0.0);
        s.used = shape::number(l.get("used")).filter(|v| *v >= 0.0);
        s.remaining = shape::number(l.get("remaining"));
        // A Business or Enterprise seat may send only percentages: `used_percent`, or
        // `remaining_percent` alone (what is left, as the service's own clients read it).
        let used_percent = shape::number(l.get("used_percent"))
            .or_else(|| shape::number(l.get("remaining_percent")).map(|left| 100.0 - left));
        match (s.limit, s.used, s.remaining) {
            (Some(limit), None, None) => {
                s.remaining = used_percent.map(|p| limit * (1.0 - shape::percent_ratio(p)));
            }
            (None, None, None) => s.used_ratio = used_percent.map(shape::percent_ratio),
            _ => {}
        }
        if s.limit.is_none() && s.used.is_none() && s.remaining.is_none() && s.used_ratio.is_none()
        {
            warnings.push(format!("{what}: no usable numbers"));
            continue;
        }
        s.resets_at = reset(l, now);
        s.duration_secs = s.resets_at.and_then(shape::month_ending_at);
        if reached && reached_type.as_deref().is_some_and(|t| t.contains(stem)) {
            s.status = Some(WindowStatus::LimitReached);
        }
        if id != SPEND_INDIVIDUAL {
            outcome.extra_quotas.push(spend_quota(&id));
        }
        outcome.snapshots.push(s);
    }
    // Reached without saying which: only a lone limit can be the one.
    let new = &mut outcome.snapshots[first_new..];
    if reached && new.len() == 1 && new[0].status.is_none() {
        new[0].status = Some(WindowStatus::LimitReached);
    }
}

/// Earned usage-limit resets still available (`rate_limit_reset_credits.available_count`):
/// shown as that many of that many, so a count is never a limit running low; none left is
/// no window. Redeeming one is the user's business in Codex itself.
fn earned_resets(body: &Map, outcome: &mut FetchOutcome, warnings: &mut Vec<String>) {
    let what = "rate_limit_reset_credits";
    let Some(r) = obj(body.get(what), what, warnings) else {
        return;
    };
    match r.get("available_count") {
        None | Some(Value::Null) => {}
        Some(v) => match shape::number(Some(v)).filter(|n| *n >= 0.0 && n.fract() == 0.0) {
            Some(0.0) => {}
            Some(n) => {
                let mut s = UsageSnapshot::new(RESETS);
                s.unit = Some(RESETS.into());
                s.limit = Some(n);
                s.remaining = Some(n);
                s.used = Some(0.0);
                outcome.snapshots.push(s);
            }
            None => warnings.push(format!("{what}.available_count: not a count")),
        },
    }
}

fn spend_quota(id: &str) -> QuotaDefinition {
    QuotaDefinition::new(id, QuotaKind::Amount { amount: 0.0 })
        .with_window(WindowType::Fixed, ResetBehavior::Calendar)
        .with_unit(CREDITS_UNIT)
}

pub fn parse(body: &[u8], now: i64) -> Result<FetchOutcome, WireError> {
    let body: Value = serde_json::from_slice(body)?;
    if let Some(e) = shape::error_in_body(&body) {
        return Err(WireError::Service(e));
    }
    let body = body
        .as_object()
        .ok_or_else(|| WireError::Shape("expected a JSON object".into()))?;
    let mut outcome = FetchOutcome {
        plan: body
            .get("plan_type")
            .and_then(Value::as_str)
            .map(String::from),
        ..Default::default()
    };
    let mut warnings = Vec::new();
    if let Some(rl) = obj(body.get("rate_limit"), "rate_limit", &mut warnings) {
        windows(rl, None, now, &mut outcome, &mut warnings);
    }
    additional(body, now, &mut outcome, &mut warnings);
    earned_resets(body, &mut outcome, &mut warnings);
    credits(body, &mut outcome, &mut warnings);
    spend_control(body, now, &mut outcome, &mut warnings);
    shape::finish(outcome, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve::resolve_snapshots;

    const FIXTURE: &[u8] = include_bytes!("../../fixtures/codex-usage.json");
    const FIXTURE_2026: &[u8] = include_bytes!("../../fixtures/current/codex-usage-2026.json");
    const TEAM: &[u8] =
        include_bytes!("../../fixtures/current/codex-usage-2026-team-spend-control.json");
    /// 2026-12-01T00:00:00Z, the reference instant of the current fixtures.
    const NOW: i64 = 1_796_083_200_000;

    fn by<'a>(out: &'a FetchOutcome, id: &str) -> &'a UsageSnapshot {
        out.snapshots
            .iter()
            .find(|s| s.id == id)
            .unwrap_or_else(|| panic!("no window {id}"))
    }

    fn ids(out: &FetchOutcome) -> Vec<&str> {
        out.snapshots.iter().map(|s| s.id.as_str()).collect()
    }

    #[test]
    fn fixture_classified_by_window_length() {
        let out = parse(FIXTURE, 1_000).unwrap();
        assert_eq!(out.plan.as_deref(), Some("plus"));
        assert_eq!(
            ids(&out),
            ["5h", "7d"],
            "a zero balance without credits is no window"
        );
        let five = &out.snapshots[0];
        assert_eq!((five.id.as_str(), five.used_ratio), ("5h", Some(0.23)));
        assert_eq!(
            five.resets_at,
            Some(1_000 + 9_120_000),
            "reset_after_seconds preferred"
        );
        assert_eq!(five.duration_secs, Some(18_000.0));
        assert_eq!(out.snapshots[1].id, "7d");
    }

    #[test]
    fn fixture_2026_spark_windows_and_credit_balance() {
        let out = parse(FIXTURE_2026, NOW).unwrap();
        assert_eq!(out.plan.as_deref(), Some("pro"));
        assert_eq!(
            ids(&out),
            ["5h", "7d", "spark_5h", "spark_7d", "resets", "credits"]
        );
        assert_eq!(by(&out, "resets").remaining, Some(1.0), "one earned reset");
        assert_eq!(by(&out, "5h").used_ratio, Some(0.27));
        assert_eq!(by(&out, "5h").resets_at, Some(NOW + 9_900_000));
        assert_eq!(by(&out, "7d").used_ratio, Some(0.44));
        let spark = by(&out, "spark_5h");
        assert_eq!(spark.used_ratio, Some(0.08));
        assert_eq!(spark.scope.as_deref(), Some("spark"), "limits only Spark");
        assert_eq!(by(&out, "spark_7d").scope.as_deref(), Some("spark"));
        assert_eq!(by(&out, "5h").scope, None, "the whole account's");
        assert_eq!(spark.resets_at, Some(NOW + 10_800_000));
        assert_eq!(by(&out, "spark_7d").duration_secs, Some(604_800.0));
        let credits = by(&out, "credits");
        assert_eq!(credits.remaining, Some(212.5), "the balance is a string");
        assert_eq!(credits.unit.as_deref(), Some("credits"));
        let quotas = out.quotas_with(&Codex.quotas(&WireConfig::default()));
        let res = resolve_snapshots(&quotas, &out.snapshots, NOW);
        let w = |id: &str| {
            res.windows_by_model["default"]
                .iter()
                .find(|w| w.id == id)
                .unwrap()
                .clone()
        };
        let c = w("credits");
        assert_eq!(
            (c.kind.as_str(), c.remaining, c.used),
            ("balance", 212.5, 0.0)
        );
        assert_eq!(c.unit.as_deref(), Some("credits"));
        assert_eq!(w("spark_7d").kind, "percentage");
        assert_eq!(w("spark_7d").unit, None);
    }

    #[test]
    fn team_lone_weekly_in_primary_and_spend_control() {
        let out = parse(TEAM, NOW).unwrap();
        assert_eq!(out.plan.as_deref(), Some("team"));
        assert_eq!(
            ids(&out),
            ["7d", "spend_individual"],
            "credits without a balance are unknown, not zero"
        );
        let weekly = by(&out, "7d");
        assert_eq!(weekly.used_ratio, Some(1.0));
        assert_eq!(weekly.duration_secs, Some(604_800.0));
        let spend = by(&out, "spend_individual");
        assert_eq!(
            (spend.limit, spend.used, spend.remaining),
            (Some(1000.0), Some(368.4), Some(631.6))
        );
        assert_eq!(spend.unit.as_deref(), Some("credits"));
        assert_eq!(spend.resets_at, Some(NOW + 2_678_400_000));
        assert_eq!(
            spend.duration_secs,
            Some(31.0 * 86_400.0),
            "the month ending 2027-01-01"
        );
        assert_eq!(spend.status, None);
        let res = resolve_snapshots(
            &out.quotas_with(&Codex.quotas(&WireConfig::default())),
            &out.snapshots,
            NOW,
        );
        let w = res.windows_by_model["default"]
            .iter()
            .find(|w| w.id == "spend_individual")
            .unwrap();
        assert_eq!((w.total, w.kind.as_str()), (1000.0, "amount"));
        assert!((w.remaining_ratio - 0.6316).abs() < 1e-9);
    }

    #[test]
    fn spend_limits_nearest_wins_and_reached_marks_the_limit() {
        let body = br#"{
            "individual_limit": {"limit": "50", "used": "50", "remaining": "0", "reset_at": 1798761600},
            "rate_limit": {"individual_limit": {"limit": "1", "used": "0"}},
            "spend_control": {"reached": true, "reached_limit_type": "individual",
                "individual_limit": {"limit": "9", "used": "0"},
                "workspace_shared_limit": {"used_percent": 40, "reset_after_seconds": 60}}
        }"#;
        let out = parse(body, NOW).unwrap();
        assert_eq!(ids(&out), ["spend_individual", "spend_workspace_shared"]);
        let own = by(&out, "spend_individual");
        assert_eq!(own.limit, Some(50.0), "the root limit wins");
        assert_eq!(own.status, Some(WindowStatus::LimitReached));
        let shared = by(&out, "spend_workspace_shared");
        assert_eq!((shared.used_ratio, shared.status), (Some(0.4), None));
        assert!(out
            .extra_quotas
            .iter()
            .any(|q| q.id == "spend_workspace_shared" && q.unit.as_deref() == Some("credits")));
        let lone = br#"{"spend_control": {"reached": true, "group_default_limit": {"limit": 5, "used": 5}}}"#;
        let out = parse(lone, NOW).unwrap();
        assert_eq!(
            by(&out, "spend_group_default").status,
            Some(WindowStatus::LimitReached)
        );
    }

    #[test]
    fn additional_limits_are_named_and_kept_apart() {
        let body = br#"{"additional_rate_limits": [
            {"limit_name": "GPT-5.3-Codex-Spark", "metered_feature": "gpt_5_3_codex_spark",
             "rate_limit": {"primary_window": {"used_percent": 1, "limit_window_seconds": 18000}}},
            {"limit_name": "Turbo Mode!", "rate_limit": {"primary_window": {"used_percent": 2, "limit_window_seconds": 18000}}},
            {"limit_name": "turbo mode", "rate_limit": {"secondary_window": {"used_percent": 3, "limit_window_seconds": 86400}}},
            {"rate_limit": {}},
            7
        ]}"#;
        let out = parse(body, NOW).unwrap();
        assert_eq!(
            ids(&out),
            ["spark_5h", "turbo_mode_5h", "turbo_mode_3_24h"],
            "ids from the lengths, whatever the slot"
        );
        assert_eq!(
            out.snapshots[0].warnings,
            [
                "additional_rate_limits[3]: no name",
                "additional_rate_limits[4]: not an object"
            ]
        );
    }

    #[test]
    fn malformed_parts_are_warnings_not_failures() {
        let body = br#"{"rate_limit": {"primary_window": {"used_percent": 10, "limit_window_seconds": 18000}, "secondary_window": "soon"},
            "credits": [], "spend_control": {"individual_limit": {"limit": "n/a"}}}"#;
        let out = parse(body, NOW).unwrap();
        assert_eq!(ids(&out), ["5h"]);
        assert_eq!(
            out.snapshots[0].warnings,
            [
                "secondary_window: not an object",
                "credits: not an object",
                "spend_control.individual_limit: no usable numbers"
            ]
        );
        // Nothing readable at all: the warnings are the error.
        let bad = br#"{"credits": "lots"}"#;
        assert!(
            matches!(parse(bad, NOW), Err(WireError::Shape(m)) if m == "credits: not an object")
        );
    }

    fn observe(status: u16, pairs: &[(&str, &str)]) -> Option<FetchOutcome> {
        let h: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Codex.parse_headers(status, &Headers(&h), NOW)
    }

    #[test]
    fn codex_headers_name_windows_by_their_minutes() {
        // The names and units codex-rs reads (headers.md §2): percent, minutes, epoch seconds.
        let out = observe(
            200,
            &[
                ("x-codex-primary-used-percent", "12.5"),
                ("x-codex-primary-window-minutes", "300"),
                ("x-codex-primary-reset-at", "1796094000"),
                ("x-codex-secondary-used-percent", "44"),
                ("x-codex-secondary-window-minutes", "10080"),
                ("x-codex-secondary-reset-after-seconds", "3600"),
                ("x-codex-credits-has-credits", "True"),
                ("x-codex-credits-unlimited", "false"),
                ("x-codex-credits-balance", "212.5"),
                ("x-codex-bengalfox-primary-used-percent", "8"),
                ("x-codex-bengalfox-primary-window-minutes", "300"),
                ("x-codex-bengalfox-limit-name", "GPT-5.3-Codex-Spark"),
                ("x-codex-plan-type", "pro"),
            ],
        )
        .expect("windows");
        assert_eq!(ids(&out), ["5h", "7d", "spark_5h", "credits"]);
        assert_eq!(by(&out, "5h").used_ratio, Some(0.125));
        assert_eq!(by(&out, "5h").resets_at, Some(1_796_094_000_000));
        assert_eq!(by(&out, "7d").resets_at, Some(NOW + 3_600_000));
        assert_eq!(by(&out, "7d").duration_secs, Some(604_800.0));
        assert_eq!(by(&out, "spark_5h").used_ratio, Some(0.08));
        assert_eq!(by(&out, "credits").remaining, Some(212.5));
        assert_eq!(out.plan.as_deref(), Some("pro"));
        assert!(out.extra_quotas.iter().any(|q| q.id == "spark_5h"));
    }

    #[test]
    fn codex_headers_partial_sets_keep_their_ids() {
        // The secondary family alone is still `x-codex-`: its window is `7d`, never a limit
        // named `codex-secondary`.
        let out = observe(200, &[("x-codex-secondary-used-percent", "50")]).unwrap();
        assert_eq!(ids(&out), ["7d"]);
        assert_eq!(by(&out, "7d").used_ratio, Some(0.5));
        assert!(out.extra_quotas.is_empty());
        // A metered limit of its own (codex-rs `parse_rate_limit_for_limit_reads_secondary_
        // headers`): limit id codex_secondary, its window named by its minutes.
        let out = observe(
            200,
            &[
                ("x-codex-secondary-primary-used-percent", "80"),
                ("x-codex-secondary-primary-window-minutes", "1440"),
                ("x-codex-secondary-primary-reset-at", "1796094000"),
            ],
        )
        .unwrap();
        assert_eq!(ids(&out), ["codex_secondary_24h"]);
        assert_eq!(by(&out, "codex_secondary_24h").used_ratio, Some(0.8));
        assert!(out
            .extra_quotas
            .iter()
            .any(|q| q.id == "codex_secondary_24h"));
        // A limit-name names the limit (not its code name).
        let out = observe(
            200,
            &[
                ("x-codex-bengalfox-primary-used-percent", "80"),
                ("x-codex-bengalfox-limit-name", "gpt-5.2-codex-sonic"),
            ],
        )
        .unwrap();
        assert_eq!(ids(&out), ["gpt-5.2-codex-sonic_5h"]);
        // No minutes: named by slot the way Codex labels them (openusage's header test).
        let out = observe(
            200,
            &[
                ("x-codex-primary-used-percent", "25"),
                ("x-codex-secondary-used-percent", "50"),
            ],
        )
        .unwrap();
        assert_eq!(ids(&out), ["5h", "7d"]);
        // A lone weekly window in the primary slot, and a length we know only by its minutes.
        let out = observe(
            200,
            &[
                ("x-codex-primary-used-percent", "5"),
                ("x-codex-primary-window-minutes", "10080"),
                ("x-codex-secondary-used-percent", "7"),
                ("x-codex-secondary-window-minutes", "1440"),
            ],
        )
        .unwrap();
        assert_eq!(ids(&out), ["7d", "24h"]);
        // A 429 with oh-my-pi's recorded set (99 % of a 60-minute window): used up.
        let out = observe(
            429,
            &[
                ("x-codex-primary-used-percent", "99"),
                ("x-codex-primary-window-minutes", "60"),
                ("x-codex-primary-reset-at", "1796083800"),
            ],
        )
        .unwrap();
        assert_eq!(ids(&out), ["1h"]);
        assert_eq!(by(&out, "1h").used_ratio, Some(1.0));
        assert_eq!(by(&out, "1h").resets_at, Some(NOW + 600_000));
        // Credits alone: unlimited, or a balance; an empty balance without credits is nothing.
        let out = observe(200, &[("x-codex-credits-unlimited", "1")]).unwrap();
        assert!(by(&out, "credits").unlimited);
        assert!(observe(
            200,
            &[
                ("x-codex-credits-has-credits", "false"),
                ("x-codex-credits-balance", "0")
            ]
        )
        .is_none());
    }

    #[test]
    fn codex_headers_garbage_is_skipped_never_an_error() {
        assert!(observe(200, &[]).is_none());
        assert!(observe(200, &[("x-request-id", "abc")]).is_none());
        let garbage = [
            ("x-codex-primary-used-percent", "n/a"),
            ("x-codex-secondary-used-percent", "-3"),
            ("x-codex-credits-balance", "lots"),
            ("x--primary-used-percent", "5"),
        ];
        assert!(observe(200, &garbage).is_none());
        let out = observe(
            200,
            &[
                ("x-codex-primary-used-percent", "10"),
                ("x-codex-primary-window-minutes", "soon"),
                ("x-codex-primary-reset-at", "never"),
                ("x-codex-secondary-used-percent", "1e9"),
            ],
        )
        .unwrap();
        assert_eq!(ids(&out), ["5h"], "the bad secondary is skipped");
        assert_eq!(
            (by(&out, "5h").used_ratio, by(&out, "5h").resets_at),
            (Some(0.1), None)
        );
    }

    #[test]
    fn a_business_spend_limit_with_only_remaining_percent_is_read() {
        // A Business seat whose individual limit carries nothing but remaining_percent used
        // to fail the whole provider ("no usable numbers"): no 5 h, no weekly, no plan.
        let body = br#"{"plan_type": "business",
            "rate_limit": {"primary_window": {"used_percent": 30, "limit_window_seconds": 18000},
                           "secondary_window": {"used_percent": 12, "limit_window_seconds": 604800}},
            "spend_control": {"reached": false, "individual_limit": {"remaining_percent": 96, "reset_at": 1798761600}}}"#;
        let out = parse(body, NOW).unwrap();
        assert_eq!(out.plan.as_deref(), Some("business"));
        assert_eq!(ids(&out), ["5h", "7d", "spend_individual"]);
        let spend = by(&out, "spend_individual");
        assert_eq!((spend.used_ratio, spend.limit), (Some(0.04), None));
        assert!(spend.warnings.is_empty());
        let res = resolve_snapshots(
            &out.quotas_with(&Codex.quotas(&WireConfig::default())),
            &out.snapshots,
            NOW,
        );
        let w = res.windows_by_model["default"]
            .iter()
            .find(|w| w.id == "spend_individual")
            .unwrap();
        assert_eq!(w.kind, "percentage", "a share, not an amount of 0 credits");
        assert!((w.used_ratio - 0.04).abs() < 1e-9);
        // With the limit: what is left of it.
        let body = br#"{"spend_control": {"individual_limit": {"limit": "1000", "remaining_percent": 96}}}"#;
        let s = by(&parse(body, NOW).unwrap(), "spend_individual").clone();
        assert_eq!((s.limit, s.remaining), (Some(1000.0), Some(960.0)));
    }

    #[test]
    fn an_empty_credits_balance_is_no_window() {
        // CodexBar's recorded answer: 12 % of the 5 h window used, credits "0".
        let body = br#"{"rate_limit": {"primary_window": {"used_percent": 12, "reset_at": 1766948068, "limit_window_seconds": 18000}, "secondary_window": null},
            "credits": {"has_credits": true, "unlimited": false, "balance": "0"}}"#;
        let out = parse(body, NOW).unwrap();
        assert_eq!(ids(&out), ["5h"], "a 0 balance would read as exhausted");
        assert!(observe(
            200,
            &[
                ("x-codex-credits-has-credits", "true"),
                ("x-codex-credits-balance", "0")
            ]
        )
        .is_none());
    }

    #[test]
    fn earned_resets_are_shown_as_what_is_available() {
        let body =
            br#"{"rate_limit_reset_credits": {"available_count": 2}, "credits": {"balance": 100}}"#;
        let out = parse(body, NOW).unwrap();
        assert_eq!(ids(&out), ["resets", "credits"]);
        let r = by(&out, "resets");
        assert_eq!(
            (r.limit, r.remaining, r.used),
            (Some(2.0), Some(2.0), Some(0.0))
        );
        let res = resolve_snapshots(&Codex.quotas(&WireConfig::default()), &out.snapshots, NOW);
        let w = res.windows_by_model["default"]
            .iter()
            .find(|w| w.id == "resets")
            .unwrap();
        assert_eq!(
            (w.kind.as_str(), w.unit.as_deref()),
            ("amount", Some("resets"))
        );
        assert_eq!(w.remaining_ratio, 1.0, "a count of resets never runs low");
        assert!(parse(
            br#"{"rate_limit_reset_credits": {"available_count": 0}}"#,
            NOW
        )
        .unwrap()
        .snapshots
        .is_empty());
        let odd = br#"{"rate_limit": {"primary_window": {"used_percent": 1, "limit_window_seconds": 18000}},
            "rate_limit_reset_credits": {"available_count": "many"}}"#;
        let out = parse(odd, NOW).unwrap();
        assert_eq!(ids(&out), ["5h"]);
        assert_eq!(
            out.snapshots[0].warnings,
            ["rate_limit_reset_credits.available_count: not a count"]
        );
    }

    #[test]
    fn unlimited_credits_and_an_error_in_a_200() {
        let out = parse(br#"{"credits": {"unlimited": true, "balance": null}}"#, NOW).unwrap();
        assert!(by(&out, "credits").unlimited);
        let err = br#"{"error": {"code": "token_expired", "message": "Provided authentication token is expired."}}"#;
        assert!(matches!(parse(err, NOW), Err(WireError::Service(_))));
    }

    #[test]
    fn null_secondary_unknown_length_and_relative_reset() {
        let body = br#"{"rate_limit":{"primary_window":{"used_percent":50,"limit_window_seconds":3600,"reset_at":61},"secondary_window":null}}"#;
        let out = parse(body, 1_000).unwrap();
        assert_eq!(out.snapshots.len(), 1);
        assert_eq!(out.snapshots[0].id, "1h", "named by its length");
        assert_eq!(
            out.snapshots[0].resets_at,
            Some(61_000),
            "absolute reset_at when alone"
        );
        assert!(
            matches!(parse(br#"{"rate_limit": 5}"#, 0), Err(WireError::Shape(m)) if m == "rate_limit: not an object")
        );
        assert!(parse(br#"{"plan_type": "pro"}"#, 0)
            .unwrap()
            .snapshots
            .is_empty());
    }
}
