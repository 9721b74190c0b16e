//! xAI Grok subscription (`xai`): GET cli-chat-proxy.grok.com/v1/billing with the OAuth
//! token of pi's "Sign in with SuperGrok or X Premium". First `?format=credits` (a percent
//! used over `currentPeriod`, on-demand spend and cap, prepaid credit), read for whatever it
//! holds; only an answer with nothing of the allowance goes on to the default form
//! (`monthlyLimit` / `used` over the billing period).
//! Never an API key: `XAI_API_KEY` is a paid key, not the subscription.

use serde_json::Value;

use super::shape::{
    beside_plan, calendar_quota, finish, instant_ms, length_id, number, percent_ratio, push_extra,
    push_pct, SEVEN_DAYS,
};
use super::{pct_quota, HttpRequest, ParseContext, RequestContext, Wire, WireConfig, WireError};
use crate::credentials::{AuthRule, CredentialKind};
use crate::model::{
    ErrorKind, FetchError, FetchOutcome, QuotaDefinition, QuotaKind, ResetBehavior, UsageSnapshot,
    WindowType,
};

const PATH: &str = "/v1/billing";

const DECLARED: [&str; 2] = ["7d", "monthly"];

pub struct Xai;

impl Wire for Xai {
    fn quotas(&self, _config: &WireConfig) -> Vec<QuotaDefinition> {
        vec![pct_quota("7d", Some(SEVEN_DAYS)), calendar_quota("monthly")]
    }

    /// The OAuth login only, and no environment variable.
    fn auth(&self) -> AuthRule {
        AuthRule::OAUTH
    }

    /// The client headers are what the CLIs that call this proxy send; none is known to be
    /// required, none is known to hurt. An API key handed in directly is never sent.
    fn requests(&self, ctx: &RequestContext) -> Vec<HttpRequest> {
        if ctx.credentials.kind == CredentialKind::ApiKey {
            return Vec::new();
        }
        let request = |query: &str| {
            HttpRequest::get(format!("{}{PATH}{query}", ctx.base_url))
                .bearer(&ctx.credentials.access_token)
                .header("Accept", "application/json")
                .header("x-xai-token-auth", "xai-grok-cli")
                .header("x-grok-client-surface", "grok-build")
                .header("x-grok-client-version", "1.0.0")
        };
        vec![request("?format=credits"), request("")]
    }

    fn parse(&self, body: &[u8], ctx: &ParseContext) -> Result<FetchOutcome, WireError> {
        parse(&serde_json::from_slice(body)?, ctx.attempt == 0)
    }
}

/// `{val}` amounts, whose unit is not documented: shown as sent.
fn val(v: Option<&Value>) -> Option<f64> {
    number(v?.get("val"))
}

fn period_id(kind: &str, secs: Option<f64>) -> (String, Option<f64>) {
    if kind.ends_with("WEEKLY") {
        return ("7d".into(), Some(SEVEN_DAYS));
    }
    if kind.ends_with("MONTHLY") {
        return ("monthly".into(), None);
    }
    match secs {
        // A calendar month is 28 to 31 days: the monthly window, whatever its length.
        Some(s) if (28.0 * 86_400.0..=31.0 * 86_400.0).contains(&s) => ("monthly".into(), None),
        Some(s) => match length_id(s) {
            Some(id) => (id, Some(s)),
            None => ("credits".into(), Some(s)),
        },
        None => ("credits".into(), None),
    }
}

