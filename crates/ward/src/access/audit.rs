//! Ward's audit trail of people: every mutating API call, every search,
//! and refused credentials, as ECS events of source `ward-access` in Ward's
//! own signed log (they enter through [`crate::source::audit`], so they are
//! redacted, signed and searchable like every event). A record names the
//! identity (key or token name, role, id), its tenant (`tenant.id` of the
//! record is the caller's, so a tenant's auditors see their own), the
//! route, the parameters (path and query string; bodies are not kept) and
//! the outcome (HTTP status).
//!
//! Refusals are aggregated per peer address, route and minute: the first
//! refusal of a peer on a route in a minute is recorded at once, the others
//! are counted and recorded as one event (`event.count`) when the next
//! minute starts, so a flood of bad credentials writes at most two records
//! per peer, route and minute (the routes are the fixed declared set; the
//! webhook inputs report their refused signatures and tokens here too). At
//! most [`MAX_PEERS`] peers and routes are told apart per minute; beyond
//! that they share one record per route without an address.

use std::collections::HashMap;
use std::net::IpAddr;

use parking_lot::Mutex;
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use super::Principal;
use super::guard::Denied;
use crate::metrics::Metrics;

/// Peers told apart per minute in refusal records.
pub const MAX_PEERS: usize = 10_000;

/// One event for the audit-trail source, with the tenant it belongs to.
#[derive(Debug)]
pub struct AuditRecord {
    pub tenant: String,
    pub event: Map<String, Value>,
}

/// An action of an authenticated caller.
#[derive(Debug)]
pub struct Action<'a> {
    pub caller: &'a Principal,
    pub method: &'a str,
    pub route: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub status: u16,
}

/// Refusals of the current minute, by peer.
#[derive(Default)]
struct Refusals {
    minute: i64,
    by_peer: HashMap<(Option<IpAddr>, String), (u64, bool)>,
}

/// Where audit records go.
pub struct AuditTrail {
    tx: mpsc::Sender<AuditRecord>,
    refusals: Mutex<Refusals>,
    metrics: std::sync::Arc<Metrics>,
}

impl AuditTrail {
    pub fn new(tx: mpsc::Sender<AuditRecord>, metrics: std::sync::Arc<Metrics>) -> AuditTrail {
        AuditTrail {
            tx,
            refusals: Mutex::default(),
            metrics,
        }
    }

    fn send(&self, tenant: &str, event: Value) {
        let Value::Object(event) = event else { return };
        let record = AuditRecord {
            tenant: tenant.to_owned(),
            event,
        };
        if self.tx.try_send(record).is_err() {
            self.metrics.add("ward_audit_lost_total", &[], 1);
            tracing::error!("audit trail is full or closed; an audit record was lost");
        }
    }

    /// Records an authenticated caller's action.
    pub fn acted(&self, a: &Action<'_>) {
        let outcome = if a.status < 400 { "success" } else { "failure" };
        let category = if a.method == "GET" {
            "access"
        } else {
            "configuration"
        };
        let event = json!({
            "@timestamp": jiff::Timestamp::now().to_string(),
            "event": {
                "kind": "event",
                "category": ["iam", category],
                "type": [if a.method == "GET" { "access" } else { "change" }],
                "action": format!("{} {}", a.method, a.route),
                "module": "ward",
                "dataset": "ward.access",
                "outcome": outcome,
            },
            "user": { "name": a.caller.name, "id": a.caller.id, "roles": [a.caller.role] },
            "http": { "request": { "method": a.method }, "response": { "status_code": a.status } },
            "url": { "path": a.path, "query": a.query },
            "service": { "name": "ward" },
            "message": format!("{} {} by {} ({}): {}", a.method, a.path, a.caller.actor(), a.caller.role, a.status),
            "audit": { "kind": a.caller.kind, "route": a.route },
        });
        self.send(&a.caller.tenant, event);
    }

