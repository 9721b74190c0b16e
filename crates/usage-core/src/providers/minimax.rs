//! MiniMax Token/Coding Plan (`minimax` on api.minimax.io, `minimax-cn` on api.minimaxi.com):
//! GET …/remains with Bearer, or for a pay-as-you-go `sk-api-` key GET /account/query_balance.
//! HTTP 200 even for a bad key: `base_resp.status_code` ≠ 0 is the error. Per bucket a 5-hour interval and a weekly window, read from the REMAINING
//! percentages; the counts, which mean remaining on one host and used on the other, only where
//! a percentage is missing.

use serde_json::Value;

use super::shape::{finish, instant_ms, number, push_extra, push_pct, FIVE_HOURS, SEVEN_DAYS};
use super::{
    http, pct_quota, HttpRequest, ParseContext, RequestContext, Wire, WireConfig, WireError,
};
use crate::credentials::AuthRule;
use crate::model::{
    ErrorKind, FetchError, FetchOutcome, QuotaDefinition, QuotaKind, UsageSnapshot,
};

const TOKEN_PLAN: &str = "/v1/token_plan/remains";
const CODING_PLAN: &str = "/v1/api/openplatform/coding_plan/remains";
/// The pay-as-you-go account's balance, which `sk-api-` keys read (plan keys read the remains).
const BALANCE: &str = "/account/query_balance";
const PAYG_KEY_PREFIX: &str = "sk-api-";

const DECLARED: [&str; 2] = ["5h", "7d"];

/// Whether a bucket is the plan's shared text quota (`general`, or the coding model's
/// `MiniMax-M*` / `MiniMax-M2.7`); others are per model.
fn is_general(name: &str) -> bool {
    let name = name.trim().to_ascii_lowercase();
    name == "general" || name.starts_with("minimax-m")
}

/// Bucket status: 2 exhausted, 3 unlimited (1 normal).
const EXHAUSTED: i64 = 2;
const UNLIMITED: i64 = 3;

/// One wire for both hosts; `cn` picks pi's env variable and the endpoints the host serves.
pub struct MiniMax {
    pub cn: bool,
}

impl Wire for MiniMax {
    fn quotas(&self, _config: &WireConfig) -> Vec<QuotaDefinition> {
        vec![
            pct_quota("5h", Some(FIVE_HOURS)),
            pct_quota("7d", Some(SEVEN_DAYS)),
        ]
    }

    fn auth(&self) -> AuthRule {
        AuthRule {
            env: if self.cn {
                &["MINIMAX_CN_API_KEY"]
            } else {
                &["MINIMAX_API_KEY"]
            },
            ..AuthRule::API_KEY
        }
    }

    /// A pay-as-you-go key reads its balance. A plan key: token plan first; the older
    /// coding-plan path only on the global host (on the China host it answers every key with
    /// an auth error).
    fn requests(&self, ctx: &RequestContext) -> Vec<HttpRequest> {
        let paths: &[&str] = if ctx.credentials.access_token.starts_with(PAYG_KEY_PREFIX) {
            &[BALANCE]
        } else if self.cn {
            &[TOKEN_PLAN]
        } else {
            &[TOKEN_PLAN, CODING_PLAN]
        };
        paths
            .iter()
            .map(|path| {
                HttpRequest::get(format!("{}{path}", ctx.base_url))
                    .bearer(&ctx.credentials.access_token)
                    .header("Accept", "application/json")
            })
            .collect()
    }

    fn parse(&self, body: &[u8], ctx: &ParseContext) -> Result<FetchOutcome, WireError> {
        parse(&serde_json::from_slice(body)?, ctx.now_ms, self.cn)
    }
}

