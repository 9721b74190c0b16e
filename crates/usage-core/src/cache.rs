//! The cache every process of the user shares: last good results and rate-limit state per
//! provider account, so N pi windows make one request per interval and a new window shows
//! the last known values at once.
//!
//! Locking uses the OS advisory locks in `std::fs::File` (flock on Unix): a process that dies
//! releases them with its file descriptors, so a killed process never blocks anyone. One
//! lock file per provider account serialises its fetch; a short lock on `<path>.lock` guards
//! the read-modify-write of the data file, which is replaced atomically (temp file + rename).
//! Locks are only ever tried, never waited on: a process that holds one forever (hung,
//! stopped, or hostile) costs the others their sharing, not their updates.
//!
//! The file is not trusted either: another program of the user (or a mistake) can put a
//! symlink, a FIFO or a device there, or a huge or hand-edited file. Those are refused or
//! bounded, and what is read back is checked like any provider's data.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::CoreError;
use crate::model::{FetchError, FetchOutcome};
use crate::providers::http::cap_retry_at;
use crate::safe_file::{
    self, create_private_dir, describe, open_lock_file, open_regular, try_lock_until,
    try_lock_until_async, OpenError,
};
use crate::sanitize::{clean_text, MAX_NAME_CHARS};
use crate::validate;

const VERSION: u32 = 1;

/// The largest cache file read. A real one is a few KiB per account; a larger one is
/// ignored (with a warning) and rewritten.
pub const MAX_CACHE_BYTES: u64 = 8 * 1024 * 1024;

/// How long the blocking writers (`write_success`, `write_failure`) wait for the data lock
/// before giving up on sharing that one result.
pub const DATA_LOCK_WAIT: Duration = Duration::from_millis(250);

/// Records of an account not seen for this long are dropped when the file is written,
/// unless one of its windows is longer.
const DEFAULT_RETENTION_MS: i64 = 8 * 86_400_000;
const MAX_RETENTION_MS: i64 = 400 * 86_400_000;

/// A record stamped this far in the future is still believed fresh (clock steps).
const CLOCK_SKEW_MS: i64 = 5_000;

