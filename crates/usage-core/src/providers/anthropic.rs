//! Claude: GET /api/oauth/usage. Percent used, ISO resets. `limits[]` is authoritative when
//! it is there; the older top-level keys (any may be `null`, unknown `{utilization,
//! resets_at}` keys become windows of their own) only when it is not. `extra_usage` /
//! `spend` become the money window `extra`.

use serde_json::Value;

use std::path::Path;

use super::{
    pct_quota, shape, Headers, HttpRequest, ParseContext, RequestContext, Wire, WireConfig,
    WireError,
};
use crate::credentials::{num_at, read_json, str_at, AuthRule, CredentialKind, Credentials};
use crate::model::{
    Billing, FetchOutcome, QuotaDefinition, QuotaKind, ResetBehavior, UsageSnapshot, WindowStatus,
    WindowType,
};
use crate::time;

const PATH: &str = "/api/oauth/usage";
const BETA: &str = "oauth-2025-04-20";
const USER_AGENT: &str = "claude-code/2.0.31";

/// The extra-usage (metered spend) window.
pub const EXTRA: &str = "extra";

const FIVE_HOURS: f64 = 18_000.0;
const SEVEN_DAYS: f64 = 604_800.0;

/// Known keys and the window ids they become.
const KNOWN: [(&str, &str, f64); 4] = [
    ("five_hour", "5h", FIVE_HOURS),
    ("seven_day", "7d", SEVEN_DAYS),
    ("seven_day_opus", "7d_opus", SEVEN_DAYS),
    ("seven_day_sonnet", "7d_sonnet", SEVEN_DAYS),
];

pub struct Anthropic;

impl Wire for Anthropic {
    fn quotas(&self, _config: &WireConfig) -> Vec<QuotaDefinition> {
        let mut quotas: Vec<QuotaDefinition> = KNOWN
            .iter()
            .map(|(_, id, secs)| pct_quota(id, Some(*secs)))
            .collect();
        // Money; its total is the cap the response reports, its unit the currency.
        quotas.push(
            QuotaDefinition::new(EXTRA, QuotaKind::Amount { amount: 0.0 })
                .with_window(WindowType::Fixed, ResetBehavior::Calendar),
        );
        quotas
    }

    /// The usage endpoint reads a Claude login's OAuth token; an API key has no plan usage.
    fn auth(&self) -> AuthRule {
        AuthRule {
            env: &["ANTHROPIC_OAUTH_TOKEN"],
            ..AuthRule::OAUTH
        }
    }

    fn tool_credentials(&self, home: &Path) -> Option<Credentials> {
        let v = read_json(&home.join(".claude/.credentials.json"))?;
        let mut c = Credentials::new(
            str_at(&v, &["claudeAiOauth", "accessToken"])?,
            CredentialKind::OAuth,
        );
        c.expires_at = num_at(&v, &["claudeAiOauth", "expiresAt"]);
        c.plan = str_at(&v, &["claudeAiOauth", "subscriptionType"])
            .or_else(|| str_at(&v, &["claudeAiOauth", "rateLimitTier"]))
            .map(String::from);
        Some(c)
    }

    fn requests(&self, ctx: &RequestContext) -> Vec<HttpRequest> {
        vec![HttpRequest::get(format!("{}{PATH}", ctx.base_url))
            .bearer(&ctx.credentials.access_token)
            .header("anthropic-beta", BETA)
            .header("User-Agent", USER_AGENT)
            .header("Accept", "application/json")]
    }

    fn parse_headers(&self, status: u16, headers: &Headers, now_ms: i64) -> Option<FetchOutcome> {
        from_headers(status, headers, now_ms).map(scoped)
    }

    fn parse(&self, body: &[u8], ctx: &ParseContext) -> Result<FetchOutcome, WireError> {
        let oauth = ctx.credentials.kind == CredentialKind::OAuth;
        parse(&serde_json::from_slice(body)?, ctx.now_ms, oauth).map(scoped)
    }
}

/// Marks each per-model weekly cap (`7d_<model>`: `7d_opus`, a `weekly_scoped` row) with the
/// model it limits, so the quota check lets it govern only that model.
fn scoped(mut outcome: FetchOutcome) -> FetchOutcome {
    for s in &mut outcome.snapshots {
        s.scope =
            s.id.strip_prefix("7d_")
                .filter(|m| !m.is_empty())
                .map(String::from);
    }
    outcome
}

/// Keys the service still sends that its own clients no longer show: Claude Design's weekly
/// limit now draws from the main one.
const HIDDEN: [&str; 2] = ["seven_day_omelette", "seven_day_design"];

/// Two spellings of the routines window; the first populated one is read, under the newer id.
const ROUTINES: [&str; 2] = ["seven_day_routines", "seven_day_cowork"];

/// `{utilization, resets_at}`. A key we know is read without `resets_at` (the per-model
/// weekly keys often come without one: the reset is then unknown); an unknown key needs it
/// present, even `null`, to count as a window rather than some other object.
fn window(value: &Value, known: bool) -> Option<(f64, Option<i64>)> {
    let obj = value.as_object()?;
    let utilization = shape::number(obj.get("utilization"))?;
    if !known && !obj.contains_key("resets_at") {
        return None;
    }
    Some((utilization, shape::instant_ms(obj.get("resets_at"))))
}

