//! The `#[napi]` tracker class: converts arguments, delegates to `usage_core::Tracker`.
//! index.js wraps it as the public `UsageTracker`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use futures::FutureExt;
use napi::bindgen_prelude::{Function, Promise};
use napi::threadsafe_function::ThreadsafeFunctionCallMode;
use napi_derive::napi;
use usage_core::model::DEFAULT_MODEL;
use usage_core::{providers, SystemClock, Tracker};

use crate::convert::*;
use crate::js_callback::{weak_async_fn, JsSink, JsStrategy};
use crate::types::*;

type RefreshDone = napi::threadsafe_function::ThreadsafeFunction<
    Option<Failure>,
    (),
    Option<Failure>,
    napi::Status,
    false,
    true,
>;

#[napi(js_name = "NativeUsageTracker")]
pub struct NativeUsageTracker {
    core: Tracker,
    generation: Arc<AtomicU32>,
}

fn runtime_handle() -> tokio::runtime::Handle {
    napi::bindgen_prelude::within_runtime_if_available(tokio::runtime::Handle::current)
}

impl NativeUsageTracker {
    /// The core tracker, for the session ledger (`session.rs`).
    pub(crate) fn core(&self) -> &Tracker {
        &self.core
    }
}

#[napi]
impl NativeUsageTracker {
    /// `publish(update)` is called on the JS thread once per cycle.
    #[napi(constructor, catch_unwind)]
    pub fn new(
        options: Option<TrackerOptions>,
        publish: Function<CycleUpdate, ()>,
    ) -> Result<Self, CodedError> {
        let options_in = options;
        let options = options_from_js(options_in.as_ref())?;
        let generation = Arc::new(AtomicU32::new(1));
        let sink = JsSink {
            publish: Arc::new(
                publish
                    .build_threadsafe_function()
                    .weak::<true>()
                    .build()
                    .map_err(internal)?,
            ),
            generation: generation.clone(),
        };
        let alias_used = raw_alias_used(&options_in);
        let core = Tracker::new(options, Arc::new(SystemClock), Arc::new(sink))
            .map_err(|e| core_error(name_alias(e, alias_used)))?;
        Ok(Self { core, generation })
    }

    #[napi(catch_unwind)]
    pub fn register_provider(
        &self,
        id: String,
        quotas: Vec<QuotaDefinition>,
        has_authentication: Function<u32, Promise<bool>>,
        fetch_usage: Function<u32, Promise<Vec<UsageSnapshot>>>,
    ) -> Result<(), CodedError> {
        let quotas = quotas
            .into_iter()
            .enumerate()
            .map(|(i, q)| quota_from_js(i, q))
            .collect::<CodedResult<Vec<_>>>()?;
        let strategy = JsStrategy {
            id,
            quotas,
            has_authentication: Arc::new(weak_async_fn(has_authentication).map_err(internal)?),
            fetch_usage: Arc::new(weak_async_fn(fetch_usage).map_err(internal)?),
            generation: self.generation.clone(),
        };
        self.core.register(Arc::new(strategy)).map_err(core_error)
    }

    /// Returns the instance id it was registered under.
    #[napi(catch_unwind)]
    pub fn register_builtin_provider(
        &self,
        id: String,
        options: Option<BuiltinOptions>,
    ) -> Result<String, CodedError> {
        let o = options.unwrap_or_default();
        let config = providers::BuiltinConfig {
            instance_id: o.id,
            base_url: o.base_url,
            credentials: o.credentials.map(TryInto::try_into).transpose()?,
            wire: providers::WireConfig {
                multipliers: o.multipliers.map(|m| m.into_iter().collect()),
            },
        };
        let provider = providers::create_builtin(&id, config).map_err(core_error)?;
        let instance_id = provider.id().to_string();
        self.core.register(provider).map_err(core_error)?;
        Ok(instance_id)
    }

    #[napi]
    pub fn unregister_provider(&self, id: String) -> bool {
        self.core.unregister(&id)
    }

    /// Starts polling; returns the generation that JS callbacks must carry to be honoured.
    #[napi(catch_unwind)]
    pub fn start(&self) -> u32 {
        if !self.core.is_running() {
            self.generation.fetch_add(1, Ordering::SeqCst);
            self.core.start(&runtime_handle());
        }
        self.generation.load(Ordering::SeqCst)
    }

