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

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use jiff::Timestamp;
use parking_lot::Mutex;
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;
use ward_alert::alert::group::NotifiedState;
use ward_alert::alert::owner::Registry;
use ward_alert::alert::silence::{Silence, SilenceState};
use ward_alert::alert::{self, Alert, AlertId, Change, Finding, lifecycle};
use ward_alert::notification::{Recipient, fan_out};
use ward_alert::state::{NewGroup, State};
use ward_alert::{AlertError, AlertFilter, AlertingConfig, Compiled};

use super::store::{Replication, Store, to_json};
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

/// Cluster mode: how this node's changes reach the others (saved in the
/// store's `unpublished` table with the change, produced to
/// `<prefix>alerts` by `crate::cluster::alerts`, which every node
/// applies), and which alerts this node notifies for (the owner of the
/// alert's correlation partition).
pub struct Replica {
    /// Woken when a change was saved for the other nodes.
    pub wake: Arc<Notify>,
    pub owns: Box<dyn Fn(&Alert) -> bool + Send + Sync>,
    /// This node's name: with a version, it orders two changes saved in
    /// the same millisecond on two nodes.
    pub node: String,
    /// The newest version this node made or saw (a hybrid clock: wall
    /// milliseconds, moved past every version seen).
    pub clock: Mutex<i64>,
    /// Replication key (an alert's id, `notify/<group key>`) → the version
    /// of the copy held here (also in the store, so a restarted node does
    /// not take an older copy read again from the topic for a newer one).
    pub versions: Mutex<std::collections::HashMap<String, Version>>,
    /// False while this node, given partitions, has not yet read
    /// `<prefix>alerts` to its end: alerts are saved but not routed or
    /// escalated until [`Engine::route_owned`] routes them all.
    pub routing: AtomicBool,
}

/// Orders the changes of one alert (or one group's notification log) the
/// same on every node: the copy with the greater version wins wherever it
/// arrives first.
pub type Version = (i64, String);

/// The replication key of a group's notification log entry.
pub fn notify_key(group_key: &str) -> String {
    format!("{NOTIFY_KEY}{group_key}")
}

/// The prefix of a notification log entry's replication key.
pub const NOTIFY_KEY: &str = "notify/";

impl Replica {
    pub fn new(
        wake: Arc<Notify>,
        owns: Box<dyn Fn(&Alert) -> bool + Send + Sync>,
        node: &str,
    ) -> Replica {
        Replica {
            wake,
            owns,
            node: node.to_owned(),
            clock: Mutex::new(0),
            versions: Mutex::default(),
            routing: AtomicBool::new(true),
        }
    }

    /// The version of a change saved here now.
    fn tick(&self) -> i64 {
        let mut c = self.clock.lock();
        *c = (*c + 1).max(Timestamp::now().as_millisecond());
        *c
    }

    /// Whether a copy of version `v` under `key` is newer than the one held
    /// (moves the clock past it either way).
    fn is_newer(&self, key: &str, v: &Version) -> bool {
        {
            let mut c = self.clock.lock();
            *c = (*c).max(v.0);
        }
        self.versions.lock().get(key).is_none_or(|held| held < v)
    }
}

/// A change saved on this node, for the other nodes (kept in the store's
/// `unpublished` table until the brokers acknowledged it).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Replicated {
    /// An alert, and the finding newly applied to it.
    Alert {
        alert: Box<Alert>,
        finding: Option<String>,
        version: i64,
    },
    /// A silence created or expired by `by`.
    Silence { silence: Silence, by: String },
    /// What a group notified last (its notification log entry).
    Notified {
        group: String,
        state: NotifiedState,
        version: i64,
    },
}

impl Shared {
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// Whether this node routes, reminds and escalates `a`: always on a
    /// single node; in a cluster only on the owner of its partition.
    pub fn owns(&self, a: &Alert) -> bool {
        self.cluster.get().is_none_or(|r| (r.owns)(a))
    }

