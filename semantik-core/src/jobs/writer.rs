//! Writing one generation of a collection: documents, their text, chunks, vectors, index
//! entries and the collection's counts, one atomic batch per document.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use crate::chunk::{SplitChunker, TextChunk, TokenCounter};
use crate::collection::{CollectionConfig, CollectionId, CollectionStats};
use crate::document::{ChunkRecord, Document, DocumentStatus, Metadata, StoredText};
use crate::embed::{EXTERNAL_MODEL, Embedder, normalize};
use crate::engine::Engine;
use crate::error::{Error, ErrorInfo, Result};
use crate::extract::Extracted;
use crate::generation::GenerationId;
use crate::index::{Metric, VectorIndex};
use crate::keyword::{self, Analyzer};
use crate::search::DocumentsDelta;
use crate::storage::{self, Store, WriteBatch, keys};

use super::runner::Closing;
pub(crate) use crate::generation::Reader;

/// A document ready to be embedded and committed.
pub(super) struct Prepared {
    pub(super) doc_id: String,
    /// Whether it replaces by id or path, and so is not deduplicated by content.
    pub(super) explicit_id: bool,
    /// The version it replaces.
    pub(super) existing: Option<Document>,
    pub(super) content: Extracted,
    pub(super) hash: blake3::Hash,
    pub(super) size: u64,
    pub(super) mtime_ms: Option<u64>,
    pub(super) source: Option<PathBuf>,
    pub(super) metadata: Metadata,
    /// A caller-supplied vector (external-vector collections), one chunk.
    pub(super) vector: Option<Vec<f32>>,
    pub(super) chunks: Vec<TextChunk>,
    /// Writes that commit with it (the removal of its staged input).
    pub(super) extra: WriteBatch,
    /// When it was first stored (kept across replacements and reindexes).
    pub(super) created_at: Option<SystemTime>,
}

impl Prepared {
    /// The work its embedding takes, in chunk-size units.
    pub(super) fn weight(&self) -> usize {
        self.chunks.iter().map(|c| c.size.max(1)).sum()
    }

    /// What is embedded for each chunk (see `TextChunk::embedded_text`).
    pub(super) fn embedded_texts(&self) -> Vec<std::borrow::Cow<'_, str>> {
        let title = self.content.title.as_deref();
        self.chunks.iter().map(|c| c.embedded_text(title)).collect()
    }

    /// What its record says if it fails.
    pub(super) fn failed_info(&self) -> FailedInfo {
        FailedInfo {
            hash: Some(self.hash),
            size: self.size,
            mtime_ms: self.mtime_ms,
            media_type: self.content.media_type.clone(),
            metadata: self.metadata.clone(),
        }
    }
}

/// What is known of a document that failed, for its record.
#[derive(Debug, Default, Clone)]
pub(super) struct FailedInfo {
    pub(super) hash: Option<blake3::Hash>,
    pub(super) size: u64,
    pub(super) mtime_ms: Option<u64>,
    pub(super) media_type: String,
    pub(super) metadata: Metadata,
}

/// The generation being written, loaded once per operation (its operation is its only writer).
pub(super) struct Writer<'a> {
    pub(super) engine: &'a Engine,
    pub(super) reader: Reader,
    pub(super) config: CollectionConfig,
    pub(super) stats: CollectionStats,
    pub(super) embedder: Option<Arc<dyn Embedder>>,
    pub(super) chunker: Arc<SplitChunker>,
    analyzer: Analyzer,
    /// What the batch being built changes in the keyword postings held in memory.
    keywords: keyword::Delta,
    /// What it changes in the documents held in memory for filters.
    documents: DocumentsDelta,
}

impl<'a> Writer<'a> {
    /// The generation the collection serves; `embed` loads its model.
    pub(super) fn open(engine: &'a Engine, id: CollectionId, embed: bool) -> Result<Self> {
        let record = engine.record(id)?;
        Self::for_generation(engine, record.generation(), record.config, embed)
    }

    /// Generation `generation` with settings `config`.
    pub(super) fn for_generation(
        engine: &'a Engine,
        generation: GenerationId,
        config: CollectionConfig,
        embed: bool,
    ) -> Result<Self> {
        let embedder = if embed && config.model != EXTERNAL_MODEL {
            Some(engine.models.embedder(&config.model_spec())?)
        } else {
            None
        };
        if let Some(e) = &embedder
            && Some(e.dimension()) != config.dimension
        {
            return Err(Error::DimensionMismatch {
                expected: config.dimension.unwrap_or(0),
                got: e.dimension(),
            });
        }
        let counter = embedder
            .clone()
            .map(|e| Box::new(move |text: &str| e.token_starts(text)) as Box<TokenCounter>);
        let chunker = Arc::new(SplitChunker::new(config.chunking.clone(), counter));
        let store = engine.store()?;
        Ok(Writer {
            analyzer: Analyzer::new(&config.keyword)?,
            keywords: keyword::Delta::default(),
            documents: DocumentsDelta::default(),
            stats: engine.catalog.stats(generation)?,
            reader: Reader { store, generation },
            engine,
            config,
            embedder,
            chunker,
        })
    }

