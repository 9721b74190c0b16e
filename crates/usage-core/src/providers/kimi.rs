//! Kimi Code (`kimi-coding`): GET api.kimi.com/coding/v1/usages with Bearer (pi's OAuth
//! `access` or a Kimi API key). `usage` is the weekly total; `limits[]` are rolling windows
//! of `window.duration` × `window.timeUnit`; newer plans answer `usages.limit_*` pools with a
//! used ratio (5 h, week, the month's total and its Code share). Counts come as numeric strings
//! in an opaque unit, so windows are percentages. `boosterWallet` is the Extra Usage wallet.

use serde_json::Value;

use super::shape::{
    beside_plan, calendar_quota, finish, instant_ms, length_id, number, push_extra, push_pct,
    sanitize_id, FIVE_HOURS, SEVEN_DAYS, USER_AGENT,
};
use super::{pct_quota, HttpRequest, ParseContext, RequestContext, Wire, WireConfig, WireError};
use crate::credentials::{AuthRule, CredentialKind};
use crate::model::{
    FetchOutcome, QuotaDefinition, QuotaKind, ResetBehavior, UsageSnapshot, WindowType,
};

const PATH: &str = "/coding/v1/usages";

const DECLARED: [&str; 2] = ["5h", "7d"];

pub struct Kimi;

impl Wire for Kimi {
    fn quotas(&self, _config: &WireConfig) -> Vec<QuotaDefinition> {
        vec![
            pct_quota("5h", Some(FIVE_HOURS)),
            pct_quota("7d", Some(SEVEN_DAYS)),
        ]
    }

    /// pi's "Sign in with Kimi Code" login, or a Kimi API key.
    fn auth(&self) -> AuthRule {
        AuthRule {
            oauth_field: Some("access"),
            api_key: true,
            env: &["KIMI_API_KEY"],
            env_kind: CredentialKind::ApiKey,
            enterprise_host: false,
        }
    }

    fn requests(&self, ctx: &RequestContext) -> Vec<HttpRequest> {
        vec![HttpRequest::get(format!("{}{PATH}", ctx.base_url))
            .bearer(&ctx.credentials.access_token)
            .header("Accept", "application/json")
            .header("User-Agent", USER_AGENT)]
    }

    fn parse(&self, body: &[u8], ctx: &ParseContext) -> Result<FetchOutcome, WireError> {
        parse(&serde_json::from_slice(body)?, ctx.now_ms)
    }
}

fn unit_secs(unit: &str) -> Option<f64> {
    Some(match unit.trim_start_matches("TIME_UNIT_") {
        "SECOND" => 1.0,
        "MINUTE" => 60.0,
        "HOUR" => 3_600.0,
        "DAY" => 86_400.0,
        "WEEK" => 604_800.0,
        _ => return None,
    })
}

/// Used ratio of one `{limit, used, remaining}`: `used` when it is a count (over the limit is
/// over-use, shown spent), else `limit − remaining` when that lies within the limit. A negative
/// count (`"-1"`) is the service's "unknown", never 0 %.
fn used_ratio(detail: &Value) -> Option<f64> {
    let limit = number(detail.get("limit")).filter(|l| *l > 0.0)?;
    let used = number(detail.get("used"))
        .filter(|u| *u >= 0.0)
        .or_else(|| {
            number(detail.get("remaining"))
                .filter(|r| (0.0..=limit).contains(r))
                .map(|r| limit - r)
        })?;
    Some((used / limit).clamp(0.0, 1.0))
}

/// The reset under any of the names it has been sent as, absolute or relative.
fn reset(detail: &Value, now: i64) -> Option<i64> {
    ["resetTime", "reset_at", "resetAt", "reset_time"]
        .iter()
        .find_map(|k| instant_ms(detail.get(*k)))
        .or_else(|| {
            ["reset_in", "ttl"]
                .iter()
                .find_map(|k| number(detail.get(*k)))
                .filter(|s| *s >= 0.0)
                .map(|secs| now + (secs * 1000.0) as i64)
        })
}

