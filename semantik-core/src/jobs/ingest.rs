//! Ingestion: the pipeline that turns files, staged texts and stored documents into
//! committed, searchable documents.
//!
//! A thread prepares documents (reads, skips unchanged files, extracts, chunks) into a bounded
//! queue while the operation's thread embeds them in batches of up to [`BATCH_WEIGHT`] tokens
//! and [`BATCH_DOCS`] documents (so the model's threads are busy even for one-chunk documents) and commits
//! each document in its own atomic batch. Cancellation and the time limit are checked between
//! documents; a document embedded but not committed when the operation stops is simply not there.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, TryRecvError};
use std::time::UNIX_EPOCH;

use super::runner::{Closing, Ctx, is_document_error};
use super::writer::{FailedInfo, Prepared, Reader, Writer};
use crate::chunk::{Chunker, SplitChunker, TextChunk};
use crate::document::{Document, DocumentStatus, StagedDocument};
use crate::error::{Error, Result};
use crate::extract::{Extracted, Heading};
use crate::ops::Phase;
use crate::source::{Scan, SourceOptions};
use crate::storage::{self, WriteBatch, keys};

/// Chunk-size units (tokens, usually) embedded together.
const BATCH_WEIGHT: usize = 8192;
/// Most documents embedded together: bounds how long a cancellation waits and how far
/// progress lags.
const BATCH_DOCS: usize = 8;
/// Documents prepared ahead of the embedder: two batches (bounds the memory held by prepared
/// documents).
const QUEUE: usize = 2 * BATCH_DOCS;

/// One unit of ingestion work.
pub(super) enum Item {
    /// A file of a source, with its size at scan time and the largest size to read.
    File {
        path: PathBuf,
        size: u64,
        max_size: Option<u64>,
    },
    /// A text or vector staged by the operation that added it (its key, its input).
    Staged(Vec<u8>, StagedDocument),
    /// A document of another generation, chunked and embedded again (reindex); `external`
    /// when that generation holds caller-supplied vectors.
    Stored {
        doc: Document,
        from: Reader,
        external: bool,
    },
    /// An entry that cannot be read or stored: it fails alone.
    Unreadable(PathBuf, Error),
}

impl Item {
    fn size(&self) -> u64 {
        self.describe().1
    }

    /// How it is named in events, its size, and its file.
    fn describe(&self) -> (String, u64, Option<PathBuf>) {
        match self {
            Item::File { path, size, .. } => {
                (path.display().to_string(), *size, Some(path.clone()))
            }
            Item::Unreadable(path, _) => (path.display().to_string(), 0, Some(path.clone())),
            Item::Staged(_, d) => (d.id.clone(), d.text.len() as u64, None),
            Item::Stored { doc, .. } => (doc.id.clone(), doc.size, doc.source.clone()),
        }
    }
}

/// What preparing one item gave.
enum Step {
    Ready(Box<Prepared>),
    /// Nothing to embed; `touch` is a document whose new modification time is stored.
    Unchanged {
        touch: Option<(Document, Option<u64>)>,
    },
    Failed {
        doc_id: Option<String>,
        source: Option<PathBuf>,
        info: FailedInfo,
        error: Error,
    },
}

/// A prepared item, with how it is named in events.
struct Prepped {
    label: String,
    size: u64,
    step: Step,
}

/// Everything preparing needs, shared with the preparing thread.
struct Preparer<'a> {
    reader: &'a Reader,
    chunker: &'a SplitChunker,
}