    /// Invalidates callbacks already queued; call before `stop()`. Returns the new generation.
    #[napi]
    pub fn retire_generation(&self) -> u32 {
        self.generation.fetch_add(1, Ordering::SeqCst) + 1
    }

    #[napi]
    pub async fn stop(&self) {
        self.core.stop().await;
    }

    /// Fetches now; `done(failure | null)` runs on the JS thread once the update was
    /// published. `done` is a weak callback, unlike a napi promise: a refresh nobody waits for
    /// does not hold the process open (lib/tracker.js holds it while someone awaits).
    #[napi(catch_unwind)]
    pub fn refresh(
        &self,
        provider_id: Option<String>,
        done: Function<Option<Failure>, ()>,
    ) -> Result<(), CodedError> {
        // The cycle is started before the callback is built: `start(); refresh()` must reach
        // the cycle lock as early as a plain call would.
        let (send_done, done_rx) = tokio::sync::oneshot::channel::<RefreshDone>();
        let core = self.core.clone();
        runtime_handle().spawn(async move {
            let result = std::panic::AssertUnwindSafe(core.refresh(provider_id.as_deref()))
                .catch_unwind()
                .await;
            // Always answered, even after a panic: an awaited refresh must settle.
            let failure = match result {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(Failure {
                    code: e.code().to_string(),
                    message: e.to_string(),
                }),
                Err(_) => Some(Failure {
                    code: "ERR_INTERNAL".to_string(),
                    message: "refresh failed: internal error in the tracker".to_string(),
                }),
            };
            let Ok(done) = done_rx.await else { return };
            done.call(failure, ThreadsafeFunctionCallMode::NonBlocking);
        });
        let done = done
            .build_threadsafe_function()
            .weak::<true>()
            .build()
            .map_err(internal)?;
        // Only fails when the task is gone (runtime shutting down): nothing left to answer.
        let _ = send_done.send(done);
        Ok(())
    }

    /// Feeds one model response (status, headers as `[name, value, name, value, …]`, at most
    /// `limits().maxResponseHeaders` of them) of `providerId` to the tracker; returns whether
    /// its headers changed the store. Never throws for what the headers hold.
    #[napi(catch_unwind)]
    pub fn observe_response(&self, provider_id: String, status: u32, headers: Vec<String>) -> bool {
        let headers = header_pairs(headers);
        let status = u16::try_from(status).unwrap_or(0);
        self.core
            .observe_response(&runtime_handle(), &provider_id, status, &headers)
    }

    #[napi]
    pub fn get(&self, provider_id: String, model_id: Option<String>) -> Option<UsageStoreEntry> {
        self.core
            .get(&provider_id, model_id.as_deref().unwrap_or(DEFAULT_MODEL))
            .map(UsageStoreEntry::from)
    }

    #[napi]
    pub fn get_window(
        &self,
        provider_id: String,
        window_id: String,
        model_id: Option<String>,
    ) -> Option<ResolvedUsageWindow> {
        self.core
            .get_window(
                &provider_id,
                &window_id,
                model_id.as_deref().unwrap_or(DEFAULT_MODEL),
            )
            .map(ResolvedUsageWindow::from)
    }

    #[napi]
    pub fn entries(&self) -> Vec<UsageStoreEntry> {
        self.core
            .entries()
            .into_iter()
            .map(UsageStoreEntry::from)
            .collect()
    }

    /// The store as one view per provider (`entries()` is the same data per model).
    #[napi]
    pub fn providers(&self) -> Vec<ProviderView> {
        self.core
            .providers()
            .into_iter()
            .map(ProviderView::from)
            .collect()
    }

    /// One provider's entries and view, as `entries()` and `providers()` have them.
    #[napi]
    pub fn provider_part(&self, provider_id: String) -> ProviderPart {
        let (entries, views) = self.core.provider_part(&provider_id);
        ProviderPart {
            entries: entries.into_iter().map(UsageStoreEntry::from).collect(),
            providers: views.into_iter().map(ProviderView::from).collect(),
        }
    }

    #[napi(getter)]
    pub fn running(&self) -> bool {
        self.core.is_running()
    }

    /// Why the shared cache is off (a symlink, FIFO or device at `cachePath`, an oversized
    /// file), or `null`.
    #[napi(getter)]
    pub fn cache_warning(&self) -> Option<String> {
        self.core.cache_warning()
    }

