//! Quota decisions: may I proceed, edge-triggered threshold events, and
//! picking the account with the most room. Answers come from the store only.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::model::{Level, QuotaKind, ResolvedWindow, StoreEntry};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    // Ordered worst to best so `max` picks the best.
    Unknown,
    Exhausted,
    Low,
    Proceed,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Unknown => "unknown",
            Decision::Exhausted => "exhausted",
            Decision::Low => "low",
            Decision::Proceed => "proceed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuotaCheck {
    pub decision: Decision,
    pub remaining_ratio: Option<f64>,
    pub window_id: Option<String>,
    pub resets_at: Option<i64>,
    /// Every window that governs the model, the binding one first (a footer's lead).
    pub window_ids: Vec<String>,
}

impl QuotaCheck {
    fn unknown() -> Self {
        Self {
            decision: Decision::Unknown,
            remaining_ratio: None,
            window_id: None,
            resets_at: None,
            window_ids: Vec::new(),
        }
    }
}

/// Data older than this many intervals (and at least `MIN_USABLE_AGE_MS`) is too old to decide on.
const USABLE_INTERVALS: i64 = 5;
const MIN_USABLE_AGE_MS: i64 = 15 * 60_000;

pub fn usable(entry: &StoreEntry, now: i64, interval_ms: u64) -> bool {
    let max_age = (USABLE_INTERVALS * interval_ms as i64).max(MIN_USABLE_AGE_MS);
    entry.active && entry.updated > 0 && now - entry.updated <= max_age
}

/// Ratios derived from percentages carry float noise (1 − 0.9 = 0.0999…); a window exactly
/// at the threshold must not read as below it.
const RATIO_EPSILON: f64 = 1e-9;

pub fn is_exhausted(remaining_ratio: f64) -> bool {
    remaining_ratio <= RATIO_EPSILON
}

/// The tracker's thresholds, in remaining ratio: below `warn_at` a window is `warn`, below
/// `critical_at` it is `critical` (and `checkQuota` says `low`).
#[derive(Debug, Clone, PartialEq)]
pub struct Thresholds {
    pub warn_at: f64,
    pub critical_at: f64,
    /// A prepaid balance below this much money (per currency) is `critical`, below twice it
    /// `warn`; `default_low_balance` for currencies without their own mark.
    pub low_balance: BTreeMap<String, f64>,
    pub default_low_balance: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            warn_at: 0.25,
            critical_at: 0.10,
            low_balance: BTreeMap::new(),
            default_low_balance: 5.0,
        }
    }
}

/// The one comparison behind the footer colour, `checkQuota` and threshold events.
pub fn window_level(w: &ResolvedWindow, t: &Thresholds) -> Level {
    let r = w.remaining_ratio;
    if w.unlimited {
        Level::Ok
    } else if w.kind == QuotaKind::Balance.name() {
        balance_level(
            w.remaining,
            w.unit.as_deref(),
            &t.low_balance,
            t.default_low_balance,
        )
    } else if is_exhausted(r) {
        Level::Exhausted
    } else if r < t.critical_at - RATIO_EPSILON {
        Level::Critical
    } else if r < t.warn_at - RATIO_EPSILON {
        Level::Warn
    } else {
        Level::Ok
    }
}

/// Stamps every window with its level; done once where the store is handed out.
pub fn assign_levels(entries: &mut [StoreEntry], t: &Thresholds) {
    for w in entries.iter_mut().flat_map(|e| e.windows.iter_mut()) {
        w.level = Some(window_level(w, t));
    }
}

fn decide(w: &ResolvedWindow, t: &Thresholds) -> Decision {
    match window_level(w, t) {
        Level::Exhausted => Decision::Exhausted,
        Level::Critical => Decision::Low,
        Level::Warn | Level::Ok => Decision::Proceed,
    }
}