impl Preparer<'_> {
    /// Prepares one item; a panic (of an extractor, say) fails that one document.
    fn prepare_or_fail(&self, item: Item) -> Prepped {
        let (label, size, path) = item.describe();
        let step = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.prepare(item)))
            .unwrap_or_else(|panic| {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                Step::Failed {
                    doc_id: None,
                    source: path.clone(),
                    info: FailedInfo::default(),
                    error: Error::DocumentRead {
                        path: path.unwrap_or_else(|| PathBuf::from(&label)),
                        message: format!("reading it panicked: {what}"),
                    },
                }
            });
        Prepped { label, size, step }
    }

    fn prepare(&self, item: Item) -> Step {
        match item {
            Item::File { path, max_size, .. } => self.file(path, max_size),
            Item::Staged(key, doc) => self.staged(key, doc),
            Item::Stored {
                doc,
                from,
                external,
            } => self.stored(doc, &from, external),
            Item::Unreadable(_, error) => failed(None, None, FailedInfo::default(), error),
        }
    }

    fn file(&self, path: PathBuf, max_size: Option<u64>) -> Step {
        let existing = match self.reader.document_at(&path) {
            Ok(d) => d,
            Err(error) => return failed(None, Some(path), FailedInfo::default(), error),
        };
        let doc_id = existing
            .as_ref()
            .map_or_else(|| uuid::Uuid::now_v7().to_string(), |d| d.id.clone());
        let read_err = |message: String| Error::DocumentRead {
            path: path.clone(),
            message,
        };
        let meta = match std::fs::metadata(&path) {
            Ok(m) => m,
            Err(e) => {
                let info = FailedInfo::default();
                return failed(
                    Some(doc_id),
                    Some(path.clone()),
                    info,
                    read_err(e.to_string()),
                );
            }
        };
        let mtime_ms = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_millis() as u64);
        if let Some(d) = &existing
            && d.status == DocumentStatus::Indexed
            && d.size == meta.len()
            && d.mtime_ms.is_some()
            && d.mtime_ms == mtime_ms
        {
            return Step::Unchanged { touch: None };
        }
        let mut info = FailedInfo {
            size: meta.len(),
            mtime_ms,
            ..FailedInfo::default()
        };
        if let Some(max) = max_size
            && meta.len() > max
        {
            let e = Error::LimitExceeded {
                limit: format!("max_file_size ({})", path.display()),
                max,
            };
            return failed(Some(doc_id), Some(path), info, e);
        }
        let bytes = match read_unchanging(&path, &meta) {
            Ok(b) => b,
            Err(e) => {
                return failed(
                    Some(doc_id),
                    Some(path.clone()),
                    info,
                    read_err(e.to_string()),
                );
            }
        };
        let hash = blake3::hash(&bytes);
        info.hash = Some(hash);
        info.size = bytes.len() as u64;
        if let Some(d) = existing.as_ref()
            && d.status == DocumentStatus::Indexed
            && d.content_hash == hash.to_hex().as_str()
        {
            return Step::Unchanged {
                touch: Some((d.clone(), mtime_ms)),
            };
        }
        let media_type = crate::extract::sniff(&path, &bytes);
        info.media_type = media_type.to_string();
        let content = match crate::extract::extract_as(&path, &bytes, media_type) {
            Ok(c) => c,
            Err(e) => return failed(Some(doc_id), Some(path), info, e),
        };
        drop(bytes);
        let chunks = match self.chunker.chunk(&content) {
            Ok(c) => c,
            Err(e) => return failed(Some(doc_id), Some(path), info, e),
        };
        Step::Ready(Box::new(Prepared {
            doc_id,
            explicit_id: existing.is_some(),
            existing,
            content,
            hash,
            size: info.size,
            mtime_ms,
            source: Some(path),
            metadata: Default::default(),
            vector: None,
            chunks,
            extra: WriteBatch::new(),
            created_at: None,
        }))
    }

    fn staged(&self, key: Vec<u8>, staged: StagedDocument) -> Step {
        let existing = match self.reader.document(&staged.id) {
            Ok(d) => d,
            Err(error) => {
                return failed(Some(staged.id), None, FailedInfo::default(), error);
            }
        };
        let hash = blake3::hash(staged.text.as_bytes());
        let content = Extracted {
            text: staged.text,
            media_type: "text/plain".into(),
            title: staged.title,
            pages: Vec::new(),
            headings: Vec::new(),
        };
        let chunks = match &staged.vector {
            Some(_) => vec![whole(&content.text)],
            None => match self.chunker.chunk(&content) {
                Ok(c) => c,
                Err(e) => {
                    let info = FailedInfo {
                        hash: Some(hash),
                        size: content.text.len() as u64,
                        metadata: staged.metadata,
                        media_type: content.media_type,
                        ..FailedInfo::default()
                    };
                    return failed(Some(staged.id), None, info, e);
                }
            },
        };
        let mut extra = WriteBatch::new();
        extra.delete(key);
        Step::Ready(Box::new(Prepared {
            doc_id: staged.id,
            explicit_id: staged.explicit_id,
            existing,
            size: content.text.len() as u64,
            content,
            hash,
            mtime_ms: None,
            source: None,
            metadata: staged.metadata,
            vector: staged.vector,
            chunks,
            extra,
            created_at: None,
        }))
    }

    /// A document of generation `from`, chunked again with this generation's settings.
    fn stored(&self, doc: Document, from: &Reader, external: bool) -> Step {
        let existing = match self.reader.document(&doc.id) {
            Ok(d) => d,
            Err(error) => return failed(Some(doc.id), None, FailedInfo::default(), error),
        };
        if let Some(e) = &existing
            && e.status == DocumentStatus::Indexed
            && e.content_hash == doc.content_hash
        {
            // Written by an earlier, interrupted run of this reindex.
            return Step::Unchanged { touch: None };
        }
        if doc.status != DocumentStatus::Indexed {
            // A failure carries over (a file is not read again here, whatever its size; a
            // text's staged input stays for a retry).
            let message = doc.error.as_ref().map_or_else(
                || "failed before the reindex".to_string(),
                |e| format!("{} (before the reindex)", e.message),
            );
            let error = Error::DocumentRead {
                path: doc.source.clone().unwrap_or_else(|| PathBuf::from(&doc.id)),
                message,
            };
            let info = FailedInfo {
                media_type: doc.media_type,
                metadata: doc.metadata,
                size: doc.size,
                ..FailedInfo::default()
            };
            return failed(Some(doc.id), doc.source, info, error);
        }
        let info = FailedInfo {
            hash: blake3::Hash::from_hex(&doc.content_hash).ok(),
            size: doc.size,
            mtime_ms: doc.mtime_ms,
            media_type: doc.media_type.clone(),
            metadata: doc.metadata.clone(),
        };
        match self.stored_content(&doc, from, external) {
            Ok((content, vector)) => {
                let chunks = match &vector {
                    Some(_) => vec![whole(&content.text)],
                    None => match self.chunker.chunk(&content) {
                        Ok(c) => c,
                        Err(e) => return failed(Some(doc.id), doc.source, info, e),
                    },
                };
                Step::Ready(Box::new(Prepared {
                    explicit_id: true,
                    existing,
                    hash: info
                        .hash
                        .unwrap_or_else(|| blake3::hash(content.text.as_bytes())),
                    size: doc.size,
                    mtime_ms: doc.mtime_ms,
                    source: doc.source,
                    metadata: doc.metadata,
                    vector,
                    chunks,
                    extra: WriteBatch::new(),
                    created_at: Some(doc.created_at),
                    doc_id: doc.id,
                    content,
                }))
            }
            Err(e) => failed(Some(doc.id), doc.source, info, e),
        }
    }

    /// The text (and, for external vectors, the vector) of a stored document. Documents
    /// stored before texts were kept are re-read from their file, or else rebuilt from their
    /// chunks.
    fn stored_content(
        &self,
        doc: &Document,
        from: &Reader,
        external: bool,
    ) -> Result<(Extracted, Option<Vec<f32>>)> {
        let chunk = |c: u64| -> Result<crate::document::ChunkRecord> {
            from.chunk(c)?.ok_or_else(|| {
                Error::corrupt(format!("chunk {c} of document {} is missing", doc.id))
            })
        };
        let base = |text: String| Extracted {
            text,
            media_type: doc.media_type.clone(),
            title: doc.title.clone(),
            pages: Vec::new(),
            headings: Vec::new(),
        };
        if let Some(t) = from.stored_text(&doc.id)? {
            let mut e = base(t.text);
            e.pages = t.pages;
            e.headings = t
                .headings
                .into_iter()
                .map(|(start, level, title)| Heading {
                    start,
                    level,
                    title,
                })
                .collect();
            return Ok((e, None));
        }
        if external {
            // An external vector: its one chunk holds the text.
            let vector = from.vector(doc.first_chunk)?.ok_or_else(|| {
                Error::corrupt(format!("vector of document {} is missing", doc.id))
            })?;
            let text = chunk(doc.first_chunk)?.text;
            return Ok((base(text), Some(vector)));
        }
        if let Some(src) = &doc.source
            && let Ok(bytes) = std::fs::read(src)
        {
            return Ok((crate::extract::extract(src, &bytes)?, None));
        }
        // Rebuilt from the chunks: each one's text, less what overlaps the previous chunk.
        let mut text = String::new();
        let mut end = 0usize;
        for c in doc.first_chunk..doc.first_chunk + u64::from(doc.chunk_count) {
            let c = chunk(c)?;
            let mut skip = end.saturating_sub(c.start).min(c.text.len());
            while !c.text.is_char_boundary(skip) {
                skip += 1;
            }
            if !text.is_empty() {
                text.push_str("\n\n");
            }
            text.push_str(c.text[skip..].trim_start());
            end = end.max(c.end);
        }
        Ok((base(text), None))
    }
}

