//! The measured burn rate of a window: how fast its used ratio rose over the last hour of
//! recorded history. Pure; `resolve::apply_pace_at_rate` turns a rate into pace and run-out,
//! `history.rs` supplies the samples.

use std::collections::HashMap;

use crate::model::{QuotaKind, ResolvedWindow, DEFAULT_MODEL};

/// How far back the slope looks.
pub const LOOKBACK_MS: i64 = 3_600_000;
/// Fewer samples than this, or a shorter span, and the straight-line estimate is used.
pub const MIN_SAMPLES: usize = 3;
pub const MIN_SPAN_MS: i64 = 600_000;
/// A fall in the used ratio bigger than this is a reset (or usage rolling off): the slope only
/// looks at what came after it. Smaller wobbles are rounding in what providers report.
const DROP_TOLERANCE: f64 = 0.01;

/// Recent samples of one account, by series (window id, model id): what a history hands out
/// for pace, read before the tracker takes its state lock.
pub type Series = HashMap<(String, String), Vec<Sample>>;

/// A per-model view of a shared multiplier pool: its course is the pool's, not its own.
pub fn is_pool_view(w: &ResolvedWindow) -> bool {
    w.kind == QuotaKind::MULTIPLIER && w.model_id != DEFAULT_MODEL
}

/// The series a window's course is read from (a pool view reads its pool's).
pub fn series_of(w: &ResolvedWindow) -> (String, String) {
    let model = if is_pool_view(w) {
        DEFAULT_MODEL
    } else {
        &w.model_id
    };
    (w.id.clone(), model.to_string())
}

/// One observation of a window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub at: i64,
    pub used_ratio: f64,
}

