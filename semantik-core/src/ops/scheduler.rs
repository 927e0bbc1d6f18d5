//! The worker pool: a FIFO queue of operations, at most one running per collection.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use super::registry::Job;
use super::{OpState, OperationId};
use crate::collection::CollectionId;

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<Arc<OpState>>,
    busy: HashSet<CollectionId>,
    stopping: bool,
}

/// Queue and workers of one database.
#[derive(Debug)]
pub(crate) struct Scheduler {
    workers: usize,
    state: Mutex<State>,
    wake: Condvar,
    handles: Mutex<Vec<JoinHandle<()>>>,
}

impl Scheduler {
    pub(crate) fn new(workers: usize) -> Self {
        Scheduler {
            workers: workers.max(1),
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            handles: Mutex::new(Vec::new()),
        }
    }

    /// Starts the worker threads: each runs the operations it takes through `run`; a run that
    /// panics (a bug, or a panicking user embedder) goes through `after_panic`, never ending
    /// the worker: the collection must not stay busy forever.
    pub(crate) fn start(self: &Arc<Self>, run: Job, after_panic: Job) {
        let mut handles = self.handles.lock().expect("scheduler lock");
        for i in 0..self.workers {
            let (pool, run, after_panic) = (self.clone(), run.clone(), after_panic.clone());
            let handle = std::thread::Builder::new()
                .name(format!("semantik-op-{i}"))
                .spawn(move || {
                    while let Some(op) = pool.next() {
                        let once = std::panic::AssertUnwindSafe(|| run(&op));
                        if std::panic::catch_unwind(once).is_err() {
                            after_panic(&op);
                        }
                        pool.finish(op.collection_id);
                    }
                })
                .expect("spawn operation worker");
            handles.push(handle);
        }
    }

    /// Queues `op`; false (and not queued) once the pool is stopping.
    pub(crate) fn enqueue(&self, op: Arc<OpState>) -> bool {
        let mut st = self.state.lock().expect("scheduler lock");
        if st.stopping {
            return false;
        }
        st.queue.push_back(op);
        self.wake.notify_all();
        true
    }

    /// The oldest queued operation whose collection is idle; `None` when stopping.
    fn next(&self) -> Option<Arc<OpState>> {
        let mut st = self.state.lock().expect("scheduler lock");
        loop {
            if st.stopping {
                return None;
            }
            if let Some(pos) = st
                .queue
                .iter()
                .position(|op| !st.busy.contains(&op.collection_id))
            {
                let op = st.queue.remove(pos).expect("position is in range");
                st.busy.insert(op.collection_id);
                return Some(op);
            }
            st = self.wake.wait(st).expect("scheduler lock");
        }
    }

    fn finish(&self, collection: CollectionId) {
        let mut st = self.state.lock().expect("scheduler lock");
        st.busy.remove(&collection);
        self.wake.notify_all();
    }

    /// Takes a queued operation out of the queue; false if it is not queued (running or ended).
    pub(crate) fn remove_pending(&self, id: OperationId) -> bool {
        let mut st = self.state.lock().expect("scheduler lock");
        match st.queue.iter().position(|op| op.id == id) {
            Some(pos) => {
                st.queue.remove(pos);
                true
            }
            None => false,
        }
    }

    /// Takes every queued operation out of the queue.
    pub(crate) fn drain_pending(&self) -> Vec<Arc<OpState>> {
        self.state
            .lock()
            .expect("scheduler lock")
            .queue
            .drain(..)
            .collect()
    }

    /// Stops the workers after their current operation and waits for them (unless called
    /// from a worker, which cannot wait for itself).
    pub(crate) fn stop_and_join(&self) {
        self.state.lock().expect("scheduler lock").stopping = true;
        self.wake.notify_all();
        let handles: Vec<JoinHandle<()>> = self
            .handles
            .lock()
            .expect("scheduler lock")
            .drain(..)
            .collect();
        let me = std::thread::current().id();
        for h in handles {
            if h.thread().id() != me {
                let _ = h.join();
            }
        }
    }
}
