//! Z.ai GLM Coding Plan (`zai`) and its China twin on open.bigmodel.cn (`zai-coding-cn`):
//! GET /api/monitor/usage/quota/limit with the raw key, no "Bearer". Each `limits[]` item is
//! a window given as (`unit`, `number`) with `percentage` USED and `nextResetTime` in epoch ms;
//! `TIME_LIMIT` is the month's web-tool calls. A valid key without a plan answers 2xx with
//! `success: false`.

use serde_json::Value;

use super::shape::{
    calendar_quota, finish, instant_ms, length_id, number, percent_ratio, push_extra, push_pct,
    service_message,
};
use super::shape::{FIVE_HOURS, SEVEN_DAYS};
use super::{pct_quota, HttpRequest, ParseContext, RequestContext, Wire, WireConfig, WireError};
use crate::credentials::AuthRule;
use crate::model::{
    ErrorKind, FetchError, FetchOutcome, QuotaDefinition, QuotaKind, ResetBehavior, UsageSnapshot,
    WindowType,
};

const PATH: &str = "/api/monitor/usage/quota/limit";

const DECLARED: [&str; 3] = ["5h", "7d", "monthly"];

/// One wire for both hosts; the row's base URL picks the host, `cn` picks pi's env variable.
pub struct Zai {
    pub cn: bool,
}

impl Wire for Zai {
    fn quotas(&self, _config: &WireConfig) -> Vec<QuotaDefinition> {
        vec![
            pct_quota("5h", Some(FIVE_HOURS)),
            pct_quota("7d", Some(SEVEN_DAYS)),
            calendar_quota("monthly"),
        ]
    }

    fn auth(&self) -> AuthRule {
        AuthRule {
            env: if self.cn {
                &["ZAI_CODING_CN_API_KEY"]
            } else {
                &["ZAI_API_KEY"]
            },
            ..AuthRule::API_KEY
        }
    }

    fn requests(&self, ctx: &RequestContext) -> Vec<HttpRequest> {
        vec![HttpRequest::get(format!("{}{PATH}", ctx.base_url))
            .header("Authorization", ctx.credentials.access_token.clone())
            .header("Accept", "application/json")
            .header("Content-Type", "application/json")]
    }

    fn parse(&self, body: &[u8], ctx: &ParseContext) -> Result<FetchOutcome, WireError> {
        parse(
            &serde_json::from_slice(body)?,
            &ctx.credentials.access_token,
        )
    }
}

/// (`unit`, `number`) → window id and length. Units: 3 hours, 4 days, 5 months, 6 weeks. A
/// row without `number` has the unit's nominal count (the plan's 5 h, one day, week, month).
fn window_of(unit: i64, n: Option<i64>) -> Option<(String, Option<f64>)> {
    let n = n.unwrap_or(if unit == 3 { 5 } else { 1 });
    if n <= 0 {
        return None;
    }
    let secs = match unit {
        3 => n * 3_600,
        4 => n * 86_400,
        6 => n * 7 * 86_400,
        5 if n == 1 => return Some(("monthly".into(), None)),
        5 => return Some((format!("{n}mo"), None)),
        _ => return None,
    } as f64;
    Some((length_id(secs)?, Some(secs)))
}

fn service_error(body: &Value, token: &str) -> WireError {
    let msg = service_message(body.get("msg"), token);
    let code = body.get("code").and_then(Value::as_i64);
    // Matched on the raw text (never shown), so a colour code in it does not hide the reason.
    let lower = body
        .get("msg")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_ascii_lowercase();
    let e = if lower.contains("coding plan") || lower.contains("package") {
        FetchError::new(
            ErrorKind::Provider,
            "this key has no active GLM Coding Plan; only plan subscribers have a quota to show",
        )
    } else if matches!(code, Some(401 | 403)) {
        FetchError::new(
            ErrorKind::Auth,
            "the API key was rejected; check the key pi uses for this provider",
        )
    } else {
        FetchError::new(
            ErrorKind::Provider,
            match (code, msg) {
                (Some(c), Some(m)) => format!("the service answered with an error (code {c}: {m})"),
                (Some(c), None) => format!("the service answered with an error (code {c})"),
                (None, Some(m)) => format!("the service answered with an error ({m})"),
                (None, None) => "the service answered with an error".into(),
            },
        )
    };
    WireError::Service(e)
}

