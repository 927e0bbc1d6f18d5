//! Running an operation: its job (in the file named after it), its outcome, its housekeeping.
//!
//! Between documents a job checks for cancellation and the time limit (`Ctx::checkpoint`). Progress is published only after a flush, so
//! the counts an event reports survive a crash. An operation's last write (its [`Closing`])
//! commits in one batch with its outcome, so a crash never separates the two; what the effect
//! leaves to do (purging retired generations, building the vector index) runs after, as
//! housekeeping that the next operation takes up if a crash cuts it short.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::index::maintain_index;
use super::purge::purge_retired;
use super::{crash_point, delete, index, ingest, reindex, remove};
use crate::collection::{CollectionId, CollectionRecord, CollectionStatus};
use crate::engine::Engine;
use crate::error::{Error, ErrorInfo, Result};
use crate::ops::EventKind;
use crate::ops::{OpParams, OpState, OperationRecord, OperationStatus, Phase, Progress};
use crate::storage::{WriteBatch, keys};

/// Shortest interval between two progress events of one operation.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(200);

/// A change of a collection record.
type RecordChange = Box<dyn FnOnce(&mut CollectionRecord)>;

/// Writes that commit in one atomic batch with an operation's outcome: the operation's last
/// effect (the removal of a deleted collection's record, the last document of an ingest, a
/// removal of documents, a reindex's swap, a compaction's segments), so that no crash can
/// separate "done" from "recorded as done".
#[derive(Default)]
pub(super) struct Closing {
    batch: WriteBatch,
    /// A change of the collection record that commits with them (a reindex's swap).
    record: Option<(CollectionId, RecordChange)>,
    /// Makes them visible in memory once they are stored (the in-memory index).
    then: Option<Box<dyn FnOnce()>>,
}

impl Closing {
    pub(super) fn new(batch: WriteBatch) -> Self {
        Closing {
            batch,
            ..Closing::default()
        }
    }

    /// With `f` run once the writes are stored.
    pub(super) fn then(mut self, f: impl FnOnce() + 'static) -> Self {
        self.then = Some(Box::new(f));
        self
    }

    /// With a change of collection `id`'s record.
    pub(super) fn with_record(
        mut self,
        id: CollectionId,
        f: impl FnOnce(&mut CollectionRecord) + 'static,
    ) -> Self {
        self.record = Some((id, Box::new(f)));
        self
    }

    /// Applies it on its own (what follows it is not the end of the operation).
    pub(super) fn apply(self, engine: &Engine) -> Result<()> {
        match self.record {
            Some((id, f)) => {
                engine.catalog.apply_with_record(id, self.batch, f)?;
            }
            None => engine.store()?.apply(self.batch)?,
        }
        if let Some(then) = self.then {
            then();
        }
        Ok(())
    }
}

/// Runs `op` to its end and records the outcome.
pub(crate) fn run(engine: &Engine, op: &Arc<OpState>) {
    let kind = op.lock().record.info.kind;
    let record = op.update(|inner| {
        let info = &mut inner.record.info;
        info.status = OperationStatus::Processing;
        info.started_at = Some(SystemTime::now());
        info.progress.phase = Phase::Scanning;
        inner.started = Some(Instant::now());
        inner.record.clone()
    });
    // The operation's record and the collection's status change together.
    let started = record_with_status(engine, &record, CollectionStatus::Processing, None);
    crash_point(engine, "operation.started");
    engine.ops.bus.publish(
        op.collection_id,
        Some(op.id),
        EventKind::OperationStarted { kind },
    );
    let mut ctx = Ctx {
        engine,
        op,
        progress: Progress {
            phase: Phase::Scanning,
            ..Progress::default()
        },
        started: Instant::now(),
        last_publish: Instant::now(),
        // A limit too large to add to now (Duration::MAX) means no limit.
        deadline: engine
            .config
            .operation_timeout
            .and_then(|t| Some((Instant::now().checked_add(t)?, t))),
    };
    let result = started.and_then(|status_event| {
        if let Some(kind) = status_event {
            engine.ops.bus.publish(op.collection_id, Some(op.id), kind);
        }
        ctx.checkpoint()?;
        match record.params {
            OpParams::Ingest { sources, staged } => ingest::run(&mut ctx, &sources, staged),
            OpParams::RemoveSource { path } => remove::remove_source(&mut ctx, &path),
            OpParams::RetryDocuments => ingest::retry_documents(&mut ctx),
            OpParams::DeleteDocuments { ids } => remove::delete_documents(&mut ctx, ids),
            OpParams::Reindex { config, generation } => reindex::run(&mut ctx, *config, generation),
            OpParams::Compact => index::compact(&mut ctx),
            OpParams::Delete => delete::run(&mut ctx),
        }
    });
    finish(&mut ctx, result);
}

