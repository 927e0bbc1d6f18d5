//! The operations registry: the records of operations (stored, and live in memory), their
//! queue and workers, and the event bus. It knows nothing of what an operation does: the
//! workers run each operation through the function [`Operations::start`] is given.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use super::scheduler::Scheduler;
use super::{
    EventBus, EventKind, Filter, OpParams, OpState, Operation, OperationFilter, OperationId,
    OperationInfo, OperationKind, OperationRecord, OperationStatus, Phase, Progress, Subscription,
};
use crate::collection::{CollectionId, live_record};
use crate::error::{Error, ErrorInfo, Result};
use crate::storage::{self, StoreSlot, WriteBatch, keys};

/// What a worker does with an operation it takes from the queue.
pub(crate) type Job = Arc<dyn Fn(&Arc<OpState>) + Send + Sync>;

/// Operations of one database: records, queue, workers, events.
#[derive(Debug)]
pub(crate) struct Operations {
    store: Arc<StoreSlot>,
    live: Mutex<HashMap<OperationId, Arc<OpState>>>,
    pub(crate) bus: EventBus,
    scheduler: Arc<Scheduler>,
    closed: AtomicBool,
}

impl Operations {
    pub(crate) fn new(store: Arc<StoreSlot>, workers: usize) -> Self {
        Operations {
            store,
            live: Mutex::new(HashMap::new()),
            bus: EventBus::default(),
            scheduler: Arc::new(Scheduler::new(workers)),
            closed: AtomicBool::new(false),
        }
    }

    /// Starts the workers: each runs the operations it takes through `run`, and through
    /// `after_panic` an operation whose run panicked (a bug, or a panicking user embedder),
    /// so that the collection never stays busy.
    pub(crate) fn start(&self, run: Job, after_panic: Job) {
        self.scheduler.start(run, after_panic);
    }

    /// Persists a new operation (with `batch`'s writes, atomically), queues it and returns
    /// its handle.
    pub(crate) fn create(
        self: &Arc<Self>,
        collection_id: CollectionId,
        kind: OperationKind,
        params: OpParams,
        batch: WriteBatch,
    ) -> Result<Operation> {
        self.create_with(collection_id, kind, params, batch, None, OperationId::new())
    }

