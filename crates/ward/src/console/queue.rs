//! The alert queue: filters (status, severity, rule, owner, assignee),
//! sort, grouping by rule or entity, the SLA deadline of each alert
//! (counting down in the page), bulk actions by selection or by the
//! filter ([`bulk`]), saved views per person ([`save_view`]), and a stream
//! (`/console/live`) that tells the page when the caller's alerts change.

use std::convert::Infallible;
use std::time::Duration;

use askama::Template;
use axum::Extension;
use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde::Deserialize;
use ward_alert::{Alert, AlertFilter, Severity, Status};

use super::ConsoleState;
use super::page::{Chrome, Select, render, status_for};
use crate::access::Caller;
use crate::access::guard::SessionCsrf;
use crate::api::alerts::visible;

/// Most alerts one page lists.
pub const MAX_ROWS: usize = 500;
/// Most alerts a listing considers (the newest; the engine's own bound).
pub const MAX_CONSIDERED: usize = 10_000;
/// How often the live stream looks for changes.
const LIVE_EVERY: Duration = Duration::from_secs(2);
/// Longest one live stream stays open; the browser reconnects.
const LIVE_FOR: Duration = Duration::from_secs(600);

/// The queue's filters, as the form sends them (empty means any).
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueueParams {
    pub status: String,
    pub severity: String,
    pub rule: String,
    pub owner: String,
    pub assignee: String,
    pub sort: String,
    /// ``, `rule` or `entity`.
    pub group: String,
    /// What a bulk action did (`closed-12`), shown once after it.
    pub done: String,
}

impl QueueParams {
    /// The filters as a query string (for links, saved views and the bulk
    /// form), without empty ones.
    pub fn query(&self) -> String {
        let mut u = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("status", &self.status),
            ("severity", &self.severity),
            ("rule", &self.rule),
            ("owner", &self.owner),
            ("assignee", &self.assignee),
            ("sort", &self.sort),
            ("group", &self.group),
        ] {
            if !v.is_empty() {
                u.append_pair(k, v);
            }
        }
        u.finish()
    }

    /// [`QueueParams::query`] with what a bulk action did.
    pub fn query_with_done(&self) -> String {
        let q = self.query();
        let done = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("done", &self.done)
            .finish();
        if q.is_empty() {
            done
        } else {
            format!("{q}&{done}")
        }
    }
}

/// One line of the queue.
pub struct Row {
    pub id: String,
    pub title: String,
    pub severity: &'static str,
    pub status: &'static str,
    pub owner: String,
    pub assignee: String,
    pub count: u64,
    pub last_seen: String,
    pub sla: String,
    pub sla_class: &'static str,
    /// `ack` or `resolve`, and when (Unix seconds), for the countdown;
    /// empty and 0 once resolved.
    pub sla_what: &'static str,
    pub sla_at: i64,
}

/// Alerts under one heading (one group for an ungrouped queue).
pub struct Group {
    pub name: String,
    pub total: usize,
    pub rows: Vec<Row>,
}

#[derive(Template)]
#[template(path = "queue.html")]
struct QueuePage {
    chrome: Chrome,
    p: QueueParams,
    selects: Vec<Select>,
    groups: Vec<Group>,
    shown: usize,
    total: usize,
    error: String,
    flash: String,
    views: Vec<super::prefs::Saved>,
    can_respond: bool,
}

fn selects(p: &QueueParams) -> Vec<Select> {
    vec![
        Select::new(
            "status",
            "Status",
            &[
                ("", "any"),
                ("firing", "firing (open or acknowledged)"),
                ("open", "open"),
                ("acknowledged", "acknowledged"),
                ("resolved", "resolved"),
            ],
            &p.status,
        ),
        Select::new(
            "severity",
            "Severity",
            &[
                ("", "any"),
                ("critical", "critical"),
                ("high", "high"),
                ("medium", "medium"),
                ("low", "low"),
                ("informational", "informational"),
            ],
            &p.severity,
        ),
        Select::new(
            "sort",
            "Sort",
            &[
                ("severity", "severity"),
                ("newest", "newest"),
                ("deadline", "SLA deadline"),
            ],
            &p.sort,
        ),
        Select::new(
            "group",
            "Group by",
            &[("", "nothing"), ("rule", "rule"), ("entity", "entity")],
            &p.group,
        ),
    ]
}

/// The next deadline of an alert and how it stands: `ack due in 12m`,
/// `resolve overdue by 3h`.
pub fn sla(a: &Alert, now: Timestamp) -> (String, &'static str) {
    let (what, at) = match a.status {
        Status::Open => ("ack", a.ack_deadline),
        Status::Acknowledged => ("resolve", a.resolve_deadline),
        Status::Resolved => return ("done".into(), "sla-done"),
    };
    let left = at.as_second() - now.as_second();
    if left < 0 {
        (format!("{what} overdue by {}", span(-left)), "sla-overdue")
    } else if left < 15 * 60 {
        (format!("{what} due in {}", span(left)), "sla-soon")
    } else {
        (format!("{what} due in {}", span(left)), "sla-ok")
    }
}