fn percent_snapshot(id: &str, percent: f64, resets_at: Option<i64>) -> UsageSnapshot {
    let mut s = UsageSnapshot::new(id);
    s.used_ratio = Some(percent / 100.0);
    s.resets_at = resets_at;
    s
}

/// The windows of `limits[]`: `session` → `5h`, `weekly_all` → `7d`, each `weekly_scoped`
/// row → `7d_<model>`. Every row counts, not only the `is_active` one (that flag marks the
/// row binding right now). A row replaces the legacy key's window of the same id; an empty
/// or unreadable array (a service mid-rollout) leaves the legacy keys as they are.
fn limits(obj: &serde_json::Map<String, Value>, outcome: &mut FetchOutcome) {
    let Some(rows) = obj.get("limits").and_then(Value::as_array) else {
        return;
    };
    for row in rows {
        let Some(percent) = row.get("percent").and_then(|p| shape::number(Some(p))) else {
            continue;
        };
        let kind = row.get("kind").and_then(Value::as_str).unwrap_or_default();
        let group = row.get("group").and_then(Value::as_str).unwrap_or_default();
        let (id, secs) = match kind {
            "session" => ("5h".to_string(), Some(FIVE_HOURS)),
            "weekly_all" => ("7d".to_string(), Some(SEVEN_DAYS)),
            "weekly_scoped" => {
                let model = row
                    .pointer("/scope/model/display_name")
                    .and_then(Value::as_str);
                let Some(model) = model.and_then(shape::sanitize_id) else {
                    continue;
                };
                (format!("7d_{model}"), Some(SEVEN_DAYS))
            }
            // A kind added later: named after itself, its length from its group.
            other => {
                let Some(id) = shape::sanitize_id(other) else {
                    continue;
                };
                let secs = match group {
                    "session" => Some(FIVE_HOURS),
                    "weekly" => Some(SEVEN_DAYS),
                    _ => None,
                };
                (id, secs)
            }
        };
        let resets_at = shape::instant_ms(row.get("resets_at"));
        if !KNOWN.iter().any(|(_, known, _)| *known == id)
            && !outcome.extra_quotas.iter().any(|q| q.id == id)
        {
            outcome.extra_quotas.push(pct_quota(&id, secs));
        }
        let mut s = percent_snapshot(&id, percent, resets_at);
        match outcome.snapshots.iter_mut().find(|old| old.id == id) {
            Some(old) => {
                s.resets_at = s.resets_at.or(old.resets_at);
                *old = s;
            }
            None => outcome.snapshots.push(s),
        }
    }
}

/// The keys of the older shape: known windows first, in their usual order; then whatever
/// `{utilization, resets_at}` key the service added.
fn legacy(obj: &serde_json::Map<String, Value>, outcome: &mut FetchOutcome) {
    let known = KNOWN.iter().map(|(k, id, _)| (*k, Some(*id)));
    let routines = ROUTINES
        .iter()
        .find(|k| obj.get(**k).and_then(|v| window(v, true)).is_some())
        .map(|k| (*k, Some(ROUTINES[0])));
    let unknown = obj
        .keys()
        .filter(|k| {
            !KNOWN.iter().any(|(known, _, _)| known == k)
                && !HIDDEN.contains(&k.as_str())
                && !ROUTINES.contains(&k.as_str())
        })
        .map(|k| (k.as_str(), None));
    for (key, known_id) in known.chain(routines).chain(unknown) {
        let Some((utilization, resets_at)) =
            obj.get(key).and_then(|v| window(v, known_id.is_some()))
        else {
            continue;
        };
        let id = match known_id {
            Some(id) if id == ROUTINES[0] => {
                outcome.extra_quotas.push(pct_quota(id, Some(SEVEN_DAYS)));
                id.to_string()
            }
            Some(id) => id.to_string(),
            None => {
                let secs = if key.starts_with("seven_day") {
                    Some(SEVEN_DAYS)
                } else if key.starts_with("five_hour") {
                    Some(FIVE_HOURS)
                } else {
                    None
                };
                outcome.extra_quotas.push(pct_quota(key, secs));
                key.to_string()
            }
        };
        outcome
            .snapshots
            .push(percent_snapshot(&id, utilization, resets_at));
    }
}

/// Money in minor units (cents) to major units: ÷ 10^exponent. Exponents outside 0..=6 are
/// not trusted; 2 (cents) is what every peer assumes when it is absent.
fn major(minor: Option<f64>, exponent: Option<&Value>) -> Option<f64> {
    let exp = exponent
        .and_then(Value::as_u64)
        .filter(|e| *e <= 6)
        .unwrap_or(2);
    minor.map(|m| m / 10f64.powi(exp as i32))
}

/// `{amount_minor, currency, exponent}` of the newer `spend` block.
fn money(v: Option<&Value>) -> (Option<f64>, Option<String>) {
    let Some(v) = v.filter(|v| v.is_object()) else {
        return (None, None);
    };
    (
        major(shape::number(v.get("amount_minor")), v.get("exponent")),
        currency(v.get("currency")),
    )
}