/// The web-tool allowance (`TIME_LIMIT`: search, reader, zread calls a month). It sits on a
/// model entry of its own: running out of tool calls never stops coding.
pub const TOOLS_MODEL: &str = "web-tools";
const TOOLS: &str = "tools";

fn tools_quota() -> QuotaDefinition {
    QuotaDefinition::new(TOOLS, QuotaKind::Amount { amount: 0.0 })
        .with_unit("calls")
        .with_window(WindowType::Fixed, ResetBehavior::Calendar)
}

/// The used share of a row: `percentage` (used, 0–100), else `currentValue` of `usage`.
fn used_ratio(limit: &Value) -> Option<f64> {
    if let Some(p) = number(limit.get("percentage")) {
        return Some(percent_ratio(p));
    }
    match (
        number(limit.get("usage")),
        number(limit.get("currentValue")),
    ) {
        (Some(total), Some(used)) if total > 0.0 => Some((used / total).clamp(0.0, 1.0)),
        _ => None,
    }
}

/// One `TIME_LIMIT` row: counts when the row has them, else its percentage.
fn tools(limit: &Value) -> Option<UsageSnapshot> {
    let mut s = UsageSnapshot::new(TOOLS);
    s.model_id = Some(TOOLS_MODEL.into());
    let total = number(limit.get("usage")).filter(|t| *t > 0.0);
    let used = number(limit.get("currentValue")).filter(|u| *u >= 0.0);
    match (total, used) {
        (Some(total), Some(used)) => {
            s.limit = Some(total);
            s.used = Some(used);
            s.remaining = Some(
                number(limit.get("remaining"))
                    .unwrap_or(total - used)
                    .max(0.0),
            );
        }
        _ => s.used_ratio = Some(percent_ratio(number(limit.get("percentage"))?)),
    }
    s.resets_at = instant_ms(limit.get("nextResetTime"));
    // A length when the row names one (months follow the calendar).
    let unit = number(limit.get("unit")).map(|u| u as i64);
    let n = number(limit.get("number")).map(|n| n as i64);
    s.duration_secs = unit
        .and_then(|u| window_of(u, n))
        .and_then(|(_, secs)| secs);
    Some(s)
}

/// The plan's name as the account shows it (`planName`, "GLM Coding Pro"), else its level.
fn plan(data: &Value) -> Option<String> {
    ["planName", "level"].iter().find_map(|k| {
        data.get(*k)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
    })
}

