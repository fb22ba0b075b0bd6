//! GitHub webhook deliveries, as Ward's GitHub webhook input stores them:
//! the payload with `github.webhook.event` (the `X-GitHub-Event` header)
//! and `event.action` `<event>.<action>` (`pull_request.opened`, `push`).
//!
//! Sigma log source: `product: github`, `service: webhook`. The payload's
//! names (`sender.login`, `repository.full_name`, `workflow_run.event`…)
//! are kept; besides the ECS copies, two fields make payloads matchable
//! that Sigma cannot reach inside arrays or across event kinds:
//!
//! | field | from |
//! |---|---|
//! | `github.repo` | `repository.full_name` (the audit log's `repo`) |
//! | `github.push.files` | every path added, modified or removed by a push's `commits` |
//! | `github.push.messages` | the pushed commits' messages (trailers included) |

use serde_json::Value;

use super::native::{self, Keys};
use super::{Recognition, Recognizer};
use crate::event::Event;

/// See the module documentation.
pub struct GitHubWebhook;

/// Paths and messages kept from one push, at most.
const MAX_PUSH_ITEMS: usize = 2000;

/// A delivery: the event name that Ward's GitHub webhook input stamps.
pub(crate) fn shape(r: &dyn Keys) -> bool {
    r.key("github")
        .and_then(|g| g.get("webhook"))
        .and_then(|w| w.get("event"))
        .is_some_and(Value::is_string)
}

/// The paths and messages of a push payload's `commits`, each once, in
/// order.
fn push_contents(e: &Event) -> (Vec<Value>, Vec<Value>) {
    let mut files: Vec<Value> = Vec::new();
    let mut messages: Vec<Value> = Vec::new();
    let commits = e.get("commits").and_then(Value::as_array);
    for commit in commits.into_iter().flatten() {
        for list in ["added", "modified", "removed"] {
            let paths = commit.get(list).and_then(Value::as_array);
            for path in paths.into_iter().flatten().filter(|p| p.is_string()) {
                if files.len() < MAX_PUSH_ITEMS && !files.contains(path) {
                    files.push(path.clone());
                }
            }
        }
        if let Some(m) = commit.get("message").filter(|m| m.is_string())
            && messages.len() < MAX_PUSH_ITEMS
        {
            messages.push(m.clone());
        }
    }
    (files, messages)
}

impl Recognizer for GitHubWebhook {
    fn name(&self) -> &'static str {
        "github.webhook"
    }

    fn claims(&self, event: &Event) -> bool {
        shape(event)
    }

    fn apply(&self, e: &mut Event) -> Recognition {
        native::copy_text(e, "sender.login", "user.name");
        native::copy(e, "sender.id", "user.id");
        native::copy_text(e, "repository.full_name", "github.repo");
        native::copy_text(e, "organization.login", "organization.name");
        let (files, messages) = push_contents(e);
        if !files.is_empty() {
            e.set("github.push.files", Value::Array(files));
        }
        if !messages.is_empty() {
            e.set("github.push.messages", Value::Array(messages));
        }
        native::kind_event(e);
        native::classify(e, &["configuration"], &["change"]);
        Recognition {
            recognizer: self.name(),
            product: "github",
            service: Some("webhook"),
            category: None,
            dataset: "github.webhook",
        }
    }
}