    /// As [`Operations::create`], with the id chosen and the operation it retries.
    pub(crate) fn create_with(
        self: &Arc<Self>,
        collection_id: CollectionId,
        kind: OperationKind,
        params: OpParams,
        mut batch: WriteBatch,
        retry_of: Option<OperationId>,
        id: OperationId,
    ) -> Result<Operation> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(Error::DatabaseClosed);
        }
        let record = OperationRecord {
            info: OperationInfo {
                id,
                collection_id,
                kind,
                status: OperationStatus::Pending,
                error: None,
                progress: Progress::default(),
                created_at: SystemTime::now(),
                started_at: None,
                finished_at: None,
                retry_of,
                note: None,
            },
            params,
        };
        batch.put_json(keys::operation(id.0), &record)?;
        let store = self.store.get()?;
        store.apply(batch)?;
        store.flush()?;
        let state = Arc::new(OpState::new(record));
        self.live
            .lock()
            .expect("ops lock")
            .insert(id, state.clone());
        self.bus
            .publish(collection_id, Some(id), EventKind::OperationQueued { kind });
        if !self.scheduler.enqueue(state.clone()) {
            self.finish_cancelled_pending(&state, "database closed");
        }
        Ok(Operation {
            ops: self.clone(),
            state,
        })
    }

    /// Persists an operation's record as it is now.
    pub(crate) fn save(&self, op: &OpState) -> Result<()> {
        let record = op.lock().record.clone();
        self.save_record(&record)
    }

    /// Persists an operation's record.
    pub(crate) fn save_record(&self, record: &OperationRecord) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.put_json(keys::operation(record.info.id.0), record)?;
        self.store.get()?.apply(batch)
    }

    /// The live state of operation `id`, read from storage if it is not in memory.
    pub(crate) fn state(&self, id: OperationId) -> Result<Arc<OpState>> {
        if let Some(s) = self.live.lock().expect("ops lock").get(&id) {
            return Ok(s.clone());
        }
        let record: OperationRecord = storage::get_json(
            self.store.get()?.as_ref(),
            "operation",
            &keys::operation(id.0),
        )?
        .ok_or_else(|| Error::OperationNotFound { id: id.to_string() })?;
        let state = Arc::new(OpState::new(record));
        Ok(self
            .live
            .lock()
            .expect("ops lock")
            .entry(id)
            .or_insert(state)
            .clone())
    }

    /// A handle to operation `id`.
    pub(crate) fn handle(self: &Arc<Self>, id: OperationId) -> Result<Operation> {
        Ok(Operation {
            ops: self.clone(),
            state: self.state(id)?,
        })
    }

    /// The operations `filter` selects, as they are now.
    pub(crate) fn list(&self, filter: OperationFilter) -> Result<Vec<OperationInfo>> {
        let stored: Vec<OperationRecord> =
            storage::scan_json(self.store.get()?.as_ref(), "operation", &[keys::OPERATION])?;
        let live = self.live.lock().expect("ops lock");
        Ok(stored
            .into_iter()
            .map(|r| live.get(&r.info.id).map_or(r.info, |s| s.info()))
            .filter(|info| filter.matches(info))
            .collect())
    }

    /// Cancels `op`: at once if it waits in the queue, else at its next check.
    pub(crate) fn cancel(&self, op: &Arc<OpState>, reason: &str) {
        if self.scheduler.remove_pending(op.id) {
            self.finish_cancelled_pending(op, reason);
        } else {
            op.request_cancel(reason);
        }
    }

    /// Ends an operation that never started as cancelled.
    fn finish_cancelled_pending(&self, op: &Arc<OpState>, reason: &str) {
        let progress = op.update(|inner| {
            let info = &mut inner.record.info;
            info.status = OperationStatus::Cancelled;
            info.error = Some(ErrorInfo::from(&Error::Cancelled {
                reason: reason.into(),
            }));
            info.finished_at = Some(SystemTime::now());
            info.progress.phase = Phase::Done;
            info.progress.clone()
        });
        let _ = self.save(op);
        self.bus.publish(
            op.collection_id,
            Some(op.id),
            EventKind::OperationCancelled {
                reason: reason.into(),
                progress,
            },
        );
    }

    /// Runs a failed or cancelled operation again as a new one.
    pub(crate) fn retry(self: &Arc<Self>, op: &Arc<OpState>) -> Result<Operation> {
        let info = op.info();
        if !matches!(
            info.status,
            OperationStatus::Failed | OperationStatus::Cancelled
        ) {
            return Err(Error::InvalidState {
                message: format!(
                    "operation {} is {:?}; only failed or cancelled operations can be retried",
                    info.id, info.status
                ),
            });
        }
        if info.kind != OperationKind::Delete {
            live_record(self.store.get()?.as_ref(), info.collection_id)?;
        }
        self.create_with(
            info.collection_id,
            info.kind,
            op.params(),
            WriteBatch::new(),
            Some(info.id),
            OperationId::new(),
        )
    }

    /// Subscribes to `op`'s events: its state now first, then live ones.
    pub(crate) fn subscribe(&self, op: &Arc<OpState>) -> Subscription {
        let info = op.info();
        let progress = info.progress.clone();
        let now = match info.status {
            OperationStatus::Processing => Some(EventKind::Progress { progress }),
            OperationStatus::Completed => Some(EventKind::OperationCompleted { progress }),
            OperationStatus::Failed => Some(EventKind::OperationFailed {
                error: info
                    .error
                    .clone()
                    .unwrap_or_else(|| ErrorInfo::from(&Error::internal("unknown"))),
                progress,
            }),
            OperationStatus::Cancelled => Some(EventKind::OperationCancelled {
                reason: super::cancel_reason(&info),
                progress,
            }),
            _ => None,
        };
        self.bus
            .subscribe(Filter::Operation(op.id), now.map(|k| (op.collection_id, k)))
    }

    /// Subscribes to the events of collection `id`.
    pub(crate) fn subscribe_collection(&self, id: CollectionId) -> Subscription {
        self.bus.subscribe(Filter::Collection(id), None)
    }

    /// Subscribes to every event.
    pub(crate) fn subscribe_all(&self) -> Subscription {
        self.bus.subscribe(Filter::All, None)
    }

    /// Stops: no operation is queued any more, queued ones are cancelled, running ones asked
    /// to stop, and the workers joined; then the bus closes. Idempotent.
    pub(crate) fn stop(&self) {
        if self.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        for op in self.scheduler.drain_pending() {
            self.finish_cancelled_pending(&op, "database closed");
        }
        for op in self.live.lock().expect("ops lock").values() {
            op.request_cancel("database closed");
        }
        self.scheduler.stop_and_join();
        // Anything a worker did not get to (it was stopping) is cancelled too.
        for op in self.scheduler.drain_pending() {
            self.finish_cancelled_pending(&op, "database closed");
        }
        self.bus.close();
    }

    /// Whether [`Operations::stop`] ran.
    pub(crate) fn is_stopped(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }
}
