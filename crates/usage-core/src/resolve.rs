//! Turning what a provider reports into resolved windows, including the
//! per-model views of multiplier pools, per-model aggregation, and pace.

use std::collections::{BTreeMap, HashMap};

use crate::burn;
use crate::model::{
    Aggregation, PaceSource, PaceStage, QuotaDefinition, QuotaKind, ResolvedWindow, UsageSnapshot,
    DEFAULT_MODEL,
};
use crate::time::{ms_after, MAX_EPOCH_MS};

/// Pace within this many ratio points of the elapsed time counts as on track.
const ON_TRACK_BAND: f64 = 0.02;
const SLIGHT_BAND: f64 = 0.10;
const CLEAR_BAND: f64 = 0.25;

/// Without a window length, a reset further ahead than this is not believed.
const MAX_RESET_AHEAD_SECS: f64 = 400.0 * 86_400.0;

fn clamp01(v: f64) -> f64 {
    if v.is_nan() {
        0.0
    } else {
        v.clamp(0.0, 1.0)
    }
}

fn default_total(quota: &QuotaDefinition, model_id: &str) -> f64 {
    match &quota.kind {
        QuotaKind::Duration => quota.duration_secs.unwrap_or(0.0),
        QuotaKind::Amount { amount } => *amount,
        QuotaKind::Percentage => 100.0,
        QuotaKind::Multiplier { base_amount, .. } => *base_amount,
        QuotaKind::PerModel { per_model, .. } => per_model
            .get(model_id)
            .and_then(|l| l.amount.or(l.duration_secs))
            .unwrap_or(0.0),
        // Balances resolve in `resolve_balance`: there is no total.
        QuotaKind::Balance => 0.0,
    }
}

fn share_only(quota: &QuotaDefinition, s: &UsageSnapshot) -> bool {
    matches!(quota.kind, QuotaKind::Amount { amount } if amount <= 0.0)
        && !s.unlimited
        && s.limit.is_none()
        && s.used.is_none()
        && s.remaining.is_none()
        && (s.used_ratio.is_some() || s.remaining_ratio.is_some())
}

fn window_length(quota: &QuotaDefinition, snapshot: &UsageSnapshot) -> Option<f64> {
    if let Some(d) = snapshot.duration_secs {
        return Some(d);
    }
    if let QuotaKind::PerModel { per_model, .. } = &quota.kind {
        if let Some(d) = per_model
            .get(snapshot.model_id())
            .and_then(|l| l.duration_secs)
        {
            return Some(d);
        }
    }
    quota.duration_secs
}

/// A reset time the window can have. A window cannot reset later than one length from now,
/// so a later one (a server's 1e308 seconds, a saturated cast) is clamped to that; without a
/// length it must be within 400 days or it is unknown. Before the epoch is unknown too: an
/// overflowed value must not read as "already reset" and free an exhausted window.
pub fn plausible_reset(
    resets_at: Option<i64>,
    duration_secs: Option<f64>,
    now_ms: i64,
) -> Option<i64> {
    let at = resets_at.filter(|at| *at >= 0)?;
    match duration_secs.filter(|d| d.is_finite() && *d > 0.0) {
        Some(d) => Some(at.min(ms_after(now_ms, d).unwrap_or(MAX_EPOCH_MS))),
        None => {
            let latest = ms_after(now_ms, MAX_RESET_AHEAD_SECS).unwrap_or(MAX_EPOCH_MS);
            (at <= latest).then_some(at)
        }
    }
}

/// A window's description from its quota and snapshot (ids, kind, length, plausible reset,
/// unit, status, billing, warnings) with no usage yet: the part every resolution shares.
fn described(quota: &QuotaDefinition, s: &UsageSnapshot, now_ms: i64) -> ResolvedWindow {
    let duration_secs = window_length(quota, s);
    ResolvedWindow {
        id: s.id.clone(),
        model_id: s.model_id().to_string(),
        kind: quota.kind.name().to_string(),
        total: 0.0,
        used: 0.0,
        remaining: 0.0,
        used_ratio: 0.0,
        remaining_ratio: 0.0,
        duration_secs,
        resets_at: plausible_reset(s.resets_at, duration_secs, now_ms),
        window_type: quota.window_type,
        reset_behavior: quota.reset_behavior,
        unlimited: false,
        unit: s.unit.clone().or_else(|| quota.unit.clone()),
        status: s.status,
        billing: s.billing,
        scope: s.scope.clone(),
        fetch_warnings: s.warnings.clone(),
        view_only: s.view_only,
        pool_view: false,
        level: None,
        elapsed_ratio: None,
        pace: None,
        pace_stage: None,
        runs_out_at: None,
        pace_source: None,
    }
}

