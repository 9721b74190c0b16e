//! Google Antigravity: POST /v1internal:retrieveUserQuotaSummary `{}` (the daily host
//! first, then production): `groups[].buckets[]`, one window per `bucketId` (`gemini-5h`,
//! `gemini-weekly`, `3p-5h`, `3p-weekly`), `remainingFraction` 0..1 remaining; a bucket
//! without it is unknown and skipped. Older accounts and free tiers (403
//! SUBSCRIPTION_REQUIRED) fall back to POST /v1internal:fetchAvailableModels `{"project": id}`:
//! `models` is a map (or an array of objects with `model`/`id`), one window per model, and
//! a model with `quotaInfo` but no `remainingFraction` is exhausted.

use serde_json::Value;

use super::{
    google, iso_to_ms, pct_quota, shape, Account, HttpRequest, ParseContext, RequestContext, Wire,
    WireConfig, WireError,
};
use crate::credentials::Credentials;
use crate::model::{
    ErrorKind, FetchError, FetchOutcome, QuotaDefinition, QuotaKind, UsageSnapshot,
};

const SUMMARY_PATH: &str = "/v1internal:retrieveUserQuotaSummary";
const MODELS_PATH: &str = "/v1internal:fetchAvailableModels";
const USER_AGENT: &str = "antigravity/1.11.9 linux/x64";
/// The production host (the built-in's default base URL) and the daily host peers ask first.
const PROD_HOST: &str = "https://cloudcode-pa.googleapis.com";
const DAILY_HOST: &str = "https://daily-cloudcode-pa.googleapis.com";

const FIVE_HOURS: f64 = 18_000.0;
const SEVEN_DAYS: f64 = 604_800.0;
/// The summary's buckets as peers know them, with their lengths.
const BUCKETS: [(&str, f64); 4] = [
    ("gemini-5h", FIVE_HOURS),
    ("gemini-weekly", SEVEN_DAYS),
    ("3p-5h", FIVE_HOURS),
    ("3p-weekly", SEVEN_DAYS),
];

pub struct Antigravity;

impl Wire for Antigravity {
    fn quotas(&self, _config: &WireConfig) -> Vec<QuotaDefinition> {
        let mut quotas: Vec<QuotaDefinition> = BUCKETS
            .iter()
            .map(|(id, secs)| pct_quota(id, Some(*secs)))
            .collect();
        quotas.push(QuotaDefinition::new("quota", QuotaKind::Percentage));
        quotas
    }

    /// The third-party pi-antigravity extension logs in under `antigravity` (pi 0.71 dropped
    /// the built-in `google-antigravity` login).
    fn auth_aliases(&self) -> &'static [&'static str] {
        &["antigravity"]
    }

    fn account_request(&self, base_url: &str, creds: &Credentials) -> Option<HttpRequest> {
        Some(google::account_request(
            base_url,
            creds,
            "ANTIGRAVITY",
            USER_AGENT,
        ))
    }

    fn parse_account(&self, body: &[u8]) -> Account {
        google::parse_account(body)
    }

    /// The summary on the daily host, then production (an overridden base URL gets both
    /// asks, once); the per-model endpoint last, as the fallback.
    fn requests(&self, ctx: &RequestContext) -> Vec<HttpRequest> {
        let hosts: &[&str] = if ctx.base_url == PROD_HOST {
            &[DAILY_HOST, PROD_HOST]
        } else {
            &[ctx.base_url]
        };
        let token = &ctx.credentials.access_token;
        let mut requests: Vec<HttpRequest> = hosts
            .iter()
            .map(|host| {
                HttpRequest::post_json(format!("{host}{SUMMARY_PATH}"), serde_json::json!({}))
                    .bearer(token)
                    .header("User-Agent", USER_AGENT)
                    .header("Accept", "application/json")
            })
            .collect();
        requests.push(
            HttpRequest::post_json(
                format!("{}{MODELS_PATH}", ctx.base_url),
                google::project_body(ctx.credentials, ctx.account),
            )
            .bearer(token)
            .header("User-Agent", USER_AGENT),
        );
        requests
    }

    /// A plan without the summary (free tier) answers 403 SUBSCRIPTION_REQUIRED: not a bad
    /// login, so the per-model endpoint is still asked.
    fn service_error(&self, status: u16, body: &[u8]) -> Option<FetchError> {
        let says = |needle: &[u8]| body.windows(needle.len()).any(|w| w == needle);
        (status == 403 && says(b"SUBSCRIPTION_REQUIRED")).then(|| {
            FetchError::new(
                ErrorKind::Provider,
                "HTTP 403, the quota summary needs a paid plan (SUBSCRIPTION_REQUIRED)",
            )
        })
    }

    fn parse(&self, body: &[u8], _ctx: &ParseContext) -> Result<FetchOutcome, WireError> {
        let body: Value = serde_json::from_slice(body)?;
        if let Some(e) = shape::error_in_body(&body) {
            return Err(WireError::Service(e));
        }
        // Which endpoint answered shows in the body: the summary has `groups`.
        let summary = body
            .get("response")
            .filter(|r| r.is_object())
            .unwrap_or(&body);
        if summary.get("groups").is_some() {
            return parse_summary(summary);
        }
        parse(&body).map_err(WireError::Shape)
    }
}