/// A `limits[]` window: its id and length. A unit this parser does not know keeps the window,
/// named from what the service sent, without a length.
fn window_of(window: &Value) -> Option<(String, Option<f64>)> {
    let duration = number(window.get("duration")).filter(|d| *d > 0.0)?;
    let unit = window.get("timeUnit").and_then(Value::as_str).unwrap_or("");
    if let Some(secs) = unit_secs(unit).map(|u| duration * u) {
        if let Some(id) = length_id(secs) {
            return Some((id, Some(secs)));
        }
    }
    let name = unit.trim_start_matches("TIME_UNIT_");
    let id = sanitize_id(&format!("{duration} {name}"))?;
    Some((id, None))
}

/// The plan's pools in the newer `usages` object: key → window id and length (the months
/// follow the membership's calendar).
const POOLS: [(&str, &str, Option<f64>); 4] = [
    ("limit_5h", "5h", Some(FIVE_HOURS)),
    ("limit_7d", "7d", Some(SEVEN_DAYS)),
    ("limit_month_total", "monthly", None),
    ("limit_month_code", "monthly-code", None),
];

/// `{used_ratio (0–1, number or string), reset_time}` pools.
fn pools(usages: &Value, outcome: &mut FetchOutcome, warnings: &mut Vec<String>) {
    for (key, id, secs) in POOLS {
        let Some(pool) = usages.get(key).filter(|p| !p.is_null()) else {
            continue;
        };
        let Some(ratio) = number(pool.get("used_ratio")).filter(|r| *r >= 0.0) else {
            warnings.push(format!("usages.{key}: no `used_ratio`"));
            continue;
        };
        let mut s = UsageSnapshot::new(id);
        s.used_ratio = Some(ratio.min(1.0));
        s.duration_secs = secs;
        s.resets_at = instant_ms(pool.get("reset_time"));
        match secs {
            Some(_) => push_pct(outcome, &DECLARED, s, secs),
            None => {
                push_extra(outcome, &DECLARED, calendar_quota(id));
                outcome.snapshots.push(s);
            }
        }
    }
}

/// Money in the wallet's fixed point: a millionth of a cent.
const WALLET_UNITS_PER_MAJOR: f64 = 100_000_000.0;

/// The Extra Usage wallet (`boosterWallet`): what is left of it, and this month's spend against
/// the cap when one is set. A wallet never funded (no `amount`) is not shown.
fn wallet(raw: &Value, outcome: &mut FetchOutcome, warnings: &mut Vec<String>) {
    let Some(balance) = raw.get("balance").filter(|b| b.is_object()) else {
        return;
    };
    if balance.get("type").and_then(Value::as_str) != Some("BOOSTER") {
        return;
    }
    match number(balance.get("amount")) {
        Some(a) if a > 0.0 => {}
        Some(_) => return,
        None => {
            warnings.push("boosterWallet: `balance.amount` is not a number".into());
            return;
        }
    }
    let money = |k: &str| raw.get(k).filter(|m| m.is_object());
    let currency = ["monthlyChargeLimit", "monthlyUsed"]
        .iter()
        .filter_map(|k| money(k)?.get("currency")?.as_str())
        .map(str::trim)
        .find(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_alphabetic()))
        .map(str::to_ascii_uppercase)
        .unwrap_or_else(|| "USD".into());
    // Missing `amountLeft` is a spent wallet (the service drops a 0).
    let left = number(balance.get("amountLeft")).unwrap_or(0.0) / WALLET_UNITS_PER_MAJOR;
    let mut s = UsageSnapshot::new("wallet");
    s.remaining = Some(left);
    s.unit = Some(currency.clone());
    push_extra(
        outcome,
        &DECLARED,
        QuotaDefinition::new("wallet", QuotaKind::Balance),
    );
    outcome.snapshots.push(s);
    let cents = |k: &str| number(money(k)?.get("priceInCents"));
    let used = cents("monthlyUsed").unwrap_or(0.0).max(0.0) / 100.0;
    let mut month = UsageSnapshot::new("wallet-month");
    month.unit = Some(currency);
    month.used = Some(used);
    let cap = cents("monthlyChargeLimit").filter(|c| *c > 0.0);
    match cap {
        Some(cap)
            if raw
                .get("monthlyChargeLimitEnabled")
                .and_then(Value::as_bool)
                == Some(true) =>
        {
            let cap = cap / 100.0;
            month.limit = Some(cap);
            month.remaining = Some((cap - used).max(0.0));
        }
        // No cap: the month's spend, with nothing to divide it by.
        _ => {
            month.unlimited = true;
            month.remaining = Some(0.0);
        }
    }
    push_extra(
        outcome,
        &DECLARED,
        QuotaDefinition::new("wallet-month", QuotaKind::Amount { amount: 0.0 })
            .with_window(WindowType::Fixed, ResetBehavior::Calendar),
    );
    outcome.snapshots.push(month);
}

