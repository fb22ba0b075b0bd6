//! `POST /api/v1/ingest/scan/{format}`: results of outside scanners (Lynis,
//! Prowler JSON-OCSF, Wazuh SCA checks, OpenSSF Scorecard; see
//! `ward_event::scanners`), one event per check, so that compliance
//! controls of kind `scanner` and Sigma rules can use them. `?agent=ID`
//! names the Wazuh agent the checks are of; `?min_score=N` is the lowest
//! Scorecard score that passes (8 by default). A document that cannot be
//! read is kept, redacted, as one dead letter with the reason.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use ward_event::scanners::{Format, Options};

use super::HttpSources;
use super::http::{answer, ingest_request};
use crate::access::Caller;
use crate::normalize;

/// The route.
pub const ROUTE: &str = "/api/v1/ingest/scan/{format}";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    agent: Option<String>,
    min_score: Option<f64>,
}

pub async fn ingest(
    State(st): State<HttpSources>,
    caller: Caller,
    Path(format): Path<String>,
    Query(params): Query<Params>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(format) = Format::parse(&format) else {
        let known: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
        return (
            StatusCode::NOT_FOUND,
            axum::Json(serde_json::json!({"error": format!(
                "unknown scanner format {format:?}; known: {}",
                known.join(", ")
            )})),
        )
            .into_response();
    };
    if let Some(s) = params.min_score
        && !(0.0..=10.0).contains(&s)
    {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(serde_json::json!({"error": format!("min_score {s} is outside 0..=10")})),
        )
            .into_response();
    }
    let opts = Options {
        received: jiff::Timestamp::now().to_string(),
        min_score: params.min_score,
        agent: params.agent,
    };
    let done = ingest_request(
        &st,
        &caller,
        &headers,
        body,
        "scan",
        move |body, limits, ctx| {
            let results = match ward_event::scanners::decode(format, &body, limits, &opts) {
                Ok(events) => events.into_iter().map(Ok).collect(),
                Err(e) => vec![Err(e)],
            };
            Ok((normalize::collect(results, &body, ctx, limits), ()))
        },
    )
    .await;
    answer(done)
}
