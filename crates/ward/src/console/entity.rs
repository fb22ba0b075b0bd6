//! Entity timeline: everything about one user, host, IP address, service
//! or AI tool on one time axis, newest first: its events (of the caller's
//! tenant), the alerts whose group key or labels name it (with
//! `alerts:read`), and the baseline deviations Ward marked on its events
//! (`ward.baseline.*`: an unusual hour, a first-seen value, a rate spike,
//! bulk access, a significant AI error rate).

use askama::Template;
use axum::Extension;
use axum::extract::{Query, State};
use axum::response::Response;
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::Value;
use ward_store::query::{Expr, Query as StoreQuery};

use super::ConsoleState;
use super::page::{Chrome, Select, render, status_for, when};
use super::queue::Params;
use crate::access::guard::SessionCsrf;
use crate::access::{Caller, Permission};
use crate::api::events::{SearchParams, execute, execute_histogram, scoped};

/// Most events the timeline takes (the newest).
pub const MAX_EVENTS: usize = 200;
/// Most alerts it takes (the newest).
pub const MAX_ALERTS: usize = 200;

/// The kinds of entity and the fields that name them.
const KINDS: [(&str, &str, &[&str]); 5] = [
    ("user", "user", &["user.name", "user.id"]),
    ("host", "host", &["host.name"]),
    ("ip", "IP address", &["source.ip", "destination.ip"]),
    ("service", "service", &["service.name"]),
    ("ai_tool", "AI tool", &["ai.tool.name"]),
];

/// The form (`since` as in search: `24h`, `7d` or an RFC 3339 time).
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EntityParams {
    pub kind: String,
    pub value: String,
    pub since: String,
}

/// One moment of the timeline.
pub struct Item {
    /// `event`, `deviation` or `alert`.
    pub what: &'static str,
    pub time: String,
    pub link: String,
    pub summary: String,
    /// The deviations of an event, or an alert's severity and status.
    pub notes: Vec<String>,
    at: i64,
}

/// Height of the chart's events part and where its alerts part starts
/// and ends (SVG units; the drawing is scaled to the page).
const EVENTS_HEIGHT: u64 = 62;
const ALERTS_TOP: u64 = 70;
const CHART_HEIGHT: u64 = 100;

/// One bucket of the entity's chart: its events (all of them in the
/// range, counted by the store) and its alerts.
pub struct Slot {
    pub x: u64,
    pub events: u64,
    pub alerts: u64,
    pub events_y: u64,
    pub events_h: u64,
    pub alerts_y: u64,
    pub alerts_h: u64,
    /// `from … to …: N events, M alerts`, the bar's text alternative.
    pub label: String,
    pub start: String,
    /// The search of the entity's events in this bucket.
    pub search: String,
}

/// Events and alerts of the entity over the range, one bar per bucket,
/// with the same round bucket widths as the search histogram.
pub struct Chart {
    pub slots: Vec<Slot>,
    /// SVG width: 10 units per bucket.
    pub width: usize,
    pub step: String,
    pub first: String,
    pub last: String,
    pub events: u64,
    pub alerts: u64,
}

/// The chart of `events` (matches per bucket from `from_ms`, `width_ms`
/// wide) and of the alerts at times `alerts` (ms; those outside the
/// buckets are left out), within `[lo, hi]`; `query` is the entity's
/// search, which each bar links to over its bucket.
pub fn chart(
    (lo, hi): (i64, i64),
    (from_ms, width_ms): (i64, i64),
    events: &[u64],
    alerts: &[i64],
    query: &str,
) -> Chart {
    use super::histogram::rfc3339;
    let mut per_bucket = vec![0u64; events.len()];
    for at in alerts {
        let i = (at - from_ms).div_euclid(width_ms);
        if let Some(n) = usize::try_from(i).ok().and_then(|i| per_bucket.get_mut(i)) {
            *n += 1;
        }
    }
    let top_events = events.iter().copied().max().unwrap_or(0).max(1);
    let top_alerts = per_bucket.iter().copied().max().unwrap_or(0).max(1);
    let alerts_room = CHART_HEIGHT - ALERTS_TOP;
    let at = |ms: i64| when(Timestamp::from_millisecond(ms).unwrap_or_default());
    let slots = events
        .iter()
        .zip(&per_bucket)
        .enumerate()
        .map(|(i, (&n_events, &n_alerts))| {
            let start = (from_ms + i as i64 * width_ms).max(lo);
            let end = (from_ms + (i as i64 + 1) * width_ms - 1).min(hi);
            let events_h = (n_events * EVENTS_HEIGHT).div_ceil(top_events);
            let alerts_h = (n_alerts * alerts_room).div_ceil(top_alerts);
            let plural =
                |n: u64, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
            Slot {
                x: i as u64 * 10,
                events: n_events,
                alerts: n_alerts,
                events_y: EVENTS_HEIGHT - events_h,
                events_h,
                alerts_y: CHART_HEIGHT - alerts_h,
                alerts_h,
                label: format!(
                    "{} to {}: {}, {}",
                    at(start),
                    at(end),
                    plural(n_events, "event"),
                    plural(n_alerts, "alert")
                ),
                start: at(start),
                search: format!(
                    "/console/search?{}",
                    super::search::search_query(query, &rfc3339(start), &rfc3339(end))
                ),
            }
        })
        .collect();
    Chart {
        slots,
        width: events.len() * 10,
        step: super::histogram::span_text(width_ms),
        first: at(lo),
        last: at(hi),
        events: events.iter().sum(),
        alerts: per_bucket.iter().sum(),
    }
}

