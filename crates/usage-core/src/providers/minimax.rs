//! MiniMax Token/Coding Plan (`minimax` on api.minimax.io, `minimax-cn` on api.minimaxi.com):
//! GET …/remains with Bearer. HTTP 200 even for a bad key: `base_resp.status_code` ≠ 0 is the
//! error. Per bucket an interval and a weekly window, read from the REMAINING percentages,
//! because the counts mean remaining on one host and used on the other.

use serde_json::Value;

use super::shape::{instant_ms, length_id, number, push_pct, FIVE_HOURS, SEVEN_DAYS};
use super::{
    http, pct_quota, HttpRequest, ParseContext, RequestContext, Wire, WireConfig, WireError,
};
use crate::credentials::AuthRule;
use crate::model::{ErrorKind, FetchError, FetchOutcome, QuotaDefinition, UsageSnapshot};

const TOKEN_PLAN: &str = "/v1/token_plan/remains";
const CODING_PLAN: &str = "/v1/api/openplatform/coding_plan/remains";

const DECLARED: [&str; 2] = ["5h", "7d"];

/// The bucket that is the plan's shared text quota; others are per model.
const GENERAL: &str = "general";

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

    /// Token plan first; the older coding-plan path only on the global host (on the China
    /// host it answers every key with an auth error).
    fn requests(&self, ctx: &RequestContext) -> Vec<HttpRequest> {
        let paths: &[&str] = if self.cn {
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
        parse(&serde_json::from_slice(body)?, ctx.now_ms)
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
    prefix: &'a str,
    start: &'a str,
    end: &'a str,
    remains: &'a str,
    total: &'a str,
}

const INTERVAL: Window = Window {
    prefix: "current_interval",
    start: "start_time",
    end: "end_time",
    remains: "remains_time",
    total: "current_interval_total_count",
};

const WEEKLY: Window = Window {
    prefix: "current_weekly",
    start: "weekly_start_time",
    end: "weekly_end_time",
    remains: "weekly_remains_time",
    total: "current_weekly_total_count",
};

fn status(bucket: &Value, w: &Window) -> Option<i64> {
    number(bucket.get(format!("{}_status", w.prefix))).map(|s| s as i64)
}

fn snapshot(bucket: &Value, w: &Window, fallback_id: &str, now: i64) -> Option<UsageSnapshot> {
    let status = status(bucket, w);
    let remaining = number(bucket.get(format!("{}_remaining_percent", w.prefix)));
    let start = instant_ms(bucket.get(w.start));
    let end = instant_ms(bucket.get(w.end));
    let secs = match (start, end) {
        (Some(a), Some(b)) if b > a => Some((b - a) as f64 / 1000.0),
        _ => None,
    };
    let id = secs
        .and_then(length_id)
        .unwrap_or_else(|| fallback_id.to_string());
    let mut s = UsageSnapshot::new(id);
    match (remaining, status) {
        (_, Some(UNLIMITED)) => s.unlimited = true,
        (Some(pct), _) => s.remaining_ratio = Some((pct / 100.0).clamp(0.0, 1.0)),
        (None, Some(EXHAUSTED)) => s.remaining_ratio = Some(0.0),
        (None, _) => return None,
    }
    s.duration_secs = secs;
    // The relative form is immune to clock skew between us and the service.
    s.resets_at = number(bucket.get(w.remains))
        .filter(|ms| *ms >= 0.0)
        .map(|ms| now + ms as i64)
        .or(end);
    Some(s)
}

pub fn parse(body: &Value, now: i64) -> Result<FetchOutcome, WireError> {
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
    for bucket in buckets {
        let Some(name) = bucket.get("model_name").and_then(Value::as_str) else {
            continue;
        };
        // Zero totals and "unlimited" on both windows: a model the plan does not include.
        let absent = [INTERVAL, WEEKLY].iter().all(|w| {
            number(bucket.get(w.total)) == Some(0.0) && status(bucket, w) == Some(UNLIMITED)
        });
        if absent {
            continue;
        }
        for (w, fallback) in [(INTERVAL, "interval"), (WEEKLY, "weekly")] {
            let Some(mut s) = snapshot(bucket, &w, fallback, now) else {
                continue;
            };
            if name != GENERAL {
                s.model_id = Some(name.to_string());
            }
            let secs = s.duration_secs;
            push_pct(&mut outcome, &DECLARED, s, secs);
        }
    }
    Ok(outcome)
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
        let out = parse(&fixture(), 1_000).unwrap();
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
        let Err(WireError::Service(e)) = parse(&body, 0) else {
            panic!("expected a service error")
        };
        assert_eq!(e.kind, ErrorKind::Auth);
        assert!(e.message.contains("1004") && e.message.contains("rejected"));
        let busy = json!({"base_resp": {"status_code": "1002"}});
        let Err(WireError::Service(e)) = parse(&busy, 0) else {
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
        let out = parse(&body, 0).unwrap();
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
                ("interval", "default", Some(0.0), false, None),
                (
                    "weekly",
                    "default",
                    Some(0.4),
                    false,
                    Some(1_796_515_200_000)
                ),
                ("interval", "speech-hd", None, true, None),
            ],
            "status 2 = exhausted, 3 = unlimited; a bucket with nothing in the plan is skipped"
        );
        let extra: Vec<&str> = out.extra_quotas.iter().map(|q| q.id.as_str()).collect();
        assert_eq!(extra, ["interval", "weekly"]);
    }

    #[test]
    fn wrong_shapes_are_shape_errors() {
        assert!(matches!(
            parse(&json!({"base_resp": {"status_code": 0}}), 0),
            Err(WireError::Shape(_))
        ));
        assert!(matches!(
            parse(&json!({"model_remains": {}}), 0),
            Err(WireError::Shape(_))
        ));
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