fn currency(v: Option<&Value>) -> Option<String> {
    let c = v?.as_str()?.trim();
    (c.len() == 3 && c.chars().all(|c| c.is_ascii_alphabetic())).then(|| c.to_ascii_uppercase())
}

/// Extra usage, the metered spend Claude bills once plan limits are hit (and, for a login
/// used outside Claude's own apps such as pi, from the first request). `spend` is preferred
/// over `extra_usage` field by field; both carry money in minor units.
///
/// - disabled (`is_enabled`/`enabled` false, or a `disabled_reason`): exhausted, status
///   `disabled`, whatever was spent still shown;
/// - a cap: `used` of `limit` in major units; at or over it, status `limit_reached`;
/// - no cap: `unlimited` with the spend in `used` (no ratio to show, never binding);
///
/// resetting at the start of next month, UTC, in the block's currency.
fn extra(obj: &serde_json::Map<String, Value>, now_ms: i64) -> Option<UsageSnapshot> {
    let legacy = obj.get("extra_usage").filter(|v| v.is_object());
    let spend = obj.get("spend").filter(|v| v.is_object());
    if legacy.is_none() && spend.is_none() {
        return None;
    }
    let get = |block: Option<&Value>, key: &str| block.and_then(|b| b.get(key)).cloned();
    let (spend_used, spend_used_cur) = money(spend.and_then(|s| s.get("used")));
    let (spend_limit, spend_limit_cur) = money(spend.and_then(|s| s.get("limit")));
    let places = get(legacy, "decimal_places");
    let used = spend_used.or_else(|| {
        major(
            shape::number(get(legacy, "used_credits").as_ref()),
            places.as_ref(),
        )
    });
    let limit = spend_limit.or_else(|| {
        major(
            shape::number(get(legacy, "monthly_limit").as_ref()),
            places.as_ref(),
        )
    });
    let percent = shape::number(get(legacy, "utilization").as_ref())
        .or_else(|| shape::number(get(spend, "percent").as_ref()));
    let enabled = get(legacy, "is_enabled")
        .and_then(|v| v.as_bool())
        .or_else(|| get(spend, "enabled").and_then(|v| v.as_bool()));
    let disabled_reason = get(legacy, "disabled_reason")
        .and_then(|v| v.as_str().map(String::from))
        .filter(|r| !r.is_empty());
    if enabled.is_none() && used.is_none() && limit.is_none() && percent.is_none() {
        return None;
    }
    let mut s = UsageSnapshot::new(EXTRA);
    // Older answers carry no currency: they are in US dollars, as the service's clients read them.
    s.unit = spend_used_cur
        .or(spend_limit_cur)
        .or_else(|| currency(get(legacy, "currency").as_ref()))
        .or_else(|| legacy.map(|_| "USD".to_string()));
    if let Some((next_month, length)) = shape::month_window(now_ms) {
        s.resets_at = Some(next_month);
        s.duration_secs = Some(length);
    }
    s.used = used.map(|u| u.max(0.0));
    s.limit = limit.filter(|l| *l >= 0.0);
    if enabled == Some(false) || disabled_reason.is_some() {
        let spent = disabled_reason.as_deref() == Some("out_of_credits");
        s.status = Some(if spent {
            WindowStatus::LimitReached
        } else {
            WindowStatus::Disabled
        });
        s.remaining = Some(0.0);
        s.used_ratio = Some(1.0);
        return Some(s);
    }
    match s.limit {
        Some(limit) => {
            if s.used.is_none() {
                s.used_ratio = percent.map(|p| (p / 100.0).clamp(0.0, 1.0));
            }
            let spent = s.used.or(s.used_ratio.map(|r| r * limit)).unwrap_or(0.0);
            if spent >= limit {
                s.status = Some(WindowStatus::LimitReached);
                s.remaining = Some(0.0);
                s.used_ratio = Some(1.0);
            }
        }
        None => {
            s.unlimited = true;
            s.remaining = Some(0.0);
        }
    }
    Some(s)
}

const UNIFIED: &str = "anthropic-ratelimit-unified-";

/// One unified window from the headers: utilization is a 0–1 fraction, resets epoch seconds.
fn header_window(h: &Headers, name: &str, id: &str) -> Option<UsageSnapshot> {
    let utilization = h
        .number(&format!("{UNIFIED}{name}-utilization"))
        .filter(|u| (0.0..=10.0).contains(u))?;
    let mut s = UsageSnapshot::new(id);
    s.used_ratio = Some(utilization.min(1.0));
    s.resets_at = h
        .number(&format!("{UNIFIED}{name}-reset"))
        .and_then(time::epoch_secs_to_ms);
    Some(s)
}

