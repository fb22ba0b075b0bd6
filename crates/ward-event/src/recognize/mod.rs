//! Source recognition: which system wrote a record, from the record's shape
//! alone (or from what the sender's credential declares).
//!
//! A [`Recognizer`] per source, each in its own file, answers two questions:
//! does this decoded event have my shape ([`Recognizer::claims`], a few
//! field lookups, never true for another source's records), and what are its
//! Sigma log source and ECS fields ([`Recognizer::apply`], which copies
//! native values to ECS names and never removes a native field, so that
//! SigmaHQ rules written against native names run unmodified).
//!
//! [`recognize`] stamps the outcome on the event:
//!
//! | field | example |
//! |---|---|
//! | `ward.logsource.product` | `windows`, `aws`, `kubernetes`, `github` |
//! | `ward.logsource.service` | `sysmon`, `cloudtrail`, `audit` |
//! | `ward.logsource.category` | `process_creation`, `webserver` |
//! | `ward.recognizer` | the recognizer's name |
//! | `event.dataset` | `aws.cloudtrail` (kept when the sender set one) |
//!
//! Detection's built-in pipelines key on `ward.logsource.*`, so a rule's
//! `logsource` selects exactly the events recognized as that source.
//!
//! Invariants: recognition is pure (no I/O, no clock); the first recognizer
//! in [`RECOGNIZERS`] that claims an event wins, so more specific shapes
//! come first; an event no recognizer claims is left as it was.

pub mod access_log;
pub mod auditd;
mod azure;
mod cloudtrail;
mod gcp_audit;
mod github;
mod github_webhook;
mod gitlab;
mod journald;
mod k8s_audit;
mod m365;
pub(crate) mod native;
mod okta;
mod sshd;
mod sudo;
pub mod sysmon_linux;
mod windows;

use serde_json::Value;

use crate::event::Event;

/// Sigma's log source triple and the dataset, as one recognizer assigns
/// them to one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recognition {
    /// The recognizer's name, e.g. `windows.evtx`, `aws.cloudtrail`.
    pub recognizer: &'static str,
    /// Sigma `logsource.product`.
    pub product: &'static str,
    /// Sigma `logsource.service`, when the source has one.
    pub service: Option<&'static str>,
    /// Sigma `logsource.category`, when the record's kind gives one.
    pub category: Option<&'static str>,
    /// `event.dataset`, e.g. `aws.cloudtrail`.
    pub dataset: &'static str,
}

/// One source's shape and mapping. See the module documentation.
pub trait Recognizer: Sync {
    /// Stable name, e.g. `aws.cloudtrail`; also what a credential can
    /// declare for its events.
    fn name(&self) -> &'static str;
    /// Whether the event has this source's shape. Cheap, and never true
    /// for a record of another source.
    fn claims(&self, event: &Event) -> bool;
    /// Copies native values to their ECS names (never removing a native
    /// field) and says which log source the event is.
    fn apply(&self, event: &mut Event) -> Recognition;
}

/// Every recognizer, most specific shape first. Adding a source: its file
/// in this folder, one line here, and its row in the README's table of
/// sources. Its log sources need no pipeline change: the built-in
/// `pipelines/ward-logsource.yml` derives an entry from every loaded rule's
/// `logsource` (only aliases, such as `registry_event` for
/// `registry_set`, and field mappings are listed there).
pub static RECOGNIZERS: &[&dyn Recognizer] = &[
    &windows::Evtx,
    &windows::Winlogbeat,
    &windows::Flat,
    &cloudtrail::CloudTrail,
    &k8s_audit::K8sAudit,
    &github::GitHubAudit,
    &github_webhook::GitHubWebhook,
    &gitlab::GitLabAudit,
    &azure::AzureMonitor,
    &gcp_audit::GcpAudit,
    &m365::M365,
    &okta::Okta,
    &journald::Journald,
    &auditd::Auditd,
    &sysmon_linux::SysmonLinux,
    &sshd::Sshd,
    &sudo::Sudo,
    &access_log::AccessLog,
];

/// The names of every recognizer, in the order they are tried: what a
/// credential may declare.
pub fn names() -> impl Iterator<Item = &'static str> {
    RECOGNIZERS.iter().map(|r| r.name())
}

/// Recognizes an event and stamps the outcome on it (see the module
/// documentation). `declared` names a recognizer that a credential declared
/// for its events: it is applied when it exists, whatever the shape.
pub fn recognize(event: &mut Event, declared: Option<&str>) -> Option<Recognition> {
    let recognizer = match declared {
        Some(name) => RECOGNIZERS.iter().find(|r| r.name() == name),
        None => None,
    }
    .or_else(|| RECOGNIZERS.iter().find(|r| r.claims(event)))?;
    let recognition = recognizer.apply(event);
    stamp(event, &recognition);
    Some(recognition)
}

fn stamp(event: &mut Event, r: &Recognition) {
    event.set("ward.recognizer", Value::from(r.recognizer));
    event.set("ward.logsource.product", Value::from(r.product));
    if let Some(service) = r.service {
        event.set("ward.logsource.service", Value::from(service));
    }
    if let Some(category) = r.category {
        event.set("ward.logsource.category", Value::from(category));
    }
    if event.peek("event.dataset").is_none() {
        event.set("event.dataset", Value::from(r.dataset));
    }
}
