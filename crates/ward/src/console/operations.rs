//! Operations: the event store (records, segments, the signed checkpoint
//! and the unsigned tail), detection lag, what keeps Ward from being ready,
//! the sources seen in the last 24 hours with their counts (of the
//! caller's tenant), the response figures per team and severity (MTTA,
//! MTTR, SLA compliance of the caller's alerts, for `alerts:read`) and the
//! compliance posture (the scores and the failing controls of
//! `/api/v1/compliance`, for `compliance:read`).

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

/// Response figures of one team and severity (`*`: all).
pub struct ResponseRow {
    pub team: String,
    pub severity: String,
    pub alerts: u64,
    pub open: u64,
    pub mtta: String,
    pub mttr: String,
    pub sla: String,
}

/// A framework's score.
pub struct FrameworkRow {
    pub title: String,
    pub version: String,
    pub score: String,
    pub coverage: String,
    pub states: String,
}

/// A control that does not pass.
pub struct ControlRow {
    pub id: String,
    pub title: String,
    pub state: &'static str,
    pub reason: String,
}

/// What the caller may see of the compliance posture.
pub enum Posture {
    /// No `compliance:read`.
    Hidden,
    /// `compliance.enabled = false`.
    Off,
    Shown {
        frameworks: Vec<FrameworkRow>,
        failing: Vec<ControlRow>,
        /// Controls not passing beyond those listed.
        more: usize,
    },
}

/// Controls not passing listed on the page.
const MAX_FAILING: usize = 50;

#[derive(Template)]
#[template(path = "operations.html")]
struct OperationsPage {
    chrome: Chrome,
    store: Vec<Fact>,
    problems: Vec<(String, String)>,
    sources: Vec<SourceRow>,
    sources_error: String,
    /// None without `alerts:read`.
    response: Option<Vec<ResponseRow>>,
    posture: Posture,
}

/// A duration in seconds as the page shows it (`42s`, `5m 3s`, `2h 10m`,
/// `3d 4h`); `—` when there is none.
pub fn duration(secs: Option<f64>) -> String {
    let Some(s) = secs else {
        return "—".into();
    };
    let s = s.round().max(0.0) as u64;
    match s {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m {}s", s / 60, s % 60),
        s if s < 86_400 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        s => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// A share as a percentage with one decimal; `—` when there is none.
pub fn percent(share: Option<f64>) -> String {
    share.map_or_else(|| "—".into(), |v| format!("{:.1}%", v * 100.0))
}

fn response(st: &ConsoleState, caller: &crate::access::Principal) -> Vec<ResponseRow> {
    let mut stats = st
        .alerts
        .engine
        .response_stats_where(|a| crate::api::alerts::visible(caller, a));
    // Teams in name order, each with its total first; the overall last.
    let key = |s: &ward_alert::stats::ResponseStats| {
        (
            s.team == "*",
            s.team.clone(),
            s.severity != "*",
            s.severity.clone(),
        )
    };
    stats.sort_by_key(key);
    stats
        .into_iter()
        .map(|s| ResponseRow {
            team: if s.team == "*" {
                "all teams".into()
            } else {
                s.team
            },
            severity: if s.severity == "*" {
                "all".into()
            } else {
                s.severity
            },
            alerts: s.alerts,
            open: s.open,
            mtta: duration(s.mtta_seconds),
            mttr: duration(s.mttr_seconds),
            sla: percent(s.sla_compliance),
        })
        .collect()
}

fn posture(st: &ConsoleState) -> Posture {
    use crate::compliance::State;
    let Ok(live) = st.compliance.live() else {
        return Posture::Off;
    };
    let pack = live.compliance.pack();
    let results = live.compliance.results(jiff::Timestamp::now());
    let frameworks = crate::compliance::scores(pack, &results)
        .into_iter()
        .map(|f| FrameworkRow {
            states: f
                .states
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(s, n)| format!("{n} {s}"))
                .collect::<Vec<_>>()
                .join(", "),
            score: percent(f.score),
            coverage: percent(Some(f.coverage)),
            title: f.title,
            version: f.version,
        })
        .collect();
    let mut failing: Vec<ControlRow> = results
        .into_iter()
        .filter(|r| matches!(r.state, State::Fail | State::Error | State::Unknown))
        .map(|r| ControlRow {
            state: r.state.as_str(),
            id: r.id,
            title: r.title,
            reason: r.reason,
        })
        .collect();
    // Failures first, then errors, then unknown; by id within each.
    let rank = |s: &str| match s {
        "fail" => 0,
        "error" => 1,
        _ => 2,
    };
    failing.sort_by(|a, b| {
        rank(a.state)
            .cmp(&rank(b.state))
            .then_with(|| a.id.cmp(&b.id))
    });
    let more = failing.len().saturating_sub(MAX_FAILING);
    failing.truncate(MAX_FAILING);
    Posture::Shown {
        frameworks,
        failing,
        more,
    }
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
    let response = caller
        .can(crate::access::Permission::AlertsRead)
        .then(|| response(&st, &caller));
    let posture = if caller.can(crate::access::Permission::ComplianceRead) {
        posture(&st)
    } else {
        Posture::Hidden
    };
    let csrf = csrf.map(|Extension(c)| c);
    render(
        StatusCode::OK,
        &OperationsPage {
            chrome: Chrome::new(&st, &caller, csrf.as_ref(), "operations"),
            store,
            problems,
            sources,
            sources_error,
            response,
            posture,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_shares_read_as_people_write_them() {
        assert_eq!(duration(None), "—");
        assert_eq!(duration(Some(42.4)), "42s");
        assert_eq!(duration(Some(303.0)), "5m 3s");
        assert_eq!(duration(Some(7800.0)), "2h 10m");
        assert_eq!(duration(Some(3.0 * 86_400.0 + 4.0 * 3600.0)), "3d 4h");
        assert_eq!(percent(Some(0.9354)), "93.5%");
        assert_eq!(percent(None), "—");
    }
}
