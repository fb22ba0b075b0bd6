//! OTLP/HTTP logs: `POST /v1/logs` with `application/x-protobuf` or
//! `application/json` bodies. Rejected log records are reported in the
//! response's `partial_success`, as the OTLP specification asks.

use std::net::SocketAddr;
use std::time::Instant;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::json;

use super::http::{IngestError, authenticate, decode_blocking, submit};
use crate::api::State as AppState;
use crate::normalize;

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// `POST /v1/logs`
pub async fn logs(
    State(st): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let json_body = is_json(&headers);
    let received = Instant::now();
    let res = async {
        let id = authenticate(&st, &headers, peer, "otlp").await?;
        let body = super::read_body(&headers, body, st.limits.max_request_bytes)?;
        let bytes = body.len();
        let limits = st.limits.clone();
        let ctx = normalize::context("otlp", &id.source, &id.tenant);
        let mut outcome = decode_blocking(move || {
            let decoded = if json_body {
                ward_event::otlp::decode_json(&body, &limits)
            } else {
                ward_event::otlp::decode_protobuf(&body, &limits)
            };
            decoded.map(|results| normalize::collect(results, |_| Vec::new(), &ctx, &limits))
        })
        .await?
        .map_err(|e| IngestError::BadRequest(e.to_string()))?;
        let rejected = outcome.rejected.len() as i64;
        let message = outcome
            .rejected
            .first()
            .map(|r| format!("log record {}: {}", r.record, r.reason))
            .unwrap_or_default();
        submit(&st, &id, "otlp", received, &mut outcome, bytes).await?;
        Ok::<_, IngestError>((rejected, message))
    }
    .await;
    match res {
        Ok((rejected, message)) if json_body => {
            let body = if rejected > 0 {
                json!({"partialSuccess": {"rejectedLogRecords": rejected.to_string(), "errorMessage": message}})
            } else {
                json!({})
            };
            Json(body).into_response()
        }
        Ok((rejected, message)) => {
            let mut resp = (
                StatusCode::OK,
                ward_event::otlp::response_protobuf(rejected, &message),
            )
                .into_response();
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-protobuf"),
            );
            resp
        }
        Err(e) => {
            // OTLP clients retry on 429/503 and honour Retry-After.
            let resp = (
                e.status(),
                Json(json!({"code": e.status().as_u16(), "message": e.to_string()})),
            )
                .into_response();
            e.decorate(resp)
        }
    }
}
