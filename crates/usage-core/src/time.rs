//! Instants computed from numbers a server sent. `f64 as i64` saturates at i64::MAX and
//! `now + that` then overflows (a panic in debug builds, a negative "reset" in release);
//! these helpers return `None` for anything that is not a plausible epoch instead.

/// The latest instant a JavaScript `Date` can hold (8.64e15 ms, year 275760). Every value
/// we hand to JS as epoch ms stays within 0..=this.
pub const MAX_EPOCH_MS: i64 = 8_640_000_000_000_000;

fn to_epoch_ms(ms: f64) -> Option<i64> {
    (ms.is_finite() && (0.0..=MAX_EPOCH_MS as f64).contains(&ms)).then(|| ms.round() as i64)
}

/// `now_ms` plus `secs` seconds (Codex `reset_after_seconds`, a `Retry-After` count); `None`
/// when `secs` is NaN/infinite or the result falls outside `0..=MAX_EPOCH_MS`.
pub fn ms_after(now_ms: i64, secs: f64) -> Option<i64> {
    to_epoch_ms(now_ms as f64 + secs * 1000.0)
}

/// An epoch in seconds (Codex `reset_at`) as epoch ms, `None` when implausible.
pub fn epoch_secs_to_ms(secs: f64) -> Option<i64> {
    to_epoch_ms(secs * 1000.0)
}

/// An epoch in ms given as a float (a JS number) as epoch ms, `None` when implausible.
pub fn epoch_ms(ms: f64) -> Option<i64> {
    to_epoch_ms(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn ordinary_values_are_exact() {
        assert_eq!(ms_after(NOW, 9_120.0), Some(NOW + 9_120_000));
        assert_eq!(ms_after(NOW, 0.5), Some(NOW + 500));
        assert_eq!(
            ms_after(NOW, -60.0),
            Some(NOW - 60_000),
            "a reset just passed"
        );
        assert_eq!(epoch_secs_to_ms(1_800_000_000.0), Some(NOW));
        assert_eq!(epoch_ms(NOW as f64), Some(NOW));
    }

    #[test]
    fn huge_negative_and_non_finite_values_are_none_never_overflowed() {
        for secs in [1e308, 1e300, f64::MAX, f64::INFINITY, f64::NAN, -1e300] {
            assert_eq!(ms_after(NOW, secs), None, "{secs}");
            assert_eq!(epoch_secs_to_ms(secs), None, "{secs}");
        }
        assert_eq!(ms_after(i64::MAX, 1.0), None);
        assert_eq!(epoch_secs_to_ms(-1.0), None, "before 1970 is no reset time");
        assert_eq!(epoch_ms(MAX_EPOCH_MS as f64), Some(MAX_EPOCH_MS));
        assert_eq!(epoch_ms(MAX_EPOCH_MS as f64 * 2.0), None);
        // 999999999 s (31 years) is representable; callers apply their own caps.
        assert_eq!(ms_after(NOW, 999_999_999.0), Some(NOW + 999_999_999_000));
    }
}
