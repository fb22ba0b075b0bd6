//! One alert: its rule (title, description, level, tags, runbook), SLA
//! deadlines, labels, evidence, comments and history, and the analyst's
//! actions (acknowledge, assign, comment, resolve with a verdict and a
//! reason, silence from this alert). Each evidence event's Merkle
//! inclusion proof is built and checked here, on the server, against the
//! signed checkpoint with the store's public key
//! ([`ward_store::verify_inclusion`]); the page says "verified" or "NOT
//! verified" and why.

use std::collections::HashMap;

use askama::Template;
use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde_json::Value;
use ward_alert::alert::matcher::MatchOp;
use ward_alert::alert::silence::{MatcherInput, MatcherSpec, NewSilence};
use ward_alert::{Alert, Resolution};

use super::ConsoleState;
use super::page::{Chrome, Failure, render, when};
use super::queue::sla;
use crate::access::guard::SessionCsrf;
use crate::access::{Caller, Permission, Principal};
use crate::api::ApiError;
use crate::api::alerts::visible;

/// Most evidence events proved and shown on the page.
pub const MAX_EVIDENCE_SHOWN: usize = 25;
/// Largest form a console action takes.
const MAX_FORM: usize = 64 * 1024;
/// How far back "silence from this alert" previews what it would have
/// suppressed.
const PREVIEW_DAYS: i64 = 7;

/// One evidence event and the check of its inclusion proof.
pub struct Evidence {
    pub id: String,
    pub time: String,
    pub summary: String,
    pub verified: bool,
    pub why: String,
}

/// One line of history or one comment.
pub struct Entry {
    pub at: String,
    pub who: String,
    pub text: String,
}

#[derive(Template)]
#[template(path = "alert.html")]
struct AlertPage {
    chrome: Chrome,
    a: View,
    evidence: Vec<Evidence>,
    flash: String,
    error: String,
    can_respond: bool,
    can_silence: bool,
}

/// What the template shows of an alert, already turned into text.
struct View {
    id: String,
    title: String,
    description: String,
    rule_id: String,
    severity: &'static str,
    status: &'static str,
    resolution: String,
    tags: Vec<String>,
    runbook: String,
    runbook_url: String,
    owner: String,
    assignee: String,
    acknowledged_by: String,
    resolved_by: String,
    count: u64,
    first_seen: String,
    last_seen: String,
    ack_deadline: String,
    resolve_deadline: String,
    sla: String,
    sla_class: &'static str,
    breaches: String,
    /// Name, value and, for an entity, its timeline.
    labels: Vec<(String, String, String)>,
    comments: Vec<Entry>,
    history: Vec<Entry>,
    evidence_total: usize,
    preview: usize,
}

fn resolution_name(r: Resolution) -> &'static str {
    match r {
        Resolution::TruePositive => "true positive",
        Resolution::FalsePositive => "false positive",
        Resolution::Benign => "benign",
    }
}

/// A runbook is linked only when it is an http(s) address; anything else
/// is shown as text.
fn runbook_url(r: &str) -> String {
    let r = r.trim();
    match url::Url::parse(r) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => u.to_string(),
        _ => String::new(),
    }
}

fn view(a: &Alert, now: Timestamp, preview: usize) -> View {
    let (sla, sla_class) = sla(a, now);
    let runbook = a.runbook.clone().unwrap_or_default();
    View {
        id: a.id.clone(),
        title: a.rule_title.clone(),
        description: a.description.clone(),
        rule_id: a.rule_id.clone(),
        severity: a.severity.as_str(),
        status: a.status.as_str(),
        resolution: a.resolution.map(resolution_name).unwrap_or("").into(),
        tags: a.tags.clone(),
        runbook_url: runbook_url(&runbook),
        runbook,
        owner: a.owner.clone().unwrap_or_default(),
        assignee: a.assignee.clone().unwrap_or_default(),
        acknowledged_by: a.acknowledged_by.clone().unwrap_or_default(),
        resolved_by: a.resolved_by.clone().unwrap_or_default(),
        count: a.count,
        first_seen: a.first_seen.clone(),
        last_seen: a.last_seen.clone(),
        ack_deadline: when(a.ack_deadline),
        resolve_deadline: when(a.resolve_deadline),
        sla,
        sla_class,
        breaches: a.sla_breaches.join(", "),
        labels: a
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone(), super::entity::link(k, v)))
            .collect(),
        comments: a
            .comments
            .iter()
            .map(|c| Entry {
                at: when(c.at),
                who: c.author.clone(),
                text: c.text.clone(),
            })
            .collect(),
        history: a
            .history
            .iter()
            .rev()
            .map(|h| Entry {
                at: when(h.at),
                who: h.actor.clone(),
                text: h.action.clone(),
            })
            .collect(),
        evidence_total: a.evidence.len(),
        preview,
    }
}

