//! Private keys split over lines of one stream: each line-oriented input
//! keeps a [`BlockTracker`] per stream (a syslog TCP connection, a syslog UDP
//! sender, an HTTP text or NDJSON request body, a HEC raw body, a Kafka
//! partition) and masks the key lines before the events leave the source,
//! so no line of a PEM, OpenSSH or PGP private key reaches the store, a dead
//! letter or a log line. Whole keys inside one event are the redaction
//! stage's; this is only what needs the order of a stream.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::Hash;
use std::time::Instant;

use serde_json::Value;
use ward_redact::BlockTracker;

use crate::model::Event;

/// Senders remembered at once by a [`Trackers`] map (syslog UDP): beyond
/// this, the sender heard from least recently is forgotten.
pub const MAX_SENDERS: usize = 4096;

/// The text of an event a tracker reads: the message, or the original line
/// of a dead letter.
const FIELDS: [&str; 2] = ["message", "event.original"];

/// Masks key lines in `events`, in stream order. Both the message and the
/// original line of an event are the same line of the stream: each is read
/// from the same tracker state.
pub fn mask_events(tracker: &mut BlockTracker, events: &mut [Event], now: Instant) {
    for event in events {
        let before = tracker.clone();
        let mut fed = false;
        for field in FIELDS {
            let mut copy;
            let t = if fed {
                copy = before.clone();
                &mut copy
            } else {
                &mut *tracker
            };
            let masked = match event.get(field) {
                Some(Value::String(text)) => {
                    fed = true;
                    match t.redact_line(text, now) {
                        Cow::Owned(m) => Some(m),
                        Cow::Borrowed(_) => None,
                    }
                }
                _ => None,
            };
            if let Some(m) = masked {
                event.set(field, Value::String(m));
            }
        }
    }
}

/// Masks key lines in one raw frame (a syslog message, whose text is last).
pub fn mask_frame(tracker: &mut BlockTracker, frame: &mut Vec<u8>, now: Instant) {
    let masked = match std::str::from_utf8(frame) {
        Ok(text) => match tracker.redact_line(text, now) {
            Cow::Owned(m) => m,
            Cow::Borrowed(_) => return,
        },
        Err(_) => {
            let text = String::from_utf8_lossy(frame);
            match tracker.redact_line(&text, now) {
                Cow::Owned(m) => m,
                Cow::Borrowed(_) => return,
            }
        }
    };
    *frame = masked.into_bytes();
}

/// One tracker per stream key, at most `cap` streams: streams outside a
/// block are forgotten first, then the least recently used (a forgotten sender in the middle of a key is
/// then caught again by its next key's `BEGIN` or first line).
pub struct Trackers<K> {
    cap: usize,
    tick: u64,
    map: HashMap<K, (BlockTracker, u64)>,
}

impl<K: Hash + Eq + Clone> Trackers<K> {
    pub fn new(cap: usize) -> Trackers<K> {
        Trackers {
            cap: cap.max(1),
            tick: 0,
            map: HashMap::new(),
        }
    }

    /// The tracker of `key`, created when new.
    pub fn get(&mut self, key: &K) -> &mut BlockTracker {
        self.tick += 1;
        if !self.map.contains_key(key) && self.map.len() >= self.cap {
            // Streams inside no block carry no state worth keeping: forget
            // those first; if every stream is inside a block, forget the
            // least recently used quarter at once, so that a flood of new
            // senders costs amortised O(log n) per sender, not O(n).
            self.map.retain(|_, (t, _)| t.in_block());
            if self.map.len() >= self.cap {
                let mut ticks: Vec<u64> = self.map.values().map(|(_, used)| *used).collect();
                let quarter = (ticks.len() / 4).max(1);
                let (_, cutoff, _) = ticks.select_nth_unstable(quarter - 1);
                let cutoff = *cutoff;
                self.map.retain(|_, (_, used)| *used > cutoff);
            }
        }
        let tick = self.tick;
        let slot = self
            .map
            .entry(key.clone())
            .or_insert_with(|| (BlockTracker::default(), tick));
        slot.1 = tick;
        &mut slot.0
    }

    /// Streams remembered.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no stream is remembered.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trackers_stay_bounded_and_keep_open_blocks() {
        let now = Instant::now();
        let mut t: Trackers<u32> = Trackers::new(3);
        t.get(&0).feed("-----BEGIN PRIVATE KEY-----", now);
        for k in 1..100 {
            t.get(&k).feed("hello", now);
            assert!(t.len() <= 3);
        }
        assert!(t.get(&0).in_block(), "a sender inside a key is kept");

        // Every sender inside a block: the least recently used go first.
        let mut t: Trackers<u32> = Trackers::new(8);
        for k in 0..100 {
            t.get(&k).feed("-----BEGIN PRIVATE KEY-----", now);
            assert!(t.len() <= 8);
        }
        assert!(t.get(&99).in_block());
        assert!(!t.get(&0).in_block(), "the oldest sender was forgotten");
    }

    #[test]
    fn message_and_original_read_the_same_state() {
        let now = Instant::now();
        let mut tracker = BlockTracker::default();
        let line = "MIIEowIBAAKCAQEAtK7mE0oJ6p0m6Tk0Hc2QvNQ2Hy7X3qLw8kXGvTgC9d2vQeJr";
        let mut events = vec![Event::default(), Event::default()];
        events[0].set("message", "-----BEGIN RSA PRIVATE KEY-----".into());
        events[1].set("message", line.into());
        events[1].set("event.original", format!("<13>app: {line}").into());
        mask_events(&mut tracker, &mut events, now);
        assert_eq!(events[1].get_str("message"), Some(ward_redact::KEY_MARKER));
        assert_eq!(
            events[1].get_str("event.original"),
            Some("<13>app: [REDACTED:private_key]")
        );
    }
}
