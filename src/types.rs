//! JS-facing shapes (`#[napi(object)]`); their doc comments flow into `binding.d.ts`. Each
//! shape's conversion sits next to it: `From<core>` for what the addon publishes, `TryFrom`
//! for what JS hands in (refused with an error naming the field). Enums cross as strings by
//! their core `as_str`, typed as string unions with `ts_type`.

use std::collections::{BTreeMap, HashMap};

use napi_derive::napi;
use usage_core::model as core;

use crate::convert::{invalid, parse_enum, CodedError, CodedResult};

/// Options of `new UsageTracker(options)`.
#[napi(object)]
#[derive(Default)]
pub struct TrackerOptions {
    /// Poll interval, whole ms, at least 1000. Default 60000.
    pub interval_ms: Option<f64>,
    /// Backoff cap, a whole number ≥ 1: a failing provider waits at most `intervalMs × this`. Default 8.
    pub max_backoff_multiplier: Option<f64>,
    /// Per provider fetch (JS or built-in), whole ms ≥ 1. Default 30000.
    pub request_timeout_ms: Option<f64>,
    /// Remaining ratio under which a window is `warn`. Default 0.25.
    pub warn_at: Option<f64>,
    /// Remaining ratio under which a window is `critical` and `checkQuota` says `low`. Default 0.10.
    pub critical_at: Option<f64>,
    /// Older name of `criticalAt`.
    pub low_quota_threshold: Option<f64>,
    /// A prepaid balance below this much money is `critical` (below twice it, `warn`). Default 5.
    pub low_balance: Option<f64>,
    /// Shared cache file; `null` disables it; default `<pi agent dir>/cache/usage-tracker.json`.
    pub cache_path: Option<napi::Either<String, napi::bindgen_prelude::Null>>,
    /// Record every stored value next to the cache (`tracker.history()`, measured pace).
    /// Default true; there is no history without a cache.
    pub history: Option<bool>,
}

/// Limits of one model in a `perModel` quota.
#[napi(object)]
pub struct PerModelLimit {
    pub amount: Option<f64>,
    /// Seconds.
    pub duration: Option<f64>,
}

/// A quota definition of one of five kinds: duration, amount, percentage
/// (`percentageOnly: true`), multiplier (`baseAmount` + `multipliers`) or `perModel`.
#[napi(object)]
pub struct QuotaDefinition {
    pub id: String,
    pub model_ids: Option<Vec<String>>,
    #[napi(ts_type = "'rolling' | 'fixed' | 'session'")]
    pub window_type: Option<String>,
    #[napi(ts_type = "'continuous' | 'calendar' | 'session-start'")]
    pub reset_behavior: Option<String>,
    /// Window length, seconds (the total for a duration quota; time metadata otherwise).
    pub duration: Option<f64>,
    pub amount: Option<f64>,
    pub percentage_only: Option<bool>,
    pub base_amount: Option<f64>,
    pub multipliers: Option<HashMap<String, f64>>,
    pub per_model: Option<HashMap<String, PerModelLimit>>,
    #[napi(ts_type = "'min' | 'max' | 'sum' | 'individual'")]
    pub aggregation_strategy: Option<String>,
    /// A prepaid balance with no limit (only what is left counts).
    pub balance: Option<bool>,
    /// What the numbers count: an ISO currency ('USD'), 'credits', 'requests'.
    pub unit: Option<String>,
}

/// The one tagged conversion of a JS quota definition to its kind, in the addon's
/// precedence (percentage, multiplier, per model, balance, amount, duration); `quotaKind()`
/// publishes it so the JS guards (`lib/quota-guards.js`) agree with it. Errors name the
/// field; `convert::quota_from_js` says which quota.
impl TryFrom<&QuotaDefinition> for core::QuotaKind {
    type Error = CodedError;

    fn try_from(q: &QuotaDefinition) -> CodedResult<Self> {
        Ok(if q.percentage_only == Some(true) {
            core::QuotaKind::Percentage
        } else if q.multipliers.is_some() || q.base_amount.is_some() {
            let base_amount = q
                .base_amount
                .ok_or_else(|| invalid("a multiplier quota needs `baseAmount`"))?;
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
                    "`aggregationStrategy`",
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
            return Err(invalid(
          "no known quota kind; expected one of `duration`, `amount`, `percentageOnly: true`, `baseAmount` + `multipliers`, `perModel`, `balance: true`",
        ));
        })
    }
}

