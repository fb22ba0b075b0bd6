//! Export of a search's matches (`GET /console/search/export`): the newest
//! [`MAX_ROWS`] events of the caller's tenant as NDJSON (each stored event
//! as it is) or CSV (one column per field, `@timestamp` and `event.id`
//! first), streamed in chunks. The call goes to the audit trail like every
//! read of events (route, query string with the search, caller, status).
//!
//! CSV cells that a spreadsheet would run as a formula (starting with `=`,
//! `+`, `-`, `@`, a tab or a carriage return; but plain numbers and bare
//! names such as `@timestamp`) get a leading `'`, field names included.

use std::collections::BTreeSet;
use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;

use super::ConsoleState;
use super::page::Failure;
use super::queue::Params;
use crate::access::Caller;
use crate::api::events::{SearchParams, execute, scoped};

/// Most events one export holds (the newest; the store returns at most
/// this many hits).
pub const MAX_ROWS: usize = 10_000;
/// Most CSV columns (fields beyond are left out, and the answer says so).
pub const MAX_COLUMNS: usize = 256;
/// Rows per chunk of the streamed body.
const CHUNK_ROWS: usize = 200;

/// The export form: the search and `format` (`ndjson` or `csv`).
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExportForm {
    pub q: String,
    pub since: String,
    pub until: String,
    pub format: String,
}

fn refuse(status: StatusCode, message: String) -> Response {
    super::secure((status, message).into_response())
}

/// `GET /console/search/export?q=…&since=…&until=…&format=ndjson|csv`
pub async fn export(
    State(st): State<ConsoleState>,
    caller: Caller,
    q: Params<ExportForm>,
) -> Response {
    let f = match q {
        Ok(Query(f)) => f,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, e.body_text()),
    };
    let csv = match f.format.as_str() {
        "csv" => true,
        "ndjson" => false,
        other => {
            return refuse(
                StatusCode::BAD_REQUEST,
                format!(
                    "format must be ndjson or csv, not {:?}",
                    other.chars().take(40).collect::<String>()
                ),
            );
        }
    };
    let query = match ward_store::query::parse(&f.q) {
        Ok(q) if q.aggregation.is_some() => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "an export takes the events of a search: remove the `| …` aggregation".into(),
            );
        }
        Ok(q) => q,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let p = SearchParams {
        q: f.q.clone(),
        since: Some(if f.since.trim().is_empty() {
            "24h".into()
        } else {
            f.since.clone()
        }),
        until: (!f.until.trim().is_empty()).then(|| f.until.clone()),
        limit: Some(MAX_ROWS),
    };
    let result = match execute(&st.events, scoped(&caller, query), &p).await {
        Ok(Ok(r)) => r,
        Ok(Err(why)) => return refuse(StatusCode::SERVICE_UNAVAILABLE, why),
        Err(e) => return Failure(e).into_response(),
    };
    let rows = result.hits.len();
    let events: Vec<Value> = result.hits.into_iter().map(|h| h.event).collect();
    let stamp = jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ");
    let (body, kind, ext, dropped) = if csv {
        let (columns, dropped) = columns(&events);
        (
            csv_body(columns, events),
            "text/csv; charset=utf-8",
            "csv",
            dropped,
        )
    } else {
        (ndjson_body(events), "application/x-ndjson", "ndjson", 0)
    };
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    let disposition = format!("attachment; filename=\"ward-events-{stamp}.{ext}\"");
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert("x-ward-export-rows", HeaderValue::from(rows));
    // At the bound the store stopped at the newest MAX_ROWS: older
    // matches may be left out.
    h.insert(
        "x-ward-export-complete",
        HeaderValue::from_static(if rows < MAX_ROWS { "true" } else { "false" }),
    );
    h.insert("x-ward-export-columns-dropped", HeaderValue::from(dropped));
    super::secure(resp)
}

fn ndjson_body(events: Vec<Value>) -> Body {
    let mut it = events.into_iter();
    let chunks = std::iter::from_fn(move || {
        let mut buf = Vec::new();
        for e in it.by_ref().take(CHUNK_ROWS) {
            // A Value always serializes.
            let _ = serde_json::to_writer(&mut buf, &e);
            buf.push(b'\n');
        }
        (!buf.is_empty()).then(|| Ok::<_, Infallible>(Bytes::from(buf)))
    });
    Body::from_stream(futures_util::stream::iter(chunks))
}