    pub(super) fn store(&self) -> &dyn Store {
        self.reader.store.as_ref()
    }

    /// Adds to `batch` the removal of `doc`'s records and updates the counts; returns the
    /// chunk ids removed.
    pub(super) fn remove_into(
        &mut self,
        batch: &mut WriteBatch,
        doc: &Document,
    ) -> Result<Vec<u64>> {
        let r = &self.reader;
        self.documents.remove(&doc.id);
        batch.delete(r.doc_key(&doc.id));
        batch.delete(r.hash_key(&doc.content_hash, &doc.id));
        batch.delete(keys::document_text(r.generation, &doc.id));
        if let Some(src) = &doc.source {
            batch.delete(r.path_key(src));
        }
        let ids: Vec<u64> =
            (doc.first_chunk..doc.first_chunk + u64::from(doc.chunk_count)).collect();
        let mut terms = 0;
        for &c in &ids {
            batch.delete(keys::chunk(r.generation, c));
            batch.delete(keys::vector(r.generation, c));
            terms += keyword::remove_chunk(
                r.store.as_ref(),
                batch,
                &mut self.keywords,
                r.generation,
                c,
            )?;
        }
        let s = &mut self.stats;
        s.keyword_terms = s.keyword_terms.saturating_sub(terms);
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
        Ok(ids)
    }

    /// Applies `batch` with the current counts, then brings the in-memory index up to date.
    pub(super) fn commit(
        &mut self,
        batch: WriteBatch,
        removed: Vec<u64>,
        added: Vec<(u64, Vec<f32>)>,
    ) -> Result<()> {
        self.closing(batch, removed, added)?.apply(self.engine)
    }

    /// `batch` with the current counts, and the update of the in-memory index that follows
    /// it, for the caller to apply (or to commit with the operation's outcome).
    pub(super) fn closing(
        &mut self,
        mut batch: WriteBatch,
        removed: Vec<u64>,
        added: Vec<(u64, Vec<f32>)>,
    ) -> Result<Closing> {
        batch.put_json(keys::stats(self.reader.generation), &self.stats)?;
        let rt = self.engine.generations.runtime(self.reader.generation);
        let keywords = std::mem::take(&mut self.keywords);
        let documents = std::mem::take(&mut self.documents);
        Ok(Closing::new(batch).then(move || {
            let mut guard = rt.index.write().expect("index lock");
            if let Some(index) = guard.as_mut() {
                for c in removed {
                    index.remove(c);
                }
                for (c, v) in &added {
                    index.insert(*c, v);
                }
            }
            drop(guard);
            rt.apply(&keywords, &documents);
        }))
    }

    /// Stores `doc_id` as failed with `error` (unless an indexed version exists, which is kept).
    pub(super) fn record_failure(
        &mut self,
        doc_id: &str,
        source: Option<&Path>,
        info: &FailedInfo,
        error: &Error,
    ) -> Result<()> {
        let existing = self.reader.document(doc_id)?;
        if existing
            .as_ref()
            .is_some_and(|d| d.status == DocumentStatus::Indexed)
        {
            return Ok(());
        }
        let mut batch = WriteBatch::new();
        let removed = match &existing {
            Some(d) => self.remove_into(&mut batch, d)?,
            None => Vec::new(),
        };
        let t = SystemTime::now();
        let doc = Document {
            id: doc_id.to_string(),
            source: source.map(Path::to_path_buf),
            content_hash: info
                .hash
                .map(|h| h.to_hex().to_string())
                .unwrap_or_default(),
            size: info.size,
            mtime_ms: info.mtime_ms,
            media_type: info.media_type.clone(),
            title: None,
            status: DocumentStatus::Failed,
            error: Some(ErrorInfo::from(error)),
            chunk_count: 0,
            first_chunk: 0,
            metadata: info.metadata.clone(),
            created_at: existing.as_ref().map_or(t, |d| d.created_at),
            updated_at: t,
            stored_bytes: 0,
        };
        batch.put_json(self.reader.doc_key(doc_id), &doc)?;
        if let Some(src) = source {
            batch.put(self.reader.path_key(src), doc_id.as_bytes().to_vec());
        }
        self.stats.failed_documents += 1;
        self.commit(batch, removed, Vec::new())
    }

    /// Stores a skipped document's new modification time, so the next scan skips it unread.
    pub(super) fn touch(&mut self, mut doc: Document, mtime_ms: Option<u64>) -> Result<()> {
        doc.mtime_ms = mtime_ms;
        let mut batch = WriteBatch::new();
        batch.put_json(self.reader.doc_key(&doc.id), &doc)?;
        self.store().apply(batch)
    }

