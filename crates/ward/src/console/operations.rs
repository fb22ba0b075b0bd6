//! Operations: the event store (records, segments, the signed checkpoint
//! and the unsigned tail), detection lag, what keeps Ward from being ready,
//! and the sources seen in the last 24 hours with their counts (of the
//! caller's tenant).

use askama::Template;
use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use std::sync::atomic::Ordering;

use super::ConsoleState;
use super::page::{Chrome, render};
use crate::access::Caller;
use crate::access::guard::SessionCsrf;
use crate::api::events::{SearchParams, execute, scoped};

/// One line of a facts list.
pub struct Fact {
    pub name: &'static str,
    pub value: String,
}

/// A source and its events in the last 24 hours.
pub struct SourceRow {
    pub name: String,
    pub count: u64,
}

#[derive(Template)]
#[template(path = "operations.html")]
struct OperationsPage {
    chrome: Chrome,
    store: Vec<Fact>,
    problems: Vec<(String, String)>,
    sources: Vec<SourceRow>,
    sources_error: String,
}

/// `GET /console/operations`
pub async fn page(
    State(st): State<ConsoleState>,
    caller: Caller,
    csrf: Option<Extension<SessionCsrf>>,
) -> Response {
    let h = &st.health;
    let stats = h.store.stats();
    let next = h.store.next_offset().0;
    let detected = h.detect.offset.load(Ordering::Relaxed);
    let store = vec![
        Fact {
            name: "Records",
            value: format!(
                "{} ({} deleted by retention)",
                stats.records, stats.deleted_records
            ),
        },
        Fact {
            name: "Segments",
            value: format!(
                "{} ({} sealed), {} MiB",
                stats.segments,
                stats.sealed_segments,
                stats.bytes / (1024 * 1024)
            ),
        },
        Fact {
            name: "Signed checkpoint",
            value: format!("tree size {}", stats.checkpoint_size),
        },
        Fact {
            name: "Unsigned tail",
            value: format!(
                "{} records",
                stats.records.saturating_sub(stats.checkpoint_size)
            ),
        },
        Fact {
            name: "Write failures since start",
            value: stats.write_failures.to_string(),
        },
        Fact {
            name: "Detection lag",
            value: format!("{} records", next.saturating_sub(detected)),
        },
    ];
    let problems = h
        .problems(jiff::Timestamp::now().as_millisecond())
        .into_iter()
        .map(|(c, p)| (c.to_owned(), p))
        .collect();
    let (mut sources, mut sources_error) = (Vec::new(), String::new());
    let query = ward_store::query::parse("* | count by ward.source");
    let p = SearchParams {
        q: String::new(),
        since: Some("24h".into()),
        until: None,
        limit: Some(0),
    };
    match query {
        Ok(q) => match execute(&st.events, scoped(&caller, q), &p).await {
            Ok(Ok(r)) => {
                if let Some(ward_store::AggregationResult::Buckets { buckets, .. }) = r.aggregation
                {
                    sources = buckets
                        .into_iter()
                        .map(|b| SourceRow {
                            name: b.value,
                            count: b.count,
                        })
                        .collect();
                }
            }
            Ok(Err(why)) => sources_error = why,
            Err(e) => sources_error = e.to_string(),
        },
        Err(e) => sources_error = e.to_string(),
    }
    let csrf = csrf.map(|Extension(c)| c);
    render(
        StatusCode::OK,
        &OperationsPage {
            chrome: Chrome::new(&st, &caller, csrf.as_ref(), "operations"),
            store,
            problems,
            sources,
            sources_error,
        },
    )
}
