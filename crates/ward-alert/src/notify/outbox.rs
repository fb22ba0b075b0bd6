//! The outbox worker of one integration. Notifications are persisted before
//! anything is sent (`Shared::enqueue`); the worker sends the oldest pending
//! one, records the attempt in the delivery log, and on a retryable failure
//! waits with exponential back-off and full jitter before trying the same
//! one again. Strict order per integration means order within a group; a
//! restart resumes from the database, so delivery is at least once, with the
//! idempotency key letting receivers drop duplicates. A notification older
//! than `delivery.max_age` is given up (`expired`).

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::Notify;

use crate::clock;
use crate::engine::Shared;
use crate::notify::{Integration, Notification, Outcome};
use crate::store::OutboxEntry;

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

/// Runs the worker until the engine stops.
pub(crate) async fn run(
    shared: Arc<Shared>,
    id: String,
    integration: Arc<Integration>,
    wake: Arc<Notify>,
) {
    let mut stop = shared.stopping();
    loop {
        if *stop.borrow() {
            return;
        }
        let head = match shared.store.outbox_head(&id) {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(integration = %id, error = %e, "outbox read failed");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(5)) => continue,
                    _ = stop.wait_for(|s| *s) => return,
                }
            }
        };
        let Some(entry) = head else {
            tokio::select! {
                _ = wake.notified() => continue,
                _ = stop.wait_for(|s| *s) => return,
            }
        };
        let now = shared.clock.now();
        if entry.next_attempt > clock::millis(now) {
            let at = shared
                .clock
                .instant_of(clock::from_millis(entry.next_attempt));
            tokio::select! {
                _ = tokio::time::sleep_until(at) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            continue;
        }
        attempt(&shared, &id, &integration, &entry).await;
    }
}

async fn attempt(shared: &Shared, id: &str, integration: &Integration, entry: &OutboxEntry) {
    let rt = &shared.rt;
    let now = shared.clock.now();
    let age = Duration::from_millis(u64::try_from(clock::millis(now) - entry.created).unwrap_or(0));
    let (state, next, outcome, detail) = if age > rt.max_age {
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
            Ok(n) => match integration
                .notify(&shared.ctx, &n, &entry.idempotency_key)
                .await
            {
                Outcome::Delivered(d) => ("delivered", entry.next_attempt, "delivered", d),
                Outcome::Failed(d) => ("failed", entry.next_attempt, "failed", d),
                Outcome::Retry(d) => {
                    let attempts = u32::try_from(entry.attempts + 1).unwrap_or(u32::MAX);
                    let wait = backoff(
                        rt.initial_backoff,
                        rt.max_backoff,
                        attempts,
                        &mut rand::thread_rng(),
                    );
                    let at = clock::add(shared.clock.now(), wait);
                    ("pending", clock::millis(at), "retry", d)
                }
            },
        }
    };
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
    let at = clock::millis(shared.clock.now());
    if let Err(e) = shared
        .store
        .record_attempt(entry, state, next, outcome, Some(&detail), at)
    {
        tracing::warn!(integration = %id, error = %e, "cannot record a delivery attempt");
        tokio::time::sleep(Duration::from_secs(1)).await;
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
