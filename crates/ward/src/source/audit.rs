//! Ward's own audit trail as an input: the alert stage's audit events
//! (people acknowledging, resolving, silencing, changing owners) enter the
//! log as events of source `ward-alerting`, and the API's
//! ([`crate::access::audit`]: calls, searches, refused credentials) as
//! events of source `ward-access` with the caller's tenant, through the
//! same pipeline as every other event, so they are redacted, signed and
//! searchable.

use std::time::Instant;

use tokio::sync::mpsc;

use super::{Origin, SourceContext, Wait};
use crate::access::audit::AuditRecord;
use crate::model::Event;
use crate::normalize;

const ORIGIN: Origin<'static> = Origin {
    input: "ward",
    source: "ward-alerting",
    tenant: "default",
};

/// What start-up found in the store enters as source `ward-store`.
const STORE: Origin<'static> = Origin {
    input: "ward",
    source: "ward-store",
    tenant: "default",
};

/// Stores `first` (what start-up found, such as store damage), then audit
/// events until Ward stops; events already emitted when the stop comes are
/// stored first.
pub async fn run(
    ctx: SourceContext,
    mut audit: mpsc::Receiver<serde_json::Value>,
    first: Vec<serde_json::Value>,
) {
    for v in first {
        if let serde_json::Value::Object(map) = v {
            store(&ctx, STORE, map).await;
        }
    }
    loop {
        let next = tokio::select! {
            v = audit.recv() => v,
            () = ctx.stop.cancelled() => {
                audit.close();
                audit.recv().await
            }
        };
        let Some(v) = next else { return };
        if let serde_json::Value::Object(map) = v {
            store(&ctx, ORIGIN, map).await;
        }
    }
}

/// [`run`] for the API's audit records, each stored with its tenant.
pub async fn run_access(ctx: SourceContext, mut audit: mpsc::Receiver<AuditRecord>) {
    loop {
        let next = tokio::select! {
            v = audit.recv() => v,
            () = ctx.stop.cancelled() => {
                audit.close();
                audit.recv().await
            }
        };
        let Some(r) = next else { return };
        let origin = Origin {
            input: "ward",
            source: "ward-access",
            tenant: &r.tenant,
        };
        store(&ctx, origin, r.event).await;
    }
}

async fn store(
    ctx: &SourceContext,
    origin: Origin<'_>,
    map: serde_json::Map<String, serde_json::Value>,
) {
    let norm = normalize::context(origin.input, origin.source, origin.tenant);
    let event = normalize::finish(Event(map), &norm);
    if let Err(e) = ctx
        .deliver(origin, vec![event], 0, 0, Instant::now(), Wait::Yes)
        .await
    {
        ctx.metrics.add("ward_ingest_audit_lost_total", &[], 1);
        tracing::error!(error = %e, "audit event could not be stored");
    }
}
