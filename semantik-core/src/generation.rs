//! A generation's records, read: the one reader of a generation's documents, chunks and
//! texts (writes go through the jobs' writer, which holds a reader too). A collection serves
//! one generation at a time; a reindex builds the next beside it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::collection::CollectionId;
use crate::document::{Chunk, ChunkRecord, Document, StoredText};
use crate::error::{Error, Result};
use crate::storage::{self, Store, keys};

/// The id of a generation: the key space of one version of a collection's records
/// (documents, chunks, vectors, texts, postings, index, counts). A collection's first
/// generation has the collection's own id; each reindex builds the next under a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct GenerationId(pub(crate) Uuid);

impl GenerationId {
    /// The id of a generation a reindex is about to build.
    pub(crate) fn new() -> Self {
        GenerationId(Uuid::now_v7())
    }

    /// The first generation of `collection`.
    pub(crate) fn first_of(collection: CollectionId) -> Self {
        GenerationId(collection.0)
    }
}

impl fmt::Display for GenerationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Read-only access to one generation, shared with the thread that prepares documents.
#[derive(Debug, Clone)]
pub(crate) struct Reader {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) generation: GenerationId,
}

impl Reader {
    /// A reader of `generation` in `store`.
    pub(crate) fn new(store: Arc<dyn Store>, generation: GenerationId) -> Self {
        Reader { store, generation }
    }

    pub(crate) fn doc_key(&self, doc_id: &str) -> Vec<u8> {
        keys::document(self.generation, doc_id)
    }

    pub(crate) fn path_key(&self, path: &Path) -> Vec<u8> {
        keys::document_path(self.generation, path)
    }

    pub(crate) fn hash_key(&self, hash: &str, doc_id: &str) -> Vec<u8> {
        keys::document_hash(self.generation, hash, doc_id)
    }

    /// Document `doc_id`, if the generation holds it.
    pub(crate) fn document(&self, doc_id: &str) -> Result<Option<Document>> {
        storage::get_json(self.store.as_ref(), "document", &self.doc_key(doc_id))
    }

    /// The document read from `path`, with its id.
    pub(crate) fn document_at(&self, path: &Path) -> Result<Option<Document>> {
        match self.document_id_at(path)? {
            Some(id) => self.document(&id),
            None => Ok(None),
        }
    }

    /// The id of the document read from `path`, as the source-path index has it.
    pub(crate) fn document_id_at(&self, path: &Path) -> Result<Option<String>> {
        Ok(self
            .store
            .get(&self.path_key(path))?
            .map(|id| String::from_utf8_lossy(&id).into_owned()))
    }

    /// Whether the content-hash index lists document `doc_id` under `hash`.
    pub(crate) fn hash_indexes(&self, hash: &str, doc_id: &str) -> Result<bool> {
        Ok(self.store.get(&self.hash_key(hash, doc_id))?.is_some())
    }

    pub(crate) fn stored_text(&self, doc_id: &str) -> Result<Option<StoredText>> {
        storage::get_json(
            self.store.as_ref(),
            "document text",
            &keys::document_text(self.generation, doc_id),
        )
    }

    pub(crate) fn hash_known(&self, hash: &str) -> bool {
        let mut prefix = hash.as_bytes().to_vec();
        prefix.push(0);
        self.store
            .scan_prefix(&keys::in_generation_with(
                keys::DOCUMENT_HASH,
                self.generation,
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
            &keys::chunk(self.generation, chunk_id),
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
            .scan_range(
                &keys::chunk(self.generation, first),
                &keys::chunk(self.generation, end),
            )
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
            &keys::in_generation(keys::DOCUMENT, self.generation),
        )
    }

    /// Every stored document record with the id its key names, each decoded on its own (a
    /// record that does not decode is an `Err` beside the others), in id order.
    pub(crate) fn document_records(
        &self,
    ) -> impl Iterator<Item = Result<(String, Result<Document>)>> + '_ {
        self.entries(keys::DOCUMENT).map(|entry| {
            let (id, v) = entry?;
            Ok((
                String::from_utf8_lossy(&id).into_owned(),
                storage::decode_json("document", &v),
            ))
        })
    }

    /// Every stored chunk record with the chunk id its key names (`None`: a malformed key),
    /// each decoded on its own, in id order.
    pub(crate) fn chunk_records(
        &self,
    ) -> impl Iterator<Item = Result<(Option<u64>, Result<ChunkRecord>)>> + '_ {
        self.entries(keys::CHUNK).map(|entry| {
            let (id, v) = entry?;
            Ok((chunk_id(&id), storage::decode_json("chunk", &v)))
        })
    }

    /// The vector of chunk `chunk_id`, if stored.
    pub(crate) fn vector(&self, chunk_id: u64) -> Result<Option<Vec<f32>>> {
        let Some(bytes) = self.store.get(&keys::vector(self.generation, chunk_id))? else {
            return Ok(None);
        };
        let mut v = Vec::new();
        storage::decode_vector_into(&bytes, &mut v)?;
        Ok(Some(v))
    }

    /// Every stored vector's chunk id (`None`: a malformed key) and its size in bytes, in id
    /// order.
    pub(crate) fn vector_sizes(&self) -> impl Iterator<Item = Result<(Option<u64>, usize)>> + '_ {
        self.entries(keys::VECTOR)
            .map(|entry| entry.map(|(id, v)| (chunk_id(&id), v.len())))
    }

    /// `(content hash, document id)` of every entry of the content-hash index.
    pub(crate) fn hash_entries(&self) -> impl Iterator<Item = Result<(String, String)>> + '_ {
        self.entries(keys::DOCUMENT_HASH).map(|entry| {
            let (suffix, _) = entry?;
            let mut parts = suffix.splitn(2, |&b| b == 0);
            let mut next =
                || String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
            Ok((next(), next()))
        })
    }

    /// `(path, document id)` of every entry of the source-path index.
    pub(crate) fn path_entries(&self) -> impl Iterator<Item = Result<(PathBuf, String)>> + '_ {
        self.entries(keys::DOCUMENT_PATH).map(|entry| {
            let (path, id) = entry?;
            Ok((
                PathBuf::from(String::from_utf8_lossy(&path).into_owned()),
                String::from_utf8_lossy(&id).into_owned(),
            ))
        })
    }

    /// The ids of the documents whose text is stored.
    pub(crate) fn text_ids(&self) -> impl Iterator<Item = Result<String>> + '_ {
        self.entries(keys::DOCUMENT_TEXT)
            .map(|entry| entry.map(|(id, _)| String::from_utf8_lossy(&id).into_owned()))
    }

    /// Every record of type `tag` in the generation, with its key's suffix after the prefix.
    fn entries(&self, tag: u8) -> impl Iterator<Item = Result<(Vec<u8>, Vec<u8>)>> + '_ {
        storage::scan_suffixes(
            self.store.as_ref(),
            &keys::in_generation(tag, self.generation),
        )
    }

    /// `(path, document id)` of every document read from a file at or below `root`.
    pub(crate) fn documents_under(&self, root: &Path) -> Result<Vec<(PathBuf, String)>> {
        let start = keys::in_generation(keys::DOCUMENT_PATH, self.generation).len();
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

/// The chunk id a `CHUNK` or `VECTOR` key's suffix names.
fn chunk_id(suffix: &[u8]) -> Option<u64> {
    keys::chunk_id_of_tail(suffix).filter(|_| suffix.len() == 8)
}
