//! `/healthz` (the process answers), `/readyz` (Ward can do its work: the
//! store accepts writes, detection keeps up, the notification outbox
//! moves), `/metrics` (Prometheus).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

use crate::alert::Alerts;
use crate::detect::Progress;
use crate::metrics::Metrics;

/// What the health routes look at.
#[derive(Clone)]
pub struct Health {
    pub store: Arc<ward_store::Store>,
    pub metrics: Arc<Metrics>,
    pub detect: Arc<Progress>,
    pub alerts: Arc<Alerts>,
}

/// Detection is behind when more records than this wait for it.
pub const MAX_DETECT_LAG: u64 = 1_000_000;
/// Detection is stuck when its loop has not turned for this long.
pub const MAX_DETECT_STALL_MS: i64 = 30_000;

impl Health {
    /// Every reason Ward is not ready, named by component; empty when ready.
    pub fn problems(&self, now_ms: i64) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Some(why) = self.store.write_failure() {
            out.push(("store", format!("appends are refused: {why}")));
        }
        let next = self.store.next_offset().0;
        let at = self.detect.offset.load(Ordering::Relaxed);
        let lag = next.saturating_sub(at);
        if lag > MAX_DETECT_LAG {
            out.push(("detection", format!("{lag} records behind the log")));
        }
        let turned = self.detect.turned_ms.load(Ordering::Relaxed);
        if now_ms - turned > MAX_DETECT_STALL_MS {
            out.push((
                "detection",
                format!("its loop has not turned for {} s", (now_ms - turned) / 1000),
            ));
        }
        if let Err(why) = self.alerts.health() {
            out.push(("alerting", why));
        }
        out
    }
}

pub async fn healthz() -> &'static str {
    "ok\n"
}

/// `200 ready` or `503 not ready: <components>`; the reasons go to the log
/// and to `ward_ready` in `/metrics`, not to unauthenticated callers.
pub async fn readyz(State(h): State<Health>) -> impl IntoResponse {
    let problems = h.problems(jiff::Timestamp::now().as_millisecond());
    h.metrics.set(
        "ward_ready",
        &[],
        if problems.is_empty() { 1.0 } else { 0.0 },
    );
    if problems.is_empty() {
        return (StatusCode::OK, "ready\n".to_owned());
    }
    let mut parts: Vec<&str> = problems.iter().map(|(c, _)| *c).collect();
    parts.dedup();
    for (component, why) in &problems {
        tracing::warn!(component, reason = %why, "not ready");
    }
    (
        StatusCode::SERVICE_UNAVAILABLE,
        format!("not ready: {}\n", parts.join(", ")),
    )
}

pub async fn metrics(State(h): State<Health>) -> impl IntoResponse {
    let stats = h.store.stats();
    h.metrics
        .set("ward_store_records", &[], stats.records as f64);
    h.metrics.set("ward_store_bytes", &[], stats.bytes as f64);
    let text = h.metrics.render();
    ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text)
}