/// A short line about an event: what happened, to whom, from where.
pub(crate) fn summary(e: &Value) -> String {
    let field = |path: &str| {
        path.split('.')
            .try_fold(e, |v, k| v.get(k))
            .and_then(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Null => None,
                other => Some(other.to_string()),
            })
    };
    let parts: Vec<String> = [
        "event.action",
        "event.outcome",
        "user.name",
        "source.ip",
        "host.name",
        "message",
    ]
    .iter()
    .filter_map(|f| field(f).map(|v| format!("{f}={v}")))
    .collect();
    let mut s = parts.join(" ");
    if s.len() > 300 {
        let cut = (0..=300)
            .rev()
            .find(|i| s.is_char_boundary(*i))
            .unwrap_or(0);
        s.truncate(cut);
        s.push('…');
    }
    s
}

/// Proves each shown evidence event against the signed checkpoint.
async fn evidence(st: &ConsoleState, caller: &Principal, a: &Alert) -> Vec<Evidence> {
    let ids: Vec<String> = a
        .evidence
        .iter()
        .take(MAX_EVIDENCE_SHOWN)
        .cloned()
        .collect();
    let store = st.events.store.clone();
    let caller = caller.clone();
    let checked = tokio::task::spawn_blocking(move || {
        let key = store.public_key();
        ids.into_iter()
            .map(|id| prove(&store, &key, &caller, id))
            .collect::<Vec<_>>()
    })
    .await;
    checked.unwrap_or_default()
}

pub(crate) fn prove(
    store: &ward_store::Store,
    key: &str,
    caller: &Principal,
    id: String,
) -> Evidence {
    let mut ev = Evidence {
        id: id.clone(),
        time: String::new(),
        summary: String::new(),
        verified: false,
        why: String::new(),
    };
    let rec = match store.get(&id) {
        Ok(Some(r)) => r,
        Ok(None) => {
            ev.why = "not in the store".into();
            return ev;
        }
        Err(e) => {
            tracing::warn!(error = %e, "evidence could not be read");
            ev.why = "could not be read".into();
            return ev;
        }
    };
    let event: Value = serde_json::from_slice(&rec.body).unwrap_or(Value::Null);
    let tenant = event
        .pointer("/tenant/id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !caller.sees(tenant) {
        ev.why = "not visible to this tenant".into();
        return ev;
    }
    ev.time = event
        .get("@timestamp")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    ev.summary = summary(&event);
    match store.inclusion_proof(&id) {
        Ok(p) => match ward_store::verify_inclusion(&p, key) {
            Ok(()) => {
                ev.verified = true;
                ev.why = format!("leaf {} of signed tree size {}", p.leaf_index, p.tree_size);
                if !p.duplicate_offsets.is_empty() {
                    ev.why += &format!(
                        "; warning: {} other stored record(s) carry this event id (offsets {:?})",
                        p.duplicate_offsets.len(),
                        p.duplicate_offsets
                    );
                }
            }
            Err(e) => ev.why = format!("proof fails: {e}"),
        },
        Err(e) => ev.why = format!("no proof: {e}"),
    }
    ev
}

/// The matchers of "silence from this alert": its rule and group key.
fn silence_matchers(a: &Alert) -> Vec<MatcherSpec> {
    let mut m = vec![MatcherSpec {
        name: "rule_id".into(),
        op: MatchOp::Equal,
        value: a.rule_id.clone(),
    }];
    m.extend(a.group_key.iter().map(|(k, v)| MatcherSpec {
        name: k.clone(),
        op: MatchOp::Equal,
        value: v.clone(),
    }));
    m
}

/// How many of the caller's alerts of the last [`PREVIEW_DAYS`] days the
/// silence from `a` would have matched.
fn preview(st: &ConsoleState, caller: &Principal, a: &Alert, now: Timestamp) -> usize {
    suppressed(st, caller, &[silence_matchers(a)], now)[0]
}

/// For each set of silence matchers, how many of the caller's alerts
/// created in the last [`PREVIEW_DAYS`] days it matches (every alert is
/// looked at once, whatever the number of sets). A matcher that does not
/// compile is left out, as the alert engine refuses such a silence.
pub(super) fn suppressed(
    st: &ConsoleState,
    caller: &Principal,
    sets: &[Vec<MatcherSpec>],
    now: Timestamp,
) -> Vec<usize> {
    let compiled: Vec<Vec<_>> = sets
        .iter()
        .map(|set| {
            set.iter()
                .filter_map(|m| {
                    ward_alert::alert::matcher::Matcher::new(&m.name, m.op, &m.value).ok()
                })
                .collect()
        })
        .collect();
    let since = now.as_second() - PREVIEW_DAYS * 86_400;
    let mut counts = vec![0; sets.len()];
    st.alerts.engine.each_alert(|x| {
        if !visible(caller, x) || x.created_at.as_second() < since {
            return;
        }
        for (n, matchers) in counts.iter_mut().zip(&compiled) {
            if ward_alert::alert::matcher::all_match(matchers, &x.labels) {
                *n += 1;
            }
        }
    });
    counts
}

