//! GitLab audit events, as audit event streaming posts them (and as the
//! audit events API returns them).
//!
//! Sigma log source: `product: gitlab`, `service: audit`. Native names
//! (`event_type`, `author_name`, `entity_path`, `details.*`, …) are kept.

use super::native::{self, Keys};
use super::{Recognition, Recognizer};
use crate::event::Event;
use crate::normalize::Outcome;

/// See the module documentation.
pub struct GitLabAudit;

/// An audit event: an `author_id`, an `entity_type` and a `details`
/// object.
pub(crate) fn shape(r: &dyn Keys) -> bool {
    r.key("author_id").is_some()
        && r.key_str("entity_type").is_some()
        && r.key("details").is_some_and(|v| v.is_object())
}

impl Recognizer for GitLabAudit {
    fn name(&self) -> &'static str {
        "gitlab.audit"
    }

    fn claims(&self, event: &Event) -> bool {
        shape(event)
    }

    fn apply(&self, e: &mut Event) -> Recognition {
        native::timestamp(e, "created_at");
        native::copy(e, "id", "event.id");
        native::copy(e, "event_type", "event.action");
        native::copy(e, "details.event_name", "event.action");
        native::copy(e, "details.custom_message", "message");
        native::copy(e, "author_name", "user.name");
        native::copy(e, "details.author_name", "user.name");
        native::copy(e, "author_id", "user.id");
        native::copy(e, "details.target_details", "user.target.name");
        native::copy(e, "entity_path", "organization.name");
        let addr = native::text(e, "ip_address")
            .or_else(|| native::text(e, "details.ip_address"))
            .map(str::to_owned);
        native::ip(e, "source.ip", addr.as_deref());
        native::kind_event(e);
        let action = native::text(e, "event.action").unwrap_or_default();
        let category: &[&str] = if action.contains("login") || action.contains("authentication") {
            &["authentication"]
        } else if action.contains("member") || action.contains("access") || action.contains("role")
        {
            &["iam"]
        } else {
            &["configuration"]
        };
        let failed = action.contains("failed");
        native::classify(e, category, &["change"]);
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
            product: "gitlab",
            service: Some("audit"),
            category: None,
            dataset: "gitlab.audit",
        }
    }
}
