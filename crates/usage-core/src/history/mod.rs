//! Usage history: every value the tracker stores, per provider account, in a file next to the
//! shared cache (`<cache file>.history-<provider>-<fingerprint>.jsonl`, mode 0600), so a
//! window's recent burn rate can be measured and its course shown.
//!
//! The file is a header line and one JSON line per observed window. Appends happen under a
//! per-account lock file (only ever tried, like the cache's), as one `O_APPEND` write; a process
//! killed mid-write leaves at most a torn last line, which readers skip. Points are stamped with
//! when their fetch started, the stamp the shared cache gives a result, so processes that take
//! the same result from the cache append nothing twice (a point no newer than the file's
//! last one of its window is dropped). About once an hour each process compacts the file
//! (temp file + rename): full resolution for a day, then the last point per window per
//! 15 minutes, dropped once older than the window's length plus a margin. A file that cannot be
//! read as a history is set aside (`.corrupt-<ms>`) with a warning and a new one started.
//!
//! A point is recorded only when its window's value, amounts or reset changed, or when it is
//! the first of its 15-minute compaction bucket: values that came with pi's own traffic
//! (`record_observed`) arrive every few seconds, polls every minute, and most windows are idle.
//!
//! Files are keyed by the account's history key (`UsageProvider::account_keys`: the account
//! or project id, an API key's hash, or the provider instance for a login whose token is
//! refreshed), never by a token. Providers without one (JS strategies) have no history.
//!
//! Split by reason to change: `line.rs` the file format, `compact.rs` what is kept,
//! `memory.rs` the recent samples held per account; this file the files, their locks and I/O.
//! Pace is not computed here: `History::samples` hands out samples, `resolve.rs` and `burn.rs`
//! turn them into pace.

mod compact;
mod line;
mod memory;

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::burn;
use crate::clock::Clock;
use crate::model::ResolvedWindow;
use crate::safe_file;
use crate::safe_file::{
    create_private_dir, open_lock_file, open_regular, try_lock_until_async, OpenError,
};
use crate::sanitize::clean_text;
use compact::{compact, thin};
use line::{encode, parse_file, parse_tail, to_lines, Header, Line, SeriesKey};
use memory::Memory;

const VERSION: u32 = 1;
const DAY_MS: i64 = 86_400_000;
/// Newer points are all kept.
pub const FULL_RESOLUTION_MS: i64 = DAY_MS;
/// Older ones: the last point per window per bucket.
pub const BUCKET_MS: i64 = 15 * 60_000;
/// A point is kept for its window's length plus this much (or the length, when shorter).
const MAX_MARGIN_MS: i64 = DAY_MS;
/// Windows without a length (balances) keep a month.
const NO_LENGTH_KEEP_MS: i64 = 31 * DAY_MS;
const MAX_KEEP_MS: i64 = 400 * DAY_MS;
/// How often one process compacts one account's file.
pub const COMPACT_EVERY_MS: i64 = 3_600_000;
/// Points stamped further ahead than this are dropped (clock steps).
const FUTURE_SKEW_MS: i64 = 5 * 60_000;
/// Most points one `points()` call returns (each becomes an object on the JS thread); a longer
/// course is thinned evenly, its first and last points kept. A compacted week has ~2 000.
pub const MAX_POINTS: usize = 4_096;
/// The largest history file read; a larger one is set aside.
pub const MAX_HISTORY_BYTES: u64 = 32 * 1024 * 1024;
/// What an append reads back to find the last point of each window it writes: a little
/// first (two cycles of 20 windows), more only when one of them is not in it.
const FIRST_TAIL_BYTES: u64 = 4 * 1024;
const TAIL_BYTES: u64 = 64 * 1024;
/// What a process reads at first to measure burn rates at once (two hours of 20 windows).
const MEMORY_TAIL_BYTES: u64 = 256 * 1024;
const MEMORY_KEEP_MS: i64 = 2 * burn::LOOKBACK_MS;
/// A reset that moves by no more than this has not changed: services that send "resets in
/// n seconds" give one that wanders with the time of the response.
const RESET_JITTER_MS: u64 = 60_000;
/// How long a write waits for the account's lock before leaving the point to memory only.
pub const LOCK_WAIT: Duration = Duration::from_millis(250);
/// A file not written for this long is checked for expiry when a compaction runs.
const IDLE_FILE_MS: u64 = DAY_MS as u64;
const MAX_IDLE_FILES_CHECKED: usize = 32;
const KEEP_SET_ASIDE_MS: i64 = 7 * DAY_MS;
/// More bad lines than this (and more than a quarter of all) make a file corrupt; fewer are
/// torn writes of killed processes and are skipped.
const TOLERATED_BAD_LINES: usize = 8;
const MAX_ID_CHARS: usize = 200;

/// One point of a window's course, as `Tracker::history` returns it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryPoint {
    pub at: i64,
    pub used_ratio: f64,
    pub used: Option<f64>,
    pub remaining: Option<f64>,
    /// The window's reset then: a later one means the window was reset in between.
    pub resets_at: Option<i64>,
}

/// A file's points as last parsed, and the version of the file they came from.
struct Parsed {
    stamp: FileStamp,
    lines: Arc<Vec<Line>>,
}

/// An account's file and lock, by provider id and fingerprint.
struct Account {
    key: String,
    data: PathBuf,
    lock: PathBuf,
}

pub struct History {
    cache_path: PathBuf,
    clock: Arc<dyn Clock>,
    warning: Mutex<Option<String>>,
    memory: Mutex<HashMap<String, Memory>>,
    /// Files parsed for `points`, while unchanged: a view asks for many windows of one file.
    parsed: Mutex<HashMap<PathBuf, Parsed>>,
}

