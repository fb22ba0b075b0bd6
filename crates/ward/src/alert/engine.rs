//! The alert stage's runtime around `ward-alert`'s state machine: the one
//! place where its decisions are persisted and acted on. Every change is
//! saved to the store before the state machine commits it (memory is never
//! ahead of the disk); then the groups it created get a timer
//! ([`super::group`]), the SLA watcher ([`super::sla`]) is woken, and a
//! person's change is emitted as an audit event. Ward's own changes
//! (`alert_opened`, `alert_refired`, `alert_sla_breached`) stay in the
//! alert's history only.
//!
//! Locking: `state` is taken first and the store's own lock inside it, never
//! the other way round; audit events are sent after `state` is released.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use jiff::Timestamp;
use parking_lot::Mutex;
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;
use ward_alert::alert::owner::Registry;
use ward_alert::alert::silence::{Silence, SilenceState};
use ward_alert::alert::{self, Alert, AlertId, Change, Finding, lifecycle};
use ward_alert::notification::{Recipient, fan_out};
use ward_alert::state::{NewGroup, State};
use ward_alert::{AlertError, AlertFilter, AlertingConfig, Compiled};

use super::store::{Store, to_json};
use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::notify::{self, Integration, Notification, destination, outbox};

/// Options for embedding and tests.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Start the engine's clock at this wall time (tests with paused tokio
    /// time use it to place alerts on a known weekday and hour).
    pub start_time: Option<Timestamp>,
    /// Run the outbox workers. Off: notifications are queued durably but not
    /// sent (a dry run; a later start with delivery on sends them).
    pub deliver: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            start_time: None,
            deliver: true,
        }
    }
}

/// What the tasks share.
pub(crate) struct Shared {
    pub compiled: Compiled,
    pub store: Arc<Store>,
    pub clock: Clock,
    pub audit: mpsc::Sender<Value>,
    pub state: Mutex<State>,
    /// integration id → its notifier and wake-up signal.
    pub integrations: BTreeMap<String, (Arc<Integration>, Arc<Notify>)>,
    pub sla_wake: Notify,
    /// True once stopping: group timers and the SLA watcher end.
    pub stop: watch::Sender<bool>,
    /// True once stopping: outbox workers send what is due, then end.
    pub draining: watch::Sender<bool>,
    /// No more findings are taken.
    pub closed: AtomicBool,
    pub metrics: Arc<Metrics>,
    /// Cluster mode: set once, before the first finding.
    pub cluster: std::sync::OnceLock<Replica>,
}

/// Cluster mode: where this node's alert changes go (every node applies
/// them, see `crate::cluster::alerts`), and which alerts this node notifies
/// for (the owner of the alert's correlation partition).
pub struct Replica {
    pub changes: mpsc::Sender<Replicated>,
    pub owns: Box<dyn Fn(&Alert) -> bool + Send + Sync>,
    /// This node's name: with a version, it orders two changes saved in
    /// the same millisecond on two nodes.
    pub node: String,
    /// The newest version this node made or saw (a hybrid clock: wall
    /// milliseconds, moved past every version seen).
    pub clock: Mutex<i64>,
    /// Alert id → the version of the copy held here.
    pub versions: Mutex<std::collections::HashMap<AlertId, Version>>,
}

/// Orders the changes of one alert the same on every node: the copy with
/// the greater version wins wherever it arrives first.
pub type Version = (i64, String);

impl Replica {
    pub fn new(
        changes: mpsc::Sender<Replicated>,
        owns: Box<dyn Fn(&Alert) -> bool + Send + Sync>,
        node: &str,
    ) -> Replica {
        Replica {
            changes,
            owns,
            node: node.to_owned(),
            clock: Mutex::new(0),
            versions: Mutex::default(),
        }
    }

    /// The version of a change saved here now.
    fn tick(&self) -> i64 {
        let mut c = self.clock.lock();
        *c = (*c + 1).max(Timestamp::now().as_millisecond());
        *c
    }
}

/// A change saved on this node, for the other nodes.
#[derive(Debug, Clone)]
pub enum Replicated {
    /// An alert, and the finding newly applied to it.
    Alert {
        alert: Box<Alert>,
        finding: Option<String>,
        version: i64,
    },
    /// A silence created or expired by `by`.
    Silence { silence: Silence, by: String },
}

/// Alert changes waiting for the brokers; beyond this they are dropped
/// (counted in `ward_cluster_alert_changes_dropped_total`).
pub const REPLICA_CAPACITY: usize = 10_000;

