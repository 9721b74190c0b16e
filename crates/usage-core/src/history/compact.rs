//! What a history keeps: compaction of a file (a day whole, then 15-minute buckets, each
//! point for its window's length plus a margin) and the even thinning of a long course.

use std::collections::BTreeMap;

use super::line::{Line, SeriesKey};
use super::{HistoryPoint, BUCKET_MS, FULL_RESOLUTION_MS, FUTURE_SKEW_MS};

/// Full resolution for a day, then the last point per window per 15 minutes; nothing older
/// than its window allows, nothing from the future; one point per (window, instant), the one
/// written last. Sorted by time, so a file's tail holds its newest points.
pub(super) fn compact(lines: Vec<Line>, now: i64) -> Vec<Line> {
    let mut by_slot: BTreeMap<(SeriesKey, i64), Line> = BTreeMap::new();
    for line in lines {
        let age = now.saturating_sub(line.t);
        if age > line.keep_ms() || age < -FUTURE_SKEW_MS {
            continue;
        }
        let slot = if age <= FULL_RESOLUTION_MS {
            line.t
        } else {
            // Bucketed slots are negative so they never meet an instant.
            -1 - line.t.div_euclid(BUCKET_MS)
        };
        let key = (line.series(), slot);
        match by_slot.get(&key) {
            Some(kept) if kept.t > line.t => {}
            _ => {
                by_slot.insert(key, line);
            }
        }
    }
    let mut out: Vec<Line> = by_slot.into_values().collect();
    out.sort_by(|a, b| a.t.cmp(&b.t).then_with(|| a.series().cmp(&b.series())));
    out
}

/// At most `max` of `points`, evenly spread, the first and the last among them.
pub(super) fn thin(points: Vec<HistoryPoint>, max: usize) -> Vec<HistoryPoint> {
    let n = points.len();
    if n <= max || max < 2 {
        return points;
    }
    let step = (n - 1) as f64 / (max - 1) as f64;
    let wanted: Vec<usize> = (0..max)
        .map(|i| (i as f64 * step).round() as usize)
        .collect();
    points
        .into_iter()
        .enumerate()
        .filter(|(i, _)| wanted.binary_search(i).is_ok())
        .map(|(_, p)| p)
        .collect()
}