/// What identifies one version of a file: a compaction renames a new inode into place, an
/// append grows it.
#[derive(Debug, Clone, PartialEq)]
struct FileStamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
    inode: u64,
}

impl FileStamp {
    fn of(path: &Path) -> Option<FileStamp> {
        let meta = fs::symlink_metadata(path).ok()?;
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(&meta);
        #[cfg(not(unix))]
        let inode = 0;
        Some(FileStamp {
            len: meta.len(),
            modified: meta.modified().ok(),
            inode,
        })
    }
}

/// How many parsed files `points` keeps.
const PARSED_FILES: usize = 16;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn safe_name(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn is_regular_or_missing(path: &Path) -> bool {
    match fs::symlink_metadata(path) {
        Ok(meta) => meta.file_type().is_file(),
        Err(_) => true,
    }
}

fn read_capped(file: File, cap: u64) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    file.take(cap + 1).read_to_end(&mut bytes)?;
    Ok(bytes)
}

fn read_tail(file: &mut File, len: u64, max: u64) -> std::io::Result<(Vec<u8>, bool)> {
    let start = len.saturating_sub(max);
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    file.take(max).read_to_end(&mut bytes)?;
    Ok((bytes, start == 0))
}

impl History {
    /// History files live next to `cache_path` (the shared cache file).
    pub fn new(cache_path: &Path, clock: Arc<dyn Clock>) -> Self {
        Self {
            cache_path: cache_path.to_path_buf(),
            clock,
            warning: Mutex::new(None),
            memory: Mutex::new(HashMap::new()),
            parsed: Mutex::new(HashMap::new()),
        }
    }

    /// What went wrong with a history file last (set aside, refused), for the binding to
    /// surface; `None` while all is well.
    pub fn warning(&self) -> Option<String> {
        lock(&self.warning).clone()
    }

    fn warn(&self, message: String) {
        *lock(&self.warning) = Some(message);
    }

    fn file_prefix(&self) -> String {
        let name = self
            .cache_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        format!("{name}.history-")
    }

    fn account(&self, provider_id: &str, fp: &str) -> Account {
        let key = format!("{}{}-{}", self.file_prefix(), safe_name(provider_id), fp);
        Account {
            data: self.cache_path.with_file_name(format!("{key}.jsonl")),
            lock: self.cache_path.with_file_name(format!("{key}.lock")),
            key,
        }
    }

    /// The path the file of `provider_id`'s account `fp` has (for tests and tools).
    pub fn file_path(&self, provider_id: &str, fp: &str) -> PathBuf {
        self.account(provider_id, fp).data
    }

    fn shown(path: &Path) -> String {
        clean_text(&path.to_string_lossy(), 200)
    }

    /// Opens the data file for reading; `None` when missing, unreadable or refused (warned).
    fn open_data(&self, path: &Path, options: &mut OpenOptions) -> Option<File> {
        match open_regular(path, options) {
            Ok(file) => Some(file),
            Err(OpenError::NotRegular(what)) => {
                self.warn(format!(
                    "usage history file '{}' is {what}, not a regular file; history for that account is not kept",
                    Self::shown(path)
                ));
                None
            }
            Err(OpenError::Io) => None,
        }
    }

