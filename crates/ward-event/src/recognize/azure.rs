//! Azure Monitor logs as diagnostic settings stream them to Event Hubs
//! (inside `{"records":[…]}`, split by the decoders): the Activity log,
//! and Entra ID (Azure AD) Sign-in and Audit logs.
//!
//! Sigma log sources: `product: azure` with `service: activitylogs`,
//! `signinlogs` or `auditlogs`, from the record's `category`. Native names
//! are kept; the Log Analytics spellings that SigmaHQ's Entra ID rules use
//! (`ResultType`, `ResultDescription`, `OperationName`, `Category`,
//! `LoggedByService`, `ActivityDisplayName`, …) are added from the
//! `properties` of the Event Hubs record.

use super::native::{self, Keys};
use super::{Recognition, Recognizer};
use crate::event::Event;
use crate::normalize::Outcome;

/// See the module documentation.
pub struct AzureMonitor;

/// A diagnostic record: `operationName`, `category` and an Azure
/// `resourceId`.
pub(crate) fn shape(r: &dyn Keys) -> bool {
    r.key_str("operationName").is_some()
        && r.key_str("category").is_some()
        && r.key_str("resourceId")
            .or_else(|| r.key_str("ResourceId"))
            .is_some_and(|id| id.starts_with('/'))
}

/// Which Sigma service a record's `category` belongs to.
fn service(category: &str) -> (&'static str, &'static str) {
    match category {
        "SignInLogs"
        | "NonInteractiveUserSignInLogs"
        | "ServicePrincipalSignInLogs"
        | "ManagedIdentitySignInLogs" => ("signinlogs", "azure.signinlogs"),
        "AuditLogs" => ("auditlogs", "azure.auditlogs"),
        _ => ("activitylogs", "azure.activitylogs"),
    }
}

impl Recognizer for AzureMonitor {
    fn name(&self) -> &'static str {
        "azure.monitor"
    }

    fn claims(&self, event: &Event) -> bool {
        shape(event)
    }

    fn apply(&self, e: &mut Event) -> Recognition {
        native::timestamp(e, "time");
        native::copy(e, "operationName", "event.action");
        native::copy(e, "correlationId", "trace.id");
        native::copy(e, "tenantId", "cloud.account.id");
        native::copy_text(e, "properties.userPrincipalName", "user.name");
        native::copy_text(
            e,
            "properties.initiatedBy.user.userPrincipalName",
            "user.name",
        );
        native::copy_text(e, "identity.claims.name", "user.name");
        native::copy_text(e, "identity", "user.name");
        native::copy(e, "properties.userId", "user.id");
        let addr = native::text(e, "callerIpAddress").map(str::to_owned);
        native::ip(e, "source.ip", addr.as_deref());
        native::put(e, "cloud.provider", "azure");
        native::kind_event(e);
        for (from, to) in [
            ("operationName", "OperationName"),
            ("category", "Category"),
            ("resultType", "ResultType"),
            ("resultDescription", "ResultDescription"),
            ("properties.status.failureReason", "ResultDescription"),
            ("properties.status.errorCode", "ResultType"),
            ("properties.appDisplayName", "AppDisplayName"),
            (
                "properties.authenticationRequirement",
                "AuthenticationRequirement",
            ),
            ("properties.clientAppUsed", "ClientAppUsed"),
            ("properties.deviceDetail", "DeviceDetail"),
            ("properties.activityDisplayName", "ActivityDisplayName"),
            ("properties.loggedByService", "LoggedByService"),
            ("properties.result", "Status"),
            ("properties.targetResources", "TargetResources"),
            ("properties.initiatedBy", "InitiatedBy"),
        ] {
            native::copy(e, from, to);
        }
        let category = native::text(e, "category").unwrap_or_default();
        let (service, dataset) = service(category);
        let result = native::text(e, "resultType")
            .or_else(|| native::text(e, "properties.result"))
            .unwrap_or_default()
            .to_ascii_lowercase();
        let outcome = match result.as_str() {
            "0" | "success" | "succeeded" | "start" | "accept" => Outcome::Success,
            "" => Outcome::Unknown,
            _ => Outcome::Failure,
        };
        native::outcome(e, outcome);
        match service {
            "signinlogs" => native::classify(e, &["authentication"], &["start"]),
            "auditlogs" => native::classify(e, &["iam"], &["change"]),
            _ => native::classify(e, &["configuration"], &["change"]),
        }
        Recognition {
            recognizer: self.name(),
            product: "azure",
            service: Some(service),
            category: None,
            dataset,
        }
    }
}
