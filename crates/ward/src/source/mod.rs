//! The sources: every input Ward accepts, each in its own file, all feeding
//! [`crate::pipeline::Pipeline`] through a [`SourceContext`] (the pipeline
//! handle, limits, metrics and the stop signal); nothing here knows the HTTP
//! API. HTTP inputs share one request skeleton ([`http::ingest_request`]:
//! the caller from [`crate::access`], body reading with [`read_body`],
//! decoding off the async threads, submission and metrics).
//!
//! | input | file | route / listener |
//! |---|---|---|
//! | NDJSON and text | `http.rs` | `POST /api/v1/ingest` |
//! | Elasticsearch bulk | `bulk.rs` | `POST /_bulk`, `POST /{index}/_bulk`, `GET /` |
//! | Splunk HEC | `hec.rs` | `POST /services/collector/event`, `/raw` |
//! | OTLP/HTTP logs | `otlp.rs` | `POST /v1/logs` |
//! | syslog | `syslog.rs` | UDP and TCP, RFC 5424/3164, RFC 6587 framing |
//! | Kafka | `kafka.rs` | consumer groups (`[[kafka]]`), commit after store |
//! | Ward's audit trail | `audit.rs` | people's actions on alerts, from the alert stage |
//!
//! Line inputs (syslog, text and NDJSON, HEC, Kafka) mask private keys split
//! over lines with a key-block tracker per stream (`keyblock.rs`) before
//! their events reach the pipeline.

pub mod audit;
pub mod auth;
pub mod bulk;
pub mod hec;
pub mod http;
pub mod kafka;
pub mod keyblock;
pub mod otlp;
pub mod scan;
pub mod syslog;
pub mod webhook;
pub mod xccdf;

pub use auth::{Identity, Tokens};

use std::sync::Arc;
use std::time::Instant;

use axum::http::HeaderMap;
use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;
use crate::model::{Ack, Batch, Event};
use crate::pipeline::{Pipeline, SubmitError};

/// What every source is given: where batches go, the input limits, the
/// metrics registry, and the signal to stop accepting.
#[derive(Clone)]
pub struct SourceContext {
    pub pipeline: Pipeline,
    pub limits: ward_event::Limits,
    /// Most records one request may hold (`limits.max_records_per_request`).
    pub max_records_per_request: usize,
    pub metrics: Arc<Metrics>,
    /// Cancelled when Ward stops: listeners stop accepting, open
    /// connections finish the batch they read and close.
    pub stop: CancellationToken,
}

/// What the HTTP inputs share: their context. The sender was named before
/// the handler ran ([`crate::access::Caller`]).
#[derive(Clone)]
pub struct HttpSources {
    pub ctx: SourceContext,
    /// The webhook inputs' own credentials.
    pub webhooks: Arc<webhook::Webhooks>,
    /// Recently seen vendor event ids, to drop redelivered duplicates.
    pub seen: Arc<webhook::RecentIds>,
    /// Where the webhook inputs report refused credentials.
    pub audit: Arc<crate::access::audit::AuditTrail>,
}

/// Where a batch came from, for the pipeline and the per-input metrics.
#[derive(Clone, Copy)]
pub struct Origin<'a> {
    /// `http`, `bulk`, `hec`, `otlp`, `syslog-tcp`, `kafka`…
    pub input: &'a str,
    pub source: &'a str,
    pub tenant: &'a str,
}

/// Whether a submission may wait for queue space.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Answer [`SubmitError::Busy`] at once when the queue is full (HTTP
    /// turns it into 429 with Retry-After).
    No,
    /// Wait for space: the caller stops reading its socket meanwhile.
    Yes,
}

impl SourceContext {
    /// Counts and submits one decoded batch (`rejected` of its events are
    /// dead letters for records that could not be decoded): the one ingest
    /// skeleton every source uses, so every input reports the same metrics.
    pub async fn deliver(
        &self,
        origin: Origin<'_>,
        events: Vec<Event>,
        rejected: usize,
        bytes: usize,
        received: Instant,
        wait: Wait,
    ) -> Result<Ack, SubmitError> {
        self.count_received(origin, &events, rejected, bytes);
        self.submit(origin, events, rejected, received, wait).await
    }

    /// Counts what arrived. A source that retries a batch counts it once,
    /// then [`SourceContext::submit`]s it as often as needed.
    pub fn count_received(
        &self,
        origin: Origin<'_>,
        events: &[Event],
        rejected: usize,
        bytes: usize,
    ) {
        let mut tally = Tally::default();
        for e in events {
            tally.observe(e);
        }
        self.count_arrived(origin, events.len(), rejected, bytes, &tally);
    }