pub fn parse(body: &Value, now: i64) -> Result<FetchOutcome, WireError> {
    let weekly = body.get("usage").filter(|v| v.is_object());
    let limits = body.get("limits").and_then(Value::as_array);
    let usages = body.get("usages").filter(|v| v.is_object());
    if weekly.is_none() && limits.is_none() && usages.is_none() {
        return Err(WireError::Shape(
            "none of `usage`, `limits` and `usages` is present".into(),
        ));
    }
    let mut outcome = FetchOutcome::default();
    let mut warnings = Vec::new();
    for (key, ok, what) in [
        ("usage", weekly.is_some(), "an object"),
        ("limits", limits.is_some(), "a list"),
        ("usages", usages.is_some(), "an object"),
    ] {
        if !ok && body.get(key).is_some_and(|v| !v.is_null()) {
            warnings.push(format!("`{key}` is not {what}"));
        }
    }
    // The pools are the newer form; where both speak of a window, the pool wins.
    if let Some(usages) = usages {
        pools(usages, &mut outcome, &mut warnings);
    }
    let have = |outcome: &FetchOutcome, id: &str| outcome.snapshots.iter().any(|s| s.id == id);
    for (i, item) in limits.into_iter().flatten().enumerate() {
        let window = item.get("window");
        let Some((id, secs)) = window.and_then(window_of) else {
            warnings.push(format!("limits[{i}]: no readable `window`"));
            continue;
        };
        if have(&outcome, &id) {
            continue;
        }
        if secs.is_none()
            && !window
                .and_then(|w| w.get("timeUnit"))
                .is_some_and(Value::is_string)
        {
            warnings.push(format!(
                "limits[{i}] ({id}): `window.timeUnit` is not a name"
            ));
        }
        // Values sit in `detail`; a flat item is read the same way.
        let detail = item.get("detail").filter(|d| d.is_object()).unwrap_or(item);
        let Some(ratio) = used_ratio(detail) else {
            warnings.push(format!(
                "limits[{i}] ({id}): no usable `limit`/`used`/`remaining`"
            ));
            continue;
        };
        let mut s = UsageSnapshot::new(id);
        s.used_ratio = Some(ratio);
        s.duration_secs = secs;
        s.resets_at = reset(detail, now);
        if secs.is_some() {
            push_pct(&mut outcome, &DECLARED, s, secs);
        } else {
            push_extra(&mut outcome, &DECLARED, pct_quota(&s.id, None));
            outcome.snapshots.push(s);
        }
    }
    // The weekly total has no length of its own on the wire; a week from elsewhere wins.
    if let Some(weekly) = weekly.filter(|_| !have(&outcome, "7d")) {
        match used_ratio(weekly) {
            Some(ratio) => {
                let mut s = UsageSnapshot::new("7d");
                s.used_ratio = Some(ratio);
                s.resets_at = reset(weekly, now);
                outcome.snapshots.push(s);
            }
            None => warnings.push("usage (7d): no usable `limit`/`used`/`remaining`".into()),
        }
    }
    let plan_windows = outcome.snapshots.len();
    match body.get("boosterWallet") {
        Some(w @ Value::Object(_)) => wallet(w, &mut outcome, &mut warnings),
        None | Some(Value::Null) => {}
        Some(_) => warnings.push("`boosterWallet` is not an object".into()),
    }
    beside_plan(&mut outcome, plan_windows);
    finish(outcome, warnings)
}

#[cfg(test)]
mod tests {
    use super::super::shape::EXTRA_MODEL;
    use super::*;
    use serde_json::json;