impl TryFrom<QuotaDefinition> for core::QuotaDefinition {
    type Error = CodedError;

    fn try_from(q: QuotaDefinition) -> CodedResult<Self> {
        let kind = core::QuotaKind::try_from(&q)?;
        Ok(core::QuotaDefinition {
            id: q.id,
            model_ids: q.model_ids,
            window_type: parse_enum(&q.window_type, "`windowType`", "rolling, fixed, session")?,
            reset_behavior: parse_enum(
                &q.reset_behavior,
                "`resetBehavior`",
                "continuous, calendar, session-start",
            )?,
            duration_secs: q.duration,
            unit: q.unit,
            kind,
        })
    }
}

/// What a provider reports for one window.
#[napi(object)]
pub struct UsageSnapshot {
    /// The QuotaDefinition id it belongs to.
    pub id: String,
    /// Absent = 'default'.
    pub model_id: Option<String>,
    pub used: Option<f64>,
    pub remaining: Option<f64>,
    /// 0..1
    pub used_ratio: Option<f64>,
    /// 0..1
    pub remaining_ratio: Option<f64>,
    /// Total, when the provider reports one.
    pub limit: Option<f64>,
    /// Epoch ms of the next reset.
    pub resets_at: Option<f64>,
    /// Window length in seconds, when the provider reports it.
    pub duration: Option<f64>,
    /// The pool has no limit.
    pub unlimited: Option<bool>,
    /// Unit of this value, overriding the quota's (a balance's currency).
    pub unit: Option<String>,
    /// The model family this window limits: `checkQuota` lets it govern only models whose id
    /// contains it (any case), never the provider as a whole. Absent = the whole account.
    pub scope: Option<String>,
}

impl From<UsageSnapshot> for core::UsageSnapshot {
    fn from(s: UsageSnapshot) -> Self {
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
}

/// One resolved window of a store entry.
#[napi(object)]
pub struct ResolvedUsageWindow {
    pub id: String,
    pub model_id: String,
    #[napi(
        ts_type = "'duration' | 'amount' | 'percentage' | 'multiplier' | 'perModel' | 'balance'"
    )]
    pub kind: String,
    /// What the numbers count: an ISO currency ('USD'), 'credits', 'requests'; absent for percent-only windows.
    pub unit: Option<String>,
    /// A state the numbers alone do not tell: 'disabled' (switched off, e.g. Claude extra
    /// usage; the window reads exhausted) or 'limit_reached' (a spend cap is hit).
    #[napi(ts_type = "'disabled' | 'limit_reached'")]
    pub status: Option<String>,
    /// pi's own requests are paid from this window: 'extra_usage' (a Claude login).
    #[napi(ts_type = "'extra_usage'")]
    pub billing: Option<String>,
    /// The model family this window limits, as the provider's wire (or a JS strategy) marked
    /// it (`opus` for Claude's weekly Opus cap); absent for a window of the whole account.
    pub scope: Option<String>,
    /// A model's view of a shared multiplier pool (Copilot: what the pool leaves in this
    /// model's requests), not a pool of its own; the pool is the `default` model's window
    /// with the same id.
    pub pool_view: bool,
    /// A window too short to matter between two looks (a per-minute rate limit from response
    /// headers): `/usage-store` lists it, the footer leaves it out.
    pub view_only: bool,
    /// How close to the wall, by the tracker's `warnAt`/`criticalAt` (the rule `checkQuota` uses).
    #[napi(ts_type = "'ok' | 'warn' | 'critical' | 'exhausted'")]
    pub level: Option<String>,
    /// Usage, in the quota's unit.
    pub total: f64,
    pub used: f64,
    pub remaining: f64,
    /// Clamped to 0..1.
    pub used_ratio: f64,
    pub remaining_ratio: f64,
    /// Window length, seconds.
    pub duration: Option<f64>,
    /// Epoch ms of the next reset.
    pub resets_at: Option<f64>,
    #[napi(ts_type = "'rolling' | 'fixed' | 'session'")]
    pub window_type: Option<String>,
    #[napi(ts_type = "'continuous' | 'calendar' | 'session-start'")]
    pub reset_behavior: Option<String>,
    /// The pool has no limit (or this model costs 0× of it).
    pub unlimited: bool,
    /// Share of the window's time that has passed, 0..1.
    pub elapsed_ratio: Option<f64>,
    /// How far ahead of spending the window evenly, -1..1 (positive = faster than the window
    /// allows): usedRatio − elapsedRatio, or with `paceSource: 'measured'`
    /// elapsedRatio × (rate × length − 1) at the last hour's rate (equal for a steady rate).
    pub pace: Option<f64>,
    #[napi(
        ts_type = "'far-behind' | 'behind' | 'slightly-behind' | 'on-track' | 'slightly-ahead' | 'ahead' | 'far-ahead'"
    )]
    pub pace_stage: Option<String>,
    /// Projected epoch ms at which the window runs out at the current rate (only when it would before the reset).
    pub runs_out_at: Option<f64>,
    /// The rate `pace` and `runsOutAt` come from: the slope of the last hour of history, or
    /// usage so far spread evenly over the time elapsed.
    #[napi(ts_type = "'measured' | 'linear'")]
    pub pace_source: Option<String>,
}

