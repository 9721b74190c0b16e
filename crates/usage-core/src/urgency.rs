//! Which window of each provider tells its state in one compact cell, and which providers
//! need attention first: the order of a footer too narrow for every window.

use crate::model::{Level, ResolvedWindow, StoreEntry, DEFAULT_MODEL};

/// A provider's most pressing window.
#[derive(Debug, Clone, PartialEq)]
pub struct Pressing {
    pub provider_id: String,
    pub model_id: String,
    pub window_id: String,
    pub level: Level,
    pub remaining_ratio: f64,
}

fn rank(level: Level) -> u8 {
    match level {
        Level::Ok => 0,
        Level::Warn => 1,
        Level::Critical => 2,
        Level::Exhausted => 3,
    }
}

/// Closer to the wall first: the higher level, then the smaller share left.
fn more_pressing(a: &Pressing, b: &Pressing) -> std::cmp::Ordering {
    rank(b.level)
        .cmp(&rank(a.level))
        .then(a.remaining_ratio.total_cmp(&b.remaining_ratio))
}

fn pressing(e: &StoreEntry, w: &ResolvedWindow) -> Pressing {
    Pressing {
        provider_id: e.provider_id.clone(),
        model_id: e.model_id.clone(),
        window_id: w.id.clone(),
        level: w.level.unwrap_or(Level::Ok),
        remaining_ratio: w.remaining_ratio,
    }
}

/// One per provider with data: its most used window (a prepaid balance only when the provider
/// reports nothing else), the most urgent provider first; equals keep the order of `entries`.
/// Unlimited windows and inactive entries tell nothing and are left out.
pub fn most_pressing(entries: &[StoreEntry]) -> Vec<Pressing> {
    let mut best: Vec<(Pressing, bool)> = Vec::new(); // (window, is a balance)
    for e in entries.iter().filter(|e| e.active) {
        for w in e.windows.iter().filter(|w| !w.unlimited) {
            let candidate = pressing(e, w);
            let balance = w.kind == "balance";
            match best
                .iter_mut()
                .find(|(p, _)| p.provider_id == e.provider_id)
            {
                None => best.push((candidate, balance)),
                Some(slot) => {
                    // a usage window beats a balance; among equals the more pressing one
                    let better = match (slot.1, balance) {
                        (true, false) => true,
                        (false, true) => false,
                        // on a tie the provider's own (`default`) window, not a model's view of it
                        _ => more_pressing(&candidate, &slot.0)
                            .then_with(|| {
                                let own = |p: &Pressing| p.model_id != DEFAULT_MODEL;
                                own(&candidate).cmp(&own(&slot.0))
                            })
                            .is_lt(),
                    };
                    if better {
                        *slot = (candidate, balance);
                    }
                }
            }
        }
    }
    let mut out: Vec<Pressing> = best.into_iter().map(|(p, _)| p).collect();
    out.sort_by(more_pressing); // stable
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{QuotaDefinition, QuotaKind, UsageSnapshot};
    use crate::resolve::resolve_window;

    const NOW: i64 = 1_800_000_000_000;

    fn window(id: &str, remaining: f64, level: Level) -> ResolvedWindow {
        let mut s = UsageSnapshot::new(id);
        s.remaining_ratio = Some(remaining);
        let mut w = resolve_window(&QuotaDefinition::new(id, QuotaKind::Percentage), &s, NOW);
        w.level = Some(level);
        w
    }

    fn balance(id: &str, level: Level) -> ResolvedWindow {
        let mut w = window(id, 1.0, level);
        w.kind = "balance".into();
        w
    }

    fn entry(provider: &str, model: &str, windows: Vec<ResolvedWindow>) -> StoreEntry {
        StoreEntry {
            key: format!("{provider}/{model}"),
            provider_id: provider.into(),
            model_id: model.into(),
            windows,
            updated: NOW,
            fails: 0,
            active: true,
            stale: false,
            plan: None,
            error: None,
        }
    }

    fn ids(p: &[Pressing]) -> Vec<String> {
        p.iter()
            .map(|p| format!("{}/{}#{}", p.provider_id, p.model_id, p.window_id))
            .collect()
    }

    #[test]
    fn a_pool_stands_for_itself_not_a_models_view_of_it() {
        let entries = [
            entry(
                "github-copilot",
                "gpt-5",
                vec![window("premium", 0.58, Level::Ok)],
            ),
            entry(
                "github-copilot",
                "default",
                vec![window("premium", 0.58, Level::Ok)],
            ),
        ];
        assert_eq!(
            ids(&most_pressing(&entries)),
            ["github-copilot/default#premium"]
        );
    }

    #[test]
    fn one_window_per_provider_most_urgent_provider_first() {
        let mut unlimited = window("premium", 0.0, Level::Exhausted);
        unlimited.unlimited = true;
        let mut off = entry("zai", "default", vec![window("5h", 0.0, Level::Exhausted)]);
        off.active = false;
        let entries = [
            entry(
                "anthropic",
                "default",
                vec![window("5h", 0.6, Level::Ok), window("7d", 0.3, Level::Ok)],
            ),
            entry(
                "openai-codex",
                "default",
                vec![
                    window("5h", 0.9, Level::Ok),
                    balance("credits", Level::Critical),
                ],
            ),
            entry(
                "deepseek",
                "default",
                vec![balance("balance-usd", Level::Warn)],
            ),
            entry("github-copilot", "gpt-4.1", vec![unlimited]),
            entry(
                "google-antigravity",
                "gemini-3-pro",
                vec![window("quota", 0.8, Level::Ok)],
            ),
            entry(
                "google-antigravity",
                "claude-opus",
                vec![window("quota", 0.2, Level::Warn)],
            ),
            off,
        ];
        assert_eq!(
            ids(&most_pressing(&entries)),
            [
                // warn before ok; among warn, the smaller share left first
                "google-antigravity/claude-opus#quota",
                "deepseek/default#balance-usd",
                // a provider's usage window, not its balance, stands for it
                "anthropic/default#7d",
                "openai-codex/default#5h",
            ]
        );
    }
}
