//! The ingest queue: a bounded queue of batches and the workers that take
//! each batch through the ingest [`Step`] (redaction, the stateless
//! enrichers and the durable append, as [`crate::topology`] composes them),
//! then acknowledge it to its sender.
//!
//! ```text
//! sources ──submit──► [bounded queue] ──► workers: redact ─► enrich ─► store.append (fsync, group commit) ─► ack
//!                                                                                  └─► Appended (wakes detection)
//! ```
//!
//! The queue has a fixed capacity. A source that finds it full answers 429
//! or 503 with Retry-After (HTTP) or stops reading (TCP): nothing is dropped
//! silently. Several workers append at once so that their fsyncs are shared
//! by the store's group commit. [`crate::topology`] builds it; on stop the
//! queue is closed to new batches and the workers finish every batch
//! already queued before they exit.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

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
    /// The disk holding the store is full; nothing of the batch is
    /// acknowledged, and a retry succeeds once space is freed.
    #[error("events could not be stored: {0}")]
    NoSpace(String),
    /// The batch itself cannot be stored as it is: retrying it cannot help.
    #[error("events could not be stored: {0}")]
    Invalid(String),
    /// Ward is shutting down.
    #[error("ward is shutting down")]
    Closed,
}

/// Why a worker did not store a batch, so that each source can answer
/// what its sender should do (retry soon, retry later, or not at all).
#[derive(Debug, Clone, thiserror::Error)]
pub enum StepError {
    /// The batch cannot be stored as it is.
    #[error("{0}")]
    Invalid(String),
    /// The store's disk is full.
    #[error("{0}")]
    NoSpace(String),
    /// Anything else.
    #[error("{0}")]
    Failed(String),
}

impl From<StepError> for SubmitError {
    fn from(e: StepError) -> Self {
        match e {
            StepError::Invalid(m) => SubmitError::Invalid(m),
            StepError::NoSpace(m) => SubmitError::NoSpace(m),
            StepError::Failed(m) => SubmitError::Failed(m),
        }
    }
}

struct Job {
    batch: Batch,
    reply: oneshot::Sender<Result<Ack, StepError>>,
}

/// The handle sources use to submit batches.
#[derive(Clone)]
pub struct Pipeline {
    tx: mpsc::Sender<Job>,
    depth: Arc<AtomicUsize>,
    metrics: Arc<Metrics>,
    /// Signalled after every durable append, so that detection tails promptly.
    pub appended: Arc<Appended>,
}

/// A signal raised after each durable append, waited on by the detection
/// thread (a plain thread: it must not depend on the async runtime, which
/// may already be stopping when detection drains).
#[derive(Default)]
pub struct Appended {
    generation: Mutex<u64>,
    cv: Condvar,
}

impl Appended {
    /// Records an append and wakes the waiters.
    pub fn raise(&self) {
        *self.generation.lock() += 1;
        self.cv.notify_all();
    }

    /// The current generation, read before looking at the store.
    pub fn generation(&self) -> u64 {
        *self.generation.lock()
    }

    /// Waits until the generation passes `seen` or `timeout` elapses.
    pub fn wait(&self, seen: u64, timeout: Duration) {
        let mut g = self.generation.lock();
        if *g == seen {
            let _ = self.cv.wait_for(&mut g, timeout);
        }
    }
}

/// What a worker does with one batch: the stages from the sources' side of
/// the queue to the durable append, composed by [`crate::topology`]. It
/// answers the acknowledgement, or why the batch was not stored.
pub type Step = Arc<
    dyn Fn(Batch) -> Pin<Box<dyn Future<Output = Result<Ack, StepError>> + Send>> + Send + Sync,
>;

impl Pipeline {
    /// Starts `workers` ingest workers over a queue of `capacity` batches.
    /// When `stop` is cancelled the queue refuses new batches, the workers
    /// finish those already queued, and the returned set completes.
    pub fn start(
        step: Step,
        metrics: Arc<Metrics>,
        capacity: usize,
        workers: usize,
        stop: CancellationToken,
    ) -> (Pipeline, JoinSet<()>) {
        let (tx, rx) = mpsc::channel::<Job>(capacity);
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        let depth = Arc::new(AtomicUsize::new(0));
        let appended = Arc::new(Appended::default());
        let mut set = JoinSet::new();
        for _ in 0..workers.max(1) {
            set.spawn(work(
                Arc::clone(&rx),
                Arc::clone(&step),
                Arc::clone(&depth),
                Arc::clone(&appended),
                stop.clone(),
            ));
        }
        metrics.describe(
            "ward_pipeline_queue_depth",
            "batches waiting between the sources and the store",
        );
        metrics.describe(
            "ward_stage_cpu_nanoseconds_total",
            "CPU time of each stage: frame (syslog TCP framing and key-block masking), decode, redact (with prompt scoring), record (store records and index terms), append (encoding, write, fsync), detect",
        );
        metrics.describe(
            "ward_pipeline_latency_seconds",
            "time from request arrival to durable acknowledgement",
        );
        let pipeline = Pipeline {
            tx,
            depth,
            metrics,
            appended,
        };
        (pipeline, set)
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

    async fn wait(
        &self,
        rx: oneshot::Receiver<Result<Ack, StepError>>,
    ) -> Result<Ack, SubmitError> {
        let d = self.depth.load(Ordering::Relaxed);
        self.metrics.set("ward_pipeline_queue_depth", &[], d as f64);
        match rx.await {
            Ok(Ok(ack)) => Ok(ack),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(SubmitError::Closed),
        }
    }
}

/// One worker: takes batches until the queue is closed and empty.
async fn work(
    rx: Arc<tokio::sync::Mutex<mpsc::Receiver<Job>>>,
    step: Step,
    depth: Arc<AtomicUsize>,
    appended: Arc<Appended>,
    stop: CancellationToken,
) {
    loop {
        let job = {
            let mut rx = rx.lock().await;
            tokio::select! {
                biased;
                job = rx.recv() => job,
                () = stop.cancelled() => {
                    // Refuse new batches; those already queued still run.
                    rx.close();
                    rx.recv().await
                }
            }
        };
        let Some(job) = job else { break };
        depth.fetch_sub(1, Ordering::Relaxed);
        let result = step(job.batch).await;
        if result.is_ok() {
            appended.raise();
        }
        let _ = job.reply.send(result);
    }
}
