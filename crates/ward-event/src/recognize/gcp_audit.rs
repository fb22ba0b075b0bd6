//! Google Cloud Audit Logs: `LogEntry` records with an `AuditLog`
//! `protoPayload` (Admin Activity, Data Access, System Event, Policy
//! Denied), as a Pub/Sub log sink or `gcloud logging read --format=json`
//! delivers them.
//!
//! Sigma log source: `product: gcp`, `service: gcp.audit`. Native names are
//! kept; `gcp.audit.method_name`, which SigmaHQ's GCP rules use, is added.

use super::native::{self, Keys};
use super::{Recognition, Recognizer};
use crate::event::Event;
use crate::normalize::Outcome;

/// See the module documentation.
pub struct GcpAudit;

/// A log entry whose `protoPayload` is an `AuditLog`.
pub(crate) fn shape(r: &dyn Keys) -> bool {
    r.key("protoPayload")
        .and_then(|p| p.get("@type"))
        .and_then(|t| t.as_str())
        .is_some_and(|t| t.ends_with("google.cloud.audit.AuditLog"))
}

impl Recognizer for GcpAudit {
    fn name(&self) -> &'static str {
        "gcp.audit"
    }

    fn claims(&self, event: &Event) -> bool {
        shape(event)
    }

    fn apply(&self, e: &mut Event) -> Recognition {
        native::timestamp(e, "timestamp");
        native::copy(e, "insertId", "event.id");
        native::copy(e, "protoPayload.methodName", "event.action");
        native::copy(e, "protoPayload.methodName", "gcp.audit.method_name");
        native::copy(e, "protoPayload.serviceName", "event.provider");
        native::copy(e, "protoPayload.resourceName", "gcp.audit.resource_name");
        native::copy(
            e,
            "protoPayload.authenticationInfo.principalEmail",
            "user.email",
        );
        native::copy(
            e,
            "protoPayload.authenticationInfo.principalEmail",
            "user.name",
        );
        native::copy(
            e,
            "protoPayload.requestMetadata.callerSuppliedUserAgent",
            "user_agent.original",
        );
        native::copy(e, "resource.labels.project_id", "cloud.project.id");
        native::copy(e, "operation.id", "trace.id");
        let addr = native::text(e, "protoPayload.requestMetadata.callerIp").map(str::to_owned);
        native::ip(e, "source.ip", addr.as_deref());
        native::put(e, "cloud.provider", "gcp");
        native::kind_event(e);
        let failed = e
            .get("protoPayload.status.code")
            .and_then(|c| c.as_i64())
            .is_some_and(|c| c != 0);
        native::outcome(
            e,
            if failed {
                Outcome::Failure
            } else {
                Outcome::Success
            },
        );
        let log = native::text(e, "logName").unwrap_or_default();
        let types: &[&str] = if log.ends_with("data_access") {
            &["access"]
        } else {
            &["change"]
        };
        let method = native::text(e, "protoPayload.methodName").unwrap_or_default();
        let category: &[&str] = if method.contains("IamPolicy")
            || method.contains("ServiceAccount")
            || method.contains("Role")
        {
            &["iam"]
        } else {
            &["configuration"]
        };
        native::classify(e, category, types);
        Recognition {
            recognizer: self.name(),
            product: "gcp",
            service: Some("gcp.audit"),
            category: None,
            dataset: "gcp.audit",
        }
    }
}
