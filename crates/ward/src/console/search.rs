//! Event search: the query language of [`ward_store::query`], a relative
//! or absolute time range, the number of matches (`matched`), `| count`
//! and `| top` results, paging, a sidebar of the fields of the newest
//! matches with their top values (each a link that filters in or out),
//! saved searches per person; and one event with all its fields (values
//! over 64 KiB cut, with a link that shows one whole) and its inclusion
//! proof checked against the signed checkpoint. The histogram is
//! [`super::histogram`], the export [`super::export`].

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
/// Values of a `| count by` the page lists (the most frequent); those
/// past it are counted under "other values", as those past the store's
/// bound are: thousands of rows would slow the page, not inform.
const SHOWN_BUCKETS: usize = 1000;
/// Longest value shown whole on the event page; longer ones are cut with
/// a link that shows one whole.
const MAX_VALUE_CHARS: usize = 64 * 1024;
/// Fields the sidebar lists (those in most sampled events first).
const SIDE_FIELDS: usize = 40;
/// Top values shown per field.
const SIDE_VALUES: usize = 5;
/// Distinct fields, and distinct values per field, counted in a sample.
const SIDE_DISTINCT: usize = 2000;
/// Fields the sidebar leaves out: each event has its own value.
const SIDE_SKIP: &[&str] = &["@timestamp", "event.id", "event.ingested"];
/// Longest value the sidebar shows (longer ones are cut and not offered
/// as filters).
const SIDE_VALUE_CHARS: usize = 200;

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
    /// Values of the aggregation left out of the list (in `other`).
    unlisted: usize,
    hits: Vec<HitRow>,
    first: usize,
    prev: String,
    next: String,
    error: String,
    warnings: Vec<String>,
    /// Fields of the matches read (none for aggregations).
    side: Vec<SideField>,
    /// Matches the sidebar counted.
    sampled: usize,
    /// This search's form as a query string (histogram, export, links).
    here: String,
    saved: SavedList,
    /// Field names the query box completes (JSON array).
    fields_json: String,
}

/// Fields every search can complete besides those of the current result.
const COMMON_FIELDS: &[&str] = &[
    "@timestamp",
    "message",
    "event.action",
    "event.category",
    "event.outcome",
    "event.kind",
    "event.type",
    "event.severity",
    "event.dataset",
    "event.module",
    "user.name",
    "user.id",
    "source.ip",
    "source.port",
    "destination.ip",
    "destination.port",
    "host.name",
    "host.ip",
    "service.name",
    "process.name",
    "process.command_line",
    "url.full",
    "url.path",
    "http.request.method",
    "http.response.status_code",
    "user_agent.original",
    "log.level",
    "tenant.id",
    "ward.source",
    "ward.input",
    "labels",
    "tags",
];

/// The field names the query box completes: the indexed and common
/// ones, and those of the sampled matches.
fn completion_fields(side: &[SideField]) -> String {
    let mut names: Vec<&str> = ward_store::INDEXED_FIELDS
        .iter()
        .chain(COMMON_FIELDS)
        .copied()
        .chain(side.iter().map(|f| f.name.as_str()))
        .collect();
    names.sort_unstable();
    names.dedup();
    serde_json::to_string(&names).unwrap_or_else(|_| "[]".into())
}

/// A search's form as a query string (`q=…&since=…&until=…`).
pub fn search_query(q: &str, since: &str, until: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("q", q)
        .append_pair("since", since)
        .append_pair("until", until)
        .finish()
}

fn page_link(f: &SearchForm, page: usize) -> String {
    format!(
        "/console/search?{}&page={page}",
        search_query(&f.q, &f.since, &f.until)
    )
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
        unlisted: 0,
        hits: Vec::new(),
        first: 0,
        prev: String::new(),
        next: String::new(),
        error: String::new(),
        warnings: Vec::new(),
        side: Vec::new(),
        sampled: 0,
        here: String::new(),
        saved: SavedList::of(&st, &caller),
        fields_json: completion_fields(&[]),
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
    view.here = search_query(&view.f.q, &view.f.since, &view.f.until);
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
    let plain = query.aggregation.is_none();
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
            view.unlisted = buckets.len().saturating_sub(SHOWN_BUCKETS);
            view.other = other
                + buckets
                    .iter()
                    .skip(SHOWN_BUCKETS)
                    .map(|b| b.count)
                    .sum::<u64>();
            view.buckets = buckets
                .into_iter()
                .take(SHOWN_BUCKETS)
                .map(|b| BucketRow {
                    value: b.value,
                    count: b.count,
                })
                .collect();
            view.missing = missing;
        }
        None => {}
    }
    view.first = view.f.page * PAGE_SIZE;
    let shown = result.hits.len().min((view.f.page + 1) * PAGE_SIZE);
    if plain {
        // The sidebar counts the matches this page read anyway (the
        // newest, down to this page's last): a sample of its own would
        // cost a read of its own.
        view.sampled = result.hits.len();
        view.side = sidebar(&view.f, &result.hits);
        view.fields_json = completion_fields(&view.side);
    }
    view.hits = result
        .hits
        .into_iter()
        .take(shown)
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

