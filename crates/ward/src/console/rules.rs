//! Rules: each loaded rule with its file and line, status, level, log
//! source, whether an event of that log source came in the last 24 hours
//! (the coverage of [`crate::detect::coverage`]), and its alerts in the
//! caller's tenant: how many, how many still firing, when it last fired
//! and its noise (the false-positive share of its alerts closed with a
//! verdict). Then what did not load, with file and line, and the silences
//! the caller sees.

use std::collections::HashMap;

use askama::Template;
use axum::Extension;
use axum::extract::{Query, State};
use axum::response::Response;
use jiff::Timestamp;
use serde::Deserialize;
use ward_alert::Alert;
use ward_alert::alert::{Resolution, Status};

use super::ConsoleState;
use super::page::{Chrome, Select, render, status_for, when};
use super::queue::Params;
use crate::access::guard::SessionCsrf;
use crate::access::{Caller, Permission};
use crate::detect::coverage::{LoadError, RuleEntry};

/// The coverage window: a detection rule without an event of its log
/// source in it is blind.
const WINDOW_MS: i64 = 86_400_000;
/// Most rules one page lists.
pub const MAX_ROWS: usize = 1000;
/// A rule is noisy when at least this share of its verdicts are false
/// positives.
pub const NOISY: f64 = 0.5;

/// The filters, as the form sends them (empty means any).
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RulesParams {
    /// `firing`, `blind`, `noisy`, `errors` or empty.
    pub status: String,
    /// Text looked for (any case) in id, title, file, log source, level
    /// and status; in errors and silences too.
    pub q: String,
}

/// A rule's alerts in the caller's tenant.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Counts {
    pub alerts: u64,
    pub firing: u64,
    pub closed: u64,
    /// Closed with a verdict, and of those as false positive.
    pub verdicts: u64,
    pub false_positives: u64,
    pub last: Option<Timestamp>,
}

impl Counts {
    fn add(&mut self, a: &Alert) {
        self.alerts += 1;
        if a.status == Status::Resolved {
            self.closed += 1;
        } else {
            self.firing += 1;
        }
        if let Some(r) = a.resolution {
            self.verdicts += 1;
            if r == Resolution::FalsePositive {
                self.false_positives += 1;
            }
        }
        let at = a.last_seen.parse::<Timestamp>().unwrap_or(a.updated_at);
        self.last = Some(self.last.map_or(at, |l| l.max(at)));
    }

    /// The false-positive share of the verdicts, None without verdicts.
    pub fn noise(&self) -> Option<f64> {
        (self.verdicts > 0).then(|| self.false_positives as f64 / self.verdicts as f64)
    }

    pub fn noisy(&self) -> bool {
        self.noise().is_some_and(|n| n >= NOISY)
    }
}

/// The alerts of each rule id that the caller sees.
pub fn counts(st: &ConsoleState, caller: &Caller) -> HashMap<String, Counts> {
    let mut out: HashMap<String, Counts> = HashMap::new();
    st.alerts.engine.each_alert(|a| {
        if crate::api::alerts::visible(caller, a) {
            out.entry(a.rule_id.clone()).or_default().add(a);
        }
    });
    out
}

/// One rule of the page.
pub struct Row {
    pub rule: RuleEntry,
    /// `file:line`.
    pub origin: String,
    /// `data`, `blind` or empty (correlations).
    pub data: &'static str,
    pub alerts: u64,
    pub firing: u64,
    pub last: String,
    pub noise: String,
    pub noisy: bool,
    /// The queue filtered by this rule.
    pub queue: String,
}

/// One silence of the page.
pub struct SilenceRow {
    pub id: String,
    pub state: &'static str,
    pub matchers: String,
    pub created_by: String,
    pub comment: String,
    pub starts: String,
    pub ends: String,
    /// The caller's alerts of the last 7 days it matches (the preview of
    /// "silence from this alert").
    pub matches: usize,
}

#[derive(Template)]
#[template(path = "rules.html")]
struct RulesPage {
    chrome: Chrome,
    p: RulesParams,
    selects: Vec<Select>,
    rows: Vec<Row>,
    total: usize,
    loaded: usize,
    blind: usize,
    errors: Vec<LoadError>,
    show_rules: bool,
    can_silences: bool,
    silences: Vec<SilenceRow>,
    error: String,
}

const STATUSES: [(&str, &str); 5] = [
    ("", "any"),
    ("firing", "firing (open or acknowledged alerts)"),
    ("blind", "blind (no data of its log source in 24 h)"),
    ("noisy", "noisy (half or more false positives)"),
    ("errors", "load errors only"),
];

fn text_matches(needle: &str, hay: &[&str]) -> bool {
    needle.is_empty() || hay.iter().any(|h| h.to_lowercase().contains(needle))
}

/// Whether a rule passes the status filter.
fn wanted(status: &str, seen: Option<bool>, c: &Counts) -> bool {
    match status {
        "firing" => c.firing > 0,
        "blind" => seen == Some(false),
        "noisy" => c.noisy(),
        "errors" => false,
        _ => true,
    }
}