/// A duration in seconds, roughly: `45s`, `12m`, `3h 5m`, `2d 4h`.
pub fn span(s: i64) -> String {
    match s {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        s => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
    }
}

fn filter(p: &QueueParams) -> Result<AlertFilter, String> {
    let some = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
    if !p.status.is_empty() && Status::parse(&p.status).is_none() && p.status != "firing" {
        return Err("status must be open, acknowledged, resolved or firing".into());
    }
    if !p.severity.is_empty() && Severity::parse(&p.severity).is_none() {
        return Err("severity must be informational, low, medium, high or critical".into());
    }
    if !["", "severity", "newest", "deadline"].contains(&p.sort.as_str()) {
        return Err("sort must be severity, newest or deadline".into());
    }
    if !["", "rule", "entity"].contains(&p.group.as_str()) {
        return Err("group must be rule or entity".into());
    }
    Ok(AlertFilter {
        status: some(&p.status),
        severity: some(&p.severity),
        rule: some(&p.rule),
        owner: some(&p.owner),
        limit: Some(MAX_CONSIDERED),
    })
}

fn next_deadline(a: &Alert) -> i64 {
    match a.status {
        Status::Open => a.ack_deadline.as_second(),
        Status::Acknowledged => a.resolve_deadline.as_second(),
        Status::Resolved => i64::MAX,
    }
}

fn sort(alerts: &mut [Alert], by: &str) {
    match by {
        "newest" => alerts.sort_by_key(|a| std::cmp::Reverse(a.created_at)),
        "deadline" => alerts.sort_by_key(next_deadline),
        _ => alerts.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then_with(|| b.last_seen.cmp(&a.last_seen))
        }),
    }
}

/// The query of a console page, or why it is refused.
pub(crate) type Params<T> = Result<Query<T>, axum::extract::rejection::QueryRejection>;

/// The caller's alerts that a queue's filters match, sorted; at most
/// [`MAX_CONSIDERED`].
pub(crate) fn matching(
    st: &ConsoleState,
    caller: &Caller,
    p: &QueueParams,
) -> Result<Vec<Alert>, String> {
    let f = filter(p)?;
    let assignee = p.assignee.trim();
    let mut alerts: Vec<Alert> = st
        .alerts
        .engine
        .alerts(&f)
        .into_iter()
        .filter(|a| visible(caller, a))
        .filter(|a| assignee.is_empty() || a.assignee.as_deref().unwrap_or("none") == assignee)
        .collect();
    sort(&mut alerts, &p.sort);
    Ok(alerts)
}

/// The labels that name an alert's entity, most telling first.
const ENTITY_LABELS: [&str; 10] = [
    "user.name",
    "user",
    "host.name",
    "host",
    "source.ip",
    "ai.tool.name",
    "service.name",
    "service",
    "user.id",
    "destination.ip",
];

/// The entity an alert is about (`user.name=alice`), from its group key
/// first, then its labels.
pub fn entity_of(a: &Alert) -> Option<String> {
    [&a.group_key, &a.labels].into_iter().find_map(|m| {
        ENTITY_LABELS.iter().find_map(|k| {
            m.get(*k)
                .filter(|v| !v.is_empty())
                .map(|v| format!("{k}={v}"))
        })
    })
}

/// Puts sorted alerts under headings, keeping their order within each
/// and ordering the groups by their first alert; at most [`MAX_ROWS`]
/// rows in all.
fn grouped(alerts: &[Alert], by: &str, now: Timestamp) -> (Vec<Group>, usize) {
    let name = |a: &Alert| match by {
        "rule" => format!("{} ({})", a.rule_title, a.rule_id),
        "entity" => entity_of(a).unwrap_or_else(|| "no entity".into()),
        _ => String::new(),
    };
    let mut groups: Vec<Group> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = Default::default();
    let mut shown = 0;
    for a in alerts {
        let n = name(a);
        let i = *index.entry(n.clone()).or_insert_with(|| {
            groups.push(Group {
                name: n,
                total: 0,
                rows: Vec::new(),
            });
            groups.len() - 1
        });
        groups[i].total += 1;
        if shown < MAX_ROWS {
            groups[i].rows.push(row(a, now));
            shown += 1;
        }
    }
    (groups, shown)
}

/// What a bulk action did, from `done` (`closed-12`): shown as text.
pub(crate) fn done_text(done: &str) -> String {
    let Some((what, n)) = done.split_once('-') else {
        return String::new();
    };
    let Ok(n) = n.parse::<usize>() else {
        return String::new();
    };
    let what = match what {
        "acknowledged" => "Acknowledged",
        "assigned" => "Assigned",
        "closed" => "Closed",
        _ => return String::new(),
    };
    format!("{what} {n} alert{}.", if n == 1 { "" } else { "s" })
}

