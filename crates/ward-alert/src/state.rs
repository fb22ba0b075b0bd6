//! The alerting state machine: the alerts, silences, owner registry and
//! aggregation groups, and every decision taken on them. Nothing here reads
//! a clock, touches a disk or waits: each step takes `now` and its inputs
//! and returns what to do (like Alertmanager's `dispatch`), and the
//! application persists the result before it calls the `commit_*` method
//! that makes it visible, so memory is never ahead of the disk.
//!
//! Invariants: `current` maps an identity to its newest alert; a group's
//! members are ids of alerts in `alerts`; a group exists while it has
//! members (resolved members leave it at the flush that notified them).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use jiff::Timestamp;
use serde::Deserialize;

use crate::alert::group::{Group, NotifiedState, group_of, needs_update};
use crate::alert::inhibit::Inhibitor;
use crate::alert::owner::{OwnedKind, Registry};
use crate::alert::route::RouteOpts;
use crate::alert::silence::{ActiveSilences, Silence, SilenceView};
use crate::alert::sla::SlaPolicy;
use crate::alert::{self, Alert, AlertId, Change, Finding, Muter, Severity, Status, lifecycle};
use crate::compile::Compiled;
use crate::config::TeamConfig;
use crate::error::AlertError;
use crate::notification::{AlertSummary, GroupStatus, Notification, Reason};

/// Everything alerting knows, in memory.
#[derive(Debug, Default)]
pub struct State {
    pub alerts: HashMap<AlertId, Alert>,
    /// identity → newest alert with that identity.
    pub current: HashMap<String, AlertId>,
    pub silences: BTreeMap<String, Silence>,
    pub owners: Registry,
    pub groups: HashMap<String, Group>,
}

/// What taking a finding decided: the alert to save (with the finding id
/// to record when it is new), and the change for its history.
#[derive(Debug, Clone)]
pub struct FindingStep {
    pub id: AlertId,
    /// None for a replay of a finding whose alert is gone.
    pub alert: Option<Alert>,
    /// The finding was applied before: only evidence was merged.
    pub replayed: bool,
    /// The change recorded in the alert's history (`alert_opened`,
    /// `alert_refired`); Ward's own, never a person's.
    pub change: Option<Change>,
}

/// A group that did not exist before: the application starts its timer.
#[derive(Debug, Clone)]
pub struct NewGroup {
    pub key: String,
    pub opts: Arc<RouteOpts>,
}

/// What a group flush decided.
#[derive(Debug, Clone)]
pub struct Flush {
    /// The notification to queue and the log entry to write with it.
    pub notification: Option<(Notification, NotifiedState)>,
    /// The group is empty and gone: its timer ends.
    pub removed: bool,
}

/// What an SLA check decided.
#[derive(Debug, Clone, Default)]
pub struct SlaStep {
    /// Alerts that breached (already updated in memory; save them), each
    /// with the escalation to queue.
    pub breached: Vec<(Alert, Notification)>,
    /// When the next deadline falls, to wake up then.
    pub next: Option<Timestamp>,
}

/// Which alerts a listing shows.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertFilter {
    pub status: Option<String>,
    pub severity: Option<String>,
    pub owner: Option<String>,
    pub rule: Option<String>,
    pub limit: Option<usize>,
}

impl AlertFilter {
    pub fn matches(&self, a: &Alert) -> bool {
        self.status
            .as_deref()
            .is_none_or(|s| a.status.as_str() == s || (s == "firing" && a.is_firing()))
            && self
                .severity
                .as_deref()
                .is_none_or(|s| a.severity.as_str() == s)
            && self
                .owner
                .as_deref()
                .is_none_or(|o| a.owner.as_deref().unwrap_or("none") == o)
            && self
                .rule
                .as_deref()
                .is_none_or(|r| a.rule_id == r || a.rule_title == r)
    }
}

