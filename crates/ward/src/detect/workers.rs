//! Threads that live as long as live detection and take shares of each
//! batch's stateless work (parsing stored events, matching Sigma rules).
//! Spawning threads per batch left each one with cold regex caches and a
//! fresh allocator heap; these keep theirs from batch to batch. `ward
//! detect` prepares and matches its batches on them too.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

type Job = Box<dyn FnOnce() + Send>;

/// Fewer items than this per thread are not worth handing over.
const MIN_SHARE: usize = 64;

/// `count` threads in all: the calling thread and `count - 1` kept ones.
pub struct Workers {
    senders: Vec<mpsc::Sender<Job>>,
    handles: Vec<JoinHandle<()>>,
    /// CPU the kept threads spent on shares, in ns, since the last
    /// [`Workers::take_cpu`].
    cpu_ns: Arc<AtomicU64>,
}

impl Workers {
    /// The calling thread and `count - 1` threads named `ward-detect-N`.
    pub fn new(count: usize) -> Workers {
        let mut senders = Vec::new();
        let mut handles = Vec::new();
        for i in 1..count.max(1) {
            let (tx, rx) = mpsc::channel::<Job>();
            let spawned = std::thread::Builder::new()
                .name(format!("ward-detect-{i}"))
                .spawn(move || {
                    for job in rx {
                        job();
                    }
                });
            match spawned {
                Ok(h) => {
                    senders.push(tx);
                    handles.push(h);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot start a detection worker; using fewer");
                    break;
                }
            }
        }
        Workers {
            senders,
            handles,
            cpu_ns: Arc::default(),
        }
    }

    /// Threads taking part, the calling one included.
    pub fn count(&self) -> usize {
        self.senders.len() + 1
    }

    /// CPU the kept threads spent on shares since the last call (the
    /// calling thread's own is not in it).
    pub fn take_cpu(&self) -> Duration {
        Duration::from_nanos(self.cpu_ns.swap(0, Ordering::Relaxed))
    }

    /// Starts `f` over `items` on kept thread `worker` (modulo their
    /// number), behind the jobs it already has; without kept threads, or
    /// when that one is gone, on the calling thread now.
    pub fn start<T, R>(
        &self,
        worker: usize,
        items: Vec<T>,
        f: Arc<dyn Fn(T) -> R + Send + Sync>,
    ) -> Pending<R>
    where
        T: Send + 'static,
        R: Send + 'static,
    {
        let Some(tx) = self.senders.get(worker % self.senders.len().max(1)) else {
            return Pending::Ready(items.into_iter().map(|t| f(t)).collect());
        };
        let (done, rx) = mpsc::sync_channel(1);
        let cpu_ns = self.cpu_ns.clone();
        let job: Job = Box::new(move || {
            let cpu = crate::metrics::thread_cpu();
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                items.into_iter().map(|t| f(t)).collect::<Vec<R>>()
            }));
            let used = crate::metrics::thread_cpu().saturating_sub(cpu);
            cpu_ns.fetch_add(
                u64::try_from(used.as_nanos()).unwrap_or(u64::MAX),
                Ordering::Relaxed,
            );
            let _ = done.send(out);
        });
        match tx.send(job) {
            Ok(()) => Pending::Waiting(rx),
            Err(mpsc::SendError(job)) => {
                job();
                Pending::Waiting(rx)
            }
        }
    }

    /// Drops `value` on kept thread `worker` (modulo their number), behind
    /// the jobs it already has; here without kept threads.
    pub fn discard<T: Send + 'static>(&self, worker: usize, value: T) {
        if let Some(tx) = self.senders.get(worker % self.senders.len().max(1)) {
            // A worker that is gone hands the job back, and it drops here.
            let _ = tx.send(Box::new(move || drop(value)));
        }
    }

    /// `f` over `items`, a contiguous share on each thread (the calling
    /// thread takes the first); results in the order of `items`. A panic
    /// in `f` on a worker is raised again here (the worker stays); a share
    /// whose worker is gone is done on the calling thread.
    pub fn map<T, R>(&self, mut items: Vec<T>, f: Arc<dyn Fn(T) -> R + Send + Sync>) -> Vec<R>
    where
        T: Send + 'static,
        R: Send + 'static,
    {
        let threads = self.count().min(items.len().div_ceil(MIN_SHARE).max(1));
        if threads == 1 {
            return items.into_iter().map(|t| f(t)).collect();
        }
        let share = items.len().div_ceil(threads);
        // Shares from the last to the second: `split_off` keeps the first
        // in `items` for this thread.
        let mut shares = Vec::with_capacity(threads - 1);
        while items.len() > share {
            let at = (items.len() - 1) / share * share;
            shares.push(items.split_off(at));
        }
        shares.reverse();
        let started: Vec<Pending<R>> = shares
            .into_iter()
            .enumerate()
            .map(|(i, share)| self.start(i, share, f.clone()))
            .collect();
        let mut out: Vec<R> = items.into_iter().map(|t| f(t)).collect();
        for p in started {
            out.extend(p.wait());
        }
        out
    }
}