impl Shared {
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// Whether this node routes, reminds and escalates `a`: always on a
    /// single node; in a cluster only on the owner of its partition.
    pub fn owns(&self, a: &Alert) -> bool {
        self.cluster.get().is_none_or(|r| (r.owns)(a))
    }

    /// Hands a saved alert to the other nodes (cluster mode only).
    pub fn replicate(&self, a: &Alert, finding: Option<&str>) {
        let Some(r) = self.cluster.get() else {
            return;
        };
        let version = r.tick();
        r.versions
            .lock()
            .insert(a.id.clone(), (version, r.node.clone()));
        self.hand_over(|| Replicated::Alert {
            alert: Box::new(a.clone()),
            finding: finding.map(str::to_owned),
            version,
        });
    }

    /// Hands a saved silence to the other nodes (cluster mode only).
    pub fn replicate_silence(&self, s: &Silence, by: &str) {
        self.hand_over(|| Replicated::Silence {
            silence: s.clone(),
            by: by.to_owned(),
        });
    }

    fn hand_over(&self, change: impl FnOnce() -> Replicated) {
        let Some(r) = self.cluster.get() else {
            return;
        };
        if let Err(e) = r.changes.try_send(change()) {
            self.metrics
                .add("ward_cluster_alert_changes_dropped_total", &[], 1);
            tracing::error!(error = %e, "alert change not handed to the other nodes");
        }
    }

    /// A notification id the same on every node for the same content, so
    /// that two nodes notifying the same thing share idempotency keys
    /// (cluster mode); a fresh UUIDv7 on a single node.
    pub fn notification_id(&self, parts: &[&str]) -> String {
        if self.cluster.get().is_none() {
            return uuid::Uuid::now_v7().to_string();
        }
        use sha2::Digest as _;
        let mut h = sha2::Sha256::new();
        for p in parts {
            h.update(p.as_bytes());
            h.update([0]);
        }
        hex::encode(&h.finalize()[..16])
    }

    /// Queues a notification for every integration of its receiver and, for
    /// a group, records what was notified, in one transaction.
    pub fn enqueue(
        &self,
        n: &Notification,
        group: Option<(&str, &ward_alert::alert::group::NotifiedState)>,
    ) -> Result<(), AlertError> {
        let prefix = format!("{}/", n.receiver);
        let deliveries = fan_out(
            n,
            self.integrations
                .range(prefix.clone()..)
                .take_while(|(id, _)| id.starts_with(&prefix))
                .filter(|(_, (i, _))| n.reason.changed_by().is_none() || i.takes_changes())
                .map(|(id, (i, _))| Recipient {
                    id,
                    send_resolved: i.send_resolved(),
                }),
        );
        let mut entries = Vec::new();
        for d in &deliveries {
            entries.push((
                d.integration.clone(),
                n.receiver.clone(),
                d.idempotency_key.clone(),
                to_json(&d.notification)?,
            ));
        }
        let log = match group {
            Some((k, s)) => Some((k, to_json(s)?)),
            None => None,
        };
        self.store
            .enqueue(log, &entries, ward_alert::time::millis(n.created_at))?;
        self.metrics.add("ward_alert_notifications_total", &[], 1);
        for d in &deliveries {
            if let Some((_, wake)) = self.integrations.get(&d.integration) {
                wake.notify_one();
            }
        }
        super::metrics::refresh_outbox(self);
        Ok(())
    }

    /// Sends audit events (after every lock is released).
    pub async fn emit(&self, events: Vec<Value>) {
        for e in events {
            if self.audit.send(e).await.is_err() {
                tracing::debug!("audit channel closed, audit event not stored");
            }
        }
    }

    /// The audit event of a person's change, in ECS form.
    pub fn audit_event(&self, change: &Change, alert: Option<&Alert>) -> Value {
        let kind_type = match change.action.as_str() {
            "silence_created" => "creation",
            "silence_expired" => "deletion",
            _ => "change",
        };
        let mut v = json!({
            "@timestamp": change.at.to_string(),
            "event": {
                "kind": "event",
                "category": ["configuration"],
                "type": [kind_type],
                "action": change.action,
                "module": "ward",
                "dataset": "ward.alert",
                "outcome": "success",
            },
            "user": {"name": change.actor},
            "message": format!("{} by {}", change.action.replace('_', " "), change.actor),
            "ward": {"change": change.detail},
        });
        if let (Some(a), Some(obj)) = (alert, v.as_object_mut()) {
            obj.insert(
                "rule".into(),
                json!({"id": a.rule_id, "name": a.rule_title}),
            );
            obj.insert(
                "ward".into(),
                json!({"change": change.detail, "alert": {"id": a.id, "status": a.status, "severity": a.severity, "owner": a.owner}}),
            );
        }
        v
    }

