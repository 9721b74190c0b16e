//! What this pi session cost: the change of every window and meter since the session began.
//!
//! A `Ledger` is fed the store's entries each time they change (`note`), with what brought the
//! change: a poll, or a model response of one provider for one model. The first value of a
//! window in the session is its baseline; every later value adds what was used since the one
//! before it:
//! - a window whose use drops while its reset time moves on was reset: what was used after the
//!   reset (its new value) is added to what was used before (already counted);
//! - a drop without a new reset time (a rolling window's old use aging out, a correction) adds
//!   nothing: the session's count never goes down;
//! - a balance (prepaid money or credits) counts money spent; a top-up adds nothing.
//!
//! Attribution: what a model response of provider P moved on P's windows goes to the model that
//! made the request; everything else (a change first seen by a poll, or a window of another
//! provider) is "other use of this login" — the meter cannot say by whom.
//!
//! Ledgers are kept one file per pi session (`<dir>/<session id>.json`, mode 0600, replaced
//! atomically), so a `/reload` or a resumed session continues the count. The file holds window
//! ids, numbers and model ids: nothing secret. Old files are pruned like the history's.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::model::{QuotaKind, ResolvedWindow, StoreEntry};
use crate::safe_file::{create_private_dir, replace};

const VERSION: u32 = 1;
const DAY_MS: i64 = 86_400_000;
/// A reset time that moves on by more than this means a new window (providers round it).
const RESET_MOVED_MS: i64 = 60_000;
/// Changes smaller than this are rounding noise of the provider's figures.
const EPSILON: f64 = 1e-9;
/// Session files not written for this long are pruned (the history keeps balances a month).
pub const KEEP_MS: i64 = 31 * DAY_MS;
/// At most this many session files are kept; the oldest go first.
pub const MAX_FILES: usize = 200;
/// At most this many windows are tracked in one session (a bound on the file).
const MAX_WINDOWS: usize = 256;
/// A session file larger than this is not read.
const MAX_FILE_BYTES: u64 = 1024 * 1024;
const MAX_ID_CHARS: usize = 128;

/// What brought the values a `note` sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen<'a> {
    /// A poll (or another process's fetch, through the shared cache).
    Poll,
    /// A model response of `provider_id`, to a request for `model_id`.
    Response {
        provider_id: &'a str,
        model_id: &'a str,
    },
}

/// One value of a window as the ledger compares it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Mark {
    /// The measure: money left (balances), used in the window's unit, or percent points used.
    v: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rs: Option<i64>,
}

/// One window's count in this session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Tally {
    provider_id: String,
    model_id: String,
    window_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    unit: Option<String>,
    balance: bool,
    /// When this session first saw the window.
    since: i64,
    last: Mark,
    /// What was used in the session, per model that made the request.
    by_model: BTreeMap<String, f64>,
    /// What was used that no response of this session accounts for.
    other: f64,
    resets: u32,
}

impl Tally {
    fn total(&self) -> f64 {
        self.other + self.by_model.values().sum::<f64>()
    }
}

/// The count of one pi session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ledger {
    v: u32,
    pub session_id: String,
    pub started_at: i64,
    pub updated_at: i64,
    windows: Vec<Tally>,
}

/// One window's change in the session, as the view and the footer show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WindowChange {
    pub window_id: String,
    pub model_id: String,
    /// The currency or count unit; `None`: percent points of the window.
    pub unit: Option<String>,
    /// Money (a currency unit).
    pub money: bool,
    pub balance: bool,
    pub change: f64,
    /// Per model that made the request, the larger first.
    pub by_model: Vec<(String, f64)>,
    /// Changes seen only by a poll: other use of this login.
    pub other: f64,
    pub resets: u32,
    pub since: i64,
}

/// A provider's part of the session: its windows (unchanged ones too, at 0), money first, then
/// the larger change.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderChange {
    pub provider_id: String,
    pub windows: Vec<WindowChange>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub session_id: String,
    pub started_at: i64,
    pub updated_at: i64,
    /// Every provider the session has values of.
    pub providers: Vec<ProviderChange>,
}

