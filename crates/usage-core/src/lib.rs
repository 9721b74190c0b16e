//! usage-core: every rule of pi-usage-tracker as plain Rust — the quota model and its
//! resolution, the store, the update loop, quota decisions, the built-in providers, their
//! credentials, and the cache shared between processes. No Node here; `src/` of the root
//! crate converts and delegates.

pub mod cache;
pub mod clock;
pub mod credentials;
pub mod error;
pub mod model;
pub mod provider;
pub mod providers;
pub mod quota;
pub mod resolve;
pub mod sanitize;
pub mod store;
pub mod time;
pub mod tracker;
pub mod validate;

pub use clock::{Clock, SystemClock};
pub use error::CoreError;
pub use model::*;
pub use provider::{Authentication, BoxFuture, UsageProvider};
pub use tracker::{CycleUpdate, Stats, Tracker, TrackerOptions, UpdateSink};
