//! JS callbacks, in one place. Each is a *weak* ThreadsafeFunction, so a tracker never keeps
//! Node alive, and is turned into the core's own trait before the core sees it.

use std::sync::Arc;

use napi::bindgen_prelude::{Function, Promise};
use napi::threadsafe_function::ThreadsafeFunction;
use usage_core::model::{ErrorKind, FetchError, FetchOutcome, QuotaDefinition};
use usage_core::{Authentication, BoxFuture, CycleUpdate, UpdateSink, UsageProvider};

use crate::types;

/// `(generation) => Promise<R>`; lib/tracker.js hands us a dispatcher that always returns a
/// promise, reaches the user's callback through a `WeakRef` to its tracker (what we hold must
/// not keep the tracker alive) and drops calls from a generation that was stopped.
pub type JsAsyncFn<R> = ThreadsafeFunction<u32, Promise<R>, u32, napi::Status, false, true>;
pub type JsPublishFn =
    ThreadsafeFunction<types::CycleUpdate, (), types::CycleUpdate, napi::Status, false, true>;

pub fn weak_async_fn<R: napi::bindgen_prelude::FromNapiValue + 'static>(
    f: Function<u32, Promise<R>>,
) -> napi::Result<JsAsyncFn<R>> {
    f.build_threadsafe_function().weak::<true>().build()
}

/// A provider strategy written in JS.
pub struct JsStrategy {
    pub id: String,
    pub quotas: Vec<QuotaDefinition>,
    pub has_authentication: Arc<JsAsyncFn<bool>>,
    pub fetch_usage: Arc<JsAsyncFn<Vec<types::UsageSnapshot>>>,
    pub generation: Arc<std::sync::atomic::AtomicU32>,
}

fn js_failure(id: &str, callback: &str, e: napi::Error) -> FetchError {
    // The reason is the JS error's message (or a conversion error naming the bad value).
    FetchError::new(
        ErrorKind::Provider,
        format!("{id}: {callback} failed: {}", e.reason),
    )
}

/// Calls a wrapped JS callback and awaits its promise. A rejection carries the JS error; any
/// other failure is a value we could not convert, described by `expected`.
async fn call_js<R: napi::bindgen_prelude::FromNapiValue + 'static>(
    f: Arc<JsAsyncFn<R>>,
    generation: u32,
    id: &str,
    callback: &str,
    expected: &str,
) -> Result<R, FetchError> {
    let promise = f
        .call_async_catch(generation)
        .await
        .map_err(|e| js_failure(id, callback, e))?;
    promise.await.map_err(|e| {
        if matches!(
            e.status,
            napi::Status::GenericFailure | napi::Status::PendingException
        ) {
            js_failure(id, callback, e)
        } else {
            FetchError::new(
                ErrorKind::Provider,
                format!("{id}: {callback} must resolve to {expected}: {}", e.reason),
            )
        }
    })
}

impl UsageProvider for JsStrategy {
    fn id(&self) -> &str {
        &self.id
    }

    fn quotas(&self) -> &[QuotaDefinition] {
        &self.quotas
    }

    fn authentication(&self) -> BoxFuture<Result<Authentication, FetchError>> {
        let (f, id) = (self.has_authentication.clone(), self.id.clone());
        let generation = self.generation.load(std::sync::atomic::Ordering::SeqCst);
        Box::pin(async move {
            let ready = call_js(f, generation, &id, "hasAuthentication", "a boolean").await?;
            Ok(if ready {
                Authentication::Ready
            } else {
                Authentication::Missing
            })
        })
    }

    fn fetch_usage(&self) -> BoxFuture<Result<FetchOutcome, FetchError>> {
        let (f, id) = (self.fetch_usage.clone(), self.id.clone());
        let generation = self.generation.load(std::sync::atomic::Ordering::SeqCst);
        Box::pin(async move {
            let snapshots = call_js(
                f,
                generation,
                &id,
                "fetchUsage",
                "an array of usage snapshots",
            )
            .await?;
            Ok(FetchOutcome {
                snapshots: snapshots.into_iter().map(Into::into).collect(),
                plan: None,
                extra_quotas: Vec::new(),
            })
        })
    }
}

/// Hands each cycle's entries and threshold events to index.js, which updates its snapshot
/// and runs the listeners on the JS thread; resolves when they have run.
pub struct JsSink {
    pub publish: Arc<JsPublishFn>,
    pub generation: Arc<std::sync::atomic::AtomicU32>,
}

impl UpdateSink for JsSink {
    fn publish(&self, update: CycleUpdate) -> BoxFuture<()> {
        let f = self.publish.clone();
        let generation = self.generation.clone();
        Box::pin(async move {
            let payload = types::CycleUpdate {
                generation: generation.load(std::sync::atomic::Ordering::SeqCst),
                entries: update.entries.into_iter().map(Into::into).collect(),
                providers: update.providers.into_iter().map(Into::into).collect(),
                events: update.events.into_iter().map(Into::into).collect(),
                changed: update.changed,
            };
            // A throwing publish is index.js's bug, reported there; never ours to crash on.
            let _ = f.call_async_catch(payload).await;
        })
    }
}