/// Stores `record` and, in the same batch, the collection's new status (unless the operation
/// deletes the collection); returns the status-change event to publish.
fn record_with_status(
    engine: &Engine,
    record: &OperationRecord,
    status: CollectionStatus,
    message: Option<String>,
) -> Result<Option<EventKind>> {
    let mut batch = WriteBatch::new();
    batch.put_json(keys::operation(record.info.id.0), record)?;
    if matches!(record.params, OpParams::Delete) {
        engine.store()?.apply(batch)?;
        return Ok(None);
    }
    engine
        .catalog
        .apply_with_record(record.info.collection_id, batch, |r| {
            r.status = status;
            r.status_message = message;
        })
}

/// Ends the operation. On success its outcome commits in one batch with its closing writes
/// and the collection's status, then the housekeeping its effect left runs (see
/// [`housekeeping`]): the operation is completed whatever happens to that. On failure or
/// cancellation the outcome and the collection's status commit together. The operation's
/// handles see it ended only once that is stored, and its final event comes last: whoever
/// sees the operation ended also sees the collection's new status.
fn finish(ctx: &mut Ctx<'_>, result: Result<Closing>) {
    let (engine, op) = (ctx.engine, ctx.op);
    let result = result.and_then(|closing| {
        crash_point(engine, "operation.before_outcome");
        commit_outcome(ctx, closing)
    });
    let (record, status_event) = match result {
        Ok(status_event) => {
            crash_point(engine, "operation.after_outcome");
            if let Err(e) = housekeeping(ctx)
                && !matches!(
                    e,
                    Error::Cancelled { .. } | Error::TimedOut { .. } | Error::DatabaseClosed
                )
            {
                let _ = engine.set_status(
                    op.collection_id,
                    Some(op.id),
                    CollectionStatus::Degraded,
                    Some(format!(
                        "housekeeping after operation {} failed: {e}; the next operation \
                         retries it",
                        op.id
                    )),
                );
            }
            // With the housekeeping's counts; the outcome itself is already stored.
            let record = ctx.ended(OperationStatus::Completed, None);
            let _ = engine.ops.save_record(&record);
            (record, status_event)
        }
        Err(e) => {
            let (status, collection_status, message) = match &e {
                Error::Cancelled { .. } => (
                    OperationStatus::Cancelled,
                    CollectionStatus::Ready,
                    format!("operation {} was cancelled", op.id),
                ),
                e => (
                    OperationStatus::Failed,
                    CollectionStatus::Error,
                    format!("operation {} failed: {e}", op.id),
                ),
            };
            let record = ctx.ended(status, Some(&e));
            let event = record_with_status(engine, &record, collection_status, Some(message));
            (record, event.ok().flatten())
        }
    };
    if let Ok(store) = engine.store() {
        let _ = store.flush();
    }
    let info = record.info.clone();
    op.update(|inner| inner.record = record);
    if let Some(kind) = status_event {
        engine.ops.bus.publish(op.collection_id, Some(op.id), kind);
    }
    let progress = info.progress.clone();
    let event = match info.status {
        OperationStatus::Completed => EventKind::OperationCompleted { progress },
        OperationStatus::Cancelled => EventKind::OperationCancelled {
            reason: crate::ops::cancel_reason(&info),
            progress,
        },
        _ => EventKind::OperationFailed {
            error: info
                .error
                .unwrap_or_else(|| ErrorInfo::from(&Error::internal("unknown"))),
            progress,
        },
    };
    engine.ops.bus.publish(op.collection_id, Some(op.id), event);
}

/// Commits the operation's outcome (completed) in one batch with `closing` and the
/// collection's status; returns the status-change event to publish with the final one.
fn commit_outcome(ctx: &mut Ctx<'_>, closing: Closing) -> Result<Option<EventKind>> {
    let engine = ctx.engine;
    let failed = ctx.progress.documents_failed;
    let record = ctx.ended(OperationStatus::Completed, None);
    let Closing {
        mut batch,
        record: change,
        then,
    } = closing;
    batch.put_json(keys::operation(record.info.id.0), &record)?;
    let status_event = if matches!(record.params, OpParams::Delete) {
        engine.store()?.apply(batch)?;
        None
    } else {
        let message = (failed > 0)
            .then(|| format!("{failed} documents failed in operation {}", record.info.id));
        engine
            .catalog
            .apply_with_record(record.info.collection_id, batch, |r| {
                if let Some((_, change)) = change {
                    change(r);
                }
                r.status = CollectionStatus::Ready;
                r.status_message = message;
            })?
    };
    // Stored: the in-memory state follows, whatever the flush says.
    if let Some(then) = then {
        then();
    }
    engine.store()?.flush()?;
    Ok(status_event)
}

