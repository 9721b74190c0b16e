//! usage-core: every rule of pi-usage-tracker as plain Rust — the quota model and its
//! resolution, the store, the update loop, quota decisions, the built-in providers, their
//! credentials, the cache shared between processes and the usage history next to it. No Node
//! here; `src/` of the root crate converts and delegates.

pub mod burn;
pub mod cache;
pub mod clock;
pub mod credentials;
pub mod error;
pub mod history;
pub mod key_command;
pub mod model;
pub mod provider;
pub mod providers;
pub mod quota;
pub mod resolve;
pub mod routing;
pub mod safe_file;
pub mod sanitize;
pub mod scrub;
pub mod session;
pub mod settings;
pub mod store;
pub mod time;
pub mod tracker;
pub mod urgency;
pub mod validate;

pub use clock::{Clock, SystemClock};
pub use error::CoreError;
pub use model::*;
pub use provider::{AccountKeys, Authentication, BoxFuture, UsageProvider};
pub use tracker::{CycleUpdate, Stats, Tracker, TrackerOptions, UpdateSink};
