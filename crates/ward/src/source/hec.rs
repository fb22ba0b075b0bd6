//! The Splunk HTTP Event Collector input: `POST /services/collector/event`
//! (concatenated JSON event objects), `POST /services/collector/raw` (text
//! lines; `source`, `sourcetype`, `host` from the query string) and
//! `GET /services/collector/health`, answering with HEC's `{text, code}`.

use std::net::SocketAddr;
use std::time::Instant;

use axum::Json;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::json;

use super::http::{IngestError, authenticate, decode_blocking, submit};
use crate::api::State as AppState;
use crate::normalize;

fn hec_error(e: &IngestError) -> Response {
    let (status, text, code) = match e {
        IngestError::Unauthorized => (StatusCode::UNAUTHORIZED, "Invalid token", 4),
        IngestError::Busy(_) => (StatusCode::SERVICE_UNAVAILABLE, "Server is busy", 9),
        IngestError::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "Server is busy", 9),
        IngestError::Body(_) | IngestError::BadRequest(_) => (e.status(), "Invalid data format", 6),
    };
    let body = json!({ "text": text, "code": code, "detail": e.to_string() });
    e.decorate((status, Json(body)).into_response())
}

/// `POST /services/collector/event`
pub async fn event(
    State(st): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let received = Instant::now();
    let res = async {
        let id = authenticate(&st, &headers, peer, "hec").await?;
        let body = super::read_body(&headers, body, st.limits.max_request_bytes)?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok((StatusCode::BAD_REQUEST, Json(json!({"text": "No data", "code": 5}))).into_response());
        }
        let bytes = body.len();
        let limits = st.limits.clone();
        let ctx = normalize::context("hec", &id.source, &id.tenant);
        let mut outcome = decode_blocking(move || {
            let results = ward_event::hec::decode_event(&body, &limits);
            normalize::collect(results, |_| Vec::new(), &ctx, &limits)
        })
        .await?;
        let first_bad = outcome.rejected.first().map(|r| (r.record, r.reason.clone()));
        submit(&st, &id, "hec", received, &mut outcome, bytes).await?;
        Ok(match first_bad {
            // HEC answers the first invalid event by its 0-based number; the
            // rest were still stored (bad ones as dead letters).
            Some((n, reason)) => (
                StatusCode::BAD_REQUEST,
                Json(json!({"text": "Invalid data format", "code": 6, "invalid-event-number": n.saturating_sub(1), "detail": reason})),
            )
                .into_response(),
            None => Json(json!({"text": "Success", "code": 0})).into_response(),
        })
    }
    .await;
    res.unwrap_or_else(|e: IngestError| hec_error(&e))
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
    State(st): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(q): Query<RawQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let received = Instant::now();
    let res = async {
        let id = authenticate(&st, &headers, peer, "hec").await?;
        let body = super::read_body(&headers, body, st.limits.max_request_bytes)?;
        let bytes = body.len();
        let limits = st.limits.clone();
        let ctx = normalize::context("hec", &id.source, &id.tenant);
        let params = ward_event::hec::RawParams {
            source: q.source,
            sourcetype: q.sourcetype,
            host: q.host,
            channel: q.channel,
            index: q.index,
        };
        let mut outcome = decode_blocking(move || {
            let results = ward_event::hec::decode_raw(&body, &params, &limits);
            normalize::collect(results, |n| normalize::nth_line(&body, n), &ctx, &limits)
        })
        .await?;
        submit(&st, &id, "hec", received, &mut outcome, bytes).await?;
        Ok(Json(json!({"text": "Success", "code": 0})).into_response())
    }
    .await;
    res.unwrap_or_else(|e: IngestError| hec_error(&e))
}

/// `GET /services/collector/health`
pub async fn health() -> Response {
    Json(json!({"text": "HEC is healthy", "code": 17})).into_response()
}
