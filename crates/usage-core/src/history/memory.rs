//! Recent samples of each account in this process's memory, for burn rates without reading
//! the file every cycle, and the rule that thins values repeated by pi's traffic.

use std::collections::HashMap;

use super::line::{Line, SeriesKey};
use super::{MEMORY_KEEP_MS, THIN_WITHIN_MS};
use crate::burn::Sample;

/// Recent samples of one account, for burn rates without reading the file every cycle.
#[derive(Default)]
pub(super) struct Memory {
    pub(super) loaded: bool,
    pub(super) compacted_at: Option<i64>,
    pub(super) samples: HashMap<SeriesKey, Vec<Sample>>,
}

impl Memory {
    pub(super) fn newest(&self) -> i64 {
        let last = self.samples.values().filter_map(|s| s.last());
        last.map(|s| s.at).max().unwrap_or(i64::MIN)
    }

    /// The series' last point is under a minute older and has the same value.
    pub(super) fn repeats(&self, line: &Line) -> bool {
        self.samples
            .get(&line.series())
            .and_then(|s| s.last())
            .is_some_and(|last| {
                (0..THIN_WITHIN_MS).contains(&(line.t - last.at))
                    && (last.used_ratio - line.ur).abs() < 1e-9
            })
    }

    pub(super) fn add(&mut self, lines: &[Line], now: i64) {
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
    }
}
