//! Alerting in-process: the alert stage's engine driven directly — routing
//! features under paused time, real deliveries to local receivers (HTTP,
//! SMTP, syslog, a real Alertmanager), restarts, a graceful stop with a
//! receiver that never answers, the API through `oneshot` and the CLI.

mod alertmanager;
mod api;
mod batch;
mod cli;
mod delivery;
mod email;
mod replica;
mod routing;
mod shutdown;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use parking_lot::Mutex;
use serde_json::Value;
use tokio::sync::mpsc;
use ward::alert::{Engine, EngineOptions};
use ward::metrics::Metrics;
use ward_alert::{AlertingConfig, Finding};

/// A Monday, 09:00 UTC: tests place the engine's clock here.
pub const MONDAY_9AM: &str = "2026-01-05T09:00:00Z";

pub fn config(toml_src: &str) -> AlertingConfig {
    toml::from_str(toml_src).unwrap_or_else(|e| panic!("test config: {e}"))
}

pub fn finding(id: &str, rule: &str, level: &str, labels: &[(&str, &str)]) -> Finding {
    Finding {
        id: id.into(),
        rule_id: rule.into(),
        rule_title: format!("Rule {rule}"),
        level: level.into(),
        tags: vec!["attack.credential_access".into()],
        description: format!("{rule} matched"),
        // Detection groups by these labels, so each set is its own alert.
        group_key: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        evidence: vec![format!("{id}-e1"), format!("{id}-e2")],
        first_seen: "2026-01-05T08:59:00Z".into(),
        last_seen: "2026-01-05T08:59:30Z".into(),
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        runbook: Some("https://runbooks.example/brute-force".into()),
        value: None,
    }
}

/// An engine whose clock starts at [`MONDAY_9AM`]; `deliver` off keeps the
/// notifications in the outbox for inspection.
pub async fn engine(
    cfg: &AlertingConfig,
    dir: &Path,
    deliver: bool,
) -> (Arc<Engine>, mpsc::Receiver<Value>) {
    let (tx, rx) = mpsc::channel(10_000);
    let e = Engine::start(
        cfg,
        dir,
        None,
        tx,
        Arc::new(Metrics::default()),
        EngineOptions {
            start_time: Some(MONDAY_9AM.parse().unwrap()),
            deliver,
        },
    )
    .await
    .unwrap();
    (e, rx)
}

/// The group notifications queued for a receiver, oldest first.
pub fn queued(e: &Engine, receiver: &str) -> Vec<Value> {
    all_queued(e, receiver)
        .into_iter()
        .filter(|n| n["reason"]["type"] == "group")
        .collect()
}

/// Every notification queued for a receiver (SLA escalations too), oldest first.
pub fn all_queued(e: &Engine, receiver: &str) -> Vec<Value> {
    let mut q: Vec<Value> = e
        .queue(receiver, 1000)
        .unwrap()
        .into_iter()
        .map(|v| v.notification)
        .collect();
    q.reverse();
    q
}

/// Alert ids of a queued notification, with their status.
pub fn ids(n: &Value) -> Vec<String> {
    n["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_string())
        .collect()
}

/// A request the local receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A local HTTP receiver on 127.0.0.1 that records requests and answers
/// with a status that tests can change (to simulate an outage).
pub struct Receiver {
    pub addr: SocketAddr,
    pub got: Arc<Mutex<Vec<Received>>>,
    pub status: Arc<Mutex<StatusCode>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Receiver::on(listener)
    }

    pub fn on(listener: tokio::net::TcpListener) -> Receiver {
        let addr = listener.local_addr().unwrap();
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let status = Arc::new(Mutex::new(StatusCode::OK));
        let (g, s) = (got.clone(), status.clone());
        let app = axum::Router::new().fallback(
            move |uri: axum::http::Uri, headers: HeaderMap, body: Bytes| {
                let (g, s) = (g.clone(), s.clone());
                async move {
                    let code = *s.lock();
                    if code.is_success() {
                        g.lock().push(Received {
                            path: uri.path().to_string(),
                            headers,
                            body,
                        });
                    }
                    code
                }
            },
        );
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver {
            addr,
            got,
            status,
            task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.got.lock().clone()
    }

    /// Waits (real time) until `n` requests arrived.
    pub async fn wait_for(&self, n: usize, secs: u64) -> Vec<Received> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "receiver got {} of {n} requests in {secs}s",
                got.len()
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An engine on the system clock with delivery on (for real-time tests).
pub async fn engine_now(cfg: &AlertingConfig, dir: &Path) -> (Arc<Engine>, mpsc::Receiver<Value>) {
    let (tx, rx) = mpsc::channel(10_000);
    let e = Engine::start(
        cfg,
        dir,
        None,
        tx,
        Arc::new(Metrics::default()),
        EngineOptions::default(),
    )
    .await
    .unwrap();
    (e, rx)
}

/// The alerting API of an engine behind the permission check, as `ward
/// serve` mounts it; `Bearer <token>` is an admin key named `name`.
pub fn router(e: &Arc<Engine>, token: &str, name: &str) -> axum::Router {
    use ward::access::{Access, PermSet, Permission, Principal, Roles, apikey::KeyStore};
    let (routes, specs) = ward::api::alerts::router(e.clone(), Default::default());
    let mut tokens = ward::source::Tokens::default();
    tokens.insert_principal(
        &ward::secret::Secret::new(token.to_owned()),
        Principal {
            kind: "apikey",
            id: name.into(),
            name: name.into(),
            role: "admin".into(),
            tenant: "default".into(),
            perms: PermSet::of(&Permission::ALL),
            recognizer: None,
        },
    );
    let access = Access {
        tokens,
        keys: KeyStore::open(std::path::Path::new("/nonexistent-ward-keys")).unwrap(),
        roles: Roles::default(),
        users: ward::access::users::UserStore::open(std::path::Path::new(
            "/nonexistent-ward-users",
        ))
        .unwrap(),
        sessions: ward::access::session::Sessions::new(Default::default()),
    };
    let (tx, rx) = tokio::sync::mpsc::channel(1 << 16);
    std::mem::forget(rx);
    let audit =
        ward::access::audit::AuditTrail::new(tx, Arc::new(ward::metrics::Metrics::default()));
    ward::api::protect(routes, &specs, Arc::new(access), Arc::new(audit))
}

/// A sample of a metric as `/metrics` shows it: `name{labels} value`,
/// with `labels` given in their rendered order.
pub fn metric(e: &Engine, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let l: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    let series = if l.is_empty() {
        name.to_string()
    } else {
        format!("{name}{{{}}}", l.join(","))
    };
    e.metrics()
        .render()
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{series} "))?.parse().ok())
}