/// Renders the queue for `p`, with a message about the last action.
pub(crate) fn show(
    st: &ConsoleState,
    caller: &Caller,
    csrf: Option<Extension<SessionCsrf>>,
    p: QueueParams,
    mut error: String,
    mut flash: String,
) -> Response {
    let mut groups = Vec::new();
    let (mut total, mut shown) = (0, 0);
    // A refused action still shows the queue it was sent from.
    match matching(st, caller, &p) {
        Ok(alerts) => {
            total = alerts.len();
            (groups, shown) = grouped(&alerts, &p.group, st.alerts.engine.now());
        }
        Err(e) if error.is_empty() => error = e,
        Err(_) => {}
    }
    if flash.is_empty() {
        flash = done_text(&p.done);
    }
    let csrf = csrf.map(|Extension(c)| c);
    render(
        status_for(&error),
        &QueuePage {
            chrome: Chrome::new(st, caller, csrf.as_ref(), "alerts"),
            selects: selects(&p),
            p,
            groups,
            shown,
            total,
            error,
            flash,
            views: st.prefs.get(caller).views,
            can_respond: caller.can(crate::access::Permission::AlertsRespond),
        },
    )
}

/// `GET /console/alerts` (and `/` for a browser).
pub async fn page(
    State(st): State<ConsoleState>,
    caller: Caller,
    csrf: Option<Extension<SessionCsrf>>,
    q: Params<QueueParams>,
) -> Response {
    let (p, error) = match q {
        Ok(Query(p)) => (p, String::new()),
        Err(e) => (QueueParams::default(), e.body_text()),
    };
    show(&st, &caller, csrf, p, error, String::new())
}

fn row(a: &Alert, now: Timestamp) -> Row {
    let (sla, sla_class) = sla(a, now);
    let (sla_what, sla_at) = match a.status {
        Status::Open => ("ack", a.ack_deadline.as_second()),
        Status::Acknowledged => ("resolve", a.resolve_deadline.as_second()),
        Status::Resolved => ("", 0),
    };
    Row {
        id: a.id.clone(),
        title: a.rule_title.clone(),
        severity: a.severity.as_str(),
        status: a.status.as_str(),
        owner: a.owner.clone().unwrap_or_default(),
        assignee: a.assignee.clone().unwrap_or_default(),
        count: a.count,
        last_seen: a.last_seen.clone(),
        sla,
        sla_class,
        sla_what,
        sla_at,
    }
}

/// What the live stream compares: how many alerts the caller sees and
/// when the latest of them changed.
fn fingerprint(st: &ConsoleState, caller: &Caller) -> String {
    let alerts = st.alerts.engine.alerts(&AlertFilter::default());
    let mine = alerts.iter().filter(|a| visible(caller, a));
    let (n, latest) = mine.fold((0usize, None), |(n, l): (usize, Option<Timestamp>), a| {
        (n + 1, Some(l.map_or(a.updated_at, |l| l.max(a.updated_at))))
    });
    format!("{n}-{}", latest.map(|t| t.as_millisecond()).unwrap_or(0))
}

/// `GET /console/live`: server-sent events; an `alerts` event each time
/// the caller's alerts change (new, updated, acted on). Ends after
/// [`LIVE_FOR`] or when Ward stops; the browser reconnects by itself.
pub async fn live(State(st): State<ConsoleState>, caller: Caller) -> impl IntoResponse {
    let stopping = st.alerts.engine.shared.stopping();
    let until = tokio::time::Instant::now() + LIVE_FOR;
    let start = fingerprint(&st, &caller);
    let stream = futures_util::stream::unfold(start, move |last| {
        let (st, caller) = (st.clone(), caller.clone());
        let mut stopping = stopping.clone();
        async move {
            let mut tick =
                tokio::time::interval_at(tokio::time::Instant::now() + LIVE_EVERY, LIVE_EVERY);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = tokio::time::sleep_until(until) => return None,
                    _ = stopping.wait_for(|s| *s) => return None,
                }
                let now = fingerprint(&st, &caller);
                if now != last {
                    let ev = Event::default().event("alerts").data(now.clone());
                    return Some((Ok::<_, Infallible>(ev), now));
                }
            }
        }
    });
    super::secure(
        Sse::new(stream)
            .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
            .into_response(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_as_people_say_them() {
        assert_eq!(span(45), "45s");
        assert_eq!(span(12 * 60 + 5), "12m");
        assert_eq!(span(3 * 3600 + 5 * 60), "3h 5m");
        assert_eq!(span(2 * 86_400 + 4 * 3600), "2d 4h");
    }

    #[test]
    fn bad_filters_are_named() {
        let p = |status: &str, severity: &str, sort: &str| QueueParams {
            status: status.into(),
            severity: severity.into(),
            sort: sort.into(),
            ..QueueParams::default()
        };
        assert!(filter(&p("open", "high", "deadline")).is_ok());
        assert!(filter(&p("opened", "", "")).unwrap_err().contains("status"));
        assert!(
            filter(&p("", "urgent", ""))
                .unwrap_err()
                .contains("severity")
        );
        assert!(filter(&p("", "", "random")).unwrap_err().contains("sort"));
    }
}