    /// Drops a document's staged input without indexing it (its content is already held).
    pub(super) fn drop_duplicate(&mut self, p: Prepared) -> Result<()> {
        let mut batch = p.extra;
        // A failed earlier attempt at this input can never be retried any more: drop it too.
        let removed = match p.existing.filter(|d| d.status == DocumentStatus::Failed) {
            Some(d) => self.remove_into(&mut batch, &d)?,
            None => Vec::new(),
        };
        if batch.is_empty() {
            return Ok(());
        }
        self.commit(batch, removed, Vec::new())
    }

    /// The batch that writes one embedded document, replacing its earlier version, for the
    /// caller to apply; and its chunk count. Vectors of a cosine collection are normalised.
    pub(super) fn document_closing(
        &mut self,
        p: Prepared,
        mut vectors: Vec<Vec<f32>>,
    ) -> Result<(Closing, u64)> {
        if self.config.index.metric == Metric::Cosine {
            vectors.iter_mut().for_each(|v| normalize(v));
        }
        self.document_closing_as_given(p, vectors)
    }

    /// [`Writer::document_closing`] with the vectors stored bit for bit as given.
    pub(super) fn document_closing_as_given(
        &mut self,
        p: Prepared,
        vectors: Vec<Vec<f32>>,
    ) -> Result<(Closing, u64)> {
        let old_size = p
            .existing
            .as_ref()
            .filter(|d| d.status == DocumentStatus::Indexed)
            .map_or(0, |d| d.size);
        if let Some(max) = self.engine.config.max_collection_bytes
            && self.stats.source_bytes.saturating_sub(old_size) + p.size > max
        {
            return Err(Error::LimitExceeded {
                limit: "max_collection_bytes".into(),
                max,
            });
        }
        if vectors.len() != p.chunks.len() {
            return Err(Error::internal("vectors and chunks disagree in number"));
        }
        let chunk_terms: Vec<Vec<String>> =
            crate::chunk::keyword_texts(&p.chunks, p.content.title.as_deref())
                .iter()
                .map(|t| self.analyzer.terms(t))
                .collect();
        let mut batch = p.extra;
        let removed = match &p.existing {
            Some(d) => self.remove_into(&mut batch, d)?,
            None => Vec::new(),
        };
        let generation = self.reader.generation;
        let first_chunk = self.stats.next_chunk_id;
        let mut added = Vec::with_capacity(p.chunks.len());
        let before = batch.written_bytes();
        let mut terms = 0;
        for (i, ((chunk, vector), chunk_terms)) in p
            .chunks
            .into_iter()
            .zip(vectors)
            .zip(chunk_terms)
            .enumerate()
        {
            let chunk_id = first_chunk + i as u64;
            terms += keyword::add_chunk(
                &mut batch,
                &mut self.keywords,
                generation,
                chunk_id,
                &chunk_terms,
            );
            let rec = ChunkRecord {
                document_id: p.doc_id.clone(),
                index: i as u32,
                start: chunk.start,
                end: chunk.end,
                text: chunk.text,
                page: chunk.page,
                headings: chunk.headings,
            };
            batch.put_json(keys::chunk(generation, chunk_id), &rec)?;
            batch.put(
                keys::vector(generation, chunk_id),
                storage::encode_vector(&vector),
            );
            added.push((chunk_id, vector));
        }
        if p.vector.is_none() {
            let text = StoredText {
                text: p.content.text,
                pages: p.content.pages,
                headings: p
                    .content
                    .headings
                    .into_iter()
                    .map(|h| (h.start, h.level, h.title))
                    .collect(),
            };
            batch.put_json(keys::document_text(generation, &p.doc_id), &text)?;
        }
        let n = added.len() as u64;
        let hash = p.hash.to_hex().to_string();
        let t = SystemTime::now();
        let mut doc = Document {
            id: p.doc_id.clone(),
            source: p.source.clone(),
            content_hash: hash.clone(),
            size: p.size,
            mtime_ms: p.mtime_ms,
            media_type: p.content.media_type,
            title: p.content.title,
            status: DocumentStatus::Indexed,
            error: None,
            chunk_count: n as u32,
            first_chunk,
            metadata: p.metadata,
            created_at: p
                .created_at
                .or(p.existing.as_ref().map(|d| d.created_at))
                .unwrap_or(t),
            updated_at: t,
            stored_bytes: 0,
        };
        batch.put(self.reader.hash_key(&hash, &p.doc_id), Vec::new());
        if let Some(src) = &p.source {
            batch.put(self.reader.path_key(src), p.doc_id.as_bytes().to_vec());
        }
        let doc_key = self.reader.doc_key(&p.doc_id);
        let doc_bytes = (doc_key.len() + storage::encode_json(&doc)?.len()) as u64;
        let stored = batch.written_bytes() - before + doc_bytes;
        doc.stored_bytes = stored;
        batch.put_json(doc_key, &doc)?;
        self.documents.store(&doc);
        let s = &mut self.stats;
        s.next_chunk_id += n;
        s.keyword_terms += terms;
        s.documents += 1;
        s.chunks += n;
        s.vectors += n;
        s.source_bytes += p.size;
        s.bytes_on_disk += stored;
        Ok((self.closing(batch, removed, added)?, n))
    }
}
