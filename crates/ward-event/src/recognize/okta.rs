//! Okta System Log events, as the System Log API (`/api/v1/logs`) and the
//! log streaming integrations deliver them.
//!
//! Sigma log source: `product: okta`, `service: okta`. Native names
//! (`eventType`, `displayMessage`, `actor.*`, `outcome.*`, …) are kept.

use super::native::{self, Keys};
use super::{Recognition, Recognizer};
use crate::event::Event;
use crate::normalize::Outcome;

/// See the module documentation.
pub struct Okta;

/// A System Log event: `uuid`, `published`, `eventType`, and an `actor`
/// object.
pub(crate) fn shape(r: &dyn Keys) -> bool {
    r.key_str("uuid").is_some()
        && r.key_str("published").is_some()
        && r.key_str("eventType").is_some()
        && r.key("actor").is_some_and(|a| a.is_object())
}

impl Recognizer for Okta {
    fn name(&self) -> &'static str {
        "okta.system"
    }

    fn claims(&self, event: &Event) -> bool {
        shape(event)
    }

    fn apply(&self, e: &mut Event) -> Recognition {
        native::timestamp(e, "published");
        native::copy(e, "uuid", "event.id");
        native::copy(e, "eventType", "event.action");
        native::copy(e, "displayMessage", "message");
        native::copy(e, "authenticationContext.externalSessionId", "session.id");
        native::copy(e, "transaction.id", "trace.id");
        native::copy(e, "client.userAgent.rawUserAgent", "user_agent.original");
        // `actor` is native and an object; ECS `user.*` is built beside it.
        native::copy(e, "actor.alternateId", "user.name");
        native::copy(e, "actor.id", "user.id");
        let addr = native::text(e, "client.ipAddress").map(str::to_owned);
        native::ip(e, "source.ip", addr.as_deref());
        native::kind_event(e);
        let result = native::text(e, "outcome.result").unwrap_or_default();
        let outcome = match result {
            "SUCCESS" | "ALLOW" => Outcome::Success,
            "FAILURE" | "DENY" => Outcome::Failure,
            _ => Outcome::Unknown,
        };
        let action = native::text(e, "eventType").unwrap_or_default();
        let category: &[&str] = if action.starts_with("user.session")
            || action.starts_with("user.authentication")
            || action.starts_with("user.mfa")
        {
            &["authentication"]
        } else if action.starts_with("group.")
            || action.contains("privilege")
            || action.starts_with("user.account")
            || action.starts_with("user.lifecycle")
        {
            &["iam"]
        } else {
            &["configuration"]
        };
        native::classify(e, category, &["info"]);
        // `outcome` is Okta's object; ECS's `event.outcome` is separate.
        e.set("event.outcome", serde_json::Value::from(outcome.as_str()));
        Recognition {
            recognizer: self.name(),
            product: "okta",
            service: Some("okta"),
            category: None,
            dataset: "okta.system",
        }
    }
}