    fn fixture() -> Value {
        serde_json::from_str(include_str!(
            "../../fixtures/current/kimi-coding-usages.json"
        ))
        .unwrap()
    }

    #[test]
    fn fixture_strings_become_ratios() {
        let out = parse(&fixture(), 0).unwrap();
        let five = out.snapshots.iter().find(|s| s.id == "5h").unwrap();
        assert_eq!(five.used_ratio, Some(0.15));
        assert_eq!(five.duration_secs, Some(FIVE_HOURS));
        assert_eq!(five.resets_at, Some(1_796_095_200_718));
        let week = out.snapshots.iter().find(|s| s.id == "7d").unwrap();
        assert_eq!(week.used_ratio, Some(0.38));
        assert_eq!(week.resets_at, Some(1_796_554_800_718));
        assert!(out.extra_quotas.is_empty());
        assert_eq!(out.plan, None);
    }

    #[test]
    fn used_from_remaining_relative_resets_and_odd_windows() {
        let body = json!({
            "limits": [
                {"window": {"duration": 1, "timeUnit": "TIME_UNIT_HOUR"},
                 "detail": {"limit": "200", "remaining": "150", "reset_in": 60}},
                {"window": {"duration": 5, "timeUnit": "TIME_UNIT_FORTNIGHT"},
                 "detail": {"limit": "1", "used": "1"}},
                {"window": {"duration": 300, "timeUnit": "TIME_UNIT_MINUTE"},
                 "detail": {"limit": "0", "used": "0"}},
                {"window": {"duration": 300, "timeUnit": "TIME_UNIT_MINUTE"},
                 "limit": 10, "used": 20, "reset_at": 1796083200}
            ]
        });
        let out = parse(&body, 1_000).unwrap();
        let got: Vec<_> = out
            .snapshots
            .iter()
            .map(|s| (s.id.as_str(), s.used_ratio, s.resets_at, s.duration_secs))
            .collect();
        assert_eq!(
            got,
            [
                ("1h", Some(0.25), Some(61_000), Some(3_600.0)),
                ("5_fortnight", Some(1.0), None, None),
                ("5h", Some(1.0), Some(1_796_083_200_000), Some(FIVE_HOURS)),
            ],
            "an unknown unit keeps its window without a length; over-use is clamped"
        );
        assert_eq!(
            out.snapshots[0].warnings,
            ["limits[2] (5h): no usable `limit`/`used`/`remaining`"]
        );
        let extra: Vec<_> = out
            .extra_quotas
            .iter()
            .map(|q| (q.id.as_str(), q.duration_secs))
            .collect();
        assert_eq!(extra, [("1h", Some(3_600.0)), ("5_fortnight", None)]);
    }

    #[test]
    fn a_negative_used_count_is_unknown_not_zero() {
        let body = json!({"usage": {"limit": "100", "used": "-1", "remaining": "75"}});
        let out = parse(&body, 0).unwrap();
        assert_eq!(out.snapshots[0].used_ratio, Some(0.25), "from remaining");
        // Neither count usable: the window is a warning, not 0 % used.
        for remaining in ["-1", "101", "x"] {
            let body = json!({"usage": {"limit": "100", "used": "-1", "remaining": remaining},
                "limits": [{"window": {"duration": 300, "timeUnit": "TIME_UNIT_MINUTE"},
                            "detail": {"limit": "100", "used": "5"}}]});
            let out = parse(&body, 0).unwrap();
            let ids: Vec<&str> = out.snapshots.iter().map(|s| s.id.as_str()).collect();
            assert_eq!(ids, ["5h"], "{remaining}");
            assert_eq!(
                out.snapshots[0].warnings,
                ["usage (7d): no usable `limit`/`used`/`remaining`"]
            );
        }
    }