fn failed(doc_id: Option<String>, source: Option<PathBuf>, info: FailedInfo, error: Error) -> Step {
    Step::Failed {
        doc_id,
        source,
        info,
        error,
    }
}

/// The whole text as one chunk (external vectors: one vector per document).
fn whole(text: &str) -> TextChunk {
    TextChunk {
        start: 0,
        end: text.len(),
        text: text.to_string(),
        page: None,
        headings: Vec::new(),
        size: 1,
    }
}

/// The items of the sources at `roots`, walked with their remembered options.
pub(super) fn scan_sources(
    roots: &[PathBuf],
    options: &dyn Fn(&Path) -> SourceOptions,
) -> Vec<(PathBuf, SourceOptions, Scan)> {
    roots
        .iter()
        .map(|root| {
            let o = options(root);
            let scan = crate::source::scan(root, &o);
            (root.clone(), o, scan)
        })
        .collect()
}

/// The work items of scanned sources: their files, then what could not be read.
pub(super) fn items_of(scans: &[(PathBuf, SourceOptions, Scan)]) -> Vec<Item> {
    let mut files = Vec::new();
    let mut unreadable = Vec::new();
    let mut seen = HashSet::new();
    for (_, options, scan) in scans {
        for (path, size) in &scan.files {
            if seen.insert(path.clone()) {
                files.push(Item::File {
                    path: path.clone(),
                    size: *size,
                    max_size: options.max_file_size,
                });
            }
        }
        for (path, e) in &scan.unreadable {
            unreadable.push(Item::Unreadable(path.clone(), e.clone()));
        }
    }
    files.extend(unreadable);
    files
}