    /// Starts the timers of new groups.
    pub fn start_groups(self: &Arc<Self>, groups: Vec<NewGroup>) {
        for g in groups {
            tokio::spawn(super::group::run(self.clone(), g.key, g.opts));
        }
    }
}

/// The alerting engine.
pub struct Engine {
    pub(crate) shared: Arc<Shared>,
    /// (integration id, outbox worker).
    workers: Mutex<Vec<(String, JoinHandle<()>)>>,
    /// The SLA watcher and the metrics refresher.
    timers: Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.shared.stop.send_replace(true);
        for (_, w) in self.workers.lock().drain(..) {
            w.abort();
        }
    }
}

impl Engine {
    /// Starts the engine: compiles the configuration (every problem at
    /// once), opens the state in `data_dir`, rebuilds the groups of firing
    /// alerts and starts delivery. `quick_webhook` (`WARD_ALERT_WEBHOOK_URL`)
    /// sends every alert to one generic webhook when nothing else is set.
    pub async fn start(
        cfg: &AlertingConfig,
        data_dir: &Path,
        quick_webhook: Option<String>,
        audit: mpsc::Sender<Value>,
        metrics: Arc<Metrics>,
        options: EngineOptions,
    ) -> Result<Arc<Engine>, AlertError> {
        let compiled =
            Compiled::compile(cfg, quick_webhook.as_deref()).map_err(AlertError::Config)?;
        let store = Arc::new(Store::open(data_dir)?);
        let clock = options
            .start_time
            .map(Clock::starting_at)
            .unwrap_or_else(Clock::system);
        let guard = destination::Guard {
            allow_private: compiled.allow_private,
        };
        let ctx = Arc::new(notify::Ctx {
            http: destination::http_client(guard, compiled.timeout).map_err(AlertError::Invalid)?,
            guard,
            timeout: compiled.timeout,
        });
        let mut integrations = BTreeMap::new();
        for (name, list) in &compiled.receivers {
            for (i, spec) in list.iter().enumerate() {
                let integ = Integration::from_spec(spec).map_err(|e| {
                    AlertError::Invalid(format!("receiver {name}, {} #{i}: {e}", spec.kind()))
                })?;
                integrations.insert(
                    format!("{name}/{}/{i}", spec.kind()),
                    (Arc::new(integ), Arc::new(Notify::new())),
                );
            }
        }
        let mut state = State::new(Registry(compiled.owners.clone()));
        for (kind, key, body) in store.owner_entries()? {
            state.owners.apply_entry(&kind, key, body.as_deref())?;
        }
        state.load(store.all_alerts()?, store.all_silences()?);
        let logs = store.all_nflogs()?;
        let groups = state.rebuild(&compiled, &logs);
        let shared = Arc::new(Shared {
            compiled,
            store,
            clock,
            audit,
            state: Mutex::new(state),
            integrations,
            sla_wake: Notify::new(),
            stop: watch::channel(false).0,
            draining: watch::channel(false).0,
            closed: AtomicBool::new(false),
            metrics,
            cluster: std::sync::OnceLock::new(),
        });
        super::metrics::start(&shared);
        shared.start_groups(groups);
        let mut workers = Vec::new();
        if options.deliver {
            let c = &shared.compiled;
            let policy = outbox::Policy {
                initial_backoff: c.initial_backoff,
                max_backoff: c.max_backoff,
                max_age: c.max_age,
            };
            for (id, (integ, wake)) in &shared.integrations {
                let worker = outbox::Worker {
                    id: id.clone(),
                    integration: integ.clone(),
                    queue: shared.store.clone(),
                    ctx: ctx.clone(),
                    clock: shared.clock,
                    policy,
                    metrics: shared.metrics.clone(),
                    wake: wake.clone(),
                    draining: shared.draining.subscribe(),
                };
                workers.push((id.clone(), tokio::spawn(worker.run())));
            }
        }
        let timers = vec![
            tokio::spawn(super::sla::watch(shared.clone())),
            tokio::spawn(super::metrics::run(shared.clone())),
        ];
        Ok(Arc::new(Engine {
            shared,
            workers: Mutex::new(workers),
            timers: Mutex::new(timers),
        }))
    }