/// What a `/v1/messages` answer says: `5h` and `7d` plan windows, and `extra` (the overage
/// headers: pi's own spend on a Claude login) as a share of its cap — the merge with the last
/// polled result keeps the cap and currency. A `rejected` status or a 429 marks the binding
/// window (the representative claim) used up until its reset.
fn from_headers(status: u16, h: &Headers, now_ms: i64) -> Option<FetchOutcome> {
    let mut snapshots: Vec<UsageSnapshot> = [("5h", "5h"), ("7d", "7d")]
        .iter()
        .filter_map(|(name, id)| header_window(h, name, id))
        .collect();
    let overage_status = h.get(&format!("{UNIFIED}overage-status"));
    let disabled = h.get(&format!("{UNIFIED}overage-disabled-reason"));
    let mut extra = header_window(h, "overage", EXTRA);
    if extra.is_none() && (overage_status.is_some() || disabled.is_some()) {
        extra = Some(UsageSnapshot::new(EXTRA));
    }
    if let Some(mut s) = extra {
        if s.resets_at.is_none() {
            s.resets_at = shape::month_window(now_ms).map(|(next, _)| next);
        }
        if overage_status == Some("rejected") || disabled.is_some() {
            let spent = disabled.is_none_or(|r| r == "out_of_credits");
            s.status = Some(if spent {
                WindowStatus::LimitReached
            } else {
                WindowStatus::Disabled
            });
            s.used_ratio = Some(1.0);
            s.remaining = Some(0.0);
        }
        if s.used_ratio.is_some() {
            snapshots.push(s);
        }
    }
    let rejected = status == 429 || h.get(&format!("{UNIFIED}status")) == Some("rejected");
    if rejected {
        let claim = match h.get(&format!("{UNIFIED}representative-claim")) {
            Some("five_hour") => "5h",
            Some("seven_day") => "7d",
            Some("overage") => EXTRA,
            Some(other) => KNOWN
                .iter()
                .find(|(key, _, _)| *key == other)
                .map_or("", |(_, id, _)| *id),
            None => "",
        };
        let reset = h
            .number(&format!("{UNIFIED}reset"))
            .and_then(time::epoch_secs_to_ms)
            .or_else(|| {
                h.number("retry-after")
                    .and_then(|secs| time::ms_after(now_ms, secs))
            });
        if !claim.is_empty() {
            let s = match snapshots.iter_mut().find(|s| s.id == claim) {
                Some(s) => s,
                None => {
                    snapshots.push(UsageSnapshot::new(claim));
                    snapshots.last_mut().expect("just pushed")
                }
            };
            s.used_ratio = Some(1.0);
            s.remaining = None;
            if reset.is_some() {
                s.resets_at = reset;
            }
        }
    }
    (!snapshots.is_empty()).then(|| FetchOutcome {
        snapshots,
        ..Default::default()
    })
}

