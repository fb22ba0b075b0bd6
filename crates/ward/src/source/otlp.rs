//! OTLP/HTTP logs: `POST /v1/logs` with `application/x-protobuf` or
//! `application/json` bodies. Rejected log records are reported in the
//! response's `partial_success`, as the OTLP specification asks.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::json;

use super::HttpSources;
use super::http::{IngestError, ingest_request};
use crate::access::Caller;
use crate::normalize;

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// `POST /v1/logs`
pub async fn logs(
    State(st): State<HttpSources>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let json_body = is_json(&headers);
    let done = ingest_request(
        &st,
        &caller,
        &headers,
        body,
        "otlp",
        move |body, limits, ctx| {
            let decoded = if json_body {
                ward_event::otlp::decode_json(&body, limits)
            } else {
                ward_event::otlp::decode_protobuf(&body, limits)
            };
            let results = decoded.map_err(|e| IngestError::BadRequest(e.to_string()))?;
            // A log record's own bytes cannot be located inside the message:
            // its dead letter keeps the request body (truncated, redacted).
            let whole = 0..body.len();
            let results = results
                .into_iter()
                .map(|r| r.map_err(|e| e.at(whole.clone())))
                .collect();
            Ok((normalize::collect(results, &body, ctx, limits), ()))
        },
    )
    .await;
    let res = done.map(|done| {
        let rejected = done.rejected.len() as i64;
        let message = done
            .rejected
            .first()
            .map(|r| format!("log record {}: {}", r.record, r.reason))
            .unwrap_or_default();
        (rejected, message)
    });
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
