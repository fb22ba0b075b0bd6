//! Kubernetes audit events (`audit.k8s.io/v1` `Event`), as the API server
//! writes them to its audit log file or posts them, inside an `EventList`
//! (split by the decoders), to an audit webhook.
//!
//! Sigma log source: `product: kubernetes`, `service: audit`,
//! `category: application` (SigmaHQ's Kubernetes rules name all three).
//! Native names (`verb`, `objectRef.resource`, `user.username`, …) are kept.

use super::native::{self, Keys};
use super::{Recognition, Recognizer};
use crate::event::Event;
use crate::normalize::Outcome;

/// See the module documentation.
pub struct K8sAudit;

/// An audit event: `kind: Event` of an `audit.k8s.io` API version with an
/// `auditID`.
pub(crate) fn shape(r: &dyn Keys) -> bool {
    r.key_str("kind") == Some("Event")
        && r.key_str("apiVersion")
            .is_some_and(|v| v.starts_with("audit.k8s.io/"))
        && r.key("auditID").is_some()
}

impl Recognizer for K8sAudit {
    fn name(&self) -> &'static str {
        "kubernetes.audit"
    }

    fn claims(&self, event: &Event) -> bool {
        shape(event)
    }

    fn apply(&self, e: &mut Event) -> Recognition {
        native::timestamp(e, "requestReceivedTimestamp");
        native::timestamp(e, "stageTimestamp");
        native::copy(e, "auditID", "event.id");
        native::copy(e, "verb", "event.action");
        native::copy(e, "requestURI", "url.original");
        native::copy(e, "userAgent", "user_agent.original");
        native::copy(e, "objectRef.namespace", "orchestrator.namespace");
        native::copy(e, "objectRef.resource", "orchestrator.resource.type");
        native::copy(e, "objectRef.name", "orchestrator.resource.name");
        native::put(e, "orchestrator.type", "kubernetes");
        // `user` is the native requester object; ECS `user.name` lives
        // inside it, beside `username`.
        native::copy(e, "user.username", "user.name");
        let addr = e
            .get("sourceIPs")
            .and_then(|v| v.get(0))
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        native::ip(e, "source.ip", addr.as_deref());
        native::kind_event(e);
        if let Some(code) = e.get("responseStatus.code").and_then(|v| v.as_u64()) {
            native::outcome(
                e,
                if code < 400 {
                    Outcome::Success
                } else {
                    Outcome::Failure
                },
            );
        }
        let verb = native::text(e, "verb").unwrap_or_default();
        let types: &[&str] = match verb {
            "create" => &["creation"],
            "delete" | "deletecollection" => &["deletion"],
            "update" | "patch" => &["change"],
            _ => &["access"],
        };
        native::classify(e, &["configuration"], types);
        Recognition {
            recognizer: self.name(),
            product: "kubernetes",
            service: Some("audit"),
            category: Some("application"),
            dataset: "kubernetes.audit",
        }
    }
}