/// Prepares, embeds and commits `items`, publishing progress. The last document embedded is
/// not written but returned, to commit with the operation's outcome (or to apply).
pub(super) fn process(
    ctx: &mut Ctx<'_>,
    writer: &mut Writer<'_>,
    items: Vec<Item>,
) -> Result<Closing> {
    ctx.progress.documents_total =
        Some(ctx.progress.documents_total.unwrap_or(0) + items.len() as u64);
    let bytes: u64 = items.iter().map(Item::size).sum();
    ctx.progress.bytes_total = Some(ctx.progress.bytes_total.unwrap_or(0) + bytes);
    ctx.progress.phase = Phase::Processing;
    ctx.publish(true)?;
    let reader = writer.reader.clone();
    let chunker = writer.chunker.clone();
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::sync_channel::<Prepped>(QUEUE);
        let preparer = Preparer {
            reader: &reader,
            chunker: &chunker,
        };
        scope.spawn(move || {
            for item in items {
                if tx.send(preparer.prepare_or_fail(item)).is_err() {
                    break;
                }
            }
        });
        let mut batch = Batch::default();
        loop {
            let next = if batch.docs.is_empty() {
                rx.recv().ok()
            } else {
                match rx.try_recv() {
                    Ok(p) => Some(p),
                    // The embedder would wait: embed what is there.
                    Err(TryRecvError::Empty) => {
                        batch.flush(ctx, writer, false)?;
                        continue;
                    }
                    Err(TryRecvError::Disconnected) => None,
                }
            };
            let Some(p) = next else { break };
            ctx.checkpoint()?;
            match p.step {
                Step::Ready(doc) => {
                    let hash = doc.hash.to_hex().to_string();
                    if !doc.explicit_id
                        && (batch.hashes.contains(&hash) || writer.reader.hash_known(&hash))
                    {
                        writer.drop_duplicate(*doc)?;
                        ctx.progress.documents_skipped += 1;
                        ctx.done_one(p.size)?;
                        continue;
                    }
                    batch.hashes.insert(hash);
                    batch.weight += doc.weight();
                    batch.docs.push((p.label, p.size, doc));
                    if batch.weight >= BATCH_WEIGHT || batch.docs.len() >= BATCH_DOCS {
                        batch.flush(ctx, writer, false)?;
                    }
                }
                Step::Unchanged { touch } => {
                    if let Some((doc, mtime)) = touch {
                        writer.touch(doc, mtime)?;
                    }
                    ctx.progress.documents_skipped += 1;
                    ctx.done_one(p.size)?;
                }
                Step::Failed {
                    doc_id,
                    source,
                    info,
                    error,
                } => {
                    fail(
                        ctx,
                        writer,
                        &p.label,
                        doc_id.as_deref(),
                        source.as_deref(),
                        &info,
                        &error,
                    )?;
                    ctx.done_one(p.size)?;
                }
            }
        }
        batch.flush(ctx, writer, true)
    })
}

