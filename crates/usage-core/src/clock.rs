//! Time: the clock the tracker reads (swappable in tests) and the wall clock behind it.

pub trait Clock: Send + Sync + 'static {
    fn now_ms(&self) -> i64;
}

/// Epoch ms from the system clock (0 if it reads before 1970).
pub fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        wall_clock_ms()
    }
}
