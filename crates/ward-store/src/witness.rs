//! Checkpoints copied off the machine, so that a store rolled back or
//! rewritten by someone holding the data directory (and its signing key)
//! is still caught.
//!
//! Every signed checkpoint is offered to a [`Witness`]: a directory on
//! other storage ([`DirWitness`]: a mounted share, a write-once volume), or
//! anything the application plugs in (Ward posts notes over HTTP). A
//! dedicated thread publishes the newest pending checkpoint, so a slow or
//! absent witness never delays an append; when it falls behind, checkpoints
//! in between are skipped (each one commits to the whole log before it).
//! Failures are retried with backoff and counted in [`crate::StoreStats`].
//!
//! `verify` with a witness directory ([`crate::verify_with_witness`]) checks
//! each witnessed note against the store's key and the recomputed tree: a
//! log cut below a witnessed size (rollback), or changed before it and
//! re-signed with the stolen key, fails, naming the witnessed checkpoint.

use crate::checkpoint::Checkpoint;
use crate::disk;
use parking_lot::{Condvar, Mutex};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Where signed checkpoints are copied.
pub trait Witness: Send + Sync + std::fmt::Debug {
    /// Stores one checkpoint; an error says why not (retried later).
    fn publish(&self, cp: &Checkpoint) -> Result<(), String>;
    /// For logs: where it writes.
    fn describe(&self) -> String;
}

/// A witness that writes each note to `<dir>/<size:020>.cp` (written to a
/// temporary name, fsynced, renamed). A note already there for the same
/// size must be the same tree: a different root is refused and reported,
/// since two signed trees of one size mean the log was forked.
#[derive(Debug, Clone)]
pub struct DirWitness {
    dir: PathBuf,
}

impl DirWitness {
    /// A witness writing into `dir` (created if missing).
    pub fn new(dir: impl Into<PathBuf>) -> DirWitness {
        DirWitness { dir: dir.into() }
    }
}

impl Witness for DirWitness {
    fn publish(&self, cp: &Checkpoint) -> Result<(), String> {
        let name = disk::segment_name(cp.size, "cp");
        let path = self.dir.join(&name);
        let show = |e: std::io::Error, what: &str, p: &Path| format!("{what} {}: {e}", p.display());
        std::fs::create_dir_all(&self.dir).map_err(|e| show(e, "create", &self.dir))?;
        match std::fs::read_to_string(&path) {
            Ok(old) => return same_tree(&old, cp, &path.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(show(e, "read", &path)),
        }
        let tmp = self.dir.join(format!("{name}.tmp"));
        crate::seal::write_synced(&tmp, cp.note.as_bytes()).map_err(|e| e.to_string())?;
        std::fs::rename(&tmp, &path).map_err(|e| show(e, "rename", &path))?;
        disk::sync_dir(&self.dir).map_err(|e| e.to_string())
    }

    fn describe(&self) -> String {
        self.dir.display().to_string()
    }
}

/// Whether a note a witness already holds for `cp.size` (at `place`) is
/// the same tree: then there is nothing to publish; a different root is
/// refused, since two signed trees of one size mean the log was forked.
pub fn same_tree(old: &str, cp: &Checkpoint, place: &str) -> Result<(), String> {
    // The note's third line is the root; the signature lines differ
    // between two signings of the same tree.
    if old == cp.note || old.lines().nth(2) == cp.note.lines().nth(2) {
        return Ok(());
    }
    Err(format!(
        "{place} already holds a different signed tree of {} records: the log was forked or rewritten",
        cp.size
    ))
}

/// Counters of the witness thread.
#[derive(Debug, Default)]
pub(crate) struct WitnessStats {
    pub published: AtomicU64,
    pub failures: AtomicU64,
    /// Tree size of the newest witnessed checkpoint.
    pub size: AtomicU64,
}

/// The hand-over between checkpoint signing and the witness thread.
#[derive(Debug, Default)]
pub(crate) struct Feed {
    state: Mutex<FeedState>,
    wake: Condvar,
    pub stats: WitnessStats,
}

#[derive(Debug, Default)]
struct FeedState {
    pending: Option<Checkpoint>,
    /// Being published now (taken from `pending`).
    busy: bool,
    stop: bool,
}

impl Feed {
    /// Offers a newly signed checkpoint; a newer one replaces an older one
    /// still waiting.
    pub fn offer(&self, cp: &Checkpoint) {
        let mut st = self.state.lock();
        if st.pending.as_ref().is_none_or(|p| p.size < cp.size)
            && cp.size > self.stats.size.load(Ordering::Relaxed)
        {
            st.pending = Some(cp.clone());
            self.wake.notify_all();
        }
    }

