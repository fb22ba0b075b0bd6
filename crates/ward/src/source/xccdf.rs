//! `POST /api/v1/ingest/xccdf`: OpenSCAP results (an XCCDF results
//! document or an ARF report, `oscap xccdf eval --results`), one event per
//! rule result (see `ward_event::xccdf`), so that compliance controls of
//! kind `scanner` and Sigma rules can use them. A document that cannot be
//! read is kept, redacted, as one dead letter with the reason.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;

use super::HttpSources;
use super::http::{answer, ingest_request};
use crate::access::Caller;
use crate::normalize;

/// The route.
pub const ROUTE: &str = "/api/v1/ingest/xccdf";

pub async fn ingest(
    State(st): State<HttpSources>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let done = ingest_request(
        &st,
        &caller,
        &headers,
        body,
        "xccdf",
        move |body, limits, ctx| {
            let results = match ward_event::xccdf::decode(&body, limits) {
                Ok(events) => events.into_iter().map(Ok).collect(),
                Err(e) => vec![Err(e)],
            };
            Ok((normalize::collect(results, &body, ctx, limits), ()))
        },
    )
    .await;
    answer(done)
}
