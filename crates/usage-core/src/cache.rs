//! The cache every process of the user shares: last good results and rate-limit state per
//! provider account, so N pi windows make one request per interval and a new window shows
//! the last known values at once.
//!
//! Locking uses the OS advisory locks in `std::fs::File` (flock on Unix): a process that dies
//! releases them with its file descriptors, so a killed process never blocks anyone. One
//! lock file per provider account serialises its fetch; a short lock on `<path>.lock` guards
//! the read-modify-write of the data file, which is replaced atomically (temp file + rename).

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::model::{FetchError, FetchOutcome};

const VERSION: u32 = 1;
const LOCK_POLL: Duration = Duration::from_millis(20);

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

#[derive(Debug, Default, Serialize, Deserialize)]
struct CacheFile {
    version: u32,
    providers: BTreeMap<String, CacheRecord>,
}

pub enum CacheLookup {
    Fresh(CacheRecord),
    /// Another process was told to wait until then.
    RetryAt(i64),
    Miss,
}

pub struct SharedCache {
    path: PathBuf,
}

/// Held while one process fetches a provider account; dropping it releases the lock.
pub struct ProviderLock {
    _file: Option<File>,
}

fn record_key(provider_id: &str, fp: &str) -> String {
    format!("{provider_id}#{fp}")
}

fn open_lock_file(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

impl SharedCache {
    pub fn new(path: PathBuf) -> Self {
        Self { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
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

    /// Waits up to `timeout` for the account's fetch lock. If it cannot be had (no
    /// directory, a peer hung mid-fetch) we go on without it: the cache is an optimisation,
    /// never a reason to show nothing.
    pub async fn lock_provider(
        &self,
        provider_id: &str,
        fp: &str,
        timeout: Duration,
    ) -> ProviderLock {
        if let Some(dir) = self.path.parent() {
            let _ = fs::create_dir_all(dir);
        }
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
        let Ok(file) = open_lock_file(&self.sibling(&format!(".{safe_id}-{fp}.lock"))) else {
            return ProviderLock { _file: None };
        };
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match file.try_lock() {
                Ok(()) => return ProviderLock { _file: Some(file) },
                Err(std::fs::TryLockError::WouldBlock)
                    if tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(LOCK_POLL).await;
                }
                Err(_) => return ProviderLock { _file: None },
            }
        }
    }

    fn read_file(&self) -> CacheFile {
        // A missing, corrupt or foreign-version file reads as empty and is rewritten whole.
        fs::read(&self.path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<CacheFile>(&bytes).ok())
            .filter(|f| f.version == VERSION)
            .unwrap_or_default()
    }

    pub fn read_record(&self, provider_id: &str, fp: &str) -> Option<CacheRecord> {
        self.read_file()
            .providers
            .remove(&record_key(provider_id, fp))
            .filter(|r| r.fetched_at > 0)
    }

    pub fn lookup(&self, provider_id: &str, fp: &str, now: i64, max_age_ms: i64) -> CacheLookup {
        let Some(record) = self
            .read_file()
            .providers
            .remove(&record_key(provider_id, fp))
        else {
            return CacheLookup::Miss;
        };
        if let Some(at) = record.last_error.as_ref().and_then(|e| e.retry_at) {
            if at > now {
                return CacheLookup::RetryAt(at);
            }
        }
        let errored_since = record.last_error_at.is_some_and(|t| t >= record.fetched_at);
        if record.fetched_at > 0 && !errored_since && now - record.fetched_at < max_age_ms {
            CacheLookup::Fresh(record)
        } else {
            CacheLookup::Miss
        }
    }

    pub fn write_success(&self, provider_id: &str, fp: &str, outcome: &FetchOutcome, now: i64) {
        self.update(|file| {
            file.providers.insert(
                record_key(provider_id, fp),
                CacheRecord {
                    fetched_at: now,
                    outcome: outcome.clone(),
                    last_error: None,
                    last_error_at: None,
                },
            );
        });
    }

    /// Keeps the last good result; records the error so peers respect its `retryAt`.
    pub fn write_failure(&self, provider_id: &str, fp: &str, error: &FetchError, now: i64) {
        self.update(|file| {
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
        });
    }

    fn update(&self, change: impl FnOnce(&mut CacheFile)) {
        if let Err(_e) = self.try_update(change) {
            // Best effort: a read-only home or a full disk costs sharing, not correctness.
        }
    }

    fn try_update(&self, change: impl FnOnce(&mut CacheFile)) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            fs::create_dir_all(dir)?;
        }
        let lock = open_lock_file(&self.sibling(".lock"))?;
        lock.lock()?;
        let mut file = self.read_file();
        file.version = VERSION;
        change(&mut file);
        let tmp = self.sibling(&format!(".{}.tmp", std::process::id()));
        {
            let mut out = open_lock_file(&tmp)?;
            out.set_len(0)?;
            out.write_all(&serde_json::to_vec_pretty(&file).map_err(std::io::Error::other)?)?;
            out.sync_all()?;
        }
        fs::rename(&tmp, &self.path)?;
        Ok(())
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
}
