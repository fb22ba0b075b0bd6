//! Bulk actions on the queue: acknowledge, assign or close (with a
//! verdict and a reason, both required) the selected alerts, or every
//! alert the queue's filters match; and saving the queue's filters as a
//! named view of the caller's.
//!
//! By query, the form carries how many alerts the analyst saw match
//! (`matched`): if more match when the action runs (new alerts came in),
//! nothing is done and the page says so, so that a bulk close never
//! reaches alerts nobody saw counted.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ward_alert::{Alert, Resolution, Status};

use super::ConsoleState;
use super::queue::{MAX_CONSIDERED, QueueParams, matching, show};
use crate::access::Caller;
use crate::access::guard::SessionCsrf;
use crate::api::alerts::visible;

/// Largest bulk form (10,000 selected ids fit).
const MAX_FORM: usize = 1024 * 1024;
/// Longest reason, assignee or name.
const MAX_TEXT: usize = 8192;

/// What one bulk request asks.
#[derive(Debug, Default)]
struct Bulk {
    filters: QueueParams,
    /// `selected` or `query`.
    scope: String,
    ids: Vec<String>,
    matched: Option<usize>,
    action: String,
    to: String,
    resolution: String,
    reason: String,
}

/// Sets the queue filter `k` to `v`, or gives `v` back when `k` is no
/// filter.
fn set_filter(p: &mut QueueParams, k: &str, v: String) -> Option<String> {
    let field = match k {
        "status" => &mut p.status,
        "severity" => &mut p.severity,
        "rule" => &mut p.rule,
        "owner" => &mut p.owner,
        "assignee" => &mut p.assignee,
        "sort" => &mut p.sort,
        "group" => &mut p.group,
        _ => return Some(v),
    };
    *field = v;
    None
}

/// Reads the form: the queue's filters, then the action's fields; each
/// named field at most once (but `id`), nothing else.
fn parse(body: &[u8]) -> Result<Bulk, String> {
    if body.len() > MAX_FORM {
        return Err(format!("the form is larger than {} KiB", MAX_FORM / 1024));
    }
    let mut b = Bulk::default();
    let mut seen = std::collections::HashSet::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        if v.len() > MAX_TEXT {
            return Err(format!("the field {k} is longer than {MAX_TEXT} bytes"));
        }
        if k != "id" && !seen.insert(k.to_string()) {
            return Err(format!("the field {k} is repeated"));
        }
        let v = v.into_owned();
        let Some(v) = set_filter(&mut b.filters, &k, v) else {
            continue;
        };
        match k.as_ref() {
            "scope" => b.scope = v,
            "id" => {
                if b.ids.len() >= MAX_CONSIDERED {
                    return Err(format!("at most {MAX_CONSIDERED} alerts at once"));
                }
                b.ids.push(v);
            }
            "matched" => {
                b.matched = Some(
                    v.parse()
                        .map_err(|_| "matched must be a number".to_owned())?,
                )
            }
            "action" => b.action = v,
            "to" => b.to = v.trim().to_owned(),
            "resolution" => b.resolution = v,
            "reason" => b.reason = v.trim().to_owned(),
            other => {
                return Err(format!(
                    "unexpected form field {:?}",
                    other.chars().take(40).collect::<String>()
                ));
            }
        }
    }
    Ok(b)
}

/// The verdict of a close.
pub fn verdict(s: &str) -> Result<Resolution, String> {
    match s {
        "true_positive" => Ok(Resolution::TruePositive),
        "false_positive" => Ok(Resolution::FalsePositive),
        "benign" => Ok(Resolution::Benign),
        "" => Err("closing needs a verdict: true positive, false positive or benign".into()),
        _ => Err("the verdict must be true_positive, false_positive or benign".into()),
    }
}

/// One action, checked before any alert is touched.
enum Act {
    Ack,
    Assign(String),
    Close(Resolution, String),
}

impl Act {
    fn from(b: &Bulk) -> Result<Act, String> {
        match b.action.as_str() {
            "ack" => Ok(Act::Ack),
            "assign" if b.to.is_empty() => Err("assigning needs an assignee".into()),
            "assign" => Ok(Act::Assign(b.to.clone())),
            "close" => {
                let r = verdict(&b.resolution)?;
                if b.reason.is_empty() {
                    return Err("closing needs a reason".into());
                }
                Ok(Act::Close(r, b.reason.clone()))
            }
            "" => Err("choose an action: acknowledge, assign or close".into()),
            _ => Err("the action must be ack, assign or close".into()),
        }
    }

    /// Whether this alert is one the action applies to (an acknowledged
    /// alert is not acknowledged again; a closed one is left closed).
    fn applies(&self, a: &Alert) -> bool {
        match self {
            Act::Ack => a.status == Status::Open,
            Act::Assign(_) | Act::Close(..) => a.status != Status::Resolved,
        }
    }

    fn done(&self) -> &'static str {
        match self {
            Act::Ack => "acknowledged",
            Act::Assign(_) => "assigned",
            Act::Close(..) => "closed",
        }
    }
}