/// The credits form: a percent used over `currentPeriod`, either of which may be missing (a
/// fresh period omits the percent; some answers omit the period or its `type`).
fn credits(config: &Value, outcome: &mut FetchOutcome, warnings: &mut Vec<String>) {
    let period = match config.get("currentPeriod") {
        Some(p @ Value::Object(_)) => Some(p),
        None | Some(Value::Null) => None,
        Some(_) => {
            warnings.push("`currentPeriod` is not an object".into());
            None
        }
    };
    let percent = match config.get("creditUsagePercent") {
        None | Some(Value::Null) => None,
        Some(v) => match number(Some(v)) {
            Some(p) => Some(p),
            // Unknown, not 0 %: the window is lost with a warning; the rest of the answer
            // (on-demand, prepaid, the tier) is still read.
            None => {
                warnings.push(
                    "`creditUsagePercent` is not a number; the allowance could not be read".into(),
                );
                return;
            }
        },
    };
    if percent.is_none() && period.is_none() {
        return;
    }
    let start = period.and_then(|p| instant_ms(p.get("start")));
    let end = period
        .and_then(|p| instant_ms(p.get("end")))
        .or_else(|| instant_ms(config.get("billingPeriodEnd")));
    // Omitted beside a period: the answer's protobuf JSON drops a 0.
    let percent = percent.unwrap_or(0.0);
    let secs = match (start, end) {
        (Some(a), Some(b)) if b > a => Some((b - a) as f64 / 1000.0),
        _ => None,
    };
    let kind = period
        .and_then(|p| p.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let (id, length) = period_id(kind, secs);
    let mut s = UsageSnapshot::new(id);
    s.used_ratio = Some(percent_ratio(percent));
    s.resets_at = end;
    s.duration_secs = length;
    if length.is_some() {
        push_pct(outcome, &DECLARED, s, length);
    } else {
        push_extra(outcome, &DECLARED, calendar_quota(&s.id));
        outcome.snapshots.push(s);
    }
}

/// The default form: `monthlyLimit` and what was used of it.
fn monthly(config: &Value, outcome: &mut FetchOutcome, warnings: &mut Vec<String>) {
    let Some(limit) = val(config.get("monthlyLimit")).filter(|l| *l > 0.0) else {
        warnings.push("`monthlyLimit.val` is not a positive number".into());
        return;
    };
    let used = val(config.get("used"))
        .or_else(|| val(config.pointer("/usage/totalUsed")))
        .or_else(|| val(config.pointer("/usage/includedUsed")));
    let Some(used) = used else {
        warnings.push("`monthlyLimit` without `used.val`".into());
        return;
    };
    let mut s = UsageSnapshot::new("monthly");
    s.used_ratio = Some((used / limit).clamp(0.0, 1.0));
    s.resets_at = instant_ms(config.get("billingPeriodEnd"));
    outcome.snapshots.push(s);
}

/// On-demand spend against its cap (a cap of 0 is switched off) and the prepaid credit.
fn extras(config: &Value, outcome: &mut FetchOutcome, warnings: &mut Vec<String>) {
    let cap = val(config.get("onDemandCap"));
    if let Some(cap) = cap.filter(|c| *c > 0.0) {
        let used =
            val(config.get("onDemandUsed")).or_else(|| val(config.pointer("/usage/onDemandUsed")));
        match used {
            Some(used) => {
                let mut s = UsageSnapshot::new("on-demand");
                s.limit = Some(cap);
                s.used = Some(used.max(0.0));
                s.remaining = Some((cap - used).max(0.0));
                s.resets_at = instant_ms(config.get("billingPeriodEnd"));
                push_extra(outcome, &DECLARED, on_demand_quota());
                outcome.snapshots.push(s);
            }
            None => warnings.push("`onDemandCap` without `onDemandUsed.val`".into()),
        }
    } else if cap.is_none() && config.get("onDemandCap").is_some_and(|c| !c.is_null()) {
        warnings.push("`onDemandCap.val` is not a number".into());
    }
    if let Some(balance) = val(config.get("prepaidBalance")).filter(|b| *b > 0.0) {
        let mut s = UsageSnapshot::new("prepaid");
        s.remaining = Some(balance);
        push_extra(
            outcome,
            &DECLARED,
            QuotaDefinition::new("prepaid", QuotaKind::Balance),
        );
        outcome.snapshots.push(s);
    }
}

fn on_demand_quota() -> QuotaDefinition {
    QuotaDefinition::new("on-demand", QuotaKind::Amount { amount: 0.0 })
        .with_window(WindowType::Fixed, ResetBehavior::Calendar)
}

fn tier(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
}

/// `first`: the credits request answered. An answer with nothing to read (a unified-billing
/// account may send only its tier) goes on to the default form.
pub fn parse(body: &Value, first: bool) -> Result<FetchOutcome, WireError> {
    let config = match body.get("config") {
        Some(c @ Value::Object(_)) => c,
        None | Some(Value::Null) if body.is_object() => {
            return Err(WireError::Service(FetchError::new(
                ErrorKind::Provider,
                "no Grok billing is configured for this account (the answer has no `config`)",
            )))
        }
        _ => return Err(WireError::Shape("`config` is not an object".into())),
    };
    let mut outcome = FetchOutcome {
        plan: tier(config.get("subscriptionTier")).or_else(|| tier(body.get("subscriptionTier"))),
        ..Default::default()
    };
    let mut warnings = Vec::new();
    credits(config, &mut outcome, &mut warnings);
    if outcome.snapshots.is_empty() && config.get("monthlyLimit").is_some() {
        monthly(config, &mut outcome, &mut warnings);
    }
    let plan_windows = outcome.snapshots.len();
    extras(config, &mut outcome, &mut warnings);
    beside_plan(&mut outcome, plan_windows);
    if outcome.snapshots.is_empty() && warnings.is_empty() {
        let which = if first {
            "the credits form"
        } else {
            "the billing form"
        };
        return Err(WireError::Shape(format!(
            "{which} has no credit percent, period, `monthlyLimit`, on-demand cap or prepaid credit"
        )));
    }
    finish(outcome, warnings)
}

#[cfg(test)]
mod tests {
    use super::super::shape::EXTRA_MODEL;
    use super::*;
    use serde_json::json;

    /// 2026-12-01T00:00:00Z, the fixtures' "now".
    const NOW: i64 = 1_796_083_200_000;

    fn fixture(name: &str) -> Value {
        let text = match name {
            "credits" => include_str!("../../fixtures/current/xai-grok-billing-credits.json"),
            _ => include_str!("../../fixtures/current/xai-grok-billing-monthly.json"),
        };
        serde_json::from_str(text).unwrap()
    }

    fn ids(out: &FetchOutcome) -> Vec<(&str, &str)> {
        out.snapshots
            .iter()
            .map(|s| (s.id.as_str(), s.model_id()))
            .collect()
    }

    #[test]
    fn credits_fixture_weekly_percent() {
        let out = parse(&fixture("credits"), true).unwrap();
        assert_eq!(out.plan.as_deref(), Some("SuperGrok"));
        assert_eq!(
            ids(&out),
            [("7d", "default")],
            "a cap of 0 is on-demand off"
        );
        let s = &out.snapshots[0];
        assert_eq!(s.used_ratio, Some(0.38));
        assert_eq!(s.resets_at, Some(1_796_351_040_983));
        assert_eq!(s.duration_secs, Some(SEVEN_DAYS));
    }

    #[test]
    fn monthly_fixture_is_read_for_what_it_holds_on_either_request() {
        for first in [true, false] {
            let out = parse(&fixture("monthly"), first).unwrap();
            assert_eq!(
                ids(&out),
                [("monthly", "default"), ("on-demand", EXTRA_MODEL)]
            );
            let s = &out.snapshots[0];
            assert!((s.used_ratio.unwrap() - 0.58).abs() < 1e-9);
            assert_eq!(s.resets_at, Some(NOW + 14 * 86_400_000));
            let od = &out.snapshots[1];
            assert_eq!(
                (od.limit, od.used, od.remaining),
                (Some(5000.0), Some(0.0), Some(5000.0))
            );
        }
    }

    #[test]
    fn unified_billing_without_a_percent_is_zero_not_a_second_request() {
        let body = json!({"config": {"isUnifiedBillingUser": true, "currentPeriod": {
            "type": "USAGE_PERIOD_TYPE_WEEKLY", "start": "2026-11-30T00:00:00Z", "end": "2026-12-07T00:00:00Z"},
            "onDemandCap": {"val": 0}, "onDemandUsed": {"val": 0}, "prepaidBalance": {"val": 0}}});
        let out = parse(&body, true).unwrap();
        assert_eq!(ids(&out), [("7d", "default")]);
        assert_eq!(out.snapshots[0].used_ratio, Some(0.0));
    }

    #[test]
    fn periods_without_type_or_without_period_are_read() {
        // No type: the period's own length names it.
        let week = json!({"config": {"creditUsagePercent": 12.5, "currentPeriod": {
            "start": "2026-11-30T00:00:00Z", "end": "2026-12-07T00:00:00Z"}}});
        let out = parse(&week, true).unwrap();
        assert_eq!(ids(&out), [("7d", "default")]);
        let month = json!({"config": {"creditUsagePercent": 12.5, "currentPeriod": {
            "start": "2026-11-15T00:00:00Z", "end": "2026-12-15T00:00:00Z"}}});
        assert_eq!(ids(&parse(&month, true).unwrap()), [("monthly", "default")]);
        // A percent and only the billing period's end.
        let bare = json!({"config": {"creditUsagePercent": 104.2, "billingPeriodEnd": "2026-12-13T00:00:00Z"}});
        let out = parse(&bare, true).unwrap();
        assert_eq!(ids(&out), [("credits", "default")]);
        assert_eq!(out.snapshots[0].used_ratio, Some(1.0));
        assert_eq!(out.snapshots[0].resets_at, Some(NOW + 12 * 86_400_000));
        // A type and no times: the reset comes from the billing period.
        let typed = json!({"config": {"currentPeriod": {"type": "USAGE_PERIOD_TYPE_WEEKLY"},
            "billingPeriodEnd": "2026-12-13T00:00:00Z"}});
        let out = parse(&typed, true).unwrap();
        assert_eq!(ids(&out), [("7d", "default")]);
        assert_eq!(out.snapshots[0].used_ratio, Some(0.0));
    }

    #[test]
    fn on_demand_spend_cap_prepaid_credit_and_tier() {
        let body = json!({"subscriptionTier": "SuperGrok Heavy", "config": {
            "creditUsagePercent": 8, "currentPeriod": {"type": "USAGE_PERIOD_TYPE_WEEKLY",
                "start": "2026-11-30T00:00:00Z", "end": "2026-12-07T00:00:00Z"},
            "billingPeriodEnd": "2026-12-13T00:00:00Z",
            "onDemandCap": {"val": 1000}, "onDemandUsed": {"val": 250.5},
            "prepaidBalance": {"val": 1200}}});
        let out = parse(&body, true).unwrap();
        assert_eq!(out.plan.as_deref(), Some("SuperGrok Heavy"));
        assert_eq!(
            ids(&out),
            [
                ("7d", "default"),
                ("on-demand", EXTRA_MODEL),
                ("prepaid", EXTRA_MODEL)
            ]
        );
        let od = &out.snapshots[1];
        assert_eq!(
            (od.limit, od.used, od.remaining),
            (Some(1000.0), Some(250.5), Some(749.5))
        );
        assert_eq!(out.snapshots[2].remaining, Some(1200.0));
        // On-demand alone is the account's own, read with no second request.
        let alone =
            json!({"config": {"onDemandCap": {"val": 1000.0}, "onDemandUsed": {"val": 250.5}}});
        assert_eq!(
            ids(&parse(&alone, true).unwrap()),
            [("on-demand", "default")]
        );
    }

    #[test]
    fn a_mistyped_percent_loses_the_allowance_with_a_warning_and_keeps_the_rest() {
        let warning = "`creditUsagePercent` is not a number; the allowance could not be read";
        for percent in [json!("lots"), json!(true), json!({"val": 8}), json!([8])] {
            let body = json!({"subscriptionTier": "SuperGrok Heavy", "config": {
                "creditUsagePercent": percent, "currentPeriod": {"type": "USAGE_PERIOD_TYPE_WEEKLY",
                    "start": "2026-11-30T00:00:00Z", "end": "2026-12-07T00:00:00Z"},
                "onDemandCap": {"val": 1000}, "onDemandUsed": {"val": 250.5},
                "prepaidBalance": {"val": 1200}}});
            let out = parse(&body, true).unwrap();
            assert_eq!(out.plan.as_deref(), Some("SuperGrok Heavy"));
            // No plan window left: on-demand and prepaid are the account's own.
            assert_eq!(
                ids(&out),
                [("on-demand", "default"), ("prepaid", "default")],
                "{percent}: no 7d window at 0 %"
            );
            assert_eq!(out.snapshots[0].used, Some(250.5));
            assert_eq!(out.snapshots[1].remaining, Some(1200.0));
            for s in &out.snapshots {
                assert_eq!(s.warnings, [warning]);
            }
            // Prepaid alone is kept too.
            let mut prepaid = body.clone();
            prepaid["config"]["onDemandCap"] = json!({"val": 0});
            assert_eq!(
                ids(&parse(&prepaid, true).unwrap()),
                [("prepaid", "default")]
            );
        }
        // The declared exception: with nothing else in the answer the fetch fails naming the
        // percent; it is never read as 0 % used.
        for body in [
            fixture("credits"),
            json!({"config": {"creditUsagePercent": "lots", "billingPeriodEnd": "2026-12-13T00:00:00Z"}}),
        ] {
            let mut body = body;
            body["config"]["creditUsagePercent"] = json!("lots");
            match parse(&body, true) {
                Err(WireError::Shape(m)) => assert_eq!(m, warning),
                other => panic!("{body}: {other:?}"),
            }
        }
        // Absent beside a period is a 0 the protobuf JSON dropped, not a mistype.
        let mut absent = fixture("credits");
        absent["config"]
            .as_object_mut()
            .unwrap()
            .remove("creditUsagePercent");
        assert_eq!(
            parse(&absent, true).unwrap().snapshots[0].used_ratio,
            Some(0.0)
        );
    }

    #[test]
    fn config_null_is_no_billing_not_a_parse_error() {
        for body in [
            json!({"config": null}),
            json!({"subscriptionTier": "SuperGrok"}),
        ] {
            match parse(&body, true) {
                Err(WireError::Service(e)) => {
                    assert_eq!(e.kind, ErrorKind::Provider);
                    assert!(e.message.contains("no Grok billing"), "{}", e.message);
                }
                other => panic!("{body}: {other:?}"),
            }
        }
    }

    #[test]
    fn nothing_to_read_goes_on_and_wrong_shapes_fail() {
        let tier_only =
            json!({"config": {"onDemandCap": {"val": 0}}, "subscriptionTier": "supergrok_heavy"});
        assert!(matches!(parse(&tier_only, true), Err(WireError::Shape(_))));
        for body in [
            json!([]),
            json!({"config": 3}),
            json!({"config": {}}),
            json!({"config": {"monthlyLimit": {"val": 0}, "used": {"val": 1}}}),
            json!({"config": {"monthlyLimit": {"val": "3000"}}}),
            json!({"config": {"creditUsagePercent": "lots"}}),
        ] {
            assert!(parse(&body, false).is_err(), "{body}");
        }
    }

    #[test]
    fn oauth_only_and_never_the_paid_api_key() {
        let rule = Xai.auth();
        assert_eq!((rule.oauth_field, rule.api_key), (Some("access"), false));
        assert!(rule.env.is_empty(), "XAI_API_KEY must never be read");
        let key = crate::credentials::Credentials::new("xai-paid", CredentialKind::ApiKey);
        let ctx = RequestContext {
            base_url: "https://h",
            credentials: &key,
            account: &Default::default(),
        };
        assert!(
            Xai.requests(&ctx).is_empty(),
            "a key passed in directly is not sent either"
        );
    }
}
