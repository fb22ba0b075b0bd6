//! `POST /api/v1/ingest`: NDJSON (or plain text lines with
//! `Content-Type: text/plain`), gzip accepted. The answer says how many
//! lines were accepted and, for each rejected line, its number and why.
//! Also the skeleton every HTTP input shares ([`ingest_request`]):
//! the sender named by [`crate::access`] before the body is read, body
//! reading, decoding off the async threads, submission and metrics.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::json;

use super::{BodyError, HttpSources, Origin, Wait, keyblock};
use crate::access::guard::Denied;
use crate::access::{Caller, Principal};
use crate::model::{Ack, Event};
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
    #[error("the request body is empty")]
    Empty,
    #[error(
        "the request holds {0} records or more; the limit is {1} (limits.max_records_per_request): send smaller batches; nothing was stored"
    )]
    TooManyRecords(usize, usize),
    #[error("ward is busy; retry after {0:?}")]
    Busy(Duration),
    #[error("events could not be stored; retry later")]
    Unavailable,
    /// The store's disk is full: nothing of the request was stored.
    #[error("the event store is out of disk space; nothing was stored, retry after {} s", NO_SPACE_RETRY_AFTER.as_secs())]
    InsufficientStorage,
    /// The batch cannot be stored as it is; retrying it cannot help.
    #[error("the request cannot be stored: {0}")]
    Unprocessable(String),
}

/// What a sender is told to wait while the disk is full: long enough not
/// to hammer a full disk, short enough to resume soon after space returns.
pub const NO_SPACE_RETRY_AFTER: Duration = Duration::from_secs(5);

impl IngestError {
    /// The HTTP status for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            IngestError::Unauthorized => StatusCode::UNAUTHORIZED,
            IngestError::Body(BodyError::TooLarge(..)) | IngestError::TooManyRecords(..) => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            IngestError::Body(_) | IngestError::BadRequest(_) | IngestError::Empty => {
                StatusCode::BAD_REQUEST
            }
            IngestError::Busy(_) => StatusCode::TOO_MANY_REQUESTS,
            IngestError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            IngestError::InsufficientStorage => StatusCode::INSUFFICIENT_STORAGE,
            IngestError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }

    /// Adds `Retry-After` where a retry will help.
    pub fn decorate(&self, mut resp: Response) -> Response {
        let after = match self {
            IngestError::Busy(_) | IngestError::Unavailable => Some(Duration::from_secs(1)),
            IngestError::InsufficientStorage => Some(NO_SPACE_RETRY_AFTER),
            _ => None,
        };
        if let Some(after) = after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, after.as_secs().into());
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
            SubmitError::NoSpace(reason) => {
                tracing::warn!(%reason, "store is out of disk space; answering 507");
                IngestError::InsufficientStorage
            }
            SubmitError::Invalid(reason) => {
                tracing::error!(%reason, "store refused a batch as invalid");
                IngestError::Unprocessable(reason)
            }
            SubmitError::Closed => IngestError::Unavailable,
        }
    }
}

/// Counts a refused request of an input that checks its own credential
/// (the webhooks) and records it in Ward's access audit trail like every
/// refused credential (aggregated per peer and minute; never what was
/// presented), then gives the 401.
pub fn reject(st: &HttpSources, peer: SocketAddr, route: &str, presented: bool) -> IngestError {
    let input = route.rsplit('/').next().unwrap_or(route);
    st.ctx
        .metrics
        .add("ward_ingest_unauthorized_total", &[("input", input)], 1);
    st.audit.denied(Denied {
        peer: Some(peer.ip()),
        route: route.to_owned(),
        presented,
    });
    IngestError::Unauthorized
}

/// The authentication event for refused requests: `count` refusals from
/// `peer` within one minute, the first on `route`.
pub fn rejected_token_event(
    peer: Option<std::net::IpAddr>,
    route: &str,
    presented: bool,
    count: u64,
) -> Event {
    let ctx = normalize::context("ward", "ward", "default");
    let mut e = Event::default();
    e.set("service.name", "ward".into());
    e.set("event.kind", "event".into());
    e.set("event.category", json!(["authentication"]));
    e.set("event.type", json!(["denied"]));
    e.set("event.action", "ingest_token_rejected".into());
    e.set("event.outcome", "failure".into());
    e.set("log.level", "WARN".into());
    if let Some(ip) = peer {
        e.set("source.ip", ip.to_string().into());
    }
    e.set("url.path", route.into());
    e.set("event.count", count.into());
    e.set(
        "message",
        if presented {
            "request with an invalid token".into()
        } else {
            "request without a token".into()
        },
    );
    normalize::finish(e, &ctx)
}

