//! Silences, the owner registry and the delivery log, as the API and CLI
//! change and read them. Each change is persisted, then emitted as an audit
//! event.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::alert::Change;
use crate::alert::owner::{OwnedKind, Registry};
use crate::alert::silence::{MatcherSpec, Silence, SilenceState};
use crate::config::TeamConfig;
use crate::engine::Engine;
use crate::error::AlertError;
use crate::store::{Delivery, to_json};

/// Longest silence comment accepted.
const MAX_SILENCE_COMMENT: usize = 4096;

/// A silence to create.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSilence {
    /// Matchers as objects, or as strings in Alertmanager's syntax.
    pub matchers: Vec<MatcherInput>,
    /// Defaults to now.
    #[serde(default)]
    pub starts_at: Option<jiff::Timestamp>,
    /// End time, or give `duration` instead.
    #[serde(default)]
    pub ends_at: Option<jiff::Timestamp>,
    /// e.g. "2h", counted from `starts_at`.
    #[serde(default)]
    pub duration: Option<String>,
    #[serde(default)]
    pub comment: String,
}

/// A matcher given as `"name=~value"` or as an object.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum MatcherInput {
    Text(String),
    Spec(MatcherSpec),
}

/// A silence with its state, as listed.
#[derive(Debug, Clone, Serialize)]
pub struct SilenceView {
    #[serde(flatten)]
    pub silence: Silence,
    pub state: SilenceState,
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
        self.shared.audit_event(&change, None, Value::Null)
    }

    /// Every silence with its state, newest first.
    pub fn silences(&self) -> Vec<SilenceView> {
        let now = self.now();
        let st = self.shared.state.lock();
        let mut out: Vec<SilenceView> = st
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

    /// Creates a silence.
    pub async fn add_silence(&self, req: NewSilence, actor: &str) -> Result<Silence, AlertError> {
        let now = self.now();
        let mut matchers = Vec::new();
        for (i, m) in req.matchers.iter().enumerate() {
            let parsed = match m {
                MatcherInput::Text(t) => crate::alert::matcher::Matcher::parse(t),
                MatcherInput::Spec(s) => {
                    crate::alert::matcher::Matcher::new(&s.name, s.op, &s.value)
                }
            }
            .map_err(|e| AlertError::Invalid(format!("matchers[{i}]: {e}")))?;
            matchers.push(MatcherSpec {
                name: parsed.name.clone(),
                op: parsed.op,
                value: parsed.value.clone(),
            });
        }
        let starts_at = req.starts_at.unwrap_or(now);
        let ends_at = match (req.ends_at, &req.duration) {
            (Some(e), None) => e,
            (None, Some(d)) => {
                let d = crate::config::parse_duration(d)
                    .map_err(|e| AlertError::Invalid(format!("duration: {e}")))?;
                crate::clock::add(starts_at, d)
            }
            _ => {
                return Err(AlertError::Invalid(
                    "give either ends_at or duration".into(),
                ));
            }
        };
        if ends_at <= starts_at || ends_at <= now {
            return Err(AlertError::Invalid(
                "ends_at must be after starts_at and in the future".into(),
            ));
        }
        if req.comment.len() > MAX_SILENCE_COMMENT {
            return Err(AlertError::Invalid(format!(
                "comment is longer than {MAX_SILENCE_COMMENT} bytes"
            )));
        }
        let s = Silence {
            id: uuid::Uuid::now_v7().to_string(),
            matchers,
            starts_at,
            ends_at,
            created_by: actor.to_string(),
            comment: req.comment,
            created_at: now,
        };
        s.compile().map_err(AlertError::Invalid)?;
        {
            let mut st = self.shared.state.lock();
            self.shared.store.put_silence(&s.id, &s)?;
            st.silences.insert(s.id.clone(), s.clone());
        }
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
        let s = {
            let mut st = self.shared.state.lock();
            let s = st
                .silences
                .get_mut(id)
                .ok_or_else(|| AlertError::UnknownSilence(id.to_string()))?;
            if s.state(now) == SilenceState::Expired {
                return Err(AlertError::Conflict(format!(
                    "silence {id} has already expired"
                )));
            }
            let mut updated = s.clone();
            updated.ends_at = now;
            if updated.starts_at > now {
                updated.starts_at = now;
            }
            self.shared.store.put_silence(id, &updated)?;
            *s = updated.clone();
            updated
        };
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
        if name.is_empty() || name.len() > 128 {
            return Err(AlertError::Invalid(
                "team name must be 1 to 128 bytes".into(),
            ));
        }
        if let Some(r) = &team.receiver
            && !self.shared.rt.receivers.contains_key(r)
        {
            return Err(AlertError::UnknownReceiver(r.clone()));
        }
        {
            let mut st = self.shared.state.lock();
            self.shared
                .store
                .put_owner_entry("teams", name, Some(&to_json(&team)?))?;
            st.owners.0.teams.insert(name.to_string(), team.clone());
        }
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
        if key.is_empty() || key.len() > 512 {
            return Err(AlertError::Invalid("key must be 1 to 512 bytes".into()));
        }
        {
            let mut st = self.shared.state.lock();
            if let Some(t) = team
                && st.owners.team(t).is_none()
            {
                return Err(AlertError::Invalid(format!(
                    "no team named {t}: create it first"
                )));
            }
            let body = team.map(|t| to_json(&t)).transpose()?;
            self.shared
                .store
                .put_owner_entry(kind.as_str(), key, body.as_deref())?;
            match team {
                Some(t) => {
                    st.owners
                        .map_mut(kind)
                        .insert(key.to_string(), t.to_string());
                }
                None => {
                    st.owners.map_mut(kind).remove(key);
                }
            }
        }
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
        self.shared.rt.receivers.keys().cloned().collect()
    }

    /// The delivery log of a receiver, newest first.
    pub fn deliveries(&self, receiver: &str, limit: usize) -> Result<Vec<Delivery>, AlertError> {
        if !self.shared.rt.receivers.contains_key(receiver) {
            return Err(AlertError::UnknownReceiver(receiver.to_string()));
        }
        self.shared.store.deliveries(receiver, limit)
    }

    /// The outbox entries of a receiver (queued, delivered, failed), newest first.
    pub fn queue(&self, receiver: &str, limit: usize) -> Result<Vec<QueuedView>, AlertError> {
        if !self.shared.rt.receivers.contains_key(receiver) {
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
                created: crate::clock::from_millis(e.created),
                next_attempt: crate::clock::from_millis(e.next_attempt),
                last_error: e.last_error,
                notification: serde_json::from_str(&e.body).unwrap_or(Value::Null),
            })
            .collect())
    }
}
