//! Ward's own state as the state checks see it, gathered from the
//! configuration, the last `ward verify`, the alerts and the rule packs.

use std::path::Path;
use std::time::Duration;

use super::evaluate::{AlertFacts, Facts, RuleFacts};
use super::history;
use crate::config::Config;

/// The shortest retention, in days, of any security category.
pub fn retention_security_days(config: &Config) -> u32 {
    let r = &config.raw.retention;
    ward_store::SECURITY_CATEGORIES
        .iter()
        .map(|c| r.categories.get(*c).copied().unwrap_or(r.default_days))
        .min()
        .unwrap_or(r.default_days)
}

/// What the redaction configuration keeps unredacted (`actions.<kind>` and
/// `fields.<path>` set to `keep`).
pub fn redaction_kept(config: &Config) -> Vec<String> {
    let r = &config.raw.redact;
    let keep = |a: &ward_redact::Action| matches!(a, ward_redact::Action::Keep);
    r.actions
        .iter()
        .filter(|(_, a)| keep(a))
        .map(|(k, _)| format!("actions.{k}"))
        .chain(
            r.fields
                .iter()
                .filter(|(_, a)| keep(a))
                .map(|(k, _)| format!("fields.{k}")),
        )
        .collect()
}

/// High and critical alerts created in the last `window` and those whose
/// first response (acknowledgement or resolution) came after the
/// acknowledgement deadline, or has not come and the deadline passed.
pub fn alert_facts(
    alerts: &[ward_alert::Alert],
    now: jiff::Timestamp,
    window: Duration,
) -> AlertFacts {
    let since = jiff::SignedDuration::try_from(window)
        .ok()
        .and_then(|w| now.checked_sub(w).ok())
        .unwrap_or(jiff::Timestamp::MIN);
    let mut out = AlertFacts::default();
    for a in alerts {
        if a.created_at < since || a.severity < ward_alert::Severity::High {
            continue;
        }
        out.considered += 1;
        let first_response = match (a.acknowledged_at, a.resolved_at) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        };
        let late = match first_response {
            Some(t) => t > a.ack_deadline,
            None => now > a.ack_deadline,
        };
        if late {
            out.late.push(a.id.clone());
        }
    }
    out
}

/// Every fact; `rules` from detection's gauges (none before it loaded).
pub fn gather(
    config: &Config,
    data_dir: &Path,
    alerts: Option<AlertFacts>,
    rules: Option<RuleFacts>,
) -> Facts {
    Facts {
        retention_security_days: Some(retention_security_days(config)),
        redaction_kept: Some(redaction_kept(config)),
        last_verify: history::last_verify(data_dir),
        alerts,
        rules,
    }
}
