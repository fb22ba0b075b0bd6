//! The outbox worker of one integration. Notifications are persisted before
//! anything is sent (the alert stage writes them with the group's
//! notification log in one transaction); the worker sends the oldest pending
//! one, records the attempt in the delivery log, and on a retryable failure
//! waits with exponential back-off and full jitter before trying the same
//! one again. Strict order per integration means order within a group; a
//! restart resumes from the database, so delivery is at least once, with the
//! idempotency key letting receivers drop duplicates. A notification older
//! than `delivery.max_age` is given up (`expired`).
//!
//! Stopping: while draining, a worker keeps sending what is due and ends
//! when nothing is; the stage aborts it at its deadline. An attempt cut off
//! that way is never recorded, so its notification stays pending and is sent
//! after the next start.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::{Notify, watch};
use ward_alert::time;

use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::notify::{Ctx, Integration, Notification, Outcome};

/// A queued notification for one integration.
#[derive(Debug, Clone)]
pub struct OutboxEntry {
    pub seq: i64,
    pub integration: String,
    pub receiver: String,
    pub idempotency_key: String,
    pub body: String,
    pub state: String,
    pub attempts: i64,
    pub next_attempt: i64,
    pub created: i64,
    pub last_error: Option<String>,
}

/// One attempt's result, as recorded.
#[derive(Debug, Clone)]
pub struct Attempt<'a> {
    /// The entry's new state: `pending`, `delivered` or `failed`.
    pub state: &'a str,
    /// When to try again (milliseconds since the epoch).
    pub next_attempt: i64,
    /// `delivered`, `retry`, `failed` or `expired`.
    pub outcome: &'a str,
    pub detail: &'a str,
    pub at: i64,
}

/// Where the outbox lives: the alert stage's durable store.
pub trait Queue: Send + Sync {
    /// The oldest pending entry of an integration.
    fn head(&self, integration: &str) -> anyhow::Result<Option<OutboxEntry>>;
    /// Records an attempt and the entry's new state, atomically.
    fn record(&self, e: &OutboxEntry, attempt: &Attempt<'_>) -> anyhow::Result<()>;
    /// Pending entries of an integration.
    fn pending(&self, integration: &str) -> anyhow::Result<i64>;
}

/// The retry policy.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    pub max_age: Duration,
}

/// What one worker needs.
pub struct Worker {
    pub id: String,
    pub integration: Arc<Integration>,
    pub queue: Arc<dyn Queue>,
    pub ctx: Arc<Ctx>,
    pub clock: Clock,
    pub policy: Policy,
    pub metrics: Arc<Metrics>,
    /// Signalled when a notification is queued for this integration.
    pub wake: Arc<Notify>,
    /// Turns true when the stage stops: finish what is due, then end.
    pub draining: watch::Receiver<bool>,
}

/// The delay before retry number `attempt` (1-based): `initial · 2^(attempt-1)`
/// capped at `max`, then a uniformly random part of it in [d/2, d].
pub fn backoff(initial: Duration, max: Duration, attempt: u32, rng: &mut impl Rng) -> Duration {
    let exp = initial.saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1).min(30)));
    let d = exp.min(max);
    let half = d / 2;
    half + Duration::from_nanos(
        rng.gen_range(0..=u64::try_from((d - half).as_nanos()).unwrap_or(u64::MAX)),
    )
}

impl Worker {
    /// Runs until drained (or aborted).
    pub async fn run(mut self) {
        loop {
            let head = match self.queue.head(&self.id) {
                Ok(h) => h,
                Err(e) => {
                    tracing::warn!(integration = %self.id, error = %format!("{e:#}"), "outbox read failed");
                    if *self.draining.borrow() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    continue;
                }
            };
            let Some(entry) = head else {
                if *self.draining.borrow() {
                    return;
                }
                tokio::select! {
                    _ = self.wake.notified() => {}
                    _ = self.draining.wait_for(|d| *d) => {}
                }
                continue;
            };
            let now = self.clock.now();
            if entry.next_attempt > time::millis(now) {
                let at = self.clock.instant_of(time::from_millis(entry.next_attempt));
                tokio::select! {
                    _ = tokio::time::sleep_until(at) => {}
                    // A notification queued meanwhile is behind this one:
                    // the wake-up only matters once the head is sent.
                    _ = self.wake.notified() => {}
                }
                continue;
            }
            self.attempt(&entry).await;
        }
    }

    async fn attempt(&self, entry: &OutboxEntry) {
        let p = &self.policy;
        let now = self.clock.now();
        let age =
            Duration::from_millis(u64::try_from(time::millis(now) - entry.created).unwrap_or(0));
        let (state, next, outcome, detail) = if age > p.max_age {
            (
                "failed",
                entry.next_attempt,
                "expired",
                format!("given up after {} attempts", entry.attempts),
            )
        } else {
            match serde_json::from_str::<Notification>(&entry.body) {
                Err(e) => (
                    "failed",
                    entry.next_attempt,
                    "failed",
                    format!("unreadable notification: {e}"),
                ),
                Ok(n) => match self
                    .integration
                    .notify(&self.ctx, &n, &entry.idempotency_key)
                    .await
                {
                    Outcome::Delivered(d) => ("delivered", entry.next_attempt, "delivered", d),
                    Outcome::Failed(d) => ("failed", entry.next_attempt, "failed", d),
                    Outcome::Retry(d) => {
                        let attempts = u32::try_from(entry.attempts + 1).unwrap_or(u32::MAX);
                        let wait = backoff(
                            p.initial_backoff,
                            p.max_backoff,
                            attempts,
                            &mut rand::thread_rng(),
                        );
                        let at = time::add(self.clock.now(), wait);
                        ("pending", time::millis(at), "retry", d)
                    }
                },
            }
        };
        let id = &self.id;
        match outcome {
            "delivered" => {
                tracing::debug!(integration = %id, seq = entry.seq, "notification delivered")
            }
            "retry" => {
                tracing::info!(integration = %id, seq = entry.seq, attempt = entry.attempts + 1, reason = %detail, "notification delivery failed, will retry")
            }
            _ => {
                tracing::warn!(integration = %id, seq = entry.seq, reason = %detail, "notification not delivered")
            }
        }
        let attempt = Attempt {
            state,
            next_attempt: next,
            outcome,
            detail: &detail,
            at: time::millis(self.clock.now()),
        };
        if let Err(e) = self.queue.record(entry, &attempt) {
            tracing::warn!(integration = %id, error = %format!("{e:#}"), "cannot record a delivery attempt");
            tokio::time::sleep(Duration::from_secs(1)).await;
            return;
        }
        let labels = [
            ("receiver", entry.receiver.as_str()),
            ("integration", entry.integration.as_str()),
        ];
        self.metrics.add(
            "ward_alert_deliveries_total",
            &[labels[0], labels[1], ("outcome", outcome)],
            1,
        );
        if let Ok(n) = self.queue.pending(id) {
            self.metrics
                .set("ward_alert_outbox_pending", &labels, n as f64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn backoff_doubles_with_jitter_and_caps() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let s = Duration::from_secs;
        for attempt in 1..=10u32 {
            let d = backoff(s(1), s(60), attempt, &mut rng);
            let full = s(1u64 << (attempt - 1)).min(s(60));
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
        }
        assert!(backoff(s(1), s(60), 1000, &mut rng) <= s(60));
    }
}
