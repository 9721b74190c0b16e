//! OpenAI-style rate-limit headers, which many OpenAI-compatible services send with every
//! model response: `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`, with the period
//! either in the name (`-requests-day`, `-tokens-minute`, Mistral's `-req-minute`) or implied
//! by the service (Groq's bare `requests` count a day, OpenAI's a minute). Each (metric,
//! period) pair is one window with a fixed id (`requests-day`, `tokens-minute`, …), so a
//! service yields at most eight. Windows shorter than a day are `view_only`: they refill
//! before anyone looks at the footer again.

use super::shape::push_extra;
use super::Headers;
use crate::model::{
    FetchOutcome, QuotaDefinition, QuotaKind, ResetBehavior, UsageSnapshot, WindowType,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Minute,
    Hour,
    Day,
    Month,
}

impl Period {
    const ALL: [Period; 4] = [Period::Minute, Period::Hour, Period::Day, Period::Month];

    fn name(self) -> &'static str {
        match self {
            Period::Minute => "minute",
            Period::Hour => "hour",
            Period::Day => "day",
            Period::Month => "month",
        }
    }

    /// Shorter than a day: refilled long before the footer is read again.
    fn view_only(self) -> bool {
        matches!(self, Period::Minute | Period::Hour)
    }
}

/// What a service's names without a period suffix count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dialect {
    pub bare_requests: Period,
    pub bare_tokens: Period,
}

impl Dialect {
    /// OpenAI's documented form: requests and tokens per minute.
    pub const OPENAI: Dialect = Dialect {
        bare_requests: Period::Minute,
        bare_tokens: Period::Minute,
    };
    /// Groq's documented form: requests per day, tokens per minute.
    pub const GROQ: Dialect = Dialect {
        bare_requests: Period::Day,
        bare_tokens: Period::Minute,
    };
}

/// The metrics, each with the spellings services use for it in header names.
const METRICS: [(&str, &[&str]); 2] = [("requests", &["requests", "req"]), ("tokens", &["tokens"])];

/// The ids these headers can produce; the tracker may bound header-learned windows, and
/// this set is all a service can ever add.
pub fn window_ids() -> impl Iterator<Item = String> {
    METRICS
        .iter()
        .flat_map(|(m, _)| Period::ALL.iter().map(move |p| format!("{m}-{}", p.name())))
}

/// A reset as the services send it: seconds (`"33011.38"`, Cerebras) or a Go duration
/// (`"6m0s"`, `"2m59.56s"`, `"20ms"`, `"1h2m"`, OpenAI and Groq). `None` for anything else.
pub fn reset_secs(raw: &str) -> Option<f64> {
    let raw = raw.trim();
    if let Ok(secs) = raw.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then_some(secs);
    }
    let mut total = 0.0;
    let mut rest = raw;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter(|&i| i > 0)?;
        let value: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            _ => return None,
        };
        total += value * scale;
        rest = &rest[unit_len..];
    }
    total.is_finite().then_some(total)
}

/// The windows in one response's headers; `None` when it carries none of them. A pair
/// without both a limit and a plausible remaining count is skipped, never an error.
pub fn parse(headers: &Headers, dialect: Dialect, now_ms: i64) -> Option<FetchOutcome> {
    let mut outcome = FetchOutcome::default();
    for (metric, spellings) in METRICS {
        let bare = if metric == "requests" {
            dialect.bare_requests
        } else {
            dialect.bare_tokens
        };
        for period in Period::ALL {
            let id = format!("{metric}-{}", period.name());
            // The name that says its period wins over the bare one that implies it.
            let mut names: Vec<String> = spellings
                .iter()
                .map(|s| format!("{s}-{}", period.name()))
                .collect();
            if period == bare {
                names.extend(spellings.iter().map(|s| s.to_string()));
            }
            let Some(s) = names
                .iter()
                .find_map(|name| window(headers, name, &id, now_ms))
            else {
                continue;
            };
            let quota = QuotaDefinition::new(id, QuotaKind::Amount { amount: 0.0 })
                .with_unit(metric)
                .with_window(WindowType::Rolling, ResetBehavior::Continuous);
            push_extra(&mut outcome, &[], quota);
            outcome.snapshots.push(UsageSnapshot {
                view_only: period.view_only(),
                ..s
            });
        }
    }
    (!outcome.snapshots.is_empty()).then_some(outcome)
}

