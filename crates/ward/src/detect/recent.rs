//! Events just appended to the store, kept in memory for detection so that
//! it does not parse their stored JSON back.
//!
//! An ingest worker that appended a batch offers the very events it
//! serialized into the records (moved, not copied: each record's body is
//! the serialization of the event detection gets) under the store offset
//! of the first. Detection takes a batch when it starts exactly at the
//! offset it reads next, and reads the store otherwise: when it is behind
//! the oldest batch held, after a restart, on replay, for records that
//! came another way (dead letters, cluster replicas), or for a batch
//! offered after detection had read past it.
//!
//! The queue is bounded by events held: an offer that does not fit is
//! refused (the worker frees the events, detection reads them from the
//! store when it comes to them), so the oldest batches, those detection
//! reaches first, are the ones kept.

use std::collections::BTreeMap;

use parking_lot::Mutex;

use crate::model::Event;

/// Events held at most by default: about 40 MB of sshd-sized events.
pub const CAPACITY: usize = 16_384;

/// The queue; shared by the ingest workers (offer) and detection (take).
pub struct Recent {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Batches by the offset of their first event.
    batches: BTreeMap<u64, Vec<Event>>,
    /// Events in `batches`.
    held: usize,
    /// Where detection reads next: a batch wholly before it is refused.
    next: u64,
}

/// What detection reads next.
pub enum Next {
    /// The events stored at `first`, `first + 1`, ...
    Events { first: u64, events: Vec<Event> },
    /// Read the store from detection's offset, at most this many records
    /// (`None`: as many as it reads at a time): a held batch starts there.
    Store(Option<u64>),
}

impl Recent {
    /// A queue holding at most `capacity` events.
    pub fn new(capacity: usize) -> Recent {
        Recent {
            capacity,
            inner: Mutex::default(),
        }
    }

    /// Offers the events stored at `first`, `first + 1`, ... (each one the
    /// exact event whose serialization was stored). Refused, and given
    /// back for the caller to free, when it does not fit or detection has
    /// already read past it.
    pub fn offer(&self, first: u64, events: Vec<Event>) -> Result<(), Vec<Event>> {
        if events.is_empty() {
            return Ok(());
        }
        let mut g = self.inner.lock();
        if first < g.next || g.held + events.len() > self.capacity {
            return Err(events);
        }
        g.held += events.len();
        g.batches.insert(first, events);
        Ok(())
    }

    /// What detection at `offset` reads next. Batches it has passed are
    /// handed back in `stale` (for the caller to free off the lock).
    pub fn take(&self, offset: u64, stale: &mut Vec<Vec<Event>>) -> Next {
        let mut g = self.inner.lock();
        g.next = g.next.max(offset);
        while let Some(entry) = g.batches.first_entry() {
            let first = *entry.key();
            if first >= offset {
                break;
            }
            let mut events = entry.remove();
            g.held -= events.len();
            let skip = usize::try_from(offset - first).unwrap_or(usize::MAX);
            if skip < events.len() {
                // Detection read the start of it from the store: the rest
                // is still ahead.
                let rest = events.split_off(skip);
                g.held += rest.len();
                g.batches.insert(offset, rest);
            }
            stale.push(events);
        }
        match g.batches.first_entry() {
            Some(entry) if *entry.key() == offset => {
                let events = entry.remove();
                g.held -= events.len();
                g.next = offset + events.len() as u64;
                Next::Events {
                    first: offset,
                    events,
                }
            }
            Some(entry) => Next::Store(Some(*entry.key() - offset)),
            None => Next::Store(None),
        }
    }

    /// Whether `n` more events would fit now. An ingest worker asks
    /// before it keeps a batch's events: while detection is too far
    /// behind for them to be held, each event is freed as soon as it is
    /// serialized, while it is still in the cache, instead of being kept
    /// only to be refused (and freed cold) after the append.
    pub fn has_room(&self, n: usize) -> bool {
        self.inner.lock().held + n <= self.capacity
    }

    /// Events held now.
    pub fn held(&self) -> usize {
        self.inner.lock().held
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn batch(first: u64, n: usize) -> Vec<Event> {
        (0..n as u64)
            .map(|i| {
                let mut e = Event::default();
                e.set("event.id", json!(format!("e{}", first + i)));
                e
            })
            .collect()
    }

    fn ids(events: &[Event]) -> Vec<String> {
        events
            .iter()
            .map(|e| e.get_str("event.id").unwrap().to_owned())
            .collect()
    }

    #[test]
    fn batches_come_out_at_their_offsets_and_gaps_are_read_from_the_store() {
        let r = Recent::new(100);
        let mut stale = Vec::new();
        // Offered out of order, as concurrent workers finish their appends.
        r.offer(20, batch(20, 5)).unwrap();
        r.offer(10, batch(10, 10)).unwrap();
        assert_eq!(r.held(), 15);
        // Detection starts before them: the store, up to the first held.
        assert!(matches!(r.take(0, &mut stale), Next::Store(Some(10))));
        let Next::Events { first, events } = r.take(10, &mut stale) else {
            panic!("the batch at 10");
        };
        assert_eq!(first, 10);
        assert_eq!(ids(&events)[0], "e10");
        assert_eq!(events.len(), 10);
        let Next::Events { events, .. } = r.take(20, &mut stale) else {
            panic!("the batch at 20");
        };
        assert_eq!(ids(&events), ["e20", "e21", "e22", "e23", "e24"]);
        assert!(matches!(r.take(25, &mut stale), Next::Store(None)));
        assert!(stale.is_empty());
        assert_eq!(r.held(), 0);
        // A batch detection already read from the store is refused.
        assert!(r.offer(24, batch(24, 3)).is_err());
        r.offer(25, batch(25, 3)).unwrap();
    }

    #[test]
    fn the_queue_is_bounded_and_keeps_the_oldest() {
        let r = Recent::new(10);
        r.offer(0, batch(0, 6)).unwrap();
        let refused = r.offer(6, batch(6, 6)).unwrap_err();
        assert_eq!(refused.len(), 6, "given back to be freed");
        r.offer(6, batch(6, 4)).unwrap();
        assert_eq!(r.held(), 10);
        assert!(r.offer(10, batch(10, 1)).is_err(), "full");
        let mut stale = Vec::new();
        let Next::Events { events: got, .. } = r.take(0, &mut stale) else {
            panic!("the oldest batch is kept");
        };
        assert_eq!(got.len(), 6);
        r.offer(10, batch(10, 6)).unwrap();
        assert_eq!(r.held(), 10);
    }

    #[test]
    fn batches_detection_passed_are_dropped_or_cut() {
        let r = Recent::new(100);
        r.offer(0, batch(0, 4)).unwrap();
        r.offer(4, batch(4, 6)).unwrap();
        let mut stale = Vec::new();
        // Detection read 0..7 from the store (e.g. after a restart).
        let Next::Events { first, events } = r.take(7, &mut stale) else {
            panic!("the rest of the batch at 4");
        };
        assert_eq!(first, 7);
        assert_eq!(ids(&events), ["e7", "e8", "e9"]);
        assert_eq!(stale.iter().map(Vec::len).sum::<usize>(), 4 + 3);
        assert_eq!(r.held(), 0);
    }
}