/// The length a name gives: its last words (a trailing "limit" aside) must be a cadence —
/// `5h`, `session`, `5 hour`, `five hour` for 5 h; `weekly`, `week`, `7d` for 7 d. A cadence
/// word inside other words (`session-history`) names nothing.
fn cadence(name: &str) -> Option<f64> {
    let lower = name.to_ascii_lowercase();
    let mut words: Vec<&str> = lower
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    if words.last() == Some(&"limit") {
        words.pop();
    }
    let n = words.len();
    let last = *words.last()?;
    let pair = (n >= 2).then(|| (words[n - 2], last));
    if matches!(last, "5h" | "session") || matches!(pair, Some(("5" | "five", "hour"))) {
        Some(FIVE_HOURS)
    } else if matches!(last, "weekly" | "week" | "7d") {
        Some(SEVEN_DAYS)
    } else {
        None
    }
}

/// A bucket's length: the known ids first, then a cadence in the id, then in `window` (whose
/// spelling peers disagree on: "5h", "FIVE_HOUR", "weekly", "WEEKLY").
fn bucket_length(id: &str, window: Option<&str>) -> Option<f64> {
    BUCKETS
        .iter()
        .find(|(known, _)| *known == id)
        .map(|(_, secs)| *secs)
        .or_else(|| cadence(id))
        .or_else(|| window.and_then(cadence))
}

/// The fraction left: `remainingFraction` at the bucket, or nested in `remaining` — plainly
/// (the local language server) or as the protobuf oneof `{"case": "remainingFraction",
/// "value": …}`.
fn remaining_fraction(bucket: &Value) -> Option<f64> {
    let remaining = bucket.get("remaining");
    shape::number(bucket.get("remainingFraction"))
        .or_else(|| shape::number(remaining.and_then(|r| r.get("remainingFraction"))))
        .or_else(|| {
            let r = remaining?;
            (r.get("case").and_then(Value::as_str) == Some("remainingFraction"))
                .then(|| shape::number(r.get("value")))
                .flatten()
        })
}

/// One bucket of the summary as a window (named by its `bucketId`), or a warning when it
/// cannot be read. A disabled bucket or one without a fraction is unknown: no window, and
/// no warning unless a fraction was sent but cannot be read.
fn read_bucket(at: &str, bucket: &Value, outcome: &mut FetchOutcome, warnings: &mut Vec<String>) {
    if !bucket.is_object() {
        warnings.push(format!("{at}: not an object"));
        return;
    }
    let Some(id) = bucket
        .get("bucketId")
        .and_then(Value::as_str)
        .and_then(shape::sanitize_id)
    else {
        warnings.push(format!("{at}: no bucketId"));
        return;
    };
    // A switched-off bucket is unknown, whatever fraction it still carries.
    if bucket.get("disabled").and_then(Value::as_bool) == Some(true) {
        return;
    }
    let Some(fraction) = remaining_fraction(bucket) else {
        if bucket
            .get("remainingFraction")
            .is_some_and(|v| !v.is_null())
        {
            warnings.push(format!("{at}: remainingFraction is not a number"));
        }
        return;
    };
    if !(0.0..=1.0).contains(&fraction) {
        warnings.push(format!("{at}: remainingFraction out of range"));
        return;
    }
    let length = bucket_length(&id, bucket.get("window").and_then(Value::as_str));
    if !BUCKETS.iter().any(|(known, _)| *known == id)
        && !outcome.extra_quotas.iter().any(|q| q.id == id)
    {
        outcome.extra_quotas.push(pct_quota(&id, length));
    }
    let mut s = UsageSnapshot::new(id);
    s.remaining_ratio = Some(fraction);
    s.duration_secs = length;
    s.resets_at = bucket
        .get("resetTime")
        .and_then(Value::as_str)
        .and_then(iso_to_ms);
    // The same bucket twice: the more constrained reading stands.
    match outcome.snapshots.iter_mut().find(|x| x.id == s.id) {
        Some(old) if old.remaining_ratio <= s.remaining_ratio => {}
        Some(old) => *old = s,
        None => outcome.snapshots.push(s),
    }
}

