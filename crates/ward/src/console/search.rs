//! Event search: the query language of [`ward_store::query`], a relative
//! or absolute time range, the number of matches (`matched`), `| count`
//! and `| top` results, paging; and one event with all its fields and its
//! inclusion proof checked against the signed checkpoint.

use askama::Template;
use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;
use ward_store::AggregationResult;

use super::ConsoleState;
use super::detail::{Evidence, prove};
use super::page::{Chrome, Failure, render};
use super::queue::Params;
use crate::access::Caller;
use crate::access::guard::SessionCsrf;
use crate::api::events::{SearchParams, blocking, execute, scoped, visible_record};

/// Events on one page of results.
pub const PAGE_SIZE: usize = 50;
/// Deepest page (the store returns at most 10,000 hits).
const MAX_PAGE: usize = 10_000 / PAGE_SIZE - 1;
/// Longest value shown whole on the event page; longer ones are cut with
/// a note.
const MAX_VALUE_CHARS: usize = 64 * 1024;

/// The search form.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SearchForm {
    pub q: String,
    pub since: String,
    pub until: String,
    pub page: usize,
}

/// One hit.
pub struct HitRow {
    pub id: String,
    pub time: String,
    pub summary: String,
}

/// A value and its count (`| count by`, `| top`).
pub struct BucketRow {
    pub value: String,
    pub count: u64,
}

#[derive(Template)]
#[template(path = "search.html")]
struct SearchPage {
    chrome: Chrome,
    f: SearchForm,
    ran: bool,
    matched: u64,
    count: Option<u64>,
    field: String,
    buckets: Vec<BucketRow>,
    missing: u64,
    other: u64,
    hits: Vec<HitRow>,
    first: usize,
    prev: String,
    next: String,
    error: String,
    warnings: Vec<String>,
}

fn page_link(f: &SearchForm, page: usize) -> String {
    let mut u = url::form_urlencoded::Serializer::new(String::new());
    u.append_pair("q", &f.q)
        .append_pair("since", &f.since)
        .append_pair("until", &f.until)
        .append_pair("page", &page.to_string());
    format!("/console/search?{}", u.finish())
}

fn hit_summary(e: &Value) -> String {
    let s = super::detail::summary(e);
    if s.is_empty() {
        let mut all = e.to_string();
        if all.len() > 300 {
            let cut = (0..=300)
                .rev()
                .find(|i| all.is_char_boundary(*i))
                .unwrap_or(0);
            all.truncate(cut);
            all.push('…');
        }
        all
    } else {
        s
    }
}

/// `GET /console/search?q=…&since=…&until=…&page=N`
pub async fn page(
    State(st): State<ConsoleState>,
    caller: Caller,
    csrf: Option<Extension<SessionCsrf>>,
    q: Params<SearchForm>,
) -> Response {
    let csrf = csrf.map(|Extension(c)| c);
    let mut view = SearchPage {
        chrome: Chrome::new(&st, &caller, csrf.as_ref(), "search"),
        f: SearchForm::default(),
        ran: false,
        matched: 0,
        count: None,
        field: String::new(),
        buckets: Vec::new(),
        missing: 0,
        other: 0,
        hits: Vec::new(),
        first: 0,
        prev: String::new(),
        next: String::new(),
        error: String::new(),
        warnings: Vec::new(),
    };
    match q {
        Ok(Query(f)) => view.f = f,
        Err(e) => {
            view.error = e.body_text();
            return render(StatusCode::BAD_REQUEST, &view);
        }
    }
    if view.f.since.trim().is_empty() {
        view.f.since = "24h".into();
    }
    if view.f.page > MAX_PAGE {
        view.error = format!("page must be at most {MAX_PAGE}");
        return render(StatusCode::BAD_REQUEST, &view);
    }
    if view.f.q.trim().is_empty() {
        return render(StatusCode::OK, &view);
    }
    let query = match ward_store::query::parse(&view.f.q) {
        Ok(q) => q,
        Err(e) => {
            view.error = e.to_string();
            return render(StatusCode::BAD_REQUEST, &view);
        }
    };
    let p = SearchParams {
        q: view.f.q.clone(),
        since: Some(view.f.since.clone()),
        until: (!view.f.until.trim().is_empty()).then(|| view.f.until.clone()),
        limit: Some((view.f.page + 1) * PAGE_SIZE),
    };
    let result = match execute(&st.events, scoped(&caller, query), &p).await {
        Ok(Ok(r)) => r,
        Ok(Err(why)) => {
            view.error = why;
            return render(StatusCode::SERVICE_UNAVAILABLE, &view);
        }
        Err(e) => {
            view.error = e.to_string();
            let status = e.into_response().status();
            return render(status, &view);
        }
    };
    view.ran = true;
    view.matched = result.matched;
    view.warnings = result.warnings;
    match result.aggregation {
        Some(AggregationResult::Count(n)) => view.count = Some(n),
        Some(AggregationResult::Buckets {
            field,
            buckets,
            missing,
            other,
        }) => {
            view.field = field;
            view.buckets = buckets
                .into_iter()
                .map(|b| BucketRow {
                    value: b.value,
                    count: b.count,
                })
                .collect();
            view.missing = missing;
            view.other = other;
        }
        None => {}
    }
    view.first = view.f.page * PAGE_SIZE;
    let shown = result.hits.len();
    view.hits = result
        .hits
        .into_iter()
        .skip(view.first)
        .map(|h| HitRow {
            time: jiff::Timestamp::from_millisecond(h.time_ms)
                .map(|t| t.to_string())
                .unwrap_or_default(),
            summary: hit_summary(&h.event),
            id: h.id,
        })
        .collect();
    if view.f.page > 0 {
        view.prev = page_link(&view.f, view.f.page - 1);
    }
    if shown == (view.f.page + 1) * PAGE_SIZE
        && (view.matched as usize) > shown
        && view.f.page < MAX_PAGE
    {
        view.next = page_link(&view.f, view.f.page + 1);
    }
    render(StatusCode::OK, &view)
}

