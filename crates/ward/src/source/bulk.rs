//! The Elasticsearch-compatible input: `POST /_bulk`, `POST /{index}/_bulk`,
//! and `GET /` / `HEAD /` answering as an Elasticsearch 8 node, with the
//! `X-Elastic-Product: Elasticsearch` header that official clients check.
//! `GET /` from a browser gets the console instead ([`crate::console::root`]).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::json;

use super::HttpSources;
use super::http::{IngestError, ingest_request};
use crate::access::{Caller, Principal};
use crate::normalize::{self, Outcome};

const VERSION: &str = "8.15.0";

fn elastic(mut resp: Response) -> Response {
    resp.headers_mut().insert(
        "x-elastic-product",
        HeaderValue::from_static("Elasticsearch"),
    );
    resp
}

fn es_error(e: &IngestError) -> Response {
    let (kind, status) = match e {
        IngestError::Unauthorized => ("security_exception", StatusCode::UNAUTHORIZED),
        IngestError::Busy(_) => (
            "es_rejected_execution_exception",
            StatusCode::TOO_MANY_REQUESTS,
        ),
        IngestError::Unavailable => (
            "unavailable_shards_exception",
            StatusCode::SERVICE_UNAVAILABLE,
        ),
        // What Elasticsearch answers when a disk watermark blocks writes.
        IngestError::InsufficientStorage => {
            ("cluster_block_exception", StatusCode::INSUFFICIENT_STORAGE)
        }
        _ => ("parse_exception", e.status()),
    };
    let body = json!({
        "error": { "root_cause": [{ "type": kind, "reason": e.to_string() }], "type": kind, "reason": e.to_string() },
        "status": status.as_u16(),
    });
    let mut resp = e.decorate((status, Json(body)).into_response());
    if matches!(e, IngestError::Unauthorized) {
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("ApiKey, Basic realm=\"ward\""),
        );
    }
    elastic(resp)
}

/// The 401 of Elasticsearch (`security_exception`).
pub fn unauthorized() -> Response {
    es_error(&IngestError::Unauthorized)
}

/// `GET /` of Elasticsearch clients: the node information (browsers get
/// the console, [`crate::console::root`]).
pub fn root() -> Response {
    elastic(
        Json(json!({
            "name": "ward",
            "cluster_name": "ward",
            "cluster_uuid": "ward-0000000000000000000000",
            "version": {
                "number": VERSION,
                "build_flavor": "default",
                "build_type": "ward",
                "build_hash": "ward",
                "build_date": "2026-01-01T00:00:00.000Z",
                "build_snapshot": false,
                "lucene_version": "9.11.1",
                "minimum_wire_compatibility_version": "7.17.0",
                "minimum_index_compatibility_version": "7.0.0"
            },
            "tagline": "You Know, for Search"
        }))
        .into_response(),
    )
}

/// `HEAD /`: the ping of Elasticsearch clients.
pub async fn root_head() -> Response {
    elastic(StatusCode::OK.into_response())
}

/// `POST /_bulk`
pub async fn bulk(
    State(st): State<HttpSources>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match bulk_inner(&st, &caller, &headers, None, body).await {
        Ok(r) => elastic(r),
        Err(e) => es_error(&e),
    }
}

/// `POST /{index}/_bulk`
pub async fn bulk_index(
    State(st): State<HttpSources>,
    caller: Caller,
    Path(index): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match bulk_inner(&st, &caller, &headers, Some(index), body).await {
        Ok(r) => elastic(r),
        Err(e) => es_error(&e),
    }
}

async fn bulk_inner(
    st: &HttpSources,
    caller: &Principal,
    headers: &HeaderMap,
    default_index: Option<String>,
    body: Bytes,
) -> Result<Response, IngestError> {
    let done = ingest_request(
        st,
        caller,
        headers,
        body,
        "bulk",
        move |body, limits, ctx| Ok(decode(&body, default_index, limits, ctx)),
    )
    .await?;
    let took = done.received.elapsed().as_millis() as u64;
    Ok(Json(ward_event::bulk::response(&done.extra, took)).into_response())
}

/// Decodes a bulk body: the events to store (refused items as dead letters
/// with their own line) and the per-item outcomes to answer.
fn decode(
    body: &[u8],
    default_index: Option<String>,
    limits: &ward_event::Limits,
    ctx: &ward_event::Context,
) -> (Outcome, Vec<ward_event::bulk::ItemOutcome>) {
    let items = ward_event::bulk::decode(body, limits);
    let mut outcome = Outcome::default();
    let mut outcomes = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let index = item.index.clone().or_else(|| default_index.clone());
        if let Some(rejection) = item.rejection() {
            if let Err(err) = item.doc {
                let dl = ward_event::dead_letter(ctx, &err.reason, err.original(body), limits);
                outcome.events.push(normalize::finish(dl, ctx));
                outcome.rejected.push(ward_event::RecordError {
                    record: i + 1,
                    ..err
                });
            }
            outcomes.push(rejection);
            continue;
        }
        let Ok(mut e) = item.doc else { continue };
        if let Some(ix) = &index {
            e.set("data_stream.dataset", ix.clone().into());
        }
        let e = normalize::finish(e, ctx);
        let eid = e.get_str("event.id").unwrap_or_default().to_owned();
        outcome.events.push(e);
        outcomes.push(ward_event::bulk::ItemOutcome::Created {
            action: item.action.clone(),
            index: index.unwrap_or_else(|| "ward".into()),
            id: item.id.clone().unwrap_or(eid),
            seq_no: i as u64,
        });
    }
    (outcome, outcomes)
}