/// The finding label naming the owning team outright, set by Ward's own
/// producers (compliance controls name their owner); detection never
/// copies it from an event, so an event cannot choose who is paged.
pub const OWNER_LABEL: &str = "ward.owner";

/// Checks a finding from detection; returns its severity.
pub fn check_finding(f: &Finding) -> Result<Severity, AlertError> {
    let bad = |field: &'static str, reason: &str| AlertError::InvalidFinding {
        finding_id: f.id.chars().take(128).collect(),
        field,
        reason: reason.to_string(),
    };
    if f.id.is_empty() || f.id.len() > 512 {
        return Err(bad("id", "must be 1 to 512 bytes"));
    }
    if f.rule_id.is_empty() {
        return Err(bad("rule_id", "must not be empty"));
    }
    Severity::parse(&f.level).ok_or_else(|| {
        bad(
            "level",
            "must be informational, low, medium, high or critical",
        )
    })
}

impl State {
    /// A state with the configured owners and nothing else.
    pub fn new(owners: Registry) -> State {
        State {
            owners,
            ..State::default()
        }
    }

    /// Loads saved alerts and silences (at start).
    pub fn load(&mut self, mut alerts: Vec<Alert>, silences: Vec<Silence>) {
        alerts.sort_by_key(|a| a.created_at);
        for a in alerts {
            self.current.insert(a.identity.clone(), a.id.clone());
            self.alerts.insert(a.id.clone(), a);
        }
        for s in silences {
            self.silences.insert(s.id.clone(), s);
        }
    }

    /// Rebuilds the groups after a start: every firing alert joins its
    /// groups, and a resolved alert that a group's log still lists as
    /// firing goes back into that group, so the next flush sends the
    /// resolution that was pending at the stop.
    pub fn rebuild(&mut self, c: &Compiled, logs: &[(String, NotifiedState)]) -> Vec<NewGroup> {
        let mut firing: Vec<AlertId> = self
            .alerts
            .values()
            .filter(|a| a.is_firing())
            .map(|a| a.id.clone())
            .collect();
        firing.sort();
        let mut out = Vec::new();
        for id in firing {
            out.extend(self.route(&id, c, None));
        }
        for (key, logged) in logs {
            let due: Vec<AlertId> = logged
                .firing
                .iter()
                .filter(|id| self.alerts.get(*id).is_some_and(|a| !a.is_firing()))
                .cloned()
                .collect();
            for id in due {
                out.extend(self.route(&id, c, Some(key)));
            }
        }
        out
    }

    /// How to reach the team `owner`.
    pub fn contacts_of(&self, owner: Option<&str>) -> Vec<String> {
        owner
            .and_then(|o| self.owners.team(o))
            .map(|t| t.contacts.clone())
            .unwrap_or_default()
    }

    /// Decides what a finding does: opens an alert, re-fires the open one
    /// with the same rule and group key, or (when `applied` names the alert
    /// it was applied to before) merges evidence the alert may lack.
    pub fn take_finding(
        &self,
        f: &Finding,
        applied: Option<AlertId>,
        sla: &SlaPolicy,
        now: Timestamp,
    ) -> Result<FindingStep, AlertError> {
        let severity = check_finding(f)?;
        if let Some(id) = applied {
            let alert = self.alerts.get(&id).cloned().map(|mut a| {
                lifecycle::refire(&mut a, f, false, now);
                a
            });
            return Ok(FindingStep {
                id,
                alert,
                replayed: true,
                change: None,
            });
        }
        let identity = alert::identity(f);
        let firing = self
            .current
            .get(&identity)
            .and_then(|id| self.alerts.get(id))
            .filter(|a| a.is_firing());
        if let Some(a) = firing {
            let mut a = a.clone();
            let change = lifecycle::refire(&mut a, f, true, now);
            return Ok(FindingStep {
                id: a.id.clone(),
                alert: Some(a),
                replayed: false,
                change,
            });
        }
        let owner = f
            .labels
            .get(OWNER_LABEL)
            .filter(|t| !t.is_empty())
            .cloned()
            .or_else(|| self.owners.owner_of(&f.labels))
            .or_else(|| self.owners.owner_of(&f.group_key));
        let (a, change) = lifecycle::open(
            lifecycle::Opening {
                finding: f,
                id: alert::alert_id(&identity, &f.id),
                identity: identity.clone(),
                severity,
                owner,
                previous: self.current.get(&identity).cloned(),
                now,
            },
            sla,
        );
        Ok(FindingStep {
            id: a.id.clone(),
            alert: Some(a),
            replayed: false,
            change: Some(change),
        })
    }

