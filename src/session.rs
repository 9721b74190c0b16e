//! The `#[napi]` session ledger: what this pi session cost (`usage_core::session`). The JS
//! side notes each store change with what brought it; reading and writing the session's file
//! happen off the JS thread.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use napi_derive::napi;
use usage_core::session::{self, Ledger, Seen};

use crate::convert::{internal, invalid, CodedError};
use crate::tracker::NativeUsageTracker;

/// One model's share of a window's change in the session.
#[napi(object)]
pub struct SessionModelShare {
    pub model_id: String,
    pub change: f64,
}

/// One window's change since the session began.
#[napi(object)]
pub struct SessionWindow {
    pub window_id: String,
    pub model_id: String,
    /// The currency or count unit; absent: percent points of the window.
    pub unit: Option<String>,
    /// A currency: the change is money.
    pub money: bool,
    /// A prepaid balance: the change is money spent (top-ups are not counted).
    pub balance: bool,
    /// What was used in the session, 0 or more.
    pub change: f64,
    /// Per model that made the request, the larger first.
    pub by_model: Vec<SessionModelShare>,
    /// Changes seen only by a poll: other use of this login.
    pub other: f64,
    /// Resets of the window inside the session.
    pub resets: u32,
    /// When the session first saw the window (epoch ms).
    pub since: f64,
}

/// A provider's windows in the session: money first, then the larger change.
#[napi(object)]
pub struct SessionProvider {
    pub provider_id: String,
    pub windows: Vec<SessionWindow>,
}

#[napi(object)]
pub struct SessionSummary {
    pub session_id: String,
    pub started_at: f64,
    pub updated_at: f64,
    pub providers: Vec<SessionProvider>,
}

impl From<usage_core::session::Summary> for SessionSummary {
    fn from(s: usage_core::session::Summary) -> Self {
        let window = |w: usage_core::session::WindowChange| SessionWindow {
            window_id: w.window_id,
            model_id: w.model_id,
            unit: w.unit,
            money: w.money,
            balance: w.balance,
            change: w.change,
            by_model: (w.by_model.into_iter())
                .map(|(model_id, change)| SessionModelShare { model_id, change })
                .collect(),
            other: w.other,
            resets: w.resets,
            since: w.since as f64,
        };
        SessionSummary {
            session_id: s.session_id,
            started_at: s.started_at as f64,
            updated_at: s.updated_at as f64,
            providers: (s.providers.into_iter())
                .map(|p| SessionProvider {
                    provider_id: p.provider_id,
                    windows: p.windows.into_iter().map(window).collect(),
                })
                .collect(),
        }
    }
}

#[napi(js_name = "NativeSessionCost")]
pub struct NativeSessionCost {
    shared: Arc<Shared>,
    dir: PathBuf,
}

/// One session's count, shared by every handle of it in this process.
struct Shared {
    ledger: Mutex<Ledger>,
    /// One write at a time, each of the ledger as it is then (a later write never loses to an
    /// earlier one).
    writing: Mutex<()>,
}

/// The ledgers this process has open, by session id and directory: a `/reload` (a new tracker
/// in the same process) continues the same count without waiting for its file. A few at most.
type Open = Vec<((String, PathBuf), Arc<Shared>)>;
static OPEN: Mutex<Open> = Mutex::new(Vec::new());
const MAX_OPEN: usize = 8;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Opens the ledger of pi session `sessionId` (kept beside the cache `cachePath`, else in pi's
/// agent dir): the count so far, or a new one starting now. Read off the JS thread.
#[napi(catch_unwind, ts_return_type = "Promise<NativeSessionCost>")]
pub fn open_session_cost<'env>(
    env: &'env napi::Env,
    session_id: String,
    cache_path: Option<String>,
) -> Result<napi::bindgen_prelude::PromiseRaw<'env, NativeSessionCost>, CodedError> {
    session::check_session_id(&session_id).map_err(invalid)?;
    let agent_dir = usage_core::credentials::agent_dir();
    let dir = session::dir_for(cache_path.as_deref().map(std::path::Path::new), &agent_dir);
    let key = (session_id.clone(), dir.clone());
    let find = |open: &Open| open.iter().find(|(k, _)| *k == key).map(|(_, s)| s.clone());
    let already = find(&lock(&OPEN));
    env.spawn_future(async move {
        if let Some(shared) = already {
            return Ok(NativeSessionCost { shared, dir });
        }
        let now = usage_core::clock::wall_clock_ms();
        let read_dir = dir.clone();
        let ledger =
            tokio::task::spawn_blocking(move || session::load(&read_dir, &session_id, now))
                .await
                .map_err(|e| napi::Error::from_reason(e.to_string()))?;
        let mut open = lock(&OPEN);
        // opened twice at once: both get the first
        let shared = match open.iter().find(|(k, _)| *k == key) {
            Some((_, first)) => first.clone(),
            None => {
                let shared = Arc::new(Shared {
                    ledger: Mutex::new(ledger),
                    writing: Mutex::new(()),
                });
                if open.len() >= MAX_OPEN {
                    open.remove(0);
                }
                open.push((key, shared.clone()));
                shared
            }
        };
        Ok(NativeSessionCost { shared, dir })
    })
    .map_err(internal)
}