fn alert_for(st: &ConsoleState, caller: &Principal, id: &str) -> Result<Alert, Failure> {
    st.alerts
        .engine
        .alert(id)
        .filter(|a| visible(caller, a))
        .ok_or_else(|| Failure(ApiError::NotFound(format!("alert {id}"))))
}

/// Renders the page of alert `id` with a message about the last action.
async fn show(
    st: &ConsoleState,
    caller: &Caller,
    csrf: Option<Extension<SessionCsrf>>,
    id: &str,
    status: StatusCode,
    flash: String,
    error: String,
) -> Response {
    let a = match alert_for(st, caller, id) {
        Ok(a) => a,
        Err(f) => return f.into_response(),
    };
    let now = st.alerts.engine.now();
    let evidence = evidence(st, caller, &a).await;
    let csrf = csrf.map(|Extension(c)| c);
    render(
        status,
        &AlertPage {
            chrome: Chrome::new(st, caller, csrf.as_ref(), "alerts"),
            a: view(&a, now, preview(st, caller, &a, now)),
            evidence,
            flash,
            error,
            can_respond: caller.can(Permission::AlertsRespond),
            can_silence: caller.can(Permission::SilencesWrite),
        },
    )
}

/// `GET /console/alerts/{id}`
pub async fn page(
    State(st): State<ConsoleState>,
    caller: Caller,
    csrf: Option<Extension<SessionCsrf>>,
    Path(id): Path<String>,
) -> Response {
    show(
        &st,
        &caller,
        csrf,
        &id,
        StatusCode::OK,
        String::new(),
        String::new(),
    )
    .await
}

/// The fields of a console form: each named one at most once, nothing
/// else.
fn form(body: &Bytes, allowed: &[&str]) -> Result<HashMap<String, String>, String> {
    if body.len() > MAX_FORM {
        return Err(format!("the form is larger than {} KiB", MAX_FORM / 1024));
    }
    let mut out = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        if !allowed.contains(&k.as_ref()) {
            return Err(format!(
                "unexpected form field {:?} (expected {})",
                k.chars().take(40).collect::<String>(),
                allowed.join(", ")
            ));
        }
        if out.insert(k.into_owned(), v.into_owned()).is_some() {
            return Err("a form field is repeated".into());
        }
    }
    Ok(out)
}

fn required(f: &HashMap<String, String>, name: &str, what: &str) -> Result<String, String> {
    match f.get(name).map(|s| s.trim()) {
        Some(s) if !s.is_empty() => Ok(s.to_owned()),
        _ => Err(format!("{what} is required")),
    }
}

/// Runs one action on alert `id` and shows the alert with its outcome.
async fn act<F, Fut>(
    st: ConsoleState,
    caller: Caller,
    csrf: Option<Extension<SessionCsrf>>,
    id: String,
    body: Bytes,
    fields: &[&str],
    run: F,
) -> Response
where
    F: FnOnce(ConsoleState, Caller, HashMap<String, String>) -> Fut,
    Fut: std::future::Future<Output = Result<String, Failure>>,
{
    if let Err(f) = alert_for(&st, &caller, &id) {
        return f.into_response();
    }
    let outcome = match form(&body, fields) {
        Ok(f) => run(st.clone(), caller.clone(), f).await,
        Err(e) => Err(Failure(ApiError::BadRequest(e))),
    };
    match outcome {
        Ok(flash) => {
            show(
                &st,
                &caller,
                csrf,
                &id,
                StatusCode::OK,
                flash,
                String::new(),
            )
            .await
        }
        Err(Failure(e)) => {
            let message = e.to_string();
            let status = e.into_response().status();
            show(&st, &caller, csrf, &id, status, String::new(), message).await
        }
    }
}

fn bad(e: String) -> Failure {
    Failure(ApiError::BadRequest(e))
}

/// `POST /console/alerts/{id}/ack`
pub async fn ack(
    State(st): State<ConsoleState>,
    caller: Caller,
    csrf: Option<Extension<SessionCsrf>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let target = id.clone();
    act(
        st,
        caller,
        csrf,
        id,
        body,
        &[],
        |st, caller, _| async move {
            st.alerts
                .engine
                .acknowledge(&target, &caller.actor(), None)
                .await?;
            Ok("Acknowledged.".to_owned())
        },
    )
    .await
}