/// The CSV columns: `@timestamp` and `event.id`, then every other field of
/// the events in name order, at most [`MAX_COLUMNS`]; and how many fields
/// were left out.
pub fn columns(events: &[Value]) -> (Vec<String>, usize) {
    let mut all = BTreeSet::new();
    let mut cells = Vec::new();
    for e in events {
        cells.clear();
        flat(e, &mut cells);
        all.extend(cells.drain(..).map(|(k, _)| k));
    }
    let first = ["@timestamp", "event.id"];
    let mut cols: Vec<String> = first.iter().map(|s| (*s).to_owned()).collect();
    cols.extend(all.into_iter().filter(|c| !first.contains(&c.as_str())));
    let dropped = cols.len().saturating_sub(MAX_COLUMNS);
    cols.truncate(MAX_COLUMNS);
    (cols, dropped)
}

/// An event's fields by path: scalars as text, arrays as JSON.
fn flat(v: &Value, out: &mut Vec<(String, String)>) {
    super::search::leaves("", v, &mut |path, v| {
        if !v.is_null() {
            out.push((path.to_owned(), super::search::text(v)));
        }
    });
}

/// One CSV cell: quoted, quotes doubled, and a leading `'` on text that
/// a spreadsheet would take for a formula.
pub fn cell(text: &str, out: &mut String) {
    let name = |t: &str| {
        t.strip_prefix('@').is_some_and(|rest| {
            rest.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        })
    };
    let formula = text.starts_with(['=', '+', '-', '@', '\t', '\r'])
        && !text.parse::<f64>().is_ok_and(f64::is_finite)
        && !name(text);
    out.push('"');
    if formula {
        out.push('\'');
    }
    for c in text.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
}

fn csv_body(columns: Vec<String>, events: Vec<Value>) -> Body {
    let mut header = String::new();
    for (i, c) in columns.iter().enumerate() {
        if i > 0 {
            header.push(',');
        }
        cell(c, &mut header);
    }
    header.push_str("\r\n");
    let mut header = Some(header);
    let mut it = events.into_iter();
    let index: std::collections::HashMap<String, usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| (c.clone(), i))
        .collect();
    let chunks = std::iter::from_fn(move || {
        let mut buf = header.take().unwrap_or_default();
        let mut row: Vec<String> = vec![String::new(); columns.len()];
        let mut cells = Vec::new();
        for e in it.by_ref().take(CHUNK_ROWS) {
            cells.clear();
            flat(&e, &mut cells);
            row.iter_mut().for_each(String::clear);
            for (k, v) in cells.drain(..) {
                if let Some(&i) = index.get(&k) {
                    row[i] = v;
                }
            }
            for (i, v) in row.iter().enumerate() {
                if i > 0 {
                    buf.push(',');
                }
                cell(v, &mut buf);
            }
            buf.push_str("\r\n");
        }
        (!buf.is_empty()).then(|| Ok::<_, Infallible>(Bytes::from(buf)))
    });
    Body::from_stream(futures_util::stream::iter(chunks))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(t: &str) -> String {
        let mut s = String::new();
        cell(t, &mut s);
        s
    }

    #[test]
    fn csv_cells_are_quoted_and_formulas_neutralised() {
        assert_eq!(one("plain"), "\"plain\"");
        assert_eq!(
            one("say \"hi\", then\nleave"),
            "\"say \"\"hi\"\", then\nleave\""
        );
        for f in [
            "=1+1",
            "+cmd|' /C calc'!A0",
            "-2+3",
            "@SUM(A1)",
            "\tx",
            "\rx",
        ] {
            assert!(one(f).starts_with("\"'"), "{f}: {}", one(f));
        }
        for n in ["-5", "+3", "-0.25"] {
            assert_eq!(one(n), format!("\"{n}\""), "a plain number stays one");
        }
        assert_eq!(one("-inf"), "\"'-inf\"");
        assert_eq!(
            one("@timestamp"),
            "\"@timestamp\"",
            "a bare name calls nothing"
        );
    }

    #[test]
    fn columns_put_time_and_id_first_and_are_bounded() {
        let e = serde_json::json!({"event": {"id": "e1", "action": "x"}, "@timestamp": "t", "a": [1, 2], "n": null});
        let (cols, dropped) = columns(std::slice::from_ref(&e));
        assert_eq!(cols, ["@timestamp", "event.id", "a", "event.action"]);
        assert_eq!(dropped, 0);
        let mut wide = serde_json::Map::new();
        for i in 0..MAX_COLUMNS + 10 {
            wide.insert(format!("f{i:04}"), Value::from(i));
        }
        let (cols, dropped) = columns(&[Value::Object(wide)]);
        assert_eq!(cols.len(), MAX_COLUMNS);
        assert_eq!(dropped, 12, "the two first columns count too");
    }
}