/// Currency codes the footer writes as money.
pub fn is_money(unit: Option<&str>) -> bool {
    unit.is_some_and(|u| u.len() == 3 && u.chars().all(|c| c.is_ascii_uppercase()))
}

/// The measure of a window, or `None` when it has none to count (unlimited).
fn measure(w: &ResolvedWindow) -> Option<Mark> {
    if w.unlimited {
        return None;
    }
    let v = if w.kind == QuotaKind::Balance.name() {
        w.remaining
    } else if w.unit.is_some() {
        w.used
    } else {
        w.used_ratio * 100.0
    };
    v.is_finite().then_some(Mark { v, rs: w.resets_at })
}

/// What was used between two values of one window (never negative).
fn used_between(before: Mark, after: Mark, balance: bool) -> (f64, bool) {
    if balance {
        // money left went down: spent; up: a top-up, not a negative cost
        return ((before.v - after.v).max(0.0), false);
    }
    if after.v >= before.v {
        return (after.v - before.v, false);
    }
    let reset = matches!((before.rs, after.rs), (Some(b), Some(a)) if a > b + RESET_MOVED_MS);
    if reset {
        (after.v.max(0.0), true)
    } else {
        (0.0, false)
    }
}

impl Ledger {
    pub fn new(session_id: &str, now: i64) -> Self {
        Self {
            v: VERSION,
            session_id: session_id.to_string(),
            started_at: now,
            updated_at: now,
            windows: Vec::new(),
        }
    }

    /// Takes the store's entries as they are now; returns whether the count changed (the
    /// file is worth writing). Entries that never had a successful fetch are skipped.
    pub fn note(&mut self, entries: &[StoreEntry], seen: Seen<'_>, now: i64) -> bool {
        let mut changed = false;
        for entry in entries.iter().filter(|e| e.updated > 0) {
            for w in &entry.windows {
                let Some(mark) = measure(w) else { continue };
                changed |= self.note_window(entry, w, mark, seen, now);
            }
        }
        if changed {
            self.updated_at = now;
        }
        changed
    }

    fn note_window(
        &mut self,
        entry: &StoreEntry,
        w: &ResolvedWindow,
        mark: Mark,
        seen: Seen<'_>,
        now: i64,
    ) -> bool {
        let found = self.windows.iter_mut().find(|t| {
            t.provider_id == entry.provider_id && t.model_id == w.model_id && t.window_id == w.id
        });
        let Some(t) = found else {
            if self.windows.len() >= MAX_WINDOWS {
                return false;
            }
            self.windows.push(Tally {
                provider_id: entry.provider_id.clone(),
                model_id: w.model_id.clone(),
                window_id: w.id.clone(),
                unit: w.unit.clone(),
                balance: w.kind == QuotaKind::Balance.name(),
                since: now,
                last: mark,
                by_model: BTreeMap::new(),
                other: 0.0,
                resets: 0,
            });
            return true;
        };
        if t.last == mark {
            return false;
        }
        let (used, reset) = used_between(t.last, mark, t.balance);
        t.last = mark;
        t.resets += u32::from(reset);
        if used > EPSILON {
            match seen {
                Seen::Response {
                    provider_id,
                    model_id,
                } if provider_id == t.provider_id => {
                    *t.by_model.entry(model_id.to_string()).or_default() += used;
                }
                _ => t.other += used,
            }
        }
        true
    }

