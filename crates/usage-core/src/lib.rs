//! usage-core: every rule of pi-usage-tracker as plain Rust — the quota model and its
//! resolution, the store, the update loop, quota decisions, the built-in providers, their
//! credentials, and the cache shared between processes. No Node here; `src/` of the root
//! crate converts and delegates.

pub mod cache;
pub mod credentials;
pub mod error;
pub mod model;
pub mod providers;
pub mod quota;
pub mod resolve;
pub mod sanitize;
pub mod store;
pub mod time;
pub mod tracker;

pub use error::CoreError;
pub use model::*;
pub use tracker::{
    BoxFuture, Clock, CycleUpdate, Stats, SystemClock, Tracker, TrackerOptions, UpdateSink,
    UsageProvider,
};