impl From<core::ResolvedWindow> for ResolvedUsageWindow {
    fn from(w: core::ResolvedWindow) -> Self {
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
}

/// Why the last fetch failed.
#[napi(object)]
pub struct EntryError {
    #[napi(
        ts_type = "'auth' | 'rate_limited' | 'network' | 'timeout' | 'server' | 'parse' | 'provider' | 'unsupported'"
    )]
    pub kind: String,
    pub message: String,
    /// Epoch ms before which the provider is not asked again.
    pub retry_at: Option<f64>,
}

impl From<core::FetchError> for EntryError {
    fn from(err: core::FetchError) -> Self {
        EntryError {
            kind: err.kind.as_str().to_string(),
            message: err.message,
            retry_at: err.retry_at.map(|v| v as f64),
        }
    }
}

/// One model's windows in a provider's view.
#[napi(object)]
pub struct ModelWindows {
    pub model_id: String,
    pub windows: Vec<ResolvedUsageWindow>,
}

/// One provider as the store holds it: its facts once, then its models' windows.
#[napi(object)]
pub struct ProviderView {
    pub id: String,
    /// What the provider is called on screen (the built-in table's label; a JS strategy's id).
    pub label: String,
    pub plan: Option<String>,
    pub error: Option<EntryError>,
    /// How pi's own requests to this provider are paid (`extra_usage`: a Claude login's extra usage).
    #[napi(ts_type = "'extra_usage'")]
    pub billing: Option<String>,
    /// What could not be read of the last answer (the readable windows are kept).
    pub warnings: Vec<String>,
    pub fails: u32,
    pub active: bool,
    pub stale: bool,
    /// Epoch ms of the last successful fetch; 0 = never.
    pub updated: f64,
    pub models: Vec<ModelWindows>,
}

impl From<core::ProviderView> for ProviderView {
    fn from(p: core::ProviderView) -> Self {
        ProviderView {
            id: p.id,
            label: p.label,
            plan: p.plan,
            error: p.error.map(EntryError::from),
            billing: p.billing.map(|b| b.as_str().to_string()),
            warnings: p.warnings,
            fails: p.fails,
            active: p.active,
            stale: p.stale,
            updated: p.updated as f64,
            models: (p.models.into_iter())
                .map(|m| ModelWindows {
                    model_id: m.model_id,
                    windows: m
                        .windows
                        .into_iter()
                        .map(ResolvedUsageWindow::from)
                        .collect(),
                })
                .collect(),
        }
    }
}

/// One `provider/model` entry of the store.
#[napi(object)]
pub struct UsageStoreEntry {
    pub key: String,
    pub provider_id: String,
    pub model_id: String,
    pub windows: Vec<ResolvedUsageWindow>,
    /// Epoch ms of the last successful fetch (0 = never).
    pub updated: f64,
    /// Consecutive failed fetches.
    pub fails: u32,
    /// The provider has authentication.
    pub active: bool,
    /// Older than 2 intervals, or from the cache at start.
    pub stale: bool,
    pub plan: Option<String>,
    /// How pi's own requests to this provider are paid when not from the plan's windows:
    /// 'extra_usage' (Claude with a login: metered extra usage; see the window with the
    /// same `billing`).
    #[napi(ts_type = "'extra_usage'")]
    pub billing: Option<String>,
    /// Parts of the last answer that could not be read and were skipped (a malformed pool);
    /// the windows shown are the rest. Messages name the part, never its content.
    pub warnings: Option<Vec<String>>,
    pub error: Option<EntryError>,
}

