//! The engine: the one place where findings become alerts, alerts join their
//! groups, and notifications are queued; plus the background tasks (a task
//! per group, an outbox worker per integration, the SLA watcher). All state
//! changes go through here, are persisted before they are answered, and are
//! emitted as audit events.
//!
//! Locking: `state` is taken first and the store's own lock inside it, never
//! the other way round; audit events are sent after `state` is released.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use jiff::Timestamp;
use parking_lot::Mutex;
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc, watch};

use crate::alert::group::{Group, NotifiedState};
use crate::alert::owner::Registry;
use crate::alert::silence::Silence;
use crate::alert::{self, Alert, AlertId, Change, Finding, Severity, Status, lifecycle};
use crate::clock::{self, Clock};
use crate::config::AlertingConfig;
use crate::error::AlertError;
use crate::notify::{self, Integration, Notification};
use crate::runtime::Runtime;
use crate::store::Store;

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

/// Mutable state, in memory and mirrored to the store.
#[derive(Default)]
pub(crate) struct State {
    pub alerts: HashMap<AlertId, Alert>,
    /// identity → newest alert with that identity.
    pub current: HashMap<String, AlertId>,
    pub silences: BTreeMap<String, Silence>,
    pub owners: Registry,
    pub groups: HashMap<String, Group>,
}

impl State {
    pub fn contacts_of(&self, owner: Option<&str>) -> Vec<String> {
        owner
            .and_then(|o| self.owners.team(o))
            .map(|t| t.contacts.clone())
            .unwrap_or_default()
    }
}

/// Counters kept in memory since start.
#[derive(Default)]
pub(crate) struct Counters {
    pub findings: AtomicU64,
    pub findings_replayed: AtomicU64,
    pub notifications: AtomicU64,
}

/// What the tasks share.
pub(crate) struct Shared {
    pub rt: Runtime,
    pub store: Store,
    pub clock: Clock,
    pub audit: mpsc::Sender<Value>,
    pub state: Mutex<State>,
    pub ctx: notify::Ctx,
    /// integration id → its integration and wake-up signal.
    pub integrations: BTreeMap<String, (Arc<Integration>, Arc<Notify>)>,
    pub sla_wake: Notify,
    pub stop: watch::Sender<bool>,
    pub counters: Counters,
}

