//! The domain vocabulary: quota definitions, what providers report, and what the store holds.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Model id used when a window applies to every model of a provider.
pub const DEFAULT_MODEL: &str = "default";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WindowType {
    Rolling,
    Fixed,
    Session,
}

impl WindowType {
    pub fn as_str(self) -> &'static str {
        match self {
            WindowType::Rolling => "rolling",
            WindowType::Fixed => "fixed",
            WindowType::Session => "session",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResetBehavior {
    Continuous,
    Calendar,
    SessionStart,
}

impl ResetBehavior {
    pub fn as_str(self) -> &'static str {
        match self {
            ResetBehavior::Continuous => "continuous",
            ResetBehavior::Calendar => "calendar",
            ResetBehavior::SessionStart => "session-start",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Aggregation {
    Min,
    Max,
    Sum,
    #[default]
    Individual,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct PerModelLimit {
    pub amount: Option<f64>,
    pub duration_secs: Option<f64>,
}

/// The five kinds of the original design; what decides a window's total.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum QuotaKind {
    /// Total is the window length in seconds (`QuotaDefinition::duration_secs`).
    Duration,
    Amount {
        amount: f64,
    },
    /// Total is 100; the provider only reports percentages.
    Percentage,
    /// A shared pool of `base_amount` requests, each model charging `multipliers[model]` per request.
    Multiplier {
        base_amount: f64,
        multipliers: BTreeMap<String, f64>,
    },
    PerModel {
        per_model: BTreeMap<String, PerModelLimit>,
        aggregation: Aggregation,
    },
    /// Prepaid money or credits with no limit: only what is left counts; its level comes
    /// from the tracker's `lowBalance`, not from a ratio.
    Balance,
}

impl QuotaKind {
    /// `name()` of a multiplier pool, as resolved windows carry it in `kind`.
    pub const MULTIPLIER: &'static str = "multiplier";

    pub fn name(&self) -> &'static str {
        match self {
            QuotaKind::Duration => "duration",
            QuotaKind::Amount { .. } => "amount",
            QuotaKind::Percentage => "percentage",
            QuotaKind::Multiplier { .. } => Self::MULTIPLIER,
            QuotaKind::PerModel { .. } => "perModel",
            QuotaKind::Balance => "balance",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuotaDefinition {
    pub id: String,
    pub model_ids: Option<Vec<String>>,
    pub window_type: Option<WindowType>,
    pub reset_behavior: Option<ResetBehavior>,
    /// Window length. For `Duration` it is also the total; for the others it is time metadata.
    pub duration_secs: Option<f64>,
    /// What the numbers count: an ISO currency (`USD`), `credits`, `requests`; `None` for
    /// percent-only windows.
    #[serde(default)]
    pub unit: Option<String>,
    pub kind: QuotaKind,
}

impl QuotaDefinition {
    pub fn new(id: impl Into<String>, kind: QuotaKind) -> Self {
        Self {
            id: id.into(),
            model_ids: None,
            window_type: None,
            reset_behavior: None,
            duration_secs: None,
            unit: None,
            kind,
        }
    }

    pub fn with_unit(mut self, unit: impl Into<String>) -> Self {
        self.unit = Some(unit.into());
        self
    }

    pub fn with_duration(mut self, secs: f64) -> Self {
        self.duration_secs = Some(secs);
        self
    }

    pub fn with_window(mut self, window_type: WindowType, reset: ResetBehavior) -> Self {
        self.window_type = Some(window_type);
        self.reset_behavior = Some(reset);
        self
    }
}

/// What a provider reports for one window, in the quota's unit.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageSnapshot {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub used: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remaining: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub used_ratio: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remaining_ratio: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<f64>,
    /// Epoch ms of the next reset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resets_at: Option<i64>,
    /// Window length reported by the provider (Codex `limit_window_seconds`); overrides the quota's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_secs: Option<f64>,
    /// The pool has no limit (Copilot `unlimited: true`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unlimited: bool,
    /// Unit reported with this value; overrides the quota's (a balance's currency).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// A state the numbers alone do not tell, set by the wire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<WindowStatus>,
    /// pi's own requests are paid from this window, set by the wire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing: Option<Billing>,
    /// The model family this window limits (`opus` for Claude's `7d_opus`), set by the wire
    /// that parsed it; `None` for a window of the whole account. The quota check reads it, so
    /// no generic rule spells a provider's window naming.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Problems the same fetch met elsewhere in the response (a malformed pool that was
    /// skipped). Entry-level facts, carried by every snapshot of the fetch so they reach
    /// the entry through the store unchanged; messages never quote the body.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// A window too short to matter between two looks (a per-minute rate limit): the full
    /// view lists it, the footer leaves it out.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub view_only: bool,
}

impl UsageSnapshot {
    /// A header reports shares; the window's size, unit, length and billing stay what the
    /// last full result said, so an amount window keeps its amounts (used = share × limit).
    fn carrying_over(mut self, old: &UsageSnapshot) -> Self {
        let amounts_known = self.used.is_some() || self.remaining.is_some() || self.limit.is_some();
        if !amounts_known && !self.unlimited {
            if let Some(limit) = old.limit.filter(|l| *l > 0.0) {
                self.limit = Some(limit);
                let used_ratio = self
                    .used_ratio
                    .or_else(|| self.remaining_ratio.map(|r| 1.0 - r));
                if let Some(r) = used_ratio {
                    self.used = Some(r * limit);
                    self.remaining = Some((1.0 - r) * limit);
                }
            }
        }
        self.unit = self.unit.or_else(|| old.unit.clone());
        self.duration_secs = self.duration_secs.or(old.duration_secs);
        self.billing = self.billing.or(old.billing);
        self.scope = self.scope.or_else(|| old.scope.clone());
        self
    }

    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            ..Self::default()
        }
    }

    pub fn model_id(&self) -> &str {
        self.model_id.as_deref().unwrap_or(DEFAULT_MODEL)
    }
}

/// What a provider's fetch yields: the windows plus the plan when the service says.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FetchOutcome {
    pub snapshots: Vec<UsageSnapshot>,
    pub plan: Option<String>,
    /// Windows the provider discovered in the response (Anthropic's new keys), resolved
    /// like the declared quotas.
    #[serde(default)]
    pub extra_quotas: Vec<QuotaDefinition>,
}

impl FetchOutcome {
    /// Folds in what a model response's headers said: each reported window replaces the one
    /// with the same id and model; windows the headers did not mention are left alone.
    pub fn merge_observed(&mut self, observed: FetchOutcome) {
        for s in observed.snapshots {
            match self
                .snapshots
                .iter_mut()
                .find(|old| old.id == s.id && old.model_id() == s.model_id())
            {
                Some(old) => *old = s.carrying_over(old),
                None => self.snapshots.push(s),
            }
        }
        for q in observed.extra_quotas {
            if !self.extra_quotas.iter().any(|old| old.id == q.id) {
                self.extra_quotas.push(q);
            }
        }
        if observed.plan.is_some() {
            self.plan = observed.plan;
        }
    }

    /// The provider's declared quotas plus the ones this response discovered.
    pub fn quotas_with(&self, declared: &[QuotaDefinition]) -> Vec<QuotaDefinition> {
        let known: std::collections::HashSet<&str> =
            declared.iter().map(|d| d.id.as_str()).collect();
        let mut all = declared.to_vec();
        all.extend(
            self.extra_quotas
                .iter()
                .filter(|q| !known.contains(q.id.as_str()))
                .cloned(),
        );
        all
    }
}

/// A window's state that its numbers do not tell; the set is closed, the wire sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowStatus {
    /// The pool is switched off (Claude's extra usage turned off); the window reads exhausted.
    Disabled,
    /// A spend cap is hit.
    LimitReached,
}

impl WindowStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            WindowStatus::Disabled => "disabled",
            WindowStatus::LimitReached => "limit_reached",
        }
    }
}

