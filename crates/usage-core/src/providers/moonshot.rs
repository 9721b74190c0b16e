//! Moonshot platform (`moonshotai` on api.moonshot.ai, `moonshotai-cn` on api.moonshot.cn):
//! GET /v1/users/me/balance with Bearer. A prepaid balance, `data.available_balance` in major
//! units, and its parts (`voucher_balance`, `cash_balance`; cash can go negative). This is the
//! pay-as-you-go key, not Kimi Code.

use serde_json::Value;

use super::shape::{finish, number, service_message};
use super::{HttpRequest, ParseContext, RequestContext, Wire, WireConfig, WireError};
use crate::credentials::AuthRule;
use crate::model::{
    ErrorKind, FetchError, FetchOutcome, QuotaDefinition, QuotaKind, UsageSnapshot,
};

const PATH: &str = "/v1/users/me/balance";

/// One wire for both hosts; `cn` picks the currency the host bills in.
pub struct Moonshot {
    pub cn: bool,
}

impl Moonshot {
    /// The .cn platform bills in yuan, the global one in dollars.
    fn currency(&self) -> &'static str {
        if self.cn {
            "CNY"
        } else {
            "USD"
        }
    }
}

impl Wire for Moonshot {
    fn quotas(&self, _config: &WireConfig) -> Vec<QuotaDefinition> {
        ["balance", "voucher", "cash"]
            .iter()
            .map(|id| QuotaDefinition::new(*id, QuotaKind::Balance).with_unit(self.currency()))
            .collect()
    }

    /// Both ids read the same variable in pi.
    fn auth(&self) -> AuthRule {
        AuthRule {
            env: &["MOONSHOT_API_KEY"],
            ..AuthRule::API_KEY
        }
    }

    fn requests(&self, ctx: &RequestContext) -> Vec<HttpRequest> {
        vec![HttpRequest::get(format!("{}{PATH}", ctx.base_url))
            .bearer(&ctx.credentials.access_token)
            .header("Accept", "application/json")]
    }

    fn parse(&self, body: &[u8], ctx: &ParseContext) -> Result<FetchOutcome, WireError> {
        parse(
            &serde_json::from_slice(body)?,
            &ctx.credentials.access_token,
        )
    }
}

/// The parts of the balance sit on a model entry of their own: a cash deficit covered by
/// vouchers does not stop calls, only the available balance does.
pub const PARTS_MODEL: &str = "parts";

/// Nothing is assumed present: the envelope is checked only where it speaks, the balances may
/// be strings, and without `available_balance` the two parts are added up.
pub fn parse(body: &Value, token: &str) -> Result<FetchOutcome, WireError> {
    let code = number(body.get("code"));
    let failed = body.get("status").and_then(Value::as_bool) == Some(false)
        || code.is_some_and(|c| c != 0.0);
    if failed {
        let detail = match (
            code,
            service_message(
                body.pointer("/error/message")
                    .or_else(|| body.get("message")),
                token,
            ),
        ) {
            (_, Some(m)) => format!(" ({m})"),
            (Some(c), None) => format!(" (code {c})"),
            (None, None) => String::new(),
        };
        return Err(WireError::Service(FetchError::new(
            ErrorKind::Provider,
            format!("the service answered with an error{detail}"),
        )));
    }
    let data = body
        .get("data")
        .filter(|d| d.is_object())
        .ok_or_else(|| WireError::Shape("`data` is not an object".into()))?;
    let voucher = number(data.get("voucher_balance"));
    let cash = number(data.get("cash_balance"));
    let mut outcome = FetchOutcome::default();
    let mut warnings = Vec::new();
    match number(data.get("available_balance")).or_else(|| Some(voucher? + cash?)) {
        Some(available) => {
            let mut s = UsageSnapshot::new("balance");
            s.remaining = Some(available);
            outcome.snapshots.push(s);
        }
        None => warnings.push("`data.available_balance` is not a number".into()),
    }
    // The cash part may be negative: a deficit the vouchers cover.
    for (id, part) in [("voucher", voucher), ("cash", cash)] {
        let key = format!("{id}_balance");
        if part.is_none() && data.get(&key).is_some_and(|v| !v.is_null()) {
            warnings.push(format!("`data.{key}` is not a number"));
        }
        if let Some(amount) = part {
            let mut s = UsageSnapshot::new(id);
            s.model_id = Some(PARTS_MODEL.into());
            s.remaining = Some(amount);
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
        serde_json::from_str(include_str!("../../fixtures/current/moonshot-balance.json")).unwrap()
    }

    #[test]
    fn fixture_available_balance_and_its_parts() {
        let out = parse(&fixture(), "k").unwrap();
        let got: Vec<_> = out
            .snapshots
            .iter()
            .map(|s| (s.id.as_str(), s.model_id(), s.remaining))
            .collect();
        assert_eq!(
            got,
            [
                ("balance", "default", Some(49.58)),
                ("voucher", PARTS_MODEL, Some(10.0)),
                ("cash", PARTS_MODEL, Some(39.58)),
            ]
        );
        assert!(out.snapshots.iter().all(|s| s.warnings.is_empty()));
    }

    #[test]
    fn currency_per_host() {
        let unit = |cn| {
            let quotas = Moonshot { cn }.quotas(&WireConfig::default());
            assert!(quotas.iter().all(|q| q.unit == quotas[0].unit));
            quotas[0].unit.clone()
        };
        assert_eq!(unit(false).as_deref(), Some("USD"));
        assert_eq!(unit(true).as_deref(), Some("CNY"));
    }

    #[test]
    fn parts_strings_and_deficits() {
        let out = parse(
            &json!({"data": {"voucher_balance": "1.5", "cash_balance": -4}}),
            "k",
        )
        .unwrap();
        assert_eq!(out.snapshots[0].remaining, Some(-2.5));
        assert_eq!(out.snapshots[2].id, "cash");
        assert_eq!(out.snapshots[2].remaining, Some(-4.0), "a deficit is kept");
        let out = parse(&json!({"data": {"available_balance": "7"}}), "k").unwrap();
        assert_eq!(out.snapshots[0].remaining, Some(7.0));
    }

    #[test]
    fn envelope_errors_and_wrong_shapes() {
        for body in [
            json!({"code": 5, "data": {"available_balance": 1}}),
            json!({"status": false}),
        ] {
            let Err(WireError::Service(e)) = parse(&body, "k") else {
                panic!("{body}")
            };
            assert_eq!(e.kind, ErrorKind::Provider);
        }
        let Err(WireError::Service(e)) =
            parse(&json!({"code": 1, "message": "key sk-x bad"}), "sk-x")
        else {
            panic!()
        };
        assert_eq!(e.message, "the service answered with an error (code 1)");
        // Only a part: the part is shown, the missing total is a warning.
        let out = parse(&json!({"data": {"cash_balance": 1}}), "k").unwrap();
        assert_eq!(out.snapshots[0].id, "cash");
        assert_eq!(
            out.snapshots[0].warnings,
            ["`data.available_balance` is not a number"]
        );
        for body in [json!({}), json!({"data": {}}), json!({"data": 3})] {
            assert!(
                matches!(parse(&body, "k"), Err(WireError::Shape(_))),
                "{body}"
            );
        }
    }

    #[test]
    fn both_hosts_read_one_variable() {
        for cn in [false, true] {
            let rule = Moonshot { cn }.auth();
            assert!(rule.api_key && rule.oauth_field.is_none());
            assert_eq!(rule.env, ["MOONSHOT_API_KEY"]);
        }
    }
}