    /// Waits up to `limit` for what is pending to be published, then stops
    /// the thread (a clean stop publishes its final checkpoint).
    pub fn finish(&self, limit: Duration) {
        let deadline = std::time::Instant::now() + limit;
        let mut st = self.state.lock();
        while (st.pending.is_some() || st.busy) && std::time::Instant::now() < deadline {
            self.wake.wait_until(&mut st, deadline);
        }
        st.stop = true;
        self.wake.notify_all();
    }
}

/// Starts the thread that publishes what `feed` is offered.
pub(crate) fn spawn(
    witness: Arc<dyn Witness>,
    feed: Arc<Feed>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("ward-witness".into())
        .spawn(move || run(&*witness, &feed))
}

fn run(witness: &dyn Witness, feed: &Feed) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let cp = {
            let mut st = feed.state.lock();
            loop {
                if st.stop {
                    return;
                }
                if let Some(cp) = st.pending.take() {
                    st.busy = true;
                    break cp;
                }
                feed.wake.wait(&mut st);
            }
        };
        let outcome = witness.publish(&cp);
        let mut st = feed.state.lock();
        st.busy = false;
        match outcome {
            Ok(()) => {
                feed.stats.published.fetch_add(1, Ordering::Relaxed);
                feed.stats.size.fetch_max(cp.size, Ordering::Relaxed);
                backoff = Duration::from_millis(100);
                feed.wake.notify_all();
            }
            Err(e) => {
                let failures = feed.stats.failures.fetch_add(1, Ordering::Relaxed) + 1;
                // The first failure and then one in a hundred: a witness
                // that is down for hours must not flood the log.
                if failures == 1 || failures.is_multiple_of(100) {
                    tracing::error!(witness = %witness.describe(), size = cp.size, failures, error = %e, "a checkpoint could not be published to the witness; retrying");
                }
                if st.pending.as_ref().is_none_or(|p| p.size < cp.size) {
                    st.pending = Some(cp);
                }
                feed.wake.notify_all();
                if !st.stop {
                    feed.wake.wait_for(&mut st, backoff);
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// A witnessed note's file and its text (or why it cannot be read).
pub type Note = (PathBuf, Result<String, String>);

/// Every `*.cp` note in a witness directory, by file name.
pub fn read_dir(dir: &Path) -> Result<Vec<Note>, crate::StoreError> {
    let entries = std::fs::read_dir(dir).map_err(|e| crate::StoreError::io("list", dir, e))?;
    let mut out: Vec<Note> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "cp"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).map_err(|e| e.to_string());
            (p, text)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::StoreKey;

    fn key() -> (tempfile::TempDir, StoreKey) {
        let dir = tempfile::tempdir().unwrap();
        let key = StoreKey::load_or_create(dir.path()).unwrap();
        (dir, key)
    }

    fn cp(key: &StoreKey, size: u64, root: u8) -> Checkpoint {
        key.checkpoint(size, &[root; 32], 1_700_000_000_000)
    }

    #[test]
    fn a_directory_witness_keeps_each_size_once_and_refuses_a_fork() {
        let dir = tempfile::tempdir().unwrap();
        let (_kd, key) = key();
        let w = DirWitness::new(dir.path().join("w"));
        w.publish(&cp(&key, 5, 1)).unwrap();
        w.publish(&cp(&key, 5, 1)).unwrap();
        let err = w.publish(&cp(&key, 5, 2)).unwrap_err();
        assert!(err.contains("forked"), "{err}");
        let notes = read_dir(&dir.path().join("w")).unwrap();
        assert_eq!(notes.len(), 1);
        assert!(notes[0].0.ends_with("00000000000000000005.cp"));
    }

    #[derive(Debug, Default)]
    struct Flaky {
        fail_first: AtomicU64,
        seen: Mutex<Vec<u64>>,
    }

    impl Witness for Flaky {
        fn publish(&self, cp: &Checkpoint) -> Result<(), String> {
            if self.fail_first.load(Ordering::Relaxed) > 0 {
                self.fail_first.fetch_sub(1, Ordering::Relaxed);
                return Err("down".into());
            }
            self.seen.lock().push(cp.size);
            Ok(())
        }
        fn describe(&self) -> String {
            "flaky".into()
        }
    }

    #[test]
    fn the_thread_retries_and_publishes_the_newest() {
        let (_kd, key) = key();
        let w = Arc::new(Flaky {
            fail_first: AtomicU64::new(2),
            ..Flaky::default()
        });
        let feed = Arc::new(Feed::default());
        let h = spawn(w.clone(), feed.clone()).unwrap();
        feed.offer(&cp(&key, 1, 1));
        feed.offer(&cp(&key, 3, 3));
        feed.finish(Duration::from_secs(5));
        h.join().unwrap();
        assert_eq!(w.seen.lock().last(), Some(&3));
        assert_eq!(feed.stats.failures.load(Ordering::Relaxed), 2);
        assert_eq!(feed.stats.size.load(Ordering::Relaxed), 3);
        // An older checkpoint than the witnessed one is not offered again.
        feed.offer(&cp(&key, 2, 2));
        assert!(feed.state.lock().pending.is_none());
    }
}
