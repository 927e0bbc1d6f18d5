//! Running an operation: ingesting, removing and deleting, one atomic batch per document.
//!
//! Each document is read, chunked and embedded, then written with its chunks, vectors, index
//! entries and the collection's updated counts in one batch. Between documents the runner
//! checks for cancellation and the time limit. Progress is published only after a flush, so
//! the counts an event reports survive a crash. An operation's last write (its [`Closing`])
//! commits in one batch with its outcome, so a crash never separates the two; what the effect
//! leaves to do (purging retired generations, building the vector index) runs after, as
//! housekeeping that the next operation takes up if a crash cuts it short.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use uuid::Uuid;

use super::crash_point;
use super::ingest::{self, Item};
use super::writer::{Reader, Writer};
use crate::collection::{CollectionConfig, CollectionId, CollectionRecord, CollectionStatus};
use crate::document::{Document, DocumentStatus, StagedDocument};
use crate::engine::Engine;
use crate::error::{Error, ErrorInfo, Result};
use crate::index::CollectionIndex;
use crate::ops::EventKind;
use crate::ops::{OpParams, OpState, OperationRecord, OperationStatus, Phase, Progress};
use crate::source::SourceOptions;
use crate::storage::{self, WriteBatch, keys};

/// Shortest interval between two progress events of one operation.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(200);
/// Keys deleted per batch when purging a collection or a generation.
const PURGE_BATCH: usize = 1024;

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
            OpParams::Ingest { sources, staged } => ingest(&mut ctx, &sources, staged),
            OpParams::RemoveSource { path } => remove_source(&mut ctx, &path),
            OpParams::RetryDocuments => retry_documents(&mut ctx),
            OpParams::DeleteDocuments { ids } => delete_documents(&mut ctx, ids),
            OpParams::Reindex { config, generation } => {
                super::reindex::run(&mut ctx, *config, generation)
            }
            OpParams::Compact => compact(&mut ctx),
            OpParams::Delete => delete_collection(&mut ctx),
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
        if let Some(closing) = maintain_index(ctx, record.data(), &record.config, false)? {
            closing.apply(ctx.engine)?;
        }
    }
    Ok(())
}

