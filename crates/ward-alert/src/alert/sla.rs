//! Response-time SLAs: per severity, a time to acknowledge and a time to
//! resolve, counted from when the alert opened. A breach is recorded once per
//! kind on the alert and notified to the escalation receiver once.

use std::time::Duration;

use jiff::Timestamp;

use crate::alert::{Alert, Severity, Status};
use crate::config::{Problems, SlaConfig, SlaTarget};
use crate::time;

/// The kind of deadline.
pub const ACKNOWLEDGE: &str = "acknowledge";
pub const RESOLVE: &str = "resolve";

/// Compiled SLA targets.
#[derive(Debug, Clone)]
pub struct SlaPolicy {
    /// (time to acknowledge, time to resolve), indexed like `Severity::ALL`.
    targets: [(Duration, Duration); 5],
}

impl SlaPolicy {
    pub(crate) fn compile(cfg: &SlaConfig, problems: &mut Problems) -> SlaPolicy {
        let defaults = SlaConfig::default();
        let mut one = |name: &str, t: &SlaTarget, d: &SlaTarget| {
            let ack = problems.duration(&format!("sla.{name}.acknowledge"), &t.acknowledge);
            let res = problems.duration(&format!("sla.{name}.resolve"), &t.resolve);
            let fallback =
                |s: &str| crate::config::parse_duration(s).unwrap_or(Duration::from_secs(86_400));
            (
                ack.unwrap_or_else(|| fallback(&d.acknowledge)),
                res.unwrap_or_else(|| fallback(&d.resolve)),
            )
        };
        SlaPolicy {
            targets: [
                one("informational", &cfg.informational, &defaults.informational),
                one("low", &cfg.low, &defaults.low),
                one("medium", &cfg.medium, &defaults.medium),
                one("high", &cfg.high, &defaults.high),
                one("critical", &cfg.critical, &defaults.critical),
            ],
        }
    }

    /// (acknowledge deadline, resolve deadline) of an alert opened at `opened`.
    pub fn deadlines(&self, severity: Severity, opened: Timestamp) -> (Timestamp, Timestamp) {
        let (a, r) = self.targets[severity as usize];
        (time::add(opened, a), time::add(opened, r))
    }
}

/// Breaches of `alert` at `now` that are not yet recorded on it.
pub fn new_breaches(alert: &Alert, now: Timestamp) -> Vec<&'static str> {
    let mut out = Vec::new();
    let recorded = |k: &str| alert.sla_breaches.iter().any(|b| b == k);
    if alert.status == Status::Open && now >= alert.ack_deadline && !recorded(ACKNOWLEDGE) {
        out.push(ACKNOWLEDGE);
    }
    if alert.status != Status::Resolved && now >= alert.resolve_deadline && !recorded(RESOLVE) {
        out.push(RESOLVE);
    }
    out
}

/// The next deadline of `alert` that could still be breached.
pub fn next_deadline(alert: &Alert) -> Option<Timestamp> {
    let recorded = |k: &str| alert.sla_breaches.iter().any(|b| b == k);
    let ack =
        (alert.status == Status::Open && !recorded(ACKNOWLEDGE)).then_some(alert.ack_deadline);
    let res =
        (alert.status != Status::Resolved && !recorded(RESOLVE)).then_some(alert.resolve_deadline);
    match (ack, res) {
        (Some(a), Some(r)) => Some(a.min(r)),
        (a, r) => a.or(r),
    }
}

/// Whether the alert met its acknowledge SLA (None while still undecided).
pub fn met_acknowledge(alert: &Alert, now: Timestamp) -> Option<bool> {
    match alert.acknowledged_at.or(alert.resolved_at) {
        Some(at) => Some(at <= alert.ack_deadline),
        None if now > alert.ack_deadline => Some(false),
        None => None,
    }
}

/// Whether the alert met its resolve SLA (None while still undecided).
pub fn met_resolve(alert: &Alert, now: Timestamp) -> Option<bool> {
    match alert.resolved_at {
        Some(at) => Some(at <= alert.resolve_deadline),
        None if now > alert.resolve_deadline => Some(false),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_targets() {
        let mut p = Problems::default();
        let sla = SlaPolicy::compile(&SlaConfig::default(), &mut p);
        assert!(p.0.is_empty());
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let (a, r) = sla.deadlines(Severity::Critical, t0);
        assert_eq!(
            (a.to_string().as_str(), r.to_string().as_str()),
            ("2026-01-01T00:15:00Z", "2026-01-01T04:00:00Z")
        );
        let (a, r) = sla.deadlines(Severity::Medium, t0);
        assert_eq!(
            (a.to_string().as_str(), r.to_string().as_str()),
            ("2026-01-01T08:00:00Z", "2026-01-04T00:00:00Z")
        );
    }
}
