//! pi-usage-tracker's napi binding: converts between JS and `usage-core`, and delegates.
//! No domain rule lives here.

#![deny(clippy::all)]

mod convert;
mod js_callback;
mod session;
mod tracker;
mod types;

pub use session::{open_session_cost, window_change_since, NativeSessionCost};
pub use tracker::NativeUsageTracker;

/// The built-in providers (the one table in `usage-core`'s `providers/mod.rs`).
#[napi_derive::napi]
pub fn builtin_providers() -> Vec<types::BuiltinProviderInfo> {
    usage_core::providers::BUILTINS
        .iter()
        .map(|b| types::BuiltinProviderInfo {
            id: b.id.to_string(),
            label: b.label.to_string(),
            polled: b.wire.polls(),
            auth: b.wire.auth().into(),
        })
        .collect()
}

/// What a provider id is called on screen: the table's label, `<label>-<name>` for an
/// instance `<id>-<name>`, else the id itself (usage-core's `providers::label_of`).
#[napi_derive::napi]
pub fn provider_label(id: String) -> String {
    usage_core::providers::label_of(&id)
}

/// Where a provider id sorts in tables and footers: its table row's place, or after every
/// row (usage-core's `providers::rank_of`).
#[napi_derive::napi]
pub fn provider_rank(id: String) -> u32 {
    usage_core::providers::rank_of(&id) as u32
}

/// Resolves one snapshot against its quota by the fallback chain in usage-core's resolve.rs (pure; for tools and tests).
/// The kind the addon gives a quota definition, or `null` when it takes it as none (the
/// `isQuota…` guards read this: one rule, in Rust).
#[napi_derive::napi(
    catch_unwind,
    ts_return_type = "'duration' | 'amount' | 'percentage' | 'multiplier' | 'perModel' | 'balance' | null"
)]
pub fn quota_kind(definition: types::QuotaDefinition) -> Option<&'static str> {
    usage_core::model::QuotaKind::try_from(&definition)
        .ok()
        .map(|k| k.name())
}

#[napi_derive::napi(catch_unwind)]
pub fn resolve_usage_window(
    quota: types::QuotaDefinition,
    snapshot: types::UsageSnapshot,
) -> Result<types::ResolvedUsageWindow, convert::CodedError> {
    let quota = convert::quota_from_js(0, quota)?;
    let snapshot = usage_core::model::UsageSnapshot::from(snapshot);
    usage_core::validate::snapshot(&snapshot, 0).map_err(convert::invalid)?;
    let now = usage_core::clock::wall_clock_ms();
    Ok(types::ResolvedUsageWindow::from(
        usage_core::resolve::resolve_window(&quota, &snapshot, now),
    ))
}

/// Error codes the addon throws, each with whether it means a bad argument (`TypeError`).
#[napi_derive::napi]
pub fn error_codes() -> Vec<types::ErrorCodeInfo> {
    usage_core::CoreError::CODES
        .iter()
        .chain(std::iter::once(&convert::INVALID_ARG))
        .map(|code| types::ErrorCodeInfo {
            code: code.to_string(),
            type_error: *code == convert::INVALID_ARG
                || usage_core::CoreError::is_argument_error(code),
        })
        .collect()
}

/// What the last read of pi's `auth.json` (by any tracker of this process) found wrong with
/// the whole file; `null` when it was fine or absent. Reads nothing itself.
#[napi_derive::napi]
pub fn pi_auth_problem() -> Option<types::AuthFileProblem> {
    usage_core::credentials::last_auth_problem().map(types::AuthFileProblem::from)
}

fn builtin_ids() -> Vec<&'static str> {
    usage_core::providers::BUILTINS
        .iter()
        .map(|b| b.id)
        .collect()
}

/// The pi extension's settings (`<agent dir>/usage-tracker.json`) by the addon's rules: a bad
/// value is a problem in words and its default is used; no file is the defaults.
#[napi_derive::napi]
pub fn read_settings() -> types::SettingsRead {
    let path = usage_core::settings::default_path();
    types::SettingsRead::from(usage_core::settings::read(&path, &builtin_ids()))
}

/// Changes the settings file: `changes` holds the keys to set (`providers` merged by id,
/// `null` drops a key); the file is replaced atomically and keys not changed are kept. A
/// change the rules refuse throws and leaves the file as it was. Returns the file as now read.
#[napi_derive::napi(catch_unwind)]
pub fn save_settings(
    changes: serde_json::Value,
) -> Result<types::SettingsRead, convert::CodedError> {
    let path = usage_core::settings::default_path();
    usage_core::settings::update(&path, &changes, &builtin_ids())
        .map(types::SettingsRead::from)
        .map_err(convert::invalid)
}

/// pi's agent dir, as the tracker resolves it (`$PI_CODING_AGENT_DIR`, `~` expanded).
#[napi_derive::napi]
pub fn agent_dir() -> String {
    usage_core::credentials::agent_dir()
        .to_string_lossy()
        .into_owned()
}

/// What one of pi's `auth.json` entries means for a built-in provider's usage endpoint:
/// `{ usable: true, kind, baseUrl? }`, `{ usable: false, reason }`, or `null` when it holds
/// nothing usable. The token itself never comes back, and nothing is run: a `!command` key is
/// described (`keyCommand: true`), not executed.
#[napi_derive::napi(catch_unwind)]
pub fn credentials_from_pi_auth(
    provider_id: String,
    entry: serde_json::Value,
) -> Result<Option<types::PiCredentialInfo>, convert::CodedError> {
    let spec = usage_core::providers::builtin(&provider_id)
        .ok_or_else(|| convert::core_error(usage_core::providers::unknown_builtin(&provider_id)))?;
    let rule = spec.wire.auth();
    let key_command = usage_core::credentials::is_key_command(&entry).then_some(true);
    if let Some(problem) = usage_core::credentials::entry_problem(&entry) {
        return Ok(Some(types::PiCredentialInfo {
            usable: false,
            kind: None,
            base_url: None,
            reason: Some(format!(
                "{provider_id}: the auth.json entry is broken: {problem}"
            )),
            key_command,
        }));
    }
    Ok(
        usage_core::credentials::from_pi_entry(&provider_id, &entry, &rule).map(
            |found| match found {
                usage_core::credentials::Found::Usable(c) => types::PiCredentialInfo {
                    usable: true,
                    kind: Some(c.kind.as_str().to_string()),
                    base_url: c.base_url,
                    reason: None,
                    key_command,
                },
                usage_core::credentials::Found::Pending(_) => types::PiCredentialInfo {
                    usable: true,
                    kind: Some("api_key".to_string()),
                    base_url: None,
                    reason: None,
                    key_command,
                },
                usage_core::credentials::Found::Unusable(reason) => types::PiCredentialInfo {
                    usable: false,
                    kind: None,
                    base_url: None,
                    reason: Some(reason),
                    key_command,
                },
            },
        ),
    )
}
