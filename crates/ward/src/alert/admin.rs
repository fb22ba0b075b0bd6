//! What people change and read besides alerts: silences, the owner
//! registry, receivers' delivery logs and response figures. Each change is
//! checked by `ward-alert`, persisted, committed, then emitted as an audit
//! event.

use serde::Serialize;
use serde_json::Value;
use ward_alert::AlertError;
use ward_alert::alert::Change;
use ward_alert::alert::owner::{OwnedKind, Registry};
use ward_alert::alert::silence::{self, NewSilence, Silence, SilenceView};
use ward_alert::config::TeamConfig;
use ward_alert::notification::{Notification, Reason};
use ward_alert::stats::{ResponseStats, response_stats};
use ward_alert::time::from_millis;

use super::engine::Engine;
use super::store::{Delivery, to_json};

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The queue of one integration entry, as the delivery log shows it.
#[derive(Debug, Clone, Serialize)]
pub struct QueuedView {
    pub seq: i64,
    pub integration: String,
    pub idempotency_key: String,
    pub state: String,
    pub attempts: i64,
    pub created: jiff::Timestamp,
    pub next_attempt: jiff::Timestamp,
    pub last_error: Option<String>,
    pub notification: Value,
}

impl Engine {
    fn change_event(&self, actor: &str, action: &str, detail: Value) -> Value {
        let change = Change {
            at: self.now(),
            actor: actor.to_string(),
            action: action.to_string(),
            detail,
        };
        self.shared.audit_event(&change, None)
    }

    /// Queues the notices of a person's change (after every lock is
    /// released); a notice that cannot be queued is logged, the change
    /// stands.
    pub(crate) fn notify_change(&self, notices: &[Notification]) {
        for n in notices {
            let mut n = n.clone();
            // In a cluster, one group's notice of one silence change has
            // the same id whichever node sends it.
            if let Reason::Silenced { silence, .. } | Reason::SilenceExpired { silence, .. } =
                &n.reason
                && self.shared.cluster.get().is_some()
            {
                n.id = self.shared.notification_id(&[
                    &n.group_key,
                    n.reason.as_str(),
                    silence,
                    &n.receiver,
                ]);
            }
            if let Err(e) = self.shared.enqueue(&n, None) {
                tracing::warn!(error = %e, reason = n.reason.as_str(), "cannot queue the notice of a change");
            }
        }
    }

    /// Every silence with its state, newest first.
    pub fn silences(&self) -> Vec<SilenceView> {
        let now = self.now();
        self.shared.state.lock().silence_views(now)
    }

    /// Creates a silence.
    pub async fn add_silence(&self, req: NewSilence, actor: &str) -> Result<Silence, AlertError> {
        let now = self.now();
        let s = silence::create(req, actor, uuid::Uuid::now_v7().to_string(), now)?;
        let notices = {
            let mut st = self.shared.state.lock();
            self.shared.save_silence(&s, actor)?;
            st.silences.insert(s.id.clone(), s.clone());
            let reason = Reason::Silenced {
                by: actor.to_string(),
                silence: s.id.clone(),
                starts_at: s.starts_at,
                ends_at: s.ends_at,
                comment: s.comment.clone(),
            };
            st.silence_notices(&s, &reason, &self.shared.compiled, now, new_id)
        };
        self.notify_change(&notices);
        let event = self.change_event(
            actor,
            "silence_created",
            serde_json::to_value(&s).unwrap_or(Value::Null),
        );
        self.shared.emit(vec![event]).await;
        Ok(s)
    }

    /// Ends a silence now.
    pub async fn expire_silence(&self, id: &str, actor: &str) -> Result<Silence, AlertError> {
        let now = self.now();
        let (s, notices) = {
            let mut st = self.shared.state.lock();
            let s = st
                .silences
                .get(id)
                .ok_or_else(|| AlertError::UnknownSilence(id.to_string()))?;
            let updated = silence::expire(s, now)?;
            // Only a silence that was muting has alerts that notify again.
            let notices = if s.state(now) == silence::SilenceState::Active {
                let reason = Reason::SilenceExpired {
                    by: actor.to_string(),
                    silence: id.to_string(),
                };
                st.silence_notices(s, &reason, &self.shared.compiled, now, new_id)
            } else {
                Vec::new()
            };
            self.shared.save_silence(&updated, actor)?;
            st.silences.insert(id.to_string(), updated.clone());
            (updated, notices)
        };
        self.notify_change(&notices);
        let event = self.change_event(actor, "silence_expired", serde_json::json!({"id": id}));
        self.shared.emit(vec![event]).await;
        Ok(s)
    }

    /// The owner registry (configuration plus API changes).
    pub fn owners(&self) -> Registry {
        self.shared.state.lock().owners.clone()
    }