    /// Notes a refused credential; records it as said in the module
    /// documentation.
    pub fn denied(&self, d: Denied) {
        self.metrics.add("ward_access_denied_total", &[], 1);
        let minute = jiff::Timestamp::now().as_second().div_euclid(60);
        let (first, flushed) = {
            let mut r = self.refusals.lock();
            let mut flushed = Vec::new();
            if r.minute != minute {
                flushed = r
                    .by_peer
                    .drain()
                    .filter(|(_, (n, _))| *n > 1)
                    .map(|((peer, route), (n, presented))| (peer, n - 1, route, presented))
                    .collect();
                r.minute = minute;
            }
            let mut key = (d.peer, d.route.clone());
            if r.by_peer.len() >= MAX_PEERS && !r.by_peer.contains_key(&key) {
                key.0 = None;
            }
            let entry = r.by_peer.entry(key).or_insert((0, d.presented));
            entry.0 += 1;
            (entry.0 == 1, flushed)
        };
        for (peer, n, route, presented) in flushed {
            self.send("default", refusal_event(peer, &route, presented, n));
        }
        if first {
            self.send("default", refusal_event(d.peer, &d.route, d.presented, 1));
        }
    }
}

impl AuditTrail {
    /// Records a login (`login`) or logout (`logout`) of a user's browser
    /// session. Failed logins go through [`AuditTrail::denied`] on
    /// [`LOGIN_ROUTE`], aggregated like every refusal.
    pub fn session(&self, action: &str, who: &Principal, peer: Option<IpAddr>) {
        let route = if action == "login" {
            LOGIN_ROUTE
        } else {
            "/api/v1/logout"
        };
        self.session_at(action, who, peer, route);
    }

    /// Records a session's start or end that came through `route` (the
    /// password login, the OIDC callback, the logout).
    pub fn session_at(&self, action: &str, who: &Principal, peer: Option<IpAddr>, route: &str) {
        let method = if route == super::oidc::CALLBACK_ROUTE {
            " through single sign-on"
        } else {
            ""
        };
        let event = json!({
            "@timestamp": jiff::Timestamp::now().to_string(),
            "event": {
                "kind": "event",
                "category": ["authentication", "session"],
                "type": [if action == "login" { "start" } else { "end" }],
                "action": action,
                "module": "ward",
                "dataset": "ward.access",
                "outcome": "success",
            },
            "user": { "name": who.name, "id": who.id, "roles": [who.role] },
            "source": { "ip": peer.map(|p| p.to_string()) },
            "service": { "name": "ward" },
            "message": format!("{action} of {} ({}){method}", who.name, who.role),
            "audit": { "kind": who.kind, "route": route },
        });
        self.send(&who.tenant, event);
    }
}

/// The login route, whose refusals are failed logins.
pub const LOGIN_ROUTE: &str = "/api/v1/login";

/// The authentication event for `count` refusals from `peer`.
fn refusal_event(peer: Option<IpAddr>, route: &str, presented: bool, count: u64) -> Value {
    let login = route == LOGIN_ROUTE || route == super::oidc::CALLBACK_ROUTE;
    json!({
        "@timestamp": jiff::Timestamp::now().to_string(),
        "event": {
            "kind": "event",
            "category": ["authentication"],
            "type": ["denied"],
            "action": if login { "login_failed" } else { "ingest_token_rejected" },
            "module": "ward",
            "dataset": "ward.access",
            "outcome": "failure",
            "count": count,
        },
        "log": { "level": "WARN" },
        "service": { "name": "ward" },
        "source": { "ip": peer.map(|p| p.to_string()) },
        "url": { "path": route },
        "message": if login {
            "failed login"
        } else if presented {
            "request with an invalid token"
        } else {
            "request without a token"
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trail() -> (AuditTrail, mpsc::Receiver<AuditRecord>) {
        let (tx, rx) = mpsc::channel(100_000);
        (
            AuditTrail::new(tx, std::sync::Arc::new(Metrics::default())),
            rx,
        )
    }

    #[test]
    fn a_flood_of_refusals_writes_one_record_per_peer_and_minute() {
        let (t, mut rx) = trail();
        for i in 0..2000u32 {
            t.denied(Denied {
                peer: Some(IpAddr::from([10, 0, 0, (i % 2) as u8])),
                route: "/api/v1/ingest".into(),
                presented: true,
            });
        }
        let mut n = 0;
        while rx.try_recv().is_ok() {
            n += 1;
        }
        // Two peers; a minute boundary during the loop adds at most the two
        // summaries and two new firsts.
        assert!((2..=6).contains(&n), "{n} records");
    }
}