/// One field of an event.
pub struct FieldRow {
    pub path: String,
    pub value: String,
    pub cut: bool,
}

fn flatten(prefix: &str, v: &Value, out: &mut Vec<FieldRow>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&path, v, out);
            }
        }
        other => {
            let mut value = match other {
                Value::String(s) => s.clone(),
                v => v.to_string(),
            };
            let cut = value.chars().count() > MAX_VALUE_CHARS;
            if cut {
                value = value.chars().take(MAX_VALUE_CHARS).collect();
            }
            out.push(FieldRow {
                path: prefix.to_owned(),
                value,
                cut,
            });
        }
    }
}

#[derive(Template)]
#[template(path = "event.html")]
struct EventPage {
    chrome: Chrome,
    id: String,
    offset: u64,
    fields: Vec<FieldRow>,
    proof: Evidence,
}

/// `GET /console/events/{id}`
pub async fn event(
    State(st): State<ConsoleState>,
    caller: Caller,
    csrf: Option<Extension<SessionCsrf>>,
    Path(id): Path<String>,
) -> Response {
    let (rec, event) = match visible_record(&st.events, &caller, id.clone()).await {
        Ok(r) => r,
        Err(e) => return Failure(e).into_response(),
    };
    let mut fields = Vec::new();
    flatten("", &event, &mut fields);
    let store = st.events.store.clone();
    let principal = (*caller.0).clone();
    let target = id.clone();
    let proof = blocking(move || {
        let key = store.public_key();
        Ok(prove(&store, &key, &principal, target))
    })
    .await;
    let proof = match proof {
        Ok(p) => p,
        Err(e) => return Failure(e).into_response(),
    };
    let csrf = csrf.map(|Extension(c)| c);
    render(
        StatusCode::OK,
        &EventPage {
            chrome: Chrome::new(&st, &caller, csrf.as_ref(), "search"),
            id,
            offset: rec.offset.0,
            fields,
            proof,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_flatten_to_every_field() {
        let e = serde_json::json!({"user": {"name": "ana"}, "n": 3, "tags": ["a"], "empty": {}});
        let mut out = Vec::new();
        flatten("", &e, &mut out);
        let got: Vec<(&str, &str)> = out
            .iter()
            .map(|f| (f.path.as_str(), f.value.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("user.name", "ana"),
                ("n", "3"),
                ("tags", "[\"a\"]"),
                ("empty", "{}")
            ],
            "in the event's own order"
        );
        let long = serde_json::json!({ "m": "x".repeat(MAX_VALUE_CHARS + 5) });
        let mut out = Vec::new();
        flatten("", &long, &mut out);
        assert!(out[0].cut && out[0].value.len() == MAX_VALUE_CHARS);
    }
}