#[derive(Template)]
#[template(path = "entity.html")]
struct EntityPage {
    chrome: Chrome,
    p: EntityParams,
    selects: Vec<Select>,
    ran: bool,
    items: Vec<Item>,
    events: usize,
    deviations: usize,
    alerts: usize,
    can_alerts: bool,
    chart: Option<Chart>,
    /// Why the chart is missing (the events search worked).
    chart_error: String,
    error: String,
}

/// The timeline of the entity an alert label names (`user.name`, or
/// Ward's short `user`, `host`, `service`), or empty.
pub fn link(label: &str, value: &str) -> String {
    let kind = match label {
        "user" | "host" | "service" => Some(label),
        _ => KINDS.iter().find(|k| k.2.contains(&label)).map(|k| k.0),
    };
    match kind {
        Some(kind) if !value.is_empty() => format!(
            "/console/entity?{}",
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("kind", kind)
                .append_pair("value", value)
                .append_pair("since", "30d")
                .finish()
        ),
        _ => String::new(),
    }
}

/// The deviations Ward marked on an event.
pub fn deviations(e: &Value) -> Vec<String> {
    let Some(b) = e.pointer("/ward/baseline") else {
        return Vec::new();
    };
    let yes = |p: &str| b.pointer(p).and_then(Value::as_bool) == Some(true);
    let mut out = Vec::new();
    if yes("/unusual_hour") {
        out.push("unusual hour".to_owned());
    }
    match b.get("first_seen") {
        Some(Value::Array(a)) if !a.is_empty() => {
            let names: Vec<&str> = a.iter().filter_map(Value::as_str).collect();
            out.push(format!("first seen: {}", names.join(", ")));
        }
        Some(Value::String(s)) if !s.is_empty() => out.push(format!("first seen: {s}")),
        _ => {}
    }
    if yes("/rate/spike") {
        out.push("rate spike".to_owned());
    }
    if yes("/bulk_access") {
        out.push("bulk access".to_owned());
    }
    if yes("/ai_error_rate/significant") {
        out.push("AI error rate significantly higher".to_owned());
    }
    out
}