/// What an operation's committed effect leaves to do: the records of generations a reindex
/// retired are purged, and the vector index builds the graph segment or compaction it needs.
/// Idempotent: a crash or a cancellation in the middle leaves it to the next operation.
fn housekeeping(ctx: &mut Ctx<'_>) -> Result<()> {
    let id = ctx.op.collection_id;
    if matches!(ctx.op.params(), OpParams::Delete) {
        return Ok(());
    }
    purge_retired(ctx.engine, id)?;
    if !matches!(
        ctx.op.params(),
        OpParams::Compact | OpParams::Reindex { .. }
    ) {
        let record = ctx.engine.record(id)?;
        if let Some(closing) = maintain_index(ctx, record.generation(), &record.config, false)? {
            closing.apply(ctx.engine)?;
        }
    }
    Ok(())
}

/// Ends an operation whose run panicked: it fails with an internal error, and the collection's
/// in-memory index (whose lock the panic may have poisoned) is rebuilt from storage on next use.
pub(crate) fn fail_after_panic(engine: &Engine, op: &Arc<OpState>) {
    engine.forget_runtime(op.collection_id);
    if op.info().status.is_terminal() {
        return;
    }
    let mut ctx = Ctx {
        engine,
        op,
        progress: op.info().progress,
        // The operation's own start, so the final elapsed time is right.
        started: op.lock().started.unwrap_or_else(Instant::now),
        last_publish: Instant::now(),
        deadline: None,
    };
    finish(
        &mut ctx,
        Err(Error::internal(
            "the operation panicked; see the process's stderr",
        )),
    );
}

/// What a running operation carries around.
pub(super) struct Ctx<'a> {
    pub(super) engine: &'a Engine,
    pub(super) op: &'a Arc<OpState>,
    pub(super) progress: Progress,
    started: Instant,
    last_publish: Instant,
    deadline: Option<(Instant, Duration)>,
}

impl Ctx<'_> {
    /// Fails with `Cancelled` or `TimedOut` when the operation must stop.
    pub(super) fn checkpoint(&self) -> Result<()> {
        if let Some(reason) = self.op.cancel_requested() {
            return Err(Error::Cancelled { reason });
        }
        if let Some((deadline, limit)) = self.deadline
            && Instant::now() >= deadline
        {
            return Err(Error::TimedOut {
                seconds: limit.as_secs_f64(),
            });
        }
        Ok(())
    }

    /// The operation's record as it ends now with `status` (`error`, its cause); the handles'
    /// state is left as it is until that record is stored.
    fn ended(&mut self, status: OperationStatus, error: Option<&Error>) -> OperationRecord {
        self.progress.phase = Phase::Done;
        self.progress.elapsed_ms = self.started.elapsed().as_millis() as u64;
        let mut record = self.op.lock().record.clone();
        let info = &mut record.info;
        info.status = status;
        info.error = error.map(ErrorInfo::from);
        info.finished_at = Some(SystemTime::now());
        info.progress = self.progress.clone();
        record
    }

    /// Flushes and publishes progress, at most every [`PROGRESS_INTERVAL`] unless `force`.
    pub(super) fn publish(&mut self, force: bool) -> Result<()> {
        if !force && self.last_publish.elapsed() < PROGRESS_INTERVAL {
            return Ok(());
        }
        self.engine.store()?.flush()?;
        self.last_publish = Instant::now();
        self.progress.elapsed_ms = self.started.elapsed().as_millis() as u64;
        let progress = self.progress.clone();
        self.op
            .update(|inner| inner.record.info.progress = progress.clone());
        self.engine.ops.bus.publish(
            self.op.collection_id,
            Some(self.op.id),
            EventKind::Progress { progress },
        );
        Ok(())
    }

    /// Counts one more document done (of `size` bytes) and publishes progress.
    pub(super) fn done_one(&mut self, size: u64) -> Result<()> {
        self.progress.documents_done += 1;
        self.progress.bytes_done += size;
        self.publish(false)
    }

    pub(super) fn document_failed(
        &mut self,
        document_id: &str,
        source: Option<&Path>,
        error: &Error,
    ) {
        self.progress.documents_failed += 1;
        self.engine.ops.bus.publish(
            self.op.collection_id,
            Some(self.op.id),
            EventKind::DocumentFailed {
                document_id: document_id.to_string(),
                source: source.map(|p| p.display().to_string()),
                error: ErrorInfo::from(error),
            },
        );
    }
}

/// Whether an error concerns one document only (the operation goes on) rather than the whole
/// operation (storage failures, closing).
pub(super) fn is_document_error(e: &Error) -> bool {
    !matches!(
        e,
        Error::Storage { .. }
            | Error::Corrupt { .. }
            | Error::DatabaseClosed
            | Error::Internal { .. }
            | Error::Cancelled { .. }
            | Error::TimedOut { .. }
    )
}