/// A non-zero `base_resp.status_code` as an error. MiniMax's codes 1002 and 1039 are rate
/// limits, 1000/1001/1013 server trouble; anything else on this endpoint means the key was
/// not accepted.
fn status_error(code: i64, now: i64) -> FetchError {
    match code {
        1002 | 1039 => FetchError::new(
            ErrorKind::RateLimited,
            format!("rate limited (status {code})"),
        )
        .with_retry_at(now + http::DEFAULT_RETRY_MS),
        1000 | 1001 | 1013 => FetchError::new(
            ErrorKind::Server,
            format!("the service reported an internal error (status {code})"),
        ),
        _ => FetchError::new(
            ErrorKind::Auth,
            format!(
                "the API key was rejected (status {code}); check the key pi uses for this provider"
            ),
        ),
    }
}

struct Window<'a> {
    /// The id and length the plan gives this lane: never the span the answer measures, which
    /// shifts from poll to poll (an interval that ends at the weekly end, missing times).
    id: &'a str,
    secs: f64,
    prefix: &'a str,
    end: &'a str,
    remains: &'a str,
    total: &'a str,
    count: &'a str,
}

const INTERVAL: Window = Window {
    id: "5h",
    secs: FIVE_HOURS,
    prefix: "current_interval",
    end: "end_time",
    remains: "remains_time",
    total: "current_interval_total_count",
    count: "current_interval_usage_count",
};

const WEEKLY: Window = Window {
    id: "7d",
    secs: SEVEN_DAYS,
    prefix: "current_weekly",
    end: "weekly_end_time",
    remains: "weekly_remains_time",
    total: "current_weekly_total_count",
    count: "current_weekly_usage_count",
};

fn status(bucket: &Value, w: &Window) -> Option<i64> {
    number(bucket.get(format!("{}_status", w.prefix))).map(|s| s as i64)
}

/// Remaining share from the counts, for rows without a percentage. The count is what is
/// REMAINING on the global host and what is USED on the China host.
fn count_ratio(bucket: &Value, w: &Window, cn: bool) -> Option<f64> {
    let total = number(bucket.get(w.total)).filter(|t| *t > 0.0)?;
    let count = number(bucket.get(w.count)).filter(|c| (0.0..=total).contains(c))?;
    let remaining = if cn { total - count } else { count };
    Some(remaining / total)
}

/// Whether the answer speaks of this lane at all (a China plan may have no weekly lane).
fn mentioned(bucket: &Value, w: &Window) -> bool {
    bucket.as_object().is_some_and(|o| {
        o.keys()
            .any(|k| k.starts_with(w.prefix) || k == w.end || k == w.remains)
    })
}

fn snapshot(bucket: &Value, w: &Window, now: i64, cn: bool) -> Option<UsageSnapshot> {
    let status = status(bucket, w);
    let remaining = number(bucket.get(format!("{}_remaining_percent", w.prefix)))
        .map(|pct| (pct / 100.0).clamp(0.0, 1.0))
        .or_else(|| count_ratio(bucket, w, cn));
    let mut s = UsageSnapshot::new(w.id);
    match (remaining, status) {
        (_, Some(UNLIMITED)) => s.unlimited = true,
        (Some(ratio), _) => s.remaining_ratio = Some(ratio),
        (None, Some(EXHAUSTED)) => s.remaining_ratio = Some(0.0),
        (None, _) => return None,
    }
    s.duration_secs = Some(w.secs);
    // The relative form is immune to clock skew between us and the service.
    s.resets_at = number(bucket.get(w.remains))
        .filter(|ms| *ms >= 0.0)
        .map(|ms| now + ms as i64)
        .or_else(|| instant_ms(bucket.get(w.end)));
    Some(s)
}

/// The pay-as-you-go balance: decimal strings in the host's currency (dollars on the global
/// host, yuan on the China host).
fn balance(root: &Value, cn: bool) -> Result<FetchOutcome, WireError> {
    let available = number(root.get("available_amount"))
        .ok_or_else(|| WireError::Shape("`available_amount` is not a number".into()))?;
    let mut s = UsageSnapshot::new("balance");
    s.remaining = Some(available);
    let mut outcome = FetchOutcome::default();
    push_extra(
        &mut outcome,
        &DECLARED,
        QuotaDefinition::new("balance", QuotaKind::Balance).with_unit(if cn {
            "CNY"
        } else {
            "USD"
        }),
    );
    outcome.snapshots.push(s);
    Ok(outcome)
}