    /// Moves an unreadable file out of the way so a new one can start; says so once.
    fn set_aside(&self, path: &Path, reason: &str, now: i64) {
        let mut name = path.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".corrupt-{now}"));
        let aside = path.with_file_name(name);
        let outcome = match fs::rename(path, &aside) {
            Ok(()) => format!("set aside as '{}'", Self::shown(&aside)),
            Err(_) => "could not be moved; it will be replaced".to_string(),
        };
        self.warn(format!(
            "usage history file '{}' is unreadable ({reason}); {outcome} and a new history started",
            Self::shown(path)
        ));
    }

    /// Remembers `windows` as observed at `at` (when their fetch started) for the account and
    /// appends them to its file. Waits at most `LOCK_WAIT` for the account's lock,
    /// asynchronously; without it the points stay in this process's memory only.
    /// A window whose value, amounts and reset are those of its last point in the same
    /// 15-minute bucket adds nothing: a point per change, and one per bucket (what compaction
    /// keeps), so an idle window costs four points an hour, not one a cycle.
    pub async fn record(&self, provider_id: &str, fp: &str, windows: &[ResolvedWindow], at: i64) {
        self.record_lines(provider_id, fp, to_lines(windows, at))
            .await;
    }

    /// `record` for values that came with pi's own traffic (quota headers of model responses),
    /// which can arrive every few seconds; the same rule keeps repeats out.
    pub async fn record_observed(
        &self,
        provider_id: &str,
        fp: &str,
        windows: &[ResolvedWindow],
        at: i64,
    ) {
        self.record_lines(provider_id, fp, to_lines(windows, at))
            .await;
    }

    /// The history lives beside the cache and shares its fate: where the cache path holds
    /// something other than a regular file (a symlink, a FIFO, a device; the cache is off and
    /// says why), nothing is created beside it.
    fn beside_a_usable_cache(&self) -> bool {
        is_regular_or_missing(&self.cache_path)
    }

    async fn record_lines(&self, provider_id: &str, fp: &str, lines: Vec<Line>) {
        if !self.beside_a_usable_cache() {
            return;
        }
        let account = self.account(provider_id, fp);
        let now = self.clock.now_ms();
        let mut lines = lines;
        let compact_due = {
            let mut memory = lock(&self.memory);
            let m = memory.entry(account.key.clone()).or_default();
            lines.retain(|l| !m.repeats(l));
            if lines.is_empty() {
                return;
            }
            m.add(&lines, now);
            let due = m
                .compacted_at
                .is_none_or(|t| !(0..COMPACT_EVERY_MS).contains(&(now - t)));
            // Accounts this process no longer sees (a rotated token) leave memory.
            memory.retain(|key, m| *key == account.key || m.newest() >= now - MEMORY_KEEP_MS);
            due
        };
        let Some(dir) = self.cache_path.parent() else {
            return;
        };
        if create_private_dir(dir).is_err() {
            return;
        }
        let Some(lock_file) = open_lock_file(&account.lock) else {
            // Something other than a regular file in its place (a symlink) is never followed;
            // the point stays in memory only, and the caller hears why.
            if std::fs::symlink_metadata(&account.lock).is_ok_and(|m| !m.file_type().is_file()) {
                self.warn(format!(
                    "history lock '{}' is not a regular file; history is not written for this account until it is removed",
                    Self::shown(&account.lock)
                ));
            }
            return;
        };
        if !try_lock_until_async(&lock_file, Instant::now() + LOCK_WAIT).await {
            return;
        }
        let written = if compact_due {
            self.compact_locked(&account, lines, now).map(|kept| {
                self.sweep_idle_files(&account, now);
                (kept, true)
            })
        } else {
            self.append_locked(&account, lines, now)
                .map(|tail| (tail, false))
        };
        drop(lock_file);
        if let Some((lines, compacted)) = written {
            let mut memory = lock(&self.memory);
            let m = memory.entry(account.key).or_default();
            m.add(&lines, now);
            m.loaded = true;
            if compacted {
                m.compacted_at = Some(now);
            }
        }
    }

    /// Appends under the lock; returns the file's tail (for memory). Falls back to a full
    /// compaction when the file is missing or its end is not ours to read.
    fn append_locked(&self, account: &Account, lines: Vec<Line>, now: i64) -> Option<Vec<Line>> {
        let mut file = match open_regular(&account.data, OpenOptions::new().read(true).append(true))
        {
            Ok(file) => file,
            Err(OpenError::Io) => return self.compact_locked(account, lines, now),
            Err(OpenError::NotRegular(_)) => {
                self.open_data(&account.data, OpenOptions::new().read(true));
                return None;
            }
        };
        let len = file.metadata().ok()?.len();
        if len == 0 {
            return self.compact_locked(account, lines, now);
        }
        let mut span = FIRST_TAIL_BYTES;
        let (tail, last) = loop {
            let (bytes, whole) = read_tail(&mut file, len, span).ok()?;
            let tail = parse_tail(&bytes, whole);
            let mut last: HashMap<SeriesKey, i64> = HashMap::new();
            for line in &tail.lines {
                let t = last.entry(line.series()).or_insert(line.t);
                *t = (*t).max(line.t);
            }
            let all_found = lines.iter().all(|l| last.contains_key(&l.series()));
            if whole || all_found || span >= TAIL_BYTES {
                break (tail, last);
            }
            span *= 4;
        };
        let fresh: Vec<Line> = lines
            .into_iter()
            .filter(|l| last.get(&l.series()).is_none_or(|t| l.t > *t))
            .collect();
        if !fresh.is_empty() {
            let mut buf = Vec::new();
            if !tail.ends_with_newline {
                // A torn line from a killed writer: end it, so ours starts on a line of its own.
                buf.push(b'\n');
            }
            encode(&fresh, &mut buf);
            // One write with O_APPEND: lands whole after whatever the others appended.
            file.write_all(&buf).ok()?;
        }
        let mut seen = tail.lines;
        seen.extend(fresh);
        Some(seen)
    }

    /// Reads the whole file under the lock, sets it aside if it is not a history, merges
    /// `lines`, compacts and replaces the file. Returns what was written.
    fn compact_locked(&self, account: &Account, lines: Vec<Line>, now: i64) -> Option<Vec<Line>> {
        let mut all = match self.read_all(&account.data, now, true) {
            Some(lines) => lines,
            // Refused (a symlink, a FIFO…): not ours to replace.
            None if !is_regular_or_missing(&account.data) => return None,
            None => Vec::new(),
        };
        all.extend(lines);
        let kept = compact(all, now);
        let mut buf = Vec::new();
        let _ = serde_json::to_writer(&mut buf, &Header { history: VERSION });
        buf.push(b'\n');
        encode(&kept, &mut buf);
        self.replace(&account.data, &buf).ok()?;
        Some(kept)
    }

    /// The file's points; a file that is not a history is set aside when `fix` (the lock is
    /// held), else just not read. `None` when there is no readable file.
    fn read_all(&self, path: &Path, now: i64, fix: bool) -> Option<Vec<Line>> {
        let file = self.open_data(path, OpenOptions::new().read(true))?;
        let bytes = read_capped(file, MAX_HISTORY_BYTES).ok()?;
        if bytes.len() as u64 > MAX_HISTORY_BYTES {
            if fix {
                let limit = MAX_HISTORY_BYTES / (1024 * 1024);
                self.set_aside(path, &format!("larger than {limit} MiB"), now);
            }
            return None;
        }
        match parse_file(&bytes) {
            Ok(parsed) => Some(parsed.lines),
            Err(reason) => {
                if fix {
                    self.set_aside(path, &reason, now);
                }
                None
            }
        }
    }

    /// Temp file (unpredictable name, O_EXCL, 0600) in the same directory, then rename.
    fn replace(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        safe_file::replace(dir, path, bytes, ".usage-tracker-", false, true)
    }

    /// Files of accounts no longer seen (a rotated token, a removed login): once every point in
    /// one has expired, it and its lock go. Bounded work per compaction.
    fn sweep_idle_files(&self, current: &Account, now: i64) {
        let Some(dir) = self.cache_path.parent() else {
            return;
        };
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        let prefix = self.file_prefix();
        let idle_after = Duration::from_millis(IDLE_FILE_MS);
        let mut checked = 0;
        for entry in entries.flatten() {
            if checked >= MAX_IDLE_FILES_CHECKED {
                break;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(".usage-tracker-") && name.ends_with(".tmp") {
                // A temp file of a writer killed before its rename (the cache's or ours).
                let stale = entry
                    .metadata()
                    .ok()
                    .and_then(|m| m.modified().ok())
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age > idle_after);
                if stale {
                    let _ = fs::remove_file(entry.path());
                }
                continue;
            }
            let Some(rest) = name.strip_prefix(&prefix) else {
                continue;
            };
            let idle = entry
                .metadata()
                .ok()
                .filter(|m| m.file_type().is_file())
                .and_then(|m| m.modified().ok())
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > idle_after);
            if !idle || entry.path() == current.data {
                continue;
            }
            if let Some((_, stamp)) = rest.split_once(".jsonl.corrupt-") {
                // Kept a week for whoever wants to look (a rename keeps the old mtime, so the
                // stamp in the name says when it was set aside).
                let set_aside_at = stamp.parse::<i64>().unwrap_or(0);
                if now.saturating_sub(set_aside_at) > KEEP_SET_ASIDE_MS {
                    let _ = fs::remove_file(entry.path());
                }
                continue;
            }
            let Some(stem) = rest.strip_suffix(".jsonl") else {
                continue;
            };
            checked += 1;
            let lock_path = self
                .cache_path
                .with_file_name(format!("{prefix}{stem}.lock"));
            let Some(lock_file) = open_lock_file(&lock_path) else {
                continue;
            };
            if lock_file.try_lock().is_err() {
                continue;
            }
            let alive = self
                .read_all(&entry.path(), now, false)
                .is_none_or(|lines| !compact(lines, now).is_empty());
            if !alive {
                let _ = fs::remove_file(entry.path());
                let _ = fs::remove_file(&lock_path);
            }
        }
    }

    /// Loads the end of the account's file into memory the first time it is needed, so a new
    /// process measures burn rates from its first cycle. Reads only; never waits on a lock.
    fn ensure_loaded(&self, account: &Account, now: i64) {
        if !self.beside_a_usable_cache() {
            return;
        }
        if lock(&self.memory)
            .get(&account.key)
            .is_some_and(|m| m.loaded)
        {
            return;
        }
        let lines = self
            .open_data(&account.data, OpenOptions::new().read(true))
            .and_then(|mut file| {
                let len = file.metadata().ok()?.len();
                let (bytes, whole) = read_tail(&mut file, len, MEMORY_TAIL_BYTES).ok()?;
                Some(parse_tail(&bytes, whole).lines)
            })
            .unwrap_or_default();
        let mut memory = lock(&self.memory);
        let m = memory.entry(account.key.clone()).or_default();
        m.add(&lines, now);
        m.loaded = true;
    }

    /// The recent samples of `provider_id`'s account `fp`, for pace (`resolve::apply_measured_pace`).
    /// Reads the end of the account's file the first time: call it outside any lock that the
    /// JS thread waits on.
    pub fn samples(&self, provider_id: &str, fp: &str, now: i64) -> burn::Series {
        let account = self.account(provider_id, fp);
        self.ensure_loaded(&account, now);
        self.samples_in_memory(provider_id, fp)
    }

    /// `samples` without touching a file: what this process has loaded or recorded so far.
    pub fn samples_in_memory(&self, provider_id: &str, fp: &str) -> burn::Series {
        let account = self.account(provider_id, fp);
        lock(&self.memory)
            .get(&account.key)
            .map(|m| m.samples.clone())
            .unwrap_or_default()
    }

    /// The file's points, parsed again only when the file changed.
    fn read_parsed(&self, path: &Path) -> Arc<Vec<Line>> {
        if !self.beside_a_usable_cache() {
            return Arc::default();
        }
        let Some(stamp) = FileStamp::of(path) else {
            return Arc::default();
        };
        if let Some(p) = lock(&self.parsed).get(path).filter(|p| p.stamp == stamp) {
            return p.lines.clone();
        }
        let now = self.clock.now_ms();
        let lines = Arc::new(self.read_all(path, now, false).unwrap_or_default());
        let mut parsed = lock(&self.parsed);
        if parsed.len() >= PARSED_FILES {
            parsed.clear();
        }
        let entry = Parsed {
            stamp,
            lines: lines.clone(),
        };
        parsed.insert(path.to_path_buf(), entry);
        lines
    }

    /// The recorded course of one window (a pool view reads its pool's), oldest first, from
    /// `since` on. Reads the file without its lock: appends are whole lines and compaction
    /// replaces the file at once, so a reader sees one state or the other.
    pub fn points(
        &self,
        provider_id: &str,
        fp: &str,
        window_id: &str,
        model_id: &str,
        since: Option<i64>,
    ) -> Vec<HistoryPoint> {
        let account = self.account(provider_id, fp);
        let lines = self.read_parsed(&account.data);
        // A point stamped ahead of now (beyond a clock's skew) is not a recorded one.
        let latest = self.clock.now_ms().saturating_add(FUTURE_SKEW_MS);
        let mut seen = HashSet::new();
        let mut out: Vec<HistoryPoint> = lines
            .iter()
            .rev()
            .filter(|l| l.is_series(window_id, model_id) && since.is_none_or(|s| l.t >= s))
            .filter(|l| l.t <= latest)
            .filter(|l| seen.insert(l.t))
            .map(|l| HistoryPoint {
                at: l.t,
                used_ratio: l.ur,
                used: l.u,
                remaining: l.r,
                resets_at: l.rs,
            })
            .collect();
        out.sort_by_key(|p| p.at);
        thin(out, MAX_POINTS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{QuotaDefinition, QuotaKind, UsageSnapshot, DEFAULT_MODEL};

    use crate::resolve::{apply_measured_pace, resolve_window};
    use line::*;
    use std::sync::atomic::{AtomicI64, Ordering};

    const NOW: i64 = 1_800_000_000_000;
    const MIN: i64 = 60_000;
    const HOUR: i64 = 3_600_000;

    struct TestClock(AtomicI64);
    impl Clock for TestClock {
        fn now_ms(&self) -> i64 {
            self.0.load(Ordering::SeqCst)
        }
    }

    fn setup() -> (tempfile::TempDir, History, Arc<TestClock>) {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(TestClock(AtomicI64::new(NOW)));
        let history = History::new(&dir.path().join("usage.json"), clock.clone());
        (dir, history, clock)
    }

    fn window(id: &str, used_ratio: f64, duration_secs: f64, now: i64) -> ResolvedWindow {
        let q = QuotaDefinition::new(id, QuotaKind::Percentage).with_duration(duration_secs);
        let mut s = UsageSnapshot::new(id);
        s.used_ratio = Some(used_ratio);
        s.resets_at = Some(now + (duration_secs as i64) * 500);
        resolve_window(&q, &s, now)
    }

    fn line(w: &str, t: i64, ur: f64, d: Option<f64>) -> Line {
        Line {
            w: w.into(),
            m: None,
            t,
            ur,
            u: None,
            r: None,
            d,
            rs: None,
        }
    }

    fn file_lines(path: &Path) -> Vec<String> {
        fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(String::from)
            .collect()
    }

    #[tokio::test]
    async fn records_are_read_back_and_the_file_is_private() {
        let (_dir, h, clock) = setup();
        for i in 0..5 {
            let at = NOW + i * MIN;
            clock.0.store(at, Ordering::SeqCst);
            let w = window("5h", 0.1 * i as f64, 18_000.0, at);
            h.record("anthropic", "fp1", &[w], at).await;
        }
        let points = h.points("anthropic", "fp1", "5h", DEFAULT_MODEL, None);
        assert_eq!(points.len(), 5);
        assert_eq!(points[2].at, NOW + 2 * MIN);
        assert!((points[4].used_ratio - 0.4).abs() < 1e-9);
        assert_eq!(points[0].used, None, "percent-only: the ratio says it all");
        let since = h.points("anthropic", "fp1", "5h", DEFAULT_MODEL, Some(NOW + 3 * MIN));
        assert_eq!(since.len(), 2);
        assert!(h
            .points("anthropic", "fp2", "5h", DEFAULT_MODEL, None)
            .is_empty());
        let path = h.file_path("anthropic", "fp1");
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("{\"history\":1}\n"));
        assert!(!text.contains("fp1"), "the fingerprint names the file only");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(h.warning(), None);
    }

    #[tokio::test]
    async fn a_parsed_file_is_reused_until_it_changes() {
        let (_dir, h, clock) = setup();
        h.record("a", "fp", &[window("5h", 0.1, 18_000.0, NOW)], NOW)
            .await;
        let first = h.read_parsed(&h.file_path("a", "fp"));
        assert!(Arc::ptr_eq(&first, &h.read_parsed(&h.file_path("a", "fp"))));
        let at = NOW + MIN;
        clock.0.store(at, Ordering::SeqCst);
        h.record("a", "fp", &[window("5h", 0.2, 18_000.0, at)], at)
            .await;
        assert_eq!(
            h.points("a", "fp", "5h", DEFAULT_MODEL, None).len(),
            2,
            "an append is seen"
        );
        clock.0.store(at + COMPACT_EVERY_MS, Ordering::SeqCst);
        h.record(
            "a",
            "fp",
            &[window("5h", 0.3, 18_000.0, at)],
            at + COMPACT_EVERY_MS,
        )
        .await;
        assert_eq!(
            h.points("a", "fp", "5h", DEFAULT_MODEL, None).len(),
            3,
            "so is a compaction"
        );
    }

    #[tokio::test]
    async fn a_point_is_recorded_when_its_window_changes_and_once_per_bucket() {
        let (_dir, h, clock) = setup();
        // A response every 5 s for 20 minutes; the value moves once, at 100 s; the reset
        // wanders by a second ("resets in n s").
        let reset = NOW + 9_000_000;
        let at_step = |i: i64, used: f64| {
            let at = NOW + i * 5_000;
            let mut w = window("5h", used, 18_000.0, NOW);
            w.resets_at = Some(reset + (i % 2) * 1_000);
            (at, w)
        };
        for i in 0..240 {
            let used = if i * 5_000 < 100_000 { 0.3 } else { 0.31 };
            let (at, w) = at_step(i, used);
            clock.0.store(at, Ordering::SeqCst);
            h.record_observed("a", "fp", &[w], at).await;
        }
        let ats = |h: &History| -> Vec<i64> {
            h.points("a", "fp", "5h", DEFAULT_MODEL, None)
                .iter()
                .map(|p| p.at - NOW)
                .collect()
        };
        // The first, the change when it came, the first of the next 15-minute bucket.
        assert_eq!(ats(&h), [0, 100_000, BUCKET_MS]);
        // A poll that sees the same adds nothing; one that sees the window reset does.
        let (at, w) = at_step(241, 0.31);
        clock.0.store(at, Ordering::SeqCst);
        h.record("a", "fp", std::slice::from_ref(&w), at).await;
        assert_eq!(ats(&h).len(), 3);
        let mut reset_again = w;
        reset_again.resets_at = Some(reset + 18_000_000);
        let at = at + 5_000;
        clock.0.store(at, Ordering::SeqCst);
        h.record("a", "fp", &[reset_again], at).await;
        assert_eq!(ats(&h).len(), 4);
    }

    #[tokio::test]
    async fn memory_forgets_accounts_no_longer_seen() {
        let (_dir, h, clock) = setup();
        for fp in ["rotated-1", "rotated-2"] {
            h.record("a", fp, &[window("5h", 0.1, 18_000.0, NOW)], NOW)
                .await;
        }
        let later = NOW + 3 * HOUR;
        clock.0.store(later, Ordering::SeqCst);
        h.record("a", "current", &[window("5h", 0.2, 18_000.0, later)], later)
            .await;
        let memory = lock(&h.memory);
        assert_eq!(memory.len(), 1, "{:?}", memory.keys().collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn the_same_result_recorded_twice_is_stored_once() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(TestClock(AtomicI64::new(NOW)));
        // Two processes' worth of History over one file.
        let a = History::new(&dir.path().join("usage.json"), clock.clone());
        let b = History::new(&dir.path().join("usage.json"), clock.clone());
        for i in 0..3 {
            let at = NOW + i * MIN;
            clock.0.store(at + 500, Ordering::SeqCst);
            let ws = [
                window("5h", 0.1 * i as f64, 18_000.0, at),
                window("7d", 0.01 * i as f64, 604_800.0, at),
            ];
            a.record("anthropic", "fp", &ws, at).await;
            // b took the same result from the shared cache: same stamp.
            b.record("anthropic", "fp", &ws, at).await;
            // An older result arriving late adds nothing either.
            b.record("anthropic", "fp", &ws, at - MIN).await;
        }
        let lines = file_lines(&a.file_path("anthropic", "fp"));
        assert_eq!(lines.len(), 1 + 6, "{lines:#?}");
        assert_eq!(
            a.points("anthropic", "fp", "7d", DEFAULT_MODEL, None).len(),
            3
        );
    }

    #[test]
    fn a_long_course_is_thinned_evenly_keeping_its_ends() {
        let points: Vec<HistoryPoint> = (0..10_000)
            .map(|i| HistoryPoint {
                at: i,
                used_ratio: 0.0,
                used: None,
                remaining: None,
                resets_at: None,
            })
            .collect();
        let kept = thin(points, MAX_POINTS);
        assert_eq!(kept.len(), MAX_POINTS);
        assert_eq!((kept[0].at, kept.last().unwrap().at), (0, 9_999));
        assert!(kept
            .windows(2)
            .all(|w| (2..=3).contains(&(w[1].at - w[0].at))));
    }

    #[test]
    fn compaction_keeps_a_day_then_one_point_per_quarter_hour_within_the_window() {
        let week = Some(604_800.0);
        let five_hours = Some(18_000.0);
        let mut lines = Vec::new();
        // Two days of a 7 d and a 5 h window, once a minute.
        for i in 0..(2 * 24 * 60) {
            let t = NOW - i * MIN;
            lines.push(line("7d", t, 0.5, week));
            lines.push(line("5h", t, 0.5, five_hours));
        }
        lines.push(line("7d", NOW - 9 * DAY_MS, 0.1, week));
        lines.push(line("7d", NOW + HOUR, 0.1, week));
        lines.push(line("balance", NOW - 30 * DAY_MS, 0.0, None));
        lines.push(line("balance", NOW - 32 * DAY_MS, 0.0, None));
        let dup = line("5h", NOW, 0.9, five_hours);
        lines.push(dup.clone());
        let kept = compact(lines, NOW);
        let count = |w: &str| kept.iter().filter(|l| l.w == w).count();
        // 7 d: the last day whole (1441 minutes incl. both ends), then 24 h in 96 buckets.
        let week_pts = count("7d");
        assert!((1441 + 95..=1441 + 97).contains(&week_pts), "{week_pts}");
        // 5 h: kept 5 h + 5 h margin, all within the full-resolution day.
        assert_eq!(count("5h"), 10 * 60 + 1);
        assert_eq!(count("balance"), 1, "31 days without a length");
        assert!(kept.iter().all(|l| l.t <= NOW), "nothing from the future");
        let at_now: Vec<_> = kept.iter().filter(|l| l.w == "5h" && l.t == NOW).collect();
        assert_eq!(at_now.len(), 1);
        assert!(kept.windows(2).all(|p| p[0].t <= p[1].t), "sorted by time");
        let buckets: Vec<i64> = kept
            .iter()
            .filter(|l| l.w == "7d" && l.t < NOW - DAY_MS)
            .map(|l| l.t.div_euclid(BUCKET_MS))
            .collect();
        let distinct: HashSet<_> = buckets.iter().collect();
        assert_eq!(distinct.len(), buckets.len(), "one point per bucket");
    }

    #[test]
    fn a_year_of_twenty_windows_stays_small() {
        // What a year of polling once a minute leaves after compaction, whatever happened
        // before: older points expired, the last month in 15-minute buckets, the last day whole.
        // (Fed in at those densities; compaction keeps no more of a denser feed.)
        let lengths = [18_000.0, 604_800.0, 2_592_000.0];
        let mut lines = Vec::new();
        for i in 0..20 {
            let d = Some(lengths[i % 3]);
            let id = format!("window-{i}");
            let days = (1..365).map(|k| NOW - k * DAY_MS);
            let quarters = (0..31 * 96).map(|k| NOW - DAY_MS - k * BUCKET_MS);
            let minutes = (0..=1440).map(|k| NOW - k * MIN);
            for t in days.chain(quarters).chain(minutes) {
                let mut l = line(&id, t, 0.3, d);
                l.rs = Some(t + 3_600_000);
                lines.push(l);
            }
        }
        let kept = compact(lines, NOW);
        let mut buf = Vec::new();
        encode(&kept, &mut buf);
        let size = buf.len();
        eprintln!("a year of 20 windows: {} points, {size} bytes", kept.len());
        assert!(size < 5 * 1024 * 1024, "{size} bytes");
    }

    #[tokio::test]
    async fn a_torn_last_line_is_skipped_and_the_next_append_starts_clean() {
        let (_dir, h, clock) = setup();
        for i in 0..3 {
            let at = NOW + i * MIN;
            clock.0.store(at, Ordering::SeqCst);
            let used = 0.1 + 0.01 * i as f64;
            h.record("a", "fp", &[window("5h", used, 18_000.0, at)], at)
                .await;
        }
        let path = h.file_path("a", "fp");
        let full = fs::read(&path).unwrap();
        let last_start = full[..full.len() - 1]
            .iter()
            .rposition(|b| *b == b'\n')
            .unwrap()
            + 1;
        // Every way a kill could cut the last append short.
        for cut in last_start..full.len() {
            fs::write(&path, &full[..cut]).unwrap();
            let points = h.points("a", "fp", "5h", DEFAULT_MODEL, None);
            assert_eq!(
                points.len(),
                2 + usize::from(cut == full.len() - 1),
                "cut at {cut}"
            );
        }
        fs::write(&path, &full[..full.len() - 5]).unwrap();
        let at = NOW + 10 * MIN;
        clock.0.store(at, Ordering::SeqCst);
        h.record("a", "fp", &[window("5h", 0.2, 18_000.0, at)], at)
            .await;
        let points = h.points("a", "fp", "5h", DEFAULT_MODEL, None);
        assert_eq!(
            points.iter().map(|p| p.at).collect::<Vec<_>>(),
            [NOW, NOW + MIN, at]
        );
        assert_eq!(h.warning(), None, "a torn line is no corruption");
        // Compaction removes the torn line for good.
        clock.0.store(at + COMPACT_EVERY_MS, Ordering::SeqCst);
        h.record(
            "a",
            "fp",
            &[window("5h", 0.3, 18_000.0, at)],
            at + COMPACT_EVERY_MS,
        )
        .await;
        let text = fs::read_to_string(&path).unwrap();
        assert!(text
            .lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()));
    }

    #[tokio::test]
    async fn a_corrupt_file_is_set_aside_with_a_warning_and_a_new_one_started() {
        let (dir, h, _clock) = setup();
        let path = h.file_path("a", "fp");
        fs::write(&path, b"\x00\x01 garbage, not json\n{\"w\":1}\n").unwrap();
        assert!(h.points("a", "fp", "5h", DEFAULT_MODEL, None).is_empty());
        assert_eq!(h.warning(), None, "a reader only reads");
        h.record("a", "fp", &[window("5h", 0.1, 18_000.0, NOW)], NOW)
            .await;
        let warning = h.warning().unwrap();
        assert!(
            warning.contains("is unreadable (no history header)"),
            "{warning}"
        );
        assert!(warning.contains(".corrupt-"), "{warning}");
        let aside: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".jsonl.corrupt-"))
            .collect();
        assert_eq!(aside.len(), 1);
        assert_eq!(
            fs::read(dir.path().join(&aside[0])).unwrap(),
            b"\x00\x01 garbage, not json\n{\"w\":1}\n"
        );
        assert_eq!(h.points("a", "fp", "5h", DEFAULT_MODEL, None).len(), 1);
    }

    #[test]
    fn many_bad_lines_are_corruption_a_few_are_torn_writes() {
        let mut text = String::from("{\"history\":1}\n");
        let good = serde_json::to_string(&line("5h", NOW, 0.5, None)).unwrap();
        for _ in 0..20 {
            text.push_str(&good);
            text.push('\n');
        }
        text.push_str("{\"w\":\"5h\",\"t\":18\n");
        assert_eq!(parse_file(text.as_bytes()).unwrap().lines.len(), 20);
        for _ in 0..20 {
            text.push_str("garbage\n");
        }
        assert!(parse_file(text.as_bytes()).is_err());
        assert!(parse_file(b"{\"history\":2}\n")
            .unwrap_err()
            .contains("version 2"));
        // Values no provider could have reported are not believed.
        let bad = [
            r#"{"w":"5h","t":1,"ur":1.5}"#,
            r#"{"w":"","t":1,"ur":0.5}"#,
            r#"{"w":"5h","t":-1,"ur":0.5}"#,
            r#"{"w":"5h","t":1,"ur":0.5,"d":-3}"#,
        ];
        for row in bad {
            let (lines, n) = parse_lines([row.as_bytes()].into_iter());
            assert_eq!((lines.len(), n), (0, 1), "{row}");
        }
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_symlink_in_place_of_the_file_is_refused() {
        let (dir, h, _clock) = setup();
        let victim = dir.path().join("victim");
        fs::write(&victim, b"precious").unwrap();
        std::os::unix::fs::symlink(&victim, h.file_path("a", "fp")).unwrap();
        h.record("a", "fp", &[window("5h", 0.1, 18_000.0, NOW)], NOW)
            .await;
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
        assert!(h.warning().unwrap().contains("is a symbolic link"));
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn nothing_is_created_beside_a_cache_path_that_is_not_a_regular_file() {
        let (dir, _h, clock) = setup();
        let victim = dir.path().join("victim");
        fs::write(&victim, b"precious").unwrap();
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        for cache in [link, dir.path().to_path_buf()] {
            let h = History::new(&cache, clock.clone());
            h.record("a", "fp", &[window("5h", 0.1, 18_000.0, NOW)], NOW)
                .await;
            assert!(h.points("a", "fp", "5h", DEFAULT_MODEL, None).is_empty());
        }
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.contains(".history-")), "{names:?}");
    }

    #[tokio::test]
    async fn a_held_lock_leaves_the_point_in_memory_and_never_blocks() {
        let (_dir, h, _clock) = setup();
        let account = h.account("a", "fp");
        fs::create_dir_all(account.lock.parent().unwrap()).unwrap();
        let holder = File::create(&account.lock).unwrap();
        holder.lock().unwrap();
        let started = Instant::now();
        h.record("a", "fp", &[window("5h", 0.1, 18_000.0, NOW)], NOW)
            .await;
        assert!(started.elapsed() < LOCK_WAIT * 4);
        assert!(!account.data.exists());
        assert_eq!(lock(&h.memory)[&account.key].samples.len(), 1);
    }

    #[tokio::test]
    async fn burn_rate_is_measured_from_memory_and_from_the_file_of_a_new_process() {
        let (dir, h, clock) = setup();
        // 5 h window that started 2 h ago: slow (0.05/h) for an hour, then 0.4/h.
        let start = NOW - 2 * HOUR;
        let resets = start + 5 * HOUR;
        let used_at = |t: i64| {
            let e = (t - start) as f64 / HOUR as f64;
            if e <= 1.0 {
                0.05 * e
            } else {
                0.05 + 0.4 * (e - 1.0)
            }
        };
        let observe = |t: i64| {
            let q = QuotaDefinition::new("5h", QuotaKind::Percentage).with_duration(18_000.0);
            let mut s = UsageSnapshot::new("5h");
            s.used_ratio = Some(used_at(t));
            s.resets_at = Some(resets);
            resolve_window(&q, &s, t)
        };
        let mut t = start;
        while t < NOW {
            clock.0.store(t, Ordering::SeqCst);
            h.record("a", "fp", &[observe(t)], t).await;
            t += MIN;
        }
        clock.0.store(NOW, Ordering::SeqCst);
        let linear = observe(NOW);
        let mut w = linear.clone();
        apply_measured_pace([&mut w], &h.samples("a", "fp", NOW), NOW, NOW);
        assert_eq!(w.pace_source, Some(crate::model::PaceSource::Measured));
        // 0.55 left: 1 h 22.5 min at 0.4/h, 2 h 27 min at the average 0.225/h.
        let expected = NOW + (0.55 / 0.4 * HOUR as f64) as i64;
        assert!((w.runs_out_at.unwrap() - expected).abs() < MIN, "{w:?}");
        assert!(w.runs_out_at.unwrap() < linear.runs_out_at.unwrap());

        // A new process reads the file's end and measures at once.
        let fresh = History::new(&dir.path().join("usage.json"), clock.clone());
        let mut w2 = linear.clone();
        apply_measured_pace([&mut w2], &fresh.samples("a", "fp", NOW), NOW, NOW);
        assert_eq!(w2.runs_out_at, w.runs_out_at);
        // Another account has no history: the straight line stays.
        let mut w3 = linear.clone();
        apply_measured_pace([&mut w3], &fresh.samples("a", "other", NOW), NOW, NOW);
        assert_eq!(w3.pace_source, Some(crate::model::PaceSource::Linear));
        assert_eq!(w3.runs_out_at, linear.runs_out_at);
    }

    #[test]
    fn pool_views_are_not_recorded_but_read_their_pool() {
        let mut pool = window("premium", 0.4, 2_592_000.0, NOW);
        pool.kind = "multiplier".into();
        let mut view = pool.clone();
        view.model_id = "claude-opus".into();
        let mut free = pool.clone();
        free.model_id = "gpt-4o".into();
        free.unlimited = true;
        let lines = to_lines([&pool, &view, &free], NOW);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].u, Some(40.0));
        assert_eq!(
            burn::series_of(&view),
            ("premium".into(), DEFAULT_MODEL.into())
        );
    }

    #[tokio::test]
    async fn files_of_accounts_gone_for_longer_than_their_windows_are_swept() {
        let (dir, h, clock) = setup();
        h.record("a", "old", &[window("5h", 0.1, 18_000.0, NOW)], NOW)
            .await;
        h.record("a", "recent", &[window("7d", 0.1, 604_800.0, NOW)], NOW)
            .await;
        let old = h.file_path("a", "old");
        let recent = h.file_path("a", "recent");
        let two_days_ago = std::time::SystemTime::now() - Duration::from_secs(2 * 86_400);
        let leftover = dir.path().join(".usage-tracker-abc123.tmp");
        let fresh_tmp = dir.path().join(".usage-tracker-def456.tmp");
        fs::write(&leftover, b"half").unwrap();
        fs::write(&fresh_tmp, b"half").unwrap();
        for p in [&old, &recent, &leftover] {
            File::options()
                .write(true)
                .open(p)
                .unwrap()
                .set_modified(two_days_ago)
                .unwrap();
        }
        let later = NOW + 2 * DAY_MS;
        clock.0.store(later, Ordering::SeqCst);
        h.record("a", "current", &[window("5h", 0.1, 18_000.0, later)], later)
            .await;
        assert!(!old.exists(), "5 h window, two days ago: expired");
        assert!(
            !leftover.exists(),
            "a killed writer's temp file, two days old"
        );
        assert!(fresh_tmp.exists(), "a temp file being written now");
        assert!(!dir.path().join("usage.json.history-a-old.lock").exists());
        assert!(recent.exists(), "a 7 d window is kept 8 days");
    }
}
