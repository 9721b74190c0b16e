//! `!command` API keys of pi's `auth.json`, run the way pi runs them (once per process, by
//! the shell) but never on the caller's thread: a provider resolves its key on the runtime
//! before its first fetch ([`resolve`]), and every synchronous reader only looks at what the
//! run left ([`peek`]).
//!
//! The command runs in its own process group with one deadline for the whole group: at the
//! deadline whatever is left of the group (a background child holding stdout, a daemon that
//! never exits) is killed together. Stdout is read under the same deadline and capped; its
//! first line is the key. What the command printed never appears in a reason.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use futures::future::{BoxFuture, FutureExt, Shared};
use tokio::io::AsyncReadExt;
use tokio::time::Instant;

/// How long a key command (and everything it started) may run.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// The most of its stdout read; a key is one short line.
pub const MAX_OUTPUT_BYTES: usize = 4 * 1024;

/// What running a key command gave: the key, or what went wrong (never its output).
pub type Outcome = Result<String, Failure>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The shell could not be started.
    NotStarted,
    /// It exited with this status (`None`: killed by a signal).
    Exited(Option<i32>),
    /// It printed no key.
    Empty,
    /// It was still running at the deadline; its group was killed.
    TimedOut,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::NotStarted => write!(f, "could not be started"),
            Failure::Exited(Some(code)) => write!(f, "failed (exit status {code})"),
            Failure::Exited(None) => write!(f, "was killed by a signal"),
            Failure::Empty => write!(f, "printed no key"),
            Failure::TimedOut => write!(
                f,
                "did not finish within {} s and was stopped",
                TIMEOUT.as_secs()
            ),
        }
    }
}

type Run = Shared<BoxFuture<'static, Outcome>>;

/// One run per command per process, like pi (a password manager must not be asked on every
/// poll); a run in progress is shared by everyone who waits for it.
static RUNS: Mutex<Option<HashMap<String, Run>>> = Mutex::new(None);

fn runs() -> std::sync::MutexGuard<'static, Option<HashMap<String, Run>>> {
    RUNS.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the command's run gave, if it has finished; never starts it.
pub fn peek(command: &str) -> Option<Outcome> {
    runs().as_ref()?.get(command)?.peek().cloned()
}

/// The command's result, running it on the current tokio runtime if this process has not yet.
/// The run goes on when the caller stops waiting, so its result is kept for the next one.
pub async fn resolve(command: &str) -> Outcome {
    let run = {
        let mut guard = runs();
        let map = guard.get_or_insert_with(HashMap::new);
        map.entry(command.to_string())
            .or_insert_with(|| {
                let task = tokio::spawn(run(command.to_string(), TIMEOUT));
                async move { task.await.unwrap_or(Err(Failure::NotStarted)) }
                    .boxed()
                    .shared()
            })
            .clone()
    };
    run.await
}

fn shell(command: &str) -> tokio::process::Command {
    #[cfg(unix)]
    {
        let mut c = tokio::process::Command::new("sh");
        c.arg("-c").arg(command);
        // Its own group, so the deadline can stop everything it started.
        c.process_group(0);
        c
    }
    #[cfg(not(unix))]
    {
        let mut c = tokio::process::Command::new("cmd");
        c.arg("/C").arg(command);
        c
    }
}

/// Kills what is left of the group led by `pid` (nothing, if it is gone).
fn kill_group(pid: Option<u32>, child: &mut tokio::process::Child) {
    #[cfg(unix)]
    if let Some(pid) = pid.and_then(|p| libc::pid_t::try_from(p).ok()) {
        // SAFETY: killpg only sends a signal; the group was created for this command.
        unsafe {
            libc::killpg(pid, libc::SIGKILL);
        }
    }
    #[cfg(not(unix))]
    let _ = pid;
    let _ = child.start_kill();
}