    /// [`SourceContext::count_received`] for a source that made the
    /// [`Tally`] as it decoded, while each event was still in the cache
    /// (a later pass over a large batch reads every event back from memory).
    pub fn count_arrived(
        &self,
        origin: Origin<'_>,
        events: usize,
        rejected: usize,
        bytes: usize,
        tally: &Tally,
    ) {
        let labels = [("input", origin.input), ("source", origin.source)];
        let m = &self.metrics;
        m.add("ward_ingest_bytes_total", &labels, bytes as u64);
        m.add("ward_ingest_received_total", &labels, events as u64);
        m.add("ward_ingest_rejected_total", &labels, rejected as u64);
        self.count_tally(origin, tally);
    }

    /// Counts quarantined sender fields and missing required fields.
    fn count_tally(&self, origin: Origin<'_>, tally: &Tally) {
        let labels = [("input", origin.input), ("source", origin.source)];
        if tally.quarantined > 0 {
            self.metrics
                .add("ward_ingest_quarantined_total", &labels, tally.quarantined);
        }
        add_missing(&self.metrics, origin.source, &tally.missing);
    }

    /// Submits a counted batch and counts how it ended.
    pub async fn submit(
        &self,
        origin: Origin<'_>,
        events: Vec<Event>,
        rejected: usize,
        received: Instant,
        wait: Wait,
    ) -> Result<Ack, SubmitError> {
        if events.is_empty() {
            return Ok(Ack { ids: Vec::new() });
        }
        let labels = [("input", origin.input), ("source", origin.source)];
        let n = events.len();
        let batch = Batch {
            events,
            input: origin.input.into(),
            source: origin.source.into(),
            tenant: origin.tenant.into(),
            received,
        };
        let result = match wait {
            Wait::No => self.pipeline.submit(batch).await,
            Wait::Yes => self.pipeline.submit_wait(batch).await,
        };
        match &result {
            Ok(_) => self.metrics.add(
                "ward_ingest_accepted_total",
                &labels,
                n.saturating_sub(rejected) as u64,
            ),
            // Refused with "retry": the sender is told and retries (a TCP
            // or Kafka source retries itself); nothing is lost.
            Err(SubmitError::Busy(_) | SubmitError::NoSpace(_)) => {}
            Err(_) => self
                .metrics
                .add("ward_ingest_lost_total", &labels, n as u64),
        }
        result
    }
}

/// What [`SourceContext::count_received`] counts of each event: its
/// quarantined sender fields and the required fields it lacks.
#[derive(Debug, Default)]
pub struct Tally {
    quarantined: u64,
    missing: std::collections::BTreeMap<&'static str, u64>,
}

impl Tally {
    /// Counts one event, with one look at its `ward` object.
    pub fn observe(&mut self, e: &Event) {
        let Some(serde_json::Value::Object(w)) = e.0.get("ward") else {
            return;
        };
        self.quarantined += u64::from(w.contains_key("sender"));
        if let Some(serde_json::Value::Object(schema)) = w.get("schema")
            && let Some(serde_json::Value::Array(a)) = schema.get("missing")
        {
            tally_missing(&mut self.missing, a);
        }
    }
}

/// Counts one event's `ward.schema.missing` entries by required field.
fn tally_missing(
    counts: &mut std::collections::BTreeMap<&'static str, u64>,
    missing: &[serde_json::Value],
) {
    for f in missing.iter().filter_map(serde_json::Value::as_str) {
        if let Some(name) = ward_event::REQUIRED_FIELDS.iter().find(|r| **r == f) {
            *counts.entry(name).or_default() += 1;
        }
    }
}

/// Adds the counts to `ward_ingest_schema_missing_total`, per source and
/// field: the required fields senders left out.
fn add_missing(m: &Metrics, source: &str, counts: &std::collections::BTreeMap<&'static str, u64>) {
    for (&field, &n) in counts {
        m.add(
            "ward_ingest_schema_missing_total",
            &[("source", source), ("field", field)],
            n,
        );
    }
}

/// Why a request body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error(
        "request body is {0} bytes after decompression; the limit is {1} (limits.max_request_bytes)"
    )]
    TooLarge(usize, usize),
    #[error("request body is not valid gzip: {0}")]
    Gzip(String),
    #[error("unsupported Content-Encoding '{0}': send identity or gzip")]
    Encoding(String),
}

/// The request body, decompressed if `Content-Encoding: gzip`, within the limit.
pub fn read_body(headers: &HeaderMap, body: Bytes, max: usize) -> Result<Bytes, BodyError> {
    let enc = headers
        .get(axum::http::header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity")
        .trim()
        .to_ascii_lowercase();
    let body = match enc.as_str() {
        "" | "identity" => body,
        "gzip" | "x-gzip" => {
            Bytes::from(ward_event::gunzip(&body, max).map_err(|e| BodyError::Gzip(e.to_string()))?)
        }
        other => return Err(BodyError::Encoding(other.chars().take(40).collect())),
    };
    if body.len() > max {
        return Err(BodyError::TooLarge(body.len(), max));
    }
    Ok(body)
}