    /// The limits the tracker enforces.
    #[napi]
    pub fn limits() -> TrackerLimits {
        TrackerLimits {
            max_snapshots_per_fetch: usage_core::validate::MAX_SNAPSHOTS_PER_FETCH as u32,
            min_interval_ms: usage_core::validate::MIN_INTERVAL_MS as u32,
            max_response_headers: usage_core::validate::MAX_RESPONSE_HEADERS as u32,
            max_header_value_chars: usage_core::validate::MAX_HEADER_VALUE_CHARS as u32,
        }
    }

    #[napi]
    pub fn check_quota(&self, provider_id: String, model_id: Option<String>) -> QuotaCheck {
        QuotaCheck::from(
            self.core
                .check_quota(&provider_id, model_id.as_deref().unwrap_or(DEFAULT_MODEL)),
        )
    }

    /// Each provider's most pressing window (its most used; a balance when it has nothing
    /// else), the most urgent provider first: what a narrow footer keeps.
    #[napi]
    pub fn most_pressing(&self) -> Vec<PressingWindow> {
        self.core
            .most_pressing()
            .into_iter()
            .map(PressingWindow::from)
            .collect()
    }

    /// Milliseconds after a provider's last fetch during which `refresh` takes that result
    /// from the shared cache instead of asking again (0 without a cache).
    #[napi]
    pub fn refresh_hold_ms(&self) -> f64 {
        self.core.refresh_hold_ms() as f64
    }

    #[napi]
    pub fn select_best(&self, provider_ids: Vec<String>, model_id: Option<String>) -> Selection {
        Selection::from(
            self.core
                .select_best(&provider_ids, model_id.as_deref().unwrap_or(DEFAULT_MODEL)),
        )
    }

    /// The best of several `(provider, model)` pairs: room left first, then plan, then ratio.
    #[napi]
    pub fn select_best_model(&self, candidates: Vec<ModelCandidate>) -> Selection {
        let pairs: Vec<(String, String)> = candidates
            .into_iter()
            .map(|c| (c.provider_id, c.model_id))
            .collect();
        Selection::from(self.core.select_best_model(&pairs))
    }

    #[napi]
    pub fn stats(&self) -> TrackerStats {
        TrackerStats::from(self.core.stats())
    }

    /// The recorded course of one window, oldest first (empty without a history): a promise;
    /// the file is read and parsed off the JS thread. A bad argument throws at once.
    #[napi(catch_unwind, ts_return_type = "Promise<Array<HistoryPoint>>")]
    pub fn history<'env>(
        &self,
        env: &'env napi::Env,
        provider_id: String,
        window_id: String,
        options: Option<HistoryOptions>,
    ) -> Result<napi::bindgen_prelude::PromiseRaw<'env, Vec<HistoryPoint>>, CodedError> {
        let o = options.unwrap_or_default();
        let since = since_from_js(o.since)?;
        let model_id = o.model_id.as_deref().unwrap_or(DEFAULT_MODEL);
        let read = self
            .core
            .history_reader(&provider_id, &window_id, model_id, since)
            .map_err(core_error)?;
        env.spawn_future(async move {
            Ok(read
                .await
                .into_iter()
                .map(HistoryPoint::from)
                .collect::<Vec<_>>())
        })
        .map_err(internal)
    }

    /// Why the shared cache or the usage history is not working as it should; empty when fine.
    #[napi]
    pub fn warnings(&self) -> Vec<String> {
        self.core.warnings()
    }

    /// Window ids a provider declares (per-model windows appear in the store after a fetch).
    #[napi]
    pub fn window_ids(&self, provider_id: String) -> Vec<String> {
        self.core
            .quotas_of(&provider_id)
            .map(|qs| qs.into_iter().map(|q| q.id).collect())
            .unwrap_or_default()
    }

    #[napi]
    pub fn provider_ids(&self) -> Vec<String> {
        self.core.provider_ids()
    }
}

/// `lowQuotaThreshold` is the older name of `criticalAt`: an error names what the caller wrote.
fn raw_alias_used(o: &Option<TrackerOptions>) -> bool {
    o.as_ref()
        .is_some_and(|o| o.critical_at.is_none() && o.low_quota_threshold.is_some())
}

fn name_alias(e: usage_core::CoreError, alias_used: bool) -> usage_core::CoreError {
    match e {
        usage_core::CoreError::InvalidOption {
            field: "criticalAt",
            reason,
        } if alias_used => usage_core::CoreError::InvalidOption {
            field: "lowQuotaThreshold",
            reason,
        },
        other => other,
    }
}
