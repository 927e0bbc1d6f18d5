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

use serde::{Deserialize, Serialize};

use super::{OpParams, OpState, OperationStatus, Phase, Progress};
use crate::chunk::{TextChunk, chunk_text};
use crate::collection::{CollectionId, CollectionRecord, CollectionStats, CollectionStatus};
use crate::db::{Engine, staged_key};
use crate::document::{ChunkRecord, Document, DocumentStatus, Metadata, StagedDocument};
use crate::embed::{EXTERNAL_MODEL, Embedder, normalize};
use crate::error::{Error, ErrorInfo, Result};
use crate::index::{CollectionIndex, Metric, VectorIndex};
use crate::ops::EventKind;
use crate::storage::{self, Store, WriteBatch, keys};

/// Shortest interval between two progress events of one operation.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(200);
/// Keys deleted per batch when purging a collection.
const PURGE_BATCH: usize = 1024;

/// A source folder or file remembered by a collection.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SourceRecord {
    pub(crate) path: PathBuf,
    pub(crate) added_at: SystemTime,
}

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
                OpParams::Compact => Ok(()),
                OpParams::Delete => unreachable!("handled above"),
            }
            .and_then(|()| maintain_index(&mut ctx, compact))
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
struct Ctx<'a> {
    engine: &'a Engine,
    op: &'a Arc<OpState>,
    progress: Progress,
    started: Instant,
    last_publish: Instant,
    deadline: Option<(Instant, Duration)>,
}

