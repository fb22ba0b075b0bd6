//! Ward's alerting engines, as pure logic: findings from detection become
//! alerts that reach the people who own the affected system, in time.
//!
//! ```text
//! Finding ─► state::take_finding (alert::lifecycle: open / re-fire, owner from alert::owner, SLA deadlines)
//!        ─► state::route (alert::route: tree of matchers) ─► alert::group (group_by)
//!        ─► state::flush (alert::silence + alert::inhibit, alert::mute, notification log) ─► Notification
//!        ─► notification::fan_out (one delivery per integration, idempotency keys)
//! state::check_sla finds breached deadlines; stats computes MTTA, MTTR and SLA compliance.
//! ```
//!
//! Nothing in this crate does I/O, waits or reads a clock: every step takes
//! `now` and its inputs and returns what to do. The application (`ward`'s
//! `alert` and `notify` stages) owns the timers, the SQLite state, the
//! outbox, the notifiers, the HTTP API and the CLI.
//!
//! [`Compiled::compile`] checks an [`AlertingConfig`] (every problem at
//! once) into the routing tree, inhibition rules, time intervals, SLA
//! policy and receivers' [`receiver::IntegrationSpec`]s.

pub mod alert;
pub mod compile;
pub mod config;
mod error;
pub mod notification;
pub mod receiver;
mod secret;
pub mod state;
pub mod stats;
pub mod template;
pub mod time;

pub use alert::{Alert, AlertId, Finding, Resolution, Severity, Status};
pub use compile::Compiled;
pub use config::{AlertingConfig, Problem};
pub use error::AlertError;
pub use secret::Secret;
pub use state::{AlertFilter, State};