/// How pi's own requests are paid when not from the plan's windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Billing {
    /// A Claude login's metered extra usage (per token, against its monthly cap).
    ExtraUsage,
}

impl Billing {
    pub fn as_str(self) -> &'static str {
        match self {
            Billing::ExtraUsage => "extra_usage",
        }
    }
}

/// How fast a window is being spent relative to the time that has passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PaceStage {
    FarBehind,
    Behind,
    SlightlyBehind,
    OnTrack,
    SlightlyAhead,
    Ahead,
    FarAhead,
}

impl PaceStage {
    pub fn as_str(self) -> &'static str {
        match self {
            PaceStage::FarBehind => "far-behind",
            PaceStage::Behind => "behind",
            PaceStage::SlightlyBehind => "slightly-behind",
            PaceStage::OnTrack => "on-track",
            PaceStage::SlightlyAhead => "slightly-ahead",
            PaceStage::Ahead => "ahead",
            PaceStage::FarAhead => "far-ahead",
        }
    }
}

/// Which burn rate pace and `runs_out_at` were computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaceSource {
    /// The slope of the recorded history over the last hour (`burn::measured_rate`).
    Measured,
    /// Usage so far spread evenly over the time elapsed since the window started.
    Linear,
}

impl PaceSource {
    pub fn as_str(self) -> &'static str {
        match self {
            PaceSource::Measured => "measured",
            PaceSource::Linear => "linear",
        }
    }
}