impl From<core::StoreEntry> for UsageStoreEntry {
    fn from(e: core::StoreEntry) -> Self {
        let billing = e.billing().map(|b| b.as_str().to_string());
        let warnings = e.warnings();
        UsageStoreEntry {
            billing,
            warnings: (!warnings.is_empty()).then_some(warnings),
            key: e.key,
            provider_id: e.provider_id,
            model_id: e.model_id,
            windows: e
                .windows
                .into_iter()
                .map(ResolvedUsageWindow::from)
                .collect(),
            updated: e.updated as f64,
            fails: e.fails,
            active: e.active,
            stale: e.stale,
            plan: e.plan,
            error: e.error.map(EntryError::from),
        }
    }
}

/// Answer of `checkQuota`.
#[napi(object)]
pub struct QuotaCheck {
    #[napi(ts_type = "'proceed' | 'low' | 'exhausted' | 'unknown'")]
    pub decision: String,
    pub remaining_ratio: Option<f64>,
    /// The binding (most constrained) window.
    pub window_id: Option<String>,
    pub resets_at: Option<f64>,
    /// Every window that governs this model, the binding one first: a metered login (Claude's
    /// extra usage) is governed by its meter and the model's own caps, not the plan windows.
    pub window_ids: Vec<String>,
}

impl From<usage_core::quota::QuotaCheck> for QuotaCheck {
    fn from(c: usage_core::quota::QuotaCheck) -> Self {
        QuotaCheck {
            decision: c.decision.as_str().to_string(),
            remaining_ratio: c.remaining_ratio,
            window_id: c.window_id,
            resets_at: c.resets_at.map(|v| v as f64),
            window_ids: c.window_ids,
        }
    }
}

/// A provider's most pressing window (`mostPressing`).
#[napi(object)]
pub struct PressingWindow {
    pub provider_id: String,
    pub model_id: String,
    pub window_id: String,
    #[napi(ts_type = "'ok' | 'warn' | 'critical' | 'exhausted'")]
    pub level: String,
    pub remaining_ratio: f64,
}

impl From<usage_core::urgency::Pressing> for PressingWindow {
    fn from(p: usage_core::urgency::Pressing) -> Self {
        PressingWindow {
            provider_id: p.provider_id,
            model_id: p.model_id,
            window_id: p.window_id,
            level: p.level.as_str().to_string(),
            remaining_ratio: p.remaining_ratio,
        }
    }
}

/// An edge-triggered threshold crossing.
#[napi(object)]
pub struct ThresholdEvent {
    pub key: String,
    pub provider_id: String,
    pub model_id: String,
    pub window_id: String,
    #[napi(ts_type = "'low' | 'exhausted' | 'recovered'")]
    pub kind: String,
    pub remaining_ratio: f64,
    pub resets_at: Option<f64>,
}

impl From<usage_core::quota::ThresholdEvent> for ThresholdEvent {
    fn from(e: usage_core::quota::ThresholdEvent) -> Self {
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
}

/// Monitor counters; cheap to read.
#[napi(object)]
pub struct TrackerStats {
    pub providers: u32,
    pub entries: u32,
    pub active_entries: u32,
    pub exhausted_windows: u32,
    pub stale_entries: u32,
    pub last_cycle_ms: f64,
    pub cycles: f64,
    pub fetch_ok: f64,
    pub fetch_errors: f64,
    /// Epoch ms of the last cycle's start (0 = none yet).
    pub last_cycle_at: f64,
    /// Results taken from the shared cache instead of the network.
    pub cache_hits: f64,
    /// Model responses whose quota headers updated the store.
    pub observed_responses: f64,
    /// Scheduled polls skipped because traffic brought the values within the interval.
    pub requests_saved: f64,
}

impl From<usage_core::Stats> for TrackerStats {
    fn from(s: usage_core::Stats) -> Self {
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
}

#[napi(object)]
pub struct SelectionCandidate {
    pub provider_id: String,
    pub model_id: Option<String>,
    #[napi(ts_type = "'proceed' | 'low' | 'exhausted' | 'unknown'")]
    pub decision: String,
    pub remaining_ratio: Option<f64>,
    pub window_id: Option<String>,
    pub plan: Option<String>,
}

/// Answer of `selectBest`.
#[napi(object)]
pub struct Selection {
    /// The account to use; absent when none has usable data.
    pub provider_id: Option<String>,
    /// The model to use, when candidates named models (`selectBestModel`).
    pub model_id: Option<String>,
    #[napi(ts_type = "'proceed' | 'low' | 'exhausted' | 'unknown'")]
    pub decision: String,
    pub reason: String,
    /// Every candidate, best first.
    pub ranking: Vec<SelectionCandidate>,
}

impl From<usage_core::quota::Selection> for Selection {
    fn from(s: usage_core::quota::Selection) -> Self {
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
}

#[napi(object)]
pub struct BuiltinCredentials {
    pub access_token: String,
    /// What `accessToken` is; default `'oauth'`.
    #[napi(ts_type = "'oauth' | 'api_key'")]
    pub kind: Option<String>,
    pub account_id: Option<String>,
    pub project_id: Option<String>,
}

impl TryFrom<BuiltinCredentials> for usage_core::credentials::Credentials {
    type Error = CodedError;

