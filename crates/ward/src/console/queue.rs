//! The alert queue: filters (status, severity, rule, owner), sort, the SLA
//! deadline of each alert, and a stream (`/console/live`) that tells the
//! page when the caller's alerts change.

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
    pub sort: String,
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
}

#[derive(Template)]
#[template(path = "queue.html")]
struct QueuePage {
    chrome: Chrome,
    p: QueueParams,
    selects: Vec<Select>,
    rows: Vec<Row>,
    total: usize,
    error: String,
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

/// `GET /console/alerts` (and `/` for a browser).
pub async fn page(
    State(st): State<ConsoleState>,
    caller: Caller,
    csrf: Option<Extension<SessionCsrf>>,
    q: Params<QueueParams>,
) -> Response {
    let (p, mut error) = match q {
        Ok(Query(p)) => (p, String::new()),
        Err(e) => (QueueParams::default(), e.body_text()),
    };
    let mut rows = Vec::new();
    let mut total = 0;
    match filter(&p) {
        Ok(f) if error.is_empty() => {
            let mut alerts: Vec<Alert> = st
                .alerts
                .engine
                .alerts(&f)
                .into_iter()
                .filter(|a| visible(&caller, a))
                .collect();
            sort(&mut alerts, &p.sort);
            total = alerts.len();
            let now = st.alerts.engine.now();
            rows = alerts.iter().take(MAX_ROWS).map(|a| row(a, now)).collect();
        }
        Ok(_) => {}
        Err(e) => error = e,
    }
    let csrf = csrf.map(|Extension(c)| c);
    render(
        status_for(&error),
        &QueuePage {
            chrome: Chrome::new(&caller, csrf.as_ref(), "alerts"),
            selects: selects(&p),
            p,
            rows,
            total,
            error,
        },
    )
}

fn row(a: &Alert, now: Timestamp) -> Row {
    let (sla, sla_class) = sla(a, now);
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