pub fn parse(body: &Value, token: &str) -> Result<FetchOutcome, WireError> {
    if body.get("success").and_then(Value::as_bool) == Some(false) {
        return Err(service_error(body, token));
    }
    // `data.limits`; some answers carry `limits` at the root instead.
    let data = body
        .get("data")
        .filter(|d| d.get("limits").is_some_and(Value::is_array))
        .unwrap_or(body);
    let limits = data
        .get("limits")
        .and_then(Value::as_array)
        .ok_or_else(|| WireError::Shape("neither `data.limits` nor `limits` is a list".into()))?;
    let mut outcome = FetchOutcome {
        plan: plan(data).or_else(|| body.get("data").and_then(plan)),
        ..Default::default()
    };
    let mut warnings = Vec::new();
    for (i, limit) in limits.iter().enumerate() {
        let kind = limit.get("type").and_then(Value::as_str).unwrap_or("");
        if kind == "TIME_LIMIT" {
            match tools(limit) {
                Some(s) => {
                    push_extra(&mut outcome, &DECLARED, tools_quota());
                    outcome.snapshots.push(s);
                }
                None => warnings.push(format!("limits[{i}] (web tools): no usable numbers")),
            }
            continue;
        }
        if kind != "CREDIT_LIMIT" && kind != "TOKENS_LIMIT" {
            warnings.push(format!("limits[{i}]: unknown `type`"));
            continue;
        }
        let unit = number(limit.get("unit")).map(|u| u as i64);
        let n = number(limit.get("number")).map(|n| n as i64);
        let Some((id, secs)) = unit.and_then(|u| window_of(u, n)) else {
            warnings.push(format!("limits[{i}]: unknown window (`unit`, `number`)"));
            continue;
        };
        let Some(used_ratio) = used_ratio(limit) else {
            warnings.push(format!("limits[{i}] ({id}): no `percentage` and no counts"));
            continue;
        };
        let mut s = UsageSnapshot::new(id);
        s.used_ratio = Some(used_ratio);
        s.duration_secs = secs;
        // Absent on the active 5h window of some accounts: the reset stays unknown.
        s.resets_at = instant_ms(limit.get("nextResetTime"));
        if secs.is_some() {
            push_pct(&mut outcome, &DECLARED, s, secs);
        } else {
            // Month windows follow the calendar, not a fixed length.
            push_extra(&mut outcome, &DECLARED, calendar_quota(&s.id));
            outcome.snapshots.push(s);
        }
    }
    finish(outcome, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fixture() -> Value {
        serde_json::from_str(include_str!("../../fixtures/current/zai-quota-limit.json")).unwrap()
    }

    fn service(e: WireError) -> FetchError {
        match e {
            WireError::Service(e) => e,
            other => panic!("expected a service error, got {other:?}"),
        }
    }

    #[test]
    fn fixture_windows_percent_used_and_ms_resets() {
        let out = parse(&fixture(), "k").unwrap();
        assert_eq!(out.plan.as_deref(), Some("pro"));
        let ids: Vec<(&str, &str)> = out
            .snapshots
            .iter()
            .map(|s| (s.id.as_str(), s.model_id()))
            .collect();
        assert_eq!(
            ids,
            [("5h", "default"), ("7d", "default"), ("tools", TOOLS_MODEL)]
        );
        let five = &out.snapshots[0];
        assert_eq!(five.used_ratio, Some(0.36));
        assert_eq!(five.resets_at, Some(1_796_091_000_000));
        assert_eq!(five.duration_secs, Some(FIVE_HOURS));
        assert_eq!(out.snapshots[1].used_ratio, Some(0.52));
        assert_eq!(out.snapshots[1].duration_secs, Some(SEVEN_DAYS));
        assert!(out.snapshots.iter().all(|s| s.warnings.is_empty()));
    }

    #[test]
    fn time_limit_is_the_months_web_tool_calls_on_its_own_entry() {
        let out = parse(&fixture(), "k").unwrap();
        let tools = &out.snapshots[2];
        assert_eq!(
            (tools.limit, tools.used, tools.remaining),
            (Some(1000.0), Some(143.0), Some(857.0))
        );
        assert_eq!(tools.resets_at, Some(1_797_602_587_212));
        let q = out.extra_quotas.iter().find(|q| q.id == "tools").unwrap();
        assert_eq!(q.unit.as_deref(), Some("calls"));
        assert_eq!(q.reset_behavior, Some(ResetBehavior::Calendar));
        // A percent-only tool row still counts.
        let body =
            json!({"data": {"limits": [{"type": "TIME_LIMIT", "unit": 5, "percentage": 10}]}});
        let out = parse(&body, "k").unwrap();
        assert_eq!(out.snapshots[0].used_ratio, Some(0.1));
        assert_eq!(out.snapshots[0].limit, None);
    }

    #[test]
    fn plan_name_wins_over_level() {
        let body = json!({"data": {"planName": "GLM Coding Max", "level": "max", "limits": [
            {"type": "CREDIT_LIMIT", "unit": 3, "number": 5, "percentage": 1}]}});
        assert_eq!(
            parse(&body, "k").unwrap().plan.as_deref(),
            Some("GLM Coding Max")
        );
    }

    #[test]
    fn limits_at_the_root_and_rows_without_number() {
        let body = json!({"code": 0, "msg": "ok", "success": true, "level": "lite",
        "limits": [
            {"type": "TOKENS_LIMIT", "unit": 6, "percentage": 25},
            {"type": "TOKENS_LIMIT", "unit": 3, "percentage": 40, "nextResetTime": 1796083200000_i64},
            {"type": "TOKENS_LIMIT", "unit": 5, "percentage": 5}
        ]});
        let out = parse(&body, "k").unwrap();
        let got: Vec<_> = out
            .snapshots
            .iter()
            .map(|s| (s.id.as_str(), s.used_ratio, s.duration_secs))
            .collect();
        assert_eq!(
            got,
            [
                ("7d", Some(0.25), Some(SEVEN_DAYS)),
                ("5h", Some(0.4), Some(FIVE_HOURS)),
                ("monthly", Some(0.05), None),
            ]
        );
        assert_eq!(out.plan.as_deref(), Some("lite"));
        assert!(out.snapshots.iter().all(|s| s.warnings.is_empty()));
    }

    #[test]
    fn unreadable_rows_are_warnings_beside_the_readable_ones() {
        let body = json!({"success": true, "data": {"limits": [
            {"type": "TOKENS_LIMIT", "unit": 3, "number": 5, "percentage": "12"},
            {"type": "CREDIT_LIMIT", "unit": 4, "number": 1, "usage": 200, "currentValue": 50},
            {"type": "CREDIT_LIMIT", "unit": 5, "number": 1, "percentage": 7, "nextResetTime": 1796083200},
            {"type": "CREDIT_LIMIT", "unit": 9, "number": 1, "percentage": 50},
            {"type": "CREDIT_LIMIT", "unit": 3, "number": 5},
            "junk"
        ]}});
        let out = parse(&body, "k").unwrap();
        let got: Vec<_> = out
            .snapshots
            .iter()
            .map(|s| (s.id.as_str(), s.used_ratio, s.resets_at))
            .collect();
        assert_eq!(
            got,
            [
                ("5h", Some(0.12), None),
                ("24h", Some(0.25), None),
                ("monthly", Some(0.07), Some(1_796_083_200_000)),
            ]
        );
        assert_eq!(
            out.snapshots[0].warnings,
            [
                "limits[3]: unknown window (`unit`, `number`)",
                "limits[4] (5h): no `percentage` and no counts",
                "limits[5]: unknown `type`"
            ]
        );
        assert_eq!(out.extra_quotas.len(), 1);
        assert_eq!(out.extra_quotas[0].id, "24h");
        assert_eq!(out.extra_quotas[0].duration_secs, Some(86_400.0));
        // Nothing readable: the warnings are the error.
        let none = json!({"data": {"limits": [{"type": "CREDIT_LIMIT", "unit": 9}]}});
        assert!(matches!(parse(&none, "k"), Err(WireError::Shape(m)) if m.contains("limits[0]")));
    }

    #[test]
    fn success_false_is_a_service_error_never_quoting_the_key() {
        let no_plan = json!({"code": 500, "msg": "No active Coding Plan found for this account", "success": false});
        let e = service(parse(&no_plan, "k").unwrap_err());
        assert_eq!(e.kind, ErrorKind::Provider);
        assert!(
            e.message.contains("no active GLM Coding Plan"),
            "{}",
            e.message
        );

        let bad =
            json!({"code": 401, "msg": "token expired or incorrect: sk-zz", "success": false});
        let e = service(parse(&bad, "sk-zz").unwrap_err());
        assert_eq!(e.kind, ErrorKind::Auth);
        assert!(!e.message.contains("sk-zz"));

        let coloured = json!({"code": 500, "msg": "\u{1b}[31mcurrent user has no coding plan", "success": false});
        let e = service(parse(&coloured, "k").unwrap_err());
        assert!(
            e.message.contains("no active GLM Coding Plan"),
            "{}",
            e.message
        );

        let other = json!({"code": 1302, "msg": "busy", "success": false});
        let e = service(parse(&other, "k").unwrap_err());
        assert_eq!(
            e.message,
            "the service answered with an error (code 1302: busy)"
        );
    }

    #[test]
    fn wrong_shapes_are_shape_errors() {
        for body in [
            json!({}),
            json!({"data": {"limits": 3}}),
            json!([1]),
            json!({"data": {"level": "pro"}}),
        ] {
            assert!(
                matches!(parse(&body, "k"), Err(WireError::Shape(_))),
                "{body}"
            );
        }
    }

    #[test]
    fn api_key_only_with_each_hosts_variable() {
        for (cn, var) in [(false, "ZAI_API_KEY"), (true, "ZAI_CODING_CN_API_KEY")] {
            let rule = Zai { cn }.auth();
            assert!(rule.api_key && rule.oauth_field.is_none());
            assert_eq!(rule.env, [var]);
        }
        let creds = crate::credentials::Credentials::new(
            "k-raw",
            crate::credentials::CredentialKind::ApiKey,
        );
        let request = Zai { cn: false }.requests(&RequestContext {
            base_url: "https://h",
            credentials: &creds,
            account: &Default::default(),
        });
        assert_eq!(request[0].url, format!("https://h{PATH}"));
        assert!(
            request[0]
                .headers
                .contains(&("Authorization", "k-raw".to_string())),
            "the raw key, no Bearer"
        );
    }
}