    /// Takes a finding: opens an alert, or updates the open one with the
    /// same rule and group key, and routes it. Returns the alert's id once
    /// the change is on disk.
    pub async fn on_finding(&self, f: Finding) -> Result<AlertId, AlertError> {
        ward_alert::state::check_finding(&f)?;
        let shared = &self.shared;
        if shared.closed.load(Ordering::Acquire) {
            return Err(AlertError::Shutdown);
        }
        let now = shared.clock.now();
        shared.metrics.add("ward_alert_findings_total", &[], 1);
        let applied = shared.store.finding_alert(&f.id)?;
        let groups = {
            let mut st = shared.state.lock();
            let step = st.take_finding(&f, applied, &shared.compiled.sla, now)?;
            if step.replayed {
                shared
                    .metrics
                    .add("ward_alert_findings_replayed_total", &[], 1);
            }
            let Some(a) = step.alert else {
                return Ok(step.id);
            };
            let finding = (!step.replayed).then_some(f.id.as_str());
            shared
                .store
                .put_alert(&a.id, &a.identity, a.status.as_str(), &a, finding)?;
            shared.replicate(&a, finding);
            let owned = shared.owns(&a);
            st.commit_alert(a, step.replayed);
            if step.replayed || !owned {
                return Ok(step.id);
            }
            (st.route(&step.id, &shared.compiled, None), step.id)
        };
        let (groups, id) = groups;
        shared.start_groups(groups);
        shared.sla_wake.notify_one();
        super::metrics::refresh(shared);
        Ok(id)
    }

    /// Applies a person's change to an alert, persists it, emits the audit
    /// event and re-routes it (so its groups see the change).
    async fn change(
        &self,
        id: &str,
        f: impl FnOnce(&mut Alert, Timestamp) -> Result<Change, AlertError>,
    ) -> Result<Alert, AlertError> {
        let shared = &self.shared;
        let now = shared.clock.now();
        let (alert, event, groups) = {
            let mut st = shared.state.lock();
            let (updated, change) = st.change(id, now, f)?;
            shared.store.put_alert(
                &updated.id,
                &updated.identity,
                updated.status.as_str(),
                &updated,
                None,
            )?;
            shared.replicate(&updated, None);
            let event = shared.audit_event(&change, Some(&updated));
            let owned = shared.owns(&updated);
            st.commit_alert(updated.clone(), false);
            let groups = if owned {
                st.route(id, &shared.compiled, None)
            } else {
                Vec::new()
            };
            (updated, event, groups)
        };
        shared.start_groups(groups);
        shared.sla_wake.notify_one();
        super::metrics::refresh(shared);
        shared.emit(vec![event]).await;
        Ok(alert)
    }

    /// Cluster mode: from now on every saved alert is handed to
    /// `replica.changes`, and only alerts `replica.owns` accepts are
    /// routed, reminded and escalated here. The groups rebuilt at the
    /// start lose the alerts this node does not own (at the start, none:
    /// [`Engine::route_owned`] routes them once partitions are assigned).
    /// A second call is refused.
    pub fn join_cluster(&self, replica: Replica) -> Result<(), AlertError> {
        let shared = &self.shared;
        shared
            .cluster
            .set(replica)
            .map_err(|_| AlertError::Invalid("alerting already joined a cluster".into()))?;
        let mut st = shared.state.lock();
        let st = &mut *st;
        let alerts = &st.alerts;
        st.groups.retain(|_, g| {
            g.members
                .retain(|id| alerts.get(id).is_some_and(|a| shared.owns(a)));
            !g.members.is_empty()
        });
        Ok(())
    }

    /// Routes every firing alert this node owns (after it was given
    /// partitions); an alert already in its groups stays as it is.
    pub fn route_owned(&self) {
        let shared = &self.shared;
        let groups = {
            let mut st = shared.state.lock();
            let mut ids: Vec<AlertId> = st
                .alerts
                .values()
                .filter(|a| a.is_firing() && shared.owns(a))
                .map(|a| a.id.clone())
                .collect();
            ids.sort();
            let mut groups = Vec::new();
            for id in ids {
                groups.extend(st.route(&id, &shared.compiled, None));
            }
            groups
        };
        shared.start_groups(groups);
        shared.sla_wake.notify_one();
    }