/// Purges the generations the collection lists as retired, then clears the list.
pub(super) fn purge_retired(engine: &Engine, id: CollectionId) -> Result<()> {
    let retired = engine.record(id)?.retired;
    if retired.is_empty() {
        return Ok(());
    }
    for old in &retired {
        purge_generation(engine, *old)?;
    }
    engine
        .catalog
        .update_record(id, |r| r.retired.retain(|g| !retired.contains(g)))
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

/// Ingests the files of `sources` and the documents staged by operation `staged`; then
/// removes the documents of deleted files of sources that say so.
fn ingest(
    ctx: &mut Ctx<'_>,
    sources: &[PathBuf],
    staged: Option<crate::ops::OperationId>,
) -> Result<Closing> {
    let id = ctx.op.collection_id;
    let mut writer = Writer::open(ctx.engine, id, true)?;
    let mut items = Vec::new();
    if let Some(staged_op) = staged {
        let prefix = keys::staged(id.0, staged_op.0, "");
        for entry in writer.store().scan_prefix(&prefix) {
            let (k, v) = entry?;
            let doc: StagedDocument = storage::decode_json("staged document", &v)?;
            items.push(Item::Staged(k, doc));
        }
    }
    let remembered = ctx.engine.catalog.sources(id)?;
    let options = |root: &Path| {
        remembered
            .iter()
            .find(|s| s.path == root)
            .map(|s| s.options.clone())
            .unwrap_or_default()
    };
    let scans = ingest::scan_sources(sources, &options);
    items.extend(ingest::items_of(&scans));
    // Deleted files first: documents below a source that the walk no longer lists. (So that
    // a moved file's content, still held by its old document, is not skipped as known.)
    let listed: HashSet<&Path> = scans
        .iter()
        .flat_map(|(_, _, s)| s.files.iter().map(|(p, _)| p.as_path()))
        .collect();
    let mut gone = Vec::new();
    for (root, options, scan) in &scans {
        if !options.remove_deleted {
            continue;
        }
        for (path, doc_id) in writer.reader.documents_under(root)? {
            let incomplete = scan.incomplete.iter().any(|p| path.starts_with(p));
            if !incomplete && !listed.contains(path.as_path()) && !path.exists() {
                gone.push(doc_id);
            }
        }
    }
    if !gone.is_empty() {
        let removal = remove_documents(ctx, &mut writer, gone)?;
        if items.is_empty() {
            return Ok(removal);
        }
        removal.apply(ctx.engine)?;
        ctx.publish(true)?;
    }
    ingest::process(ctx, &mut writer, items)
}

fn retry_documents(ctx: &mut Ctx<'_>) -> Result<Closing> {
    let id = ctx.op.collection_id;
    let mut writer = Writer::open(ctx.engine, id, true)?;
    let failed: Vec<Document> = writer
        .reader
        .documents()?
        .into_iter()
        .filter(|d| d.status == DocumentStatus::Failed)
        .collect();
    let failed_ids: HashSet<&str> = failed.iter().map(|d| d.id.as_str()).collect();
    let mut items = Vec::new();
    for entry in writer
        .store()
        .scan_prefix(&keys::in_collection(keys::STAGED, id.0))
    {
        let (k, v) = entry?;
        let doc: StagedDocument = storage::decode_json("staged document", &v)?;
        if failed_ids.contains(doc.id.as_str()) {
            items.push(Item::Staged(k, doc));
        }
    }
    let remembered = ctx.engine.catalog.sources(id)?;
    for d in &failed {
        if let Some(path) = &d.source {
            let max_size = remembered
                .iter()
                .filter(|s| path.starts_with(&s.path))
                .max_by_key(|s| s.path.as_os_str().len())
                .map_or(SourceOptions::default().max_file_size, |s| {
                    s.options.max_file_size
                });
            items.push(Item::File {
                path: path.clone(),
                size: d.size,
                max_size,
            });
        }
    }
    ingest::process(ctx, &mut writer, items)
}

/// Removes every document read from `root` or below it, and the sources there, in one atomic
/// batch: the operation's closing writes.
fn remove_source(ctx: &mut Ctx<'_>, root: &Path) -> Result<Closing> {
    let id = ctx.op.collection_id;
    let mut writer = Writer::open(ctx.engine, id, false)?;
    let docs = writer.reader.documents_under(root)?;
    ctx.progress.documents_total = Some(docs.len() as u64);
    ctx.progress.phase = Phase::Processing;
    ctx.publish(true)?;
    ctx.checkpoint()?;
    let mut batch = WriteBatch::new();
    let mut removed = Vec::new();
    for (_, doc_id) in &docs {
        if let Some(doc) = writer.reader.get_document(doc_id)? {
            removed.extend(writer.remove_into(&mut batch, &doc)?);
            ctx.progress.documents_removed += 1;
            ctx.progress.bytes_done += doc.size;
        } else {
            ctx.progress.documents_skipped += 1;
        }
    }
    for mut s in ctx.engine.catalog.sources(id)? {
        if s.path.starts_with(root) {
            batch.delete(keys::source(id.0, &s.path));
        } else if let Ok(rel) = root.strip_prefix(&s.path) {
            // Below a source that stays: exclude it there, so an append does not add it back.
            let glob = format!("/{}", rel.to_string_lossy().replace('\\', "/"));
            if !s.options.exclude.contains(&glob) {
                s.options.exclude.push(glob);
                batch.put_json(keys::source(id.0, &s.path), &s)?;
            }
        }
    }
    ctx.progress.chunks_done += removed.len() as u64;
    ctx.progress.documents_done = docs.len() as u64;
    writer.closing(batch, removed, Vec::new())
}

fn delete_documents(ctx: &mut Ctx<'_>, ids: Vec<String>) -> Result<Closing> {
    let mut writer = Writer::open(ctx.engine, ctx.op.collection_id, false)?;
    remove_documents(ctx, &mut writer, ids)
}

/// The removal of documents `doc_ids`, in one batch; ids not held count as skipped.
fn remove_documents(
    ctx: &mut Ctx<'_>,
    writer: &mut Writer<'_>,
    mut doc_ids: Vec<String>,
) -> Result<Closing> {
    doc_ids.sort();
    doc_ids.dedup();
    ctx.progress.phase = Phase::Processing;
    ctx.progress.documents_total =
        Some(ctx.progress.documents_total.unwrap_or(0) + doc_ids.len() as u64);
    ctx.publish(true)?;
    ctx.checkpoint()?;
    let mut batch = WriteBatch::new();
    let mut removed = Vec::new();
    for doc_id in doc_ids {
        if let Some(doc) = writer.reader.get_document(&doc_id)? {
            removed.extend(writer.remove_into(&mut batch, &doc)?);
            ctx.progress.documents_removed += 1;
        } else {
            ctx.progress.documents_skipped += 1;
        }
        ctx.progress.documents_done += 1;
    }
    ctx.progress.chunks_done += removed.len() as u64;
    writer.closing(batch, removed, Vec::new())
}

/// A compaction of the served generation's vector index: its new segments are the closing
/// writes.
fn compact(ctx: &mut Ctx<'_>) -> Result<Closing> {
    let record = ctx.engine.record(ctx.op.collection_id)?;
    Ok(maintain_index(ctx, record.data(), &record.config, true)?.unwrap_or_default())
}

/// Builds what generation `data`'s vector index needs (a graph segment from the vectors
/// searched exactly, or a compaction; always a compaction when `compact`) and returns its
/// storage and installation, for the caller to apply. The build runs without holding the
/// index lock: searches go on, served by the current segments.
pub(super) fn maintain_index(
    ctx: &mut Ctx<'_>,
    data: Uuid,
    config: &CollectionConfig,
    compact: bool,
) -> Result<Option<Closing>> {
    let (rt, _) = ctx.engine.ensure_index_of(data, config)?;
    let plan = rt
        .index
        .read()
        .expect("index lock")
        .as_ref()
        .and_then(|index| index.plan(compact));
    let Some(plan) = plan else {
        return Ok(None);
    };
    ctx.progress.phase = Phase::Indexing;
    ctx.progress.vectors_total = Some(plan.len() as u64);
    ctx.publish(true)?;
    let dim = config.dimension.unwrap_or(0);
    let built = CollectionIndex::build(&config.index, dim, plan, &mut |done| {
        ctx.checkpoint()?;
        ctx.progress.vectors_indexed = done as u64;
        ctx.publish(false)
    })?;
    ctx.checkpoint()?;
    // Stored before it is installed: a crash in between loads the same state.
    let store = ctx.engine.store()?;
    let batch = CollectionIndex::persist_batch(store.as_ref(), data, &built)?;
    Ok(Some(Closing::new(batch).then(move || {
        if let Some(index) = rt.index.write().expect("index lock").as_mut() {
            index.install(built);
        }
    })))
}

/// Deletes every key under `prefix`, in batches; returns how many.
fn purge_prefix(engine: &Engine, prefix: &[u8]) -> Result<u64> {
    let store = engine.store()?;
    let mut n = 0;
    loop {
        let keys: Vec<Vec<u8>> = store
            .scan_prefix(prefix)
            .take(PURGE_BATCH)
            .map(|e| e.map(|(k, _)| k))
            .collect::<Result<_>>()?;
        if keys.is_empty() {
            return Ok(n);
        }
        n += keys.len() as u64;
        let mut batch = WriteBatch::new();
        for k in keys {
            batch.delete(k);
        }
        store.apply(batch)?;
        crash_point(engine, "purge.batch");
    }
}

/// Deletes every record of generation `data`; returns how many chunks it had.
pub(super) fn purge_generation(engine: &Engine, data: Uuid) -> Result<u64> {
    engine.generations.retire(data);
    engine.generations.drop_runtimes([data]);
    let mut chunks = 0;
    for tag in keys::PER_GENERATION {
        let n = purge_prefix(engine, &keys::in_collection(tag, data))?;
        if tag == keys::CHUNK {
            chunks = n;
        }
    }
    Ok(chunks)
}

/// Deletes a collection: hides it at once, then purges its records in batches; the removal of
/// its record is the closing write. A crash in between leaves it hidden; retrying the
/// operation finishes the purge, and a retry that finds the record gone completes.
fn delete_collection(ctx: &mut Ctx<'_>) -> Result<Closing> {
    let id = ctx.op.collection_id;
    ctx.engine.begin_delete(id)?;
    ctx.progress.phase = Phase::Processing;
    let record = ctx.engine.catalog.record_any(id)?;
    let mut generations = record.map(|r| r.generations()).unwrap_or_default();
    generations.push(id.0);
    generations.sort();
    generations.dedup();
    for data in generations {
        ctx.progress.chunks_done += purge_generation(ctx.engine, data)?;
    }
    for tag in keys::PER_COLLECTION {
        if tag != keys::COLLECTION {
            purge_prefix(ctx.engine, &keys::in_collection(tag, id.0))?;
        }
    }
    ctx.progress.documents_done = 1;
    ctx.progress.documents_total = Some(1);
    let mut batch = WriteBatch::new();
    batch.delete(keys::collection(id.0));
    Ok(Closing::new(batch))
}

/// The items of a reindex: every document of generation `from` (of external vectors when
/// `external`).
pub(super) fn stored_items(from: &Reader, external: bool) -> Result<Vec<Item>> {
    Ok(from
        .documents()?
        .into_iter()
        .map(|doc| Item::Stored {
            doc,
            from: from.clone(),
            external,
        })
        .collect())
}
