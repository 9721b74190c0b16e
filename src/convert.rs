//! What the conversions share: the coded errors thrown to JS, the enum parser, and the
//! conversions that need more than their value (a quota's place in `quotas[]`, the options'
//! defaults, a time argument, header pairs). Each shape's own conversion is a `From`/`TryFrom`
//! next to its napi type in `types.rs`; enums become strings by their core `as_str`. Bad input
//! becomes an `InvalidArg` error naming the field (index.js rethrows those as `TypeError`).

use napi::Error;
use usage_core::model as core;
use usage_core::validate;

use crate::types::*;

/// Errors thrown to JS carry a stable `code`: the core's (`ERR_UNKNOWN_PROVIDER`, …) or
/// `ERR_INVALID_ARG_VALUE` for a value this layer refuses; index.js picks the class.
pub type CodedError = Error<String>;
pub type CodedResult<T> = std::result::Result<T, CodedError>;

pub const INVALID_ARG: &str = "ERR_INVALID_ARG_VALUE";

pub fn invalid(message: impl Into<String>) -> CodedError {
    Error::new(INVALID_ARG.to_string(), message.into())
}

pub fn core_error(e: usage_core::CoreError) -> CodedError {
    Error::new(e.code().to_string(), e.to_string())
}

/// An error of napi itself (a callback that could not be made): no argument's fault.
pub fn internal(e: Error) -> CodedError {
    Error::new(format!("ERR_NAPI_{}", e.status.as_ref()), e.reason.clone())
}

pub(crate) fn parse_enum<T: serde::de::DeserializeOwned>(
    value: &Option<String>,
    field: &str,
    allowed: &str,
) -> CodedResult<Option<T>> {
    value
        .as_ref()
        .map(|v| {
            serde_json::from_value(serde_json::Value::String(v.clone())).map_err(|_| {
                invalid(format!(
                    "{field}: '{}' is not one of {allowed}",
                    usage_core::error::excerpt(v)
                ))
            })
        })
        .transpose()
}

/// A JS quota definition of a strategy's `quotas[index]`, its errors saying which.
pub fn quota_from_js(index: usize, q: QuotaDefinition) -> CodedResult<core::QuotaDefinition> {
    let at = format!(
        "quotas[{index}] (id '{}')",
        usage_core::error::excerpt(&q.id)
    );
    core::QuotaDefinition::try_from(q)
        .map_err(|e| Error::new(e.status, format!("{at}: {}", e.reason)))
}

/// Options with their defaults; the default cache lives in pi's agent dir.
pub fn options_from_js(o: Option<&TrackerOptions>) -> CodedResult<usage_core::TrackerOptions> {
    let default = TrackerOptions::default();
    let o = o.unwrap_or(&default);
    let d = usage_core::TrackerOptions::default();
    // JS numbers are taken exactly: 1.5 or 2**32 + 1 is refused, never truncated or wrapped;
    // the ranges themselves are the core's rules (`validate::options`).
    let whole = |v: Option<f64>, field: &'static str, default: u64, max: u64| match v {
        None => Ok(default),
        Some(v) => validate::whole_number(field, v, max).map_err(core_error),
    };
    let cache_path = match &o.cache_path {
        Some(napi::Either::A(path)) => Some(path.into()),
        Some(napi::Either::B(_)) => None,
        None => Some(usage_core::credentials::agent_dir().join("cache/usage-tracker.json")),
    };
    Ok(usage_core::TrackerOptions {
        interval_ms: whole(
            o.interval_ms,
            "intervalMs",
            d.interval_ms,
            validate::MAX_SAFE_INTEGER,
        )?,
        max_backoff_multiplier: whole(
            o.max_backoff_multiplier,
            "maxBackoffMultiplier",
            d.max_backoff_multiplier.into(),
            u32::MAX.into(),
        )? as u32,
        request_timeout_ms: whole(
            o.request_timeout_ms,
            "requestTimeoutMs",
            d.request_timeout_ms,
            validate::MAX_SAFE_INTEGER,
        )?,
        thresholds: usage_core::quota::Thresholds {
            warn_at: o.warn_at.unwrap_or(d.thresholds.warn_at),
            // `lowQuotaThreshold` is the older name of `criticalAt`.
            critical_at: o
                .critical_at
                .or(o.low_quota_threshold)
                .unwrap_or(d.thresholds.critical_at),
            low_balance: Default::default(),
            default_low_balance: o.low_balance.unwrap_or(d.thresholds.default_low_balance),
        },
        cache_path,
        history: o.history.unwrap_or(d.history),
    })
}

/// `since` as epoch ms; anything but a finite number is refused.
pub fn since_from_js(since: Option<f64>) -> CodedResult<Option<i64>> {
    match since {
        None => Ok(None),
        Some(v) if v.is_finite() => Ok(Some(v.clamp(i64::MIN as f64, i64::MAX as f64) as i64)),
        Some(v) => Err(invalid(format!(
            "history: options.since must be a finite epoch in ms, got {v}"
        ))),
    }
}

/// Response headers from JS as flat `[name, value, …]` (lib/tracker.js flattens the record and
/// joins repeated values), as lower-cased name/value pairs; a trailing name without a value
/// is dropped.
pub fn header_pairs(flat: Vec<String>) -> Vec<(String, String)> {
    let mut pairs = Vec::with_capacity(flat.len() / 2);
    let mut items = flat.into_iter();
    while let (Some(name), Some(value)) = (items.next(), items.next()) {
        pairs.push((name.to_ascii_lowercase(), value));
    }
    pairs
}
