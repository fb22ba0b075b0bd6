//! THE place where the stages are wired together.
//!
//! ```text
//! sources ──submit──► [bounded queue] ──► workers: redact ─► enrich ─► store.append (fsync, group commit) ─► ack
//!                                                                  │
//!                                              log tail ◄──────────┘ (notify)
//!                                                 └─► detect (rules, enrichers) ─► alert ─► notify
//! ```
//!
//! The queue has a fixed capacity. A source that finds it full answers 429
//! or 503 with Retry-After (HTTP) or stops reading (TCP): nothing is dropped
//! silently. Several workers append at once so that their fsyncs are shared
//! by the store's group commit.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, mpsc, oneshot};
use ward_store::Store;

use crate::metrics::Metrics;
use crate::model::{Ack, Batch};

/// Why a batch was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The queue is full: the sender should retry after a pause.
    #[error("the pipeline is full; retry after {0:?}")]
    Busy(Duration),
    /// Storing failed; nothing of the batch is acknowledged.
    #[error("events could not be stored: {0}")]
    Failed(String),
    /// Ward is shutting down.
    #[error("ward is shutting down")]
    Closed,
}

struct Job {
    batch: Batch,
    reply: oneshot::Sender<Result<Ack, String>>,
}

/// The handle sources use to submit batches.
#[derive(Clone)]
pub struct Pipeline {
    tx: mpsc::Sender<Job>,
    depth: Arc<AtomicUsize>,
    metrics: Arc<Metrics>,
    /// Woken after every durable append, so that detection tails promptly.
    pub appended: Arc<Notify>,
}

/// Everything the workers need.
pub struct Stages {
    pub redact: Arc<crate::redact::Stage>,
    pub prompt: Arc<ward_prompt::Detector>,
    pub store: Arc<Store>,
    pub metrics: Arc<Metrics>,
}

impl Pipeline {
    /// Starts `workers` ingest workers over a queue of `capacity` batches.
    pub fn start(stages: Stages, capacity: usize, workers: usize) -> Pipeline {
        let (tx, rx) = mpsc::channel::<Job>(capacity);
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        let depth = Arc::new(AtomicUsize::new(0));
        let appended = Arc::new(Notify::new());
        let stages = Arc::new(stages);
        for _ in 0..workers.max(1) {
            let rx = Arc::clone(&rx);
            let stages = Arc::clone(&stages);
            let depth = Arc::clone(&depth);
            let appended = Arc::clone(&appended);
            tokio::spawn(async move {
                loop {
                    let job = { rx.lock().await.recv().await };
                    let Some(job) = job else { break };
                    depth.fetch_sub(1, Ordering::Relaxed);
                    let result = process(&stages, job.batch).await;
                    if result.is_ok() {
                        appended.notify_waiters();
                    }
                    let _ = job.reply.send(result);
                }
            });
        }
        let metrics = Arc::clone(&stages.metrics);
        metrics.describe(
            "ward_pipeline_queue_depth",
            "batches waiting between the sources and the store",
        );
        metrics.describe(
            "ward_pipeline_latency_seconds",
            "time from request arrival to durable acknowledgement",
        );
        Pipeline {
            tx,
            depth,
            metrics,
            appended,
        }
    }

