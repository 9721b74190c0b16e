//! Fireworks (`fireworks`): the account slug from GET /v1/accounts, then GET
//! /v1/accounts/{slug}/billing/summary for the trailing 30 days, Bearer with the API key
//! both times. Spend only (no balance, cap or reset in the API): `lineItems[].totalCost` in
//! google.type.Money (`units` a string, `nanos` 1e-9), added up per currency, never across
//! currencies. Costs are daily and `endTime` is exclusive, so the range ends tomorrow. A key
//! that sees several accounts is not guessed for. Inference responses also carry per-minute
//! `x-ratelimit-*-requests` headers.

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use super::ratelimit::{self, Dialect};
use super::shape::{error_in_body, finish, number};
use super::{
    spend, Account, Headers, HttpRequest, ParseContext, RequestContext, Wire, WireConfig, WireError,
};
use crate::credentials::{AuthRule, Credentials};
use crate::model::{ErrorKind, FetchError, FetchOutcome, QuotaDefinition};

const ACCOUNTS: &str = "/v1/accounts";
const DAYS: i64 = 30;

pub struct Fireworks;

/// `30d` for dollars, `30d-<currency>` for any other currency.
fn window_id(currency: &str) -> String {
    if currency == "USD" {
        "30d".into()
    } else {
        format!("30d-{}", currency.to_ascii_lowercase())
    }
}

impl Wire for Fireworks {
    fn quotas(&self, _config: &WireConfig) -> Vec<QuotaDefinition> {
        vec![spend::quota("30d", "USD")]
    }

    fn auth(&self) -> AuthRule {
        AuthRule {
            env: &["FIREWORKS_API_KEY"],
            ..AuthRule::API_KEY
        }
    }

    fn account_request(&self, base_url: &str, credentials: &Credentials) -> Option<HttpRequest> {
        Some(accounts_request(base_url, credentials))
    }

    fn parse_account(&self, body: &[u8]) -> Account {
        let slugs = serde_json::from_slice(body)
            .map(|v: Value| slugs(&v))
            .unwrap_or_default();
        Account {
            project: (slugs.len() == 1).then(|| slugs[0].clone()),
            ..Account::default()
        }
    }

    /// Without one account to ask about, the list is asked again so `parse` can say why.
    fn requests(&self, ctx: &RequestContext) -> Vec<HttpRequest> {
        let Some(slug) = &ctx.account.project else {
            return vec![accounts_request(ctx.base_url, ctx.credentials)];
        };
        let (start, end) = range(crate::clock::wall_clock_ms());
        vec![HttpRequest::get(format!(
            "{}{ACCOUNTS}/{slug}/billing/summary?startTime={start}&endTime={end}",
            ctx.base_url
        ))
        .bearer(&ctx.credentials.access_token)
        .header("Accept", "application/json")]
    }

    fn parse(&self, body: &[u8], ctx: &ParseContext) -> Result<FetchOutcome, WireError> {
        let body: Value = serde_json::from_slice(body)?;
        if ctx.account.project.is_none() {
            return Err(WireError::Service(no_single_account(&body)));
        }
        parse(&body)
    }

    fn parse_headers(&self, _status: u16, headers: &Headers, now_ms: i64) -> Option<FetchOutcome> {
        ratelimit::parse(headers, Dialect::OPENAI, now_ms)
    }
}

fn accounts_request(base_url: &str, credentials: &Credentials) -> HttpRequest {
    HttpRequest::get(format!("{base_url}{ACCOUNTS}"))
        .bearer(&credentials.access_token)
        .header("Accept", "application/json")
}

/// The trailing 30 days, whole UTC days, the end exclusive (tomorrow 00:00).
fn range(now_ms: i64) -> (String, String) {
    let today = DateTime::<Utc>::from_timestamp_millis(now_ms)
        .unwrap_or_default()
        .date_naive();
    let day = |d: chrono::NaiveDate| format!("{}T00:00:00Z", d.format("%Y-%m-%d"));
    (
        day(today - Duration::days(DAYS - 1)),
        day(today + Duration::days(1)),
    )
}

