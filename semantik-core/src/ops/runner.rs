//! Running an operation: ingesting, removing and deleting, one atomic batch per document.
//!
//! Each document is read, chunked and embedded, then written with its chunks, vectors, index
//! entries and the collection's updated counts in one batch. Between documents the runner
//! checks for cancellation and the time limit. Progress is published only after a flush, so
//! the counts an event reports survive a crash.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use uuid::Uuid;

use super::ingest::{self, Item};
use super::writer::{Reader, Writer};
use super::{OpParams, OpState, OperationStatus, Phase, Progress};
use crate::collection::{CollectionConfig, CollectionStatus};
use crate::db::{Engine, staged_key};
use crate::document::{Document, DocumentStatus, StagedDocument};
use crate::error::{Error, ErrorInfo, Result};
use crate::index::CollectionIndex;
use crate::ops::EventKind;
use crate::source::SourceOptions;
use crate::storage::{self, WriteBatch, keys};

/// Shortest interval between two progress events of one operation.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(200);
/// Keys deleted per batch when purging a collection or a generation.
const PURGE_BATCH: usize = 1024;

/// Runs `op` to its end and records the outcome.
pub(crate) fn run(engine: &Engine, op: &Arc<OpState>) {
    let kind = op.lock().record.info.kind;
    op.update(|inner| {
        let info = &mut inner.record.info;
        info.status = OperationStatus::Processing;
        info.started_at = Some(SystemTime::now());
        info.progress.phase = Phase::Scanning;
        inner.started = Some(Instant::now());
    });
    let _ = engine.save_operation(op);
    engine.bus.publish(
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
    let result = ctx.checkpoint().and_then(|()| match op.params() {
        OpParams::Delete => delete_collection(&mut ctx),
        params => {
            engine.set_status(
                op.collection_id,
                Some(op.id),
                CollectionStatus::Processing,
                None,
            )?;
            let compact = matches!(params, OpParams::Compact);
            match params {
                OpParams::Ingest { sources, staged } => ingest(&mut ctx, &sources, staged),
                OpParams::RemoveSource { path } => remove_source(&mut ctx, &path),
                OpParams::RetryDocuments => retry_documents(&mut ctx),
                OpParams::DeleteDocuments { ids } => delete_documents(&mut ctx, ids),
                OpParams::Reindex { config, generation } => {
                    return super::reindex::run(&mut ctx, *config, generation);
                }
                OpParams::Compact => Ok(()),
                OpParams::Delete => unreachable!("handled above"),
            }
            .and_then(|()| maintain_served_index(&mut ctx, compact))
        }
    });
    ctx.progress.phase = Phase::Finalizing;
    let result = result.and_then(|()| engine.store()?.flush());
    finish(&mut ctx, result);
}

/// Sets the collection's status, records the outcome and publishes the final event, in that
/// order: whoever sees the operation ended also sees the collection's new status.
fn finish(ctx: &mut Ctx<'_>, result: Result<()>) {
    let (engine, op) = (ctx.engine, ctx.op);
    ctx.progress.phase = Phase::Done;
    ctx.progress.elapsed_ms = ctx.started.elapsed().as_millis() as u64;
    let progress = ctx.progress.clone();
    let (status, event, collection_status, message) = match &result {
        Ok(()) => (
            OperationStatus::Completed,
            EventKind::OperationCompleted {
                progress: progress.clone(),
            },
            CollectionStatus::Ready,
            (progress.documents_failed > 0).then(|| {
                format!(
                    "{} documents failed in operation {}",
                    progress.documents_failed, op.id
                )
            }),
        ),
        Err(Error::Cancelled { reason }) => (
            OperationStatus::Cancelled,
            EventKind::OperationCancelled {
                reason: reason.clone(),
                progress: progress.clone(),
            },
            CollectionStatus::Ready,
            Some(format!("operation {} was cancelled", op.id)),
        ),
        Err(e) => (
            OperationStatus::Failed,
            EventKind::OperationFailed {
                error: ErrorInfo::from(e),
                progress: progress.clone(),
            },
            CollectionStatus::Error,
            Some(format!("operation {} failed: {e}", op.id)),
        ),
    };
    if !matches!(op.params(), OpParams::Delete) {
        let _ = engine.set_status(op.collection_id, Some(op.id), collection_status, message);
    }
    op.update(|inner| {
        let info = &mut inner.record.info;
        info.status = status;
        info.error = result.as_ref().err().map(ErrorInfo::from);
        info.finished_at = Some(SystemTime::now());
        info.progress = progress;
    });
    if engine.save_operation(op).is_ok()
        && let Ok(store) = engine.store()
    {
        let _ = store.flush();
    }
    engine.bus.publish(op.collection_id, Some(op.id), event);
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
        self.engine.bus.publish(
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
        self.engine.bus.publish(
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
    staged: Option<super::OperationId>,
) -> Result<()> {
    let id = ctx.op.collection_id;
    let mut writer = Writer::open(ctx.engine, id, true)?;
    let mut items = Vec::new();
    if let Some(staged_op) = staged {
        let prefix = staged_key(id, staged_op, "");
        for entry in writer.store().scan_prefix(&prefix) {
            let (k, v) = entry?;
            let doc: StagedDocument = storage::decode_json("staged document", &v)?;
            items.push(Item::Staged(k, doc));
        }
    }
    let remembered = ctx.engine.source_records(id)?;
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
    gone.sort();
    gone.dedup();
    if !gone.is_empty() {
        remove_documents(ctx, &mut writer, gone)?;
    }
    ingest::process(ctx, &mut writer, items)
}

fn retry_documents(ctx: &mut Ctx<'_>) -> Result<()> {
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
    let remembered = ctx.engine.source_records(id)?;
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
/// batch.
fn remove_source(ctx: &mut Ctx<'_>, root: &Path) -> Result<()> {
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
    for mut s in ctx.engine.source_records(id)? {
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
    writer.commit(batch, &removed, &[])?;
    ctx.publish(true)
}

fn delete_documents(ctx: &mut Ctx<'_>, ids: Vec<String>) -> Result<()> {
    let mut writer = Writer::open(ctx.engine, ctx.op.collection_id, false)?;
    ctx.progress.phase = Phase::Processing;
    remove_documents(ctx, &mut writer, ids)?;
    ctx.publish(true)
}

/// Removes each document (atomically, one batch each); ids not held count as skipped.
fn remove_documents(
    ctx: &mut Ctx<'_>,
    writer: &mut Writer<'_>,
    doc_ids: Vec<String>,
) -> Result<()> {
    ctx.progress.documents_total =
        Some(ctx.progress.documents_total.unwrap_or(0) + doc_ids.len() as u64);
    ctx.publish(true)?;
    for doc_id in doc_ids {
        ctx.checkpoint()?;
        if let Some(doc) = writer.reader.get_document(&doc_id)? {
            let mut batch = WriteBatch::new();
            let removed = writer.remove_into(&mut batch, &doc)?;
            writer.commit(batch, &removed, &[])?;
            ctx.progress.documents_removed += 1;
            ctx.progress.chunks_done += removed.len() as u64;
        } else {
            ctx.progress.documents_skipped += 1;
        }
        ctx.done_one(0)?;
    }
    Ok(())
}

/// [`maintain_index`] of the generation the collection serves.
fn maintain_served_index(ctx: &mut Ctx<'_>, compact: bool) -> Result<()> {
    let record = ctx.engine.record(ctx.op.collection_id)?;
    maintain_index(ctx, record.data(), &record.config, compact)
}

/// Builds what generation `data`'s vector index needs (a graph segment from the vectors
/// searched exactly, or a compaction; always a compaction when `compact`), persists it and
/// installs it. The build runs without holding the index lock: searches go on, served by the
/// current segments.
pub(super) fn maintain_index(
    ctx: &mut Ctx<'_>,
    data: Uuid,
    config: &CollectionConfig,
    compact: bool,
) -> Result<()> {
    let (rt, _) = ctx.engine.ensure_index_of(data, config)?;
    let plan = rt
        .index
        .read()
        .expect("index lock")
        .as_ref()
        .and_then(|index| index.plan(compact));
    let Some(plan) = plan else {
        return Ok(());
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
    // Stored first, outside the lock: a crash before the install loads the same state.
    let store = ctx.engine.store()?;
    store.apply(CollectionIndex::persist_batch(
        store.as_ref(),
        data,
        &built,
    )?)?;
    if let Some(index) = rt.index.write().expect("index lock").as_mut() {
        index.install(built);
    }
    ctx.publish(true)
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
    }
}

/// Deletes every record of generation `data`; returns how many chunks it had.
pub(super) fn purge_generation(engine: &Engine, data: Uuid) -> Result<u64> {
    engine.retire(data);
    engine.drop_runtime(data);
    let mut chunks = 0;
    for tag in keys::PER_GENERATION {
        let n = purge_prefix(engine, &keys::in_collection(tag, data))?;
        if tag == keys::CHUNK {
            chunks = n;
        }
    }
    Ok(chunks)
}

/// Deletes a collection: hides it at once, then purges its records in batches. A crash in
/// between leaves it hidden; retrying the operation finishes the purge.
fn delete_collection(ctx: &mut Ctx<'_>) -> Result<()> {
    let id = ctx.op.collection_id;
    ctx.engine.begin_delete(id)?;
    ctx.progress.phase = Phase::Processing;
    let record = ctx.engine.record_any(id)?;
    let mut generations = record.map(|r| r.generations()).unwrap_or_default();
    generations.push(id.0);
    generations.sort();
    generations.dedup();
    for data in generations {
        ctx.progress.chunks_done += purge_generation(ctx.engine, data)?;
    }
    for tag in keys::PER_COLLECTION {
        purge_prefix(ctx.engine, &keys::in_collection(tag, id.0))?;
    }
    ctx.progress.documents_done = 1;
    ctx.progress.documents_total = Some(1);
    ctx.publish(true)
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