/// One value of a field in the sidebar, with the searches that keep only
/// events with it (`include`) or without it (`exclude`); empty when the
/// value cannot be written as a filter.
pub struct SideValue {
    pub value: String,
    pub count: usize,
    pub include: String,
    pub exclude: String,
}

/// A field in the sidebar: in how many sampled events, its top values.
pub struct SideField {
    pub name: String,
    pub present: usize,
    pub values: Vec<SideValue>,
}

/// Calls `f(path, value)` for each leaf of `v` under `prefix`: every
/// value but a non-empty object, whose members are visited as
/// `path.key`.
pub fn leaves(prefix: &str, v: &Value, f: &mut impl FnMut(&str, &Value)) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaves(&path, v, f);
            }
        }
        other => f(prefix, other),
    }
}

/// A leaf as text: a string as it is, anything else as JSON.
pub fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        v => v.to_string(),
    }
}

/// The scalar values of an event by field path (array elements each).
fn scalars(v: &Value, out: &mut Vec<(String, String)>) {
    leaves("", v, &mut |path, v| match v {
        Value::Array(items) => out.extend(
            items
                .iter()
                .filter(|i| !i.is_object() && !i.is_array() && !i.is_null())
                .map(|i| (path.to_owned(), text(i))),
        ),
        Value::Null | Value::Object(_) => {}
        v => out.push((path.to_owned(), text(v))),
    });
}

/// `field:value` as the query language writes it: a bare word (an exact,
/// case-insensitive match) when the value is one, else a quoted phrase.
pub(super) fn term(field: &str, value: &str) -> String {
    let bare = !value.is_empty()
        && !value.starts_with(['[', '{', '<', '>', '"'])
        && !value.contains(|c: char| {
            c.is_whitespace() || c.is_control() || "()\"|[]{}*?\\/".contains(c)
        });
    if bare {
        format!("{field}:{value}")
    } else {
        let quoted = value.replace('\\', "\\\\").replace('"', "\\\"");
        format!("{field}:\"{quoted}\"")
    }
}

/// The search `f` narrowed to events with (`out`: without) `field` =
/// `value`, as a link; `None` when the result is not a valid query.
fn narrowed(f: &SearchForm, field: &str, value: &str, out: bool) -> Option<String> {
    // The parser's field names; a leading '-' would read as NOT.
    let writable = !field.starts_with('-')
        && !field.is_empty()
        && field
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '@' | '-'));
    if !writable {
        return None;
    }
    let t = term(field, value);
    let t = if out { format!("NOT {t}") } else { t };
    let q = f.q.trim();
    let q = if q.is_empty() || q == "*" {
        t
    } else {
        format!("({q}) AND {t}")
    };
    ward_store::query::parse(&q).ok()?;
    Some(format!(
        "/console/search?{}",
        search_query(&q, &f.since, &f.until)
    ))
}

/// Of one field in a sample: the events with it, and each value's count.
type Tally = (usize, std::collections::HashMap<String, usize>);

