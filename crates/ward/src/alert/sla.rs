//! The SLA watcher: sleeps until the next deadline (or a change), then lets
//! `ward-alert` record each breach once, saves the breached alerts and
//! queues the escalations to the escalation receiver.

use std::sync::Arc;

use super::engine::Shared;

/// Runs until the stage stops.
pub(crate) async fn watch(shared: Arc<Shared>) {
    let mut stop = shared.stopping();
    loop {
        let now = shared.clock.now();
        let step = {
            let mut st = shared.state.lock();
            // In a cluster only the owner of an alert escalates it; the
            // breach reaches the other nodes as a change of the alert.
            let mut step = st.check_sla_where(&shared.compiled, now, |a| shared.routes(a));
            for (a, n) in &mut step.breached {
                n.id = shared.notification_id(&[&n.group_key]);
                if let Err(e) = shared.save_alert(a, None) {
                    tracing::warn!(error = %e, "cannot record an SLA breach");
                }
            }
            step
        };
        for (_, n) in &step.breached {
            if let Err(e) = shared.enqueue(n, None) {
                tracing::warn!(error = %e, "cannot queue an SLA escalation");
            }
        }
        if !step.breached.is_empty() {
            super::metrics::refresh(&shared);
        }
        let wake_at = step.next.map(|t| shared.clock.instant_of(t));
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
