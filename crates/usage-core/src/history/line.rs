//! The history file's format: its header, one JSON line per observed window (short keys),
//! what a line must hold to be read back, and parsing a whole file or its tail.

use serde::{Deserialize, Serialize};

use super::{
    MAX_ID_CHARS, MAX_KEEP_MS, MAX_MARGIN_MS, NO_LENGTH_KEEP_MS, TOLERATED_BAD_LINES, VERSION,
};
use crate::burn::is_pool_view;
use crate::model::{ResolvedWindow, DEFAULT_MODEL};
use crate::time::MAX_EPOCH_MS;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Header {
    pub(super) history: u32,
}

/// One observed window, as stored (short keys: a year of points is most of the file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Line {
    /// Window id.
    pub(super) w: String,
    /// Model id; absent for `default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) m: Option<String>,
    /// Epoch ms: when the fetch that saw it started.
    pub(super) t: i64,
    /// Used ratio, 0..1.
    pub(super) ur: f64,
    /// Used and remaining in the window's unit; absent for percent-only windows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) u: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) r: Option<f64>,
    /// Window length, seconds: how long the point is worth keeping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) d: Option<f64>,
    /// The window's reset then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) rs: Option<i64>,
}

pub(super) type SeriesKey = (String, String);

impl Line {
    pub(super) fn series(&self) -> SeriesKey {
        (
            self.w.clone(),
            self.m.clone().unwrap_or_else(|| DEFAULT_MODEL.to_string()),
        )
    }

    pub(super) fn is_series(&self, window_id: &str, model_id: &str) -> bool {
        self.w == window_id && self.m.as_deref().unwrap_or(DEFAULT_MODEL) == model_id
    }

    /// What another process (or a hand edit) wrote, checked like a provider's numbers.
    pub(super) fn checked(self) -> Option<Line> {
        let finite = |v: Option<f64>| v.is_none_or(f64::is_finite);
        let ok = !self.w.is_empty()
            && self.w.chars().count() <= MAX_ID_CHARS
            && self
                .m
                .as_ref()
                .is_none_or(|m| !m.is_empty() && m.chars().count() <= MAX_ID_CHARS)
            && (0..=MAX_EPOCH_MS).contains(&self.t)
            && (0.0..=1.0).contains(&self.ur)
            && finite(self.u)
            && finite(self.r)
            && self.d.is_none_or(|d| d.is_finite() && d > 0.0)
            && self.rs.is_none_or(|r| (0..=MAX_EPOCH_MS).contains(&r));
        ok.then_some(self)
    }

    /// How long after `t` the point is dropped.
    pub(super) fn keep_ms(&self) -> i64 {
        match self.d {
            Some(d) => {
                let length = (d * 1000.0).min(MAX_KEEP_MS as f64) as i64;
                (length + length.min(MAX_MARGIN_MS)).min(MAX_KEEP_MS)
            }
            None => NO_LENGTH_KEEP_MS,
        }
    }
}

pub(super) fn round6(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

pub(super) fn to_lines<'a>(
    windows: impl IntoIterator<Item = &'a ResolvedWindow>,
    at: i64,
) -> Vec<Line> {
    windows
        .into_iter()
        .filter(|w| !w.unlimited && !is_pool_view(w))
        .map(|w| {
            let amounts = w.kind != "percentage";
            Line {
                w: w.id.clone(),
                m: (w.model_id != DEFAULT_MODEL).then(|| w.model_id.clone()),
                t: at,
                ur: round6(w.used_ratio.clamp(0.0, 1.0)),
                u: amounts.then(|| round6(w.used)).filter(|v| v.is_finite()),
                r: amounts
                    .then(|| round6(w.remaining))
                    .filter(|v| v.is_finite()),
                d: w.duration_secs.filter(|d| d.is_finite() && *d > 0.0),
                rs: w.resets_at,
            }
        })
        .filter_map(Line::checked)
        .collect()
}

#[derive(Debug)]
pub(super) struct ParsedFile {
    pub(super) lines: Vec<Line>,
    pub(super) ends_with_newline: bool,
}

/// A whole file: header, then lines. `Err` says why it is no history file of ours.
pub(super) fn parse_file(bytes: &[u8]) -> Result<ParsedFile, String> {
    if bytes.is_empty() {
        return Ok(ParsedFile {
            lines: Vec::new(),
            ends_with_newline: true,
        });
    }
    let mut rows = bytes.split(|b| *b == b'\n');
    let header = rows.next().unwrap_or_default();
    match serde_json::from_slice::<Header>(header) {
        Ok(h) if h.history == VERSION => {}
        Ok(h) => return Err(format!("unknown version {}", h.history)),
        Err(_) => return Err("no history header".into()),
    }
    let (lines, bad) = parse_lines(rows);
    if bad > TOLERATED_BAD_LINES && bad * 4 > lines.len() + bad {
        return Err(format!("{bad} unreadable lines"));
    }
    Ok(ParsedFile {
        lines,
        ends_with_newline: bytes.ends_with(b"\n"),
    })
}

/// Lines that parse and pass the checks, and how many did not (empty rows are not counted).
pub(super) fn parse_lines<'a>(rows: impl Iterator<Item = &'a [u8]>) -> (Vec<Line>, usize) {
    let mut lines = Vec::new();
    let mut bad = 0;
    for row in rows.filter(|r| !r.is_empty()) {
        match serde_json::from_slice::<Line>(row)
            .ok()
            .and_then(Line::checked)
        {
            Some(line) => lines.push(line),
            None => bad += 1,
        }
    }
    (lines, bad)
}

/// The end of a file: whole lines only (the first, cut, row is skipped unless the tail is the
/// whole file, whose first row is the header and fails to parse as a point anyway).
pub(super) fn parse_tail(bytes: &[u8], whole: bool) -> ParsedFile {
    let mut rows = bytes.split(|b| *b == b'\n');
    if !whole {
        rows.next();
    }
    ParsedFile {
        lines: parse_lines(rows).0,
        ends_with_newline: bytes.is_empty() || bytes.ends_with(b"\n"),
    }
}

pub(super) fn encode(lines: &[Line], buf: &mut Vec<u8>) {
    for line in lines {
        // A Line always serialises; an error here would be a bug, not data.
        if serde_json::to_writer(&mut *buf, line).is_ok() {
            buf.push(b'\n');
        }
    }
}