pub fn parse_summary(body: &Value) -> Result<FetchOutcome, WireError> {
    let groups = body
        .get("groups")
        .and_then(Value::as_array)
        .ok_or_else(|| WireError::Shape("`groups` is not a list".into()))?;
    let mut outcome = FetchOutcome::default();
    let mut warnings = Vec::new();
    let mut buckets_seen = 0;
    for (g, group) in groups.iter().enumerate() {
        let Some(buckets) = group.get("buckets").and_then(Value::as_array) else {
            warnings.push(format!("groups[{g}]: no bucket list"));
            continue;
        };
        for (b, bucket) in buckets.iter().enumerate() {
            buckets_seen += 1;
            read_bucket(
                &format!("groups[{g}].buckets[{b}]"),
                bucket,
                &mut outcome,
                &mut warnings,
            );
        }
    }
    // Some answers carry top-level `buckets` beside the groups: read when the groups give
    // nothing.
    if outcome.snapshots.is_empty() {
        for (b, bucket) in body
            .get("buckets")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            buckets_seen += 1;
            read_bucket(
                &format!("buckets[{b}]"),
                bucket,
                &mut outcome,
                &mut warnings,
            );
        }
    }
    // Buckets, none of them readable: the per-model endpoint is asked instead. No bucket at
    // all is the summary's own answer (an account without limits to show).
    if outcome.snapshots.is_empty() && buckets_seen > 0 {
        let why = if warnings.is_empty() {
            "no bucket has a usable remainingFraction".to_string()
        } else {
            warnings.join("; ")
        };
        return Err(WireError::Shape(why));
    }
    shape::finish(outcome, warnings)
}

fn snapshot(model: &str, info: &Value) -> Option<UsageSnapshot> {
    let quota = info.get("quotaInfo")?.as_object()?;
    let mut s = UsageSnapshot::new("quota");
    s.model_id = Some(model.to_string());
    s.remaining_ratio = Some(
        quota
            .get("remainingFraction")
            .and_then(Value::as_f64)
            .unwrap_or(0.0),
    );
    s.resets_at = quota
        .get("resetTime")
        .and_then(Value::as_str)
        .and_then(iso_to_ms);
    Some(s)
}

