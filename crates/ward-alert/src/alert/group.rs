//! Grouping (Alertmanager's aggregation groups): alerts taken by the same
//! route with the same values of the route's `group_by` labels form a group.
//! A group's task waits `group_wait`, flushes, then flushes every
//! `group_interval`. A flush drops muted alerts (silences, inhibition), skips
//! everything during a mute time interval, and notifies only when the
//! notification log says something changed — new firing alerts, newly
//! resolved ones, all acknowledged — or `repeat_interval` has passed.
//! The notification and the log entry are written in one transaction.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::alert::Muter;
use crate::alert::inhibit::Inhibitor;
use crate::alert::route::{GroupBy, RouteOpts, Target};
use crate::alert::silence::ActiveSilences;
use crate::clock;
use crate::engine::Shared;
use crate::notify::{AlertSummary, GroupStatus, Notification, Reason};

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
    let group_labels: BTreeMap<String, String> = match &target.opts.group_by {
        GroupBy::All => labels.clone(),
        GroupBy::Labels(names) => names
            .iter()
            .filter_map(|n| labels.get(n).map(|v| (n.clone(), v.clone())))
            .collect(),
    };
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
    clock::add(prev.at, repeat) <= now
}

/// Runs a group: wait, flush, then flush every interval until it is empty.
pub(crate) async fn run(shared: Arc<Shared>, key: String, opts: Arc<RouteOpts>) {
    let mut stop = shared.stopping();
    tokio::select! {
        _ = tokio::time::sleep(opts.group_wait) => {}
        _ = stop.wait_for(|s| *s) => return,
    }
    loop {
        match flush(&shared, &key).await {
            Ok(true) => return,
            Ok(false) => {}
            Err(e) => tracing::warn!(group = %key, error = %e, "group flush failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(opts.group_interval) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// Flushes a group; returns true when the group is empty and was removed.
pub(crate) async fn flush(shared: &Shared, key: &str) -> Result<bool, crate::AlertError> {
    let now = shared.clock.now();
    let prev: Option<NotifiedState> = shared.store.nflog(key)?;
    let rt = &shared.rt;
    let prepared = {
        let mut st = shared.state.lock();
        let Some(group) = st.groups.get(key) else {
            return Ok(true);
        };
        let opts = group.opts.clone();
        if rt.time_muted(&opts.mute_time_intervals, &opts.active_time_intervals, now) {
            return Ok(false);
        }
        let silences = ActiveSilences::at(st.silences.values(), now);
        let sources: Vec<(&str, &BTreeMap<String, String>)> = st
            .alerts
            .values()
            .filter(|a| a.is_firing())
            .map(|a| (a.id.as_str(), &a.labels))
            .collect();
        let inhibitor = Inhibitor::new(&rt.inhibit, sources);
        let members: Vec<_> = group
            .members
            .iter()
            .filter_map(|id| st.alerts.get(id))
            .collect();
        let visible: Vec<_> = members
            .iter()
            .filter(|a| !silences.mutes(&a.id, &a.labels) && !inhibitor.mutes(&a.id, &a.labels))
            .collect();
        let firing: BTreeSet<String> = visible
            .iter()
            .filter(|a| a.is_firing())
            .map(|a| a.id.clone())
            .collect();
        let resolved: BTreeSet<String> = visible
            .iter()
            .filter(|a| !a.is_firing())
            .map(|a| a.id.clone())
            .collect();
        let status = if firing.is_empty() {
            GroupStatus::Resolved
        } else if visible
            .iter()
            .filter(|a| a.is_firing())
            .all(|a| a.status == crate::alert::Status::Acknowledged)
        {
            GroupStatus::Acknowledged
        } else {
            GroupStatus::Firing
        };
        let notification = needs_update(
            prev.as_ref(),
            &firing,
            &resolved,
            status,
            now,
            opts.repeat_interval,
        )
        .then(|| {
            let alerts: Vec<AlertSummary> = visible
                .iter()
                .map(|a| AlertSummary::of(a, st.contacts_of(a.owner.as_deref()), &rt.public_url))
                .collect();
            (
                Notification {
                    id: uuid::Uuid::now_v7().to_string(),
                    receiver: opts.receiver.clone(),
                    group_key: key.to_string(),
                    group_labels: group.labels.clone(),
                    status,
                    reason: Reason::Group,
                    alerts,
                    external_url: rt.public_url.clone(),
                    created_at: now,
                },
                NotifiedState {
                    firing,
                    resolved,
                    status,
                    at: now,
                },
            )
        });
        // Resolved alerts leave the group once flushed, as in Alertmanager.
        let done: Vec<String> = members
            .iter()
            .filter(|a| !a.is_firing())
            .map(|a| a.id.clone())
            .collect();
        let empty = if let Some(g) = st.groups.get_mut(key) {
            for id in &done {
                g.members.remove(id);
            }
            g.members.is_empty()
        } else {
            true
        };
        if empty {
            st.groups.remove(key);
        }
        (notification, empty)
    };
    let (notification, empty) = prepared;
    if let Some((n, state)) = notification {
        shared.enqueue(&n, Some((key, &state)))?;
    }
    Ok(empty)
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