    /// Whether this node routes and escalates `a` now: it owns it and, in
    /// a cluster, is not catching up after it was given partitions.
    pub fn routes(&self, a: &Alert) -> bool {
        self.owns(a)
            && self
                .cluster
                .get()
                .is_none_or(|r| r.routing.load(Ordering::Acquire))
    }

    /// Saves an alert (with the finding newly applied to it) and, in
    /// cluster mode, its new version and the change for the other nodes,
    /// in one transaction.
    pub fn save_alert(&self, a: &Alert, finding: Option<&str>) -> Result<(), AlertError> {
        let rep = self.outgoing(&a.id, |version| Replicated::Alert {
            alert: Box::new(a.clone()),
            finding: finding.map(str::to_owned),
            version,
        })?;
        self.store.put_alert(a, finding, rep.as_ref())?;
        self.sent(rep);
        Ok(())
    }

    /// Saves a silence created or expired by `by` and, in cluster mode, the
    /// change for the other nodes, in one transaction.
    pub fn save_silence(&self, s: &Silence, by: &str) -> Result<(), AlertError> {
        let rep = match self.cluster.get() {
            Some(_) => Some(Replication {
                version: None,
                publish: Some(to_json(&Replicated::Silence {
                    silence: s.clone(),
                    by: by.to_owned(),
                })?),
            }),
            None => None,
        };
        self.store.put_silence(&s.id, s, rep.as_ref())?;
        self.sent(rep);
        Ok(())
    }

    /// Cluster mode: the version of a change saved here now under `key`
    /// and the record for the other nodes.
    fn outgoing(
        &self,
        key: &str,
        change: impl FnOnce(i64) -> Replicated,
    ) -> Result<Option<Replication>, AlertError> {
        let Some(r) = self.cluster.get() else {
            return Ok(None);
        };
        let version = r.tick();
        Ok(Some(Replication {
            version: Some((key.to_owned(), version, r.node.clone())),
            publish: Some(to_json(&change(version))?),
        }))
    }