/// `POST /console/alerts/{id}/assign` (`assignee`)
pub async fn assign(
    State(st): State<ConsoleState>,
    caller: Caller,
    csrf: Option<Extension<SessionCsrf>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let target = id.clone();
    act(
        st,
        caller,
        csrf,
        id,
        body,
        &["assignee"],
        |st, caller, f| async move {
            let who = required(&f, "assignee", "an assignee").map_err(bad)?;
            st.alerts
                .engine
                .assign(&target, &caller.actor(), &who)
                .await?;
            Ok(format!("Assigned to {who}."))
        },
    )
    .await
}

/// `POST /console/alerts/{id}/comment` (`text`)
pub async fn comment(
    State(st): State<ConsoleState>,
    caller: Caller,
    csrf: Option<Extension<SessionCsrf>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let target = id.clone();
    act(
        st,
        caller,
        csrf,
        id,
        body,
        &["text"],
        |st, caller, f| async move {
            let text = required(&f, "text", "a comment").map_err(bad)?;
            st.alerts
                .engine
                .comment(&target, &caller.actor(), &text)
                .await?;
            Ok("Comment added.".to_owned())
        },
    )
    .await
}

/// `POST /console/alerts/{id}/resolve` (`resolution`: true_positive,
/// false_positive or benign; `reason`: why, both required)
pub async fn resolve(
    State(st): State<ConsoleState>,
    caller: Caller,
    csrf: Option<Extension<SessionCsrf>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let target = id.clone();
    act(
        st,
        caller,
        csrf,
        id,
        body,
        &["resolution", "reason"],
        |st, caller, f| async move {
            let verdict = required(&f, "resolution", "a verdict").map_err(bad)?;
            let resolution = match verdict.as_str() {
                "true_positive" => Resolution::TruePositive,
                "false_positive" => Resolution::FalsePositive,
                "benign" => Resolution::Benign,
                _ => {
                    return Err(bad(
                        "the verdict must be true_positive, false_positive or benign".into(),
                    ));
                }
            };
            let reason = required(&f, "reason", "a reason").map_err(bad)?;
            st.alerts
                .engine
                .resolve(&target, &caller.actor(), resolution, Some(&reason))
                .await?;
            Ok(format!("Resolved as {}.", resolution_name(resolution)))
        },
    )
    .await
}

/// `POST /console/alerts/{id}/silence` (`duration` such as `4h`,
/// `comment`): silences the alert's rule and group key, within the
/// caller's tenant and the silence limits.
pub async fn silence(
    State(st): State<ConsoleState>,
    caller: Caller,
    csrf: Option<Extension<SessionCsrf>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let target = id.clone();
    act(
        st,
        caller,
        csrf,
        id,
        body,
        &["duration", "comment"],
        |st, caller, f| async move {
            let a = alert_for(&st, &caller, &target)?;
            let duration = required(&f, "duration", "a duration").map_err(bad)?;
            let comment = required(&f, "comment", "a comment").map_err(bad)?;
            let req = NewSilence {
                matchers: silence_matchers(&a)
                    .into_iter()
                    .map(MatcherInput::Spec)
                    .collect(),
                starts_at: None,
                ends_at: None,
                duration: Some(duration),
                comment,
            };
            let s = crate::api::silences::create(&st.alerts, &caller, req).await?;
            Ok(format!("Silence {} created until {}.", s.id, s.ends_at))
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_web_addresses_become_runbook_links() {
        assert_eq!(runbook_url("https://wiki/x"), "https://wiki/x");
        assert_eq!(runbook_url("javascript:alert(1)"), "");
        assert_eq!(runbook_url("JaVaScRiPt:alert(1)"), "");
        assert_eq!(runbook_url("data:text/html,<b>"), "");
        assert_eq!(runbook_url("call the on-call"), "");
    }

    #[test]
    fn forms_take_only_their_fields_once() {
        let b = |s: &'static str| Bytes::from_static(s.as_bytes());
        let f = form(&b("text=a+b%26c"), &["text"]).unwrap();
        assert_eq!(f["text"], "a b&c");
        assert!(form(&b("text=a&text=b"), &["text"]).is_err());
        assert!(form(&b("text=a&role=admin"), &["text"]).is_err());
        assert!(form(&Bytes::from(vec![b'a'; MAX_FORM + 1]), &["text"]).is_err());
        assert!(required(&form(&b("text=+"), &["text"]).unwrap(), "text", "a comment").is_err());
    }
}
