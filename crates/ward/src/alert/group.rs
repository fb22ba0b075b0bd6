//! A group's timer (Alertmanager's aggregation group loop): wait
//! `group_wait`, flush, then flush every `group_interval` until the group is
//! empty. The flush decision is `ward-alert`'s; here it is read from and
//! written to the store: the notification log before, the notification and
//! the new log entry after, in one transaction.

use std::sync::Arc;

use ward_alert::AlertError;
use ward_alert::alert::group::NotifiedState;
use ward_alert::alert::route::RouteOpts;

use super::engine::Shared;

/// Runs a group until it is empty or the stage stops.
pub(crate) async fn run(shared: Arc<Shared>, key: String, opts: Arc<RouteOpts>) {
    let mut stop = shared.stopping();
    tokio::select! {
        _ = tokio::time::sleep(opts.group_wait) => {}
        _ = stop.wait_for(|s| *s) => return,
    }
    loop {
        match flush(&shared, &key) {
            Ok(true) => return,
            Ok(false) => {}
            Err(e) => tracing::warn!(group = %key, error = %e, "group flush failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(opts.group_interval) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// Flushes a group; returns true when the group is empty and was removed.
fn flush(shared: &Shared, key: &str) -> Result<bool, AlertError> {
    if disowned(shared, key) {
        return Ok(true);
    }
    let now = shared.clock.now();
    let prev: Option<NotifiedState> = shared.store.nflog(key)?;
    let flush = shared.state.lock().flush(
        key,
        prev.as_ref(),
        &shared.compiled,
        now,
        uuid::Uuid::now_v7().to_string(),
    );
    if let Some((mut n, state)) = flush.notification {
        if shared.cluster.get().is_some() {
            // The same on every node that would send the same thing.
            let ids = |set: &std::collections::BTreeSet<String>| {
                set.iter().cloned().collect::<Vec<_>>().join(",")
            };
            let after = prev.as_ref().map(|p| p.at.to_string()).unwrap_or_default();
            let status = format!("{:?}", state.status);
            n.id = shared.notification_id(&[
                key,
                &ids(&state.firing),
                &ids(&state.resolved),
                &status,
                &after,
            ]);
        }
        shared.enqueue(&n, Some((key, &state)))?;
    }
    Ok(flush.removed)
}

/// Cluster mode: drops from the group the alerts whose partition this node
/// no longer owns (their new owner routes and notifies them, from the
/// notification log replicated to it); true when none is left and the
/// group was removed.
fn disowned(shared: &Shared, key: &str) -> bool {
    if shared.cluster.get().is_none() {
        return false;
    }
    let mut st = shared.state.lock();
    let st = &mut *st;
    let Some(g) = st.groups.get_mut(key) else {
        return false;
    };
    let alerts = &st.alerts;
    g.members
        .retain(|id| alerts.get(id).is_some_and(|a| shared.owns(a)));
    if g.members.is_empty() {
        st.groups.remove(key);
        return true;
    }
    false
}
