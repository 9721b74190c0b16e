//! Spend with no cap: services that report what was spent over a period but no limit and
//! no balance (Hugging Face's month, Fireworks' and Baseten's trailing 30 days). The window
//! shows the money spent in its currency; with nothing to divide by there is no percent and
//! no level other than ok, and no cap is made up.

use crate::model::{QuotaDefinition, QuotaKind, UsageSnapshot};

/// The quota of a spend window: an amount without a size, in `currency`.
pub(crate) fn quota(id: &str, currency: &str) -> QuotaDefinition {
    QuotaDefinition::new(id, QuotaKind::Amount { amount: 0.0 }).with_unit(currency)
}

/// `amount` spent; `remaining` 0 and a full remaining ratio say "no cap", not "nothing left".
pub(crate) fn snapshot(id: &str, amount: f64, currency: &str) -> UsageSnapshot {
    let mut s = UsageSnapshot::new(id);
    s.used = Some(amount);
    s.remaining = Some(0.0);
    s.remaining_ratio = Some(1.0);
    s.unit = Some(currency.to_string());
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quota::{window_level, Thresholds};
    use crate::resolve::resolve_window;

    #[test]
    fn spend_resolves_to_money_spent_never_low() {
        let w = resolve_window(&quota("30d", "USD"), &snapshot("30d", 1234.5, "USD"), 0);
        assert_eq!((w.used, w.total, w.used_ratio), (1234.5, 0.0, 0.0));
        assert_eq!(w.unit.as_deref(), Some("USD"));
        assert!(!w.unlimited && w.pace.is_none());
        assert_eq!(window_level(&w, &Thresholds::default()).as_str(), "ok");
    }
}
