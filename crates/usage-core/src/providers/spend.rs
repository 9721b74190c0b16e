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

/// Every answer with one field changed: deleted, or replaced by a string, a boolean and null
/// (a list element: replaced), each with its JSON pointer. The four spend parsers' tests hold
/// that no such change fails the provider unless it hits the one part everything rests on.
#[cfg(test)]
pub(crate) fn single_field_mutations(body: &serde_json::Value) -> Vec<(String, serde_json::Value)> {
    use serde_json::{json, Value};
    fn walk(at: &str, v: &Value, root: &Value, out: &mut Vec<(String, Value)>) {
        let replace = |path: &str, with: Option<Value>, out: &mut Vec<(String, Value)>| {
            let mut copy = root.clone();
            let (parent, key) = path.rsplit_once('/').unwrap_or(("", path));
            match copy.pointer_mut(parent) {
                Some(Value::Object(map)) => match with {
                    Some(w) => {
                        map.insert(key.to_string(), w);
                    }
                    None => {
                        map.remove(key);
                    }
                },
                Some(Value::Array(items)) => {
                    if let (Ok(i), Some(w)) = (key.parse::<usize>(), with) {
                        items[i] = w;
                    }
                }
                _ => return,
            }
            out.push((path.to_string(), copy));
        };
        match v {
            Value::Object(map) => {
                for (k, child) in map {
                    let path = format!("{at}/{k}");
                    replace(&path, None, out);
                    for w in [json!("x"), json!(true), Value::Null] {
                        replace(&path, Some(w), out);
                    }
                    walk(&path, child, root, out);
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    let path = format!("{at}/{i}");
                    replace(&path, Some(json!("x")), out);
                    walk(&path, child, root, out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk("", body, body, &mut out);
    out
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