/// Account slugs (`accounts/<slug>` names) the key can see; names that are not a plain
/// slug are not put in a URL.
fn slugs(body: &Value) -> Vec<String> {
    body.get("accounts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|a| a.get("name")?.as_str()?.strip_prefix("accounts/"))
        .filter(|s| {
            !s.is_empty()
                && s.len() <= 64
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(str::to_string)
        .collect()
}

fn no_single_account(body: &Value) -> FetchError {
    if let Some(e) = error_in_body(body) {
        return e;
    }
    let message = match slugs(body).len() {
        0 => "the key sees no Fireworks account".to_string(),
        1 => "the account list answered only now; the spend follows on the next poll".to_string(),
        n => {
            format!("the key sees {n} accounts and spend is per account; use a key of one account")
        }
    };
    FetchError::new(ErrorKind::Provider, message)
}

/// One Money value: `units` (int64, usually a string) plus `nanos`.
fn money(v: &Value) -> Option<(String, f64)> {
    let currency = v
        .get("currencyCode")
        .and_then(Value::as_str)
        .map(|c| c.trim().to_ascii_uppercase())
        .filter(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_alphabetic()))?;
    let units = match v.get("units") {
        None | Some(Value::Null) => 0.0,
        u => number(u)?,
    };
    let nanos = match v.get("nanos") {
        None | Some(Value::Null) => 0.0,
        n => number(n)?,
    };
    Some((currency, units + nanos / 1e9))
}

pub fn parse(body: &Value) -> Result<FetchOutcome, WireError> {
    if let Some(e) = error_in_body(body) {
        return Err(WireError::Service(e));
    }
    let items = body
        .get("lineItems")
        .and_then(Value::as_array)
        .ok_or_else(|| WireError::Shape("`lineItems` is not a list".into()))?;
    let mut totals: Vec<(String, f64)> = Vec::new();
    let mut unreadable = 0;
    for item in items {
        let Some((currency, amount)) = item.get("totalCost").and_then(money) else {
            unreadable += 1;
            continue;
        };
        match totals.iter_mut().find(|(c, _)| *c == currency) {
            Some((_, sum)) => *sum += amount,
            None => totals.push((currency, amount)),
        }
    }
    // An account that spent nothing has no line items: it spent $0.
    if totals.is_empty() && unreadable == 0 {
        totals.push(("USD".into(), 0.0));
    }
    let mut outcome = FetchOutcome::default();
    for (currency, amount) in totals {
        let id = window_id(&currency);
        if id != "30d" {
            outcome.extra_quotas.push(spend::quota(&id, &currency));
        }
        outcome.snapshots.push(spend::snapshot(
            &id,
            (amount * 1e9).round() / 1e9,
            &currency,
        ));
    }
    let warnings = if unreadable > 0 {
        vec![format!(
            "{unreadable} of {} `lineItems` have no readable `totalCost`; the spend leaves them out",
            items.len()
        )]
    } else {
        Vec::new()
    };
    finish(outcome, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fixture() -> Value {
        serde_json::from_str(include_str!(
            "../../fixtures/current/fireworks-billing-summary.json"
        ))
        .unwrap()
    }

    #[test]
    fn fixture_thirty_day_spend_in_dollars() {
        let out = parse(&fixture()).unwrap();
        let s = &out.snapshots[0];
        assert_eq!(s.id, "30d");
        assert_eq!(s.used, Some(1.525548296));
        assert_eq!(s.unit.as_deref(), Some("USD"));
        assert!(out.extra_quotas.is_empty() && s.warnings.is_empty());
    }

    #[test]
    fn currencies_apart_and_unreadable_items_warned() {
        let body = json!({"lineItems": [
            {"totalCost": {"currencyCode": "USD", "units": "2", "nanos": 500000000}},
            {"totalCost": {"currencyCode": "EUR", "units": 1}},
            {"totalCost": {"currencyCode": "USD", "nanos": 250000000}},
            {"totalCost": {"currencyCode": "USD", "units": "many"}},
            {"category": "no cost"},
        ]});
        let out = parse(&body).unwrap();
        let got: Vec<_> = out
            .snapshots
            .iter()
            .map(|s| (s.id.as_str(), s.used, s.unit.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("30d", Some(2.75), Some("USD")),
                ("30d-eur", Some(1.0), Some("EUR"))
            ]
        );
        assert_eq!(out.extra_quotas[0].id, "30d-eur");
        assert!(out.snapshots[0].warnings[0].starts_with("2 of 5"));
        assert_eq!(
            parse(&json!({"lineItems": []})).unwrap().snapshots[0].used,
            Some(0.0)
        );
        assert!(parse(&json!({"lineItems": [{"x": 1}]})).is_err());
        assert!(parse(&json!({"usageBuckets": []})).is_err());
    }

    #[test]
    fn one_account_or_an_explanation() {
        let one = json!({"accounts": [{"name": "accounts/acme", "displayName": "Acme"}]});
        let acct = Fireworks.parse_account(one.to_string().as_bytes());
        assert_eq!(acct.project.as_deref(), Some("acme"));
        let two = json!({"accounts": [{"name": "accounts/a"}, {"name": "accounts/b"}]});
        assert_eq!(
            Fireworks.parse_account(two.to_string().as_bytes()).project,
            None
        );
        assert!(no_single_account(&two).message.contains("2 accounts"));
        assert!(no_single_account(&json!({"accounts": []}))
            .message
            .contains("no Fireworks account"));
        let odd = json!({"accounts": [{"name": "accounts/../x"}]});
        assert_eq!(
            Fireworks.parse_account(odd.to_string().as_bytes()).project,
            None
        );
        assert_eq!(Fireworks.parse_account(b"not json").project, None);
    }

    #[test]
    fn thirty_whole_days_ending_tomorrow() {
        let now = super::super::iso_to_ms("2026-12-01T15:30:00Z").unwrap();
        assert_eq!(
            range(now),
            ("2026-11-02T00:00:00Z".into(), "2026-12-02T00:00:00Z".into())
        );
        assert_eq!(Fireworks.auth().env, ["FIREWORKS_API_KEY"]);
    }
}