/// The sidebar: for each field of the sampled events (those in most
/// events first), its most frequent values, each with filter links.
pub fn sidebar(f: &SearchForm, sample: &[ward_store::Hit]) -> Vec<SideField> {
    use std::collections::HashMap;
    let mut fields: HashMap<String, Tally> = HashMap::new();
    let mut seen = Vec::new();
    for h in sample {
        seen.clear();
        scalars(&h.event, &mut seen);
        seen.sort();
        seen.dedup();
        let mut last = "";
        for (field, value) in &seen {
            if SIDE_SKIP.contains(&field.as_str())
                || !fields.contains_key(field) && fields.len() >= SIDE_DISTINCT
            {
                continue;
            }
            let entry = fields.entry(field.clone()).or_default();
            if last != field {
                entry.0 += 1;
                last = field;
            }
            let n = entry.1.len();
            match entry.1.get_mut(value) {
                Some(c) => *c += 1,
                None if n < SIDE_DISTINCT => {
                    entry.1.insert(value.clone(), 1);
                }
                None => {}
            }
        }
    }
    let mut fields: Vec<(String, Tally)> = fields.into_iter().collect();
    fields.sort_by(|a, b| b.1.0.cmp(&a.1.0).then_with(|| a.0.cmp(&b.0)));
    fields
        .into_iter()
        .take(SIDE_FIELDS)
        .map(|(name, (present, values))| {
            let mut values: Vec<(String, usize)> = values.into_iter().collect();
            values.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            let values = values
                .into_iter()
                .take(SIDE_VALUES)
                .map(|(value, count)| {
                    if value.chars().count() > SIDE_VALUE_CHARS {
                        let mut cut: String = value.chars().take(SIDE_VALUE_CHARS).collect();
                        cut.push('…');
                        return SideValue {
                            value: cut,
                            count,
                            include: String::new(),
                            exclude: String::new(),
                        };
                    }
                    SideValue {
                        include: narrowed(f, &name, &value, false).unwrap_or_default(),
                        exclude: narrowed(f, &name, &value, true).unwrap_or_default(),
                        value,
                        count,
                    }
                })
                .collect();
            SideField {
                name,
                present,
                values,
            }
        })
        .collect()
}

/// The caller's saved searches, and what the last save or delete said.
pub struct SavedList {
    pub searches: Vec<super::prefs::Saved>,
    pub flash: String,
    pub error: String,
}

impl SavedList {
    fn of(st: &ConsoleState, caller: &crate::access::Principal) -> SavedList {
        SavedList {
            searches: st.prefs.get(caller).searches,
            flash: String::new(),
            error: String::new(),
        }
    }
}

#[derive(Template)]
#[template(path = "search_saved.html")]
struct SavedFragment {
    saved: SavedList,
}

/// `POST /console/searches` (`name`, `q`, `since`, `until`): saves the
/// search under the name (the same name replaces it) for the caller only;
/// `POST /console/searches/delete` (`name`) removes one. Both answer the
/// list of saved searches (400 with the reason when refused).
pub async fn save(
    State(st): State<ConsoleState>,
    caller: Caller,
    body: axum::body::Bytes,
) -> Response {
    saved_change(&st, &caller, &body, false)
}

/// `POST /console/searches/delete` (`name`).
pub async fn delete(
    State(st): State<ConsoleState>,
    caller: Caller,
    body: axum::body::Bytes,
) -> Response {
    saved_change(&st, &caller, &body, true)
}

fn saved_change(
    st: &ConsoleState,
    caller: &crate::access::Principal,
    body: &[u8],
    delete: bool,
) -> Response {
    let mut form = SearchForm::default();
    let mut name = String::new();
    let mut error = String::new();
    if body.len() > 16 * 1024 {
        error = "the form is larger than 16 KiB".into();
    }
    for (k, v) in url::form_urlencoded::parse(body) {
        match (k.as_ref(), delete) {
            ("name", _) => name = v.into_owned(),
            ("q", false) => form.q = v.into_owned(),
            ("since", false) => form.since = v.into_owned(),
            ("until", false) => form.until = v.into_owned(),
            (other, _) => {
                error = format!(
                    "unexpected form field {:?}",
                    other.chars().take(40).collect::<String>()
                )
            }
        }
    }
    if error.is_empty() && !delete {
        if let Err(e) = ward_store::query::parse(&form.q) {
            error = format!("not saved: {e}");
        } else {
            let now = jiff::Timestamp::now();
            for t in [&form.since, &form.until] {
                if !t.trim().is_empty()
                    && let Err(e) = crate::store::parse_time_bound(t, now)
                {
                    error = format!("not saved: {e}");
                }
            }
        }
    }
    let name = name.trim().to_owned();
    if error.is_empty() {
        let query = search_query(&form.q, &form.since, &form.until);
        let changed = st.prefs.update(caller, |u| {
            if delete {
                let before = u.searches.len();
                u.searches.retain(|s| s.name != name);
                if u.searches.len() == before {
                    return Err(format!("no saved search is named {name:?}"));
                }
                Ok(())
            } else {
                super::prefs::save(&mut u.searches, &name, &query)
            }
        });
        if let Err(e) = changed {
            error = e;
        }
    }
    let mut saved = SavedList::of(st, caller);
    let status = super::page::status_for(&error);
    if error.is_empty() {
        saved.flash = if delete {
            format!("Search {name:?} deleted.")
        } else {
            format!("Search {name:?} saved.")
        };
    }
    saved.error = error;
    render(status, &SavedFragment { saved })
}