async fn run(command: String, timeout: Duration) -> Outcome {
    let deadline = Instant::now() + timeout;
    let mut child = shell(&command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|_| Failure::NotStarted)?;
    let pid = child.id();
    let Some(mut stdout) = child.stdout.take() else {
        kill_group(pid, &mut child);
        return Err(Failure::NotStarted);
    };
    let mut out = Vec::new();
    let mut chunk = [0u8; 1024];
    let mut eof = false;
    let mut status = None;
    let finished = tokio::time::timeout_at(deadline, async {
        loop {
            // Done once the shell has exited and its first line (or all it wrote) is in; a
            // background child that keeps stdout open does not hold the key back.
            if let Some(status) = status {
                if eof || out.contains(&b'\n') {
                    return status;
                }
            }
            // Past the cap the rest is read and dropped, so a chatty command can finish.
            tokio::select! {
                n = stdout.read(&mut chunk), if !eof => match n {
                    Ok(0) | Err(_) => eof = true,
                    Ok(n) => {
                        let room = MAX_OUTPUT_BYTES - out.len();
                        out.extend_from_slice(&chunk[..n.min(room)]);
                    }
                },
                s = child.wait(), if status.is_none() => status = Some(s.ok()),
            }
        }
    })
    .await;
    drop(stdout);
    let Ok(status) = finished else {
        kill_group(pid, &mut child);
        return Err(Failure::TimedOut);
    };
    // What the command left running is stopped at the same deadline.
    #[cfg(unix)]
    tokio::spawn(async move {
        tokio::time::sleep_until(deadline).await;
        kill_group(pid, &mut child);
    });
    match status {
        Some(s) if s.success() => {}
        Some(s) => return Err(Failure::Exited(s.code())),
        None => return Err(Failure::Exited(None)),
    }
    let text = String::from_utf8_lossy(&out);
    let key = text.lines().next().unwrap_or("").trim();
    if key.is_empty() {
        return Err(Failure::Empty);
    }
    Ok(key.to_string())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    /// Running (a zombie waiting for a parent that never reaps it counts as gone).
    fn alive(pid: i32) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(stat) => !stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z'),
            // SAFETY: signal 0 only checks that the process exists.
            Err(_) if !std::path::Path::new("/proc/self").exists() => unsafe {
                libc::kill(pid, 0) == 0
            },
            Err(_) => false,
        }
    }

    #[tokio::test]
    async fn first_line_trimmed_and_run_once() {
        let marker = tempfile::NamedTempFile::new().unwrap();
        let cmd = format!(
            "echo run >> {}; printf ' key-1 \\nsecond\\n'",
            marker.path().display()
        );
        assert_eq!(peek(&cmd), None, "nothing runs before resolve");
        assert_eq!(resolve(&cmd).await.as_deref(), Ok("key-1"));
        assert_eq!(resolve(&cmd).await.as_deref(), Ok("key-1"));
        assert_eq!(peek(&cmd), Some(Ok("key-1".into())));
        let runs = std::fs::read_to_string(marker.path()).unwrap();
        assert_eq!(runs.lines().count(), 1, "cached per process");
    }

    #[tokio::test]
    async fn failures_say_what_happened_not_what_was_printed() {
        let failed = resolve("echo secret-output; exit 3").await.unwrap_err();
        assert_eq!(failed, Failure::Exited(Some(3)));
        assert!(!failed.to_string().contains("secret"), "{failed}");
        assert_eq!(resolve("true").await, Err(Failure::Empty));
        assert_eq!(resolve("printf '\\n\\n'").await, Err(Failure::Empty));
    }

    #[tokio::test]
    async fn output_is_capped() {
        let key = resolve("head -c 100000000 /dev/zero | tr '\\0' k")
            .await
            .unwrap();
        assert_eq!(key.len(), MAX_OUTPUT_BYTES);
    }

    #[tokio::test]
    async fn a_background_child_holding_stdout_does_not_hold_the_key() {
        let started = std::time::Instant::now();
        let pidfile = tempfile::NamedTempFile::new().unwrap();
        let cmd = format!(
            "(sleep 30 & echo $! > {}); echo bg-key",
            pidfile.path().display()
        );
        let timeout = Duration::from_millis(800);
        assert_eq!(run(cmd, timeout).await.as_deref(), Ok("bg-key"));
        assert!(started.elapsed() < timeout / 2);
        let pid = read_pid(&pidfile);
        assert!(alive(pid), "left alone until the deadline");
        assert!(
            gone_soon(pid).await,
            "killed with its group at the deadline"
        );
    }

    #[tokio::test]
    async fn at_the_deadline_the_whole_group_is_killed() {
        let pidfile = tempfile::NamedTempFile::new().unwrap();
        let cmd = format!(
            "sleep 30 & echo $! > {}; sleep 30",
            pidfile.path().display()
        );
        let started = std::time::Instant::now();
        let out = run(cmd, Duration::from_millis(300)).await;
        assert_eq!(out, Err(Failure::TimedOut));
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(
            gone_soon(read_pid(&pidfile)).await,
            "the background child went with the shell"
        );
    }

    fn read_pid(f: &tempfile::NamedTempFile) -> i32 {
        std::fs::read_to_string(f.path())
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    /// Killed and reaped (an orphan is reaped by init) within two seconds.
    async fn gone_soon(pid: i32) -> bool {
        for _ in 0..100 {
            if !alive(pid) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // SAFETY: clean up after a failed assertion; the pid is our own child's.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        false
    }
}