/// Results of [`Workers::start`].
pub enum Pending<R> {
    Ready(Vec<R>),
    Waiting(mpsc::Receiver<std::thread::Result<Vec<R>>>),
}

impl<R> Pending<R> {
    /// The results, once there; a panic on the worker is raised here.
    pub fn wait(self) -> Vec<R> {
        match self {
            Pending::Ready(v) => v,
            Pending::Waiting(rx) => match rx.recv() {
                Ok(Ok(v)) => v,
                Ok(Err(panic)) => std::panic::resume_unwind(panic),
                // The job was dropped unrun: its thread ended, which only
                // dropping [`Workers`] does. Raised as a worker's panic is.
                Err(_) => std::panic::resume_unwind(Box::new(
                    "a detection worker stopped in the middle of a batch",
                )),
            },
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.senders.clear();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_come_back_in_order_and_on_the_kept_threads() {
        let workers = Workers::new(3);
        assert_eq!(workers.count(), 3);
        assert_eq!(workers.take_cpu(), Duration::ZERO);
        let f: Arc<dyn Fn(u32) -> (u32, String) + Send + Sync> = Arc::new(|x| {
            let name = std::thread::current().name().unwrap_or("").to_owned();
            (x * 2, name)
        });
        for n in [0, 1, 63, 64, 65, 200, 1000] {
            let got = workers.map((0..n).collect(), f.clone());
            let values: Vec<u32> = got.iter().map(|(v, _)| *v).collect();
            assert_eq!(
                values,
                (0..n).map(|x| x * 2).collect::<Vec<_>>(),
                "{n} items"
            );
            if n >= 3 * MIN_SHARE as u32 {
                let mut names: Vec<&str> = got.iter().map(|(_, t)| t.as_str()).collect();
                names.dedup();
                assert_eq!(names.len(), 3, "three shares: {names:?}");
                assert_eq!(&names[1..], ["ward-detect-1", "ward-detect-2"]);
            }
        }
        assert!(
            workers.take_cpu() > Duration::ZERO,
            "the kept threads' CPU is counted"
        );
    }

    #[test]
    fn a_panic_on_a_worker_is_raised_on_the_caller() {
        let workers = Workers::new(2);
        let f: Arc<dyn Fn(u32) -> u32 + Send + Sync> = Arc::new(|x| {
            assert!(x < 150, "item {x}");
            x
        });
        let raised = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            workers.map((0..200).collect(), f.clone())
        }));
        assert!(raised.is_err());
        // The worker caught it and takes its share of the next batch.
        let ok: Arc<dyn Fn(u32) -> u32 + Send + Sync> = Arc::new(|x| x + 1);
        assert_eq!(
            workers.map((0..200).collect(), ok),
            (1..201).collect::<Vec<_>>()
        );
    }
}
