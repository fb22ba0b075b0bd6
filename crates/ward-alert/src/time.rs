//! Timestamp arithmetic the engines share. The engines never read a clock:
//! every decision takes `now` from the caller, which is what makes them
//! testable without waiting.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

/// Adds a std duration to a timestamp, saturating at the end of time.
pub fn add(ts: Timestamp, d: Duration) -> Timestamp {
    SignedDuration::try_from(d)
        .ok()
        .and_then(|d| ts.checked_add(d).ok())
        .unwrap_or(Timestamp::MAX)
}

/// Milliseconds since the Unix epoch, the form timestamps take in SQL columns.
pub fn millis(ts: Timestamp) -> i64 {
    ts.as_millisecond()
}

/// The inverse of [`millis`].
pub fn from_millis(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_saturates_and_millis_round_trip() {
        let t: Timestamp = "2026-01-05T09:00:00Z".parse().unwrap();
        assert_eq!(
            add(t, Duration::from_secs(90)).to_string(),
            "2026-01-05T09:01:30Z"
        );
        assert_eq!(add(t, Duration::MAX), Timestamp::MAX);
        assert_eq!(from_millis(millis(t)), t);
    }
}
