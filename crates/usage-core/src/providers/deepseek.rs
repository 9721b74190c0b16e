//! DeepSeek (`deepseek`): GET api.deepseek.com/user/balance with Bearer. A prepaid balance per
//! currency (`balance_infos[]`), decimal strings in major units; one balance window each.

use serde_json::Value;

use super::shape::{finish, number, push_extra};
use super::{HttpRequest, ParseContext, RequestContext, Wire, WireConfig, WireError};
use crate::credentials::AuthRule;
use crate::model::{FetchOutcome, QuotaDefinition, QuotaKind, UsageSnapshot};

const PATH: &str = "/user/balance";

/// The currencies DeepSeek bills in; another one still gets a window of its own.
const CURRENCIES: [&str; 2] = ["USD", "CNY"];
const DECLARED: [&str; 2] = ["balance-usd", "balance-cny"];

pub struct DeepSeek;

fn balance_quota(currency: &str) -> QuotaDefinition {
    QuotaDefinition::new(
        format!("balance-{}", currency.to_ascii_lowercase()),
        QuotaKind::Balance,
    )
    .with_unit(currency)
}

impl Wire for DeepSeek {
    fn quotas(&self, _config: &WireConfig) -> Vec<QuotaDefinition> {
        CURRENCIES.iter().map(|c| balance_quota(c)).collect()
    }

    fn auth(&self) -> AuthRule {
        AuthRule {
            env: &["DEEPSEEK_API_KEY"],
            ..AuthRule::API_KEY
        }
    }

    fn requests(&self, ctx: &RequestContext) -> Vec<HttpRequest> {
        vec![HttpRequest::get(format!("{}{PATH}", ctx.base_url))
            .bearer(&ctx.credentials.access_token)
            .header("Accept", "application/json")]
    }

    fn parse(&self, body: &[u8], _ctx: &ParseContext) -> Result<FetchOutcome, WireError> {
        parse(&serde_json::from_slice(body)?)
    }
}

pub fn parse(body: &Value) -> Result<FetchOutcome, WireError> {
    let infos = body
        .get("balance_infos")
        .and_then(Value::as_array)
        .ok_or_else(|| WireError::Shape("`balance_infos` is not a list".into()))?;
    // The service's own verdict: false means calls fail whatever the numbers say.
    let unavailable = body.get("is_available").and_then(Value::as_bool) == Some(false);
    let mut outcome = FetchOutcome::default();
    let mut warnings = Vec::new();
    for (i, info) in infos.iter().enumerate() {
        let Some(currency) = info
            .get("currency")
            .and_then(Value::as_str)
            .map(|c| c.trim().to_ascii_uppercase())
            .filter(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_alphabetic()))
        else {
            warnings.push(format!("balance_infos[{i}]: no ISO `currency`"));
            continue;
        };
        let total = number(info.get("total_balance")).or_else(|| {
            Some(number(info.get("granted_balance"))? + number(info.get("topped_up_balance"))?)
        });
        let Some(total) = total else {
            warnings.push(format!(
                "balance_infos[{i}] ({currency}): no `total_balance`"
            ));
            continue;
        };
        let quota = balance_quota(&currency);
        let mut s = UsageSnapshot::new(quota.id.clone());
        s.remaining = Some(total);
        s.unit = Some(currency);
        if unavailable {
            s.remaining_ratio = Some(0.0);
        }
        push_extra(&mut outcome, &DECLARED, quota);
        outcome.snapshots.push(s);
    }
    finish(outcome, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fixture() -> Value {
        serde_json::from_str(include_str!("../../fixtures/current/deepseek-balance.json")).unwrap()
    }

    #[test]
    fn fixture_one_usd_balance() {
        let out = parse(&fixture()).unwrap();
        assert_eq!(out.snapshots.len(), 1);
        let s = &out.snapshots[0];
        assert_eq!(s.id, "balance-usd");
        assert_eq!((s.remaining, s.unit.as_deref()), (Some(37.42), Some("USD")));
        assert_eq!(s.remaining_ratio, None);
        assert!(out.extra_quotas.is_empty());
    }

    #[test]
    fn one_window_per_currency_and_the_service_verdict() {
        let body = json!({"is_available": false, "balance_infos": [
            {"currency": "CNY", "total_balance": "0.00"},
            {"currency": "usd", "granted_balance": "1.5", "topped_up_balance": 2},
            {"currency": "EUR", "total_balance": "4"},
            {"currency": "$$$", "total_balance": "4"},
            {"currency": "USD", "total_balance": "lots"},
        ]});
        let out = parse(&body).unwrap();
        let got: Vec<_> = out
            .snapshots
            .iter()
            .map(|s| {
                (
                    s.id.as_str(),
                    s.remaining,
                    s.unit.as_deref(),
                    s.remaining_ratio,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("balance-cny", Some(0.0), Some("CNY"), Some(0.0)),
                ("balance-usd", Some(3.5), Some("USD"), Some(0.0)),
                ("balance-eur", Some(4.0), Some("EUR"), Some(0.0)),
            ]
        );
        assert_eq!(out.extra_quotas.len(), 1);
        assert_eq!(out.extra_quotas[0].kind, QuotaKind::Balance);
        assert_eq!(
            out.snapshots[0].warnings,
            [
                "balance_infos[3]: no ISO `currency`",
                "balance_infos[4] (USD): no `total_balance`"
            ]
        );
        assert!(parse(&json!({"is_available": true})).is_err());
    }

    #[test]
    fn api_key_only() {
        let rule = DeepSeek.auth();
        assert!(rule.api_key && rule.oauth_field.is_none());
        assert_eq!(rule.env, ["DEEPSEEK_API_KEY"]);
    }
}
