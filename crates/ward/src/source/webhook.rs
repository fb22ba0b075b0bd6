//! The webhook inputs, whose senders cannot present an ingest token:
//!
//! - `POST /api/v1/ingest/github`: GitHub webhook deliveries. The body's
//!   HMAC-SHA256 under `webhooks.github.secret` must equal
//!   `X-Hub-Signature-256` (compared in constant time); anything else is
//!   answered 401 and recorded as an authentication event of Ward.
//! - `POST /api/v1/ingest/k8s-audit`: the Kubernetes API server's audit
//!   webhook, an `audit.k8s.io/v1` `EventList` per request, split into one
//!   event per audit event; only `webhooks.k8s_audit.token` is accepted.
//!
//! Both read their body like every HTTP input (gzip with its limits, the
//! request size limit) and answer like `/api/v1/ingest`. [`RecentIds`]
//! drops vendor events delivered twice (GitHub's `_document_id`) on every
//! HTTP input.

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Mutex;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::HttpSources;
use super::http::{answer, ingest_request, reject};
use crate::access::Principal;
use crate::config::WebhooksConfig;
use crate::model::Event;
use crate::normalize;
use crate::secret::Secret;

/// The route of GitHub webhook deliveries.
pub const GITHUB_ROUTE: &str = "/api/v1/ingest/github";
/// The route of the Kubernetes audit webhook.
pub const K8S_AUDIT_ROUTE: &str = "/api/v1/ingest/k8s-audit";

/// The webhook inputs' credentials, from `[webhooks]`.
#[derive(Default)]
pub struct Webhooks {
    github: Option<(Secret<String>, Principal)>,
    k8s_audit: Option<([u8; 32], Principal)>,
}

impl Webhooks {
    /// From the validated configuration.
    pub fn from_config(cfg: &WebhooksConfig) -> Webhooks {
        Webhooks {
            github: cfg
                .github
                .as_ref()
                .map(|g| (g.secret.clone(), Principal::ingest(&g.source, &g.tenant))),
            k8s_audit: cfg.k8s_audit.as_ref().map(|k| {
                (
                    Sha256::digest(k.token.expose().as_bytes()).into(),
                    Principal::ingest(&k.source, &k.tenant),
                )
            }),
        }
    }
}

/// Whether `signature` (`sha256=<hex>`) is the HMAC-SHA256 of `body`
/// under `secret`; the comparison takes the same time wherever the
/// first difference is.
pub fn signature_valid(secret: &[u8], body: &[u8], signature: Option<&str>) -> bool {
    let Some(hex_sig) = signature.and_then(|s| s.trim().strip_prefix("sha256=")) else {
        return false;
    };
    let Ok(expected) = hex::decode(hex_sig) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

fn not_configured(key: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "error": format!("this webhook is not configured: set {key} in the configuration") })),
    )
        .into_response()
}

/// A header's value when it is a short token of printable ASCII (it goes
/// into the event).
fn header_word(headers: &HeaderMap, name: &str) -> Option<String> {
    let v = headers.get(name)?.to_str().ok()?.trim();
    (!v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .then(|| v.to_owned())
}

/// `POST /api/v1/ingest/github`
pub async fn github(
    State(st): State<HttpSources>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some((secret, id)) = st.webhooks.github.clone() else {
        return not_configured("webhooks.github.secret");
    };
    let signature = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok());
    if !signature_valid(secret.expose().as_bytes(), &body, signature) {
        let e = reject(&st, peer, GITHUB_ROUTE, signature.is_some());
        return answer(Err(e));
    }
    let kind = header_word(&headers, "x-github-event");
    let delivery = header_word(&headers, "x-github-delivery");
    let done = ingest_request(
        &st,
        &id,
        &headers,
        body,
        "github",
        move |body, limits, ctx| {
            let mut results = ward_event::envelope::decode_document(&body, limits);
            for event in results.iter_mut().flatten() {
                mark_delivery(event, kind.as_deref(), delivery.as_deref());
            }
            Ok((normalize::collect(results, &body, ctx, limits), ()))
        },
    )
    .await;
    answer(done)
}

/// The delivery's event name and id, and `event.action`
/// `<event>.<action>` (`organization.member_added`) unless the record is
/// an audit-log event (with a `_document_id`) that has its own.
fn mark_delivery(event: &mut Event, kind: Option<&str>, delivery: Option<&str>) {
    if let Some(kind) = kind {
        event.set("github.webhook.event", Value::from(kind));
        if event.get("_document_id").is_none() {
            // The payload's `action` was placed in `event.action`.
            let action = match event.get_str("action").or(event.get_str("event.action")) {
                Some(a) => format!("{kind}.{a}"),
                None => kind.to_owned(),
            };
            event.set("event.action", Value::from(action));
        }
    }
    if let Some(d) = delivery {
        event.set("github.webhook.delivery", Value::from(d));
    }
    if event.get("event.dataset").is_none() {
        event.set("event.dataset", Value::from("github.webhook"));
    }
}