/// The fallback chain for one snapshot: total from the limit or the quota's kind, then
/// remaining and used from whatever the provider reported, ratios clamped to 0..1.
pub fn resolve_window(
    quota: &QuotaDefinition,
    snapshot: &UsageSnapshot,
    now_ms: i64,
) -> ResolvedWindow {
    if quota.kind == QuotaKind::Balance {
        return resolve_balance(quota, snapshot, now_ms);
    }
    if share_only(quota, snapshot) {
        // An amount the response sizes, sent this time with only a share: a percent window,
        // not an amount of a total of 0 (nothing is counted, so no unit either).
        let quota = QuotaDefinition {
            kind: QuotaKind::Percentage,
            unit: None,
            ..quota.clone()
        };
        let snapshot = UsageSnapshot {
            unit: None,
            ..snapshot.clone()
        };
        return resolve_window(&quota, &snapshot, now_ms);
    }
    let model_id = snapshot.model_id();
    let total = snapshot
        .limit
        .unwrap_or_else(|| default_total(quota, model_id));
    let s = snapshot;
    let remaining = s
        .remaining
        .or_else(|| s.used.map(|u| total - u))
        .or_else(|| s.remaining_ratio.map(|r| r * total))
        .or_else(|| s.used_ratio.map(|r| (1.0 - r) * total))
        .unwrap_or(0.0);
    let used = s
        .used
        .or_else(|| s.remaining.map(|r| total - r))
        .or_else(|| s.used_ratio.map(|r| r * total))
        .or_else(|| s.remaining_ratio.map(|r| (1.0 - r) * total))
        .unwrap_or(0.0);
    let (used_ratio, remaining_ratio) = if s.unlimited {
        (0.0, 1.0)
    } else if total > 0.0 {
        (clamp01(used / total), clamp01(remaining / total))
    } else {
        // No total to divide by: trust whichever ratio the provider gave.
        let used_ratio = clamp01(
            s.used_ratio
                .or_else(|| s.remaining_ratio.map(|r| 1.0 - r))
                .unwrap_or(0.0),
        );
        (used_ratio, 1.0 - used_ratio)
    };
    let mut window = ResolvedWindow {
        total,
        used,
        remaining,
        used_ratio,
        remaining_ratio,
        unlimited: s.unlimited,
        ..described(quota, s, now_ms)
    };
    apply_pace(&mut window, now_ms);
    window
}

/// Prepaid money with no limit. There is nothing to divide by, so the ratios only say whether
/// money is left: `remainingRatio` 1 while the balance is above 0, 0 once it is 0 or below
/// (or the provider's own ratio when it gives one, e.g. "calls refused"). Decisions and
/// events then see an empty balance as exhausted and never call a funded one low; how low
/// is too low is a sum of money, judged by `quota::balance_level`. `total` is 0, `used` is
/// whatever the provider reported (spend), never derived, and there is no pace.
fn resolve_balance(quota: &QuotaDefinition, s: &UsageSnapshot, now_ms: i64) -> ResolvedWindow {
    let remaining = s.remaining.unwrap_or(0.0);
    let remaining_ratio = match s.remaining_ratio {
        Some(r) => clamp01(r),
        None if remaining > 0.0 => 1.0,
        None => 0.0,
    };
    ResolvedWindow {
        total: 0.0,
        used: s.used.unwrap_or(0.0),
        remaining,
        used_ratio: 1.0 - remaining_ratio,
        remaining_ratio,
        ..described(quota, s, now_ms)
    }
}

pub fn pace_stage(pace: f64) -> PaceStage {
    let magnitude = pace.abs();
    if magnitude <= ON_TRACK_BAND {
        PaceStage::OnTrack
    } else if pace > 0.0 {
        if magnitude <= SLIGHT_BAND {
            PaceStage::SlightlyAhead
        } else if magnitude <= CLEAR_BAND {
            PaceStage::Ahead
        } else {
            PaceStage::FarAhead
        }
    } else if magnitude <= SLIGHT_BAND {
        PaceStage::SlightlyBehind
    } else if magnitude <= CLEAR_BAND {
        PaceStage::Behind
    } else {
        PaceStage::FarBehind
    }
}

/// Elapsed ratio, pace and projected run-out for a window with a length and a reset time,
/// from the straight-line estimate: usage so far spread evenly over the time elapsed.
pub fn apply_pace(window: &mut ResolvedWindow, now_ms: i64) {
    apply_pace_at_rate(window, now_ms, None);
}

