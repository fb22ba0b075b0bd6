//! Ward's alerting: findings from detection become alerts that reach the
//! people who own the affected system, in time.
//!
//! ```text
//! Finding ─► alert::lifecycle (open / re-fire, owner from alert::owner, SLA deadlines)
//!        ─► alert::route (tree of matchers) ─► alert::group (group_wait, group_interval, repeat_interval)
//!        ─► alert::silence + alert::inhibit (Muter), alert::mute (time intervals)
//!        ─► notify::outbox (durable, retried) ─► webhook | alertmanager | slack | email | pagerduty | syslog
//! alert::sla watches deadlines and escalates; api and cli change and read the state.
//! ```
//!
//! [`Engine::start`] builds everything from an [`AlertingConfig`]; state
//! lives in SQLite in the data directory and survives restarts.

pub mod admin;
pub mod alert;
pub mod api;
pub mod cli;
pub mod clock;
pub mod config;
mod engine;
mod error;
pub mod metrics;
pub mod notify;
pub mod runtime;
mod secret;
mod store;

pub use alert::{Alert, AlertId, Finding, Resolution, Severity, Status};
pub use config::{AlertingConfig, Problem};
pub use engine::{AlertFilter, Engine, EngineOptions};
pub use error::AlertError;
pub use secret::Secret;
pub use store::Delivery;
