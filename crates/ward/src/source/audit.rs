//! Ward's own audit trail as an input: the alert stage's audit events
//! (people acknowledging, resolving, silencing, changing owners) enter the
//! log as events of source `ward-alerting`, through the same pipeline as
//! every other event, so they are redacted, signed and searchable.

use std::time::Instant;

use tokio::sync::mpsc;

use super::{Origin, SourceContext, Wait};
use crate::model::Event;
use crate::normalize;

const ORIGIN: Origin<'static> = Origin {
    input: "ward",
    source: "ward-alerting",
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
        store(&ctx, v).await;
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
        store(&ctx, v).await;
    }
}

async fn store(ctx: &SourceContext, v: serde_json::Value) {
    let serde_json::Value::Object(map) = v else {
        return;
    };
    let norm = normalize::context(ORIGIN.input, ORIGIN.source, ORIGIN.tenant);
    let event = normalize::finish(Event(map), &norm);
    if let Err(e) = ctx
        .deliver(ORIGIN, vec![event], 0, 0, Instant::now(), Wait::Yes)
        .await
    {
        ctx.metrics.add("ward_ingest_audit_lost_total", &[], 1);
        tracing::error!(error = %e, "audit event could not be stored");
    }
}