/// `entries` are the provider's entry for the model (if any) and its `default` entry,
/// whose windows apply to every model.
/// Whether `w` limits calls to `model_id`. A window its wire marked with a model `scope` limits
/// only models whose id names it (not the provider as a whole); when the account pays for this traffic through a metered window
/// (Claude's extra usage for pi, marked by `billing`), the plan's own windows are context,
/// not limits, and only that window and the scoped caps govern.
pub fn governs(w: &ResolvedWindow, model_id: &str, metered: bool) -> bool {
    if let Some(scope) = w.scope.as_deref() {
        return model_id != crate::model::DEFAULT_MODEL
            && model_id
                .to_ascii_lowercase()
                .contains(&scope.to_ascii_lowercase());
    }
    !metered || w.billing.is_some()
}

pub fn check_quota(
    model_id: &str,
    model_entry: Option<&StoreEntry>,
    default_entry: Option<&StoreEntry>,
    now: i64,
    interval_ms: u64,
    thresholds: &Thresholds,
) -> QuotaCheck {
    let usable_entries: Vec<&StoreEntry> = [model_entry, default_entry]
        .into_iter()
        .flatten()
        .filter(|e| usable(e, now, interval_ms))
        .collect();
    let all = || usable_entries.iter().flat_map(|e| e.windows.iter());
    let metered = all().any(|w| w.billing.is_some());
    let mut governing: Vec<&ResolvedWindow> = all()
        .filter(|w| governs(w, model_id, metered))
        .filter(|w| !w.unlimited && w.resets_at.is_none_or(|at| at > now))
        .collect();
    governing.sort_by(|a, b| a.remaining_ratio.total_cmp(&b.remaining_ratio));
    let window_ids: Vec<String> = governing.iter().map(|w| w.id.clone()).collect();
    let Some(window) = governing.first().copied() else {
        // Usable entries whose windows are all unlimited or already reset leave room.
        let has_room =
            !usable_entries.is_empty() && usable_entries.iter().any(|e| !e.windows.is_empty());
        return if has_room {
            QuotaCheck {
                decision: Decision::Proceed,
                remaining_ratio: Some(1.0),
                window_id: None,
                resets_at: None,
                window_ids,
            }
        } else {
            QuotaCheck::unknown()
        };
    };
    QuotaCheck {
        decision: decide(window, thresholds),
        remaining_ratio: Some(window.remaining_ratio),
        window_id: Some(window.id.clone()),
        resets_at: window.resets_at,
        window_ids,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ThresholdKind {
    Low,
    Exhausted,
    Recovered,
}

impl ThresholdKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ThresholdKind::Low => "low",
            ThresholdKind::Exhausted => "exhausted",
            ThresholdKind::Recovered => "recovered",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThresholdEvent {
    pub key: String,
    pub provider_id: String,
    pub model_id: String,
    pub window_id: String,
    pub kind: ThresholdKind,
    pub remaining_ratio: f64,
    pub resets_at: Option<i64>,
}

/// Remembers each window's level so events fire once per crossing, not once per cycle.
#[derive(Debug, Default)]
pub struct ThresholdTracker {
    levels: HashMap<(String, String), Crossing>,
}

/// The part of a level that events report: `warn` is a colour, not a crossing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Crossing {
    Ok,
    Low,
    Exhausted,
}

impl ThresholdTracker {
    pub fn observe(
        &mut self,
        entries: &[StoreEntry],
        thresholds: &Thresholds,
    ) -> Vec<ThresholdEvent> {
        let mut events = Vec::new();
        for entry in entries.iter().filter(|e| e.active && !e.stale) {
            for w in entry.windows.iter().filter(|w| !w.unlimited) {
                let level = match decide(w, thresholds) {
                    Decision::Exhausted => Crossing::Exhausted,
                    Decision::Low => Crossing::Low,
                    _ => Crossing::Ok,
                };
                let slot = (entry.key.clone(), w.id.clone());
                let previous = self.levels.insert(slot, level).unwrap_or(Crossing::Ok);
                let kind = match (previous, level) {
                    (a, b) if a == b => continue,
                    (_, Crossing::Exhausted) => ThresholdKind::Exhausted,
                    (_, Crossing::Low) => ThresholdKind::Low,
                    (_, Crossing::Ok) => ThresholdKind::Recovered,
                };
                events.push(ThresholdEvent {
                    key: entry.key.clone(),
                    provider_id: entry.provider_id.clone(),
                    model_id: entry.model_id.clone(),
                    window_id: w.id.clone(),
                    kind,
                    remaining_ratio: w.remaining_ratio,
                    resets_at: w.resets_at,
                });
            }
        }
        events
    }

    pub fn forget_provider(&mut self, provider_id: &str) {
        let prefix = format!("{provider_id}/");
        self.levels.retain(|(key, _), _| !key.starts_with(&prefix));
    }
}

/// Plan names ranked: higher is a bigger allowance.
pub fn tier_rank(plan: Option<&str>) -> u8 {
    let Some(plan) = plan.map(str::to_ascii_lowercase) else {
        return 0;
    };
    let has = |words: &[&str]| words.iter().any(|w| plan.contains(w));
    if has(&["ultra", "max", "enterprise", "business"]) {
        3
    } else if has(&["pro", "plus", "team", "standard", "premium"]) {
        2
    } else if has(&["free", "legacy"]) {
        1
    } else {
        0
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    pub provider_id: String,
    /// The model this candidate is for, when the caller asked about models.
    pub model_id: Option<String>,
    pub check: QuotaCheck,
    pub plan: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Selection {
    pub provider_id: Option<String>,
    pub model_id: Option<String>,
    pub decision: Decision,
    pub reason: String,
    /// Every candidate, best first.
    pub ranking: Vec<Candidate>,
}

/// Best account: decision first (proceed > low > exhausted > unknown), then tier, then
/// remaining ratio; ties keep the caller's order.
pub fn select_best(mut candidates: Vec<Candidate>) -> Selection {
    candidates.sort_by(|a, b| {
        b.check
            .decision
            .cmp(&a.check.decision)
            .then(tier_rank(b.plan.as_deref()).cmp(&tier_rank(a.plan.as_deref())))
            .then(
                b.check
                    .remaining_ratio
                    .unwrap_or(-1.0)
                    .total_cmp(&a.check.remaining_ratio.unwrap_or(-1.0)),
            )
    });
    let Some(best) = candidates.first() else {
        return Selection {
            provider_id: None,
            model_id: None,
            decision: Decision::Unknown,
            reason: "no candidates".into(),
            ranking: candidates,
        };
    };
    let pct = |c: &Candidate| {
        c.check
            .remaining_ratio
            .map_or("no data".into(), |r| format!("{:.0}% left", r * 100.0))
    };
    let reason = match candidates.get(1) {
        None => format!(
            "{} is the only candidate ({})",
            best.provider_id,
            best.check.decision.as_str()
        ),
        Some(next) if next.check.decision != best.check.decision => format!(
            "{} can {} while {} is {}",
            best.provider_id,
            best.check.decision.as_str(),
            next.provider_id,
            next.check.decision.as_str()
        ),
        Some(next) if tier_rank(best.plan.as_deref()) != tier_rank(next.plan.as_deref()) => {
            format!(
                "{} has the higher tier ({} over {})",
                best.provider_id,
                best.plan.as_deref().unwrap_or("unknown"),
                next.plan.as_deref().unwrap_or("unknown")
            )
        }
        Some(next) => format!(
            "{} has the most room ({} vs {} for {})",
            best.provider_id,
            pct(best),
            pct(next),
            next.provider_id
        ),
    };
    let known = best.check.decision != Decision::Unknown;
    Selection {
        provider_id: known.then(|| best.provider_id.clone()),
        model_id: best.model_id.clone().filter(|_| known),
        decision: best.check.decision,
        reason,
        ranking: candidates,
    }
}

/// How close a prepaid balance (`QuotaKind::Balance`) is to empty, in money rather than a
/// ratio: at or below 0 (or unknown) it is exhausted, under the low mark critical, under twice
/// the low mark a warning. The low mark is `low_balance[unit]` (exact, then ignoring case),
/// else `default_low`; a negative or non-finite mark counts as 0.
pub fn balance_level(
    remaining: f64,
    unit: Option<&str>,
    low_balance: &BTreeMap<String, f64>,
    default_low: f64,
) -> crate::model::Level {
    use crate::model::Level as L;
    let low = unit
        .and_then(|u| {
            low_balance.get(u).or_else(|| {
                low_balance
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(u))
                    .map(|(_, v)| v)
            })
        })
        .copied()
        .unwrap_or(default_low);
    let low = if low.is_finite() { low.max(0.0) } else { 0.0 };
    // Money we cannot read is not money to spend.
    if remaining.is_nan() || remaining <= 0.0 {
        L::Exhausted
    } else if remaining < low {
        L::Critical
    } else if remaining < 2.0 * low {
        L::Warn
    } else {
        L::Ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Billing, QuotaDefinition, QuotaKind, UsageSnapshot};
    use crate::resolve::resolve_window;

    const NOW: i64 = 1_800_000_000_000;
    const MIN: u64 = 60_000;

    fn window(id: &str, remaining_ratio: f64) -> ResolvedWindow {
        let mut s = UsageSnapshot::new(id);
        s.remaining_ratio = Some(remaining_ratio);
        s.resets_at = Some(NOW + 3_600_000);
        resolve_window(&QuotaDefinition::new(id, QuotaKind::Percentage), &s, NOW)
    }

    /// A window its wire marked as limiting one model family.
    fn scoped(id: &str, remaining_ratio: f64, scope: &str) -> ResolvedWindow {
        ResolvedWindow {
            scope: Some(scope.into()),
            ..window(id, remaining_ratio)
        }
    }

    fn entry(key: &str, windows: Vec<ResolvedWindow>) -> StoreEntry {
        let (provider, model) = key.split_once('/').unwrap();
        StoreEntry {
            key: key.into(),
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

    fn check(e: &StoreEntry) -> QuotaCheck {
        check_quota("default", None, Some(e), NOW, MIN, &Thresholds::default())
    }

    #[test]
    fn decision_boundaries() {
        assert_eq!(
            check(&entry("a/default", vec![window("5h", 0.10)])).decision,
            Decision::Proceed,
            "exactly at the threshold"
        );
        assert_eq!(
            check(&entry("a/default", vec![window("5h", 0.0999)])).decision,
            Decision::Low
        );
        assert_eq!(
            check(&entry("a/default", vec![window("5h", 0.0)])).decision,
            Decision::Exhausted
        );
        assert_eq!(
            check(&entry("a/default", vec![])).decision,
            Decision::Unknown
        );
    }

    #[test]
    fn float_noise_at_the_threshold_is_not_low() {
        let e = entry("a/default", vec![window("5h", 1.0 - 0.9)]);
        assert_eq!(check(&e).decision, Decision::Proceed);
    }

    #[test]
    fn most_constrained_window_binds() {
        let e = entry("a/default", vec![window("7d", 0.6), window("5h", 0.2)]);
        let c = check(&e);
        assert_eq!(c.window_id.as_deref(), Some("5h"));
        assert_eq!(c.remaining_ratio, Some(0.2));
        assert_eq!(c.resets_at, Some(NOW + 3_600_000));
    }

    #[test]
    fn negative_copilot_remaining_is_exhausted_and_unlimited_never_binds() {
        let q = QuotaDefinition::new("premium", QuotaKind::Amount { amount: 300.0 });
        let mut s = UsageSnapshot::new("premium");
        s.remaining = Some(-12.0);
        let over = resolve_window(&q, &s, NOW);
        assert_eq!(
            check(&entry("c/default", vec![over])).decision,
            Decision::Exhausted
        );
        let mut u = UsageSnapshot::new("chat");
        u.unlimited = true;
        let chat = resolve_window(
            &QuotaDefinition::new("chat", QuotaKind::Amount { amount: 0.0 }),
            &u,
            NOW,
        );
        let c = check(&entry("c/default", vec![chat]));
        assert_eq!(c.decision, Decision::Proceed);
        assert_eq!(c.window_id, None);
    }

    #[test]
    fn inactive_never_fetched_or_too_old_is_unknown() {
        let mut e = entry("a/default", vec![window("5h", 0.5)]);
        e.active = false;
        assert_eq!(check(&e).decision, Decision::Unknown);
        let mut e = entry("a/default", vec![window("5h", 0.5)]);
        e.updated = 0;
        assert_eq!(check(&e).decision, Decision::Unknown);
        let mut e = entry("a/default", vec![window("5h", 0.5)]);
        e.updated = NOW - MIN_USABLE_AGE_MS - 1;
        assert_eq!(check(&e).decision, Decision::Unknown);
        e.updated = NOW - MIN_USABLE_AGE_MS;
        assert_eq!(check(&e).decision, Decision::Proceed);
    }

    #[test]
    fn model_entry_and_default_windows_both_count() {
        let model = entry("c/o1", vec![window("premium", 0.05)]);
        let default = entry("c/default", vec![window("premium", 0.5)]);
        let c = check_quota(
            "m",
            Some(&model),
            Some(&default),
            NOW,
            MIN,
            &Thresholds::default(),
        );
        assert_eq!(c.decision, Decision::Low);
    }

    #[test]
    fn threshold_events_fire_once_per_crossing() {
        let mut t = ThresholdTracker::default();
        let at = |r| vec![entry("a/default", vec![window("5h", r)])];
        assert!(t.observe(&at(0.5), &Thresholds::default()).is_empty());
        let ev = t.observe(&at(0.05), &Thresholds::default());
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].kind, ThresholdKind::Low);
        assert!(
            t.observe(&at(0.04), &Thresholds::default()).is_empty(),
            "no repeat while below"
        );
        assert_eq!(
            t.observe(&at(0.0), &Thresholds::default())[0].kind,
            ThresholdKind::Exhausted
        );
        assert!(t.observe(&at(0.0), &Thresholds::default()).is_empty());
        let ev = t.observe(&at(1.0), &Thresholds::default());
        assert_eq!(ev[0].kind, ThresholdKind::Recovered, "a reset recovers");
        assert_eq!(ev[0].window_id, "5h");
        assert!(t.observe(&at(1.0), &Thresholds::default()).is_empty());
    }

    #[test]
    fn first_sight_of_a_low_window_fires() {
        let mut t = ThresholdTracker::default();
        let ev = t.observe(
            &[entry("a/default", vec![window("5h", 0.0)])],
            &Thresholds::default(),
        );
        assert_eq!(ev[0].kind, ThresholdKind::Exhausted);
    }

    #[test]
    fn tiers_rank_ultra_over_pro_over_free() {
        assert!(tier_rank(Some("ultra")) > tier_rank(Some("pro")));
        assert!(tier_rank(Some("Max")) > tier_rank(Some("individual_pro")));
        assert!(tier_rank(Some("pro")) > tier_rank(Some("free")));
        assert!(tier_rank(Some("free")) > tier_rank(None));
    }

    fn cand(id: &str, decision: Decision, ratio: Option<f64>, plan: Option<&str>) -> Candidate {
        Candidate {
            provider_id: id.into(),
            model_id: None,
            check: QuotaCheck {
                decision,
                remaining_ratio: ratio,
                window_id: None,
                resets_at: None,
                window_ids: Vec::new(),
            },
            plan: plan.map(Into::into),
        }
    }

    #[test]
    fn selection_order_decision_then_tier_then_room() {
        let s = select_best(vec![
            cand("a", Decision::Low, Some(0.05), Some("ultra")),
            cand("b", Decision::Proceed, Some(0.3), Some("free")),
        ]);
        assert_eq!(s.provider_id.as_deref(), Some("b"));
        assert!(s.reason.contains("proceed"), "{}", s.reason);
        let s = select_best(vec![
            cand("a", Decision::Proceed, Some(0.9), Some("free")),
            cand("b", Decision::Proceed, Some(0.3), Some("pro")),
        ]);
        assert_eq!(s.provider_id.as_deref(), Some("b"));
        assert!(s.reason.contains("tier"));
        let s = select_best(vec![
            cand("a", Decision::Proceed, Some(0.4), Some("pro")),
            cand("b", Decision::Proceed, Some(0.7), Some("pro")),
        ]);
        assert_eq!(s.provider_id.as_deref(), Some("b"));
        assert!(s.reason.contains("70% left"), "{}", s.reason);
        let s = select_best(vec![cand("a", Decision::Unknown, None, None)]);
        assert_eq!(s.provider_id, None);
    }

    #[test]
    fn exactly_at_the_critical_threshold_is_one_verdict_everywhere() {
        // 90 % used of a percentage window: 1 − 0.9 carries float noise.
        let mut s = UsageSnapshot::new("5h");
        s.used_ratio = Some(0.9);
        s.resets_at = Some(NOW + 3_600_000);
        let w = resolve_window(&QuotaDefinition::new("5h", QuotaKind::Percentage), &s, NOW);
        let t = Thresholds {
            warn_at: 0.25,
            critical_at: 0.1,
            ..Thresholds::default()
        };
        assert_eq!(window_level(&w, &t), Level::Warn);
        let e = entry("a/default", vec![w]);
        assert_eq!(
            check_quota("default", None, Some(&e), NOW, MIN, &t).decision,
            Decision::Proceed
        );
        assert!(ThresholdTracker::default().observe(&[e], &t).is_empty());
    }

    #[test]
    fn events_name_provider_and_model() {
        let mut t = ThresholdTracker::default();
        let ev = t.observe(
            &[entry("p-x/model/with/slash", vec![window("q", 0.0)])],
            &Thresholds::default(),
        );
        assert_eq!(
            (ev[0].provider_id.as_str(), ev[0].model_id.as_str()),
            ("p-x", "model/with/slash")
        );
    }

    #[test]
    fn balance_levels_in_money_per_currency() {
        use crate::model::Level as L;
        let low = BTreeMap::from([("USD".to_string(), 5.0), ("CNY".to_string(), 30.0)]);
        let level = |r, u| balance_level(r, u, &low, 2.0);
        assert_eq!(level(0.0, Some("USD")), L::Exhausted);
        assert_eq!(level(-3.0, Some("USD")), L::Exhausted);
        assert_eq!(level(f64::NAN, Some("USD")), L::Exhausted);
        assert_eq!(level(4.99, Some("USD")), L::Critical);
        assert_eq!(level(5.0, Some("USD")), L::Warn);
        assert_eq!(level(9.99, Some("USD")), L::Warn);
        assert_eq!(level(10.0, Some("USD")), L::Ok);
        assert_eq!(
            level(40.0, Some("CNY")),
            L::Warn,
            "each currency has its own mark"
        );
        assert_eq!(
            level(40.0, Some("cny")),
            L::Warn,
            "currency codes ignore case"
        );
        // No mark for the unit, or no unit: the default.
        assert_eq!(level(3.0, Some("EUR")), L::Warn);
        assert_eq!(level(1.0, None), L::Critical);
        assert_eq!(level(4.0, None), L::Ok);
        // A nonsense mark never makes a funded balance look low.
        let odd = BTreeMap::from([("USD".to_string(), f64::NAN)]);
        assert_eq!(balance_level(0.01, Some("USD"), &odd, -1.0), L::Ok);
        assert_eq!(balance_level(0.0, Some("USD"), &odd, -1.0), L::Exhausted);
    }

    #[test]
    fn a_codex_additional_limit_governs_only_the_model_it_names() {
        let e = entry(
            "openai-codex/default",
            vec![
                window("5h", 0.8),
                window("7d", 0.6),
                scoped("spark_5h", 0.05, "spark"),
                scoped("spark_7d", 0.3, "spark"),
            ],
        );
        let t = Thresholds::default();
        let codex = check_quota("gpt-5.3-codex", None, Some(&e), NOW, MIN, &t);
        assert_eq!(
            codex.window_ids,
            ["7d", "5h"],
            "Spark's windows do not limit other models"
        );
        assert_eq!(codex.decision, Decision::Proceed);
        let spark = check_quota("gpt-5.3-codex-spark", None, Some(&e), NOW, MIN, &t);
        assert_eq!(spark.window_ids, ["spark_5h", "spark_7d", "7d", "5h"]);
        assert_eq!(spark.decision, Decision::Low);
    }

    #[test]
    fn the_scope_the_wire_set_decides_not_the_window_id() {
        let t = Thresholds::default();
        // An id that looks scoped but was not marked limits every model.
        let unmarked = entry("anthropic/default", vec![window("7d_opus", 0.05)]);
        let any = check_quota("claude-sonnet-4-5", None, Some(&unmarked), NOW, MIN, &t);
        assert_eq!(any.window_ids, ["7d_opus"]);
        assert_eq!(any.decision, Decision::Low);
        // Any id marked with a scope limits only the models that name it, in any case.
        let marked = entry(
            "my-strategy/default",
            vec![window("day", 0.9), scoped("turbo", 0.0, "Turbo")],
        );
        let plain = check_quota("fast-model", None, Some(&marked), NOW, MIN, &t);
        assert_eq!(plain.window_ids, ["day"]);
        assert_eq!(plain.decision, Decision::Proceed);
        let turbo = check_quota("my-turbo-2", None, Some(&marked), NOW, MIN, &t);
        assert_eq!(turbo.window_ids, ["turbo", "day"]);
        assert_eq!(turbo.decision, Decision::Exhausted);
        // The provider as a whole is never held back by one model's cap.
        let whole = check_quota("default", None, Some(&marked), NOW, MIN, &t);
        assert_eq!(whole.window_ids, ["day"]);
    }

    #[test]
    fn a_metered_login_is_governed_by_its_meter_and_the_model_scoped_cap() {
        let mut extra = window("extra", 0.7);
        extra.billing = Some(Billing::ExtraUsage);
        let e = entry(
            "anthropic/default",
            vec![
                window("5h", 0.0),
                window("7d", 0.4),
                scoped("7d_fable", 0.5, "fable"),
                extra,
            ],
        );
        let t = Thresholds::default();
        let sonnet = check_quota("claude-sonnet-4-5", None, Some(&e), NOW, MIN, &t);
        assert_eq!(
            sonnet.decision,
            Decision::Proceed,
            "a full 5h plan window does not stop pi's extra-usage traffic"
        );
        assert_eq!(sonnet.window_ids, ["extra"]);
        let fable = check_quota("claude-fable-5", None, Some(&e), NOW, MIN, &t);
        assert_eq!(fable.window_ids, ["7d_fable", "extra"]);
        assert_eq!(fable.window_id.as_deref(), Some("7d_fable"));
        // Without a meter every window governs, scoped caps only their model.
        assert_eq!(
            check_quota("default", None, Some(&e), NOW, MIN, &t).window_ids,
            ["extra"]
        );
        let plain = entry(
            "codex/default",
            vec![window("5h", 0.3), scoped("7d_fable", 0.1, "fable")],
        );
        assert_eq!(
            check_quota("gpt-5", None, Some(&plain), NOW, MIN, &t).window_ids,
            ["5h"]
        );
    }
}