    #[test]
    fn pools_of_the_newer_plans_win_over_the_same_windows() {
        // A capture with its amounts zeroed: the pools speak, the zeroed row of the same
        // window is not read.
        let body = json!({
            "limits": [{"window": {"duration": 300, "timeUnit": "TIME_UNIT_MINUTE"},
                        "detail": {"limit": "0", "used": "0", "remaining": "0", "resetTime": "2026-09-16T20:11:32.979529Z"}}],
            "usages": {
                "limit_5h": {"used_ratio": 0.25, "reset_time": "2026-09-16T20:11:32Z"},
                "limit_month_total": {"used_ratio": "0.5", "reset_time": "2026-10-16T00:00:00Z"},
                "limit_month_code": {"used_ratio": 0, "reset_time": "2026-10-16T00:00:00Z"}
            }
        });
        let out = parse(&body, 0).unwrap();
        let got: Vec<_> = out
            .snapshots
            .iter()
            .map(|s| (s.id.as_str(), s.used_ratio, s.duration_secs))
            .collect();
        assert_eq!(
            got,
            [
                ("5h", Some(0.25), Some(FIVE_HOURS)),
                ("monthly", Some(0.5), None),
                ("monthly-code", Some(0.0), None),
            ]
        );
        assert!(out.snapshots.iter().all(|s| s.warnings.is_empty()));
        let week = json!({"limits": [{"window": {"duration": 1, "timeUnit": "TIME_UNIT_WEEK"},
            "detail": {"limit": "10", "used": "1"}}]});
        assert_eq!(parse(&week, 0).unwrap().snapshots[0].id, "7d");
    }

    #[test]
    fn the_extra_usage_wallet_beside_the_plan() {
        let body = json!({
            "usage": {"used": "40", "limit": "1000", "name": "Weekly limit"},
            "boosterWallet": {
                "id": "wallet_1",
                "balance": {"type": "BOOSTER", "amount": "20000000000", "amountLeft": "10000000000", "unit": "UNIT_CURRENCY"},
                "monthlyChargeLimitEnabled": true,
                "monthlyChargeLimit": {"currency": "USD", "priceInCents": "20000"},
                "monthlyUsed": {"currency": "USD", "priceInCents": "5000"}
            }
        });
        let out = parse(&body, 0).unwrap();
        let got: Vec<_> = out
            .snapshots
            .iter()
            .map(|s| {
                (
                    s.id.as_str(),
                    s.model_id(),
                    s.remaining,
                    s.used,
                    s.limit,
                    s.unit.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("7d", "default", None, None, None, None),
                ("wallet", EXTRA_MODEL, Some(100.0), None, None, Some("USD")),
                (
                    "wallet-month",
                    EXTRA_MODEL,
                    Some(150.0),
                    Some(50.0),
                    Some(200.0),
                    Some("USD")
                ),
            ]
        );
        // No cap: the month's spend alone; a wallet never funded is not shown.
        let uncapped = json!({"usage": {"used": "1", "limit": "10"}, "boosterWallet": {
            "balance": {"type": "BOOSTER", "amount": "20000000000"},
            "monthlyUsed": {"currency": "CNY", "priceInCents": "300"}}});
        let out = parse(&uncapped, 0).unwrap();
        assert_eq!(
            out.snapshots[1].remaining,
            Some(0.0),
            "amountLeft left out: spent"
        );
        assert_eq!(out.snapshots[2].used, Some(3.0));
        assert!(out.snapshots[2].unlimited);
        assert_eq!(out.snapshots[2].unit.as_deref(), Some("CNY"));
        let unfunded = json!({"usage": {"used": "1", "limit": "10"}, "boosterWallet": {
            "balance": {"type": "BOOSTER", "amount": "0", "amountLeft": "0"}}});
        assert_eq!(parse(&unfunded, 0).unwrap().snapshots.len(), 1);
    }

    #[test]
    fn nothing_recognisable_is_an_error() {
        assert!(parse(&json!({"parallel": {"limit": "20"}}), 0).is_err());
        assert!(matches!(
            parse(&json!({"usage": {"limit": "abc"}}), 0),
            Err(WireError::Shape(m)) if m.contains("usage (7d)")
        ));
    }

    #[test]
    fn oauth_login_or_api_key() {
        let rule = Kimi.auth();
        assert_eq!((rule.oauth_field, rule.api_key), (Some("access"), true));
        assert_eq!(rule.env, ["KIMI_API_KEY"]);
    }
}
