//! Core ⇄ JS conversions. Bad input becomes an `InvalidArg` error naming the field
//! (index.js rethrows those as `TypeError`).

use std::collections::BTreeMap;

use napi::Error;
use usage_core::model as core;
use usage_core::quota;
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

fn parse_enum<T: serde::de::DeserializeOwned>(
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

/// The one tagged conversion of a JS quota definition to its kind, in the addon's
/// precedence (percentage, multiplier, per model, balance, amount, duration); `quotaKind()`
/// publishes it so the JS guards (`lib/quota-guards.js`) agree with it.
pub fn quota_kind_from_js(q: &QuotaDefinition, at: &str) -> CodedResult<core::QuotaKind> {
    Ok(if q.percentage_only == Some(true) {
        core::QuotaKind::Percentage
    } else if q.multipliers.is_some() || q.base_amount.is_some() {
        let base_amount = q
            .base_amount
            .ok_or_else(|| invalid(format!("{at}: a multiplier quota needs `baseAmount`")))?;
        core::QuotaKind::Multiplier {
            base_amount,
            multipliers: q
                .multipliers
                .clone()
                .unwrap_or_default()
                .into_iter()
                .collect(),
        }
    } else if let Some(per_model) = &q.per_model {
        core::QuotaKind::PerModel {
            per_model: per_model
                .iter()
                .map(|(model, l)| {
                    (
                        model.clone(),
                        core::PerModelLimit {
                            amount: l.amount,
                            duration_secs: l.duration,
                        },
                    )
                })
                .collect::<BTreeMap<_, _>>(),
            aggregation: parse_enum(
                &q.aggregation_strategy,
                &format!("{at}: `aggregationStrategy`"),
                "min, max, sum, individual",
            )?
            .unwrap_or_default(),
        }
    } else if q.balance == Some(true) {
        core::QuotaKind::Balance
    } else if let Some(amount) = q.amount {
        core::QuotaKind::Amount { amount }
    } else if q.duration.is_some() {
        core::QuotaKind::Duration
    } else {
        return Err(invalid(format!(
      "{at}: no known quota kind; expected one of `duration`, `amount`, `percentageOnly: true`, `baseAmount` + `multipliers`, `perModel`, `balance: true`"
    )));
    })
}

pub fn quota_from_js(index: usize, q: QuotaDefinition) -> CodedResult<core::QuotaDefinition> {
    let at = format!(
        "quotas[{index}] (id '{}')",
        usage_core::error::excerpt(&q.id)
    );
    let kind = quota_kind_from_js(&q, &at)?;
    Ok(core::QuotaDefinition {
        id: q.id,
        model_ids: q.model_ids,
        window_type: parse_enum(
            &q.window_type,
            &format!("{at}: `windowType`"),
            "rolling, fixed, session",
        )?,
        reset_behavior: parse_enum(
            &q.reset_behavior,
            &format!("{at}: `resetBehavior`"),
            "continuous, calendar, session-start",
        )?,
        duration_secs: q.duration,
        unit: q.unit,
        kind,
    })
}

pub fn snapshot_from_js(s: UsageSnapshot) -> core::UsageSnapshot {
    core::UsageSnapshot {
        id: s.id,
        model_id: s.model_id,
        used: s.used,
        remaining: s.remaining,
        used_ratio: s.used_ratio,
        remaining_ratio: s.remaining_ratio,
        limit: s.limit,
        // NaN/∞ epoch values are dropped rather than wrapped.
        resets_at: s.resets_at.filter(|v| v.is_finite()).map(|v| v as i64),
        duration_secs: s.duration,
        unlimited: s.unlimited.unwrap_or(false),
        unit: s.unit,
        status: None,
        billing: None,
        scope: s.scope,
        warnings: Vec::new(),
        view_only: false,
    }
}

pub fn window_to_js(w: core::ResolvedWindow) -> ResolvedUsageWindow {
    ResolvedUsageWindow {
        window_type: w.window_type.map(|t| t.as_str().to_string()),
        reset_behavior: w.reset_behavior.map(|r| r.as_str().to_string()),
        pace_stage: w.pace_stage.map(|s| s.as_str().to_string()),
        pace_source: w.pace_source.map(|s| s.as_str().to_string()),
        id: w.id,
        model_id: w.model_id,
        kind: w.kind,
        unit: w.unit,
        status: w.status.map(|s| s.as_str().to_string()),
        billing: w.billing.map(|b| b.as_str().to_string()),
        scope: w.scope,
        pool_view: w.pool_view,
        view_only: w.view_only,
        level: w.level.map(|l| l.as_str().to_string()),
        total: w.total,
        used: w.used,
        remaining: w.remaining,
        used_ratio: w.used_ratio,
        remaining_ratio: w.remaining_ratio,
        duration: w.duration_secs,
        resets_at: w.resets_at.map(|v| v as f64),
        unlimited: w.unlimited,
        elapsed_ratio: w.elapsed_ratio,
        pace: w.pace,
        runs_out_at: w.runs_out_at.map(|v| v as f64),
    }
}

fn error_to_js(err: core::FetchError) -> EntryError {
    EntryError {
        kind: err.kind.as_str().to_string(),
        message: err.message,
        retry_at: err.retry_at.map(|v| v as f64),
    }
}

pub fn provider_to_js(p: core::ProviderView) -> ProviderView {
    ProviderView {
        id: p.id,
        label: p.label,
        plan: p.plan,
        error: p.error.map(error_to_js),
        billing: p.billing.map(|b| b.as_str().to_string()),
        warnings: p.warnings,
        fails: p.fails,
        active: p.active,
        stale: p.stale,
        updated: p.updated as f64,
        models: (p.models.into_iter())
            .map(|m| ModelWindows {
                model_id: m.model_id,
                windows: m.windows.into_iter().map(window_to_js).collect(),
            })
            .collect(),
    }
}

pub fn entry_to_js(e: core::StoreEntry) -> UsageStoreEntry {
    let billing = e.billing().map(|b| b.as_str().to_string());
    let warnings = e.warnings();
    UsageStoreEntry {
        billing,
        warnings: (!warnings.is_empty()).then_some(warnings),
        key: e.key,
        provider_id: e.provider_id,
        model_id: e.model_id,
        windows: e.windows.into_iter().map(window_to_js).collect(),
        updated: e.updated as f64,
        fails: e.fails,
        active: e.active,
        stale: e.stale,
        plan: e.plan,
        error: e.error.map(error_to_js),
    }
}

pub fn check_to_js(c: quota::QuotaCheck) -> QuotaCheck {
    QuotaCheck {
        decision: c.decision.as_str().to_string(),
        remaining_ratio: c.remaining_ratio,
        window_id: c.window_id,
        resets_at: c.resets_at.map(|v| v as f64),
        window_ids: c.window_ids,
    }
}

pub fn pressing_to_js(p: usage_core::urgency::Pressing) -> PressingWindow {
    PressingWindow {
        provider_id: p.provider_id,
        model_id: p.model_id,
        window_id: p.window_id,
        level: p.level.as_str().to_string(),
        remaining_ratio: p.remaining_ratio,
    }
}

pub fn event_to_js(e: quota::ThresholdEvent) -> ThresholdEvent {
    ThresholdEvent {
        key: e.key,
        provider_id: e.provider_id,
        model_id: e.model_id,
        window_id: e.window_id,
        kind: e.kind.as_str().to_string(),
        remaining_ratio: e.remaining_ratio,
        resets_at: e.resets_at.map(|v| v as f64),
    }
}

pub fn stats_to_js(s: usage_core::Stats) -> TrackerStats {
    TrackerStats {
        providers: s.providers as u32,
        entries: s.entries as u32,
        active_entries: s.active_entries as u32,
        exhausted_windows: s.exhausted_windows as u32,
        stale_entries: s.stale_entries as u32,
        last_cycle_ms: s.last_cycle_ms,
        cycles: s.cycles as f64,
        fetch_ok: s.fetch_ok as f64,
        fetch_errors: s.fetch_errors as f64,
        last_cycle_at: s.last_cycle_at as f64,
        cache_hits: s.cache_hits as f64,
        observed_responses: s.observed_responses as f64,
        requests_saved: s.requests_saved as f64,
    }
}

pub fn selection_to_js(s: quota::Selection) -> Selection {
    Selection {
        provider_id: s.provider_id,
        model_id: s.model_id,
        decision: s.decision.as_str().to_string(),
        reason: s.reason,
        ranking: s
            .ranking
            .into_iter()
            .map(|c| SelectionCandidate {
                provider_id: c.provider_id,
                model_id: c.model_id,
                decision: c.check.decision.as_str().to_string(),
                remaining_ratio: c.check.remaining_ratio,
                window_id: c.check.window_id,
                plan: c.plan,
            })
            .collect(),
    }
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

pub fn history_point_to_js(p: usage_core::history::HistoryPoint) -> HistoryPoint {
    HistoryPoint {
        at: p.at as f64,
        used_ratio: p.used_ratio,
        used: p.used,
        remaining: p.remaining,
    }
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

pub fn credentials_from_js(
    c: BuiltinCredentials,
) -> CodedResult<usage_core::credentials::Credentials> {
    use usage_core::credentials::{CredentialKind, Credentials};
    if c.access_token.trim().is_empty() {
        return Err(invalid(
            "credentials.accessToken must be a non-empty string",
        ));
    }
    let kind = match c.kind.as_deref() {
        None | Some("oauth") => CredentialKind::OAuth,
        Some("api_key") => CredentialKind::ApiKey,
        Some(other) => {
            return Err(invalid(format!(
                "credentials.kind must be 'oauth' or 'api_key', got '{}'",
                usage_core::error::excerpt(other)
            )))
        }
    };
    let mut creds = Credentials::new(c.access_token, kind);
    creds.account_id = c.account_id;
    creds.project_id = c.project_id;
    Ok(creds)
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

pub fn auth_problem_to_js(p: usage_core::credentials::AuthFileProblem) -> AuthFileProblem {
    AuthFileProblem {
        path: p.path.to_string_lossy().into_owned(),
        message: p.message(),
        short: p.short(),
        place: p.place,
        problem: p.problem,
    }
}

pub fn settings_to_js(r: usage_core::settings::SettingsRead) -> SettingsRead {
    use usage_core::settings::{CachePath, Style, WhenExhausted};
    let s = r.settings;
    let cache_path = match s.cache_path {
        CachePath::Default => None,
        CachePath::Off => Some(napi::Either::B(napi::bindgen_prelude::Null)),
        CachePath::At(path) => Some(napi::Either::A(path)),
    };
    SettingsRead {
        path: r.path.to_string_lossy().into_owned(),
        options: ExtensionSettings {
            interval_ms: s.interval_ms as f64,
            providers: s.providers.into_iter().collect(),
            warn_at: s.warn_at,
            critical_at: s.critical_at,
            low_balance: s.low_balance,
            style: match s.style {
                Style::Compact => "compact",
                Style::Full => "full",
            }
            .into(),
            notify: s.notify,
            when_exhausted: match s.when_exhausted {
                WhenExhausted::Ask => "ask",
                WhenExhausted::Switch => "switch",
                WhenExhausted::Warn => "warn",
            }
            .into(),
            tracker: TrackerOptions {
                interval_ms: Some(s.interval_ms as f64),
                warn_at: Some(s.warn_at),
                critical_at: Some(s.critical_at),
                low_balance: Some(s.low_balance),
                cache_path,
                ..Default::default()
            },
        },
        problems: r.problems,
    }
}