    /// Applies an alert as another node (or this one) saved it, read from
    /// the cluster's alerts topic, with the finding newly applied to it: the
    /// local copy becomes it (the topic's order decides, the same on every
    /// node), and the owner of the alert routes it, so that its groups and
    /// SLA timers see an acknowledgement made elsewhere. Returns false when
    /// the local copy was already the same.
    pub fn apply_remote(
        &self,
        a: Alert,
        finding: Option<&str>,
        version: Version,
    ) -> Result<bool, AlertError> {
        let shared = &self.shared;
        let groups = {
            let mut st = shared.state.lock();
            let known = match finding {
                Some(f) => shared.store.finding_alert(f)?.is_some(),
                None => true,
            };
            // An older copy than the one held (this node's own change
            // coming back after a newer one, or the loser of two changes
            // made at once on two nodes) only adds its finding.
            let newer = shared.cluster.get().is_none_or(|r| {
                let mut c = r.clock.lock();
                *c = (*c).max(version.0);
                let mut v = r.versions.lock();
                let newer = v.get(&a.id).is_none_or(|held| *held < version);
                if newer {
                    v.insert(a.id.clone(), version);
                }
                newer
            });
            if !newer || st.alerts.get(&a.id) == Some(&a) {
                if !known && let (Some(f), Some(held)) = (finding, st.alerts.get(&a.id)) {
                    shared.store.put_alert(
                        &held.id,
                        &held.identity,
                        held.status.as_str(),
                        held,
                        Some(f),
                    )?;
                }
                return Ok(false);
            }
            shared
                .store
                .put_alert(&a.id, &a.identity, a.status.as_str(), &a, finding)?;
            // `current` names the newest alert of an identity.
            let older = st
                .current
                .get(&a.identity)
                .and_then(|id| st.alerts.get(id))
                .is_some_and(|c| c.id != a.id && c.created_at > a.created_at);
            let (id, owned) = (a.id.clone(), shared.owns(&a));
            st.commit_alert(a, older);
            if owned {
                st.route(&id, &shared.compiled, None)
            } else {
                Vec::new()
            }
        };
        shared.start_groups(groups);
        shared.sla_wake.notify_one();
        super::metrics::refresh(shared);
        Ok(true)
    }

    /// Applies a silence as another node (or this one) saved it. When it
    /// starts or ends muting here, this node sends the notices of its own
    /// groups (each group lives on the owner of its alerts only, so every
    /// notice is sent once in the cluster). Returns false when the local
    /// copy was already the same.
    pub fn apply_remote_silence(&self, s: Silence, by: &str) -> Result<bool, AlertError> {
        let shared = &self.shared;
        let now = self.now();
        let notices = {
            let mut st = shared.state.lock();
            let prev = st.silences.get(&s.id);
            // A silence only ever ends earlier (expiry): a copy that ends
            // later is an older one (its creation coming back after it was
            // expired here).
            if prev == Some(&s) || prev.is_some_and(|p| s.ends_at > p.ends_at) {
                return Ok(false);
            }
            let was = prev.map(|p| p.state(now));
            let is = s.state(now);
            let reason = match (was, is) {
                (None | Some(SilenceState::Pending), SilenceState::Active) => {
                    Some(ward_alert::notification::Reason::Silenced {
                        by: by.to_owned(),
                        silence: s.id.clone(),
                        starts_at: s.starts_at,
                        ends_at: s.ends_at,
                        comment: s.comment.clone(),
                    })
                }
                (Some(SilenceState::Active), SilenceState::Expired) => {
                    Some(ward_alert::notification::Reason::SilenceExpired {
                        by: by.to_owned(),
                        silence: s.id.clone(),
                    })
                }
                _ => None,
            };
            // Notices of an expiry are about the alerts the silence muted.
            let muting = prev.cloned().unwrap_or_else(|| s.clone());
            shared.store.put_silence(&s.id, &s)?;
            let notices = reason.map_or_else(Vec::new, |r| {
                let on = if matches!(r, ward_alert::notification::Reason::SilenceExpired { .. }) {
                    &muting
                } else {
                    &s
                };
                st.silence_notices(on, &r, &shared.compiled, now, String::new)
            });
            st.silences.insert(s.id.clone(), s);
            notices
        };
        self.notify_change(&notices);
        Ok(true)
    }

