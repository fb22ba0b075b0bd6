//! Ward's event model and every input decoder: bytes in, [`Event`]s out.
//!
//! Every source turns its input into an [`Event`] with Elastic Common Schema
//! (ECS) field names; rules, search and the UI see only this shape. This crate
//! does no I/O and no async, so that each decoder can be fuzzed and
//! benchmarked alone.
//!
//! Invariants that hold for every decoder:
//!
//! - One bad record never loses the others: a decoder returns one `Result`
//!   per record (line, item, frame) and keeps going after an error.
//! - Every input is bounded by [`Limits`]: line, frame and request size and
//!   nesting depth, each with a [`RecordError`] that says where it failed.
//! - Errors never contain field values (they may carry secrets), only
//!   positions, sizes and kinds.
//!
//! The flow for one HTTP request, as the application wires it:
//!
//! ```
//! use ward_event::{Context, Limits, finalize, ndjson};
//! let limits = Limits::default();
//! let ctx = Context {
//!     input: "http".into(),
//!     source: "127.0.0.1".into(),
//!     tenant: "default".into(),
//!     received: "2024-01-26T10:00:05Z".parse().unwrap(),
//!     declared: None,
//! };
//! let body = br#"{"timestamp":"2024-01-26T10:00:00Z","service":"auth","event_type":"login_failed","user_id":"u1"}"#;
//! for record in ndjson::decode(body, &limits) {
//!     let mut event = record.unwrap();
//!     finalize(&mut event, &ctx);
//!     assert_eq!(event.get_str("event.action"), Some("login_failed"));
//!     assert_eq!(event.get("event.category").unwrap()[0], "authentication");
//!     assert_eq!(event.get_str("event.outcome"), Some("failure"));
//! }
//! ```

mod error;
mod event;
mod finalize;
mod gzip;
mod json;
mod normalize;
pub mod time;

pub mod bulk;
pub mod envelope;
pub mod evtx;
pub mod hec;
pub mod ndjson;
pub mod otlp;
pub mod recognize;
pub mod scanners;
pub mod syslog;
pub mod text;
pub mod xccdf;

pub use error::{DecodeError, FrameError, RecordError};
pub use event::Event;
pub use finalize::{REQUIRED_FIELDS, dead_letter, finalize};
pub use gzip::gunzip;
/// The instant type of [`Context::received`], re-exported so that callers
/// need not depend on `jiff` themselves.
pub use jiff::Timestamp;
pub use normalize::reserved::{QUARANTINE, restore as restore_quarantined};
pub use normalize::{Level, keeping_native_names};

/// Size and shape limits applied by every decoder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest accepted line (NDJSON, text, `_bulk`, HEC raw), in bytes.
    pub max_line_bytes: usize,
    /// Deepest accepted nesting of JSON objects and arrays.
    pub max_depth: usize,
    /// Longest accepted syslog frame, in bytes.
    pub max_frame_bytes: usize,
    /// Largest accepted request body after decompression, in bytes.
    pub max_request_bytes: usize,
    /// How much of an unparsable record a dead-letter event keeps.
    pub max_original_bytes: usize,
    /// Most records one envelope (`{"Records":[…]}`, `{"records":[…]}`, a
    /// Kubernetes `EventList`) may carry; see [`envelope`].
    pub max_envelope_records: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_line_bytes: 1024 * 1024,
            max_depth: 64,
            max_frame_bytes: 256 * 1024,
            max_request_bytes: 16 * 1024 * 1024,
            max_original_bytes: 16 * 1024,
            max_envelope_records: 10_000,
        }
    }
}

/// Where and when a batch of events arrived; [`finalize`] stamps it on each.
#[derive(Clone, Debug, PartialEq)]
pub struct Context {
    /// Which input received the events: `http`, `bulk`, `hec`, `otlp`,
    /// `syslog-udp`, `syslog-tcp`, ...
    pub input: String,
    /// The sender (peer address or token name).
    pub source: String,
    /// The tenant the events belong to.
    pub tenant: String,
    /// When Ward received them.
    pub received: jiff::Timestamp,
    /// The recognizer the credential declared for its events
    /// (`[[sources]] recognizer`): applied whatever the record's shape,
    /// instead of recognition by shape. See [`recognize::recognize`].
    pub declared: Option<String>,
}