/// One field of an event.
pub struct FieldRow {
    pub path: String,
    pub value: String,
    /// Cut at 64 KiB: the link that shows it whole, and its whole size.
    pub cut: bool,
    pub expand: String,
    pub kib: usize,
}

/// Every field of `v` under `prefix`, values over 64 KiB cut but the
/// field `whole`.
fn flatten_whole(prefix: &str, v: &Value, whole: &str, out: &mut Vec<FieldRow>) {
    leaves(prefix, v, &mut |path, v| {
        let mut value = text(v);
        let cut = path != whole && value.chars().count() > MAX_VALUE_CHARS;
        let kib = value.len().div_ceil(1024);
        if cut {
            value = value.chars().take(MAX_VALUE_CHARS).collect();
        }
        out.push(FieldRow {
            path: path.to_owned(),
            value,
            cut,
            expand: String::new(),
            kib,
        });
    });
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

/// The event page's options: `full`, a field shown whole however long.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventForm {
    pub full: String,
}

/// `GET /console/events/{id}?full=<field>`
pub async fn event(
    State(st): State<ConsoleState>,
    caller: Caller,
    csrf: Option<Extension<SessionCsrf>>,
    Path(id): Path<String>,
    form: Params<EventForm>,
) -> Response {
    let full = match form {
        Ok(Query(f)) => f.full,
        Err(e) => return super::refusal(StatusCode::BAD_REQUEST, &e.body_text()),
    };
    let (rec, event) = match visible_record(&st.events, &caller, id.clone()).await {
        Ok(r) => r,
        Err(e) => return Failure(e).into_response(),
    };
    let mut fields = Vec::new();
    flatten_whole("", &event, &full, &mut fields);
    for f in fields.iter_mut().filter(|f| f.cut) {
        let q = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("full", &f.path)
            .finish();
        let path: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
        f.expand = format!("/console/events/{path}?{q}");
    }
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
        flatten_whole("", &e, "", &mut out);
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
        flatten_whole("", &long, "", &mut out);
        assert!(out[0].cut && out[0].value.len() == MAX_VALUE_CHARS);
        assert_eq!(out[0].kib, 65);
        let mut out = Vec::new();
        flatten_whole("", &long, "m", &mut out);
        assert!(
            !out[0].cut && out[0].value.len() == MAX_VALUE_CHARS + 5,
            "shown whole"
        );
    }

    #[test]
    fn sidebar_filters_are_valid_queries_that_keep_or_drop_the_value() {
        let f = SearchForm {
            q: "event.action:login OR x".into(),
            since: "1h".into(),
            ..Default::default()
        };
        let hit = |e: Value| ward_store::Hit {
            offset: ward_store::Offset(0),
            id: String::new(),
            time_ms: 0,
            event: e,
        };
        let sample = vec![
            hit(
                serde_json::json!({"user": {"name": "ana"}, "tags": ["a", "b"], "msg": "say \"hi\" (now)"}),
            ),
            hit(serde_json::json!({"user": {"name": "ana"}, "tags": ["a"], "n": null})),
            hit(serde_json::json!({"user": {"name": "bo"}, "bad field": "x"})),
        ];
        let side = sidebar(&f, &sample);
        let user = side.iter().find(|s| s.name == "user.name").unwrap();
        assert_eq!(user.present, 3);
        assert_eq!(
            (user.values[0].value.as_str(), user.values[0].count),
            ("ana", 2)
        );
        let q = |link: &str| {
            let query = link.split_once('?').unwrap().1;
            url::form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| k == "q")
                .unwrap()
                .1
                .into_owned()
        };
        assert_eq!(
            q(&user.values[0].include),
            "(event.action:login OR x) AND user.name:ana"
        );
        assert_eq!(
            q(&user.values[0].exclude),
            "(event.action:login OR x) AND NOT user.name:ana"
        );
        let tags = side.iter().find(|s| s.name == "tags").unwrap();
        assert_eq!(
            (tags.present, tags.values[0].count),
            (2, 2),
            "each element, once per event"
        );
        let msg = side.iter().find(|s| s.name == "msg").unwrap();
        assert_eq!(
            q(&msg.values[0].include),
            "(event.action:login OR x) AND msg:\"say \\\"hi\\\" (now)\""
        );
        // A field name the language cannot write gets no filter links.
        let bad = side.iter().find(|s| s.name == "bad field").unwrap();
        assert!(narrowed(&f, "-x", "1", false).is_none());
        assert!(bad.values[0].include.is_empty() && bad.values[0].exclude.is_empty());
        assert!(!side.iter().any(|s| s.name == "n"), "null is no value");
    }
}