/// Like `apply_pace`, from a measured burn rate (used ratio per ms, `burn::measured_rate`)
/// when there is one. Pace stays on one scale whichever rate is used: how far ahead of the
/// even line the window would be had it been spent at that rate since it started, i.e.
/// `elapsedRatio × (rate × length − 1)`, within -1..1; for the straight-line rate that is
/// exactly `usedRatio − elapsedRatio`. It runs out at `now + left / rate` when that is before
/// the reset.
pub fn apply_pace_at_rate(window: &mut ResolvedWindow, now_ms: i64, measured: Option<f64>) {
    let (Some(duration_secs), Some(resets_at)) = (window.duration_secs, window.resets_at) else {
        return;
    };
    if duration_secs <= 0.0 || window.unlimited {
        return;
    }
    let duration_ms = duration_secs * 1000.0;
    let time_remaining_ms = (resets_at.saturating_sub(now_ms) as f64).clamp(0.0, duration_ms);
    let elapsed_ms = duration_ms - time_remaining_ms;
    let elapsed_ratio = elapsed_ms / duration_ms;
    let used = window.used_ratio;
    let (pace, rate, source) = match measured.filter(|r| r.is_finite()) {
        Some(rate) => {
            let rate = rate.max(0.0);
            // An hour's burst scaled to a week's length says nothing past "far ahead": kept on
            // the straight line's scale, -1..1.
            let pace = (elapsed_ratio * (rate * duration_ms - 1.0)).clamp(-1.0, 1.0);
            (pace, rate, PaceSource::Measured)
        }
        None => {
            let rate = if elapsed_ms > 0.0 {
                used / elapsed_ms
            } else {
                0.0
            };
            (used - elapsed_ratio, rate, PaceSource::Linear)
        }
    };
    window.elapsed_ratio = Some(elapsed_ratio);
    window.pace = Some(pace);
    window.pace_stage = Some(pace_stage(pace));
    window.pace_source = Some(source);
    window.runs_out_at = None;
    if rate > 0.0 && used < 1.0 && used > 0.0 {
        let until_empty_ms = (1.0 - used) / rate;
        let runs_out_at = ms_after(now_ms, until_empty_ms / 1000.0);
        if let Some(at) = runs_out_at.filter(|at| *at < resets_at) {
            window.runs_out_at = Some(at);
        }
    }
}

/// Re-derives pace and run-out of `windows` (just resolved from a result observed at `at`)
/// from the burn rate measured over `samples` plus this observation, where there are enough
/// of them; windows without pace, or with too little history, keep the straight-line estimate.
pub fn apply_measured_pace<'a>(
    windows: impl IntoIterator<Item = &'a mut ResolvedWindow>,
    samples: &burn::Series,
    at: i64,
    now: i64,
) {
    for w in windows {
        if w.pace.is_none() {
            continue;
        }
        let mut series = samples
            .get(&burn::series_of(w))
            .cloned()
            .unwrap_or_default();
        series.retain(|s| s.at != at);
        series.push(burn::Sample {
            at,
            used_ratio: w.used_ratio,
        });
        let period_start = w
            .resets_at
            .zip(w.duration_secs)
            .map(|(reset, d)| reset.saturating_sub((d * 1000.0) as i64));
        if let Some(rate) = burn::measured_rate(&series, now, period_start) {
            apply_pace_at_rate(w, now, Some(rate));
        }
    }
}

/// Per-model view of a shared multiplier pool: one request of `model` costs `multiplier`
/// pool units, so its remaining requests are the pool's remaining ÷ multiplier; a 0× model
/// is never limited by the pool.
pub fn multiplier_view(pool: &ResolvedWindow, model_id: &str, multiplier: f64) -> ResolvedWindow {
    let mut view = pool.clone();
    view.model_id = model_id.to_string();
    view.pool_view = true;
    if multiplier <= 0.0 {
        view.used = 0.0;
        view.remaining = pool.total;
        view.used_ratio = 0.0;
        view.remaining_ratio = 1.0;
        view.unlimited = true;
        view.pace = None;
        view.pace_stage = None;
        view.elapsed_ratio = None;
        view.runs_out_at = None;
        view.pace_source = None;
    } else {
        view.total = pool.total / multiplier;
        view.used = pool.used / multiplier;
        view.remaining = pool.remaining / multiplier;
    }
    view
}

fn aggregate(windows: &[ResolvedWindow], strategy: Aggregation) -> Option<ResolvedWindow> {
    let first = windows.first()?;
    let mut out = match strategy {
        Aggregation::Individual => return None,
        Aggregation::Min => windows
            .iter()
            .min_by(|a, b| a.remaining_ratio.total_cmp(&b.remaining_ratio))?
            .clone(),
        Aggregation::Max => windows
            .iter()
            .max_by(|a, b| a.remaining_ratio.total_cmp(&b.remaining_ratio))?
            .clone(),
        Aggregation::Sum => {
            let mut sum = first.clone();
            sum.total = windows.iter().map(|w| w.total).sum();
            sum.used = windows.iter().map(|w| w.used).sum();
            sum.remaining = windows.iter().map(|w| w.remaining).sum();
            sum.used_ratio = if sum.total > 0.0 {
                clamp01(sum.used / sum.total)
            } else {
                0.0
            };
            sum.remaining_ratio = if sum.total > 0.0 {
                clamp01(sum.remaining / sum.total)
            } else {
                1.0
            };
            sum.resets_at = windows.iter().filter_map(|w| w.resets_at).min();
            sum.pace = None;
            sum.pace_stage = None;
            sum.elapsed_ratio = None;
            sum.runs_out_at = None;
            sum.pace_source = None;
            sum
        }
    };
    out.model_id = DEFAULT_MODEL.to_string();
    Some(out)
}