/// A window's state for display and decisions, computed once in `quota::window_level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Ok,
    Warn,
    Critical,
    Exhausted,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Critical => "critical",
            Level::Exhausted => "exhausted",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedWindow {
    pub id: String,
    pub model_id: String,
    pub kind: String,
    pub total: f64,
    pub used: f64,
    pub remaining: f64,
    pub used_ratio: f64,
    pub remaining_ratio: f64,
    pub duration_secs: Option<f64>,
    pub resets_at: Option<i64>,
    pub window_type: Option<WindowType>,
    pub reset_behavior: Option<ResetBehavior>,
    #[serde(default)]
    pub unlimited: bool,
    #[serde(default)]
    pub unit: Option<String>,
    /// See `UsageSnapshot::status`.
    #[serde(default)]
    pub status: Option<WindowStatus>,
    /// See `UsageSnapshot::billing`.
    #[serde(default)]
    pub billing: Option<Billing>,
    /// A model's view of a shared multiplier pool (`resolve::multiplier_view`), not a pool
    /// of its own: the table folds such views into the pool's row.
    #[serde(default)]
    pub pool_view: bool,
    /// See `UsageSnapshot::scope`.
    #[serde(default)]
    pub scope: Option<String>,
    /// The fetch's warnings (see `UsageSnapshot::warnings`); the binding lifts them to the entry.
    #[serde(default)]
    pub fetch_warnings: Vec<String>,
    /// See `UsageSnapshot::view_only`.
    #[serde(default)]
    pub view_only: bool,
    /// How close to the wall, by the tracker's thresholds; set when the store is published.
    #[serde(default)]
    pub level: Option<Level>,
    pub elapsed_ratio: Option<f64>,
    pub pace: Option<f64>,
    pub pace_stage: Option<PaceStage>,
    pub runs_out_at: Option<i64>,
    /// Set whenever `pace` is.
    #[serde(default)]
    pub pace_source: Option<PaceSource>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    Auth,
    RateLimited,
    Network,
    Timeout,
    Server,
    Parse,
    Provider,
    /// The service no longer serves this client or account type (Google's Gemini CLI for
    /// consumer accounts); retrying will not help.
    Unsupported,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Auth => "auth",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Network => "network",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Server => "server",
            ErrorKind::Parse => "parse",
            ErrorKind::Provider => "provider",
            ErrorKind::Unsupported => "unsupported",
        }
    }
}

/// A failed fetch, as data on the entry. The message never holds a token or a whole body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
#[serde(rename_all = "camelCase")]
pub struct FetchError {
    pub kind: ErrorKind,
    pub message: String,
    pub retry_at: Option<i64>,
}

impl FetchError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            retry_at: None,
        }
    }

    pub fn with_retry_at(mut self, retry_at: i64) -> Self {
        self.retry_at = Some(retry_at);
        self
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreEntry {
    pub key: String,
    pub provider_id: String,
    pub model_id: String,
    pub windows: Vec<ResolvedWindow>,
    /// Epoch ms of the last successful fetch; 0 = never.
    pub updated: i64,
    pub fails: u32,
    pub active: bool,
    pub stale: bool,
    pub plan: Option<String>,
    pub error: Option<FetchError>,
}

impl StoreEntry {
    /// How pi's own requests are paid, as the fetch that produced the entry said on its windows.
    pub fn billing(&self) -> Option<Billing> {
        self.windows.iter().find_map(|w| w.billing)
    }

    /// The warnings of the fetch that produced the entry, once each.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings: Vec<String> = Vec::new();
        for w in self.windows.iter().flat_map(|w| &w.fetch_warnings) {
            if !warnings.contains(w) {
                warnings.push(w.clone());
            }
        }
        warnings
    }
}

/// One model's windows in a provider's view.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelWindows {
    pub model_id: String,
    pub windows: Vec<ResolvedWindow>,
}

/// One provider as readers see it: the provider's facts once, then its models' windows. The
/// flat entries are the same data per model (`StoreEntry`).
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderView {
    pub id: String,
    pub label: String,
    pub plan: Option<String>,
    pub error: Option<FetchError>,
    pub billing: Option<Billing>,
    pub warnings: Vec<String>,
    pub fails: u32,
    pub active: bool,
    pub stale: bool,
    /// Epoch ms of the last successful fetch; 0 = never.
    pub updated: i64,
    pub models: Vec<ModelWindows>,
}

impl ProviderView {
    /// The views of `entries` (as published: levels and staleness set), one per provider in
    /// the entries' order; `label_of` names a provider id.
    pub fn of_entries(entries: &[StoreEntry], label_of: impl Fn(&str) -> String) -> Vec<Self> {
        let mut views: Vec<ProviderView> = Vec::new();
        for e in entries {
            let at = match views.iter().position(|v| v.id == e.provider_id) {
                Some(at) => at,
                None => {
                    views.push(ProviderView {
                        id: e.provider_id.clone(),
                        label: label_of(&e.provider_id),
                        plan: e.plan.clone(),
                        error: e.error.clone(),
                        billing: None,
                        warnings: Vec::new(),
                        fails: e.fails,
                        active: e.active,
                        stale: e.stale,
                        updated: e.updated,
                        models: Vec::new(),
                    });
                    views.len() - 1
                }
            };
            let view = &mut views[at];
            if view.billing.is_none() {
                view.billing = e.billing();
            }
            for w in e.warnings() {
                if !view.warnings.contains(&w) {
                    view.warnings.push(w);
                }
            }
            view.models.push(ModelWindows {
                model_id: e.model_id.clone(),
                windows: e.windows.clone(),
            });
        }
        views
    }
}

pub fn store_key(provider_id: &str, model_id: &str) -> String {
    format!("{provider_id}/{model_id}")
}