/// The alerts a bulk request reaches: the selected ones the caller sees,
/// or all its filters match, if no more than it saw.
fn targets(st: &ConsoleState, caller: &Caller, b: &Bulk) -> Result<Vec<Alert>, String> {
    match b.scope.as_str() {
        "selected" => {
            if b.ids.is_empty() {
                return Err("select alerts first (x), or choose every alert matching".into());
            }
            let mut out = Vec::new();
            for id in &b.ids {
                match st.alerts.engine.alert(id).filter(|a| visible(caller, a)) {
                    Some(a) => out.push(a),
                    None => {
                        let id: String = id.chars().take(64).collect();
                        return Err(format!("alert {id} is not found"));
                    }
                }
            }
            Ok(out)
        }
        "query" => {
            let Some(saw) = b.matched else {
                return Err("matched (how many alerts the filter showed) is required".into());
            };
            let now = matching(st, caller, &b.filters)?;
            if now.len() > saw {
                return Err(format!(
                    "{} alerts match now, more than the {saw} shown; look at the queue again",
                    now.len()
                ));
            }
            Ok(now)
        }
        _ => Err("scope must be selected or query".into()),
    }
}

/// `POST /console/alerts/bulk`: `action` (`ack`, `assign` with `to`,
/// `close` with `resolution` and `reason`), `scope` (`selected` with each
/// `id`, or `query` with the filters and `matched`). Answers the queue
/// with the same filters: 303 to it after a change, the page with the
/// refusal otherwise.
pub async fn bulk(
    State(st): State<ConsoleState>,
    caller: Caller,
    csrf: Option<Extension<SessionCsrf>>,
    body: Bytes,
) -> Response {
    let b = match parse(&body) {
        Ok(b) => b,
        Err(e) => return show(&st, &caller, csrf, QueueParams::default(), e, String::new()),
    };
    let act = match Act::from(&b).and_then(|act| Ok((act, targets(&st, &caller, &b)?))) {
        Ok(x) => x,
        Err(e) => {
            let error = e;
            let mut p = b.filters;
            p.done.clear();
            let mut resp = show(&st, &caller, csrf, p, error, String::new());
            *resp.status_mut() = StatusCode::BAD_REQUEST;
            return resp;
        }
    };
    let (act, alerts) = act;
    let actor = caller.actor();
    let engine = &st.alerts.engine;
    let mut done = 0usize;
    let mut failed = Vec::new();
    for a in alerts.iter().filter(|a| act.applies(a)) {
        let r = match &act {
            Act::Ack => engine.acknowledge(&a.id, &actor, None).await,
            Act::Assign(to) => engine.assign(&a.id, &actor, to).await,
            Act::Close(r, why) => engine.resolve(&a.id, &actor, *r, Some(why)).await,
        };
        match r {
            Ok(_) => done += 1,
            Err(e) => failed.push(format!("{}: {e}", a.id)),
        }
    }
    let mut p = b.filters;
    p.done = format!("{}-{done}", act.done());
    if !failed.is_empty() {
        let n = failed.len();
        let first = failed.swap_remove(0);
        let error = format!("{n} alert(s) could not be changed; the first: {first}");
        let flash = super::queue::done_text(&p.done);
        p.done.clear();
        return show(&st, &caller, csrf, p, error, flash);
    }
    see_other(&format!("/console/alerts?{}", p.query_with_done()))
}

fn see_other(to: &str) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    super::secure(resp)
}

/// `POST /console/views` (`name`, and the queue's filters): saves the
/// filters as a named view of the caller's (the same name replaces it),
/// then shows the queue with them.
pub async fn save_view(
    State(st): State<ConsoleState>,
    caller: Caller,
    csrf: Option<Extension<SessionCsrf>>,
    body: Bytes,
) -> Response {
    let mut name = String::new();
    let mut p = QueueParams::default();
    let mut error = String::new();
    if body.len() > 64 * 1024 {
        error = "the form is larger than 64 KiB".into();
    }
    for (k, v) in url::form_urlencoded::parse(&body) {
        let Some(v) = set_filter(&mut p, &k, v.into_owned()) else {
            continue;
        };
        match k.as_ref() {
            "name" => name = v,
            other => {
                error = format!(
                    "unexpected form field {:?}",
                    other.chars().take(40).collect::<String>()
                )
            }
        }
    }
    if error.is_empty()
        && let Err(e) = matching(&st, &caller, &p).map(|_| ())
    {
        error = e;
    }
    if error.is_empty() {
        let query = p.query();
        if let Err(e) = st
            .prefs
            .update(&caller, |u| super::prefs::save(&mut u.views, &name, &query))
        {
            error = e;
        }
    }
    if error.is_empty() {
        let flash = format!("View {:?} saved.", name.trim());
        return show(&st, &caller, csrf, p, String::new(), flash);
    }
    let mut resp = show(&st, &caller, csrf, p, error, String::new());
    *resp.status_mut() = StatusCode::BAD_REQUEST;
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_forms_are_read_strictly() {
        let b = parse(b"action=close&scope=selected&id=a&id=b&resolution=benign&reason=x").unwrap();
        assert_eq!(b.ids, ["a", "b"]);
        assert!(parse(b"action=ack&action=close").is_err());
        assert!(parse(b"role=admin").is_err());
        assert!(parse(b"matched=many").is_err());
        let close = |res: &str, reason: &str| {
            Act::from(&Bulk {
                action: "close".into(),
                resolution: res.into(),
                reason: reason.into(),
                ..Bulk::default()
            })
            .err()
        };
        assert!(close("", "x").unwrap().contains("verdict"));
        assert!(close("false_positive", "").unwrap().contains("reason"));
        assert!(close("maybe", "x").unwrap().contains("verdict"));
        assert!(close("false_positive", "scanner").is_none());
        assert!(
            Act::from(&Bulk {
                action: "assign".into(),
                ..Bulk::default()
            })
            .err()
            .unwrap()
            .contains("assignee")
        );
    }
}