    /// Submits a batch without waiting for queue space: a full queue answers
    /// [`SubmitError::Busy`] at once (HTTP turns it into 429).
    pub async fn submit(&self, batch: Batch) -> Result<Ack, SubmitError> {
        let (reply, rx) = oneshot::channel();
        self.depth.fetch_add(1, Ordering::Relaxed);
        match self.tx.try_send(Job { batch, reply }) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(job)) => {
                self.depth.fetch_sub(1, Ordering::Relaxed);
                self.metrics.add(
                    "ward_pipeline_busy_total",
                    &[("input", &job.batch.input)],
                    1,
                );
                return Err(SubmitError::Busy(Duration::from_secs(1)));
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.depth.fetch_sub(1, Ordering::Relaxed);
                return Err(SubmitError::Closed);
            }
        }
        self.wait(rx).await
    }

    /// Submits a batch, waiting for queue space: TCP sources use this, so
    /// that a full pipeline stops them reading from the socket.
    pub async fn submit_wait(&self, batch: Batch) -> Result<Ack, SubmitError> {
        let (reply, rx) = oneshot::channel();
        self.depth.fetch_add(1, Ordering::Relaxed);
        if self.tx.send(Job { batch, reply }).await.is_err() {
            self.depth.fetch_sub(1, Ordering::Relaxed);
            return Err(SubmitError::Closed);
        }
        self.wait(rx).await
    }

    async fn wait(&self, rx: oneshot::Receiver<Result<Ack, String>>) -> Result<Ack, SubmitError> {
        let d = self.depth.load(Ordering::Relaxed);
        self.metrics.set("ward_pipeline_queue_depth", &[], d as f64);
        match rx.await {
            Ok(Ok(ack)) => Ok(ack),
            Ok(Err(e)) => Err(SubmitError::Failed(e)),
            Err(_) => Err(SubmitError::Closed),
        }
    }
}

async fn process(stages: &Stages, mut batch: Batch) -> Result<Ack, String> {
    let redact = Arc::clone(&stages.redact);
    let prompt = Arc::clone(&stages.prompt);
    let events = std::mem::take(&mut batch.events);
    let events = tokio::task::spawn_blocking(move || {
        let mut events = events;
        for e in &mut events {
            redact.redact_event(e);
            crate::detect::enrich::prompt_injection(&prompt, e);
        }
        events
    })
    .await
    .map_err(|e| format!("redaction task failed: {e}"))?;
    let ids: Vec<String> = events
        .iter()
        .map(|e| e.get_str("event.id").unwrap_or_default().to_owned())
        .collect();
    let n = events.len() as u64;
    crate::store::append(&stages.store, &events)
        .await
        .map_err(|e| format!("{e:#}"))?;
    let m = &stages.metrics;
    let labels = [
        ("input", batch.input.as_str()),
        ("source", batch.source.as_str()),
    ];
    m.add("ward_store_events_total", &labels, n);
    m.observe(
        "ward_pipeline_latency_seconds",
        &[("input", batch.input.as_str())],
        batch.received.elapsed(),
    );
    Ok(Ack { ids })
}

/// Starts live detection with findings handed to alerting: the detect
/// stage's checkpoint advances only after alerting has taken them over.
pub fn start_detection(
    config: &crate::config::Config,
    store: &Arc<Store>,
    pipeline: &Pipeline,
    alerts: &Arc<crate::alert::Alerts>,
    metrics: &Arc<Metrics>,
) -> anyhow::Result<()> {
    let rt = tokio::runtime::Handle::current();
    let alerts = Arc::clone(alerts);
    let sink: crate::detect::FindingSink = Box::new(move |findings| {
        rt.block_on(async {
            for f in findings {
                alerts.on_finding(f).await?;
            }
            Ok(())
        })
    });
    crate::detect::start(
        config,
        Arc::clone(store),
        pipeline.appended.clone(),
        sink,
        Arc::clone(metrics),
    )
}

/// Stores the audit events that alerting emits (acknowledgements,
/// resolutions, assignments…) as ordinary events of source `ward`.
pub fn store_audit_events(mut audit: mpsc::Receiver<serde_json::Value>, pipeline: Pipeline) {
    tokio::spawn(async move {
        let ctx = crate::normalize::context("ward", "ward-alerting", "default");
        while let Some(v) = audit.recv().await {
            let serde_json::Value::Object(map) = v else {
                continue;
            };
            let event = crate::normalize::finish(crate::model::Event(map), &ctx);
            let batch = Batch {
                events: vec![event],
                input: "ward".into(),
                source: "ward-alerting".into(),
                tenant: "default".into(),
                received: std::time::Instant::now(),
            };
            if let Err(e) = pipeline.submit_wait(batch).await {
                tracing::error!(error = %e, "audit event could not be stored");
            }
        }
    });
}