    /// The session's changes, per provider.
    pub fn summary(&self) -> Summary {
        let mut providers: Vec<ProviderChange> = Vec::new();
        for t in &self.windows {
            let at = match providers
                .iter()
                .position(|p| p.provider_id == t.provider_id)
            {
                Some(i) => i,
                None => {
                    providers.push(ProviderChange {
                        provider_id: t.provider_id.clone(),
                        windows: Vec::new(),
                    });
                    providers.len() - 1
                }
            };
            let change = Some(t.total()).filter(|c| *c > EPSILON).unwrap_or(0.0);
            let mut by_model: Vec<(String, f64)> = t
                .by_model
                .iter()
                .filter(|(_, v)| **v > EPSILON)
                .map(|(m, v)| (m.clone(), *v))
                .collect();
            by_model.sort_by(|a, b| b.1.total_cmp(&a.1));
            providers[at].windows.push(WindowChange {
                window_id: t.window_id.clone(),
                model_id: t.model_id.clone(),
                unit: t.unit.clone(),
                money: is_money(t.unit.as_deref()),
                balance: t.balance,
                change,
                by_model,
                other: t.other,
                resets: t.resets,
                since: t.since,
            });
        }
        for p in &mut providers {
            p.windows
                .sort_by(|a, b| b.money.cmp(&a.money).then(b.change.total_cmp(&a.change)));
        }
        Summary {
            session_id: self.session_id.clone(),
            started_at: self.started_at,
            updated_at: self.updated_at,
            providers,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A recorded course (`usage-store history --since`)

/// A window's change over its recorded course, by the same rules as a session's.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CourseChange {
    /// What was used, 0 or more: money left for a balance, the unit's amount when the points
    /// carry one, else percent points of the window.
    pub change: f64,
    /// The change is in the window's unit (else percent points).
    pub in_unit: bool,
    pub balance: bool,
    pub resets: u32,
    /// The first and last point counted (epoch ms); 0 without points.
    pub from: i64,
    pub to: i64,
}

/// `balance`: whether the window is a balance, when the caller knows its kind; unknown, a
/// course whose use never moves while its money left does is taken for one (a balance records
/// no use).
pub fn change_over(course: &[crate::history::HistoryPoint], balance: Option<bool>) -> CourseChange {
    let balance = balance.unwrap_or_else(|| {
        course.iter().any(|p| p.remaining.is_some())
            && course
                .iter()
                .all(|p| p.used_ratio == 0.0 && p.used.unwrap_or(0.0) == 0.0)
    });
    let in_unit = !balance && course.iter().all(|p| p.used.is_some());
    let mark = |p: &crate::history::HistoryPoint| Mark {
        v: if balance {
            p.remaining.unwrap_or(0.0)
        } else if in_unit {
            p.used.unwrap_or(0.0)
        } else {
            p.used_ratio * 100.0
        },
        rs: p.resets_at,
    };
    let mut out = CourseChange {
        change: 0.0,
        in_unit: in_unit || balance,
        balance,
        resets: 0,
        from: course.first().map_or(0, |p| p.at),
        to: course.last().map_or(0, |p| p.at),
    };
    for pair in course.windows(2) {
        let (used, reset) = used_between(mark(&pair[0]), mark(&pair[1]), balance);
        out.change += used;
        out.resets += u32::from(reset);
    }
    if out.change <= EPSILON {
        out.change = 0.0;
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Files

/// Where session ledgers live: beside the shared cache (and its history) when there is one,
/// else in pi's agent dir.
pub fn dir_for(cache_path: Option<&Path>, agent_dir: &Path) -> PathBuf {
    match cache_path.and_then(Path::parent) {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join("usage-sessions"),
        _ => agent_dir.join("cache").join("usage-sessions"),
    }
}

/// pi's session ids are UUIDs; anything else that could name a path is refused.
pub fn check_session_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.chars().count() <= MAX_ID_CHARS
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "session id {:?} is not a pi session id (letters, digits, '-' and '_', at most {MAX_ID_CHARS})",
            id.chars().take(40).collect::<String>()
        ))
    }
}

fn file_of(dir: &Path, session_id: &str) -> PathBuf {
    dir.join(format!("{session_id}.json"))
}

/// The ledger kept for `session_id`, or a new one starting `now` (none kept, or unreadable).
pub fn load(dir: &Path, session_id: &str, now: i64) -> Ledger {
    let path = file_of(dir, session_id);
    let read = std::fs::metadata(&path)
        .ok()
        .filter(|m| m.is_file() && m.len() <= MAX_FILE_BYTES)
        .and_then(|_| std::fs::read(&path).ok())
        .and_then(|bytes| serde_json::from_slice::<Ledger>(&bytes).ok())
        .filter(|l| l.v == VERSION && l.session_id == session_id);
    read.unwrap_or_else(|| Ledger::new(session_id, now))
}