/// The used ratio per ms over the last hour before `now`: the least-squares slope of the
/// samples taken since the current period began (`period_start`, and after the last drop),
/// when there are at least `MIN_SAMPLES` of them spanning `MIN_SPAN_MS`. Never negative:
/// usage that went down (rolled off) is no spending. `None` when there is too little to go on.
pub fn measured_rate(samples: &[Sample], now: i64, period_start: Option<i64>) -> Option<f64> {
    let from = now
        .saturating_sub(LOOKBACK_MS)
        .max(period_start.unwrap_or(i64::MIN));
    let mut recent: Vec<Sample> = samples
        .iter()
        .copied()
        .filter(|s| s.at >= from && s.at <= now && s.used_ratio.is_finite())
        .collect();
    recent.sort_by_key(|s| s.at);
    let after_drop = recent
        .windows(2)
        .rposition(|w| w[1].used_ratio < w[0].used_ratio - DROP_TOLERANCE)
        .map_or(0, |i| i + 1);
    let recent = &recent[after_drop..];
    let (first, last) = (recent.first()?, recent.last()?);
    if recent.len() < MIN_SAMPLES || last.at - first.at < MIN_SPAN_MS {
        return None;
    }
    // Centred on the first sample so epoch-sized numbers do not cost precision.
    let n = recent.len() as f64;
    let xs = recent.iter().map(|s| (s.at - first.at) as f64);
    let mean_x = xs.clone().sum::<f64>() / n;
    let mean_y = recent.iter().map(|s| s.used_ratio).sum::<f64>() / n;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (x, s) in xs.zip(recent) {
        sxy += (x - mean_x) * (s.used_ratio - mean_y);
        sxx += (x - mean_x) * (x - mean_x);
    }
    (sxx > 0.0).then(|| (sxy / sxx).max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{PaceSource, QuotaDefinition, QuotaKind, UsageSnapshot};
    use crate::resolve::{apply_pace_at_rate, resolve_window};

    const NOW: i64 = 1_800_000_000_000;
    const MIN: i64 = 60_000;
    const HOUR: i64 = 3_600_000;

    fn s(at: i64, used_ratio: f64) -> Sample {
        Sample { at, used_ratio }
    }

    /// A 5 h window observed once a minute for `elapsed` ms, the rate switching halfway.
    fn scripted(elapsed: i64, first_rate: f64, second_rate: f64) -> Vec<Sample> {
        let start = NOW - elapsed;
        let half = elapsed / 2;
        (0..=elapsed / MIN)
            .map(|i| {
                let t = i * MIN;
                let used = if t <= half {
                    first_rate * t as f64
                } else {
                    first_rate * half as f64 + second_rate * (t - half) as f64
                };
                s(start + t, used)
            })
            .collect()
    }

    fn five_hour_window(used_ratio: f64, elapsed: i64) -> crate::model::ResolvedWindow {
        let q = QuotaDefinition::new("5h", QuotaKind::Percentage).with_duration(18_000.0);
        let mut snap = UsageSnapshot::new("5h");
        snap.used_ratio = Some(used_ratio);
        snap.resets_at = Some(NOW + 5 * HOUR - elapsed);
        resolve_window(&q, &snap, NOW)
    }

    #[test]
    fn a_straight_line_is_measured_exactly() {
        let samples: Vec<_> = (0..=30)
            .map(|i| s(NOW - i * MIN, 0.5 - 0.001 * i as f64))
            .collect();
        let rate = measured_rate(&samples, NOW, None).unwrap();
        assert!((rate - 0.001 / MIN as f64).abs() < 1e-15, "{rate}");
    }

    #[test]
    fn too_few_samples_or_too_short_a_span_measure_nothing() {
        assert_eq!(measured_rate(&[], NOW, None), None);
        let two = [s(NOW - 20 * MIN, 0.1), s(NOW, 0.2)];
        assert_eq!(measured_rate(&two, NOW, None), None, "two samples");
        let short = [s(NOW - 9 * MIN, 0.1), s(NOW - 5 * MIN, 0.15), s(NOW, 0.2)];
        assert_eq!(measured_rate(&short, NOW, None), None, "9 minutes");
        let enough = [s(NOW - 10 * MIN, 0.1), s(NOW - 5 * MIN, 0.15), s(NOW, 0.2)];
        assert!(measured_rate(&enough, NOW, None).is_some(), "10 minutes");
    }

    #[test]
    fn only_the_last_hour_of_the_current_period_counts() {
        // Fast two hours ago, flat in the last hour: the rate is the flat one.
        let mut samples = vec![s(NOW - 2 * HOUR, 0.0), s(NOW - 90 * MIN, 0.4)];
        samples.extend((0..=6).map(|i| s(NOW - i * 10 * MIN, 0.4)));
        assert_eq!(measured_rate(&samples, NOW, None), Some(0.0));
        // A reset 20 minutes ago: only what came after it.
        let reset = [
            s(NOW - 50 * MIN, 0.80),
            s(NOW - 40 * MIN, 0.90),
            s(NOW - 30 * MIN, 0.95),
            s(NOW - 20 * MIN, 0.0),
            s(NOW - 10 * MIN, 0.1),
            s(NOW, 0.2),
        ];
        let rate = measured_rate(&reset, NOW, None).unwrap();
        assert!((rate - 0.01 / MIN as f64).abs() < 1e-12, "{rate}");
        // The same cut from the period's start, even without a visible drop.
        let period = [s(NOW - 50 * MIN, 0.0), s(NOW - 30 * MIN, 0.0)];
        let mut all = period.to_vec();
        all.extend([s(NOW - 20 * MIN, 0.0), s(NOW - 10 * MIN, 0.1), s(NOW, 0.2)]);
        let cut = measured_rate(&all, NOW, Some(NOW - 20 * MIN)).unwrap();
        assert!((cut - 0.01 / MIN as f64).abs() < 1e-12, "{cut}");
        // Rounding wobble is not a reset; usage that fell is never a negative rate.
        let wobble = [
            s(NOW - 20 * MIN, 0.30),
            s(NOW - 10 * MIN, 0.295),
            s(NOW, 0.29),
        ];
        assert_eq!(measured_rate(&wobble, NOW, None), Some(0.0));
        let future = [
            s(NOW - 20 * MIN, 0.1),
            s(NOW - 10 * MIN, 0.2),
            s(NOW + MIN, 0.9),
        ];
        assert_eq!(measured_rate(&future, NOW, None), None, "not yet observed");
    }

    #[test]
    fn slow_then_fast_runs_out_earlier_than_the_straight_line_says() {
        // 3 h into a 5 h window: 0.1/h for 1.5 h, then 0.4/h.
        let (elapsed, slow, fast) = (3 * HOUR, 0.1 / HOUR as f64, 0.4 / HOUR as f64);
        let samples = scripted(elapsed, slow, fast);
        let used = samples.last().unwrap().used_ratio;
        assert!((used - 0.75).abs() < 1e-9);
        let linear = five_hour_window(used, elapsed);
        assert_eq!(linear.pace_source, Some(PaceSource::Linear));
        let rate = measured_rate(&samples, NOW, Some(NOW - elapsed)).unwrap();
        assert!((rate - fast).abs() < 1e-12);
        let mut measured = linear.clone();
        apply_pace_at_rate(&mut measured, NOW, Some(rate));
        assert_eq!(measured.pace_source, Some(PaceSource::Measured));
        let (l, m) = (linear.runs_out_at.unwrap(), measured.runs_out_at.unwrap());
        // Linear: 0.25 left at 0.25/h = 1 h; measured: 0.25 at 0.4/h = 37.5 min.
        assert!((l - (NOW + HOUR)).abs() <= 1, "{l}");
        assert!((m - (NOW + 37 * MIN + 30_000)).abs() <= 1, "{m}");
        assert!(m < l);
        assert!(measured.pace.unwrap() > linear.pace.unwrap());
    }

    #[test]
    fn fast_then_slow_runs_out_later_or_not_at_all() {
        let (elapsed, fast, slow) = (3 * HOUR, 0.35 / HOUR as f64, 0.05 / HOUR as f64);
        let samples = scripted(elapsed, fast, slow);
        let used = samples.last().unwrap().used_ratio;
        let linear = five_hour_window(used, elapsed);
        // Linear: 0.6 in 3 h → 0.4 left runs out in 2 h, before the reset in 2 h? Exactly at it,
        // so not reported; measured at 0.05/h never runs out and is far behind.
        let mut measured = linear.clone();
        apply_pace_at_rate(&mut measured, NOW, measured_rate(&samples, NOW, None));
        assert_eq!(measured.runs_out_at, None);
        assert!(measured.pace.unwrap() < linear.pace.unwrap());
        // Steeper at first: linear projects a run-out, the recent slow rate does not.
        let samples = scripted(elapsed, 0.5 / HOUR as f64, slow);
        let used = samples.last().unwrap().used_ratio;
        let linear = five_hour_window(used, elapsed);
        let mut measured = linear.clone();
        apply_pace_at_rate(&mut measured, NOW, measured_rate(&samples, NOW, None));
        assert!(linear.runs_out_at.is_some());
        assert_eq!(measured.runs_out_at, None);
    }

    #[test]
    fn a_burst_in_a_long_window_is_far_ahead_on_the_usual_scale() {
        // Half of a week gone, half used (on the line), then 2 % in the last hour.
        let q = QuotaDefinition::new("7d", QuotaKind::Percentage).with_duration(604_800.0);
        let mut snap = UsageSnapshot::new("7d");
        snap.used_ratio = Some(0.5);
        snap.resets_at = Some(NOW + 84 * HOUR);
        let mut w = resolve_window(&q, &snap, NOW);
        assert!(w.pace.unwrap().abs() < 1e-9);
        apply_pace_at_rate(&mut w, NOW, Some(0.02 / HOUR as f64));
        assert_eq!(w.pace, Some(1.0), "not +118 points");
        assert_eq!(w.pace_stage, Some(crate::model::PaceStage::FarAhead));
        assert_eq!(w.runs_out_at, Some(NOW + 25 * HOUR));
    }

    #[test]
    fn a_constant_rate_gives_the_same_pace_either_way() {
        let elapsed = 2 * HOUR;
        let rate = 0.3 / HOUR as f64;
        let samples = scripted(elapsed, rate, rate);
        let linear = five_hour_window(samples.last().unwrap().used_ratio, elapsed);
        let mut measured = linear.clone();
        apply_pace_at_rate(&mut measured, NOW, measured_rate(&samples, NOW, None));
        assert!((measured.pace.unwrap() - linear.pace.unwrap()).abs() < 1e-9);
        let (l, m) = (linear.runs_out_at.unwrap(), measured.runs_out_at.unwrap());
        assert!((l - m).abs() <= 1, "{l} {m}");
    }
}