/// Records a failed document (when it has an id) and reports it.
fn fail(
    ctx: &mut Ctx<'_>,
    writer: &mut Writer<'_>,
    label: &str,
    doc_id: Option<&str>,
    source: Option<&Path>,
    info: &FailedInfo,
    error: &Error,
) -> Result<()> {
    if !is_document_error(error) {
        return Err(error.clone());
    }
    if let Some(id) = doc_id {
        writer.record_failure(id, source, info, error)?;
    }
    ctx.document_failed(label, source, error);
    Ok(())
}

/// Documents waiting to be embedded together.
#[derive(Default)]
struct Batch {
    docs: Vec<(String, u64, Box<Prepared>)>,
    hashes: HashSet<String>,
    weight: usize,
}

impl Batch {
    /// Embeds every waiting document in one call and commits each; when these are the `last`
    /// documents, the final one is returned unwritten instead (and not yet published).
    fn flush(&mut self, ctx: &mut Ctx<'_>, writer: &mut Writer<'_>, last: bool) -> Result<Closing> {
        let docs = std::mem::take(&mut self.docs);
        self.hashes.clear();
        self.weight = 0;
        let vectors = embed_all(writer, &docs);
        let n = docs.len();
        for (i, ((label, size, doc), vs)) in docs.into_iter().zip(vectors).enumerate() {
            ctx.checkpoint()?;
            let info = doc.failed_info();
            let (id, source) = (doc.doc_id.clone(), doc.source.clone());
            let closing = last && i + 1 == n;
            match vs.and_then(|vs| writer.document_closing(*doc, vs)) {
                Ok((write, chunks)) => {
                    if closing {
                        ctx.progress.documents_indexed += 1;
                        ctx.progress.chunks_done += chunks;
                        ctx.progress.documents_done += 1;
                        ctx.progress.bytes_done += size;
                        return Ok(write);
                    }
                    write.apply(writer.engine)?;
                    ctx.progress.documents_indexed += 1;
                    ctx.progress.chunks_done += chunks;
                }
                Err(e) => fail(ctx, writer, &label, Some(&id), source.as_deref(), &info, &e)?,
            }
            ctx.done_one(size)?;
        }
        Ok(Closing::default())
    }
}