    /// The alert a finding would change: the one it was applied to, else
    /// the firing alert of its identity; `None` when it opens one.
    pub fn finding_target(&self, f: &Finding, applied: Option<&AlertId>) -> Option<AlertId> {
        if let Some(id) = applied {
            return Some(id.clone());
        }
        self.current
            .get(&alert::identity(f))
            .filter(|id| self.alerts.get(*id).is_some_and(Alert::is_firing))
            .cloned()
    }

    /// [`State::take_finding`] and [`State::commit_alert`] at once, the
    /// alert changed where it is kept instead of copied: for a batch whose
    /// caller keeps what it needs to undo ([`State::finding_target`]).
    /// Returns the alert's id, whether the finding was a replay, and
    /// whether an alert changed.
    pub fn take_finding_in_place(
        &mut self,
        f: &Finding,
        applied: Option<AlertId>,
        sla: &SlaPolicy,
        now: Timestamp,
    ) -> Result<(AlertId, bool, bool), AlertError> {
        check_finding(f)?;
        if let Some(id) = applied {
            let changed = match self.alerts.get_mut(&id) {
                Some(a) => {
                    lifecycle::refire(a, f, false, now);
                    true
                }
                None => false,
            };
            return Ok((id, true, changed));
        }
        if let Some(id) = self.finding_target(f, None)
            && let Some(a) = self.alerts.get_mut(&id)
        {
            lifecycle::refire(a, f, true, now);
            return Ok((id, false, true));
        }
        let step = self.take_finding(f, None, sla, now)?;
        let id = step.id.clone();
        if let Some(a) = step.alert {
            self.commit_alert(a, false);
        }
        Ok((id, false, true))
    }

    /// Makes a saved alert current. A replay must not move `current`: a
    /// newer alert may hold the identity by now.
    pub fn commit_alert(&mut self, a: Alert, replayed: bool) {
        if !replayed {
            self.current.insert(a.identity.clone(), a.id.clone());
        }
        self.alerts.insert(a.id.clone(), a);
    }

    /// Applies a person's change to a copy of the alert; save the copy, then
    /// [`State::commit_alert`] it.
    pub fn change(
        &self,
        id: &str,
        now: Timestamp,
        f: impl FnOnce(&mut Alert, Timestamp) -> Result<Change, AlertError>,
    ) -> Result<(Alert, Change), AlertError> {
        let mut a = self
            .alerts
            .get(id)
            .cloned()
            .ok_or_else(|| AlertError::UnknownAlert(id.to_string()))?;
        let change = f(&mut a, now)?;
        Ok((a, change))
    }

    /// Puts an alert into the groups of every route that takes it (only the
    /// group `only` when given); returns the groups this created.
    pub fn route(&mut self, id: &str, c: &Compiled, only: Option<&str>) -> Vec<NewGroup> {
        let Some(a) = self.alerts.get(id) else {
            return Vec::new();
        };
        let team_receiver = a
            .owner
            .as_deref()
            .and_then(|o| self.owners.team(o))
            .and_then(|t| t.receiver.clone());
        let targets = c.route.targets(&a.labels, team_receiver.as_deref());
        let labels = a.labels.clone();
        let mut created = Vec::new();
        for t in targets {
            let (key, group_labels) = group_of(&t, &labels);
            if only.is_some_and(|k| k != key) {
                continue;
            }
            match self.groups.get_mut(&key) {
                Some(g) => {
                    g.members.insert(id.to_string());
                }
                None => {
                    self.groups.insert(
                        key.clone(),
                        Group {
                            opts: t.opts.clone(),
                            labels: group_labels,
                            members: [id.to_string()].into(),
                        },
                    );
                    created.push(NewGroup {
                        key,
                        opts: t.opts.clone(),
                    });
                }
            }
        }
        created
    }

