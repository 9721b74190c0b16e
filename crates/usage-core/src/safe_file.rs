//! File safety for every file the core keeps (the shared cache, the history, the settings):
//! open only regular files (never through a symlink, never blocking on a FIFO), lock files,
//! a private directory, lock attempts that never park a thread, and atomic replacement.
//! A leaf: it knows nothing of what the files hold.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

/// How often a held lock is tried again.
const LOCK_POLL: Duration = Duration::from_millis(20);

/// What a path holds, for messages.
pub fn describe(file_type: fs::FileType) -> &'static str {
    if file_type.is_symlink() {
        return "a symbolic link";
    }
    if file_type.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a named pipe (FIFO)";
        }
        if file_type.is_char_device() {
            return "a character device";
        }
        if file_type.is_block_device() {
            return "a block device";
        }
        if file_type.is_socket() {
            return "a socket";
        }
    }
    "not a regular file"
}

/// Why a path was not opened: it is not ours to read or write, or it just failed.
pub enum OpenError {
    NotRegular(&'static str),
    Io,
}

/// Opens without following a final symlink and without blocking (a FIFO with no writer
/// would block `open` forever), then insists on a regular file.
pub fn open_regular(path: &Path, options: &mut OpenOptions) -> Result<File, OpenError> {
    if let Ok(meta) = fs::symlink_metadata(path) {
        if !meta.file_type().is_file() {
            return Err(OpenError::NotRegular(describe(meta.file_type())));
        }
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(|e| {
        // Replaced by a symlink between the check and the open.
        #[cfg(unix)]
        if e.raw_os_error() == Some(libc::ELOOP) {
            return OpenError::NotRegular("a symbolic link");
        }
        OpenError::Io
    })?;
    let meta = file.metadata().map_err(|_| OpenError::Io)?;
    if !meta.file_type().is_file() {
        return Err(OpenError::NotRegular(describe(meta.file_type())));
    }
    Ok(file)
}

pub fn open_lock_file(path: &Path) -> Option<File> {
    let mut options = OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    open_regular(path, &mut options).ok()
}

pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Polls `try_lock` until `deadline`: waiting in `lock()` would park this thread for as
/// long as another process chooses to hold the lock.
pub fn try_lock_until(file: &File, deadline: Instant, sleep: impl Fn(Duration)) -> bool {
    loop {
        match file.try_lock() {
            Ok(()) => return true,
            Err(fs::TryLockError::WouldBlock) if Instant::now() < deadline => sleep(LOCK_POLL),
            Err(_) => return false,
        }
    }
}

pub async fn try_lock_until_async(file: &File, deadline: Instant) -> bool {
    loop {
        match file.try_lock() {
            Ok(()) => return true,
            Err(fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                let left = deadline.saturating_duration_since(Instant::now());
                tokio::time::sleep(LOCK_POLL.min(left)).await;
            }
            Err(_) => return false,
        }
    }
}

/// Writes `bytes` to a new file in `dir` (named `prefix…tmp`: unpredictable, created O_EXCL
/// with mode 0600, so nobody can pre-create it or a symlink in its place) and renames it over
/// `path`: a reader sees the old file or the new one, never half of one, and rename(2) never
/// writes through a symlink. `keep_permissions`: the new file takes the old one's mode.
/// `sync`: flushed to disk before the rename (not for a best-effort cache, where a lost
/// write costs one request and an fsync is a full flush on macOS).
pub fn replace(
    dir: &Path,
    path: &Path,
    bytes: &[u8],
    prefix: &str,
    keep_permissions: bool,
    sync: bool,
) -> std::io::Result<()> {
    let mut tmp = tempfile::Builder::new()
        .prefix(prefix)
        .suffix(".tmp")
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    if sync {
        tmp.as_file().sync_all()?;
    }
    if keep_permissions {
        if let Ok(meta) = fs::metadata(path) {
            tmp.as_file().set_permissions(meta.permissions())?;
        }
    }
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
