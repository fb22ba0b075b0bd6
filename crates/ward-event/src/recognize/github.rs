//! GitHub audit log events: the streaming format (GitHub can target Ward's
//! Splunk HEC endpoint directly), JSON exports of the audit log, and the
//! same records sent line by line. `_document_id` identifies an event;
//! the HEC input drops a second copy of one it has already seen.
//!
//! Sigma log source: `product: github`, `service: audit`. Native names
//! (`action`, `actor`, `org`, `repo`, …) are kept, except `user` (the
//! account acted on), a string where ECS has the `user` object: it becomes
//! `user.target.name`. `repo` is copied to `github.repo` (as webhook
//! deliveries have it) and `repository.name`.

use super::native::{self, Keys};
use super::{Recognition, Recognizer};
use crate::event::Event;
use crate::normalize::Outcome;

/// See the module documentation.
pub struct GitHubAudit;

/// An audit event: a `_document_id` beside an `action` and the time in
/// milliseconds (`@timestamp` or `created_at`).
pub(crate) fn shape(r: &dyn Keys) -> bool {
    r.key_str("_document_id").is_some()
        && r.key_str("action").is_some()
        && (r.key("@timestamp").is_some() || r.key("created_at").is_some())
}

impl Recognizer for GitHubAudit {
    fn name(&self) -> &'static str {
        "github.audit"
    }

    fn claims(&self, event: &Event) -> bool {
        shape(event)
    }

    fn apply(&self, e: &mut Event) -> Recognition {
        native::timestamp(e, "created_at");
        native::copy(e, "_document_id", "event.id");
        native::copy(e, "action", "event.action");
        // Native `user` (the account acted on) is a string where ECS needs
        // the `user` object: it moves to `user.target.name`.
        if let Some(serde_json::Value::String(target)) = e.0.get("user").cloned() {
            e.0.remove("user");
            e.set("user.target.name", serde_json::Value::String(target));
        }
        native::copy(e, "actor", "user.name");
        native::copy(e, "actor_id", "user.id");
        native::copy(e, "org", "organization.name");
        // The repository under the name webhook deliveries use too, and
        // the name behavioural baselines learn.
        native::copy_text(e, "repo", "github.repo");
        native::copy_text(e, "repo", "repository.name");
        native::copy(e, "business", "organization.name");
        native::copy(e, "user_agent", "user_agent.original");
        native::copy(e, "request_id", "trace.id");
        native::copy(
            e,
            "actor_location.country_code",
            "source.geo.country_iso_code",
        );
        let addr = native::text(e, "actor_ip").map(str::to_owned);
        native::ip(e, "source.ip", addr.as_deref());
        native::kind_event(e);
        let action = native::text(e, "action").unwrap_or_default().to_owned();
        let category: &[&str] = if action.starts_with("oauth_")
            || action.starts_with("two_factor")
            || action.contains("login")
            || action.starts_with("personal_access_token")
        {
            &["authentication"]
        } else if action.starts_with("team.")
            || action.contains("member")
            || action.contains("role")
            || action.contains(".add_admin")
            || action.contains(".remove_admin")
        {
            &["iam"]
        } else {
            &["configuration"]
        };
        let types: &[&str] = if action.ends_with("create") || action.ends_with(".add") {
            &["creation"]
        } else if action.ends_with("destroy")
            || action.ends_with("delete")
            || action.ends_with(".remove")
        {
            &["deletion"]
        } else {
            &["change"]
        };
        native::classify(e, category, types);
        let failed = action.ends_with("_failed") || action.ends_with(".failure");
        native::outcome(
            e,
            if failed {
                Outcome::Failure
            } else {
                Outcome::Success
            },
        );
        Recognition {
            recognizer: self.name(),
            product: "github",
            service: Some("audit"),
            category: None,
            dataset: "github.audit",
        }
    }
}