/// `oauth`: the credential is a Claude login, whose use outside Claude's own apps (pi) is
/// billed to extra usage rather than to the plan's windows.
pub fn parse(body: &Value, now_ms: i64, oauth: bool) -> Result<FetchOutcome, WireError> {
    if let Some(e) = shape::error_in_body(body) {
        return Err(WireError::Service(e));
    }
    let obj = body
        .as_object()
        .ok_or_else(|| WireError::Shape("expected a JSON object".into()))?;
    // The older keys first; `limits[]` rows then replace the windows they name and add
    // their own (a service that sends only the scoped row keeps the legacy 5 h and 7 d).
    let mut outcome = FetchOutcome::default();
    legacy(obj, &mut outcome);
    limits(obj, &mut outcome);
    if let Some(mut s) = extra(obj, now_ms) {
        if oauth {
            s.billing = Some(Billing::ExtraUsage);
        }
        outcome.snapshots.push(s);
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::super::iso_to_ms;
    use super::*;
    use crate::resolve::resolve_snapshots;
    use serde_json::json;

    /// 2026-12-01T00:00:00Z, the reference instant of the current fixtures.
    const NOW: i64 = 1_796_083_200_000;

    fn old_fixture() -> Value {
        serde_json::from_str(include_str!("../../fixtures/anthropic-usage.json")).unwrap()
    }

    fn fixture_2026() -> Value {
        serde_json::from_str(include_str!(
            "../../fixtures/current/anthropic-usage-2026.json"
        ))
        .unwrap()
    }

    fn ids(out: &FetchOutcome) -> Vec<&str> {
        out.snapshots.iter().map(|s| s.id.as_str()).collect()
    }

    fn by<'a>(out: &'a FetchOutcome, id: &str) -> &'a UsageSnapshot {
        out.snapshots.iter().find(|s| s.id == id).unwrap()
    }

    fn legacy_only(body: &Value) -> Value {
        let mut body = body.clone();
        body.as_object_mut().unwrap().remove("limits");
        body
    }

    #[test]
    fn limits_are_authoritative_and_every_row_counts() {
        let out = parse(&fixture_2026(), NOW, true).unwrap();
        assert_eq!(ids(&out), ["5h", "7d", "7d_fable", "7d_sonnet", "extra"]);
        assert_eq!(by(&out, "5h").used_ratio, Some(0.34));
        assert_eq!(
            by(&out, "5h").resets_at,
            iso_to_ms("2026-12-01T03:00:00.412731+00:00")
        );
        assert_eq!(by(&out, "7d").used_ratio, Some(0.61));
        // is_active marks only the binding row; the inactive Sonnet row is still a window.
        assert_eq!(by(&out, "7d_fable").used_ratio, Some(0.72));
        assert_eq!(by(&out, "7d_sonnet").used_ratio, Some(0.12));
        let fable = out
            .extra_quotas
            .iter()
            .find(|q| q.id == "7d_fable")
            .unwrap();
        assert_eq!(fable.duration_secs, Some(SEVEN_DAYS));
        assert!(
            !out.extra_quotas.iter().any(|q| q.id == "7d_sonnet"),
            "declared already"
        );
    }

    #[test]
    fn old_shape_limits_win_over_the_legacy_keys() {
        let out = parse(&old_fixture(), NOW, true).unwrap();
        assert_eq!(ids(&out), ["5h", "7d", "7d_opus", "extra"]);
        assert_eq!(by(&out, "7d_opus").used_ratio, Some(0.12));
        assert_eq!(by(&out, "5h").resets_at, iso_to_ms("2026-11-23T21:00:00Z"));
    }

    #[test]
    fn legacy_keys_only_without_limits() {
        let out = parse(&legacy_only(&old_fixture()), NOW, true).unwrap();
        assert_eq!(
            ids(&out),
            ["5h", "7d", "7d_opus", "extra"],
            "seven_day_omelette (Claude Design, drawn from the main limit) is hidden"
        );
        let five = by(&out, "5h");
        assert_eq!(five.used_ratio, Some(0.37));
        assert_eq!(
            five.resets_at,
            iso_to_ms("2026-11-23T21:00:00.123456+00:00")
        );
        assert!(out.extra_quotas.is_empty());
        // The 2026 body without limits: the same windows from five_hour/seven_day.
        let out = parse(&legacy_only(&fixture_2026()), NOW, true).unwrap();
        assert_eq!(ids(&out), ["5h", "7d", "extra"]);
    }

    #[test]
    fn empty_or_unreadable_limits_fall_back_to_the_legacy_keys() {
        let body = json!({
            "five_hour": {"utilization": 10.0, "resets_at": "2026-12-01T03:00:00Z"},
            "limits": []
        });
        assert_eq!(ids(&parse(&body, NOW, true).unwrap()), ["5h"]);
        let body = json!({
            "five_hour": {"utilization": 10.0, "resets_at": "2026-12-01T03:00:00Z"},
            "limits": [{"kind": "session", "percent": null}, {"kind": "weekly_scoped", "percent": 5, "scope": null}]
        });
        assert_eq!(ids(&parse(&body, NOW, true).unwrap()), ["5h"]);
    }

    #[test]
    fn scoped_names_are_sanitized_and_new_kinds_named_after_themselves() {
        let body = json!({"limits": [
            {"kind": "weekly_scoped", "group": "weekly", "percent": 50, "resets_at": null,
             "scope": {"model": {"display_name": "Opus 4 (Max)"}}},
            {"kind": "Monthly Thing", "group": "monthly", "percent": "20"},
            {"kind": "daily_burst", "group": "session", "percent": 1}
        ]});
        let out = parse(&body, NOW, true).unwrap();
        assert_eq!(ids(&out), ["7d_opus_4_max", "monthly_thing", "daily_burst"]);
        assert_eq!(by(&out, "monthly_thing").used_ratio, Some(0.2));
        let q = |id: &str| out.extra_quotas.iter().find(|q| q.id == id).unwrap();
        assert_eq!(q("monthly_thing").duration_secs, None);
        assert_eq!(q("daily_burst").duration_secs, Some(FIVE_HOURS));
    }

    #[test]
    fn extra_usage_in_major_units_resetting_next_month() {
        let out = parse(&fixture_2026(), NOW, true).unwrap();
        let e = by(&out, "extra");
        assert_eq!((e.used, e.limit), (Some(47.31), Some(200.0)));
        assert_eq!(e.unit.as_deref(), Some("USD"));
        assert_eq!(e.resets_at, iso_to_ms("2027-01-01T00:00:00Z"));
        assert_eq!(e.duration_secs, Some(31.0 * 86_400.0), "December");
        assert_eq!(e.billing, Some(Billing::ExtraUsage));
        assert_eq!(e.status, None);
        let res = resolve_snapshots(
            &out.quotas_with(&Anthropic.quotas(&WireConfig::default())),
            &out.snapshots,
            NOW,
        );
        let w = res.windows_by_model["default"]
            .iter()
            .find(|w| w.id == "extra")
            .unwrap();
        assert_eq!((w.total, w.kind.as_str()), (200.0, "amount"));
        assert!((w.remaining - 152.69).abs() < 1e-9);
        assert!((w.used_ratio - 0.23655).abs() < 1e-9);
        assert_eq!(w.unit.as_deref(), Some("USD"));
        assert_eq!(w.billing, Some(Billing::ExtraUsage));
    }

    #[test]
    fn spend_is_preferred_and_exponents_are_honoured() {
        let body = json!({
            "extra_usage": {"is_enabled": true, "monthly_limit": 20000, "used_credits": 4731, "currency": "usd"},
            "spend": {"used": {"amount_minor": 1234, "currency": "JPY", "exponent": 0},
                      "limit": {"amount_minor": 5000, "currency": "JPY", "exponent": 0}}
        });
        let e = by(&parse(&body, NOW, true).unwrap(), "extra").clone();
        assert_eq!((e.used, e.limit), (Some(1234.0), Some(5000.0)));
        assert_eq!(e.unit.as_deref(), Some("JPY"));
        // extra_usage alone: decimal_places, default 2; a lower-case currency is normalised.
        let body = json!({"extra_usage": {"is_enabled": true, "monthly_limit": 20000, "used_credits": 4731, "currency": "usd", "decimal_places": 3}});
        let e = by(&parse(&body, NOW, true).unwrap(), "extra").clone();
        assert_eq!((e.used, e.limit), (Some(4.731), Some(20.0)));
        assert_eq!(e.unit.as_deref(), Some("USD"));
        let body = json!({"extra_usage": {"is_enabled": true, "monthly_limit": 100, "used_credits": 50, "decimal_places": 99}});
        let e = by(&parse(&body, NOW, true).unwrap(), "extra").clone();
        assert_eq!(e.limit, Some(1.0), "an absurd exponent falls back to cents");
        assert_eq!(
            e.unit.as_deref(),
            Some("USD"),
            "older answers without a currency are in US dollars"
        );
    }

    #[test]
    fn disabled_extra_usage_is_exhausted_and_says_so() {
        // The old fixture: extra usage never switched on.
        let out = parse(&old_fixture(), NOW, true).unwrap();
        let e = by(&out, "extra");
        assert_eq!(e.status, Some(WindowStatus::Disabled));
        assert_eq!((e.remaining, e.used_ratio), (Some(0.0), Some(1.0)));
        let res = resolve_snapshots(
            &Anthropic.quotas(&WireConfig::default()),
            &out.snapshots,
            NOW,
        );
        let w = res.windows_by_model["default"]
            .iter()
            .find(|w| w.id == "extra")
            .unwrap();
        assert_eq!((w.remaining_ratio, w.used_ratio), (0.0, 1.0));
        assert_eq!(w.status, Some(WindowStatus::Disabled));
        // Switched off after spending: the spend stays visible, nothing is left.
        let body = json!({"spend": {"enabled": false, "used": {"amount_minor": 900, "currency": "EUR", "exponent": 2}, "limit": {"amount_minor": 5000, "currency": "EUR", "exponent": 2}}});
        let e = by(&parse(&body, NOW, true).unwrap(), "extra").clone();
        assert_eq!(
            (e.used, e.limit, e.remaining),
            (Some(9.0), Some(50.0), Some(0.0))
        );
        assert_eq!(e.status, Some(WindowStatus::Disabled));
        let body = json!({"extra_usage": {"is_enabled": true, "monthly_limit": 5000, "used_credits": 10, "disabled_reason": "out_of_credits"}});
        let e = by(&parse(&body, NOW, true).unwrap(), "extra").clone();
        assert_eq!(
            (e.status, e.remaining),
            (Some(WindowStatus::LimitReached), Some(0.0))
        );
    }

    #[test]
    fn used_up_and_uncapped_extra_usage() {
        let body = json!({"extra_usage": {"is_enabled": true, "monthly_limit": 5000, "used_credits": 5000, "currency": "USD"}});
        let e = by(&parse(&body, NOW, true).unwrap(), "extra").clone();
        assert_eq!(e.status, Some(WindowStatus::LimitReached));
        assert_eq!(e.remaining, Some(0.0));
        let body =
            json!({"extra_usage": {"is_enabled": true, "monthly_limit": 0, "used_credits": 0}});
        let e = by(&parse(&body, NOW, true).unwrap(), "extra").clone();
        assert_eq!(
            e.status,
            Some(WindowStatus::LimitReached),
            "a zero cap leaves nothing"
        );
        let body = json!({"spend": {"enabled": true, "used": {"amount_minor": 250, "currency": "USD", "exponent": 2}, "limit": null, "percent": 0}});
        let out = parse(&body, NOW, true).unwrap();
        let e = by(&out, "extra");
        assert!(e.unlimited, "no cap: spend shown, no ratio");
        assert_eq!((e.used, e.limit, e.status), (Some(2.5), None, None));
        let res = resolve_snapshots(
            &Anthropic.quotas(&WireConfig::default()),
            &out.snapshots,
            NOW,
        );
        let w = &res.windows_by_model["default"][0];
        assert_eq!((w.used, w.remaining, w.remaining_ratio), (2.5, 0.0, 1.0));
        assert!(w.unlimited);
        // A percent-only cap reading.
        let body = json!({"extra_usage": {"is_enabled": true, "monthly_limit": 1000, "utilization": 40.0}});
        let e = by(&parse(&body, NOW, true).unwrap(), "extra").clone();
        assert_eq!((e.used, e.used_ratio), (None, Some(0.4)));
    }

    #[test]
    fn billing_only_for_a_login() {
        let out = parse(&fixture_2026(), NOW, false).unwrap();
        assert_eq!(by(&out, "extra").billing, None);
        let out = parse(&json!({"five_hour": null}), NOW, true).unwrap();
        assert!(out.snapshots.is_empty(), "no extra block, no extra window");
        let empty = json!({"extra_usage": {"is_enabled": null, "monthly_limit": null}});
        assert!(parse(&empty, NOW, true).unwrap().snapshots.is_empty());
    }

    #[test]
    fn design_hidden_routines_under_one_id_and_limits_merge_with_the_legacy_keys() {
        let body = json!({
            "five_hour": {"utilization": 12.5, "resets_at": "2026-12-01T03:00:00Z"},
            "seven_day": {"utilization": 30, "resets_at": "2026-12-05T00:00:00Z"},
            "seven_day_design": {"utilization": 44, "resets_at": "2026-12-05T00:00:00Z"},
            "seven_day_omelette": {"utilization": 29, "resets_at": null},
            "seven_day_routines": null,
            "seven_day_cowork": {"utilization": 14, "resets_at": "2026-12-06T00:00:00Z"},
            "limits": [{"kind": "weekly_scoped", "group": "weekly", "percent": 29,
                        "scope": {"model": {"display_name": "Fable"}}},
                       {"kind": "session", "group": "session", "percent": 11}]
        });
        let out = parse(&body, NOW, true).unwrap();
        assert_eq!(ids(&out), ["5h", "7d", "seven_day_routines", "7d_fable"]);
        assert_eq!(by(&out, "5h").used_ratio, Some(0.11), "the limits row wins");
        assert_eq!(
            by(&out, "5h").resets_at,
            iso_to_ms("2026-12-01T03:00:00Z"),
            "a row without a reset keeps the legacy key's"
        );
        assert_eq!(by(&out, "seven_day_routines").used_ratio, Some(0.14));
        let routines = out
            .extra_quotas
            .iter()
            .find(|q| q.id == "seven_day_routines")
            .unwrap();
        assert_eq!(routines.duration_secs, Some(SEVEN_DAYS));
        // The newer spelling wins when both are populated.
        let both = json!({
            "seven_day_routines": {"utilization": 1, "resets_at": null},
            "seven_day_cowork": {"utilization": 2, "resets_at": null}
        });
        let out = parse(&both, NOW, true).unwrap();
        assert_eq!(ids(&out), ["seven_day_routines"]);
        assert_eq!(out.snapshots[0].used_ratio, Some(0.01));
    }

    fn hdrs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn observe(status: u16, pairs: &[(&str, &str)]) -> Option<FetchOutcome> {
        Anthropic.parse_headers(status, &Headers(&hdrs(pairs)), NOW)
    }

    /// 2026-12-01T03:00:00Z and 2026-12-05T00:00:00Z in epoch seconds.
    const FIVE_RESET: &str = "1796094000";
    const WEEK_RESET: &str = "1796428800";

    #[test]
    fn unified_headers_of_a_subscription_call() {
        // Fractions 0–1 and epoch-second resets, the window spelled `7d` (headers.md §1).
        let out = observe(
            200,
            &[
                ("anthropic-ratelimit-unified-status", "allowed"),
                (
                    "anthropic-ratelimit-unified-representative-claim",
                    "five_hour",
                ),
                (
                    "anthropic-ratelimit-unified-5h-utilization",
                    "0.7370692663445869",
                ),
                ("anthropic-ratelimit-unified-5h-reset", FIVE_RESET),
                ("anthropic-ratelimit-unified-5h-surpassed-threshold", "0.75"),
                ("anthropic-ratelimit-unified-7d-utilization", "0.42"),
                ("anthropic-ratelimit-unified-7d-reset", WEEK_RESET),
                ("anthropic-ratelimit-unified-overage-status", "allowed"),
                ("anthropic-ratelimit-unified-overage-utilization", "0.0"),
                (
                    "anthropic-ratelimit-unified-upgrade-paths",
                    "upgrade_plan,overage",
                ),
            ],
        )
        .expect("windows");
        assert_eq!(ids(&out), ["5h", "7d", "extra"]);
        assert_eq!(by(&out, "5h").used_ratio, Some(0.7370692663445869));
        assert_eq!(by(&out, "5h").resets_at, Some(1_796_094_000_000));
        assert_eq!(by(&out, "7d").used_ratio, Some(0.42));
        assert_eq!(by(&out, "7d").resets_at, Some(1_796_428_800_000));
        let extra = by(&out, "extra");
        assert_eq!((extra.used_ratio, extra.status), (Some(0.0), None));
        assert_eq!(
            extra.resets_at,
            iso_to_ms("2027-01-01T00:00:00Z"),
            "no overage reset sent: the next month"
        );
    }

    #[test]
    fn unified_headers_partial_sets_and_limits_hit() {
        // Only the 5 h utilization (a reply that carries no reset).
        let out = observe(
            200,
            &[("anthropic-ratelimit-unified-5h-utilization", "0.42")],
        )
        .unwrap();
        assert_eq!(ids(&out), ["5h"]);
        assert_eq!(
            (by(&out, "5h").used_ratio, by(&out, "5h").resets_at),
            (Some(0.42), None)
        );
        // Extra usage switched off for lack of credits: used up, reason kept as status.
        let out = observe(
            200,
            &[
                ("anthropic-ratelimit-unified-overage-status", "rejected"),
                (
                    "anthropic-ratelimit-unified-overage-disabled-reason",
                    "out_of_credits",
                ),
            ],
        )
        .unwrap();
        let extra = by(&out, "extra");
        assert_eq!(
            (extra.used_ratio, extra.status),
            (Some(1.0), Some(WindowStatus::LimitReached))
        );
        let out = observe(
            200,
            &[(
                "anthropic-ratelimit-unified-overage-disabled-reason",
                "org_level_disabled",
            )],
        )
        .unwrap();
        assert_eq!(by(&out, "extra").status, Some(WindowStatus::Disabled));
        // A 429 on the weekly claim: that window is used up until the claim's reset.
        let out = observe(
            429,
            &[
                ("anthropic-ratelimit-unified-status", "rejected"),
                (
                    "anthropic-ratelimit-unified-representative-claim",
                    "seven_day",
                ),
                ("anthropic-ratelimit-unified-reset", WEEK_RESET),
                ("anthropic-ratelimit-unified-5h-utilization", "0.3"),
            ],
        )
        .unwrap();
        assert_eq!(ids(&out), ["5h", "7d"]);
        assert_eq!(by(&out, "7d").used_ratio, Some(1.0));
        assert_eq!(by(&out, "7d").resets_at, Some(1_796_428_800_000));
        assert_eq!(
            by(&out, "5h").used_ratio,
            Some(0.3),
            "the other window as sent"
        );
        // Rejected without a reset header: retry-after from now.
        let out = observe(
            429,
            &[
                (
                    "anthropic-ratelimit-unified-representative-claim",
                    "five_hour",
                ),
                ("retry-after", "120"),
            ],
        )
        .unwrap();
        assert_eq!(by(&out, "5h").resets_at, Some(NOW + 120_000));
    }

    #[test]
    fn unified_headers_garbage_is_skipped_never_an_error() {
        assert!(observe(200, &[]).is_none());
        assert!(observe(200, &[("content-type", "application/json")]).is_none());
        let garbage = [
            ("anthropic-ratelimit-unified-5h-utilization", "lots"),
            ("anthropic-ratelimit-unified-7d-utilization", "-0.5"),
            ("anthropic-ratelimit-unified-7d_oi-utilization", "NaN"),
            ("anthropic-ratelimit-unified-overage-utilization", "1e308"),
            ("anthropic-ratelimit-unified-status", "allowed"),
            (
                "anthropic-ratelimit-unified-representative-claim",
                "mystery",
            ),
        ];
        assert!(
            observe(200, &garbage).is_none(),
            "nothing readable, nothing observed"
        );
        // A readable window beside garbage: the window alone, its bad reset unknown.
        let out = observe(
            200,
            &[
                ("anthropic-ratelimit-unified-5h-utilization", " 0.5 "),
                ("anthropic-ratelimit-unified-5h-reset", "tomorrow"),
                ("anthropic-ratelimit-unified-7d-utilization", ""),
            ],
        )
        .unwrap();
        assert_eq!(ids(&out), ["5h"]);
        assert_eq!(
            (by(&out, "5h").used_ratio, by(&out, "5h").resets_at),
            (Some(0.5), None)
        );
        // Over 1 (but sane) is capped at used up; absurd values are dropped.
        let out = observe(
            200,
            &[("anthropic-ratelimit-unified-5h-utilization", "1.2")],
        )
        .unwrap();
        assert_eq!(by(&out, "5h").used_ratio, Some(1.0));
        assert!(observe(200, &[("anthropic-ratelimit-unified-5h-utilization", "42")]).is_none());
    }

    #[test]
    fn the_wire_marks_each_per_model_cap_with_its_model() {
        let creds = Credentials::new("t", CredentialKind::OAuth);
        let account = super::super::Account::default();
        let ctx = ParseContext {
            now_ms: NOW,
            credentials: &creds,
            account: &account,
            attempt: 0,
        };
        let body = serde_json::to_vec(&fixture_2026()).unwrap();
        let out = Anthropic.parse(&body, &ctx).unwrap();
        let scopes: Vec<_> = out
            .snapshots
            .iter()
            .map(|s| (s.id.as_str(), s.scope.as_deref()))
            .collect();
        assert_eq!(
            scopes,
            [
                ("5h", None),
                ("7d", None),
                ("7d_fable", Some("fable")),
                ("7d_sonnet", Some("sonnet")),
                ("extra", None)
            ]
        );
    }

    #[test]
    fn nulls_missing_odd_values_and_errors_in_a_200() {
        let body = json!({
            "five_hour": null,
            "seven_day": {"utilization": 10},
            "seven_day_sonnet": {"utilization": "7"},
            "tangelo": {"utilization": 5, "resets_at": null},
            "mystery": {"utilization": 5},
            "limits": []
        });
        let out = parse(&body, NOW, true).unwrap();
        assert_eq!(
            ids(&out),
            ["7d", "7d_sonnet", "tangelo"],
            "a known key without resets_at is a window; an unknown one needs the key"
        );
        assert_eq!(by(&out, "7d").resets_at, None, "unknown, not invented");
        assert_eq!(by(&out, "7d_sonnet").used_ratio, Some(0.07));
        assert_eq!(by(&out, "tangelo").resets_at, None);
        assert!(matches!(
            parse(&json!([1, 2]), NOW, true),
            Err(WireError::Shape(_))
        ));
        let err = json!({"type": "error", "error": {"type": "authentication_error", "message": "OAuth token has expired."}});
        match parse(&err, NOW, true) {
            Err(WireError::Service(e)) => {
                assert_eq!(e.kind, crate::model::ErrorKind::Auth);
                assert!(!e.message.contains("expired."), "{}", e.message);
            }
            other => panic!("{other:?}"),
        }
    }
}
