//! Microsoft 365 audit records as the Office 365 Management Activity API
//! returns them (the common schema: `CreationTime`, `Operation`,
//! `Workload`, `RecordType`, `UserId`, `ClientIP`, …).
//!
//! Sigma log sources: `product: m365` with `service: threat_management`
//! for Security & Compliance Center alerts, `exchange` for Exchange
//! records, `audit` for the rest. Native names are kept; the names that
//! SigmaHQ's threat-management rules use (`eventSource`, `eventName`,
//! `status`) are added from `Workload`, the alert `Name` or `Operation`,
//! and `ResultStatus`.

use super::native::{self, Keys};
use super::{Recognition, Recognizer};
use crate::event::Event;
use crate::normalize::Outcome;
use serde_json::Value;

/// See the module documentation.
pub struct M365;

/// A Management Activity record: `Operation`, `Workload`, `RecordType`
/// and `OrganizationId`.
pub(crate) fn shape(r: &dyn Keys) -> bool {
    r.key_str("Operation").is_some()
        && r.key_str("Workload").is_some()
        && r.key("RecordType").is_some()
        && r.key_str("OrganizationId").is_some()
}

impl Recognizer for M365 {
    fn name(&self) -> &'static str {
        "m365.management_activity"
    }

    fn claims(&self, event: &Event) -> bool {
        shape(event)
    }

    fn apply(&self, e: &mut Event) -> Recognition {
        // `CreationTime` carries no zone; the API documents it as UTC.
        if let Some(t) = native::text(e, "CreationTime")
            && !t.ends_with('Z')
            && !t.contains('+')
        {
            let utc = format!("{t}Z");
            if let Some(ts) = crate::time::parse_str(&utc, jiff::Timestamp::UNIX_EPOCH) {
                e.set("@timestamp", Value::String(crate::time::format_rfc3339(ts)));
            }
        }
        native::timestamp(e, "CreationTime");
        native::copy(e, "Id", "event.id");
        native::copy(e, "Operation", "event.action");
        native::copy(e, "Workload", "event.provider");
        native::copy(e, "UserId", "user.name");
        native::copy(e, "OrganizationId", "organization.id");
        native::copy(e, "Workload", "eventSource");
        native::copy(e, "Name", "eventName");
        native::copy(e, "Operation", "eventName");
        let result = native::text(e, "ResultStatus")
            .unwrap_or_default()
            .to_ascii_lowercase();
        let outcome = match result.as_str() {
            "succeeded" | "success" | "true" | "partiallysucceeded" => Outcome::Success,
            "failed" | "failure" | "false" => Outcome::Failure,
            _ => Outcome::Unknown,
        };
        if outcome != Outcome::Unknown {
            native::put(e, "status", outcome.as_str());
        }
        native::outcome(e, outcome);
        let addr = native::text(e, "ClientIP")
            .or_else(|| native::text(e, "ActorIpAddress"))
            .map(str::to_owned);
        let addr = addr.map(|a| strip_port(&a).to_owned());
        native::ip(e, "source.ip", addr.as_deref());
        native::put(e, "cloud.provider", "azure");
        native::kind_event(e);
        let workload = native::text(e, "Workload").unwrap_or_default();
        let (service, dataset) = match workload {
            "SecurityComplianceCenter" => ("threat_management", "m365.threat_management"),
            "Exchange" => ("exchange", "m365.exchange"),
            _ => ("audit", "m365.audit"),
        };
        let operation = native::text(e, "Operation").unwrap_or_default();
        let category: &[&str] = if operation.contains("Login") || operation.contains("Logon") {
            &["authentication"]
        } else if operation.contains("member")
            || operation.contains("role")
            || operation.contains("Role")
        {
            &["iam"]
        } else if operation.starts_with("File") {
            &["file"]
        } else {
            &["configuration"]
        };
        native::classify(e, category, &["info"]);
        Recognition {
            recognizer: self.name(),
            product: "m365",
            service: Some(service),
            category: None,
            dataset,
        }
    }
}

/// `ClientIP` may carry a port (`203.0.113.7:51234`, `[2001:db8::1]:443`).
fn strip_port(addr: &str) -> &str {
    if let Some(rest) = addr.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match addr.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            host
        }
        _ => addr,
    }
}