/// Everything a fetch resolves to, grouped by model id. Snapshots whose id matches no
/// quota are skipped, never fatal.
#[derive(Debug, Default)]
pub struct Resolution {
    pub windows_by_model: BTreeMap<String, Vec<ResolvedWindow>>,
}

/// One model's windows while they are collected: a later snapshot for the same window
/// replaces an earlier one and moves to the end, found by id in constant time (the old slot
/// is left empty and dropped at the end), so resolving n windows costs O(n log n), not O(n²).
#[derive(Default)]
struct Collected {
    slots: Vec<Option<ResolvedWindow>>,
    at: HashMap<String, usize>,
}

impl Collected {
    fn push(&mut self, w: ResolvedWindow) {
        if let Some(old) = self.at.insert(w.id.clone(), self.slots.len()) {
            self.slots[old] = None;
        }
        self.slots.push(Some(w));
    }

    fn into_windows(self) -> Vec<ResolvedWindow> {
        self.slots.into_iter().flatten().collect()
    }
}

pub fn resolve_snapshots(
    quotas: &[QuotaDefinition],
    snapshots: &[UsageSnapshot],
    now_ms: i64,
) -> Resolution {
    // The first quota of an id is the one a snapshot resolves by.
    let mut by_id: HashMap<&str, &QuotaDefinition> = HashMap::with_capacity(quotas.len());
    for q in quotas {
        by_id.entry(q.id.as_str()).or_insert(q);
    }
    let mut models: BTreeMap<String, Collected> = BTreeMap::new();
    let push = |models: &mut BTreeMap<String, Collected>, w: ResolvedWindow| match models
        .get_mut(&w.model_id)
    {
        Some(list) => list.push(w),
        None => models.entry(w.model_id.clone()).or_default().push(w),
    };
    for snapshot in snapshots {
        let Some(quota) = by_id.get(snapshot.id.as_str()) else {
            continue;
        };
        let window = resolve_window(quota, snapshot, now_ms);
        if let QuotaKind::Multiplier { multipliers, .. } = &quota.kind {
            if window.model_id == DEFAULT_MODEL {
                for (model, m) in multipliers {
                    push(&mut models, multiplier_view(&window, model, *m));
                }
            }
        }
        push(&mut models, window);
    }
    // Per-model quotas aggregate their windows of every model but the default one, in model
    // order; one pass groups them by quota id.
    let per_model_ids: HashMap<&str, Aggregation> = quotas
        .iter()
        .filter_map(|q| match &q.kind {
            QuotaKind::PerModel { aggregation, .. } => Some((q.id.as_str(), *aggregation)),
            _ => None,
        })
        .collect();
    if !per_model_ids.is_empty() {
        let mut per_quota: HashMap<&str, Vec<ResolvedWindow>> = HashMap::new();
        for (model, list) in &models {
            if model.as_str() == DEFAULT_MODEL {
                continue;
            }
            for w in list.slots.iter().flatten() {
                if let Some((id, _)) = per_model_ids.get_key_value(w.id.as_str()) {
                    per_quota.entry(id).or_default().push(w.clone());
                }
            }
        }
        // Each id's aggregate comes from the last of its quotas that yields one, and the
        // aggregates are placed in the order of those quotas (a later one replaced an earlier).
        let mut last: HashMap<&str, (usize, Aggregation)> = HashMap::new();
        for (i, quota) in quotas.iter().enumerate() {
            if let QuotaKind::PerModel { aggregation, .. } = &quota.kind {
                let has_windows = per_quota.contains_key(quota.id.as_str());
                if has_windows && *aggregation != Aggregation::Individual {
                    last.insert(quota.id.as_str(), (i, *aggregation));
                }
            }
        }
        let mut order: Vec<(usize, &str, Aggregation)> =
            last.into_iter().map(|(id, (i, a))| (i, id, a)).collect();
        order.sort_unstable_by_key(|(i, _, _)| *i);
        for (_, id, aggregation) in order {
            if let Some(agg) = aggregate(&per_quota[id], aggregation) {
                push(&mut models, agg);
            }
        }
    }
    Resolution {
        windows_by_model: models
            .into_iter()
            .map(|(model, list)| (model, list.into_windows()))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Billing, PerModelLimit, QuotaKind, WindowStatus};

    const NOW: i64 = 1_800_000_000_000;

    fn pct(id: &str) -> QuotaDefinition {
        QuotaDefinition::new(id, QuotaKind::Percentage)
    }

    fn amount(id: &str, amount: f64) -> QuotaDefinition {
        QuotaDefinition::new(id, QuotaKind::Amount { amount })
    }

    fn snap(id: &str) -> UsageSnapshot {
        UsageSnapshot::new(id)
    }

    #[test]
    fn total_by_kind_and_limit_overrides() {
        let dur = QuotaDefinition::new("d", QuotaKind::Duration).with_duration(3600.0);
        assert_eq!(resolve_window(&dur, &snap("d"), NOW).total, 3600.0);
        assert_eq!(
            resolve_window(&amount("a", 50.0), &snap("a"), NOW).total,
            50.0
        );
        assert_eq!(resolve_window(&pct("p"), &snap("p"), NOW).total, 100.0);
        let mult = QuotaDefinition::new(
            "m",
            QuotaKind::Multiplier {
                base_amount: 300.0,
                multipliers: BTreeMap::new(),
            },
        );
        assert_eq!(resolve_window(&mult, &snap("m"), NOW).total, 300.0);
        let per = QuotaDefinition::new(
            "pm",
            QuotaKind::PerModel {
                per_model: BTreeMap::from([
                    (
                        "a".into(),
                        PerModelLimit {
                            amount: Some(10.0),
                            duration_secs: None,
                        },
                    ),
                    (
                        "b".into(),
                        PerModelLimit {
                            amount: None,
                            duration_secs: Some(60.0),
                        },
                    ),
                ]),
                aggregation: Aggregation::Individual,
            },
        );
        let mut s = snap("pm");
        s.model_id = Some("a".into());
        assert_eq!(resolve_window(&per, &s, NOW).total, 10.0);
        s.model_id = Some("b".into());
        assert_eq!(resolve_window(&per, &s, NOW).total, 60.0);
        let mut limited = snap("a");
        limited.limit = Some(80.0);
        assert_eq!(
            resolve_window(&amount("a", 50.0), &limited, NOW).total,
            80.0
        );
    }

    #[test]
    fn each_source_of_usage_fills_both_sides() {
        let q = amount("a", 200.0);
        type Case = (&'static str, fn(&mut UsageSnapshot));
        let cases: [Case; 4] = [
            ("used", |s| s.used = Some(50.0)),
            ("remaining", |s| s.remaining = Some(150.0)),
            ("usedRatio", |s| s.used_ratio = Some(0.25)),
            ("remainingRatio", |s| s.remaining_ratio = Some(0.75)),
        ];
        for (name, set) in cases {
            let mut s = snap("a");
            set(&mut s);
            let w = resolve_window(&q, &s, NOW);
            assert_eq!((w.used, w.remaining), (50.0, 150.0), "from {name}");
            assert_eq!(
                (w.used_ratio, w.remaining_ratio),
                (0.25, 0.75),
                "from {name}"
            );
        }
    }

    #[test]
    fn explicit_values_win_over_derived_ones() {
        let mut s = snap("a");
        s.used = Some(10.0);
        s.remaining = Some(70.0); // provider knows better than total - used
        let w = resolve_window(&amount("a", 100.0), &s, NOW);
        assert_eq!((w.used, w.remaining), (10.0, 70.0));
    }

    #[test]
    fn nothing_reported_is_zero_and_ratios_are_clamped() {
        let w = resolve_window(&amount("a", 100.0), &snap("a"), NOW);
        assert_eq!((w.used, w.remaining, w.used_ratio), (0.0, 0.0, 0.0));
        let mut over = snap("a");
        over.remaining = Some(-5.0); // Copilot overage
        let w = resolve_window(&amount("a", 300.0), &over, NOW);
        assert_eq!(w.remaining, -5.0);
        assert_eq!(w.used, 305.0);
        assert_eq!((w.used_ratio, w.remaining_ratio), (1.0, 0.0));
    }

    #[test]
    fn zero_total_uses_reported_ratio_and_unlimited_is_never_used_up() {
        let mut s = snap("p");
        s.limit = Some(0.0);
        s.remaining_ratio = Some(0.4);
        let w = resolve_window(&amount("p", 0.0), &s, NOW);
        assert!((w.used_ratio - 0.6).abs() < 1e-9);
        let mut u = snap("p");
        u.unlimited = true;
        let w = resolve_window(&amount("p", 0.0), &u, NOW);
        assert_eq!(
            (w.used_ratio, w.remaining_ratio, w.unlimited),
            (0.0, 1.0, true)
        );
    }

    #[test]
    fn balance_ratios_only_say_whether_money_is_left() {
        let q = QuotaDefinition::new("balance", QuotaKind::Balance).with_unit("USD");
        let mut s = snap("balance");
        s.remaining = Some(37.42);
        let w = resolve_window(&q, &s, NOW);
        assert_eq!((w.total, w.used, w.remaining), (0.0, 0.0, 37.42));
        assert_eq!((w.used_ratio, w.remaining_ratio), (0.0, 1.0));
        assert_eq!(
            (w.kind.as_str(), w.unit.as_deref()),
            ("balance", Some("USD"))
        );
        for empty in [0.0, -2.5] {
            s.remaining = Some(empty);
            let w = resolve_window(&q, &s, NOW);
            assert_eq!(
                (w.remaining, w.remaining_ratio, w.used_ratio),
                (empty, 0.0, 1.0)
            );
        }
        // The provider's own verdict wins, and a currency on the snapshot beats the quota's.
        s.remaining = Some(5.0);
        s.remaining_ratio = Some(0.0);
        s.unit = Some("CNY".into());
        let w = resolve_window(&q, &s, NOW);
        assert_eq!((w.remaining_ratio, w.unit.as_deref()), (0.0, Some("CNY")));
        assert_eq!(
            resolve_window(&q, &snap("balance"), NOW).remaining_ratio,
            0.0
        );
    }

    #[test]
    fn percentage_duration_is_time_metadata_only() {
        let q = pct("5h").with_duration(18_000.0);
        let mut s = snap("5h");
        s.used_ratio = Some(0.37);
        let w = resolve_window(&q, &s, NOW);
        assert_eq!(w.total, 100.0);
        assert!((w.used - 37.0).abs() < 1e-9 && (w.remaining - 63.0).abs() < 1e-9);
        assert_eq!(w.duration_secs, Some(18_000.0));
    }

    #[test]
    fn pace_elapsed_and_run_out() {
        let q = pct("5h").with_duration(10_000.0);
        let mut s = snap("5h");
        s.used_ratio = Some(0.5);
        s.resets_at = Some(NOW + 7_500_000); // 2_500 s of 10_000 elapsed
        let w = resolve_window(&q, &s, NOW);
        assert_eq!(w.elapsed_ratio, Some(0.25));
        assert_eq!(w.pace, Some(0.25));
        assert_eq!(w.pace_stage, Some(PaceStage::Ahead));
        // 50% in 2_500 s → the other 50% in 2_500 s more.
        assert_eq!(w.runs_out_at, Some(NOW + 2_500_000));

        s.used_ratio = Some(0.26);
        let w = resolve_window(&q, &s, NOW);
        assert_eq!(w.pace_stage, Some(PaceStage::OnTrack));
        s.used_ratio = Some(0.1);
        let w = resolve_window(&q, &s, NOW);
        assert_eq!(w.pace_stage, Some(PaceStage::Behind));
        assert_eq!(
            w.runs_out_at, None,
            "spending slower than the window never runs out"
        );
    }

    #[test]
    fn far_future_and_overflowed_resets_are_clamped_or_dropped() {
        let five_hours = pct("5h").with_duration(18_000.0);
        let latest = NOW + 18_000_000;
        for wild in [i64::MAX, crate::time::MAX_EPOCH_MS, NOW + 18_000_001] {
            let mut s = snap("5h");
            s.used_ratio = Some(1.0);
            s.resets_at = Some(wild);
            let w = resolve_window(&five_hours, &s, NOW);
            assert_eq!(
                w.resets_at,
                Some(latest),
                "{wild}: one window length at most"
            );
            assert_eq!(w.elapsed_ratio, Some(0.0));
        }
        let mut s = snap("5h");
        s.resets_at = Some(NOW + 60_000);
        assert_eq!(
            resolve_window(&five_hours, &s, NOW).resets_at,
            Some(NOW + 60_000)
        );
        // What `now + (1e308 * 1000.0) as i64` wraps to in a release build.
        s.resets_at = Some(NOW.wrapping_add(i64::MAX));
        assert_eq!(resolve_window(&five_hours, &s, NOW).resets_at, None);
        s.resets_at = Some(i64::MIN);
        assert_eq!(resolve_window(&five_hours, &s, NOW).resets_at, None);
        // Without a length: 400 days ahead at most, else unknown.
        s.resets_at = Some(NOW + 399 * 86_400_000);
        assert_eq!(resolve_window(&pct("5h"), &s, NOW).resets_at, s.resets_at);
        s.resets_at = Some(NOW + 401 * 86_400_000);
        assert_eq!(resolve_window(&pct("5h"), &s, NOW).resets_at, None);
        s.resets_at = Some(i64::MAX);
        assert_eq!(resolve_window(&pct("5h"), &s, NOW).resets_at, None);
        // A hostile length does not overflow the bound either.
        let mut huge = snap("5h");
        huge.duration_secs = Some(1e308);
        huge.resets_at = Some(i64::MAX);
        assert_eq!(
            resolve_window(&pct("5h"), &huge, NOW).resets_at,
            Some(crate::time::MAX_EPOCH_MS)
        );
    }

    #[test]
    fn an_exhausted_window_with_an_absurd_reset_is_still_exhausted() {
        use crate::model::StoreEntry;
        use crate::quota::{check_quota, Decision};
        for (quota, reset) in [
            (pct("5h").with_duration(18_000.0), i64::MAX),
            (
                pct("5h").with_duration(18_000.0),
                NOW.wrapping_add(i64::MAX),
            ),
            (pct("5h"), i64::MAX),
            (pct("5h"), i64::MIN),
        ] {
            let mut s = snap("5h");
            s.used_ratio = Some(1.0);
            s.resets_at = Some(reset);
            let entry = StoreEntry {
                key: "p/default".into(),
                provider_id: "p".into(),
                model_id: DEFAULT_MODEL.into(),
                windows: vec![resolve_window(&quota, &s, NOW)],
                updated: NOW,
                fails: 0,
                active: true,
                stale: false,
                plan: None,
                error: None,
            };
            let check = check_quota(
                "default",
                None,
                Some(&entry),
                NOW,
                60_000,
                &crate::quota::Thresholds::default(),
            );
            assert_eq!(check.decision, Decision::Exhausted, "reset {reset}");
        }
    }

    #[test]
    fn pace_stage_boundaries() {
        assert_eq!(pace_stage(0.02), PaceStage::OnTrack);
        assert_eq!(pace_stage(-0.02), PaceStage::OnTrack);
        assert_eq!(pace_stage(0.021), PaceStage::SlightlyAhead);
        assert_eq!(pace_stage(0.10), PaceStage::SlightlyAhead);
        assert_eq!(pace_stage(0.11), PaceStage::Ahead);
        assert_eq!(pace_stage(0.26), PaceStage::FarAhead);
        assert_eq!(pace_stage(-0.05), PaceStage::SlightlyBehind);
        assert_eq!(pace_stage(-0.2), PaceStage::Behind);
        assert_eq!(pace_stage(-0.9), PaceStage::FarBehind);
    }

    #[test]
    fn no_pace_without_length_or_reset() {
        let mut s = snap("p");
        s.used_ratio = Some(0.5);
        s.resets_at = Some(NOW + 1000);
        let w = resolve_window(&pct("p"), &s, NOW);
        assert_eq!(w.pace, None);
        assert_eq!(w.elapsed_ratio, None);
    }

    fn copilot_quota() -> QuotaDefinition {
        QuotaDefinition::new(
            "premium",
            QuotaKind::Multiplier {
                base_amount: 300.0,
                multipliers: BTreeMap::from([("gpt-4o".into(), 0.0), ("claude-opus".into(), 4.0)]),
            },
        )
    }

    #[test]
    fn multiplier_pool_gives_per_model_views() {
        let mut s = snap("premium");
        s.remaining = Some(172.0);
        let res = resolve_snapshots(&[copilot_quota()], &[s], NOW);
        let pool = &res.windows_by_model["default"][0];
        assert_eq!(
            (pool.total, pool.remaining, pool.used),
            (300.0, 172.0, 128.0)
        );
        let opus = &res.windows_by_model["claude-opus"][0];
        assert_eq!((opus.total, opus.remaining, opus.used), (75.0, 43.0, 32.0));
        assert_eq!(opus.remaining_ratio, pool.remaining_ratio);
        let free = &res.windows_by_model["gpt-4o"][0];
        assert!(free.unlimited);
        assert_eq!(free.remaining_ratio, 1.0);
        // The views are marked as views of the pool; the pool is not.
        assert!(opus.pool_view && free.pool_view && !pool.pool_view);
        // An exhausted pool still leaves the 0× model unlimited.
        let mut empty = snap("premium");
        empty.remaining = Some(0.0);
        let res = resolve_snapshots(&[copilot_quota()], &[empty], NOW);
        assert_eq!(res.windows_by_model["gpt-4o"][0].remaining_ratio, 1.0);
        assert_eq!(res.windows_by_model["claude-opus"][0].remaining_ratio, 0.0);
    }

    fn per_model_quota(strategy: Aggregation) -> QuotaDefinition {
        let limit = |a| PerModelLimit {
            amount: Some(a),
            duration_secs: None,
        };
        QuotaDefinition::new(
            "req",
            QuotaKind::PerModel {
                per_model: BTreeMap::from([("a".into(), limit(100.0)), ("b".into(), limit(50.0))]),
                aggregation: strategy,
            },
        )
    }

    fn per_model_snaps() -> Vec<UsageSnapshot> {
        let mut a = snap("req");
        a.model_id = Some("a".into());
        a.used = Some(20.0);
        a.resets_at = Some(NOW + 10);
        let mut b = snap("req");
        b.model_id = Some("b".into());
        b.used = Some(40.0);
        b.resets_at = Some(NOW + 5);
        vec![a, b]
    }

    #[test]
    fn per_model_aggregation_strategies() {
        let res = resolve_snapshots(
            &[per_model_quota(Aggregation::Individual)],
            &per_model_snaps(),
            NOW,
        );
        assert!(!res.windows_by_model.contains_key("default"));
        assert_eq!(res.windows_by_model["a"][0].remaining, 80.0);
        assert_eq!(res.windows_by_model["b"][0].remaining, 10.0);

        let res = resolve_snapshots(
            &[per_model_quota(Aggregation::Min)],
            &per_model_snaps(),
            NOW,
        );
        let agg = &res.windows_by_model["default"][0];
        assert_eq!(
            (agg.remaining, agg.total),
            (10.0, 50.0),
            "min = the most constrained model"
        );

        let res = resolve_snapshots(
            &[per_model_quota(Aggregation::Max)],
            &per_model_snaps(),
            NOW,
        );
        assert_eq!(res.windows_by_model["default"][0].remaining, 80.0);

        let res = resolve_snapshots(
            &[per_model_quota(Aggregation::Sum)],
            &per_model_snaps(),
            NOW,
        );
        let agg = &res.windows_by_model["default"][0];
        assert_eq!((agg.total, agg.used, agg.remaining), (150.0, 60.0, 90.0));
        assert!((agg.used_ratio - 0.4).abs() < 1e-9);
        assert_eq!(agg.resets_at, Some(NOW + 5), "the earliest reset");
    }

    #[test]
    fn a_balance_is_its_own_total_and_window_facts_pass_through() {
        let q = QuotaDefinition::new("credits", QuotaKind::Balance).with_unit("credits");
        let mut s = snap("credits");
        s.remaining = Some(212.5);
        s.status = Some(WindowStatus::LimitReached);
        s.billing = Some(Billing::ExtraUsage);
        s.warnings = vec!["chat: not an object".into()];
        let w = resolve_window(&q, &s, NOW);
        assert_eq!(
            (w.total, w.used, w.remaining),
            (0.0, 0.0, 212.5),
            "no total to divide by"
        );
        assert_eq!((w.used_ratio, w.remaining_ratio), (0.0, 1.0));
        assert_eq!(w.unit.as_deref(), Some("credits"));
        assert_eq!(w.status, Some(WindowStatus::LimitReached));
        assert_eq!(w.billing, Some(Billing::ExtraUsage));
        assert_eq!(w.fetch_warnings, ["chat: not an object"]);
        let mut empty = snap("credits");
        empty.remaining = Some(-3.0);
        assert_eq!(
            resolve_window(&q, &empty, NOW).total,
            0.0,
            "never a negative total"
        );
    }

    #[test]
    fn a_later_snapshot_of_a_window_replaces_the_earlier_and_comes_last() {
        let quotas = vec![pct("a"), pct("b"), pct("c")];
        let mut first = snap("a");
        first.used_ratio = Some(0.1);
        let mut again = snap("a");
        again.used_ratio = Some(0.7);
        let res = resolve_snapshots(&quotas, &[first, snap("b"), again, snap("c")], NOW);
        let ws = &res.windows_by_model[DEFAULT_MODEL];
        let ids: Vec<&str> = ws.iter().map(|w| w.id.as_str()).collect();
        assert_eq!(ids, ["b", "a", "c"]);
        assert_eq!(ws[1].used_ratio, 0.7);
    }

    #[test]
    fn thousands_of_windows_all_resolve_once() {
        let quotas: Vec<_> = (0..3000).map(|i| pct(&format!("w{i}"))).collect();
        let mut snaps: Vec<_> = (0..3000).map(|i| snap(&format!("w{i}"))).collect();
        snaps.extend((0..3000).step_by(2).map(|i| snap(&format!("w{i}"))));
        let res = resolve_snapshots(&quotas, &snaps, NOW);
        let ws = &res.windows_by_model[DEFAULT_MODEL];
        assert_eq!(ws.len(), 3000);
        assert_eq!(ws[0].id, "w1", "the re-sent ones moved to the end");
        assert_eq!(ws[2999].id, "w2998");
    }

    #[test]
    fn unknown_ids_are_skipped_not_fatal() {
        let mut known = snap("5h");
        known.used_ratio = Some(0.1);
        let res = resolve_snapshots(&[pct("5h")], &[snap("mystery"), known], NOW);
        assert!(
            res.windows_by_model
                .values()
                .flatten()
                .all(|w| w.id != "mystery"),
            "an unknown id is skipped"
        );
        assert_eq!(res.windows_by_model["default"].len(), 1);
    }
}
