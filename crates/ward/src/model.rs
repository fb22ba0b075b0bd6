//! The messages passed between stages: [`Event`] (from `ward-event`),
//! [`Batch`] (events on their way to the store, with the sender waiting for
//! the acknowledgement), and the ids that name them.

use std::time::Instant;

pub use ward_event::Event;

/// A time-ordered event id (UUIDv7), assigned when the event enters Ward.
pub fn new_event_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Events from one request or frame burst, with where they came from.
#[derive(Debug)]
pub struct Batch {
    pub events: Vec<Event>,
    /// The input that produced them, for metrics (`http`, `bulk`, `syslog-tcp`…).
    pub input: String,
    pub source: String,
    pub tenant: String,
    /// When the request arrived, for the pipeline latency histogram.
    pub received: Instant,
}

/// What the sender is told once a batch is durable.
#[derive(Debug, Clone)]
pub struct Ack {
    /// `event.id` of every stored event, in batch order.
    pub ids: Vec<String>,
}

/// What detection produces: a rule (or enricher) matched, for a group of
/// events, in a window. Defined by `ward-alert`, which takes it over.
pub use ward_alert::Finding;