/// `GET /console/entity?kind=user&value=alice&since=7d`
pub async fn page(
    State(st): State<ConsoleState>,
    caller: Caller,
    csrf: Option<Extension<SessionCsrf>>,
    q: Params<EntityParams>,
) -> Response {
    let (mut p, mut error) = match q {
        Ok(Query(p)) => (p, String::new()),
        Err(e) => (EntityParams::default(), e.body_text()),
    };
    if p.kind.is_empty() {
        p.kind = "user".into();
    }
    if p.since.trim().is_empty() {
        p.since = "24h".into();
    }
    let fields = KINDS.iter().find(|k| k.0 == p.kind).map(|k| k.2);
    if fields.is_none() && error.is_empty() {
        error = "kind must be user, host, ip, service or ai_tool".into();
    }
    let value = p.value.trim().to_owned();
    let can_alerts = caller.can(Permission::AlertsRead);
    let mut items = Vec::new();
    let (mut events, mut deviation_count, mut alerts) = (0, 0, 0);
    let (mut chart, mut chart_error) = (None, String::new());
    let ran = error.is_empty() && !value.is_empty();
    if let (true, Some(fields)) = (ran, fields) {
        let expr = Expr::Or(
            fields
                .iter()
                .map(|f| StoreQuery::term(f, &value).expr)
                .collect(),
        );
        let query = StoreQuery {
            expr,
            aggregation: None,
        };
        let now = Timestamp::now();
        let range = crate::store::parse_time_bound(&p.since, now)
            .map(|lo| (lo.min(now.as_millisecond()), now.as_millisecond()));
        let sp = SearchParams {
            q: String::new(),
            since: Some(p.since.clone()),
            until: None,
            limit: Some(MAX_EVENTS),
        };
        match execute(&st.events, scoped(&caller, query.clone()), &sp).await {
            Ok(Ok(r)) => {
                for h in r.hits {
                    let notes = deviations(&h.event);
                    events += 1;
                    if !notes.is_empty() {
                        deviation_count += 1;
                    }
                    items.push(Item {
                        what: if notes.is_empty() {
                            "event"
                        } else {
                            "deviation"
                        },
                        time: Timestamp::from_millisecond(h.time_ms)
                            .map(when)
                            .unwrap_or_default(),
                        link: format!("/console/events/{}", h.id),
                        summary: super::detail::summary(&h.event),
                        notes,
                        at: h.time_ms,
                    });
                }
            }
            Ok(Err(why)) => error = why,
            Err(e) => error = e.to_string(),
        }
        let mut alert_times = Vec::new();
        if can_alerts && error.is_empty() {
            let names = |a: &ward_alert::Alert| {
                fields.iter().any(|f| {
                    a.group_key.get(*f) == Some(&value) || a.labels.get(*f) == Some(&value)
                })
            };
            let mut mine: Vec<Item> = Vec::new();
            st.alerts.engine.each_alert(|a| {
                if crate::api::alerts::visible(&caller, a) && names(a) {
                    let at = a.last_seen.parse::<Timestamp>().unwrap_or(a.updated_at);
                    alert_times.push(at.as_millisecond());
                    mine.push(Item {
                        what: "alert",
                        time: when(at),
                        link: format!("/console/alerts/{}", a.id),
                        summary: a.rule_title.clone(),
                        notes: vec![
                            a.severity.as_str().to_owned(),
                            a.status.as_str().to_owned(),
                            format!("{}×", a.count),
                        ],
                        at: at.as_millisecond(),
                    });
                }
            });
            mine.sort_by_key(|i| std::cmp::Reverse(i.at));
            mine.truncate(MAX_ALERTS);
            alerts = mine.len();
            items.extend(mine);
        }
        items.sort_by_key(|i| std::cmp::Reverse(i.at));
        if error.is_empty()
            && let Ok((lo, hi)) = range
        {
            // Every event of the range, counted per bucket by the store (the
            // list above stops at the newest MAX_EVENTS).
            let (from_ms, width_ms, n) = super::histogram::buckets(lo, hi);
            let text: Vec<String> = fields
                .iter()
                .map(|f| super::search::term(f, &value))
                .collect();
            let hp = SearchParams {
                q: String::new(),
                since: Some(super::histogram::rfc3339(lo)),
                until: Some(super::histogram::rfc3339(hi)),
                limit: Some(0),
            };
            let bounds = (from_ms, width_ms, n);
            match execute_histogram(&st.events, scoped(&caller, query), &hp, bounds).await {
                Ok(Ok(h)) => {
                    chart = Some(self::chart(
                        (lo, hi),
                        (from_ms, width_ms),
                        &h.counts,
                        &alert_times,
                        &text.join(" OR "),
                    ));
                }
                Ok(Err(why)) => chart_error = why,
                Err(e) => chart_error = e.to_string(),
            }
        }
    }
    let choices: Vec<(&'static str, &'static str)> = KINDS.iter().map(|k| (k.0, k.1)).collect();
    let csrf = csrf.map(|Extension(c)| c);
    render(
        status_for(&error),
        &EntityPage {
            chrome: Chrome::new(&st, &caller, csrf.as_ref(), "entity"),
            selects: vec![Select::new("kind", "Kind", &choices, &p.kind)],
            p,
            ran,
            items,
            events,
            deviations: deviation_count,
            alerts,
            can_alerts,
            chart,
            chart_error,
            error,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn alert_labels_of_entities_link_to_their_timeline() {
        assert_eq!(
            link("user.name", "a b&c"),
            "/console/entity?kind=user&value=a+b%26c&since=30d"
        );
        assert_eq!(
            link("source.ip", "198.51.100.7"),
            "/console/entity?kind=ip&value=198.51.100.7&since=30d"
        );
        assert!(link("host", "web-01").contains("kind=host"));
        assert!(link("user.id", "alice").contains("kind=user"));
        assert_eq!(link("severity", "high"), "");
        assert_eq!(link("user", ""), "");
    }

    #[test]
    fn deviations_are_read_from_the_baseline_fields() {
        assert!(deviations(&json!({"user": {"name": "a"}})).is_empty());
        let e = json!({"ward": {"baseline": {
            "unusual_hour": true,
            "first_seen": ["source.network"],
            "rate": {"spike": true},
            "bulk_access": false,
        }}});
        assert_eq!(
            deviations(&e),
            ["unusual hour", "first seen: source.network", "rate spike"]
        );
    }
}