    /// Acknowledges an open alert.
    pub async fn acknowledge(
        &self,
        id: &str,
        actor: &str,
        comment: Option<&str>,
    ) -> Result<Alert, AlertError> {
        self.change(id, |a, now| lifecycle::acknowledge(a, actor, comment, now))
            .await
    }

    /// Resolves an alert with a verdict.
    pub async fn resolve(
        &self,
        id: &str,
        actor: &str,
        resolution: alert::Resolution,
        comment: Option<&str>,
    ) -> Result<Alert, AlertError> {
        self.change(id, |a, now| {
            lifecycle::resolve(a, actor, resolution, comment, now)
        })
        .await
    }

    /// Sets the assignee (empty clears it).
    pub async fn assign(&self, id: &str, actor: &str, assignee: &str) -> Result<Alert, AlertError> {
        self.change(id, |a, now| lifecycle::assign(a, actor, assignee, now))
            .await
    }

    /// Adds a comment.
    pub async fn comment(&self, id: &str, actor: &str, text: &str) -> Result<Alert, AlertError> {
        self.change(id, |a, now| lifecycle::comment(a, actor, text, now))
            .await
    }

    /// One alert.
    pub fn alert(&self, id: &str) -> Option<Alert> {
        self.shared.state.lock().alerts.get(id).cloned()
    }

    /// Alerts matching a filter, newest first.
    pub fn alerts(&self, filter: &AlertFilter) -> Vec<Alert> {
        self.shared.state.lock().list(filter)
    }

    /// Calls `f` with every alert, under the state lock and without
    /// copying them (keep `f` short).
    pub fn each_alert(&self, mut f: impl FnMut(&ward_alert::Alert)) {
        for a in self.shared.state.lock().alerts.values() {
            f(a);
        }
    }

    /// The current time on the engine's clock.
    pub fn now(&self) -> Timestamp {
        self.shared.clock.now()
    }

    /// The metrics registry the engine reports to.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.shared.metrics
    }

    /// Graceful stop: no more findings; group timers and the SLA watcher
    /// end; outbox workers send what is due until `deadline`, then are
    /// aborted. What was not delivered stays pending in the outbox.
    pub async fn shutdown(&self, deadline: std::time::Duration) {
        let shared = &self.shared;
        shared.closed.store(true, Ordering::Release);
        shared.stop.send_replace(true);
        shared.draining.send_replace(true);
        for (_, wake) in shared.integrations.values() {
            wake.notify_one();
        }
        let mut workers: Vec<JoinHandle<()>> =
            self.workers.lock().drain(..).map(|(_, h)| h).collect();
        let timers: Vec<JoinHandle<()>> = self.timers.lock().drain(..).collect();
        // Finished workers are popped as they end; whatever is left at the
        // deadline is aborted (an aborted attempt leaves its entry pending).
        let drained = tokio::time::timeout(deadline, async {
            while let Some(w) = workers.last_mut() {
                let _ = w.await;
                workers.pop();
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                "alert delivery did not finish before the deadline; pending notifications stay in the outbox"
            );
        }
        for w in workers.iter().chain(timers.iter()) {
            w.abort();
        }
        for w in workers.into_iter().chain(timers) {
            let _ = w.await;
        }
    }

    /// Ok while alerting works; Err(reason) when a delivery worker has died
    /// or the oldest pending notification waits longer than
    /// [`super::STUCK_AFTER`] (or twice `delivery.max_backoff`, if longer):
    /// beyond that, retries are not a blip but a receiver that is down or
    /// refusing, and people are not being told.
    pub fn health(&self) -> Result<(), String> {
        let shared = &self.shared;
        if !*shared.stop.borrow() {
            for (id, w) in self.workers.lock().iter() {
                if w.is_finished() {
                    return Err(format!("the delivery worker of {id} has stopped"));
                }
            }
        }
        let bound = super::STUCK_AFTER.max(shared.compiled.max_backoff * 2);
        let oldest = shared.store.oldest_pending().map_err(|e| e.to_string())?;
        if let Some(created) = oldest {
            let age = shared
                .clock
                .now()
                .duration_since(ward_alert::time::from_millis(created));
            if age.as_secs_f64() > bound.as_secs_f64() {
                return Err(format!(
                    "the oldest pending notification has waited {}s (more than {}s)",
                    age.as_secs(),
                    bound.as_secs()
                ));
            }
        }
        Ok(())
    }
}
