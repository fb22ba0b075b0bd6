//! The alert stage's metrics, reported through the application's one
//! registry ([`crate::metrics::Metrics`]): per team and severity the alert
//! count, open alerts, MTTA, MTTR, SLA compliance and misses (gauges,
//! recomputed from the state after every change and every
//! [`REFRESH`], since a deadline passing changes them too); coverage gaps; findings,
//! notifications and delivery attempts (counters; deliveries seeded from
//! the delivery log at start, so they count across restarts); and the
//! outbox backlog per integration. Names follow `ward_alert_<thing>`.

use std::sync::Arc;
use std::time::Duration;

use ward_alert::stats::response_stats;

use super::engine::Shared;

/// How often the time-dependent gauges are recomputed without a change.
pub const REFRESH: Duration = Duration::from_secs(10);

const HELP: [(&str, &str); 12] = [
    ("ward_alert_alerts", "alerts per owning team and severity"),
    (
        "ward_alert_open",
        "open or acknowledged alerts per team and severity",
    ),
    (
        "ward_alert_mtta_seconds",
        "mean time to acknowledge, seconds",
    ),
    ("ward_alert_mttr_seconds", "mean time to resolve, seconds"),
    (
        "ward_alert_sla_compliance_ratio",
        "SLA deadlines met / decided",
    ),
    ("ward_alert_sla_missed", "SLA deadlines missed"),
    (
        "ward_alert_coverage_gaps_total",
        "alerts without an owning team",
    ),
    ("ward_alert_findings_total", "findings taken since start"),
    (
        "ward_alert_findings_replayed_total",
        "findings already applied (replays) since start",
    ),
    (
        "ward_alert_notifications_total",
        "notifications queued since start",
    ),
    (
        "ward_alert_deliveries_total",
        "delivery attempts by outcome",
    ),
    (
        "ward_alert_outbox_pending",
        "notifications waiting in the outbox",
    ),
];

/// Describes the metrics and loads what the store remembers.
pub(crate) fn start(shared: &Shared) {
    let m = &shared.metrics;
    for (name, help) in HELP {
        m.describe(name, help);
    }
    for name in [
        "ward_alert_findings_total",
        "ward_alert_findings_replayed_total",
        "ward_alert_notifications_total",
    ] {
        m.add(name, &[], 0);
    }
    match shared.store.delivery_counts() {
        Ok(rows) => {
            for (receiver, integration, outcome, n) in rows {
                m.add(
                    "ward_alert_deliveries_total",
                    &[
                        ("receiver", &receiver),
                        ("integration", &integration),
                        ("outcome", &outcome),
                    ],
                    u64::try_from(n).unwrap_or(0),
                );
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot read delivery counts"),
    }
    refresh(shared);
    refresh_outbox(shared);
}

/// Recomputes the gauges every [`REFRESH`] until the stage stops.
pub(crate) async fn run(shared: Arc<Shared>) {
    let mut stop = shared.stopping();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(REFRESH) => refresh(&shared),
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// Recomputes the response gauges from the alerts.
pub(crate) fn refresh(shared: &Shared) {
    let now = shared.clock.now();
    let m = &shared.metrics;
    let (stats, gaps) = {
        let st = shared.state.lock();
        let gaps = st.alerts.values().filter(|a| a.owner.is_none()).count();
        (response_stats(st.alerts.values(), now), gaps)
    };
    for s in stats {
        if s.team == "*" || s.severity == "*" {
            continue;
        }
        let labels = [("team", s.team.as_str()), ("severity", s.severity.as_str())];
        m.set("ward_alert_alerts", &labels, s.alerts as f64);
        m.set("ward_alert_open", &labels, (s.open + s.acknowledged) as f64);
        if let Some(v) = s.mtta_seconds {
            m.set("ward_alert_mtta_seconds", &labels, v);
        }
        if let Some(v) = s.mttr_seconds {
            m.set("ward_alert_mttr_seconds", &labels, v);
        }
        if let Some(v) = s.sla_compliance {
            m.set("ward_alert_sla_compliance_ratio", &labels, v);
        }
        let missed = (s.ack_sla_missed + s.resolve_sla_missed) as f64;
        m.set("ward_alert_sla_missed", &labels, missed);
    }
    m.set("ward_alert_coverage_gaps_total", &[], gaps as f64);
}

/// Sets the outbox backlog of every integration (0 when empty).
pub(crate) fn refresh_outbox(shared: &Shared) {
    let m = &shared.metrics;
    let Ok(rows) = shared.store.pending_counts() else {
        return;
    };
    for id in shared.integrations.keys() {
        let receiver = id.split('/').next().unwrap_or_default();
        let n = rows
            .iter()
            .find(|(_, i, _)| i == id)
            .map_or(0, |(_, _, n)| *n);
        m.set(
            "ward_alert_outbox_pending",
            &[("receiver", receiver), ("integration", id)],
            n as f64,
        );
    }
}