/// A decoded, stored ingest request.
pub struct Ingested<T> {
    pub ack: Ack,
    /// Records that could not be decoded (stored as dead letters).
    pub rejected: Vec<ward_event::RecordError>,
    /// What the decoder returned beside the events (bulk item outcomes…).
    pub extra: T,
    pub received: Instant,
}

impl<T> Ingested<T> {
    /// Events stored that were not dead letters.
    pub fn accepted(&self) -> usize {
        self.ack.ids.len() - self.rejected.len().min(self.ack.ids.len())
    }
}

/// The one skeleton of every HTTP input, for a sender whose credential the
/// permission check (or, for the webhook inputs, the handler) accepted:
/// read the body (gzip, size limit), decode and normalize off the async
/// threads with `decode`, then submit without waiting for queue space (a
/// full pipeline answers 429) and count.
pub async fn ingest_request<T: Send + 'static>(
    st: &HttpSources,
    caller: &Principal,
    headers: &HeaderMap,
    body: Bytes,
    input: &'static str,
    decode: impl FnOnce(
        Bytes,
        &ward_event::Limits,
        &ward_event::Context,
    ) -> Result<(Outcome, T), IngestError>
    + Send
    + 'static,
) -> Result<Ingested<T>, IngestError> {
    let received = Instant::now();
    let body = super::read_body(headers, body, st.ctx.limits.max_request_bytes)?;
    let bytes = body.len();
    let max_records = st.ctx.max_records_per_request;
    // Refused before decoding: a 16 MiB body of `{}` lines would otherwise
    // become millions of events in memory. Line-based inputs only (a bulk
    // item takes two lines); the count after decoding checks the rest.
    if input != "otlp" && input != "xccdf" && input != "scan" {
        let per_record = if input == "bulk" { 2 } else { 1 };
        let lines = memchr::memchr_iter(b'\n', &body).count() / per_record;
        if lines > max_records {
            return Err(IngestError::TooManyRecords(lines, max_records));
        }
    }
    let limits = st.ctx.limits.clone();
    let mut ctx = normalize::context(input, &caller.name, &caller.tenant);
    ctx.declared = caller.recognizer.clone();
    let metrics = std::sync::Arc::clone(&st.ctx.metrics);
    let (outcome, extra) = tokio::task::spawn_blocking(move || {
        let cpu = crate::metrics::thread_cpu();
        let decoded = if ctx.declared.is_some() {
            ward_event::keeping_native_names(|| decode(body, &limits, &ctx))
        } else {
            decode(body, &limits, &ctx)
        };
        metrics.stage_cpu("decode", cpu);
        decoded
    })
    .await
    .map_err(|_| IngestError::Unavailable)??;
    let origin = Origin {
        input,
        source: &caller.name,
        tenant: &caller.tenant,
    };
    if outcome.events.len() > max_records {
        return Err(IngestError::TooManyRecords(
            outcome.events.len(),
            max_records,
        ));
    }
    let mut outcome = outcome;
    let duplicates = st.seen.drop_duplicates(&mut outcome.events);
    if duplicates > 0 {
        st.ctx.metrics.add(
            "ward_ingest_duplicates_total",
            &[("input", input)],
            duplicates as u64,
        );
    }
    let rejected = outcome.rejected;
    let ack = st
        .ctx
        .deliver(
            origin,
            outcome.events,
            rejected.len(),
            bytes,
            received,
            Wait::No,
        )
        .await?;
    Ok(Ingested {
        ack,
        rejected,
        extra,
        received,
    })
}

fn is_text(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"))
}

/// `POST /api/v1/ingest`
pub async fn ingest(
    State(st): State<HttpSources>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let text = is_text(&headers);
    let done = ingest_request(
        &st,
        &caller,
        &headers,
        body,
        "http",
        move |body, limits, ctx| {
            let results = if text {
                ward_event::text::decode(&body, limits)
            } else {
                ward_event::ndjson::decode(&body, limits)
            };
            let mut out = normalize::collect(results, &body, ctx, limits);
            // One request body is one stream of lines.
            let mut keys = ward_redact::BlockTracker::default();
            keyblock::mask_events(&mut keys, &mut out.events, Instant::now());
            Ok((out, ()))
        },
    )
    .await;
    answer(done)
}

/// The answer to an ingest request: how many records were accepted and,
/// for each rejected one, its number and why.
pub fn answer(done: Result<Ingested<()>, IngestError>) -> Response {
    match done {
        Ok(done) => {
            let rejected: Vec<_> = done
                .rejected
                .iter()
                .map(|r| json!({ "line": r.record, "reason": r.reason }))
                .collect();
            Json(json!({
                "accepted": done.accepted(),
                "rejected": rejected,
                "dead_lettered": rejected.len(),
            }))
            .into_response()
        }
        Err(e) => {
            let resp = (e.status(), Json(json!({ "error": e.to_string() }))).into_response();
            e.decorate(resp)
        }
    }
}
