//! The Splunk HTTP Event Collector input: `POST /services/collector/event`
//! (concatenated JSON event objects), `POST /services/collector/raw` (text
//! lines; `source`, `sourcetype`, `host` from the query string) and
//! `GET /services/collector/health`, answering with HEC's `{text, code}`.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::json;

use super::http::{IngestError, ingest_request};
use super::{HttpSources, keyblock};
use crate::access::Caller;
use crate::normalize;

fn hec_error(e: &IngestError) -> Response {
    let (status, text, code) = match e {
        IngestError::Unauthorized => (StatusCode::UNAUTHORIZED, "Invalid token", 4),
        IngestError::Busy(_) => (StatusCode::SERVICE_UNAVAILABLE, "Server is busy", 9),
        IngestError::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "Server is busy", 9),
        IngestError::InsufficientStorage => (StatusCode::INSUFFICIENT_STORAGE, "Server is busy", 9),
        IngestError::Unprocessable(_) => (e.status(), "Invalid data format", 6),
        IngestError::Empty => (StatusCode::BAD_REQUEST, "No data", 5),
        IngestError::TooManyRecords(..) => (e.status(), "Invalid data format", 6),
        IngestError::Body(_) | IngestError::BadRequest(_) => (e.status(), "Invalid data format", 6),
    };
    let body = json!({ "text": text, "code": code, "detail": e.to_string() });
    e.decorate((status, Json(body)).into_response())
}

/// `POST /services/collector/event`
pub async fn event(
    State(st): State<HttpSources>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let done = ingest_request(&st, &caller, &headers, body, "hec", |body, limits, ctx| {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(IngestError::Empty);
        }
        let results = ward_event::hec::decode_event(&body, limits);
        let mut out = normalize::collect(results, &body, ctx, limits);
        keyblock::mask_events(
            &mut ward_redact::BlockTracker::default(),
            &mut out.events,
            std::time::Instant::now(),
        );
        Ok((out, ()))
    })
    .await;
    match done {
        // HEC answers the first invalid event by its 0-based number; the
        // rest were still stored (bad ones as dead letters).
        Ok(done) => match done.rejected.first() {
            Some(bad) => (
                StatusCode::BAD_REQUEST,
                Json(json!({"text": "Invalid data format", "code": 6, "invalid-event-number": bad.record.saturating_sub(1), "detail": bad.reason})),
            )
                .into_response(),
            None => Json(json!({"text": "Success", "code": 0})).into_response(),
        },
        Err(e) => hec_error(&e),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct RawQuery {
    pub source: Option<String>,
    pub sourcetype: Option<String>,
    pub host: Option<String>,
    pub channel: Option<String>,
    pub index: Option<String>,
}

/// `POST /services/collector/raw`
pub async fn raw(
    State(st): State<HttpSources>,
    caller: Caller,
    Query(q): Query<RawQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = ward_event::hec::RawParams {
        source: q.source,
        sourcetype: q.sourcetype,
        host: q.host,
        channel: q.channel,
        index: q.index,
    };
    let done = ingest_request(
        &st,
        &caller,
        &headers,
        body,
        "hec",
        move |body, limits, ctx| {
            let results = ward_event::hec::decode_raw(&body, &params, limits);
            let mut out = normalize::collect(results, &body, ctx, limits);
            keyblock::mask_events(
                &mut ward_redact::BlockTracker::default(),
                &mut out.events,
                std::time::Instant::now(),
            );
            Ok((out, ()))
        },
    )
    .await;
    match done {
        Ok(_) => Json(json!({"text": "Success", "code": 0})).into_response(),
        Err(e) => hec_error(&e),
    }
}

/// The 401 of HEC (`code` 4: invalid token).
pub fn unauthorized() -> Response {
    hec_error(&IngestError::Unauthorized)
}

/// `GET /services/collector/health`
pub async fn health() -> Response {
    Json(json!({"text": "HEC is healthy", "code": 17})).into_response()
}
