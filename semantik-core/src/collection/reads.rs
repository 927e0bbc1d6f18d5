//! A collection's reads of its served generation: documents, chunks, text, index statistics,
//! all through the generation's one reader ([`Reader`]), under the generation's lease.

use std::collections::HashSet;

use super::Collection;
use crate::document::{Chunk, Document, DocumentStatus, StagedDocument};
use crate::error::{Error, Result};
use crate::generation::Reader;
use crate::storage::{self, keys};

impl Collection {
    /// All documents, in id order, including ones still pending.
    ///
    /// # Errors
    /// Storage errors; [`Error::CollectionNotFound`].
    pub fn documents(&self) -> Result<Vec<Document>> {
        let engine = &self.engine;
        let store = engine.store()?;
        let mut docs: Vec<Document> = engine.with_served(self.id, |record, _| {
            Reader::new(store.clone(), record.generation()).documents()
        })?;
        let mut known: HashSet<String> = docs.iter().map(|d| d.id.clone()).collect();
        for (_, v) in store
            .scan_prefix(&keys::in_collection(keys::STAGED, self.id.0))
            .collect::<Result<Vec<_>>>()?
        {
            let staged: StagedDocument = storage::decode_json("staged document", &v)?;
            // Listed once, even when several queued operations carry the same id.
            if known.insert(staged.id.clone()) {
                docs.push(pending_document(&staged));
            }
        }
        docs.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(docs)
    }

    /// One document.
    ///
    /// # Errors
    /// [`Error::DocumentNotFound`]; storage errors.
    pub fn document(&self, id: &str) -> Result<Document> {
        let store = self.engine.store()?;
        let served = self.engine.with_served(self.id, |record, _| {
            Reader::new(store.clone(), record.generation()).document(id)
        })?;
        if let Some(d) = served {
            return Ok(d);
        }
        self.documents()?
            .into_iter()
            .find(|d| d.id == id)
            .ok_or_else(|| Error::DocumentNotFound { id: id.to_string() })
    }

    /// The chunks of document `id`, in order.
    ///
    /// ```
    /// use semantik_core::{ChunkingConfig, CollectionConfig, Database, DocumentInput};
    /// let dir = tempfile::tempdir()?;
    /// let db = Database::open(dir.path())?;
    /// let col = db.create_collection(CollectionConfig::new("kb").with_model("semantik-test/hash-64")
    ///     .with_chunking(ChunkingConfig::characters(20, 0)))?;
    /// col.add_texts([DocumentInput::new("First paragraph.\n\nSecond paragraph.").with_id("d")])?
    ///     .wait(None)?;
    /// let chunks = col.chunks("d")?;
    /// assert_eq!(chunks.iter().map(|c| c.text.as_str()).collect::<Vec<_>>(),
    ///            ["First paragraph.", "Second paragraph."]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::DocumentNotFound`]; storage errors.
    pub fn chunks(&self, id: &str) -> Result<Vec<Chunk>> {
        let store = self.engine.store()?;
        self.engine.with_served(self.id, |record, _| {
            Reader::new(store.clone(), record.generation()).chunks_of(id)
        })
    }

    /// The text of document `id` as it was indexed (extracted from its file, or as given).
    ///
    /// ```
    /// use semantik_core::{CollectionConfig, Database, DocumentInput};
    /// let dir = tempfile::tempdir()?;
    /// let db = Database::open(dir.path())?;
    /// let col = db.create_collection(CollectionConfig::new("kb").with_model("semantik-test/hash-64"))?;
    /// col.add_texts([DocumentInput::new("sled stores the data").with_id("d")])?.wait(None)?;
    /// assert_eq!(col.text("d")?, "sled stores the data");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::DocumentNotFound`](crate::Error); storage errors.
    pub fn text(&self, id: &str) -> Result<String> {
        let store = self.engine.store()?;
        self.engine.with_served(self.id, |record, _| {
            Reader::new(store.clone(), record.generation()).text(id)
        })
    }

    /// A snapshot of the vector index: how many vectors are in graphs or searched exactly, how
    /// many deleted ones await a compaction, and the memory it holds. Loads the index if needed.
    ///
    /// # Errors
    /// [`Error::CollectionNotFound`](crate::Error) and storage errors.
    pub fn index_stats(&self) -> Result<crate::IndexStats> {
        self.engine.with_served(self.id, |record, _| {
            let rt = self.engine.ensure_index(record)?;
            let guard = rt.index.read().expect("index lock");
            Ok(guard
                .as_ref()
                .map(crate::index::CollectionIndex::stats)
                .unwrap_or_default())
        })
    }
}

/// How a staged (not yet processed) document is listed.
fn pending_document(staged: &StagedDocument) -> Document {
    let t = std::time::SystemTime::now();
    Document {
        id: staged.id.clone(),
        source: None,
        content_hash: blake3::hash(staged.text.as_bytes()).to_hex().to_string(),
        size: staged.text.len() as u64,
        mtime_ms: None,
        media_type: "text/plain".into(),
        title: staged.title.clone(),
        status: DocumentStatus::Pending,
        error: None,
        chunk_count: 0,
        first_chunk: 0,
        metadata: staged.metadata.clone(),
        created_at: t,
        updated_at: t,
        stored_bytes: 0,
    }
}
