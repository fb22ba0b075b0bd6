//! [`SearchStop`]: how a search is told to give up (a deadline, or its
//! client went away), checked by the scan before each block.

use crate::error::StoreError;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// When a search must give up: at a deadline, or when cancelled (its
/// client went away). Checked before each block is read, on every worker,
/// so a stopped search frees its cores within one block's work; it then
/// fails with [`StoreError::SearchStopped`]. The default never stops.
#[derive(Clone, Debug, Default)]
pub struct SearchStop {
    deadline: Option<Instant>,
    cancelled: Arc<AtomicBool>,
}

impl PartialEq for SearchStop {
    /// Options are compared by what they select, not by how they stop.
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for SearchStop {}

impl SearchStop {
    /// Stops at `deadline`, or when [`SearchStop::cancel`] is called on
    /// this or a clone.
    pub fn at(deadline: Instant) -> SearchStop {
        SearchStop {
            deadline: Some(deadline),
            ..SearchStop::default()
        }
    }

    /// Stops the search (and every clone's).
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    /// An error once the deadline passed or the search was cancelled.
    pub fn check(&self) -> Result<(), StoreError> {
        if self.cancelled.load(Ordering::Relaxed) {
            return Err(StoreError::SearchStopped("it was cancelled".into()));
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(StoreError::SearchStopped(
                "it ran past its deadline; narrow the time range or the query".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SearchOptions;
    use crate::query::parse;
    use crate::testing::store_with;

    #[test]
    fn a_search_stops_at_its_deadline_or_when_cancelled() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with(dir.path(), 2500);
        store.seal_now().unwrap();
        let q = parse("user.name:user1").unwrap();
        let count = parse("| count").unwrap();
        let past = SearchOptions {
            stop: SearchStop::at(std::time::Instant::now()),
            ..SearchOptions::default()
        };
        for q in [&q, &count] {
            let e = store.search(q, &past).unwrap_err();
            assert!(matches!(e, StoreError::SearchStopped(_)), "{e}");
        }
        let cancelled = SearchOptions::default();
        let clone = cancelled.stop.clone();
        assert!(store.search(&count, &cancelled).is_ok());
        clone.cancel();
        for q in [&q, &count] {
            let e = store.search(q, &cancelled).unwrap_err();
            assert!(e.to_string().contains("cancelled"), "{e}");
        }
        let later = SearchOptions {
            stop: SearchStop::at(std::time::Instant::now() + std::time::Duration::from_secs(60)),
            ..SearchOptions::default()
        };
        assert!(store.search(&count, &later).is_ok());
    }
}
