//! Grouping (Alertmanager's aggregation groups): alerts taken by the same
//! route with the same values of the route's `group_by` labels form a group.
//! The application's timer for a group waits `group_wait`, flushes, then
//! flushes every `group_interval` ([`crate::state::State::flush`] decides).
//! A flush drops muted alerts (silences, inhibition), skips everything
//! during a mute time interval, and notifies only when the notification log
//! says something changed — new firing alerts, newly resolved ones, all
//! acknowledged — or `repeat_interval` has passed ([`needs_update`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::alert::route::{GroupBy, RouteOpts, Target};
use crate::notification::GroupStatus;
use crate::time;

/// A group: its route's options, labels and member alerts.
#[derive(Debug)]
pub struct Group {
    pub opts: Arc<RouteOpts>,
    pub labels: BTreeMap<String, String>,
    pub members: BTreeSet<String>,
}

/// What the notification log keeps per group: what was last notified.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotifiedState {
    pub firing: BTreeSet<String>,
    pub resolved: BTreeSet<String>,
    pub status: GroupStatus,
    pub at: Timestamp,
}

/// The key and labels of the group an alert joins on `target`.
pub fn group_of(
    target: &Target,
    labels: &BTreeMap<String, String>,
) -> (String, BTreeMap<String, String>) {
    let mut group_labels: BTreeMap<String, String> = match &target.opts.group_by {
        GroupBy::All => labels.clone(),
        GroupBy::Labels(names) => names
            .iter()
            .filter_map(|n| labels.get(n).map(|v| (n.clone(), v.clone())))
            .collect(),
    };
    // One notification never speaks of two tenants, whatever the route
    // groups by. The default tenant's groups keep the keys they had.
    if let Some(t) = labels.get("tenant").filter(|t| *t != "default") {
        group_labels
            .entry("tenant".to_owned())
            .or_insert_with(|| t.clone());
    }
    let mut key = format!("{}:{{", target.route_id);
    for (i, (k, v)) in group_labels.iter().enumerate() {
        key.push_str(&format!("{}{k}={v:?}", if i > 0 { "," } else { "" }));
    }
    key.push('}');
    (key, group_labels)
}

/// Whether a group must be notified (Alertmanager's `needsUpdate`, plus the
/// all-acknowledged transition).
pub fn needs_update(
    prev: Option<&NotifiedState>,
    firing: &BTreeSet<String>,
    resolved: &BTreeSet<String>,
    status: GroupStatus,
    now: Timestamp,
    repeat: std::time::Duration,
) -> bool {
    let Some(prev) = prev else {
        return !firing.is_empty();
    };
    if !firing.is_subset(&prev.firing) {
        return true;
    }
    if resolved.iter().any(|id| prev.firing.contains(id)) {
        return true;
    }
    if firing.is_empty() {
        return false;
    }
    if status != prev.status {
        return true;
    }
    time::add(prev.at, repeat) <= now
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn set(ids: &[&str]) -> BTreeSet<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn notification_log_decides() {
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let h = Duration::from_secs(3600);
        let prev = NotifiedState {
            firing: set(&["a", "b"]),
            resolved: set(&[]),
            status: GroupStatus::Firing,
            at: t0,
        };
        let later = t0 + jiff::SignedDuration::from_mins(10);
        assert!(needs_update(
            None,
            &set(&["a"]),
            &set(&[]),
            GroupStatus::Firing,
            t0,
            h
        ));
        assert!(!needs_update(
            None,
            &set(&[]),
            &set(&["a"]),
            GroupStatus::Resolved,
            t0,
            h
        ));
        assert!(!needs_update(
            Some(&prev),
            &set(&["a"]),
            &set(&[]),
            GroupStatus::Firing,
            later,
            h
        ));
        assert!(needs_update(
            Some(&prev),
            &set(&["a", "c"]),
            &set(&[]),
            GroupStatus::Firing,
            later,
            h
        ));
        assert!(needs_update(
            Some(&prev),
            &set(&["a"]),
            &set(&["b"]),
            GroupStatus::Firing,
            later,
            h
        ));
        assert!(needs_update(
            Some(&prev),
            &set(&["a", "b"]),
            &set(&[]),
            GroupStatus::Acknowledged,
            later,
            h
        ));
        assert!(needs_update(
            Some(&prev),
            &set(&["a", "b"]),
            &set(&[]),
            GroupStatus::Firing,
            t0 + jiff::SignedDuration::from_hours(1),
            h
        ));
    }
}