    /// After a save: remembers the version saved and wakes the producer.
    fn sent(&self, rep: Option<Replication>) {
        let (Some(r), Some(rep)) = (self.cluster.get(), rep) else {
            return;
        };
        if let Some((key, version, node)) = rep.version {
            r.versions.lock().insert(key, (version, node));
        }
        if rep.publish.is_some() {
            r.wake.notify_one();
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
        let (log, rep) = match group {
            Some((k, s)) => {
                let rep = self.outgoing(&notify_key(k), |version| Replicated::Notified {
                    group: k.to_owned(),
                    state: s.clone(),
                    version,
                })?;
                (Some((k, to_json(s)?)), rep)
            }
            None => (None, None),
        };
        self.store.enqueue(
            log,
            &entries,
            ward_alert::time::millis(n.created_at),
            rep.as_ref(),
        )?;
        self.sent(rep);
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
        let mut ids = self.on_findings(vec![f]).await?;
        Ok(ids.pop().unwrap_or_default())
    }

    /// Takes a detection batch's findings in order, each as
    /// [`Engine::on_finding`] describes, and saves every alert they touched
    /// once, in one transaction (one fsync): a refiring alert is written
    /// once per batch instead of once per finding. Returns each finding's
    /// alert id. All or nothing: when the save fails,
    /// no finding of the batch is applied (detection hands it over again;
    /// finding ids make that a replay of nothing). In cluster mode each
    /// change is still its own versioned record for the other nodes (the
    /// alert as that finding left it), saved in the same transaction.
    pub async fn on_findings(&self, findings: Vec<Finding>) -> Result<Vec<AlertId>, AlertError> {
        let shared = &self.shared;
        for f in &findings {
            ward_alert::state::check_finding(f)?;
        }
        if shared.closed.load(Ordering::Acquire) {
            return Err(AlertError::Shutdown);
        }
        let now = shared.clock.now();
        shared
            .metrics
            .add("ward_alert_findings_total", &[], findings.len() as u64);
        let finding_ids: Vec<&str> = findings.iter().map(|f| f.id.as_str()).collect();
        let applied = shared.store.finding_alerts(&finding_ids)?;
        let groups = {
            let mut st = shared.state.lock();
            let mut undo = Undo::default();
            // Touched alerts in first-touched order, with the findings
            // newly applied to each; and which to route.
            let mut touched: Vec<(AlertId, Vec<String>)> = Vec::new();
            let mut position: HashMap<AlertId, usize> = HashMap::new();
            let mut route: Vec<AlertId> = Vec::new();
            // A finding twice in one batch is a replay the second time.
            let mut in_batch: HashMap<&str, AlertId> = HashMap::new();
            let mut replayed = 0u64;
            let mut ids = Vec::with_capacity(findings.len());
            let mut failed = None;
            // Cluster mode: each change a versioned record for the other
            // nodes, as one by one (the alert as that finding left it).
            let mut reps: Vec<Replication> = Vec::new();
            for (f, applied) in findings.iter().zip(applied) {
                let applied = applied.or_else(|| in_batch.get(f.id.as_str()).cloned());
                undo.keep(&mut st, f, applied.as_ref());
                let (id, was_replayed, changed) =
                    match st.take_finding_in_place(f, applied, &shared.compiled.sla, now) {
                        Ok(step) => step,
                        Err(e) => {
                            failed = Some(e);
                            break;
                        }
                    };
                undo.opened(&id);
                ids.push(id.clone());
                if was_replayed {
                    replayed += 1;
                }
                if !changed {
                    continue;
                }
                if let Some(a) = st.alerts.get(&id) {
                    let finding = (!was_replayed).then(|| f.id.clone());
                    match shared.outgoing(&id, |version| Replicated::Alert {
                        alert: Box::new(a.clone()),
                        finding,
                        version,
                    }) {
                        Ok(Some(rep)) => reps.push(rep),
                        Ok(None) => {}
                        Err(e) => {
                            failed = Some(e);
                            break;
                        }
                    }
                }
                let at = *position.entry(id.clone()).or_insert_with(|| {
                    touched.push((id.clone(), Vec::new()));
                    touched.len() - 1
                });
                if !was_replayed {
                    in_batch.insert(f.id.as_str(), id.clone());
                    let first = touched[at].1.is_empty();
                    touched[at].1.push(f.id.clone());
                    if first {
                        route.push(id);
                    }
                }
            }
            let saved = match failed {
                Some(e) => Err(e),
                None if touched.is_empty() && reps.is_empty() => Ok(()),
                None => {
                    let batch: Vec<(&Alert, &[String])> = touched
                        .iter()
                        .filter_map(|(id, f)| st.alerts.get(id).map(|a| (a, f.as_slice())))
                        .collect();
                    shared.store.put_alerts(&batch, &reps)
                }
            };
            if let Err(e) = saved {
                undo.restore(&mut st);
                return Err(e);
            }
            for rep in reps {
                shared.sent(Some(rep));
            }
            if replayed > 0 {
                shared
                    .metrics
                    .add("ward_alert_findings_replayed_total", &[], replayed);
            }
            let mut groups = Vec::new();
            for id in route {
                if st.alerts.get(&id).is_some_and(|a| shared.routes(a)) {
                    groups.extend(st.route(&id, &shared.compiled, None));
                }
            }
            (groups, ids)
        };
        let (groups, ids) = groups;
        shared.start_groups(groups);
        shared.sla_wake.notify_one();
        super::metrics::refresh(shared);
        Ok(ids)
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
            shared.save_alert(&updated, None)?;
            let event = shared.audit_event(&change, Some(&updated));
            let owned = shared.routes(&updated);
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

    /// Cluster mode: from now on every saved alert, silence and
    /// notification log entry is also saved for the other nodes (see
    /// [`Replica`]; the versions held are read from the store), and only
    /// alerts `replica.owns` accepts are
    /// routed, reminded and escalated here. The groups rebuilt at the
    /// start lose the alerts this node does not own (at the start, none:
    /// [`Engine::route_owned`] routes them once partitions are assigned).
    /// A second call is refused.
    pub fn join_cluster(&self, replica: Replica) -> Result<(), AlertError> {
        let shared = &self.shared;
        {
            let held = shared.store.replica_versions()?;
            let mut versions = replica.versions.lock();
            let mut clock = replica.clock.lock();
            for (key, version, node) in held {
                *clock = (*clock).max(version);
                versions.insert(key, (version, node));
            }
        }
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

    /// Cluster mode: this node was given partitions and reads
    /// `<prefix>alerts` to its end before it routes their alerts: until
    /// [`Engine::route_owned`], alerts saved here are not routed or
    /// escalated (the former owner's notification log and SLA breaches
    /// may still be on their way).
    pub fn hold_routing(&self) {
        if let Some(r) = self.shared.cluster.get() {
            r.routing.store(false, Ordering::Release);
        }
    }

    /// Routes every firing alert this node owns (after it was given
    /// partitions and read `<prefix>alerts` to its end), and routes
    /// each alert saved from now on; an alert already in its groups stays
    /// as it is.
    pub fn route_owned(&self) {
        let shared = &self.shared;
        if let Some(r) = shared.cluster.get() {
            r.routing.store(true, Ordering::Release);
        }
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
            let newer = shared
                .cluster
                .get()
                .is_none_or(|r| r.is_newer(&a.id, &version));
            let rep = Replication {
                version: Some((a.id.clone(), version.0, version.1.clone())),
                publish: None,
            };
            if !newer || st.alerts.get(&a.id) == Some(&a) {
                let held = st.alerts.get(&a.id);
                if (newer || !known)
                    && let Some(held) = held
                {
                    // The same alert under a newer version, or an older
                    // copy's finding: both are kept.
                    let f = finding.filter(|_| !known);
                    shared.store.put_alert(held, f, newer.then_some(&rep))?;
                    shared.sent(newer.then_some(rep));
                }
                return Ok(false);
            }
            shared.store.put_alert(&a, finding, Some(&rep))?;
            shared.sent(Some(rep));
            // `current` names the newest alert of an identity.
            let older = st
                .current
                .get(&a.identity)
                .and_then(|id| st.alerts.get(id))
                .is_some_and(|c| c.id != a.id && c.created_at > a.created_at);
            let (id, owned) = (a.id.clone(), shared.routes(&a));
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

    /// Applies a group's notification log entry as another node (or this
    /// one) wrote it: the newest version wins whatever order copies arrive
    /// in. A node that takes the group over then notifies only what changed
    /// since (under the key the former owner would have used: the key
    /// names the previous notification's time) and reminds from the time
    /// the former owner notified. Returns false for a copy not newer than
    /// the one held.
    pub fn apply_remote_notified(
        &self,
        group: &str,
        state: &NotifiedState,
        version: Version,
    ) -> Result<bool, AlertError> {
        let shared = &self.shared;
        let key = notify_key(group);
        if !shared
            .cluster
            .get()
            .is_none_or(|r| r.is_newer(&key, &version))
        {
            return Ok(false);
        }
        let rep = Replication {
            version: Some((key, version.0, version.1)),
            publish: None,
        };
        shared.store.put_nflog(group, &to_json(state)?, &rep)?;
        shared.sent(Some(rep));
        Ok(true)
    }

    /// Cluster mode: up to `limit` changes saved here that the brokers
    /// have not acknowledged yet, oldest first, with their sequence
    /// numbers; None for one that cannot be read back (logged and counted:
    /// clear it with the others, nothing can produce it).
    pub fn unpublished(&self, limit: usize) -> Result<Vec<(i64, Option<Replicated>)>, AlertError> {
        let rows = self.shared.store.unpublished(limit)?;
        Ok(rows
            .into_iter()
            .map(|(seq, body)| match serde_json::from_str(&body) {
                Ok(r) => (seq, Some(r)),
                Err(e) => {
                    self.shared
                        .metrics
                        .add("ward_cluster_alert_changes_unreadable_total", &[], 1);
                    tracing::error!(seq, error = %e, "saved alert change unreadable: not produced");
                    (seq, None)
                }
            })
            .collect())
    }

    /// Cluster mode: the brokers acknowledged the changes up to `seq`.
    pub fn published(&self, seq: i64) -> Result<(), AlertError> {
        self.shared.store.published(seq)
    }

    /// Cluster mode: how many changes wait for the brokers.
    pub fn unpublished_count(&self) -> Result<i64, AlertError> {
        self.shared.store.unpublished_count()
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
            shared.store.put_silence(&s.id, &s, None)?;
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

/// What a findings batch changed in the alert state, kept to put back if
/// its save fails ([`Engine::on_findings`]): each alert it touched as it
/// was before the batch (`None`: opened by it) and, for an alert opened,
/// what its identity named before. An alert is kept without its evidence
/// (up to 1,000 ids), which only ever grows: the length it had is enough.
#[derive(Default)]
struct Undo {
    alerts: HashMap<AlertId, Option<(Alert, usize)>>,
    current: HashMap<String, Option<AlertId>>,
}

impl Undo {
    /// Keeps, once, what finding `f` is about to change.
    fn keep(&mut self, st: &mut State, f: &Finding, applied: Option<&AlertId>) {
        match st.finding_target(f, applied) {
            Some(id) => {
                if let Entry::Vacant(v) = self.alerts.entry(id) {
                    let before = st.alerts.get_mut(v.key()).map(|a| {
                        let evidence = std::mem::take(&mut a.evidence);
                        let copy = a.clone();
                        let len = evidence.len();
                        a.evidence = evidence;
                        (copy, len)
                    });
                    v.insert(before);
                }
            }
            None => {
                if let Entry::Vacant(v) = self.current.entry(alert::identity(f)) {
                    let before = st.current.get(v.key()).cloned();
                    v.insert(before);
                }
            }
        }
    }

    /// Notes alert `id`, touched by the finding just taken: one the batch
    /// opened is removed on undo.
    fn opened(&mut self, id: &AlertId) {
        self.alerts.entry(id.clone()).or_insert(None);
    }

    /// Puts the state back as it was before the batch.
    fn restore(self, st: &mut State) {
        for (id, before) in self.alerts {
            match before {
                Some((mut a, len)) => {
                    if let Some(now) = st.alerts.get_mut(&id) {
                        a.evidence = std::mem::take(&mut now.evidence);
                        a.evidence.truncate(len);
                    }
                    st.alerts.insert(id, a);
                }
                None => {
                    st.alerts.remove(&id);
                }
            }
        }
        for (identity, before) in self.current {
            match before {
                Some(id) => st.current.insert(identity, id),
                None => st.current.remove(&identity),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_version_wins_and_moves_the_clock() {
        let r = Replica::new(Arc::new(Notify::new()), Box::new(|_| true), "n1");
        let key = notify_key("g");
        assert!(r.is_newer(&key, &(10, "n2".into())), "nothing held yet");
        r.versions.lock().insert(key.clone(), (10, "n2".into()));
        assert!(!r.is_newer(&key, &(10, "n2".into())), "the same copy");
        assert!(!r.is_newer(&key, &(9, "n3".into())), "older");
        assert!(
            !r.is_newer(&key, &(10, "n1".into())),
            "same ms, lesser node"
        );
        assert!(
            r.is_newer(&key, &(10, "n3".into())),
            "same ms, greater node"
        );
        assert!(r.is_newer(&key, &(11, "a".into())));
        // An alert's key is its own: versions of a group do not order it.
        assert!(r.is_newer("alert-1", &(1, "n1".into())));
        // A version seen moves this node's clock past it.
        let far = Timestamp::now().as_millisecond() + 3_600_000;
        r.is_newer(&key, &(far, "n2".into()));
        assert!(r.tick() > far);
    }
}