    fn try_from(c: BuiltinCredentials) -> CodedResult<Self> {
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
}

/// Options of `registerBuiltinProvider`.
#[napi(object)]
#[derive(Default)]
pub struct BuiltinOptions {
    /// Instance id, for a second account ('anthropic-work').
    pub id: Option<String>,
    /// Test/enterprise override; https only, except loopback.
    pub base_url: Option<String>,
    pub credentials: Option<BuiltinCredentials>,
    /// Copilot: premium-request multiplier per model, overriding the shipped table.
    pub multipliers: Option<HashMap<String, f64>>,
}

/// What the tracker hands the JS side once per cycle.
#[napi(object)]
pub struct CycleUpdate {
    /// index.js ignores updates of a generation it has stopped.
    pub generation: u32,
    pub entries: Vec<UsageStoreEntry>,
    /// The same store, one view per provider.
    pub providers: Vec<ProviderView>,
    pub events: Vec<ThresholdEvent>,
    /// A delta: only these providers changed and `entries` (and `providers`) hold all of
    /// theirs; absent when they are the whole store.
    pub changed: Option<Vec<String>>,
}

/// One provider's part of the store: its entries and its view.
#[napi(object)]
pub struct ProviderPart {
    pub entries: Vec<UsageStoreEntry>,
    pub providers: Vec<ProviderView>,
}

/// One row of the built-in provider table.
#[napi(object)]
pub struct BuiltinProviderInfo {
    /// pi's own provider id.
    pub id: String,
    /// Short name for footers and tables ('claude').
    pub label: String,
    /// `false`: the service has no usage endpoint pi's credential can read; its windows come
    /// only from the rate-limit headers of pi's model responses (`observeResponse`).
    pub polled: bool,
    /// The credential forms its usage endpoint accepts (the wire's rule, as data).
    pub auth: BuiltinAuthInfo,
}

/// What a built-in's usage endpoint accepts from pi's credentials (its wire's `AuthRule`).
#[napi(object)]
pub struct BuiltinAuthInfo {
    /// The field of a pi OAuth entry holding the token the endpoint takes ('access'; Copilot's
    /// 'refresh' is the GitHub token); absent when no OAuth login works there.
    pub oauth_field: Option<String>,
    /// The endpoint takes the provider's API key.
    pub api_key: bool,
    /// Environment variables pi reads for this provider when `auth.json` has no entry.
    pub env: Vec<String>,
    /// What those variables hold.
    #[napi(ts_type = "'oauth' | 'api_key'")]
    pub env_kind: String,
}

impl From<usage_core::credentials::AuthRule> for BuiltinAuthInfo {
    fn from(rule: usage_core::credentials::AuthRule) -> Self {
        Self {
            oauth_field: rule.oauth_field.map(String::from),
            api_key: rule.api_key,
            env: rule.env.iter().map(|v| v.to_string()).collect(),
            env_kind: rule.env_kind.as_str().to_string(),
        }
    }
}

/// One error code the addon throws.
#[napi(object)]
pub struct ErrorCodeInfo {
    pub code: String,
    /// A bad argument: index.js throws it as a `TypeError`.
    pub type_error: bool,
}

/// What a pi `auth.json` entry means for a provider's usage endpoint (never the token).
#[napi(object)]
pub struct PiCredentialInfo {
    pub usable: bool,
    #[napi(ts_type = "'oauth' | 'api_key'")]
    pub kind: Option<String>,
    /// The account's own API host (GitHub Enterprise), when not the provider's default.
    pub base_url: Option<String>,
    /// Why the entry cannot be used here, and what to do.
    pub reason: Option<String>,
    /// `true` when the key is the output of a command (`"!…"`), which describing it does
    /// not run; the tracker runs it off the JS thread, once per process, before the first fetch.
    pub key_command: Option<bool>,
}

/// Limits the tracker enforces, for callers that want to stay within them.
#[napi(object)]
pub struct TrackerLimits {
    /// Most snapshots one `fetchUsage` may return; more is a provider error.
    pub max_snapshots_per_fetch: u32,
    /// Shortest `intervalMs`.
    pub min_interval_ms: u32,
    /// Headers of one response `observeResponse` reads (the first ones); the rest are ignored.
    pub max_response_headers: u32,
    /// Longest header value `observeResponse` reads; longer ones are ignored.
    pub max_header_value_chars: u32,
}

/// An error as data, for async methods (index.js throws it with its code).
#[napi(object)]
pub struct Failure {
    pub code: String,
    pub message: String,
}

/// Options of `history(providerId, windowId, options)`.
#[napi(object)]
#[derive(Default)]
pub struct HistoryOptions {
    /// Absent = 'default'.
    pub model_id: Option<String>,
    /// Epoch ms: only points observed at or after this.
    pub since: Option<f64>,
}

/// One recorded observation of a window.
#[napi(object)]
pub struct HistoryPoint {
    /// Epoch ms at which the fetch that saw it started.
    pub at: f64,
    /// 0..1
    pub used_ratio: f64,
    /// In the window's unit; absent for percent-only windows and per-model views of a pool.
    pub used: Option<f64>,
    pub remaining: Option<f64>,
    /// The window's reset then (epoch ms): a later one means a reset in between.
    pub resets_at: Option<f64>,
}

impl From<usage_core::history::HistoryPoint> for HistoryPoint {
    fn from(p: usage_core::history::HistoryPoint) -> Self {
        HistoryPoint {
            at: p.at as f64,
            used_ratio: p.used_ratio,
            used: p.used,
            remaining: p.remaining,
            resets_at: p.resets_at.map(|t| t as f64),
        }
    }
}

/// A `(provider, model)` pair to rank.
#[napi(object)]
pub struct ModelCandidate {
    pub provider_id: String,
    pub model_id: String,
}

/// Why pi's `auth.json` cannot be used (never a value from the file).
#[napi(object)]
pub struct AuthFileProblem {
    pub path: String,
    /// Where: `line 3, column 7`, or `entry "anthropic"`.
    pub place: String,
    /// What is wrong there.
    pub problem: String,
    /// The whole sentence, for the CLI and the view.
    pub message: String,
    /// One short line, for the footer.
    pub short: String,
}

impl From<usage_core::credentials::AuthFileProblem> for AuthFileProblem {
    fn from(p: usage_core::credentials::AuthFileProblem) -> Self {
        AuthFileProblem {
            path: p.path.to_string_lossy().into_owned(),
            message: p.message(),
            short: p.short(),
            place: p.place,
            problem: p.problem,
        }
    }
}

/// What the pi extension's settings file says (`readSettings()`); every key has a value.
#[napi(object)]
pub struct ExtensionSettings {
    /// Poll interval, ms.
    pub interval_ms: f64,
    /// Every built-in provider id: tracked (`true`) or not.
    pub providers: HashMap<String, bool>,
    /// Remaining ratio under which a window turns yellow.
    pub warn_at: f64,
    /// Remaining ratio under which a window turns red.
    pub critical_at: f64,
    /// Money under which a prepaid balance is red.
    pub low_balance: f64,
    #[napi(ts_type = "'compact' | 'full'")]
    pub style: String,
    /// Notifications when a window runs low, runs out or recovers.
    pub notify: bool,
    /// The footer's "this session" cell (what this pi session used of the lead provider).
    pub session_cost: bool,
    /// A prompt to a model whose quota is used up.
    #[napi(ts_type = "'ask' | 'switch' | 'warn'")]
    pub when_exhausted: String,
    /// The options for `new UsageTracker(...)` these settings make.
    pub tracker: TrackerOptions,
}

/// A settings file as the addon reads it: what it means, and each bad value in words (shown
/// once; its default is used).
#[napi(object)]
pub struct SettingsRead {
    pub path: String,
    pub options: ExtensionSettings,
    pub problems: Vec<String>,
}

impl From<usage_core::settings::SettingsRead> for SettingsRead {
    fn from(r: usage_core::settings::SettingsRead) -> Self {
        use usage_core::settings::CachePath;
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
                style: s.style.as_str().into(),
                notify: s.notify,
                session_cost: s.session_cost,
                when_exhausted: s.when_exhausted.as_str().into(),
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
}
