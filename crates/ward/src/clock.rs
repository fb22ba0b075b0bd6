//! The alert stage's clock: wall time derived from tokio's monotonic clock.
//!
//! Every timer (group_wait, retries, SLA deadlines) and every `now` the
//! alert and notify stages hand to `ward-alert`'s engines comes from here, so a test that pauses tokio time
//! (`tokio::time::pause`, `advance`) moves wall time too: mute intervals,
//! silences and SLA breaches are all testable without sleeping.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use tokio::time::Instant;

/// Wall time = `base` + time elapsed on tokio's clock since `at`.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    base: Timestamp,
    at: Instant,
}

impl Clock {
    /// A clock that starts at the system's current time.
    pub fn system() -> Clock {
        Clock::starting_at(Timestamp::now())
    }

    /// A clock that reads `base` now and advances with tokio time.
    pub fn starting_at(base: Timestamp) -> Clock {
        Clock {
            base,
            at: Instant::now(),
        }
    }

    /// The current wall time.
    pub fn now(&self) -> Timestamp {
        let elapsed = SignedDuration::try_from(self.at.elapsed()).unwrap_or(SignedDuration::MAX);
        self.base.checked_add(elapsed).unwrap_or(self.base)
    }

    /// The tokio instant at which wall time reaches `ts` (now if it is past).
    pub fn instant_of(&self, ts: Timestamp) -> Instant {
        let now = self.now();
        let wait = ts.duration_since(now);
        if wait.is_negative() {
            return Instant::now();
        }
        Instant::now() + Duration::try_from(wait).unwrap_or(Duration::ZERO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn wall_time_follows_paused_tokio_time() {
        let start: Timestamp = "2026-01-05T09:00:00Z".parse().unwrap();
        let clock = Clock::starting_at(start);
        tokio::time::advance(Duration::from_secs(90)).await;
        assert_eq!(clock.now().to_string(), "2026-01-05T09:01:30Z");
    }
}
