//! A generation's records, read: the one reader of a generation's documents, chunks and
//! texts (writes go through the jobs' writer, which holds a reader too). A collection serves
//! one generation at a time; a reindex builds the next beside it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use uuid::Uuid;

use crate::document::{Chunk, ChunkRecord, Document, StoredText};
use crate::error::{Error, Result};
use crate::storage::{self, Store, keys};

/// Read-only access to one generation, shared with the thread that prepares documents.
#[derive(Debug, Clone)]
pub(crate) struct Reader {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) data: Uuid,
}

impl Reader {
    /// A reader of generation `data` in `store`.
    pub(crate) fn new(store: Arc<dyn Store>, data: Uuid) -> Self {
        Reader { store, data }
    }

    pub(crate) fn doc_key(&self, doc_id: &str) -> Vec<u8> {
        keys::document(self.data, doc_id)
    }

    pub(crate) fn path_key(&self, path: &Path) -> Vec<u8> {
        keys::document_path(self.data, path)
    }

    pub(crate) fn hash_key(&self, hash: &str, doc_id: &str) -> Vec<u8> {
        keys::document_hash(self.data, hash, doc_id)
    }

    /// Document `doc_id`, if the generation holds it.
    pub(crate) fn document(&self, doc_id: &str) -> Result<Option<Document>> {
        storage::get_json(self.store.as_ref(), "document", &self.doc_key(doc_id))
    }

    /// The document read from `path`, with its id.
    pub(crate) fn document_at(&self, path: &Path) -> Result<Option<Document>> {
        match self.store.get(&self.path_key(path))? {
            Some(id) => self.document(&String::from_utf8_lossy(&id)),
            None => Ok(None),
        }
    }

    pub(crate) fn stored_text(&self, doc_id: &str) -> Result<Option<StoredText>> {
        storage::get_json(
            self.store.as_ref(),
            "document text",
            &keys::document_text(self.data, doc_id),
        )
    }

    pub(crate) fn hash_known(&self, hash: &str) -> bool {
        let mut prefix = hash.as_bytes().to_vec();
        prefix.push(0);
        self.store
            .scan_prefix(&keys::in_collection_with(
                keys::DOCUMENT_HASH,
                self.data,
                &prefix,
            ))
            .next()
            .is_some()
    }

    /// The record of chunk `chunk_id`, if the generation holds it.
    pub(crate) fn chunk(&self, chunk_id: u64) -> Result<Option<ChunkRecord>> {
        storage::get_json(
            self.store.as_ref(),
            "chunk",
            &keys::chunk(self.data, chunk_id),
        )
    }

    /// The chunks of document `doc_id`, in order.
    pub(crate) fn chunks_of(&self, doc_id: &str) -> Result<Vec<Chunk>> {
        let doc = self
            .document(doc_id)?
            .ok_or_else(|| Error::DocumentNotFound {
                id: doc_id.to_string(),
            })?;
        let first = doc.first_chunk;
        let end = first + u64::from(doc.chunk_count);
        self.store
            .scan_range(&keys::chunk(self.data, first), &keys::chunk(self.data, end))
            .map(|entry| {
                let (k, v) = entry?;
                let c: ChunkRecord = storage::decode_json("chunk", &v)?;
                Ok((c.document_id == doc.id).then(|| Chunk {
                    id: keys::chunk_id_of(&k).unwrap_or_default(),
                    index: c.index,
                    start: c.start,
                    end: c.end,
                    text: c.text,
                    page: c.page,
                    headings: c.headings,
                }))
            })
            .filter_map(Result::transpose)
            .collect()
    }

    /// The text of document `doc_id` as it was indexed.
    pub(crate) fn text(&self, doc_id: &str) -> Result<String> {
        match self.stored_text(doc_id)? {
            Some(t) => Ok(t.text),
            // Documents stored with their vectors (and those of formats before 3) keep their
            // text in their chunks only.
            None => Ok(self
                .chunks_of(doc_id)?
                .into_iter()
                .map(|c| c.text)
                .collect::<Vec<_>>()
                .join("\n\n")),
        }
    }

    /// Every document of the generation, in id order.
    pub(crate) fn documents(&self) -> Result<Vec<Document>> {
        storage::scan_json(
            self.store.as_ref(),
            "document",
            &keys::in_collection(keys::DOCUMENT, self.data),
        )
    }

    /// `(path, document id)` of every document read from a file at or below `root`.
    pub(crate) fn documents_under(&self, root: &Path) -> Result<Vec<(PathBuf, String)>> {
        let start = keys::in_collection(keys::DOCUMENT_PATH, self.data).len();
        let mut out = Vec::new();
        for entry in self.store.scan_prefix(&self.path_key(root)) {
            let (k, v) = entry?;
            let path = PathBuf::from(String::from_utf8_lossy(&k[start..]).into_owned());
            if path.starts_with(root) {
                out.push((path, String::from_utf8_lossy(&v).into_owned()));
            }
        }
        Ok(out)
    }
}
