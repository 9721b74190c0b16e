//! Recent samples of each account in this process's memory, for burn rates without reading
//! the file every cycle, and the rule that records a point only when its window changed.

use std::collections::HashMap;

use super::line::{Line, SeriesKey};
use super::{BUCKET_MS, MEMORY_KEEP_MS, RESET_JITTER_MS};
use crate::burn::Sample;

/// Recent samples of one account, for burn rates without reading the file every cycle.
#[derive(Default)]
pub(super) struct Memory {
    pub(super) loaded: bool,
    pub(super) compacted_at: Option<i64>,
    pub(super) samples: HashMap<SeriesKey, Vec<Sample>>,
    /// Each series' newest point, to record only what changed.
    pub(super) last: HashMap<SeriesKey, Line>,
}

impl Memory {
    pub(super) fn newest(&self) -> i64 {
        let last = self.samples.values().filter_map(|s| s.last());
        last.map(|s| s.at).max().unwrap_or(i64::MIN)
    }

    /// The series' newest point says the same (value, amounts and reset) and lies in the
    /// same compaction bucket: a point per change, and one per bucket to keep the course.
    pub(super) fn repeats(&self, line: &Line) -> bool {
        self.last.get(&line.series()).is_some_and(|last| {
            let same = |a: Option<f64>, b: Option<f64>| match (a, b) {
                (Some(a), Some(b)) => (a - b).abs() < 1e-9,
                (None, None) => true,
                _ => false,
            };
            line.t >= last.t
                && line.t.div_euclid(BUCKET_MS) == last.t.div_euclid(BUCKET_MS)
                && same(Some(line.ur), Some(last.ur))
                && same(line.u, last.u)
                && same(line.r, last.r)
                && match (line.rs, last.rs) {
                    (Some(a), Some(b)) => a.abs_diff(b) <= RESET_JITTER_MS,
                    (a, b) => a == b,
                }
        })
    }

    pub(super) fn add(&mut self, lines: &[Line], now: i64) {
        for line in lines {
            match self.last.get_mut(&line.series()) {
                Some(last) if last.t > line.t => {}
                Some(last) => *last = line.clone(),
                None => {
                    self.last.insert(line.series(), line.clone());
                }
            }
        }
        let from = now.saturating_sub(MEMORY_KEEP_MS);
        for line in lines.iter().filter(|l| l.t >= from) {
            self.samples.entry(line.series()).or_default().push(Sample {
                at: line.t,
                used_ratio: line.ur,
            });
        }
        for series in self.samples.values_mut() {
            series.retain(|s| s.at >= from);
            series.sort_by_key(|s| s.at);
            series.dedup_by_key(|s| s.at);
        }
        self.samples.retain(|_, s| !s.is_empty());
        self.last.retain(|_, l| l.t >= from);
    }
}
