//! An import's writes: documents read from an export, stored with their chunks and vectors the
//! way ingestion stores them, without embedding. Chunk ids are kept (the file lists them in
//! ascending order), so an imported collection answers with the same ids as its source.

use super::writer::{Prepared, Writer};
use crate::chunk::TextChunk;
use crate::collection::CollectionId;
use crate::collection::exchange::ImportedDocument;
use crate::embed::{self, EXTERNAL_MODEL};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::extract::Extracted;
use crate::index::Metric;
use crate::storage::WriteBatch;

/// Writes `docs` into collection `id` (new and empty); returns the chunks written.
///
/// Vectors of a cosine collection that are already of unit length (as every exported one is)
/// are stored bit for bit; others are normalised.
///
/// # Errors
/// [`Error::InvalidArgument`] for a document whose chunk ids are not consecutive and after the
/// previous document's, or that appears twice; [`Error::DimensionMismatch`]; storage errors.
pub(crate) fn import(
    engine: &Engine,
    id: CollectionId,
    docs: impl Iterator<Item = Result<ImportedDocument>>,
) -> Result<u64> {
    let mut writer = Writer::open(engine, id, false)?;
    let external = writer.config.model == EXTERNAL_MODEL;
    let cosine = writer.config.index.metric == Metric::Cosine;
    let dim = writer.config.dimension.unwrap_or(0);
    let mut written = 0;
    for doc in docs {
        let doc = doc?;
        let bad = |why: &str| Error::invalid(format!("document {:?} of the import: {why}", doc.id));
        let first = doc.chunks.first().map_or(0, |c| c.id);
        if first < writer.stats.next_chunk_id || writer.reader.document(&doc.id)?.is_some() {
            return Err(bad(
                "listed twice, or its chunk ids are not after the previous document's",
            ));
        }
        if doc.chunks.iter().zip(first..).any(|(c, want)| c.id != want) {
            return Err(bad("its chunk ids are not consecutive"));
        }
        if external && doc.chunks.len() != 1 {
            return Err(bad("a document of external vectors has exactly one chunk"));
        }
        if let Some(c) = doc.chunks.iter().find(|c| c.vector.len() != dim) {
            return Err(Error::DimensionMismatch {
                expected: dim,
                got: c.vector.len(),
            });
        }
        if doc
            .chunks
            .iter()
            .flat_map(|c| &c.vector)
            .any(|x| !x.is_finite())
        {
            return Err(bad("a vector holds NaN or an infinite value"));
        }
        let text = doc.text.unwrap_or_else(|| {
            let texts: Vec<&str> = doc.chunks.iter().map(|c| c.text.as_str()).collect();
            texts.join("\n\n")
        });
        let hash = doc
            .content_hash
            .as_deref()
            .and_then(|h| blake3::Hash::from_hex(h).ok())
            .unwrap_or_else(|| blake3::hash(text.as_bytes()));
        let mut vectors = Vec::with_capacity(doc.chunks.len());
        let mut chunks = Vec::with_capacity(doc.chunks.len());
        for c in doc.chunks {
            let mut v = c.vector;
            if cosine && (embed::norm(&v) - 1.0).abs() > 1e-5 {
                embed::normalize(&mut v);
            }
            vectors.push(v);
            chunks.push(TextChunk {
                start: c.start,
                end: c.end,
                size: c.text.len(),
                text: c.text,
                page: c.page,
                headings: c.headings,
            });
        }
        writer.stats.next_chunk_id = first;
        let prepared = Prepared {
            doc_id: doc.id,
            explicit_id: true,
            existing: None,
            size: text.len() as u64,
            content: Extracted {
                text,
                media_type: doc.media_type.unwrap_or_else(|| "text/plain".into()),
                title: doc.title,
                pages: Vec::new(),
                headings: Vec::new(),
            },
            hash,
            mtime_ms: None,
            source: doc.source,
            metadata: doc.metadata,
            vector: external.then(|| vectors[0].clone()),
            chunks,
            extra: WriteBatch::new(),
            created_at: None,
        };
        let (closing, chunks) = writer.document_closing_as_given(prepared, vectors)?;
        closing.apply(engine)?;
        written += chunks;
    }
    Ok(written)
}
