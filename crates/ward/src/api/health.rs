//! `/healthz` (the process answers), `/readyz` (Ward can do its work: the
//! store accepts writes, detection keeps up, the notification outbox
//! moves; the reasons only to a caller with `metrics:read`), `/metrics`
//! (Prometheus, `metrics:read`; series of sources are shown to callers with
//! `tenants:all` only, since a source belongs to one tenant).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

use crate::access::{Caller, Permission};
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
        if let Some(f) = self.store.write_failure() {
            let until = match f.class {
                ward_store::ErrorClass::NoSpace => "until space is freed",
                _ => "until Ward is restarted",
            };
            out.push((
                "store",
                format!("appends are refused {until}: {}", f.reason),
            ));
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

/// `ward_store_write_failing{reason}` (1 while appends are refused, by
/// why: `no_space` heals by itself, `io_error` needs a restart) and
/// `ward_store_write_failures_total` (failed group commits since start).
fn store_write_metrics(m: &Metrics, store: &ward_store::Store, failures: u64) {
    m.describe(
        "ward_store_write_failing",
        "1 while the event store refuses appends, by reason (no_space heals when space is freed)",
    );
    m.describe(
        "ward_store_write_failures_total",
        "group commits of the event store that failed (full disk or I/O error)",
    );
    let failing = store.write_failure().map(|f| f.class);
    for (reason, class) in [
        ("no_space", ward_store::ErrorClass::NoSpace),
        ("io_error", ward_store::ErrorClass::Unavailable),
    ] {
        let v = if failing == Some(class) { 1.0 } else { 0.0 };
        m.set("ward_store_write_failing", &[("reason", reason)], v);
    }
    let seen = m.counter("ward_store_write_failures_total", &[]);
    m.add(
        "ward_store_write_failures_total",
        &[],
        failures.saturating_sub(seen),
    );
}

/// The checkpoint witness (`store.witness`): how far it has the log, and
/// failed attempts to copy a checkpoint to it. The gap between
/// `ward_store_checkpoint_size` and `ward_store_witness_size` is what a
/// rollback of the data directory could hide.
fn witness_metrics(m: &Metrics, stats: &ward_store::StoreStats) {
    m.describe(
        "ward_store_checkpoint_size",
        "records covered by the newest signed checkpoint",
    );
    m.describe(
        "ward_store_witness_size",
        "records covered by the newest checkpoint the witness holds",
    );
    m.describe(
        "ward_store_witness_failures_total",
        "failed attempts to copy a checkpoint to the witness",
    );
    m.set(
        "ward_store_checkpoint_size",
        &[],
        stats.checkpoint_size as f64,
    );
    m.set("ward_store_witness_size", &[], stats.witness_size as f64);
    let seen = m.counter("ward_store_witness_failures_total", &[]);
    m.add(
        "ward_store_witness_failures_total",
        &[],
        stats.witness_failures.saturating_sub(seen),
    );
}

/// `ward_rules_blind`: detection rules without an event of their log
/// source in the last 24 h (they could not have fired);
/// `ward_detect_unseen_events`: events no loaded rule could see since start.
fn coverage_metrics(m: &Metrics, cov: &crate::detect::coverage::Coverage) {
    m.describe(
        "ward_rules_blind",
        "detection rules with no event of their log source in the last 24h (they could not have fired)",
    );
    m.describe(
        "ward_detect_unseen_events",
        "events since start that no loaded rule could see (no rule has their log source)",
    );
    let now = jiff::Timestamp::now().as_millisecond();
    let r = cov.report(None, "24h", 86_400_000, now);
    m.set("ward_rules_blind", &[], r.blind_rules.len() as f64);
    m.set(
        "ward_detect_unseen_events",
        &[],
        r.unseen_events_total as f64,
    );
}

/// `?window=24h` of `GET /api/v1/rules/coverage`.
#[derive(Debug, serde::Deserialize)]
pub struct CoverageQuery {
    pub window: Option<String>,
}

/// `GET /api/v1/rules/coverage`: which log sources live detection saw in
/// the window (default 24 h), which detection rules could not have fired,
/// events no rule could see (with examples), ATT&CK coverage. Only the
/// caller's tenant's events count, unless it sees every tenant.
pub async fn rules_coverage(
    State(h): State<Health>,
    caller: Caller,
    axum::extract::Query(q): axum::extract::Query<CoverageQuery>,
) -> Result<axum::Json<crate::detect::coverage::Report>, crate::api::error::ApiError> {
    let window = q.window.unwrap_or_else(|| "24h".to_owned());
    let d = crate::config::parse_duration(&window)
        .map_err(|e| crate::api::error::ApiError::BadRequest(format!("window: {e}")))?;
    let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    let now = jiff::Timestamp::now().as_millisecond();
    Ok(axum::Json(h.detect.coverage.report(
        caller.tenant_scope(),
        &window,
        ms,
        now,
    )))
}

pub async fn healthz() -> &'static str {
    "ok\n"
}

/// `200 ready` or `503 not ready`; the failing components and reasons go
/// to the log, to `ward_ready` in `/metrics`, and to callers with
/// `metrics:read`, never to anonymous ones.
pub async fn readyz(State(h): State<Health>, caller: Option<Caller>) -> impl IntoResponse {
    let problems = h.problems(jiff::Timestamp::now().as_millisecond());
    h.metrics.set(
        "ward_ready",
        &[],
        if problems.is_empty() { 1.0 } else { 0.0 },
    );
    if problems.is_empty() {
        return (StatusCode::OK, "ready\n".to_owned());
    }
    for (component, why) in &problems {
        tracing::warn!(component, reason = %why, "not ready");
    }
    if !caller.is_some_and(|c| c.can(Permission::MetricsRead)) {
        return (StatusCode::SERVICE_UNAVAILABLE, "not ready\n".to_owned());
    }
    let reasons: Vec<String> = problems
        .iter()
        .map(|(c, why)| format!("{c}: {why}"))
        .collect();
    (
        StatusCode::SERVICE_UNAVAILABLE,
        format!("not ready: {}\n", reasons.join("; ")),
    )
}

/// The exposition without the series of sources (`source="…"` labels),
/// for callers bound to one tenant.
fn without_sources(text: &str) -> String {
    text.lines()
        .filter(|l| l.starts_with('#') || !l.contains("source=\""))
        .flat_map(|l| [l, "\n"])
        .collect()
}

pub async fn metrics(State(h): State<Health>, caller: Caller) -> impl IntoResponse {
    let stats = h.store.stats();
    h.metrics
        .set("ward_store_records", &[], stats.records as f64);
    h.metrics.set("ward_store_bytes", &[], stats.bytes as f64);
    store_write_metrics(&h.metrics, &h.store, stats.write_failures);
    witness_metrics(&h.metrics, &stats);
    coverage_metrics(&h.metrics, &h.detect.coverage);
    let mut text = h.metrics.render();
    if !caller.can(Permission::TenantsAll) {
        text = without_sources(&text);
    }
    ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text)
}