pub fn parse(body: &Value, now: i64, cn: bool) -> Result<FetchOutcome, WireError> {
    // Either top level or wrapped in `data` (with the plan's title beside it).
    let data = body.get("data").filter(|d| d.is_object());
    let base_resp = body
        .get("base_resp")
        .or_else(|| data.and_then(|d| d.get("base_resp")));
    if let Some(code) = base_resp.and_then(|b| number(b.get("status_code"))) {
        if code != 0.0 {
            return Err(WireError::Service(status_error(code as i64, now)));
        }
    }
    if let Some(root) = [Some(body), data]
        .into_iter()
        .flatten()
        .find(|r| r.get("available_amount").is_some())
    {
        return balance(root, cn);
    }
    let root = data
        .filter(|d| d.get("model_remains").is_some())
        .unwrap_or(body);
    let buckets = root
        .get("model_remains")
        .and_then(Value::as_array)
        .ok_or_else(|| WireError::Shape("`model_remains` is not a list".into()))?;
    let mut outcome = FetchOutcome {
        plan: root
            .get("current_subscribe_title")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(String::from),
        ..Default::default()
    };
    let mut warnings = Vec::new();
    // The first shared-quota bucket is the account's; a second one keeps its own entry.
    let mut general_taken = false;
    for (i, bucket) in buckets.iter().enumerate() {
        let Some(name) = bucket.get("model_name").and_then(Value::as_str) else {
            warnings.push(format!("model_remains[{i}]: no `model_name`"));
            continue;
        };
        // Zero totals and "unlimited" on both windows: a model the plan does not include.
        let absent = [INTERVAL, WEEKLY].iter().all(|w| {
            number(bucket.get(w.total)) == Some(0.0) && status(bucket, w) == Some(UNLIMITED)
        });
        if absent {
            continue;
        }
        let general = is_general(name) && !general_taken;
        general_taken |= general;
        for w in [INTERVAL, WEEKLY] {
            let Some(mut s) = snapshot(bucket, &w, now, cn) else {
                if mentioned(bucket, &w) {
                    warnings.push(format!(
                        "model_remains[{i}] ({}): no remaining percent, counts or status",
                        w.id
                    ));
                }
                continue;
            };
            if !general {
                s.model_id = Some(name.to_string());
            }
            push_pct(&mut outcome, &DECLARED, s, Some(w.secs));
        }
    }
    finish(outcome, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fixture() -> Value {
        serde_json::from_str(include_str!(
            "../../fixtures/current/minimax-coding-plan-remains.json"
        ))
        .unwrap()
    }

    #[test]
    fn fixture_remaining_percentages_and_relative_resets() {
        let out = parse(&fixture(), 1_000, false).unwrap();
        let got: Vec<_> = out
            .snapshots
            .iter()
            .map(|s| {
                (
                    s.id.as_str(),
                    s.remaining_ratio,
                    s.resets_at,
                    s.duration_secs,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("5h", Some(0.75), Some(1_000 + 12_000_000), Some(FIVE_HOURS)),
                (
                    "7d",
                    Some(0.64),
                    Some(1_000 + 432_000_000),
                    Some(SEVEN_DAYS)
                ),
            ]
        );
        assert!(out.snapshots.iter().all(|s| s.model_id.is_none()));
        assert!(out.extra_quotas.is_empty());
        // The counts (1125 of 1500) are never read: their meaning differs per host.
        assert!(out
            .snapshots
            .iter()
            .all(|s| s.used.is_none() && s.remaining.is_none()));
    }

    #[test]
    fn bad_key_with_http_200_is_an_auth_error() {
        let body = json!({"base_resp": {"status_code": 1004, "status_msg": "cookie is missing, log in again"}});
        let Err(WireError::Service(e)) = parse(&body, 0, false) else {
            panic!("expected a service error")
        };
        assert_eq!(e.kind, ErrorKind::Auth);
        assert!(e.message.contains("1004") && e.message.contains("rejected"));
        let busy = json!({"base_resp": {"status_code": "1002"}});
        let Err(WireError::Service(e)) = parse(&busy, 0, false) else {
            panic!("expected a service error")
        };
        assert_eq!(e.kind, ErrorKind::RateLimited);
        assert_eq!(e.retry_at, Some(http::DEFAULT_RETRY_MS));
    }

    #[test]
    fn wrapped_statuses_models_and_absent_buckets() {
        let body = json!({"data": {
            "current_subscribe_title": "Plus",
            "base_resp": {"status_code": 0},
            "model_remains": [
                {"model_name": "general", "current_interval_status": 2,
                 "start_time": 0, "end_time": 0,
                 "current_weekly_remaining_percent": "40", "weekly_end_time": 1_796_515_200_000_i64},
                {"model_name": "speech-hd", "current_interval_status": 3, "current_interval_total_count": 5,
                 "current_weekly_status": 1},
                {"model_name": "video", "current_interval_total_count": 0, "current_interval_status": 3,
                 "current_weekly_total_count": 0, "current_weekly_status": 3},
                {"current_interval_remaining_percent": 10}
            ]
        }});
        let out = parse(&body, 0, false).unwrap();
        assert_eq!(out.plan.as_deref(), Some("Plus"));
        let got: Vec<_> = out
            .snapshots
            .iter()
            .map(|s| {
                (
                    s.id.as_str(),
                    s.model_id(),
                    s.remaining_ratio,
                    s.unlimited,
                    s.resets_at,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("5h", "default", Some(0.0), false, None),
                ("7d", "default", Some(0.4), false, Some(1_796_515_200_000)),
                ("5h", "speech-hd", None, true, None),
            ],
            "status 2 = exhausted, 3 = unlimited; a bucket with nothing in the plan is skipped"
        );
        assert!(out.extra_quotas.is_empty());
        assert_eq!(
            out.snapshots[0].warnings,
            [
                "model_remains[1] (7d): no remaining percent, counts or status",
                "model_remains[3]: no `model_name`"
            ]
        );
    }

    #[test]
    fn ids_are_the_lanes_not_the_measured_spans() {
        // Two polls of one account: the first while the interval ends at the weekly end (a
        // 4-hour span), the second with the times missing. Every id stays.
        let first = json!({"model_remains": [{"model_name": "general",
            "start_time": 1_796_500_800_000_i64, "end_time": 1_796_515_200_000_i64,
            "current_interval_remaining_percent": 50,
            "weekly_start_time": 1_795_910_400_000_i64, "weekly_end_time": 1_796_515_200_000_i64,
            "current_weekly_remaining_percent": 20}]});
        let second = json!({"model_remains": [{"model_name": "general",
            "current_interval_remaining_percent": 90, "current_weekly_remaining_percent": 19}]});
        let ids = |b: &Value, now| {
            parse(b, now, false)
                .unwrap()
                .snapshots
                .iter()
                .map(|s| (s.id.clone(), s.duration_secs))
                .collect::<Vec<_>>()
        };
        let want = vec![
            ("5h".to_string(), Some(FIVE_HOURS)),
            ("7d".to_string(), Some(SEVEN_DAYS)),
        ];
        assert_eq!(ids(&first, 1_796_501_000_000), want);
        assert_eq!(ids(&second, 1_796_600_000_000), want);
    }

    #[test]
    fn the_coding_models_bucket_is_the_plans_quota() {
        let body = json!({"model_remains": [
            {"model_name": "MiniMax-M2.7", "current_interval_remaining_percent": 10},
            {"model_name": "MiniMax-M*", "current_interval_remaining_percent": 20},
            {"model_name": "speech-hd", "current_interval_remaining_percent": 30}]});
        let got: Vec<_> = parse(&body, 0, false)
            .unwrap()
            .snapshots
            .iter()
            .map(|s| (s.model_id().to_string(), s.remaining_ratio))
            .collect();
        assert_eq!(
            got,
            [
                ("default".to_string(), Some(0.1)),
                ("MiniMax-M*".to_string(), Some(0.2)),
                ("speech-hd".to_string(), Some(0.3)),
            ]
        );
    }

    #[test]
    fn counts_without_percentages_by_host() {
        let body = json!({"model_remains": [{"model_name": "general",
            "current_interval_total_count": 4500, "current_interval_usage_count": 4430,
            "current_weekly_total_count": 45000, "current_weekly_usage_count": 44895}]});
        let ratios = |cn| {
            parse(&body, 0, cn)
                .unwrap()
                .snapshots
                .iter()
                .map(|s| (s.remaining_ratio.unwrap() * 1000.0).round() / 1000.0)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            ratios(false),
            [0.984, 0.998],
            "global: the count is what is left"
        );
        assert_eq!(
            ratios(true),
            [0.016, 0.002],
            "China: the count is what was used"
        );
        // A count outside its total is not a reading.
        let bad = json!({"model_remains": [{"model_name": "general",
            "current_interval_total_count": 10, "current_interval_usage_count": 11,
            "current_weekly_remaining_percent": 50}]});
        let out = parse(&bad, 0, false).unwrap();
        assert_eq!(out.snapshots.len(), 1);
        assert_eq!(out.snapshots[0].warnings.len(), 1);
    }

    #[test]
    fn wrong_shapes_are_shape_errors() {
        assert!(matches!(
            parse(&json!({"base_resp": {"status_code": 0}}), 0, false),
            Err(WireError::Shape(_))
        ));
        assert!(matches!(
            parse(&json!({"model_remains": {}}), 0, false),
            Err(WireError::Shape(_))
        ));
    }

    #[test]
    fn a_pay_as_you_go_key_reads_its_balance_in_the_hosts_currency() {
        let body = json!({"available_amount": "12.50", "cash_balance": "10.00", "voucher_balance": "2.50",
            "credit_balance": "0", "owed_amount": "0", "balance_alert_switch": false,
            "balance_alert_threshold": "0", "base_resp": {"status_code": 0, "status_msg": ""}});
        for (cn, unit) in [(false, "USD"), (true, "CNY")] {
            let out = parse(&body, 0, cn).unwrap();
            assert_eq!(out.snapshots.len(), 1);
            assert_eq!(out.snapshots[0].id, "balance");
            assert_eq!(out.snapshots[0].remaining, Some(12.5));
            assert_eq!(out.extra_quotas[0].kind, QuotaKind::Balance);
            assert_eq!(out.extra_quotas[0].unit.as_deref(), Some(unit));
        }
        assert!(matches!(
            parse(&json!({"available_amount": "lots"}), 0, false),
            Err(WireError::Shape(_))
        ));
        let creds = crate::credentials::Credentials::new(
            "sk-api-abc",
            crate::credentials::CredentialKind::ApiKey,
        );
        for cn in [false, true] {
            let urls: Vec<String> = MiniMax { cn }
                .requests(&RequestContext {
                    base_url: "https://h",
                    credentials: &creds,
                    account: &Default::default(),
                })
                .into_iter()
                .map(|r| r.url)
                .collect();
            assert_eq!(urls, [format!("https://h{BALANCE}")]);
        }
    }

    #[test]
    fn api_key_only_with_each_hosts_variable_and_paths() {
        for (cn, var) in [(false, "MINIMAX_API_KEY"), (true, "MINIMAX_CN_API_KEY")] {
            let rule = MiniMax { cn }.auth();
            assert!(rule.api_key && rule.oauth_field.is_none());
            assert_eq!(rule.env, [var]);
        }
        let creds =
            crate::credentials::Credentials::new("k", crate::credentials::CredentialKind::ApiKey);
        let paths = |cn| {
            MiniMax { cn }
                .requests(&RequestContext {
                    base_url: "https://h",
                    credentials: &creds,
                    account: &Default::default(),
                })
                .into_iter()
                .map(|r| r.url)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            paths(false),
            [
                format!("https://h{TOKEN_PLAN}"),
                format!("https://h{CODING_PLAN}")
            ]
        );
        assert_eq!(
            paths(true),
            [format!("https://h{TOKEN_PLAN}")],
            "coding_plan is global-only"
        );
    }
}