    /// Creates or replaces a team.
    pub async fn put_team(
        &self,
        name: &str,
        team: TeamConfig,
        actor: &str,
    ) -> Result<(), AlertError> {
        let notices = {
            let mut st = self.shared.state.lock();
            st.check_team(name, &team, &self.shared.compiled)?;
            let c = &self.shared.compiled;
            let mut receivers = st.receivers_of_teams(&[Some(name)], c);
            self.shared
                .store
                .put_owner_entry("teams", name, Some(&to_json(&team)?))?;
            st.owners.0.teams.insert(name.to_string(), team.clone());
            receivers.extend(st.receivers_of_teams(&[Some(name)], c));
            let reason = Reason::RoutingChanged {
                by: actor.to_string(),
                change: format!(
                    "team {name} now reaches {} (receiver {})",
                    if team.contacts.is_empty() {
                        "no contacts".to_string()
                    } else {
                        team.contacts.join(", ")
                    },
                    team.receiver.as_deref().unwrap_or("of the root route")
                ),
            };
            st.routing_notices(receivers, None, &reason, c, self.now(), new_id)
        };
        self.notify_change(&notices);
        let event = self.change_event(
            actor,
            "owner_team_updated",
            serde_json::json!({"team": name, "entry": team}),
        );
        self.shared.emit(vec![event]).await;
        Ok(())
    }

    /// Maps a service, repository, host or tenant to a team (None removes it).
    pub async fn put_owner(
        &self,
        kind: OwnedKind,
        key: &str,
        team: Option<&str>,
        actor: &str,
    ) -> Result<(), AlertError> {
        let notices = {
            let mut st = self.shared.state.lock();
            st.check_owner(key, team)?;
            let c = &self.shared.compiled;
            let was = st.owners.map(kind).get(key).cloned();
            let mut receivers = st.receivers_of_teams(&[was.as_deref()], c);
            let body = team.map(|t| to_json(&t)).transpose()?;
            self.shared
                .store
                .put_owner_entry(kind.as_str(), key, body.as_deref())?;
            st.commit_owner(kind, key, team);
            receivers.extend(st.receivers_of_teams(&[team], c));
            let reason = Reason::RoutingChanged {
                by: actor.to_string(),
                change: format!(
                    "{} {key}: owner {} -> {}",
                    kind.as_str(),
                    was.as_deref().unwrap_or("none"),
                    team.unwrap_or("none")
                ),
            };
            let tenant = (kind == OwnedKind::Tenants).then_some(key);
            st.routing_notices(receivers, tenant, &reason, c, self.now(), new_id)
        };
        self.notify_change(&notices);
        let event = self.change_event(
            actor,
            "owner_mapping_updated",
            serde_json::json!({"kind": kind.as_str(), "key": key, "team": team}),
        );
        self.shared.emit(vec![event]).await;
        Ok(())
    }

    /// Names of the configured receivers.
    pub fn receivers(&self) -> Vec<String> {
        self.shared.compiled.receivers.keys().cloned().collect()
    }

    /// The delivery log of a receiver, newest first.
    pub fn deliveries(&self, receiver: &str, limit: usize) -> Result<Vec<Delivery>, AlertError> {
        if !self.shared.compiled.receivers.contains_key(receiver) {
            return Err(AlertError::UnknownReceiver(receiver.to_string()));
        }
        self.shared.store.deliveries(receiver, limit)
    }

    /// The outbox entries of a receiver (queued, delivered, failed), newest first.
    pub fn queue(&self, receiver: &str, limit: usize) -> Result<Vec<QueuedView>, AlertError> {
        if !self.shared.compiled.receivers.contains_key(receiver) {
            return Err(AlertError::UnknownReceiver(receiver.to_string()));
        }
        Ok(self
            .shared
            .store
            .outbox_of(receiver, limit)?
            .into_iter()
            .map(|e| QueuedView {
                seq: e.seq,
                integration: e.integration,
                idempotency_key: e.idempotency_key,
                state: e.state,
                attempts: e.attempts,
                created: from_millis(e.created),
                next_attempt: from_millis(e.next_attempt),
                last_error: e.last_error,
                notification: serde_json::from_str(&e.body).unwrap_or(Value::Null),
            })
            .collect())
    }

    /// Response figures per (team, severity), per team, per severity and
    /// overall, at the engine's `now`.
    pub fn response_stats(&self) -> Vec<ResponseStats> {
        self.response_stats_where(|_| true)
    }

    /// [`Engine::response_stats`] over the alerts `keep` accepts (a
    /// caller's tenant).
    pub fn response_stats_where(
        &self,
        keep: impl Fn(&ward_alert::Alert) -> bool,
    ) -> Vec<ResponseStats> {
        let now = self.now();
        let st = self.shared.state.lock();
        response_stats(st.alerts.values().filter(|a| keep(a)), now)
    }
}