/// How old another process's result may be and still count as fresh: for a scheduled poll,
/// younger than the interval (less the timer slack); for a forced refresh, younger than 30 s,
/// so N windows refreshing together make one request.
pub fn fresh_for_ms(forced: bool, interval_ms: u64, slack_ms: i64) -> i64 {
    if forced {
        30_000.min(interval_ms as i64)
    } else {
        interval_ms as i64 - slack_ms
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheRecord {
    pub fetched_at: i64,
    pub outcome: FetchOutcome,
    #[serde(default)]
    pub last_error: Option<FetchError>,
    #[serde(default)]
    pub last_error_at: Option<i64>,
}

impl CacheRecord {
    fn last_seen(&self) -> i64 {
        self.fetched_at.max(self.last_error_at.unwrap_or(0))
    }

    /// How long the record is worth keeping: its longest window, else 8 days.
    fn retention_ms(&self) -> i64 {
        let windows = self.outcome.snapshots.iter().map(|s| s.duration_secs);
        let quotas = self.outcome.extra_quotas.iter().map(|q| q.duration_secs);
        let longest = windows
            .chain(quotas)
            .flatten()
            .filter(|d| d.is_finite() && *d > 0.0)
            .fold(0.0_f64, f64::max);
        if longest > 0.0 {
            ((longest * 1000.0) as i64).min(MAX_RETENTION_MS)
        } else {
            DEFAULT_RETENTION_MS
        }
    }

    /// What another process wrote, checked like a provider's answer: bad numbers make the
    /// record unusable; the plan is shown in a terminal, so it is cleaned.
    fn checked(mut self) -> Option<Self> {
        for (i, s) in self.outcome.snapshots.iter().enumerate() {
            validate::snapshot(s, i).ok()?;
        }
        let bad_length = |q: &crate::model::QuotaDefinition| {
            q.duration_secs.is_some_and(|d| !d.is_finite() || d <= 0.0)
        };
        if self.outcome.extra_quotas.iter().any(bad_length) {
            return None;
        }
        self.outcome.plan = self
            .outcome
            .plan
            .map(|p| clean_text(&p, MAX_NAME_CHARS))
            .filter(|p| !p.is_empty());
        Some(self)
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct CacheFile {
    version: u32,
    providers: BTreeMap<String, CacheRecord>,
}

impl CacheFile {
    /// Drops records of accounts not seen for longer than they are worth keeping (a removed
    /// account, a rotated token), and records stamped implausibly far in the future.
    fn prune(&mut self, now: i64) {
        self.providers.retain(|_, r| {
            let keep = r.retention_ms();
            let age = now.saturating_sub(r.last_seen());
            (-keep..=keep).contains(&age)
        });
    }
}

/// One result to share, stamped with when its fetch started.
pub struct CacheWrite {
    pub provider_id: String,
    pub fp: String,
    pub result: Result<FetchOutcome, FetchError>,
    pub at: i64,
}

pub enum CacheLookup {
    Fresh(CacheRecord),
    /// Another process was told to wait until then.
    RetryAt(i64),
    Miss,
}

/// Which file a path held when it was read: inode, size and change time.
#[derive(Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    ino: u64,
    len: u64,
    modified: Option<std::time::SystemTime>,
}

impl FileStamp {
    fn of(meta: &fs::Metadata) -> Self {
        #[cfg(unix)]
        let ino = std::os::unix::fs::MetadataExt::ino(meta);
        #[cfg(not(unix))]
        let ino = 0;
        Self {
            ino,
            len: meta.len(),
            modified: meta.modified().ok(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub struct SharedCache {
    path: PathBuf,
    /// The file as last parsed, by its stamp: registering 16 providers or looking up each
    /// of a cycle's accounts reads it once, not once each.
    parsed: Mutex<Option<(FileStamp, Arc<CacheFile>)>>,
    /// Set when the path holds something other than a regular file: nothing is read or
    /// written for the rest of this process's life.
    disabled: AtomicBool,
    warning: Mutex<Option<String>>,
}

/// Held while one process fetches a provider account; dropping it releases the lock.
pub struct ProviderLock {
    _file: Option<File>,
}

fn record_key(provider_id: &str, fp: &str) -> String {
    format!("{provider_id}#{fp}")
}

enum FileRead {
    File(Arc<CacheFile>),
    /// Missing, unreadable, corrupt, foreign version or too large: empty, and rewritten whole.
    Empty,
    /// Not a regular file: the cache is disabled.
    Refused,
}

impl SharedCache {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            parsed: Mutex::new(None),
            disabled: AtomicBool::new(false),
            warning: Mutex::new(None),
        }
    }

    /// The `cachePath` option must name a file: not empty, not `.`/`..`, not ending in a
    /// separator, not an existing directory. (What the path holds at run time is checked
    /// on every open; see `warning`.)
    pub fn validate_path(path: &Path) -> Result<(), CoreError> {
        let shown = clean_text(&path.to_string_lossy(), 200);
        let bad = |reason: String| {
            Err(CoreError::InvalidOption {
                field: "cachePath",
                reason,
            })
        };
        let raw = path.as_os_str().to_string_lossy();
        if raw.trim().is_empty() {
            return bad("must name a file, got an empty path".into());
        }
        let names_dir = raw.ends_with('/') || raw.ends_with(std::path::MAIN_SEPARATOR);
        let last_is_name = matches!(
            path.components().next_back(),
            Some(std::path::Component::Normal(_))
        );
        if names_dir || !last_is_name {
            return bad(format!("'{shown}' names a directory; expected a file path such as '<dir>/usage-tracker.json'"));
        }
        if fs::metadata(path).is_ok_and(|m| m.is_dir()) {
            return bad(format!("'{shown}' is a directory; expected a file path such as '{shown}/usage-tracker.json'"));
        }
        Ok(())
    }

    /// Why the cache is off or was not used, for the binding to surface once; `None` while
    /// all is well.
    pub fn warning(&self) -> Option<String> {
        self.warning
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn is_disabled(&self) -> bool {
        self.disabled.load(Ordering::Relaxed)
    }

    fn refuse(&self, what: &str) {
        self.disabled.store(true, Ordering::Relaxed);
        self.warn(format!(
            "cache file '{}' is {what}, not a regular file; the shared cache is off for this process",
            self.shown_path()
        ));
    }

    /// Checked before anything is created next to the path (lock files, the directory).
    fn usable(&self) -> bool {
        if self.is_disabled() {
            return false;
        }
        match fs::symlink_metadata(&self.path) {
            Ok(meta) if !meta.file_type().is_file() => {
                self.refuse(describe(meta.file_type()));
                false
            }
            _ => true,
        }
    }

    fn warn(&self, message: String) {
        *self.warning.lock().unwrap_or_else(|e| e.into_inner()) = Some(message);
    }

    fn warn_read_only(&self) {
        self.warn(format!(
            "cache file '{}' is read-only; it is read but not written (make it writable to share results)",
            self.shown_path()
        ));
    }

    fn sibling(&self, suffix: &str) -> PathBuf {
        let mut name = self
            .path
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default();
        name.push(suffix);
        self.path.with_file_name(name)
    }

    /// The directory the file lives in (`.` for a bare file name).
    fn dir(&self) -> &Path {
        match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        }
    }

    fn shown_path(&self) -> String {
        clean_text(&self.path.to_string_lossy(), 200)
    }

    fn provider_lock_path(&self, provider_id: &str, fp: &str) -> PathBuf {
        let safe_id: String = provider_id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.sibling(&format!(".{safe_id}-{fp}.lock"))
    }

    /// Tries the account's fetch lock for at most half of `budget` (the caller's whole
    /// time for this fetch), so a peer that holds it and never finishes leaves the other
    /// half to fetch ourselves. Without the lock (held, no directory, refused file) we go
    /// on: the cache is an optimisation, never a reason to show nothing.
    pub async fn lock_provider(
        &self,
        provider_id: &str,
        fp: &str,
        budget: Duration,
    ) -> ProviderLock {
        if !self.usable() {
            return ProviderLock { _file: None };
        }
        let _ = create_private_dir(self.dir());
        let Some(file) = open_lock_file(&self.provider_lock_path(provider_id, fp)) else {
            return ProviderLock { _file: None };
        };
        let deadline = Instant::now() + budget / 2;
        if try_lock_until_async(&file, deadline).await {
            ProviderLock { _file: Some(file) }
        } else {
            ProviderLock { _file: None }
        }
    }

    fn read_file(&self) -> FileRead {
        if self.is_disabled() {
            return FileRead::Refused;
        }
        let file = match open_regular(&self.path, OpenOptions::new().read(true)) {
            Ok(file) => file,
            Err(OpenError::NotRegular(what)) => {
                self.refuse(what);
                return FileRead::Refused;
            }
            Err(OpenError::Io) => return FileRead::Empty,
        };
        let Ok(meta) = file.metadata() else {
            return FileRead::Empty;
        };
        if meta.permissions().readonly() {
            self.warn_read_only();
        }
        // The same file as last read (every write is a new file renamed in place): parsed once.
        let stamp = FileStamp::of(&meta);
        if let Some((seen, parsed)) = lock(&self.parsed).as_ref() {
            if *seen == stamp {
                return FileRead::File(parsed.clone());
            }
        }
        let mut bytes = Vec::new();
        if file
            .take(MAX_CACHE_BYTES + 1)
            .read_to_end(&mut bytes)
            .is_err()
        {
            return FileRead::Empty;
        }
        if bytes.len() as u64 > MAX_CACHE_BYTES {
            self.warn(format!(
                "cache file '{}' is larger than {} MiB; ignored and rewritten",
                self.shown_path(),
                MAX_CACHE_BYTES / (1024 * 1024)
            ));
            return FileRead::Empty;
        }
        match serde_json::from_slice::<CacheFile>(&bytes) {
            Ok(f) if f.version == VERSION => {
                let f = Arc::new(f);
                *lock(&self.parsed) = Some((stamp, f.clone()));
                FileRead::File(f)
            }
            _ => FileRead::Empty,
        }
    }

    fn take_record(&self, provider_id: &str, fp: &str) -> Option<CacheRecord> {
        match self.read_file() {
            FileRead::File(f) => f
                .providers
                .get(&record_key(provider_id, fp))?
                .clone()
                .checked(),
            FileRead::Empty | FileRead::Refused => None,
        }
    }

    pub fn read_record(&self, provider_id: &str, fp: &str) -> Option<CacheRecord> {
        self.take_record(provider_id, fp)
            .filter(|r| r.fetched_at > 0)
    }

    pub fn lookup(&self, provider_id: &str, fp: &str, now: i64, max_age_ms: i64) -> CacheLookup {
        let Some(record) = self.take_record(provider_id, fp) else {
            return CacheLookup::Miss;
        };
        if let Some(at) = record.last_error.as_ref().and_then(|e| e.retry_at) {
            if at > now {
                // A peer's (or a forged) retryAt obeys the same cap as our own.
                return CacheLookup::RetryAt(cap_retry_at(at, now));
            }
        }
        let errored_since = record.last_error_at.is_some_and(|t| t >= record.fetched_at);
        let age = now.saturating_sub(record.fetched_at);
        if record.fetched_at > 0 && !errored_since && (-CLOCK_SKEW_MS..max_age_ms).contains(&age) {
            CacheLookup::Fresh(record)
        } else {
            CacheLookup::Miss
        }
    }

    fn success_change<'a>(
        provider_id: &'a str,
        fp: &'a str,
        outcome: &'a FetchOutcome,
        now: i64,
    ) -> impl FnOnce(&mut CacheFile) + 'a {
        move |file| {
            file.providers.insert(
                record_key(provider_id, fp),
                CacheRecord {
                    fetched_at: now,
                    outcome: outcome.clone(),
                    last_error: None,
                    last_error_at: None,
                },
            );
        }
    }

    /// Keeps the last good result; records the error so peers respect its `retryAt`.
    fn failure_change<'a>(
        provider_id: &'a str,
        fp: &'a str,
        error: &'a FetchError,
        now: i64,
    ) -> impl FnOnce(&mut CacheFile) + 'a {
        move |file| {
            let record = file
                .providers
                .entry(record_key(provider_id, fp))
                .or_insert(CacheRecord {
                    fetched_at: 0,
                    outcome: FetchOutcome::default(),
                    last_error: None,
                    last_error_at: None,
                });
            record.last_error = Some(error.clone());
            record.last_error_at = Some(now);
        }
    }

    /// Every change of one cycle in one read-modify-write (one temp file, one rename),
    /// without blocking the thread: the data lock is tried for at most `wait`, then the
    /// writes are skipped (the cache is an optimisation: a lost write costs one request).
    pub async fn write_batch_async(&self, writes: &[CacheWrite], now: i64, wait: Duration) {
        if writes.is_empty() {
            return;
        }
        let change = |file: &mut CacheFile| {
            for w in writes {
                match &w.result {
                    Ok(outcome) => Self::success_change(&w.provider_id, &w.fp, outcome, w.at)(file),
                    Err(error) => Self::failure_change(&w.provider_id, &w.fp, error, w.at)(file),
                }
            }
        };
        if let Some(lock) = self.data_lock_async(wait).await {
            let _ = self.write_locked(&lock, now, change);
        }
    }

    /// Blocking: waits at most `DATA_LOCK_WAIT` for the data lock, then skips the write.
    /// On a runtime, prefer `write_success_async`.
    pub fn write_success(&self, provider_id: &str, fp: &str, outcome: &FetchOutcome, now: i64) {
        self.update(now, Self::success_change(provider_id, fp, outcome, now));
    }

    /// Blocking, like `write_success`.
    pub fn write_failure(&self, provider_id: &str, fp: &str, error: &FetchError, now: i64) {
        self.update(now, Self::failure_change(provider_id, fp, error, now));
    }

    /// `write_success` without blocking the thread: the data lock is tried for at most
    /// `wait` (sleeping asynchronously between tries), then the write is skipped.
    pub async fn write_success_async(
        &self,
        provider_id: &str,
        fp: &str,
        outcome: &FetchOutcome,
        now: i64,
        wait: Duration,
    ) {
        let change = Self::success_change(provider_id, fp, outcome, now);
        if let Some(lock) = self.data_lock_async(wait).await {
            let _ = self.write_locked(&lock, now, change);
        }
    }

    /// `write_failure` without blocking the thread, like `write_success_async`.
    pub async fn write_failure_async(
        &self,
        provider_id: &str,
        fp: &str,
        error: &FetchError,
        now: i64,
        wait: Duration,
    ) {
        let change = Self::failure_change(provider_id, fp, error, now);
        if let Some(lock) = self.data_lock_async(wait).await {
            let _ = self.write_locked(&lock, now, change);
        }
    }

    fn open_data_lock(&self) -> Option<File> {
        if !self.usable() {
            return None;
        }
        create_private_dir(self.dir()).ok()?;
        open_lock_file(&self.sibling(".lock"))
    }

    async fn data_lock_async(&self, wait: Duration) -> Option<File> {
        let lock = self.open_data_lock()?;
        try_lock_until_async(&lock, Instant::now() + wait)
            .await
            .then_some(lock)
    }

    fn update(&self, now: i64, change: impl FnOnce(&mut CacheFile)) {
        // Best effort: a read-only home, a full disk or a busy lock costs sharing, not
        // correctness.
        let Some(lock) = self.open_data_lock() else {
            return;
        };
        if try_lock_until(&lock, Instant::now() + DATA_LOCK_WAIT, std::thread::sleep) {
            let _ = self.write_locked(&lock, now, change);
        }
    }

    /// The read-modify-write, with the data lock held (`_lock` proves it).
    fn write_locked(
        &self,
        _lock: &File,
        now: i64,
        change: impl FnOnce(&mut CacheFile),
    ) -> std::io::Result<()> {
        let mut file = match self.read_file() {
            FileRead::File(f) => Arc::unwrap_or_clone(f),
            FileRead::Empty => CacheFile::default(),
            FileRead::Refused => return Ok(()),
        };
        // A file its owner made read-only is read, never replaced by a writable one.
        if fs::symlink_metadata(&self.path).is_ok_and(|m| m.permissions().readonly()) {
            self.warn_read_only();
            return Ok(());
        }
        file.version = VERSION;
        change(&mut file);
        file.prune(now);
        // Compact: only programs read it.
        let bytes = serde_json::to_vec(&file).map_err(std::io::Error::other)?;
        let dir = self.dir();
        // Unpredictable name, created O_EXCL with mode 0600 in the cache's own directory:
        // nobody can pre-create it (or a symlink in its place) to have us write elsewhere.
        // No fsync: readers see the old file or the new one whole (rename is atomic); a crash
        // may lose the last write, which costs one extra request, while an fsync per cycle
        // is a full disk flush on macOS.
        safe_file::replace(dir, &self.path, &bytes, ".usage-tracker-", false, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ErrorKind, UsageSnapshot};

    fn outcome(used: f64) -> FetchOutcome {
        let mut s = UsageSnapshot::new("5h");
        s.used_ratio = Some(used);
        FetchOutcome {
            snapshots: vec![s],
            plan: Some("max".into()),
            extra_quotas: vec![],
        }
    }

    #[test]
    fn fresh_within_max_age_then_miss() {
        let dir = tempfile::tempdir().unwrap();
        let cache = SharedCache::new(dir.path().join("c/usage.json"));
        cache.write_success("anthropic", "fp", &outcome(0.3), 1_000);
        assert!(
            matches!(cache.lookup("anthropic", "fp", 1_500, 1_000), CacheLookup::Fresh(r) if r.fetched_at == 1_000)
        );
        assert!(matches!(
            cache.lookup("anthropic", "fp", 2_000, 1_000),
            CacheLookup::Miss
        ));
        assert!(matches!(
            cache.lookup("anthropic", "other", 1_500, 1_000),
            CacheLookup::Miss
        ));
        let record = cache.read_record("anthropic", "fp").unwrap();
        assert_eq!(record.outcome, outcome(0.3));
    }

    #[test]
    fn failure_keeps_last_good_and_shares_retry_at() {
        let dir = tempfile::tempdir().unwrap();
        let cache = SharedCache::new(dir.path().join("usage.json"));
        cache.write_success("anthropic", "fp", &outcome(0.3), 1_000);
        let err =
            FetchError::new(ErrorKind::RateLimited, "anthropic: HTTP 429").with_retry_at(9_000);
        cache.write_failure("anthropic", "fp", &err, 1_100);
        assert!(matches!(
            cache.lookup("anthropic", "fp", 1_200, 60_000),
            CacheLookup::RetryAt(9_000)
        ));
        // After retryAt the failed attempt is newer than the data: not fresh, fetch again.
        assert!(matches!(
            cache.lookup("anthropic", "fp", 9_001, 60_000),
            CacheLookup::Miss
        ));
        assert_eq!(
            cache.read_record("anthropic", "fp").unwrap().outcome,
            outcome(0.3)
        );
    }

    #[test]
    fn corrupt_or_foreign_file_is_ignored_and_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("usage.json");
        fs::write(&path, b"{ not json").unwrap();
        let cache = SharedCache::new(path.clone());
        assert!(matches!(cache.lookup("a", "fp", 0, 1), CacheLookup::Miss));
        cache.write_success("a", "fp", &outcome(0.1), 5);
        assert!(cache.read_record("a", "fp").is_some());
        fs::write(&path, br#"{"version": 99, "providers": {}}"#).unwrap();
        assert!(cache.read_record("a", "fp").is_none());
    }

    #[cfg(unix)]
    #[test]
    fn file_is_private_to_the_user() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("usage.json");
        SharedCache::new(path.clone()).write_success("a", "fp", &outcome(0.1), 5);
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[tokio::test]
    async fn provider_lock_excludes_then_releases() {
        let dir = tempfile::tempdir().unwrap();
        let cache = SharedCache::new(dir.path().join("usage.json"));
        let held = cache
            .lock_provider("a", "fp", Duration::from_millis(10))
            .await;
        assert!(held._file.is_some());
        // A second open file description cannot take it while held (flock semantics).
        let second = cache
            .lock_provider("a", "fp", Duration::from_millis(60))
            .await;
        assert!(
            second._file.is_none(),
            "gave up after the timeout instead of blocking"
        );
        drop(held);
        let third = cache
            .lock_provider("a", "fp", Duration::from_millis(60))
            .await;
        assert!(third._file.is_some());
    }

    fn record_with(outcome: FetchOutcome, fetched_at: i64) -> CacheRecord {
        CacheRecord {
            fetched_at,
            outcome,
            last_error: None,
            last_error_at: None,
        }
    }

    /// Writes a cache file by hand, as another program (or an attacker) could.
    fn forge(path: &Path, records: &[(&str, CacheRecord)]) {
        let file = CacheFile {
            version: VERSION,
            providers: records
                .iter()
                .map(|(k, r)| (k.to_string(), r.clone()))
                .collect(),
        };
        fs::write(path, serde_json::to_vec(&file).unwrap()).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_at_the_path_is_refused_and_its_target_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, b"precious").unwrap();
        let path = dir.path().join("usage.json");
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        let cache = SharedCache::new(path.clone());
        assert!(matches!(
            cache.lookup("a", "fp", 10, 1_000),
            CacheLookup::Miss
        ));
        cache.write_success("a", "fp", &outcome(0.1), 5);
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
        assert!(
            fs::symlink_metadata(&path)
                .unwrap()
                .file_type()
                .is_symlink(),
            "not replaced"
        );
        assert!(cache.is_disabled());
        let warning = cache.warning().unwrap();
        assert!(warning.contains("is a symbolic link"), "{warning}");
        assert!(warning.contains("usage.json"), "{warning}");
    }

    #[cfg(unix)]
    #[test]
    fn a_planted_temp_name_cannot_redirect_the_write() {
        // The old temp file was `<path>.<pid>.tmp`: guessable, and opened following symlinks.
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, b"precious").unwrap();
        let path = dir.path().join("usage.json");
        let planted = dir
            .path()
            .join(format!("usage.json.{}.tmp", std::process::id()));
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        let cache = SharedCache::new(path.clone());
        cache.write_success("a", "fp", &outcome(0.1), 5);
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
        assert!(
            cache.read_record("a", "fp").is_some(),
            "written to the real path"
        );
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".usage-tracker-"))
            .collect();
        assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_never_blocks_and_disables_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("usage.json");
        let c_path = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path; mkfifo only creates a directory entry.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        let cache = SharedCache::new(path.clone());
        let started = Instant::now();
        assert!(cache.read_record("a", "fp").is_none());
        assert!(matches!(
            cache.lookup("a", "fp", 10, 1_000),
            CacheLookup::Miss
        ));
        cache.write_success("a", "fp", &outcome(0.1), 5);
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(cache.warning().unwrap().contains("named pipe (FIFO)"));
        assert!(
            !dir.path().join("usage.json.lock").exists(),
            "nothing created beside it"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_device_is_refused_without_reading_it() {
        let cache = SharedCache::new(PathBuf::from("/dev/zero"));
        assert!(cache.read_record("a", "fp").is_none());
        assert!(cache.warning().unwrap().contains("character device"));
        cache.write_success("a", "fp", &outcome(0.1), 5);
        assert!(!Path::new("/dev/zero.lock").exists());
    }

    #[test]
    fn an_oversized_file_is_ignored_with_a_warning_and_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("usage.json");
        let mut big = br#"{"version": 1, "providers": {}}"#.to_vec();
        big.resize(MAX_CACHE_BYTES as usize + 1, b' ');
        fs::write(&path, &big).unwrap();
        let cache = SharedCache::new(path.clone());
        assert!(cache.read_record("a", "fp").is_none());
        assert!(cache.warning().unwrap().contains("larger than 8 MiB"));
        assert!(!cache.is_disabled());
        cache.write_success("a", "fp", &outcome(0.1), 5);
        assert!(fs::metadata(&path).unwrap().len() < 10_000);
        assert!(cache.read_record("a", "fp").is_some());
    }

    #[test]
    fn records_of_accounts_not_seen_for_longer_than_their_windows_are_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("usage.json");
        const DAY: i64 = 86_400_000;
        let now = 100 * DAY;
        let mut monthly = outcome(0.1);
        monthly.snapshots[0].duration_secs = Some(31.0 * 86_400.0);
        let mut failed_lately = record_with(outcome(0.1), now - 30 * DAY);
        failed_lately.last_error_at = Some(now - DAY);
        forge(
            &path,
            &[
                ("old#1", record_with(outcome(0.1), now - 9 * DAY)),
                ("recent#2", record_with(outcome(0.1), now - 7 * DAY)),
                ("monthly#3", record_with(monthly.clone(), now - 20 * DAY)),
                ("monthly#4", record_with(monthly, now - 40 * DAY)),
                ("future#5", record_with(outcome(0.1), now + 30 * DAY)),
                ("erroring#6", failed_lately),
            ],
        );
        let cache = SharedCache::new(path.clone());
        cache.write_success("a", "fp", &outcome(0.2), now);
        let kept = |k: &str| {
            let (id, fp) = k.split_once('#').unwrap();
            cache.read_record(id, fp).is_some() || cache.lookup(id, fp, now, 1).is_retry()
        };
        assert!(!kept("old#1"), "8 days without a known window");
        assert!(kept("recent#2"));
        assert!(
            kept("monthly#3"),
            "a 31-day window keeps its record 31 days"
        );
        assert!(!kept("monthly#4"));
        assert!(!kept("future#5"), "stamped a month ahead");
        assert!(kept("erroring#6"), "seen (failing) yesterday");
        assert!(kept("a#fp"));
    }

    impl CacheLookup {
        fn is_retry(&self) -> bool {
            matches!(self, CacheLookup::RetryAt(_))
        }
    }

    #[test]
    fn records_read_back_are_checked_like_provider_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("usage.json");
        const NOW: i64 = 1_800_000_000_000;
        let mut negative = outcome(0.1);
        negative.snapshots[0].limit = Some(-5.0);
        let mut escaped = outcome(0.1);
        escaped.plan = Some("max\u{1b}]0;pwned\u{7}\u{202e}".into());
        let mut far = record_with(outcome(0.1), NOW - 10);
        far.last_error = Some(
            FetchError::new(crate::model::ErrorKind::RateLimited, "429")
                .with_retry_at(NOW + 10 * 86_400_000),
        );
        far.last_error_at = Some(NOW - 5);
        forge(
            &path,
            &[
                ("neg#1", record_with(negative, NOW - 10)),
                ("esc#2", record_with(escaped, NOW - 10)),
                ("far#3", far),
                ("ahead#4", record_with(outcome(0.1), NOW + 86_400_000)),
            ],
        );
        let cache = SharedCache::new(path);
        assert!(cache.read_record("neg", "1").is_none());
        assert!(matches!(
            cache.lookup("neg", "1", NOW, 60_000),
            CacheLookup::Miss
        ));
        let plan = cache.read_record("esc", "2").unwrap().outcome.plan;
        assert_eq!(plan.as_deref(), Some("max"));
        assert!(matches!(
            cache.lookup("far", "3", NOW, 60_000),
            CacheLookup::RetryAt(at) if at == NOW + crate::providers::http::MAX_RETRY_AFTER_MS
        ));
        assert!(
            matches!(cache.lookup("ahead", "4", NOW, 60_000), CacheLookup::Miss),
            "a record from tomorrow is not fresh forever"
        );
    }

    #[test]
    fn cache_path_must_name_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let msg = |p: &str| {
            SharedCache::validate_path(Path::new(p))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            msg(""),
            "invalid option `cachePath`: must name a file, got an empty path"
        );
        assert!(msg(".").contains("'.' names a directory"), "{}", msg("."));
        assert!(msg("..").contains("names a directory"));
        assert!(msg("cache/").contains("names a directory"));
        let d = dir.path().to_str().unwrap();
        assert!(msg(d).contains("is a directory"), "{}", msg(d));
        assert!(SharedCache::validate_path(&dir.path().join("usage.json")).is_ok());
        assert!(SharedCache::validate_path(Path::new("relative/usage.json")).is_ok());
    }

    #[test]
    fn a_bare_file_name_lives_in_the_working_directory() {
        assert_eq!(SharedCache::new("usage.json".into()).dir(), Path::new("."));
        assert_eq!(
            SharedCache::new("c/usage.json".into()).dir(),
            Path::new("c")
        );
    }

    #[test]
    fn a_held_data_lock_delays_a_write_briefly_then_skips_it() {
        let dir = tempfile::tempdir().unwrap();
        let cache = SharedCache::new(dir.path().join("usage.json"));
        cache.write_success("a", "fp", &outcome(0.1), 5);
        // A second open file description: flock conflicts even within one process.
        let holder = File::options()
            .write(true)
            .open(dir.path().join("usage.json.lock"))
            .unwrap();
        holder.lock().unwrap();
        let started = Instant::now();
        cache.write_success("a", "fp", &outcome(0.9), 6);
        let waited = started.elapsed();
        assert!(
            waited >= DATA_LOCK_WAIT && waited < DATA_LOCK_WAIT * 4,
            "{waited:?}"
        );
        assert_eq!(
            cache.read_record("a", "fp").unwrap().fetched_at,
            5,
            "skipped"
        );
        drop(holder);
        cache.write_success("a", "fp", &outcome(0.9), 6);
        assert_eq!(cache.read_record("a", "fp").unwrap().fetched_at, 6);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn async_writes_never_block_the_runtime_thread() {
        let dir = tempfile::tempdir().unwrap();
        let cache = SharedCache::new(dir.path().join("usage.json"));
        cache.write_success("a", "fp", &outcome(0.1), 5);
        let holder = File::options()
            .write(true)
            .open(dir.path().join("usage.json.lock"))
            .unwrap();
        holder.lock().unwrap();
        // On a single-threaded runtime, a ticker only advances if the write yields.
        let ticks = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = ticks.clone();
        let ticker = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(5)).await;
                counter.fetch_add(1, Ordering::Relaxed);
            }
        });
        let started = Instant::now();
        let wait = Duration::from_millis(150);
        cache
            .write_success_async("a", "fp", &outcome(0.9), 6, wait)
            .await;
        let err = FetchError::new(crate::model::ErrorKind::Server, "500");
        cache.write_failure_async("a", "fp", &err, 7, wait).await;
        assert!(started.elapsed() < wait * 4);
        assert!(
            ticks.load(Ordering::Relaxed) >= 10,
            "the runtime kept running"
        );
        ticker.abort();
        assert_eq!(cache.read_record("a", "fp").unwrap().fetched_at, 5);
        drop(holder);
        cache.write_failure_async("a", "fp", &err, 7, wait).await;
        assert_eq!(cache.read_record("a", "fp").unwrap().last_error_at, Some(7));
    }

    #[tokio::test]
    async fn a_held_provider_lock_costs_at_most_half_the_budget() {
        let dir = tempfile::tempdir().unwrap();
        let cache = SharedCache::new(dir.path().join("usage.json"));
        let held = cache
            .lock_provider("a", "fp", Duration::from_millis(10))
            .await;
        assert!(held._file.is_some());
        let started = Instant::now();
        let second = cache
            .lock_provider("a", "fp", Duration::from_millis(400))
            .await;
        let waited = started.elapsed();
        assert!(second._file.is_none());
        assert!(
            waited >= Duration::from_millis(180) && waited < Duration::from_millis(350),
            "{waited:?}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn the_directory_is_created_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new/usage.json");
        SharedCache::new(path.clone()).write_success("a", "fp", &outcome(0.1), 5);
        let mode = fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}
