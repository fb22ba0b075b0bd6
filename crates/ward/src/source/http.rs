//! `POST /api/v1/ingest`: NDJSON (or plain text lines with
//! `Content-Type: text/plain`), gzip accepted. The answer says how many
//! lines were accepted and, for each rejected line, its number and why.
//! Also the pieces every HTTP input shares: authentication with the failed
//! attempt recorded as an event, and submitting a decoded request.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::json;

use super::{BodyError, Identity};
use crate::api::State as AppState;
use crate::model::{Ack, Batch, Event};
use crate::normalize::{self, Outcome};
use crate::pipeline::SubmitError;

/// Why an ingest request failed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("missing or invalid ingest token")]
    Unauthorized,
    #[error(transparent)]
    Body(#[from] BodyError),
    #[error("{0}")]
    BadRequest(String),
    #[error("ward is busy; retry after {0:?}")]
    Busy(Duration),
    #[error("events could not be stored; retry later")]
    Unavailable,
}

impl IngestError {
    /// The HTTP status for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            IngestError::Unauthorized => StatusCode::UNAUTHORIZED,
            IngestError::Body(BodyError::TooLarge(..)) => StatusCode::PAYLOAD_TOO_LARGE,
            IngestError::Body(_) | IngestError::BadRequest(_) => StatusCode::BAD_REQUEST,
            IngestError::Busy(_) => StatusCode::TOO_MANY_REQUESTS,
            IngestError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// Adds `Retry-After` where a retry will help.
    pub fn decorate(&self, mut resp: Response) -> Response {
        if matches!(self, IngestError::Busy(_) | IngestError::Unavailable) {
            resp.headers_mut().insert(
                header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
        }
        resp
    }
}

impl From<SubmitError> for IngestError {
    fn from(e: SubmitError) -> Self {
        match e {
            SubmitError::Busy(d) => IngestError::Busy(d),
            SubmitError::Failed(reason) => {
                tracing::error!(%reason, "store append failed");
                IngestError::Unavailable
            }
            SubmitError::Closed => IngestError::Unavailable,
        }
    }
}

/// Checks the token. A failed attempt is itself recorded as an
/// authentication event of Ward (without the presented token).
pub async fn authenticate(
    st: &AppState,
    headers: &HeaderMap,
    peer: SocketAddr,
    input: &str,
) -> Result<Identity, IngestError> {
    if let Some(id) = st.tokens.authenticate(headers) {
        return Ok(id);
    }
    st.metrics
        .add("ward_ingest_unauthorized_total", &[("input", input)], 1);
    let ctx = normalize::context("ward", "ward", "default");
    let mut e = Event::default();
    e.set("service.name", "ward".into());
    e.set("event.kind", "event".into());
    e.set("event.category", json!(["authentication"]));
    e.set("event.type", json!(["denied"]));
    e.set("event.action", "ingest_token_rejected".into());
    e.set("event.outcome", "failure".into());
    e.set("log.level", "WARN".into());
    e.set("source.ip", peer.ip().to_string().into());
    e.set("ward.ingest.input", input.into());
    let had = headers.contains_key(header::AUTHORIZATION);
    e.set(
        "message",
        if had {
            "ingest request with an invalid token".into()
        } else {
            "ingest request without a token".into()
        },
    );
    let event = normalize::finish(e, &ctx);
    let pipeline = st.pipeline.clone();
    let metrics = st.metrics.clone();
    tokio::spawn(async move {
        let batch = Batch {
            events: vec![event],
            input: "ward".into(),
            source: "ward".into(),
            tenant: "default".into(),
            received: Instant::now(),
        };
        if let Err(e) = pipeline.submit_wait(batch).await {
            metrics.add("ward_ingest_audit_lost_total", &[], 1);
            tracing::warn!(error = %e, "could not record a rejected ingest attempt");
        }
    });
    Err(IngestError::Unauthorized)
}

/// Submits decoded events and counts them.
pub async fn submit(
    st: &AppState,
    id: &Identity,
    input: &str,
    received: Instant,
    outcome: &mut Outcome,
    bytes: usize,
) -> Result<Ack, IngestError> {
    let labels = [("input", input), ("source", id.source.as_str())];
    let m = &st.metrics;
    m.add("ward_ingest_bytes_total", &labels, bytes as u64);
    m.add(
        "ward_ingest_received_total",
        &labels,
        outcome.events.len() as u64,
    );
    m.add(
        "ward_ingest_rejected_total",
        &labels,
        outcome.rejected.len() as u64,
    );
    count_missing_fields(m, &id.source, &outcome.events);
    if outcome.events.is_empty() {
        return Ok(Ack { ids: Vec::new() });
    }
    let batch = Batch {
        events: std::mem::take(&mut outcome.events),
        input: input.into(),
        source: id.source.clone(),
        tenant: id.tenant.clone(),
        received,
    };
    let ack = st.pipeline.submit(batch).await?;
    m.add(
        "ward_ingest_accepted_total",
        &labels,
        (ack.ids.len() - outcome.rejected.len().min(ack.ids.len())) as u64,
    );
    Ok(ack)
}

/// Counts, per source and field, the required fields senders left out.
pub fn count_missing_fields(m: &crate::metrics::Metrics, source: &str, events: &[Event]) {
    let mut counts: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
    for e in events {
        if let Some(serde_json::Value::Array(a)) = e.get("ward.schema.missing") {
            for f in a.iter().filter_map(serde_json::Value::as_str) {
                if let Some(name) = ward_event::REQUIRED_FIELDS.iter().find(|r| **r == f) {
                    *counts.entry(name).or_default() += 1;
                }
            }
        }
    }
    for (field, n) in counts {
        m.add(
            "ward_ingest_schema_missing_total",
            &[("source", source), ("field", field)],
            n,
        );
    }
}

/// Runs a CPU-heavy decode off the async threads.
pub async fn decode_blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, IngestError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| IngestError::Unavailable)
}

fn is_text(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"))
}

/// `POST /api/v1/ingest`
pub async fn ingest(
    State(st): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match ingest_inner(&st, peer, &headers, body).await {
        Ok(resp) => resp,
        Err(e) => {
            let resp = (e.status(), Json(json!({ "error": e.to_string() }))).into_response();
            e.decorate(resp)
        }
    }
}

async fn ingest_inner(
    st: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response, IngestError> {
    let received = Instant::now();
    let id = authenticate(st, headers, peer, "http").await?;
    let body = super::read_body(headers, body, st.limits.max_request_bytes)?;
    let bytes = body.len();
    let text = is_text(headers);
    let limits = st.limits.clone();
    let ctx = normalize::context("http", &id.source, &id.tenant);
    let mut outcome = decode_blocking(move || {
        let results = if text {
            ward_event::text::decode(&body, &limits)
        } else {
            ward_event::ndjson::decode(&body, &limits)
        };
        normalize::collect(results, |n| normalize::nth_line(&body, n), &ctx, &limits)
    })
    .await?;
    let ack = submit(st, &id, "http", received, &mut outcome, bytes).await?;
    let rejected: Vec<_> = outcome
        .rejected
        .iter()
        .map(|r| json!({ "line": r.record, "reason": r.reason }))
        .collect();
    let accepted = ack.ids.len() - rejected.len().min(ack.ids.len());
    Ok(Json(json!({
        "accepted": accepted,
        "rejected": rejected,
        "dead_lettered": rejected.len(),
    }))
    .into_response())
}