fn row(e: &RuleEntry, seen: Option<bool>, c: &Counts) -> Row {
    let noise = match c.noise() {
        None if c.closed == 0 => "none closed".to_owned(),
        None => format!("{} closed, no verdicts", c.closed),
        Some(n) => format!(
            "{:.0}% false positive ({} of {} verdicts)",
            n * 100.0,
            c.false_positives,
            c.verdicts
        ),
    };
    let origin = if e.line > 0 {
        format!("{}:{}", e.origin, e.line)
    } else {
        e.origin.clone()
    };
    Row {
        queue: format!(
            "/console/alerts?{}",
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("rule", &e.id)
                .finish()
        ),
        rule: e.clone(),
        origin,
        data: match seen {
            Some(true) => "data",
            Some(false) => "blind",
            None => "",
        },
        alerts: c.alerts,
        firing: c.firing,
        last: c.last.map(when).unwrap_or_default(),
        noise,
        noisy: c.noisy(),
    }
}

/// `GET /console/rules`
pub async fn page(
    State(st): State<ConsoleState>,
    caller: Caller,
    csrf: Option<Extension<SessionCsrf>>,
    q: Params<RulesParams>,
) -> Response {
    let (p, mut error) = match q {
        Ok(Query(p)) => (p, String::new()),
        Err(e) => (RulesParams::default(), e.body_text()),
    };
    if !STATUSES.iter().any(|(v, _)| *v == p.status) {
        error = "status must be firing, blind, noisy or errors".into();
    }
    let needle = p.q.trim().to_lowercase();
    let now = jiff::Timestamp::now().as_millisecond();
    let catalog = st
        .health
        .detect
        .coverage
        .catalog(caller.tenant_scope(), WINDOW_MS, now);
    let loaded = catalog.rules.len();
    let blind = catalog
        .rules
        .iter()
        .filter(|(_, s)| *s == Some(false))
        .count();
    let (mut rows, mut total, mut errors, mut silences) = (Vec::new(), 0, Vec::new(), Vec::new());
    let can_silences = caller.can(Permission::SilencesRead);
    if error.is_empty() {
        let counts = counts(&st, &caller);
        let none = Counts::default();
        let mut matching: Vec<Row> = catalog
            .rules
            .iter()
            .filter(|(e, _)| {
                text_matches(
                    &needle,
                    &[
                        &e.id,
                        &e.title,
                        &e.origin,
                        &e.logsource,
                        &e.level,
                        &e.status,
                    ],
                )
            })
            .filter_map(|(e, seen)| {
                let c = counts.get(&e.id).unwrap_or(&none);
                wanted(&p.status, *seen, c).then(|| row(e, *seen, c))
            })
            .collect();
        // The rules with the most alerts first, then by file and line.
        matching.sort_by_key(|r| std::cmp::Reverse(r.alerts));
        total = matching.len();
        matching.truncate(MAX_ROWS);
        rows = matching;
        if p.status.is_empty() || p.status == "errors" {
            errors = catalog
                .errors
                .into_iter()
                .filter(|e| text_matches(&needle, &[&e.origin, &e.reason]))
                .collect();
        }
        if can_silences && p.status.is_empty() {
            let views: Vec<_> = st
                .alerts
                .engine
                .silences()
                .into_iter()
                .filter(|v| crate::api::silences::visible(&caller, &v.silence))
                .collect();
            let sets: Vec<_> = views.iter().map(|v| v.silence.matchers.clone()).collect();
            let matches = super::detail::suppressed(&st, &caller, &sets, st.alerts.engine.now());
            silences = views
                .into_iter()
                .zip(matches)
                .map(|(v, matches)| {
                    let s = v.silence;
                    let matchers: Vec<String> = s
                        .matchers
                        .iter()
                        .map(|m| format!("{}{}{:?}", m.name, m.op.as_str(), m.value))
                        .collect();
                    SilenceRow {
                        id: s.id,
                        state: match v.state {
                            ward_alert::alert::silence::SilenceState::Pending => "pending",
                            ward_alert::alert::silence::SilenceState::Active => "active",
                            ward_alert::alert::silence::SilenceState::Expired => "expired",
                        },
                        matchers: matchers.join(", "),
                        created_by: s.created_by,
                        comment: s.comment,
                        starts: when(s.starts_at),
                        ends: when(s.ends_at),
                        matches,
                    }
                })
                .filter(|r| text_matches(&needle, &[&r.matchers, &r.created_by, &r.comment]))
                .collect();
        }
    }
    let csrf = csrf.map(|Extension(c)| c);
    render(
        status_for(&error),
        &RulesPage {
            chrome: Chrome::new(&st, &caller, csrf.as_ref(), "rules"),
            selects: vec![Select::new("status", "Show", &STATUSES, &p.status)],
            show_rules: p.status != "errors",
            p,
            rows,
            total,
            loaded,
            blind,
            errors,
            can_silences,
            silences,
            error,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_is_the_false_positive_share_of_verdicts() {
        let mut c = Counts::default();
        assert_eq!(c.noise(), None);
        assert!(!c.noisy());
        c.verdicts = 3;
        c.false_positives = 1;
        assert!(!c.noisy());
        c.false_positives = 2;
        assert!(c.noisy());
        assert!(wanted("noisy", Some(true), &c));
        assert!(!wanted("firing", Some(true), &c));
        assert!(wanted("blind", Some(false), &c));
        assert!(!wanted("blind", None, &c), "a correlation is never blind");
        assert!(!wanted("errors", None, &c));
    }
}