impl Shared {
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// Queues a notification for every integration of its receiver and, for
    /// a group, records what was notified, in one transaction.
    pub fn enqueue(
        &self,
        n: &Notification,
        group: Option<(&str, &NotifiedState)>,
    ) -> Result<(), AlertError> {
        let body = crate::store::to_json(n)?;
        // What an integration with `send_resolved = false` gets: the
        // notification without its resolved alerts (Alertmanager drops them
        // the same way), or nothing when only resolved alerts are left.
        let firing_only = if n.alerts.iter().any(|a| a.status == Status::Resolved) {
            let alerts: Vec<_> = n
                .alerts
                .iter()
                .filter(|a| a.status != Status::Resolved)
                .cloned()
                .collect();
            if alerts.is_empty() {
                None
            } else {
                Some(crate::store::to_json(&Notification {
                    alerts,
                    ..n.clone()
                })?)
            }
        } else {
            Some(body.clone())
        };
        let mut entries = Vec::new();
        let mut woken = Vec::new();
        for (id, (integration, wake)) in self.integrations.range(format!("{}/", n.receiver)..) {
            if !id.starts_with(&format!("{}/", n.receiver)) {
                break;
            }
            let body = if integration.send_resolved() {
                &body
            } else {
                match (&n.status, &firing_only) {
                    (notify::GroupStatus::Resolved, _) | (_, None) => continue,
                    (_, Some(b)) => b,
                }
            };
            let key = idempotency_key(&n.id, id);
            entries.push((id.clone(), n.receiver.clone(), key, body.clone()));
            woken.push(wake.clone());
        }
        let log = match group {
            Some((k, s)) => Some((k, crate::store::to_json(s)?)),
            None => None,
        };
        self.store
            .enqueue(log, &entries, clock::millis(n.created_at))?;
        self.counters.notifications.fetch_add(1, Ordering::Relaxed);
        for w in woken {
            w.notify_one();
        }
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

    /// An audit event for a change, in ECS form.
    pub fn audit_event(&self, change: &Change, alert: Option<&Alert>, extra: Value) -> Value {
        let (kind, category, kind_type) = match change.action.as_str() {
            "alert_opened" => ("alert", "intrusion_detection", "creation"),
            "silence_created" => ("event", "configuration", "creation"),
            "silence_expired" => ("event", "configuration", "deletion"),
            _ => ("event", "configuration", "change"),
        };
        let mut v = json!({
            "@timestamp": change.at.to_string(),
            "event": {
                "kind": kind,
                "category": [category],
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
        if let (Some(obj), Value::Object(extra)) = (v.as_object_mut(), extra) {
            obj.extend(extra);
        }
        v
    }
}

/// A stable idempotency key for one notification on one integration.
fn idempotency_key(notification_id: &str, integration: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(notification_id.as_bytes());
    h.update([0]);
    h.update(integration.as_bytes());
    hex::encode(&h.finalize()[..16])
}

/// The alerting engine.
pub struct Engine {
    pub(crate) shared: Arc<Shared>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.shared.stop.send_replace(true);
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
    ) -> Result<Arc<Engine>, AlertError> {
        Engine::start_with(
            cfg,
            data_dir,
            quick_webhook,
            audit,
            EngineOptions::default(),
        )
        .await
    }

    /// [`Engine::start`] with options.
    pub async fn start_with(
        cfg: &AlertingConfig,
        data_dir: &Path,
        quick_webhook: Option<String>,
        audit: mpsc::Sender<Value>,
        options: EngineOptions,
    ) -> Result<Arc<Engine>, AlertError> {
        let rt = Runtime::compile(cfg, quick_webhook.as_deref()).map_err(AlertError::Config)?;
        let store = Store::open(data_dir)?;
        let clock = options
            .start_time
            .map(Clock::starting_at)
            .unwrap_or_else(Clock::system);
        let http =
            notify::destination::http_client(rt.guard, rt.timeout).map_err(AlertError::Invalid)?;
        let mut integrations = BTreeMap::new();
        for (name, list) in &rt.receivers {
            for (i, integ) in list.iter().enumerate() {
                integrations.insert(
                    format!("{name}/{}/{i}", integ.kind()),
                    (integ.clone(), Arc::new(Notify::new())),
                );
            }
        }
        let mut state = State {
            owners: Registry(rt.owners.clone()),
            ..State::default()
        };
        apply_owner_entries(&mut state.owners, store.owner_entries()?)?;
        let mut alerts: Vec<Alert> = store.all_alerts()?;
        alerts.sort_by_key(|a| a.created_at);
        for a in alerts {
            state.current.insert(a.identity.clone(), a.id.clone());
            state.alerts.insert(a.id.clone(), a);
        }
        for s in store.all_silences::<Silence>()? {
            state.silences.insert(s.id.clone(), s);
        }
        let shared = Arc::new(Shared {
            ctx: notify::Ctx {
                http,
                guard: rt.guard,
                timeout: rt.timeout,
            },
            rt,
            store,
            clock,
            audit,
            state: Mutex::new(state),
            integrations,
            sla_wake: Notify::new(),
            stop: watch::channel(false).0,
            counters: Counters::default(),
        });
        let engine = Arc::new(Engine {
            shared: shared.clone(),
            tasks: Mutex::new(Vec::new()),
        });
        {
            let mut st = shared.state.lock();
            let firing: Vec<AlertId> = st
                .alerts
                .values()
                .filter(|a| a.is_firing())
                .map(|a| a.id.clone())
                .collect();
            for id in firing {
                engine.route_alert(&mut st, &id);
            }
            // A resolution that was not notified before the stop: the group's
            // log still lists the alert as firing. Put it back into that group
            // so the next flush sends the resolution.
            for (key, logged) in shared.store.all_nflogs::<NotifiedState>()? {
                let due: Vec<AlertId> = logged
                    .firing
                    .iter()
                    .filter(|id| st.alerts.get(*id).is_some_and(|a| !a.is_firing()))
                    .cloned()
                    .collect();
                for id in due {
                    engine.route_alert_to(&mut st, &id, Some(&key));
                }
            }
        }
        let mut tasks = engine.tasks.lock();
        if options.deliver {
            for (id, (integ, wake)) in &shared.integrations {
                tasks.push(tokio::spawn(notify::outbox::run(
                    shared.clone(),
                    id.clone(),
                    integ.clone(),
                    wake.clone(),
                )));
            }
        }
        tasks.push(tokio::spawn(sla_watch(shared.clone())));
        drop(tasks);
        Ok(engine)
    }

    /// Puts an alert into the groups of every route that takes it, starting
    /// a group's task when the group is new.
    fn route_alert(&self, st: &mut State, id: &str) {
        self.route_alert_to(st, id, None);
    }

    /// [`Engine::route_alert`], limited to the group `only` when given.
    fn route_alert_to(&self, st: &mut State, id: &str, only: Option<&str>) {
        let Some(a) = st.alerts.get(id) else {
            return;
        };
        let team_receiver = a
            .owner
            .as_deref()
            .and_then(|o| st.owners.team(o))
            .and_then(|t| t.receiver.clone());
        let targets = self
            .shared
            .rt
            .route
            .targets(&a.labels, team_receiver.as_deref());
        let labels = a.labels.clone();
        for t in targets {
            let (key, group_labels) = alert::group::group_of(&t, &labels);
            if only.is_some_and(|k| k != key) {
                continue;
            }
            match st.groups.get_mut(&key) {
                Some(g) => {
                    g.members.insert(id.to_string());
                }
                None => {
                    st.groups.insert(
                        key.clone(),
                        Group {
                            opts: t.opts.clone(),
                            labels: group_labels,
                            members: [id.to_string()].into(),
                        },
                    );
                    tokio::spawn(alert::group::run(self.shared.clone(), key, t.opts.clone()));
                }
            }
        }
    }

    /// Takes a finding: opens an alert, or updates the open one with the
    /// same rule and group key, and routes it. Returns the alert's id.
    pub async fn on_finding(&self, f: Finding) -> Result<AlertId, AlertError> {
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
        let severity = Severity::parse(&f.level).ok_or_else(|| {
            bad(
                "level",
                "must be informational, low, medium, high or critical",
            )
        })?;
        if *self.shared.stop.borrow() {
            return Err(AlertError::Shutdown);
        }
        let shared = &self.shared;
        let now = shared.clock.now();
        shared.counters.findings.fetch_add(1, Ordering::Relaxed);
        let applied = shared.store.finding_alert(&f.id)?;
        let identity = alert::identity(&f.rule_id, &f.group_key);
        let mut events = Vec::new();
        let id = {
            let mut st = shared.state.lock();
            if let Some(id) = applied {
                // A replay: merge evidence the alert may lack, nothing else.
                shared
                    .counters
                    .findings_replayed
                    .fetch_add(1, Ordering::Relaxed);
                if let Some(a) = st.alerts.get_mut(&id) {
                    lifecycle::refire(a, &f, false, now);
                    shared
                        .store
                        .put_alert(&a.id, &a.identity, a.status.as_str(), &*a, None)?;
                }
                return Ok(id);
            }
            let firing = st
                .current
                .get(&identity)
                .filter(|id| st.alerts.get(*id).is_some_and(Alert::is_firing))
                .cloned();
            let id = match firing {
                Some(id) => {
                    let Some(a) = st.alerts.get_mut(&id) else {
                        return Err(AlertError::UnknownAlert(id));
                    };
                    if let Some(change) = lifecycle::refire(a, &f, true, now) {
                        events.push(shared.audit_event(&change, Some(a), Value::Null));
                    }
                    shared.store.put_alert(
                        &a.id,
                        &a.identity,
                        a.status.as_str(),
                        &*a,
                        Some(&f.id),
                    )?;
                    id
                }
                None => {
                    let owner = st
                        .owners
                        .owner_of(&f.labels)
                        .or_else(|| st.owners.owner_of(&f.group_key));
                    let previous = st.current.get(&identity).cloned();
                    let (a, change) = lifecycle::open(
                        lifecycle::Opening {
                            finding: &f,
                            id: alert::alert_id(&identity, &f.id),
                            identity: identity.clone(),
                            severity,
                            owner,
                            previous,
                            now,
                        },
                        &shared.rt.sla,
                    );
                    shared.store.put_alert(
                        &a.id,
                        &a.identity,
                        a.status.as_str(),
                        &a,
                        Some(&f.id),
                    )?;
                    events.push(shared.audit_event(&change, Some(&a), Value::Null));
                    let id = a.id.clone();
                    st.current.insert(identity, id.clone());
                    st.alerts.insert(id.clone(), a);
                    id
                }
            };
            self.route_alert(&mut st, &id);
            id
        };
        shared.sla_wake.notify_one();
        shared.emit(events).await;
        Ok(id)
    }

    /// Applies a lifecycle change to an alert, persists it, emits the audit
    /// event and re-routes it (so its groups see the change).
    async fn change(
        &self,
        id: &str,
        f: impl FnOnce(&mut Alert, Timestamp) -> Result<Change, AlertError>,
    ) -> Result<Alert, AlertError> {
        let shared = &self.shared;
        let now = shared.clock.now();
        let (alert, event) = {
            let mut st = shared.state.lock();
            let a = st
                .alerts
                .get_mut(id)
                .ok_or_else(|| AlertError::UnknownAlert(id.to_string()))?;
            let mut updated = a.clone();
            let change = f(&mut updated, now)?;
            shared.store.put_alert(
                &updated.id,
                &updated.identity,
                updated.status.as_str(),
                &updated,
                None,
            )?;
            *a = updated.clone();
            let event = shared.audit_event(&change, Some(&updated), Value::Null);
            self.route_alert(&mut st, id);
            (updated, event)
        };
        shared.sla_wake.notify_one();
        shared.emit(vec![event]).await;
        Ok(alert)
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
        let st = self.shared.state.lock();
        let mut out: Vec<Alert> = st
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

    /// The current time on the engine's clock.
    pub fn now(&self) -> Timestamp {
        self.shared.clock.now()
    }

    /// Stops the background tasks, letting in-flight deliveries finish.
    pub async fn shutdown(&self) {
        self.shared.stop.send_replace(true);
        let tasks: Vec<_> = std::mem::take(&mut *self.tasks.lock());
        for t in tasks {
            let _ = t.await;
        }
    }
}

/// Which alerts a listing shows.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertFilter {
    pub status: Option<String>,
    pub severity: Option<String>,
    pub owner: Option<String>,
    pub rule: Option<String>,
    pub limit: Option<usize>,
}

impl AlertFilter {
    fn matches(&self, a: &Alert) -> bool {
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

fn apply_owner_entries(
    reg: &mut Registry,
    entries: Vec<(String, String, Option<String>)>,
) -> Result<(), AlertError> {
    use crate::alert::owner::OwnedKind;
    for (kind, key, body) in entries {
        let what = format!("owner entry {kind}/{key}");
        let bad = |e: serde_json::Error| AlertError::Corrupt {
            what: what.clone(),
            reason: e.to_string(),
        };
        if kind == "teams" {
            match body {
                Some(b) => {
                    reg.0
                        .teams
                        .insert(key, serde_json::from_str(&b).map_err(bad)?);
                }
                None => {
                    reg.0.teams.remove(&key);
                }
            }
        } else if let Some(k) = OwnedKind::parse(&kind) {
            match body {
                Some(b) => {
                    reg.map_mut(k)
                        .insert(key, serde_json::from_str(&b).map_err(bad)?);
                }
                None => {
                    reg.map_mut(k).remove(&key);
                }
            }
        }
    }
    Ok(())
}

/// Watches SLA deadlines: records each breach once and notifies the
/// escalation receiver.
async fn sla_watch(shared: Arc<Shared>) {
    let mut stop = shared.stopping();
    loop {
        let now = shared.clock.now();
        let mut events = Vec::new();
        let mut notifications = Vec::new();
        let next = {
            let mut st = shared.state.lock();
            let mut next: Option<Timestamp> = None;
            let ids: Vec<AlertId> = st
                .alerts
                .values()
                .filter(|a| a.is_firing())
                .map(|a| a.id.clone())
                .collect();
            for id in ids {
                let contacts = st.alerts.get(&id).and_then(|a| a.owner.clone());
                let contacts = st.contacts_of(contacts.as_deref());
                let Some(a) = st.alerts.get_mut(&id) else {
                    continue;
                };
                for kind in alert::sla::new_breaches(a, now) {
                    let change = lifecycle::breach(a, kind, now);
                    events.push(shared.audit_event(&change, Some(a), Value::Null));
                    notifications.push(Notification {
                        id: uuid::Uuid::now_v7().to_string(),
                        receiver: shared.rt.escalation_receiver.clone(),
                        group_key: format!("sla/{kind}/{}", a.id),
                        group_labels: BTreeMap::from([(
                            "alertname".to_string(),
                            a.rule_title.clone(),
                        )]),
                        status: notify::GroupStatus::Firing,
                        reason: notify::Reason::SlaBreach {
                            kind: kind.to_string(),
                        },
                        alerts: vec![notify::AlertSummary::of(
                            a,
                            contacts.clone(),
                            &shared.rt.public_url,
                        )],
                        external_url: shared.rt.public_url.clone(),
                        created_at: now,
                    });
                    if let Err(e) =
                        shared
                            .store
                            .put_alert(&a.id, &a.identity, a.status.as_str(), &*a, None)
                    {
                        tracing::warn!(error = %e, "cannot record an SLA breach");
                    }
                }
                if let Some(d) = alert::sla::next_deadline(a) {
                    next = Some(next.map_or(d, |n: Timestamp| n.min(d)));
                }
            }
            next
        };
        for n in &notifications {
            if let Err(e) = shared.enqueue(n, None) {
                tracing::warn!(error = %e, "cannot queue an SLA escalation");
            }
        }
        shared.emit(events).await;
        let wake_at = next.map(|t| shared.clock.instant_of(t));
        tokio::select! {
            _ = async {
                match wake_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending::<()>().await,
                }
            } => {}
            _ = shared.sla_wake.notified() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}