#[napi]
impl NativeSessionCost {
    /// Takes `tracker`'s store as it is now. `providerId`/`modelId`: the model response that
    /// brought it (its provider's changes go to that model); none: a poll. Returns whether the
    /// count changed; the file is then rewritten off the JS thread.
    #[napi(catch_unwind)]
    pub fn note(
        &self,
        tracker: &NativeUsageTracker,
        provider_id: Option<String>,
        model_id: Option<String>,
    ) -> bool {
        let entries = tracker.core().entries();
        let seen = match (&provider_id, &model_id) {
            (Some(p), Some(m)) => Seen::Response {
                provider_id: p,
                model_id: m,
            },
            _ => Seen::Poll,
        };
        let now = usage_core::clock::wall_clock_ms();
        let changed = lock(&self.shared.ledger).note(&entries, seen, now);
        if changed {
            let (shared, dir) = (self.shared.clone(), self.dir.clone());
            std::thread::spawn(move || {
                let _one = lock(&shared.writing);
                let snapshot = lock(&shared.ledger).clone();
                // a ledger that cannot be kept still counts in this process
                let _ = session::save(&dir, &snapshot);
            });
        }
        changed
    }

    /// The session's changes, per provider (an unchanged window at 0).
    #[napi]
    pub fn summary(&self) -> SessionSummary {
        lock(&self.shared.ledger).summary().into()
    }
}

/// One window's change over its recorded course.
#[napi(object)]
pub struct CourseChange {
    /// What was used, 0 or more: money spent for a balance, the unit's amount when the course
    /// carries one, else percent points of the window.
    pub change: f64,
    /// In the window's unit (else percent points).
    pub in_unit: bool,
    pub balance: bool,
    pub resets: u32,
    /// The first and last recorded point counted (epoch ms); 0 without points.
    pub from: f64,
    pub to: f64,
    pub points: u32,
}

/// What one window of `tracker` used since `since` (epoch ms), from its recorded history (read
/// off the JS thread), by the session's rules: a reset counts use before and after it, a
/// balance counts money spent. `balance`: the window's kind when known.
#[napi(catch_unwind, ts_return_type = "Promise<CourseChange>")]
pub fn window_change_since<'env>(
    env: &'env napi::Env,
    tracker: &NativeUsageTracker,
    provider_id: String,
    window_id: String,
    model_id: Option<String>,
    since: f64,
    balance: Option<bool>,
) -> Result<napi::bindgen_prelude::PromiseRaw<'env, CourseChange>, CodedError> {
    let since = crate::convert::since_from_js(Some(since))?;
    let model_id = model_id
        .as_deref()
        .unwrap_or(usage_core::model::DEFAULT_MODEL);
    let read = tracker
        .core()
        .history_reader(&provider_id, &window_id, model_id, since)
        .map_err(crate::convert::core_error)?;
    env.spawn_future(async move {
        let course = read.await;
        let c = session::change_over(&course, balance);
        Ok(CourseChange {
            change: c.change,
            in_unit: c.in_unit,
            balance: c.balance,
            resets: c.resets,
            from: c.from as f64,
            to: c.to as f64,
            points: course.len() as u32,
        })
    })
    .map_err(internal)
}