/// Writes the ledger (temp file + rename, mode 0600), then prunes old session files.
pub fn save(dir: &Path, ledger: &Ledger) -> std::io::Result<()> {
    check_session_id(&ledger.session_id).map_err(std::io::Error::other)?;
    create_private_dir(dir)?;
    let bytes = serde_json::to_vec(ledger).map_err(std::io::Error::other)?;
    replace(
        dir,
        &file_of(dir, &ledger.session_id),
        &bytes,
        ".session-",
        false,
        // written on every change of a window; a lost write (power loss only:
        // the rename is atomic) costs part of one count
        false,
    )?;
    prune(dir);
    Ok(())
}

/// Drops session files not written for `KEEP_MS`, and the oldest beyond `MAX_FILES` (file
/// times are the wall clock's, so this one is too).
fn prune(dir: &Path) {
    let now = crate::clock::wall_clock_ms();
    let Ok(read) = std::fs::read_dir(dir) else {
        return;
    };
    let mut files: Vec<(i64, PathBuf)> = read
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
        .filter_map(|e| {
            let meta = e.metadata().ok().filter(|m| m.is_file())?;
            let modified = meta.modified().ok()?;
            let ms = modified
                .duration_since(std::time::UNIX_EPOCH)
                .ok()?
                .as_millis() as i64;
            Some((ms, e.path()))
        })
        .collect();
    files.sort_by_key(|f| std::cmp::Reverse(f.0));
    for (i, (at, path)) in files.iter().enumerate() {
        if i >= MAX_FILES || now - at > KEEP_MS {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_800_000_000_000;
    const MIN: i64 = 60_000;

    fn win(id: &str, kind: &str, used: f64, total: f64, unit: Option<&str>) -> ResolvedWindow {
        let used_ratio = if total > 0.0 { used / total } else { 0.0 };
        ResolvedWindow {
            id: id.into(),
            model_id: "default".into(),
            kind: kind.into(),
            total,
            used,
            remaining: total - used,
            used_ratio,
            remaining_ratio: 1.0 - used_ratio,
            duration_secs: None,
            resets_at: None,
            window_type: None,
            reset_behavior: None,
            unlimited: false,
            unit: unit.map(String::from),
            status: None,
            billing: None,
            scope: None,
            fetch_warnings: vec![],
            view_only: false,
            pool_view: false,
            level: None,
            elapsed_ratio: None,
            pace: None,
            pace_stage: None,
            runs_out_at: None,
            pace_source: None,
        }
    }

    /// Claude's extra usage: $used of $250.
    fn extra(used: f64) -> ResolvedWindow {
        win("extra", "amount", used, 250.0, Some("USD"))
    }

    /// A 5-hour window at `pct` percent, resetting at `resets_at`.
    fn five_hour(pct: f64, resets_at: i64) -> ResolvedWindow {
        let mut w = win("5h", "percentage", pct, 100.0, None);
        w.resets_at = Some(resets_at);
        w
    }

    fn balance(left: f64) -> ResolvedWindow {
        let mut w = win("balance", "balance", 0.0, 0.0, Some("USD"));
        w.remaining = left;
        w
    }

    fn entry(provider: &str, windows: Vec<ResolvedWindow>) -> StoreEntry {
        StoreEntry {
            key: format!("{provider}/default"),
            provider_id: provider.into(),
            model_id: "default".into(),
            windows,
            updated: T0,
            fails: 0,
            active: true,
            stale: false,
            plan: None,
            error: None,
        }
    }

    fn response<'a>(provider_id: &'a str, model_id: &'a str) -> Seen<'a> {
        Seen::Response {
            provider_id,
            model_id,
        }
    }

    fn only_window(l: &Ledger, provider: &str) -> WindowChange {
        let s = l.summary();
        let p = s
            .providers
            .iter()
            .find(|p| p.provider_id == provider)
            .unwrap();
        assert_eq!(p.windows.len(), 1, "{:?}", p.windows);
        p.windows[0].clone()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    #[test]
    fn two_responses_move_extra_usage_and_go_to_the_model() {
        let mut l = Ledger::new("s1", T0);
        l.note(&[entry("anthropic", vec![extra(81.5)])], Seen::Poll, T0);
        let opus = response("anthropic", "claude-opus-4-7");
        l.note(&[entry("anthropic", vec![extra(90.0)])], opus, T0 + MIN);
        l.note(
            &[entry("anthropic", vec![extra(100.0)])],
            opus,
            T0 + 2 * MIN,
        );
        let w = only_window(&l, "anthropic");
        assert!(close(w.change, 18.5), "{w:?}");
        assert!(w.money);
        assert_eq!(w.by_model.len(), 1);
        assert_eq!(w.by_model[0].0, "claude-opus-4-7");
        assert!(close(w.by_model[0].1, 18.5));
        assert!(close(w.other, 0.0));
    }

    #[test]
    fn the_first_value_is_the_baseline_and_a_repeat_changes_nothing() {
        let mut l = Ledger::new("s1", T0);
        assert!(l.note(&[entry("anthropic", vec![extra(81.5)])], Seen::Poll, T0));
        assert!(!l.note(
            &[entry("anthropic", vec![extra(81.5)])],
            Seen::Poll,
            T0 + MIN
        ));
        let s = l.summary();
        assert_eq!(s.providers.len(), 1, "a provider with data has a block");
        assert_eq!(s.providers[0].windows[0].change, 0.0, "no change yet");
        assert_eq!(s.updated_at, T0);
    }

    #[test]
    fn a_reset_inside_the_session_counts_use_before_and_after_it() {
        let mut l = Ledger::new("s1", T0);
        let reset1 = T0 + 30 * MIN;
        let reset2 = reset1 + 5 * 60 * MIN;
        l.note(
            &[entry("anthropic", vec![five_hour(60.0, reset1)])],
            Seen::Poll,
            T0,
        );
        l.note(
            &[entry("anthropic", vec![five_hour(70.0, reset1)])],
            Seen::Poll,
            T0 + MIN,
        );
        // the window reset: 70% → 5% of a new window
        l.note(
            &[entry("anthropic", vec![five_hour(5.0, reset2)])],
            Seen::Poll,
            reset1 + MIN,
        );
        l.note(
            &[entry("anthropic", vec![five_hour(12.0, reset2)])],
            Seen::Poll,
            reset1 + 2 * MIN,
        );
        let w = only_window(&l, "anthropic");
        assert!(close(w.change, 10.0 + 5.0 + 7.0), "{w:?}");
        assert_eq!(w.resets, 1);
        assert!(!w.money);
        assert_eq!(w.unit, None, "percent points");
    }

    #[test]
    fn a_drop_without_a_new_reset_time_counts_nothing() {
        let mut l = Ledger::new("s1", T0);
        let reset = T0 + 60 * MIN;
        l.note(
            &[entry("anthropic", vec![five_hour(60.0, reset)])],
            Seen::Poll,
            T0,
        );
        l.note(
            &[entry("anthropic", vec![five_hour(50.0, reset)])],
            Seen::Poll,
            T0 + MIN,
        );
        l.note(
            &[entry("anthropic", vec![five_hour(52.0, reset)])],
            Seen::Poll,
            T0 + 2 * MIN,
        );
        let w = only_window(&l, "anthropic");
        assert!(close(w.change, 2.0), "{w:?}");
        assert_eq!(w.resets, 0);
    }

    #[test]
    fn a_balance_counts_money_spent_and_a_top_up_is_no_negative_cost() {
        let mut l = Ledger::new("s1", T0);
        let ds = response("deepseek", "deepseek-chat");
        l.note(&[entry("deepseek", vec![balance(10.0)])], Seen::Poll, T0);
        l.note(&[entry("deepseek", vec![balance(9.25)])], ds, T0 + MIN);
        // a top-up of $20
        l.note(
            &[entry("deepseek", vec![balance(29.25)])],
            Seen::Poll,
            T0 + 2 * MIN,
        );
        l.note(&[entry("deepseek", vec![balance(29.0)])], ds, T0 + 3 * MIN);
        let w = only_window(&l, "deepseek");
        assert!(close(w.change, 1.0), "{w:?}");
        assert!(w.balance && w.money);
        assert!(close(w.by_model[0].1, 1.0));
    }

    #[test]
    fn a_change_seen_only_by_a_poll_is_other_use() {
        let mut l = Ledger::new("s1", T0);
        l.note(&[entry("anthropic", vec![extra(81.5)])], Seen::Poll, T0);
        l.note(
            &[entry("anthropic", vec![extra(85.0)])],
            Seen::Poll,
            T0 + MIN,
        );
        l.note(
            &[entry("anthropic", vec![extra(86.0)])],
            response("anthropic", "claude-opus-4-7"),
            T0 + 2 * MIN,
        );
        let w = only_window(&l, "anthropic");
        assert!(close(w.change, 4.5));
        assert!(close(w.other, 3.5), "{w:?}");
        assert!(close(w.by_model[0].1, 1.0));
    }

    #[test]
    fn another_providers_response_does_not_claim_this_providers_change() {
        let mut l = Ledger::new("s1", T0);
        l.note(&[entry("anthropic", vec![extra(81.5)])], Seen::Poll, T0);
        l.note(
            &[entry("anthropic", vec![extra(83.0)])],
            response("github-copilot", "gpt-5"),
            T0 + MIN,
        );
        let w = only_window(&l, "anthropic");
        assert!(close(w.other, 1.5));
        assert!(w.by_model.is_empty());
    }

    #[test]
    fn two_models_in_one_session_each_get_their_share() {
        let mut l = Ledger::new("s1", T0);
        l.note(&[entry("anthropic", vec![extra(81.5)])], Seen::Poll, T0);
        let opus = response("anthropic", "claude-opus-4-7");
        let haiku = response("anthropic", "claude-haiku-4-5");
        l.note(&[entry("anthropic", vec![extra(90.0)])], opus, T0 + MIN);
        l.note(
            &[entry("anthropic", vec![extra(91.0)])],
            haiku,
            T0 + 2 * MIN,
        );
        l.note(&[entry("anthropic", vec![extra(95.0)])], opus, T0 + 3 * MIN);
        let w = only_window(&l, "anthropic");
        assert!(close(w.change, 13.5));
        assert_eq!(w.by_model[0].0, "claude-opus-4-7", "the larger share first");
        assert!(close(w.by_model[0].1, 12.5));
        assert_eq!(w.by_model[1].0, "claude-haiku-4-5");
        assert!(close(w.by_model[1].1, 1.0));
    }

    #[test]
    fn money_comes_first_in_a_providers_block() {
        let mut l = Ledger::new("s1", T0);
        let reset = T0 + 60 * MIN;
        l.note(
            &[entry("anthropic", vec![five_hour(10.0, reset), extra(1.0)])],
            Seen::Poll,
            T0,
        );
        l.note(
            &[entry("anthropic", vec![five_hour(40.0, reset), extra(1.5)])],
            Seen::Poll,
            T0 + MIN,
        );
        let s = l.summary();
        let ids: Vec<&str> = s.providers[0]
            .windows
            .iter()
            .map(|w| w.window_id.as_str())
            .collect();
        assert_eq!(ids, ["extra", "5h"]);
    }

    #[test]
    fn entries_never_fetched_and_unlimited_windows_are_not_counted() {
        let mut l = Ledger::new("s1", T0);
        let mut never = entry("anthropic", vec![extra(5.0)]);
        never.updated = 0;
        let mut unlimited = extra(1.0);
        unlimited.unlimited = true;
        assert!(!l.note(&[never, entry("zai", vec![unlimited])], Seen::Poll, T0));
        assert!(l.summary().providers.is_empty());
    }

    #[test]
    fn a_ledger_survives_its_file_and_a_new_session_starts_at_zero() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Ledger::new("0197-abc", T0);
        l.note(&[entry("anthropic", vec![extra(81.5)])], Seen::Poll, T0);
        l.note(
            &[entry("anthropic", vec![extra(100.0)])],
            response("anthropic", "opus"),
            T0 + MIN,
        );
        save(dir.path(), &l).unwrap();
        let back = load(dir.path(), "0197-abc", T0 + 2 * MIN);
        assert_eq!(back, l);
        let fresh = load(dir.path(), "0197-def", T0 + 2 * MIN);
        assert_eq!(fresh.started_at, T0 + 2 * MIN);
        assert!(
            fresh.summary().providers.is_empty(),
            "a new session starts at zero"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("0197-abc.json"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "private: {mode:o}");
        }
    }

    #[test]
    fn an_unreadable_file_is_a_new_ledger() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("s1.json"), b"{ not json").unwrap();
        let l = load(dir.path(), "s1", T0);
        assert_eq!(l, Ledger::new("s1", T0));
    }

    #[test]
    fn session_ids_that_could_name_a_path_are_refused() {
        assert!(check_session_id("0197b3a4-1c2d-7e8f-9a0b-1c2d3e4f5a6b").is_ok());
        for bad in ["", "../x", "a/b", "a.json", &"x".repeat(200)] {
            let err = check_session_id(bad).unwrap_err();
            assert!(err.contains("not a pi session id"), "{err}");
        }
        let dir = tempfile::tempdir().unwrap();
        assert!(save(dir.path(), &Ledger::new("../x", T0)).is_err());
    }

    #[test]
    fn old_session_files_are_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("old.json");
        std::fs::write(&old, b"{}").unwrap();
        let long_ago = std::time::SystemTime::now()
            - std::time::Duration::from_millis((KEEP_MS + DAY_MS) as u64);
        std::fs::File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(long_ago)
            .unwrap();
        let recent = dir.path().join("recent.json");
        std::fs::write(&recent, b"{}").unwrap();
        save(dir.path(), &Ledger::new("new", T0)).unwrap();
        assert!(
            !old.exists(),
            "a file not written for the keep time is gone"
        );
        assert!(recent.exists() && dir.path().join("new.json").exists());
    }

    fn point(
        at: i64,
        used_ratio: f64,
        remaining: Option<f64>,
        resets_at: i64,
    ) -> crate::history::HistoryPoint {
        crate::history::HistoryPoint {
            at,
            used_ratio,
            used: None,
            remaining,
            resets_at: Some(resets_at),
        }
    }

    #[test]
    fn a_recorded_course_counts_a_reset_like_a_session() {
        let r1 = T0 + 30 * MIN;
        let r2 = r1 + 300 * MIN;
        let course = [
            point(T0, 0.6, None, r1),
            point(T0 + MIN, 0.7, None, r1),
            point(r1 + MIN, 0.05, None, r2),
            point(r1 + 2 * MIN, 0.12, None, r2),
        ];
        let c = change_over(&course, None);
        assert!(close(c.change, 22.0), "{c:?}");
        assert_eq!((c.resets, c.in_unit, c.balance), (1, false, false));
        assert_eq!((c.from, c.to), (T0, r1 + 2 * MIN));
    }

    #[test]
    fn a_recorded_balance_counts_money_spent_not_top_ups() {
        let course = [
            point(T0, 0.0, Some(10.0), 0),
            point(T0 + MIN, 0.0, Some(9.0), 0),
            point(T0 + 2 * MIN, 0.0, Some(30.0), 0),
            point(T0 + 3 * MIN, 0.0, Some(29.5), 0),
        ];
        let c = change_over(&course, None);
        assert!(c.balance, "inferred: use never moves, money left does");
        assert!(close(c.change, 1.5), "{c:?}");
        assert_eq!(change_over(&[], None).change, 0.0);
    }

    #[test]
    fn the_directory_is_beside_the_cache_or_in_the_agent_dir() {
        let agent = Path::new("/home/u/.pi/agent");
        assert_eq!(
            dir_for(Some(Path::new("/tmp/c/usage.json")), agent),
            Path::new("/tmp/c/usage-sessions")
        );
        assert_eq!(
            dir_for(None, agent),
            Path::new("/home/u/.pi/agent/cache/usage-sessions")
        );
    }
}