fn window(headers: &Headers, name: &str, id: &str, now_ms: i64) -> Option<UsageSnapshot> {
    let limit = headers
        .number(&format!("x-ratelimit-limit-{name}"))
        .filter(|l| *l > 0.0)?;
    let remaining = headers
        .number(&format!("x-ratelimit-remaining-{name}"))
        .filter(|r| (0.0..=limit).contains(r))?;
    let mut s = UsageSnapshot::new(id);
    s.limit = Some(limit);
    s.remaining = Some(remaining);
    s.used = Some(limit - remaining);
    // The bucket refills continuously; the reset is when it is full again, not a window's end.
    s.resets_at = headers
        .get(&format!("x-ratelimit-reset-{name}"))
        .and_then(reset_secs)
        .map(|secs| now_ms + (secs * 1000.0).round() as i64);
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_796_083_200_000;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn ids(out: &FetchOutcome) -> Vec<(&str, Option<f64>, Option<f64>, bool)> {
        out.snapshots
            .iter()
            .map(|s| (s.id.as_str(), s.remaining, s.limit, s.view_only))
            .collect()
    }

    #[test]
    fn resets_in_seconds_and_go_durations() {
        assert_eq!(reset_secs("33011.5"), Some(33011.5));
        assert_eq!(reset_secs("6m0s"), Some(360.0));
        assert_eq!(reset_secs("2m59.56s"), Some(179.56));
        assert_eq!(reset_secs("7.66s"), Some(7.66));
        assert_eq!(reset_secs("20ms"), Some(0.02));
        assert_eq!(reset_secs("1h2m"), Some(3720.0));
        for bad in ["", "soon", "5x", "-3", "m", "1.2.3s", "NaN"] {
            assert_eq!(reset_secs(bad), None, "{bad}");
        }
    }

    #[test]
    fn groq_bare_requests_are_daily_tokens_per_minute() {
        let raw = h(&[
            ("x-ratelimit-limit-requests", "14400"),
            ("x-ratelimit-limit-tokens", "18000"),
            ("x-ratelimit-remaining-requests", "14370"),
            ("x-ratelimit-remaining-tokens", "17997"),
            ("x-ratelimit-reset-requests", "2m59.56s"),
            ("x-ratelimit-reset-tokens", "7.66s"),
        ]);
        let out = parse(&Headers(&raw), Dialect::GROQ, NOW).unwrap();
        assert_eq!(
            ids(&out),
            [
                ("requests-day", Some(14370.0), Some(14400.0), false),
                ("tokens-minute", Some(17997.0), Some(18000.0), true),
            ]
        );
        assert_eq!(out.snapshots[0].resets_at, Some(NOW + 179_560));
        assert_eq!(out.snapshots[0].used, Some(30.0));
        assert_eq!(out.snapshots[1].resets_at, Some(NOW + 7_660));
        let units: Vec<_> = out
            .extra_quotas
            .iter()
            .map(|q| (q.id.as_str(), q.unit.as_deref()))
            .collect();
        assert_eq!(
            units,
            [
                ("requests-day", Some("requests")),
                ("tokens-minute", Some("tokens"))
            ]
        );
        // The same headers read the OpenAI way are two per-minute windows.
        let out = parse(&Headers(&raw), Dialect::OPENAI, NOW).unwrap();
        assert_eq!(
            ids(&out).iter().map(|w| (w.0, w.3)).collect::<Vec<_>>(),
            [("requests-minute", true), ("tokens-minute", true)]
        );
    }

    #[test]
    fn suffixed_names_say_their_period() {
        let raw = h(&[
            ("x-ratelimit-limit-requests-day", "14400"),
            ("x-ratelimit-remaining-requests-day", "14399"),
            ("x-ratelimit-reset-requests-day", "33011.382867097855"),
            ("x-ratelimit-limit-tokens-minute", "60000"),
            ("x-ratelimit-remaining-tokens-minute", "59000"),
            ("x-ratelimit-reset-tokens-minute", "11.38"),
            ("x-ratelimit-limit-req-minute", "120"),
            ("x-ratelimit-remaining-req-minute", "84"),
            ("x-ratelimit-reset-req-minute", "30s"),
        ]);
        let out = parse(&Headers(&raw), Dialect::GROQ, NOW).unwrap();
        assert_eq!(
            ids(&out),
            [
                ("requests-minute", Some(84.0), Some(120.0), true),
                ("requests-day", Some(14399.0), Some(14400.0), false),
                ("tokens-minute", Some(59000.0), Some(60000.0), true),
            ]
        );
        assert_eq!(out.snapshots[1].resets_at, Some(NOW + 33_011_383));
    }

    #[test]
    fn broken_pairs_are_skipped_and_nothing_is_none() {
        let raw = h(&[
            ("x-ratelimit-limit-requests-day", "lots"),
            ("x-ratelimit-remaining-requests-day", "3"),
            ("x-ratelimit-limit-tokens-day", "100"),
            ("x-ratelimit-remaining-tokens-day", "101"),
            ("x-ratelimit-limit-tokens-minute", "0"),
            ("x-ratelimit-remaining-tokens-minute", "0"),
            ("x-ratelimit-limit-requests-hour", "10"),
            ("x-ratelimit-remaining-requests-hour", "-1"),
            ("x-ratelimit-limit-requests-month", "10"),
            ("x-ratelimit-remaining-requests-month", "0"),
            ("x-ratelimit-reset-requests-month", "whenever"),
        ]);
        let out = parse(&Headers(&raw), Dialect::OPENAI, NOW).unwrap();
        assert_eq!(
            ids(&out),
            [("requests-month", Some(0.0), Some(10.0), false)]
        );
        assert_eq!(out.snapshots[0].resets_at, None);
        assert!(parse(
            &Headers(&h(&[("content-type", "text/plain")])),
            Dialect::GROQ,
            NOW
        )
        .is_none());
    }

    #[test]
    fn at_most_eight_fixed_ids() {
        let all: Vec<String> = window_ids().collect();
        assert_eq!(all.len(), 8);
        let mut raw = Vec::new();
        for id in &all {
            raw.push((format!("x-ratelimit-limit-{id}"), "10".to_string()));
            raw.push((format!("x-ratelimit-remaining-{id}"), "5".to_string()));
        }
        raw.push(("x-ratelimit-limit-requests".into(), "10".into()));
        raw.push(("x-ratelimit-remaining-requests".into(), "1".into()));
        let out = parse(&Headers(&raw), Dialect::GROQ, NOW).unwrap();
        let got: Vec<&str> = out.snapshots.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(got.len(), 8);
        assert!(got.iter().all(|id| all.iter().any(|a| a == id)));
        // The suffixed daily count wins over the bare one.
        let day = out
            .snapshots
            .iter()
            .find(|s| s.id == "requests-day")
            .unwrap();
        assert_eq!(day.remaining, Some(5.0));
    }
}