    /// Flushes a group at `now` given what its log says was last notified
    /// (`prev`); `notification_id` names the notification if one is due.
    /// Resolved members leave the group, as in Alertmanager.
    pub fn flush(
        &mut self,
        key: &str,
        prev: Option<&NotifiedState>,
        c: &Compiled,
        now: Timestamp,
        notification_id: String,
    ) -> Flush {
        let Some(group) = self.groups.get(key) else {
            return Flush {
                notification: None,
                removed: true,
            };
        };
        let opts = group.opts.clone();
        if c.time_muted(&opts.mute_time_intervals, &opts.active_time_intervals, now) {
            return Flush {
                notification: None,
                removed: false,
            };
        }
        let silences = ActiveSilences::at(self.silences.values(), now);
        let sources: Vec<(&str, &BTreeMap<String, String>)> = self
            .alerts
            .values()
            .filter(|a| a.is_firing())
            .map(|a| (a.id.as_str(), &a.labels))
            .collect();
        let inhibitor = Inhibitor::new(&c.inhibit, sources);
        let members: Vec<&Alert> = group
            .members
            .iter()
            .filter_map(|id| self.alerts.get(id))
            .collect();
        let visible: Vec<&&Alert> = members
            .iter()
            .filter(|a| !silences.mutes(&a.id, &a.labels) && !inhibitor.mutes(&a.id, &a.labels))
            .collect();
        let ids = |firing: bool| -> BTreeSet<String> {
            visible
                .iter()
                .filter(|a| a.is_firing() == firing)
                .map(|a| a.id.clone())
                .collect()
        };
        let (firing, resolved) = (ids(true), ids(false));
        let status = if firing.is_empty() {
            GroupStatus::Resolved
        } else if visible
            .iter()
            .filter(|a| a.is_firing())
            .all(|a| a.status == Status::Acknowledged)
        {
            GroupStatus::Acknowledged
        } else {
            GroupStatus::Firing
        };
        let due = needs_update(prev, &firing, &resolved, status, now, opts.repeat_interval);
        let notification = due.then(|| {
            let alerts: Vec<AlertSummary> = visible
                .iter()
                .map(|a| AlertSummary::of(a, self.contacts_of(a.owner.as_deref()), &c.public_url))
                .collect();
            (
                Notification {
                    id: notification_id,
                    receiver: opts.receiver.clone(),
                    group_key: key.to_string(),
                    group_labels: group.labels.clone(),
                    status,
                    reason: Reason::Group,
                    alerts,
                    external_url: c.public_url.clone(),
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
        let done: Vec<String> = members
            .iter()
            .filter(|a| !a.is_firing())
            .map(|a| a.id.clone())
            .collect();
        let removed = match self.groups.get_mut(key) {
            Some(g) => {
                for id in &done {
                    g.members.remove(id);
                }
                g.members.is_empty()
            }
            None => true,
        };
        if removed {
            self.groups.remove(key);
        }
        Flush {
            notification,
            removed,
        }
    }

    /// Records every SLA deadline passed at `now` (once per alert and kind)
    /// and says what to escalate and when to look again.
    pub fn check_sla(
        &mut self,
        c: &Compiled,
        now: Timestamp,
        mut new_id: impl FnMut() -> String,
    ) -> SlaStep {
        let mut step = self.check_sla_where(c, now, |_| true);
        for (_, n) in &mut step.breached {
            n.id = new_id();
        }
        step
    }

    /// [`State::check_sla`] of the alerts `keep` takes only (in a cluster,
    /// those this node owns); the notifications' ids are left empty for the
    /// caller to set.
    pub fn check_sla_where(
        &mut self,
        c: &Compiled,
        now: Timestamp,
        keep: impl Fn(&Alert) -> bool,
    ) -> SlaStep {
        let mut step = SlaStep::default();
        let mut ids: Vec<AlertId> = self
            .alerts
            .values()
            .filter(|a| a.is_firing() && keep(a))
            .map(|a| a.id.clone())
            .collect();
        ids.sort();
        for id in ids {
            let owner = self.alerts.get(&id).and_then(|a| a.owner.clone());
            let contacts = self.contacts_of(owner.as_deref());
            let Some(a) = self.alerts.get_mut(&id) else {
                continue;
            };
            for kind in alert::sla::new_breaches(a, now) {
                lifecycle::breach(a, kind, now);
                let n = Notification {
                    id: String::new(),
                    receiver: c.escalation_receiver.clone(),
                    group_key: format!("sla/{kind}/{}", a.id),
                    group_labels: BTreeMap::from([("alertname".to_string(), a.rule_title.clone())]),
                    status: GroupStatus::Firing,
                    reason: Reason::SlaBreach {
                        kind: kind.to_string(),
                    },
                    alerts: vec![AlertSummary::of(a, contacts.clone(), &c.public_url)],
                    external_url: c.public_url.clone(),
                    created_at: now,
                };
                step.breached.push((a.clone(), n));
            }
            if let Some(d) = alert::sla::next_deadline(a) {
                step.next = Some(step.next.map_or(d, |n: Timestamp| n.min(d)));
            }
        }
        step
    }

    /// The notices of a person's silence (`reason` says who and what): one
    /// per group that holds firing alerts the silence's matchers take, to
    /// the group's receiver, with those alerts. A group holds one tenant's
    /// alerts, and a tenant's silence matches only its tenant, so a notice
    /// never speaks of another tenant.
    pub fn silence_notices(
        &self,
        s: &Silence,
        reason: &Reason,
        c: &Compiled,
        now: Timestamp,
        mut new_id: impl FnMut() -> String,
    ) -> Vec<Notification> {
        let Ok(matchers) = s.compile() else {
            return Vec::new();
        };
        let mut keys: Vec<&String> = self.groups.keys().collect();
        keys.sort();
        let mut out = Vec::new();
        for key in keys {
            let g = &self.groups[key];
            let taken: Vec<&Alert> = g
                .members
                .iter()
                .filter_map(|id| self.alerts.get(id))
                .filter(|a| a.is_firing() && matchers.iter().all(|m| m.matches(&a.labels)))
                .collect();
            if taken.is_empty() {
                continue;
            }
            let status = if taken.iter().all(|a| a.status == Status::Acknowledged) {
                GroupStatus::Acknowledged
            } else {
                GroupStatus::Firing
            };
            out.push(Notification {
                id: new_id(),
                receiver: g.opts.receiver.clone(),
                group_key: key.clone(),
                group_labels: g.labels.clone(),
                status,
                reason: reason.clone(),
                alerts: taken
                    .iter()
                    .map(|a| {
                        AlertSummary::of(a, self.contacts_of(a.owner.as_deref()), &c.public_url)
                    })
                    .collect(),
                external_url: c.public_url.clone(),
                created_at: now,
            });
        }
        out
    }

    fn team_receivers(&self, team: Option<&str>, c: &Compiled) -> Vec<String> {
        let own = team
            .and_then(|t| self.owners.team(t))
            .and_then(|t| t.receiver.clone());
        c.route
            .targets(&BTreeMap::new(), own.as_deref())
            .into_iter()
            .map(|t| t.opts.receiver.clone())
            .collect()
    }

    /// The receivers the pages of `teams` go to: each team's own receiver,
    /// else the root route's (for a team that does not exist too).
    pub fn receivers_of_teams(&self, teams: &[Option<&str>], c: &Compiled) -> Vec<String> {
        teams
            .iter()
            .flat_map(|t| self.team_receivers(*t, c))
            .collect()
    }

    /// The notices of a person's change of the owner registry, one to each
    /// of `receivers` (those of the teams the change concerns, read before
    /// and after it with [`State::receivers_of_teams`]: the team that
    /// owned an entry and the one that owns it now), without alerts.
    /// `tenant` is the tenant whose entry changed, if that is what changed.
    pub fn routing_notices(
        &self,
        receivers: Vec<String>,
        tenant: Option<&str>,
        reason: &Reason,
        c: &Compiled,
        now: Timestamp,
        mut new_id: impl FnMut() -> String,
    ) -> Vec<Notification> {
        let receivers: BTreeSet<String> = receivers.into_iter().collect();
        let group_labels: BTreeMap<String, String> = tenant
            .map(|t| BTreeMap::from([("tenant".to_owned(), t.to_owned())]))
            .unwrap_or_default();
        receivers
            .into_iter()
            .map(|receiver| Notification {
                id: new_id(),
                group_key: format!("routing/{receiver}"),
                receiver,
                group_labels: group_labels.clone(),
                status: GroupStatus::Firing,
                reason: reason.clone(),
                alerts: Vec::new(),
                external_url: c.public_url.clone(),
                created_at: now,
            })
            .collect()
    }

    /// Alerts matching a filter, newest first.
    pub fn list(&self, filter: &AlertFilter) -> Vec<Alert> {
        let mut out: Vec<Alert> = self
            .alerts
            .values()
            .filter(|a| filter.matches(a))
            .cloned()
            .collect();
        out.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| a.id.cmp(&b.id))
        });
        out.truncate(filter.limit.unwrap_or(1000).min(10_000));
        out
    }

    /// Every silence with its state at `now`, newest first.
    pub fn silence_views(&self, now: Timestamp) -> Vec<SilenceView> {
        let mut out: Vec<SilenceView> = self
            .silences
            .values()
            .map(|s| SilenceView {
                silence: s.clone(),
                state: s.state(now),
            })
            .collect();
        out.sort_by_key(|s| std::cmp::Reverse(s.silence.created_at));
        out
    }

    /// Checks a team entry made by a person.
    pub fn check_team(
        &self,
        name: &str,
        team: &TeamConfig,
        c: &Compiled,
    ) -> Result<(), AlertError> {
        if name.is_empty() || name.len() > 128 {
            return Err(AlertError::Invalid(
                "team name must be 1 to 128 bytes".into(),
            ));
        }
        if let Some(r) = &team.receiver
            && !c.receivers.contains_key(r)
        {
            return Err(AlertError::UnknownReceiver(r.clone()));
        }
        Ok(())
    }

    /// Checks an owner mapping made by a person (`team` None removes it).
    pub fn check_owner(&self, key: &str, team: Option<&str>) -> Result<(), AlertError> {
        if key.is_empty() || key.len() > 512 {
            return Err(AlertError::Invalid("key must be 1 to 512 bytes".into()));
        }
        if let Some(t) = team
            && self.owners.team(t).is_none()
        {
            return Err(AlertError::Invalid(format!(
                "no team named {t}: create it first"
            )));
        }
        Ok(())
    }

    /// Sets an owner mapping (after it is saved).
    pub fn commit_owner(&mut self, kind: OwnedKind, key: &str, team: Option<&str>) {
        match team {
            Some(t) => {
                self.owners
                    .map_mut(kind)
                    .insert(key.to_string(), t.to_string());
            }
            None => {
                self.owners.map_mut(kind).remove(key);
            }
        }
    }
}

#[cfg(test)]
mod tests;