impl Ctx<'_> {
    /// Fails with `Cancelled` or `TimedOut` when the operation must stop.
    fn checkpoint(&self) -> Result<()> {
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
    fn publish(&mut self, force: bool) -> Result<()> {
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

    fn document_failed(&mut self, document_id: &str, source: Option<&Path>, error: &Error) {
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

/// One unit of ingestion work.
enum Item {
    File(PathBuf),
    Staged(Vec<u8>, StagedDocument),
    /// An entry the folder walk could not read or cannot store (it fails alone).
    Unreadable(PathBuf, Error),
}

/// The collection being written, loaded once per operation (this operation is its only writer).
struct Writer<'a> {
    store: Arc<dyn Store>,
    id: CollectionId,
    record: CollectionRecord,
    stats: CollectionStats,
    embedder: Option<Arc<dyn Embedder>>,
    engine: &'a Engine,
}

/// A document's content, ready to be chunked.
struct Content {
    text: String,
    hash: blake3::Hash,
    size: u64,
    media_type: String,
    mtime_ms: Option<u64>,
    source: Option<PathBuf>,
    metadata: Metadata,
    vector: Option<Vec<f32>>,
}

enum Outcome {
    Indexed { chunks: u64 },
    Skipped,
}

impl<'a> Writer<'a> {
    fn open(engine: &'a Engine, id: CollectionId, embed: bool) -> Result<Self> {
        let record = engine.record(id)?;
        let embedder = if embed && record.config.model != EXTERNAL_MODEL {
            Some(engine.embedder(&record.config.model)?)
        } else {
            None
        };
        if let Some(e) = &embedder
            && Some(e.dimension()) != record.config.dimension
        {
            return Err(Error::DimensionMismatch {
                expected: record.config.dimension.unwrap_or(0),
                got: e.dimension(),
            });
        }
        Ok(Writer {
            store: engine.store()?,
            stats: engine.stats(id)?,
            id,
            record,
            embedder,
            engine,
        })
    }

    fn doc_key(&self, doc_id: &str) -> Vec<u8> {
        keys::in_collection_with(keys::DOCUMENT, self.id.0, doc_id.as_bytes())
    }

    fn path_key(&self, path: &Path) -> Vec<u8> {
        keys::in_collection_with(
            keys::DOCUMENT_PATH,
            self.id.0,
            path.to_string_lossy().as_bytes(),
        )
    }

    fn hash_key(&self, hash: &str, doc_id: &str) -> Vec<u8> {
        let mut suffix = hash.as_bytes().to_vec();
        suffix.push(0);
        suffix.extend_from_slice(doc_id.as_bytes());
        keys::in_collection_with(keys::DOCUMENT_HASH, self.id.0, &suffix)
    }

    fn get_document(&self, doc_id: &str) -> Result<Option<Document>> {
        storage::get_json(self.store.as_ref(), "document", &self.doc_key(doc_id))
    }

    fn hash_known(&self, hash: &str) -> bool {
        let mut prefix = hash.as_bytes().to_vec();
        prefix.push(0);
        self.store
            .scan_prefix(&keys::in_collection_with(
                keys::DOCUMENT_HASH,
                self.id.0,
                &prefix,
            ))
            .next()
            .is_some()
    }

    /// Adds to `batch` the removal of `doc`'s records and updates the counts; returns the
    /// chunk ids removed.
    fn remove_into(&mut self, batch: &mut WriteBatch, doc: &Document) -> Vec<u64> {
        batch.delete(self.doc_key(&doc.id));
        batch.delete(self.hash_key(&doc.content_hash, &doc.id));
        if let Some(src) = &doc.source {
            batch.delete(self.path_key(src));
        }
        let ids: Vec<u64> =
            (doc.first_chunk..doc.first_chunk + u64::from(doc.chunk_count)).collect();
        for &c in &ids {
            batch.delete(keys::chunk(self.id.0, c));
            batch.delete(keys::vector(self.id.0, c));
        }
        let s = &mut self.stats;
        match doc.status {
            DocumentStatus::Indexed => {
                s.documents = s.documents.saturating_sub(1);
                s.source_bytes = s.source_bytes.saturating_sub(doc.size);
            }
            DocumentStatus::Failed => s.failed_documents = s.failed_documents.saturating_sub(1),
            DocumentStatus::Pending => {}
        }
        s.chunks = s.chunks.saturating_sub(ids.len() as u64);
        s.vectors = s.vectors.saturating_sub(ids.len() as u64);
        s.bytes_on_disk = s.bytes_on_disk.saturating_sub(doc.stored_bytes);
        ids
    }

    /// Applies `batch` with the current counts, then brings the in-memory index up to date.
    fn commit(
        &mut self,
        mut batch: WriteBatch,
        removed: &[u64],
        added: &[(u64, Vec<f32>)],
    ) -> Result<()> {
        batch.put_json(keys::stats(self.id.0), &self.stats)?;
        self.store.apply(batch)?;
        let rt = self.engine.runtime(self.id);
        let mut guard = rt.index.write().expect("index lock");
        if let Some(index) = guard.as_mut() {
            for &c in removed {
                index.remove(c);
            }
            for (c, v) in added {
                index.insert(*c, v);
            }
        }
        Ok(())
    }

    /// Stores `doc_id` as failed with `error` (unless an indexed version exists, which is kept).
    fn record_failure(
        &mut self,
        doc_id: &str,
        source: Option<&Path>,
        content: Option<&Content>,
        error: &Error,
    ) -> Result<()> {
        let existing = self.get_document(doc_id)?;
        if existing
            .as_ref()
            .is_some_and(|d| d.status == DocumentStatus::Indexed)
        {
            return Ok(());
        }
        let mut batch = WriteBatch::new();
        let removed = match &existing {
            Some(d) => self.remove_into(&mut batch, d),
            None => Vec::new(),
        };
        let t = SystemTime::now();
        let doc = Document {
            id: doc_id.to_string(),
            source: source.map(Path::to_path_buf),
            content_hash: content
                .map(|c| c.hash.to_hex().to_string())
                .unwrap_or_default(),
            size: content.map_or(0, |c| c.size),
            mtime_ms: content.and_then(|c| c.mtime_ms),
            media_type: content.map_or_else(String::new, |c| c.media_type.clone()),
            status: DocumentStatus::Failed,
            error: Some(ErrorInfo::from(error)),
            chunk_count: 0,
            first_chunk: 0,
            metadata: content.map(|c| c.metadata.clone()).unwrap_or_default(),
            created_at: existing.as_ref().map_or(t, |d| d.created_at),
            updated_at: t,
            stored_bytes: 0,
        };
        batch.put_json(self.doc_key(doc_id), &doc)?;
        if let Some(src) = source {
            batch.put(self.path_key(src), doc_id.as_bytes().to_vec());
        }
        self.stats.failed_documents += 1;
        self.commit(batch, &removed, &[])
    }

    /// Chunks, embeds and stores one document in one batch (replacing `existing`).
    /// `extra` holds writes that must commit with it (removal of its staged input).
    fn index_document(
        &mut self,
        doc_id: &str,
        content: Content,
        existing: Option<&Document>,
        extra: WriteBatch,
    ) -> Result<Outcome> {
        let old_size = existing
            .filter(|d| d.status == DocumentStatus::Indexed)
            .map_or(0, |d| d.size);
        if let Some(max) = self.engine.config.max_collection_bytes
            && self.stats.source_bytes - old_size + content.size > max
        {
            return Err(Error::LimitExceeded {
                limit: "max_collection_bytes".into(),
                max,
            });
        }
        let chunks: Vec<TextChunk> = match &content.vector {
            Some(_) => vec![TextChunk {
                start: 0,
                end: content.text.len(),
                text: content.text.clone(),
            }],
            None => chunk_text(&self.record.config.chunking, &content.text),
        };
        let mut vectors = match (&content.vector, &self.embedder) {
            (Some(v), _) => vec![v.clone()],
            (None, Some(e)) => {
                let texts: Vec<&str> = chunks.iter().map(|c| c.text.as_str()).collect();
                let vs = if texts.is_empty() {
                    Vec::new()
                } else {
                    e.embed(&texts)?
                };
                if vs.len() != texts.len() || vs.iter().any(|v| v.len() != e.dimension()) {
                    return Err(Error::Model {
                        name: e.model_name().to_string(),
                        message: "embedder returned vectors of the wrong number or length".into(),
                    });
                }
                vs
            }
            (None, None) => return Err(Error::internal("no embedder for a text document")),
        };
        if self.record.config.index.metric == Metric::Cosine {
            vectors.iter_mut().for_each(|v| normalize(v));
        }
        let mut batch = extra;
        let removed = match existing {
            Some(d) => self.remove_into(&mut batch, d),
            None => Vec::new(),
        };
        let first_chunk = self.stats.next_chunk_id;
        let mut added = Vec::with_capacity(chunks.len());
        let before = batch.written_bytes();
        for (i, (chunk, vector)) in chunks.into_iter().zip(vectors).enumerate() {
            let chunk_id = first_chunk + i as u64;
            let rec = ChunkRecord {
                document_id: doc_id.to_string(),
                index: i as u32,
                start: chunk.start,
                end: chunk.end,
                text: chunk.text,
            };
            batch.put_json(keys::chunk(self.id.0, chunk_id), &rec)?;
            batch.put(
                keys::vector(self.id.0, chunk_id),
                storage::encode_vector(&vector),
            );
            added.push((chunk_id, vector));
        }
        let n = added.len() as u64;
        let hash = content.hash.to_hex().to_string();
        let t = SystemTime::now();
        let mut doc = Document {
            id: doc_id.to_string(),
            source: content.source.clone(),
            content_hash: hash.clone(),
            size: content.size,
            mtime_ms: content.mtime_ms,
            media_type: content.media_type,
            status: DocumentStatus::Indexed,
            error: None,
            chunk_count: n as u32,
            first_chunk,
            metadata: content.metadata,
            created_at: existing.map_or(t, |d| d.created_at),
            updated_at: t,
            stored_bytes: 0,
        };
        batch.put(self.hash_key(&hash, doc_id), Vec::new());
        if let Some(src) = &content.source {
            batch.put(self.path_key(src), doc_id.as_bytes().to_vec());
        }
        let doc_bytes = (self.doc_key(doc_id).len() + storage::encode_json(&doc)?.len()) as u64;
        let stored = batch.written_bytes() - before + doc_bytes;
        doc.stored_bytes = stored;
        batch.put_json(self.doc_key(doc_id), &doc)?;
        let s = &mut self.stats;
        s.next_chunk_id += n;
        s.documents += 1;
        s.chunks += n;
        s.vectors += n;
        s.source_bytes += content.size;
        s.bytes_on_disk += stored;
        self.commit(batch, &removed, &added)?;
        Ok(Outcome::Indexed { chunks: n })
    }

    /// Reads and indexes one file. Unchanged files and content the collection already holds
    /// are skipped.
    fn ingest_file(&mut self, path: &Path) -> Result<Outcome> {
        let existing_id = self
            .store
            .get(&self.path_key(path))?
            .map(|b| String::from_utf8_lossy(&b).into_owned());
        let existing = match &existing_id {
            Some(id) => self.get_document(id)?,
            None => None,
        };
        let doc_id = existing_id.unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
        let extracted = match crate::extract::read_file(path) {
            Ok(e) => e,
            Err(e) => {
                self.record_failure(&doc_id, Some(path), None, &e)?;
                return Err(e);
            }
        };
        let hash = extracted.hash.to_hex().to_string();
        if let Some(d) = &existing
            && d.status == DocumentStatus::Indexed
            && d.content_hash == hash
        {
            return Ok(Outcome::Skipped);
        }
        if existing.is_none() && self.hash_known(&hash) {
            return Ok(Outcome::Skipped);
        }
        let content = Content {
            text: extracted.text,
            hash: extracted.hash,
            size: extracted.size,
            media_type: extracted.media_type,
            mtime_ms: extracted.mtime_ms,
            source: Some(path.to_path_buf()),
            metadata: Metadata::new(),
            vector: None,
        };
        self.index_or_fail(&doc_id, content, existing.as_ref(), WriteBatch::new())
    }

    /// Indexes one staged document and removes its staged input in the same batch.
    fn ingest_staged(&mut self, key: Vec<u8>, staged: StagedDocument) -> Result<Outcome> {
        let hash = blake3::hash(staged.text.as_bytes());
        let existing = self.get_document(&staged.id)?;
        let mut extra = WriteBatch::new();
        extra.delete(key.clone());
        if !staged.explicit_id && self.hash_known(&hash.to_hex()) {
            // The content is already indexed under another id: drop this input, and a failed
            // earlier attempt at it, which nothing could retry any more.
            let removed = match existing.filter(|d| d.status == DocumentStatus::Failed) {
                Some(d) => self.remove_into(&mut extra, &d),
                None => Vec::new(),
            };
            self.commit(extra, &removed, &[])?;
            return Ok(Outcome::Skipped);
        }
        let content = Content {
            size: staged.text.len() as u64,
            text: staged.text,
            hash,
            media_type: "text/plain".into(),
            mtime_ms: None,
            source: None,
            metadata: staged.metadata,
            vector: staged.vector,
        };
        self.index_or_fail(&staged.id, content, existing.as_ref(), extra)
    }

    fn index_or_fail(
        &mut self,
        doc_id: &str,
        content: Content,
        existing: Option<&Document>,
        extra: WriteBatch,
    ) -> Result<Outcome> {
        let source = content.source.clone();
        let failure_copy = Content {
            text: String::new(),
            hash: content.hash,
            size: content.size,
            media_type: content.media_type.clone(),
            mtime_ms: content.mtime_ms,
            source: None,
            metadata: content.metadata.clone(),
            vector: None,
        };
        match self.index_document(doc_id, content, existing, extra) {
            Ok(o) => Ok(o),
            Err(e) if is_document_error(&e) => {
                self.record_failure(doc_id, source.as_deref(), Some(&failure_copy), &e)?;
                Err(e)
            }
            Err(e) => Err(e),
        }
    }
}

/// Whether an error concerns one document only (the operation goes on) rather than the whole
/// operation (storage failures, closing).
fn is_document_error(e: &Error) -> bool {
    !matches!(
        e,
        Error::Storage { .. }
            | Error::Corrupt { .. }
            | Error::DatabaseClosed
            | Error::Internal { .. }
    )
}

/// Lists the files below each source.
/// Lists the files below each source. Entries that cannot be read, or whose names are not
/// UTF-8 (records store paths as text), become [`Item::Unreadable`] and fail alone.
fn scan_sources(sources: &[PathBuf]) -> Result<Vec<Item>> {
    let mut files = Vec::new();
    let mut push = |path: PathBuf| {
        files.push(match path.to_str() {
            Some(_) => Item::File(path),
            None => {
                let e = Error::DocumentRead {
                    path: path.clone(),
                    message: "the file name is not valid UTF-8".into(),
                };
                Item::Unreadable(path, e)
            }
        })
    };
    let mut unreadable = Vec::new();
    for src in sources {
        if !src.exists() {
            return Err(Error::PathNotFound { path: src.clone() });
        }
        if src.is_file() {
            push(src.clone());
            continue;
        }
        let walker = ignore::WalkBuilder::new(src)
            .hidden(true)
            .git_ignore(true)
            .git_exclude(true)
            .require_git(false)
            .follow_links(false)
            .sort_by_file_path(|a, b| a.cmp(b))
            .build();
        for entry in walker {
            match entry {
                Ok(entry) if entry.file_type().is_some_and(|t| t.is_file()) => {
                    push(entry.into_path())
                }
                Ok(_) => {}
                Err(e) => {
                    let path = walk_error_path(&e).unwrap_or_else(|| src.clone());
                    let err = Error::DocumentRead {
                        path: path.clone(),
                        message: e.to_string(),
                    };
                    unreadable.push(Item::Unreadable(path, err));
                }
            }
        }
    }
    files.extend(unreadable);
    Ok(files)
}

/// The path an `ignore` walk error is about, when it says.
fn walk_error_path(e: &ignore::Error) -> Option<PathBuf> {
    match e {
        ignore::Error::WithPath { path, .. } => Some(path.clone()),
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
            walk_error_path(err)
        }
        _ => None,
    }
}

fn ingest(
    ctx: &mut Ctx<'_>,
    sources: &[PathBuf],
    staged: Option<super::OperationId>,
) -> Result<()> {
    let id = ctx.op.collection_id;
    let mut writer = Writer::open(ctx.engine, id, true)?;
    let mut items = Vec::new();
    let mut bytes_total = 0;
    if let Some(staged_op) = staged {
        let prefix = staged_key(id, staged_op, "");
        for entry in writer.store.scan_prefix(&prefix) {
            let (k, v) = entry?;
            let doc: StagedDocument = storage::decode_json("staged document", &v)?;
            bytes_total += doc.text.len() as u64;
            items.push(Item::Staged(k, doc));
        }
    }
    for item in scan_sources(sources)? {
        if let Item::File(f) = &item {
            bytes_total += std::fs::metadata(f).map_or(0, |m| m.len());
        }
        items.push(item);
    }
    process(ctx, &mut writer, items, bytes_total)
}

fn process(
    ctx: &mut Ctx<'_>,
    writer: &mut Writer<'_>,
    items: Vec<Item>,
    bytes_total: u64,
) -> Result<()> {
    ctx.progress.documents_total = Some(items.len() as u64);
    ctx.progress.bytes_total = Some(bytes_total);
    ctx.progress.phase = Phase::Processing;
    ctx.publish(true)?;
    for item in items {
        ctx.checkpoint()?;
        let (doc_ref, source, size, result) = match item {
            Item::File(path) => {
                let size = std::fs::metadata(&path).map_or(0, |m| m.len());
                let r = writer.ingest_file(&path);
                (path.display().to_string(), Some(path), size, r)
            }
            Item::Staged(key, doc) => {
                let (id, size) = (doc.id.clone(), doc.text.len() as u64);
                (id, None, size, writer.ingest_staged(key, doc))
            }
            Item::Unreadable(path, e) => (path.display().to_string(), Some(path), 0, Err(e)),
        };
        ctx.progress.documents_done += 1;
        ctx.progress.bytes_done += size;
        match result {
            Ok(Outcome::Indexed { chunks }) => {
                ctx.progress.documents_indexed += 1;
                ctx.progress.chunks_done += chunks;
            }
            Ok(Outcome::Skipped) => ctx.progress.documents_skipped += 1,
            Err(e) if is_document_error(&e) => ctx.document_failed(&doc_ref, source.as_deref(), &e),
            Err(e) => return Err(e),
        }
        ctx.publish(false)?;
    }
    ctx.publish(true)
}

fn retry_documents(ctx: &mut Ctx<'_>) -> Result<()> {
    let id = ctx.op.collection_id;
    let mut writer = Writer::open(ctx.engine, id, true)?;
    let failed: Vec<Document> = storage::scan_json::<Document>(
        writer.store.as_ref(),
        "document",
        &keys::in_collection(keys::DOCUMENT, id.0),
    )?
    .into_iter()
    .filter(|d| d.status == DocumentStatus::Failed)
    .collect();
    let failed_ids: HashSet<&str> = failed.iter().map(|d| d.id.as_str()).collect();
    let mut items = Vec::new();
    for entry in writer
        .store
        .scan_prefix(&keys::in_collection(keys::STAGED, id.0))
    {
        let (k, v) = entry?;
        let doc: StagedDocument = storage::decode_json("staged document", &v)?;
        if failed_ids.contains(doc.id.as_str()) {
            items.push(Item::Staged(k, doc));
        }
    }
    items.extend(
        failed
            .iter()
            .filter_map(|d| d.source.clone())
            .map(Item::File),
    );
    let bytes = failed.iter().map(|d| d.size).sum();
    process(ctx, &mut writer, items, bytes)
}

/// Whether `path` is `root` or lies below it.
fn under(path: &Path, root: &Path) -> bool {
    path.starts_with(root)
}

fn remove_source(ctx: &mut Ctx<'_>, root: &Path) -> Result<()> {
    let id = ctx.op.collection_id;
    let mut writer = Writer::open(ctx.engine, id, false)?;
    let prefix = writer.path_key(root);
    let mut doc_ids = Vec::new();
    for entry in writer.store.scan_prefix(&prefix) {
        let (k, v) = entry?;
        let start = keys::in_collection(keys::DOCUMENT_PATH, id.0).len();
        let path = PathBuf::from(String::from_utf8_lossy(&k[start..]).into_owned());
        if under(&path, root) {
            doc_ids.push(String::from_utf8_lossy(&v).into_owned());
        }
    }
    remove_documents(ctx, &mut writer, doc_ids)?;
    let mut batch = WriteBatch::new();
    let source_prefix = keys::in_collection(keys::SOURCE, id.0);
    for entry in writer.store.scan_prefix(&source_prefix) {
        let (k, v) = entry?;
        let src: SourceRecord = storage::decode_json("source", &v)?;
        if under(&src.path, root) {
            batch.delete(k);
        }
    }
    if !batch.is_empty() {
        writer.store.apply(batch)?;
    }
    ctx.publish(true)
}

fn delete_documents(ctx: &mut Ctx<'_>, ids: Vec<String>) -> Result<()> {
    let mut writer = Writer::open(ctx.engine, ctx.op.collection_id, false)?;
    remove_documents(ctx, &mut writer, ids)?;
    ctx.publish(true)
}

/// Removes each document (atomically, one batch each); ids not held count as skipped.
fn remove_documents(
    ctx: &mut Ctx<'_>,
    writer: &mut Writer<'_>,
    doc_ids: Vec<String>,
) -> Result<()> {
    ctx.progress.documents_total = Some(doc_ids.len() as u64);
    ctx.progress.phase = Phase::Processing;
    ctx.publish(true)?;
    for doc_id in doc_ids {
        ctx.checkpoint()?;
        if let Some(doc) = writer.get_document(&doc_id)? {
            let mut batch = WriteBatch::new();
            let removed = writer.remove_into(&mut batch, &doc);
            writer.commit(batch, &removed, &[])?;
            ctx.progress.documents_indexed += 1;
            ctx.progress.chunks_done += removed.len() as u64;
            ctx.progress.bytes_done += doc.size;
        } else {
            ctx.progress.documents_skipped += 1;
        }
        ctx.progress.documents_done += 1;
        ctx.publish(false)?;
    }
    Ok(())
}

/// Builds what the collection's vector index needs (a graph segment from the vectors searched
/// exactly, or a compaction; always a compaction when `compact`), persists it and installs it.
/// The build runs without holding the index lock: searches go on, served by the current segments.
fn maintain_index(ctx: &mut Ctx<'_>, compact: bool) -> Result<()> {
    let id = ctx.op.collection_id;
    let record = ctx.engine.record(id)?;
    let (rt, _) = ctx.engine.ensure_index(id, &record)?;
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
    let dim = record.config.dimension.unwrap_or(0);
    let built = CollectionIndex::build(&record.config.index, dim, plan, &mut |done| {
        ctx.checkpoint()?;
        ctx.progress.vectors_indexed = done as u64;
        ctx.publish(false)
    })?;
    ctx.checkpoint()?;
    // Stored first, outside the lock: a crash before the install loads the same state.
    let store = ctx.engine.store()?;
    store.apply(CollectionIndex::persist_batch(
        store.as_ref(),
        id.0,
        &built,
    )?)?;
    if let Some(index) = rt.index.write().expect("index lock").as_mut() {
        index.install(built);
    }
    ctx.publish(true)
}

/// Deletes a collection: hides it at once, then purges its records in batches. A crash in
/// between leaves it hidden; retrying the operation finishes the purge.
fn delete_collection(ctx: &mut Ctx<'_>) -> Result<()> {
    let id = ctx.op.collection_id;
    ctx.engine.begin_delete(id)?;
    ctx.progress.phase = Phase::Processing;
    let store = ctx.engine.store()?;
    for tag in keys::PER_COLLECTION {
        let prefix = keys::in_collection(tag, id.0);
        loop {
            let keys: Vec<Vec<u8>> = store
                .scan_prefix(&prefix)
                .take(PURGE_BATCH)
                .map(|e| e.map(|(k, _)| k))
                .collect::<Result<_>>()?;
            if keys.is_empty() {
                break;
            }
            let mut batch = WriteBatch::new();
            for k in keys {
                batch.delete(k);
                ctx.progress.chunks_done += u64::from(tag == keys::CHUNK);
            }
            store.apply(batch)?;
        }
    }
    ctx.progress.documents_done = 1;
    ctx.progress.documents_total = Some(1);
    ctx.publish(true)
}