pub fn parse(body: &Value) -> Result<FetchOutcome, String> {
    let mut outcome = FetchOutcome::default();
    match body.get("models") {
        Some(Value::Object(models)) => {
            outcome.snapshots = models
                .iter()
                .filter_map(|(name, info)| snapshot(name, info))
                .collect();
        }
        Some(Value::Array(models)) => {
            outcome.snapshots = models
                .iter()
                .filter_map(|info| {
                    let name = info.get("model").or_else(|| info.get("id"))?.as_str()?;
                    snapshot(name, info)
                })
                .collect();
        }
        None | Some(Value::Null) => {}
        Some(_) => return Err("`models` is neither an object nor an array".into()),
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::CredentialKind;

    const SUMMARY: &[u8] = include_bytes!("../../fixtures/current/antigravity-quota-summary.json");

    fn by<'a>(out: &'a FetchOutcome, id: &str) -> &'a UsageSnapshot {
        out.snapshots.iter().find(|s| s.id == id).unwrap()
    }

    fn parse_body(body: &[u8]) -> Result<FetchOutcome, WireError> {
        let creds = Credentials::new("t", CredentialKind::OAuth);
        let account = Account::default();
        Antigravity.parse(
            body,
            &ParseContext {
                now_ms: 0,
                credentials: &creds,
                account: &account,
                attempt: 0,
            },
        )
    }

    #[test]
    fn summary_one_window_per_bucket_with_lengths() {
        let out = parse_body(SUMMARY).unwrap();
        let ids: Vec<_> = out.snapshots.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["gemini-5h", "gemini-weekly", "3p-5h", "3p-weekly"]);
        assert!(out.snapshots.iter().all(|s| s.model_id.is_none()));
        let g5 = by(&out, "gemini-5h");
        assert_eq!(g5.remaining_ratio, Some(0.62));
        assert_eq!(g5.duration_secs, Some(FIVE_HOURS));
        assert_eq!(g5.resets_at, iso_to_ms("2026-12-01T03:00:00Z"));
        assert_eq!(by(&out, "3p-5h").remaining_ratio, Some(0.4));
        assert_eq!(by(&out, "3p-weekly").remaining_ratio, Some(1.0));
        assert_eq!(by(&out, "gemini-weekly").duration_secs, Some(SEVEN_DAYS));
        assert!(out.extra_quotas.is_empty());
    }

    #[test]
    fn summary_missing_fraction_is_unknown_and_variants_are_read() {
        let body = serde_json::json!({"response": {"groups": [{"buckets": [
            {"bucketId": "gemini-5h", "resetTime": "2026-12-01T03:00:00Z"},
            {"bucketId": "gemini-weekly", "remaining": {"remainingFraction": 0.3}},
            {"bucketId": "Agent-Daily", "window": "DAILY", "remainingFraction": "0.5"},
            {"bucketId": "x-month", "window": "WEEKLY", "remainingFraction": 0.9},
            {"bucketId": "bad", "remainingFraction": 7},
            {"remainingFraction": 0.1}
        ]}, {"displayName": "empty"}]}});
        let out = parse_body(&serde_json::to_vec(&body).unwrap()).unwrap();
        let ids: Vec<_> = out.snapshots.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(
            ids,
            ["gemini-weekly", "agent-daily", "x-month"],
            "a bucket without remainingFraction is skipped, not exhausted"
        );
        assert_eq!(by(&out, "gemini-weekly").remaining_ratio, Some(0.3));
        assert_eq!(by(&out, "agent-daily").duration_secs, None);
        assert_eq!(by(&out, "x-month").duration_secs, Some(SEVEN_DAYS));
        assert_eq!(out.extra_quotas.len(), 2);
        assert_eq!(
            out.snapshots[0].warnings,
            [
                "groups[0].buckets[4]: remainingFraction out of range",
                "groups[0].buckets[5]: no bucketId",
                "groups[1]: no bucket list"
            ]
        );
        assert!(matches!(
            parse_body(br#"{"groups": 3}"#),
            Err(WireError::Shape(_))
        ));
    }

    #[test]
    fn cadences_oneof_fractions_and_disabled_buckets() {
        for (id, secs) in [
            ("gemini_session", Some(FIVE_HOURS)),
            ("gemini-5h limit", Some(FIVE_HOURS)),
            ("gemini-five-hour", Some(FIVE_HOURS)),
            ("gemini 5-hour", Some(FIVE_HOURS)),
            ("3p_weekly", Some(SEVEN_DAYS)),
            ("gemini-session-history", None),
            ("weekly-report", None),
        ] {
            assert_eq!(bucket_length(id, None), secs, "{id}");
        }
        assert_eq!(bucket_length("x", Some("FIVE_HOUR")), Some(FIVE_HOURS));
        let body = serde_json::json!({"groups": [{"buckets": [
            {"bucketId": "gemini-weekly", "remaining": {"case": "remainingFraction", "value": 0.5}},
            {"bucketId": "gemini-5h", "disabled": true, "remaining": {"remainingFraction": 0.5}},
            {"bucketId": "3p-5h", "remaining": {"case": "somethingElse", "value": 0.5}}
        ]}]});
        let out = parse_body(&serde_json::to_vec(&body).unwrap()).unwrap();
        let ids: Vec<_> = out.snapshots.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["gemini-weekly"], "disabled is unknown, not 50 %");
        assert_eq!(out.snapshots[0].remaining_ratio, Some(0.5));
        // Buckets but nothing readable: an error, so the per-model endpoint is asked next.
        let none = br#"{"groups": [{"buckets": [{"bucketId": "gemini-5h", "disabled": true, "remaining": {"remainingFraction": 0.5}}]}]}"#;
        assert!(matches!(parse_body(none), Err(WireError::Shape(_))));
        // No bucket at all is an answer of its own.
        assert!(parse_body(br#"{"groups": []}"#)
            .unwrap()
            .snapshots
            .is_empty());
    }

    #[test]
    fn summary_first_on_the_daily_host_then_models_as_the_fallback() {
        let creds = Credentials::new("tok", CredentialKind::OAuth);
        let account = Account {
            plan: None,
            project: Some("p1".into()),
        };
        let ctx = |base| RequestContext {
            base_url: base,
            credentials: &creds,
            account: &account,
        };
        let urls = |base| -> Vec<String> {
            Antigravity
                .requests(&ctx(base))
                .into_iter()
                .map(|r| r.url)
                .collect()
        };
        assert_eq!(
            urls(PROD_HOST),
            [
                "https://daily-cloudcode-pa.googleapis.com/v1internal:retrieveUserQuotaSummary",
                "https://cloudcode-pa.googleapis.com/v1internal:retrieveUserQuotaSummary",
                "https://cloudcode-pa.googleapis.com/v1internal:fetchAvailableModels",
            ]
        );
        assert_eq!(
            urls("http://127.0.0.1:9"),
            [
                "http://127.0.0.1:9/v1internal:retrieveUserQuotaSummary",
                "http://127.0.0.1:9/v1internal:fetchAvailableModels",
            ],
            "an overridden host gets every request"
        );
        let reqs = Antigravity.requests(&ctx(PROD_HOST));
        assert_eq!(reqs[0].json, Some(serde_json::json!({})));
        assert_eq!(reqs[2].json, Some(serde_json::json!({"project": "p1"})));
        assert!(reqs.iter().all(|r| r.post));
    }

    #[test]
    fn subscription_required_is_not_a_bad_login() {
        let body = br#"{"error":{"code":403,"message":"x","status":"PERMISSION_DENIED","details":[{"reason":"SUBSCRIPTION_REQUIRED"}]}}"#;
        let e = Antigravity.service_error(403, body).unwrap();
        assert_eq!(e.kind, ErrorKind::Provider);
        assert!(Antigravity.service_error(403, b"{}").is_none());
        assert!(Antigravity.service_error(401, body).is_none());
    }

    #[test]
    fn fixture_map_with_exhausted_model() {
        let body: Value =
            serde_json::from_str(include_str!("../../fixtures/antigravity-models.json")).unwrap();
        let out = parse(&body).unwrap();
        let by = |m: &str| {
            out.snapshots
                .iter()
                .find(|s| s.model_id.as_deref() == Some(m))
                .unwrap()
        };
        assert_eq!(out.snapshots.len(), 4);
        assert_eq!(by("gemini-3-pro-high").remaining_ratio, Some(0.8));
        assert_eq!(
            by("claude-opus-4-5-thinking").remaining_ratio,
            Some(0.0),
            "missing fraction = exhausted"
        );
        assert_eq!(
            by("claude-sonnet-4-5").resets_at,
            iso_to_ms("2026-11-24T02:00:00Z")
        );
    }

    #[test]
    fn array_shape_and_models_without_quota() {
        let body = serde_json::json!({"models": [
            {"model": "a", "quotaInfo": {"remainingFraction": 0.5}},
            {"id": "b", "quotaInfo": {"remainingFraction": 1}},
            {"id": "no-quota"},
            {"quotaInfo": {"remainingFraction": 1}}
        ]});
        let out = parse(&body).unwrap();
        let models: Vec<_> = out
            .snapshots
            .iter()
            .map(|s| s.model_id.clone().unwrap())
            .collect();
        assert_eq!(models, ["a", "b"]);
        assert!(parse(&serde_json::json!({"models": 3})).is_err());
        assert!(parse(&serde_json::json!({})).unwrap().snapshots.is_empty());
    }
}