/// `POST /api/v1/ingest/k8s-audit`
pub async fn k8s_audit(
    State(st): State<HttpSources>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some((digest, id)) = st.webhooks.k8s_audit.clone() else {
        return not_configured("webhooks.k8s_audit.token");
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("Bearer "))
        .map(|t| <[u8; 32]>::from(Sha256::digest(t.trim().as_bytes())));
    // Digests of equal length compared whole: no early exit on the token.
    if presented.is_none_or(|p| p != digest) {
        let presented = headers.contains_key(header::AUTHORIZATION);
        let e = reject(&st, peer, K8S_AUDIT_ROUTE, presented);
        return answer(Err(e));
    }
    let done = ingest_request(
        &st,
        &id,
        &headers,
        body,
        "k8s-audit",
        |body, limits, ctx| {
            let results = ward_event::envelope::decode_document(&body, limits);
            Ok((normalize::collect(results, &body, ctx, limits), ()))
        },
    )
    .await;
    answer(done)
}

/// The ids of recently stored vendor events that are delivered more than
/// once (GitHub's audit-log streaming retries; `_document_id`). Bounded:
/// the oldest id is forgotten first.
pub struct RecentIds {
    capacity: usize,
    ids: Mutex<(HashSet<String>, VecDeque<String>)>,
}

impl Default for RecentIds {
    fn default() -> Self {
        RecentIds::with_capacity(100_000)
    }
}

impl RecentIds {
    /// Remembers at most `capacity` ids.
    pub fn with_capacity(capacity: usize) -> RecentIds {
        RecentIds {
            capacity,
            ids: Mutex::new((HashSet::new(), VecDeque::new())),
        }
    }

    /// Removes the events already seen (also twice in `events`) and
    /// returns how many.
    pub fn drop_duplicates(&self, events: &mut Vec<Event>) -> usize {
        let before = events.len();
        if !events.iter().any(|e| document_id(e).is_some()) {
            return 0;
        }
        let Ok(mut guard) = self.ids.lock() else {
            return 0;
        };
        let (set, order) = &mut *guard;
        events.retain(|e| {
            let Some(id) = document_id(e) else {
                return true;
            };
            if set.contains(id) {
                return false;
            }
            set.insert(id.to_owned());
            order.push_back(id.to_owned());
            if order.len() > self.capacity
                && let Some(old) = order.pop_front()
            {
                set.remove(&old);
            }
            true
        });
        before - events.len()
    }
}

/// The vendor id that identifies a GitHub audit-log event.
fn document_id(e: &Event) -> Option<&str> {
    (e.get_str("ward.recognizer") == Some("github.audit"))
        .then(|| e.get_str("_document_id"))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures() {
        // GitHub's documented test vector.
        let secret = b"It's a Secret to Everybody";
        let body = b"Hello, World!";
        let good = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert!(signature_valid(secret, body, Some(good)));
        assert!(!signature_valid(secret, b"Hello, World?", Some(good)));
        assert!(!signature_valid(b"other", body, Some(good)));
        assert!(!signature_valid(secret, body, None));
        assert!(!signature_valid(secret, body, Some("sha1=757107ea")));
        assert!(!signature_valid(secret, body, Some("sha256=zz")));
        assert!(!signature_valid(secret, body, Some("sha256=")));
    }

    #[test]
    fn duplicates_are_dropped_and_memory_is_bounded() {
        let ev = |id: &str| {
            let mut e = Event::default();
            e.set("ward.recognizer", Value::from("github.audit"));
            e.set("_document_id", Value::from(id));
            e
        };
        let recent = RecentIds::with_capacity(2);
        let mut batch = vec![ev("a"), ev("b"), ev("a"), Event::default()];
        assert_eq!(recent.drop_duplicates(&mut batch), 1);
        assert_eq!(batch.len(), 3);
        let mut again = vec![ev("b"), ev("c")];
        assert_eq!(recent.drop_duplicates(&mut again), 1);
        // `a` was forgotten when `c` came in.
        let mut old = vec![ev("a")];
        assert_eq!(recent.drop_duplicates(&mut old), 0);
    }
}