/// The vectors of each document's chunks: one embedding call for all of them; when it fails,
/// one per document, so that the failure is the failing document's alone.
fn embed_all(
    writer: &Writer<'_>,
    docs: &[(String, u64, Box<Prepared>)],
) -> Vec<Result<Vec<Vec<f32>>>> {
    let Some(embedder) = &writer.embedder else {
        return docs
            .iter()
            .map(|(_, _, d)| match &d.vector {
                Some(v) => Ok(vec![v.clone()]),
                None => Err(Error::internal("no embedder for a text document")),
            })
            .collect();
    };
    let embed = |texts: &[&str]| -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let vs = embedder.embed(texts)?;
        if vs.len() != texts.len() || vs.iter().any(|v| v.len() != embedder.dimension()) {
            return Err(Error::Model {
                name: embedder.model_name().to_string(),
                message: "embedder returned vectors of the wrong number or length".into(),
            });
        }
        Ok(vs)
    };
    let inputs: Vec<Vec<std::borrow::Cow<'_, str>>> =
        docs.iter().map(|(_, _, d)| d.embedded_texts()).collect();
    let texts: Vec<&str> = inputs.iter().flatten().map(|t| t.as_ref()).collect();
    match embed(&texts) {
        Ok(mut all) => {
            let mut out = Vec::with_capacity(docs.len());
            let mut rest = all.drain(..);
            for (_, _, d) in docs {
                out.push(Ok(rest.by_ref().take(d.chunks.len()).collect()));
            }
            out
        }
        Err(_) => inputs
            .iter()
            .map(|texts| embed(&texts.iter().map(|t| t.as_ref()).collect::<Vec<_>>()))
            .collect(),
    }
}

/// Reads of a file that keeps changing before one is taken as its content.
const READ_ATTEMPTS: usize = 3;

/// Reads `path`, whose metadata before the read was `before`, and checks that it did not
/// change meanwhile (same length and modification time after the read, and as many bytes read
/// as it had): a file rewritten while it is read would otherwise be indexed as a mix or a
/// fragment of its versions. A changing file is read again, a few times, then refused.
fn read_unchanging(path: &Path, before: &std::fs::Metadata) -> std::io::Result<Vec<u8>> {
    let mut before = before.clone();
    for _ in 0..READ_ATTEMPTS {
        let bytes = std::fs::read(path)?;
        let after = std::fs::metadata(path)?;
        let same = |m: &std::fs::Metadata| {
            m.len() == bytes.len() as u64 && m.modified().ok() == before.modified().ok()
        };
        if same(&before) && same(&after) {
            return Ok(bytes);
        }
        before = after;
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Err(std::io::Error::other(format!(
        "the file kept changing while it was read ({READ_ATTEMPTS} attempts)"
    )))
}

/// Ingests the files of `sources` and the documents staged by operation `staged`; then
/// removes the documents of deleted files of sources that say so.
pub(super) fn run(
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
    let scans = scan_sources(sources, &options);
    items.extend(items_of(&scans));
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
        let removal = super::remove::remove_documents(ctx, &mut writer, gone)?;
        if items.is_empty() {
            return Ok(removal);
        }
        removal.apply(ctx.engine)?;
        ctx.publish(true)?;
    }
    process(ctx, &mut writer, items)
}

pub(super) fn retry_documents(ctx: &mut Ctx<'_>) -> Result<Closing> {
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
    process(ctx, &mut writer, items)
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
