//! pi-usage-tracker's napi binding: converts between JS and `usage-core`, and delegates.
//! No domain rule lives here.

#![deny(clippy::all)]

mod convert;
mod js_callback;
mod tracker;
mod types;

pub use tracker::NativeUsageTracker;

/// The built-in providers (the one table in `usage-core`'s `providers/mod.rs`).
#[napi_derive::napi]
pub fn builtin_providers() -> Vec<types::BuiltinProviderInfo> {
    usage_core::providers::BUILTINS
        .iter()
        .map(|b| types::BuiltinProviderInfo {
            id: b.id.to_string(),
            label: b.label.to_string(),
        })
        .collect()
}

/// Resolves one snapshot against its quota by the rules of DESIGN §3 (pure; for tools and tests).
#[napi_derive::napi(catch_unwind)]
pub fn resolve_usage_window(
    quota: types::QuotaDefinition,
    snapshot: types::UsageSnapshot,
) -> napi::Result<types::ResolvedUsageWindow> {
    let quota = convert::quota_from_js(0, quota)?;
    let snapshot = convert::snapshot_from_js(snapshot);
    usage_core::resolve::validate_snapshot(&snapshot, 0).map_err(convert::invalid)?;
    let now = usage_core::clock::wall_clock_ms();
    Ok(convert::window_to_js(usage_core::resolve::resolve_window(
        &quota, &snapshot, now,
    )))
}
