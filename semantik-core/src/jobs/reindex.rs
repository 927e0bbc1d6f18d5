//! Blue/green reindex: a new generation of a collection is built beside the one that serves,
//! validated, then swapped in atomically with the operation's outcome; the old one is purged
//! after.
//!
//! The new generation's records are keyed by its own id, so nothing the served generation
//! reads changes while it is built (the reindex is the collection's only writer). The swap is
//! one write of the collection record (new settings, new generation). A failed or cancelled
//! reindex purges what it built and leaves the collection as it was; one interrupted by a crash
//! is resumed by [`Operation::retry`](crate::Operation::retry): its documents already built are
//! skipped.

use super::index::maintain_index;
use super::ingest;
use super::ingest::stored_items;
use super::purge::purge_generation;
use super::runner::{Closing, Ctx};
use super::writer::{Reader, Writer};
use crate::collection::CollectionConfig;
use crate::document::DocumentStatus;
use crate::embed::{EXTERNAL_MODEL, normalize};
use crate::error::{Error, Result};
use crate::generation::GenerationId;
use crate::index::Metric;
use crate::ops::Phase;
use crate::storage::keys;

/// Vectors of the new generation searched for before the swap.
const SAMPLE_SEARCHES: usize = 8;

/// Runs the reindex of the operation's collection into `generation` with `config`; its swap
/// is the closing write (the old generation, listed as retired by it, is purged by the
/// housekeeping that follows).
pub(super) fn run(
    ctx: &mut Ctx<'_>,
    config: CollectionConfig,
    generation: GenerationId,
) -> Result<Closing> {
    let (engine, id) = (ctx.engine, ctx.op.collection_id);
    let record = engine.record(id)?;
    let served = record.generation();
    if served == generation {
        // A retry of this reindex after its swap: only the purge of the old one was left,
        // which the housekeeping does.
        return Ok(Closing::default());
    }
    // Leftovers of an abandoned reindex, or of a purge a crash cut short (never the served
    // generation), this reindex's own generation too when it is listed as retired: its
    // earlier attempt failed and the purge of what it built did not finish, so its records
    // cannot be resumed from. Listed as retired while they are purged, so that nothing (a
    // verify, a resumed build) takes a half-purged generation for one being built.
    let leftovers: Vec<GenerationId> = record
        .building
        .iter()
        .filter(|b| **b != generation)
        .chain(&record.retired)
        .copied()
        .filter(|old| *old != served)
        .collect();
    if !leftovers.is_empty() {
        engine.catalog.update_record(id, |r| {
            r.building = r.building.filter(|b| *b == generation);
            r.retired = leftovers.clone();
        })?;
        for old in &leftovers {
            purge_generation(engine, *old)?;
        }
    }
    engine.catalog.update_record(id, |r| {
        r.building = Some(generation);
        r.retired.clear();
    })?;
    engine.store()?.flush()?;
    let external = record.config.model == EXTERNAL_MODEL;
    let built = build(ctx, served, external, &config, generation).and_then(|()| {
        ctx.progress.phase = Phase::Finalizing;
        ctx.publish(true)
    });
    match built {
        Ok(()) => Ok(Closing::default().with_record(id, move |r| {
            r.config.model = config.model;
            r.config.dimension = config.dimension;
            r.config.chunking = config.chunking;
            r.config.index = config.index;
            r.config.keyword = config.keyword;
            r.served = Some(generation);
            r.building = None;
            r.retired = vec![served];
        })),
        Err(e) => {
            // The served generation was never touched: drop what was built (retired while
            // it is purged).
            engine.catalog.update_record(id, |r| {
                r.building = None;
                r.retired = vec![generation];
            })?;
            purge_generation(engine, generation)?;
            engine.catalog.update_record(id, |r| r.retired.clear())?;
            Err(e)
        }
    }
}

/// Builds and validates generation `generation` from the served generation `from`.
/// (`external`: the served generation holds caller-supplied vectors.)
fn build(
    ctx: &mut Ctx<'_>,
    from: GenerationId,
    external: bool,
    config: &CollectionConfig,
    generation: GenerationId,
) -> Result<()> {
    let engine = ctx.engine;
    let mut writer = Writer::for_generation(engine, generation, config.clone(), true)?;
    // The new generation's index fills as its documents are committed.
    engine.ensure_index_of(ctx.op.collection_id, generation, config)?;
    let from = Reader {
        store: engine.store()?,
        generation: from,
    };
    let items = stored_items(&from, external)?;
    let expected = items.len();
    ingest::process(ctx, &mut writer, items)?.apply(engine)?;
    if let Some(segments) = maintain_index(ctx, generation, config, false)? {
        segments.apply(engine)?;
    }
    ctx.progress.phase = Phase::Validating;
    ctx.publish(true)?;
    validate(ctx, &from, &writer, expected)
}

/// Checks the new generation before it serves: every document accounted for, one vector and
/// one keyword term list per chunk, vectors stored and indexed, and searches answered.
fn validate(ctx: &Ctx<'_>, from: &Reader, writer: &Writer<'_>, expected: usize) -> Result<()> {
    let invalid = |message: String| Err(Error::ValidationFailed { message });
    let docs = writer.reader.documents()?;
    // Nothing searchable before may be lost: every indexed document must be indexed again.
    let indexed: std::collections::HashSet<&str> = docs
        .iter()
        .filter(|d| d.status == DocumentStatus::Indexed)
        .map(|d| d.id.as_str())
        .collect();
    if let Some(lost) = from
        .documents()?
        .into_iter()
        .find(|d| d.status == DocumentStatus::Indexed && !indexed.contains(d.id.as_str()))
    {
        let why = docs
            .iter()
            .find(|d| d.id == lost.id)
            .and_then(|d| d.error.as_ref())
            .map_or_else(String::new, |e| format!(": {e}"));
        return invalid(format!(
            "document {} is indexed now but not in the new generation{why}",
            lost.id
        ));
    }
    let s = &writer.stats;
    if docs.len() != expected || (s.documents + s.failed_documents) as usize != expected {
        return invalid(format!(
            "{expected} documents to reindex, {} in the new generation ({} indexed, {} failed)",
            docs.len(),
            s.documents,
            s.failed_documents
        ));
    }
    let chunks: u64 = docs.iter().map(|d| u64::from(d.chunk_count)).sum();
    let generation = writer.reader.generation;
    let store = writer.store();
    let stored = writer.reader.vector_sizes().count() as u64;
    if chunks != s.chunks || s.vectors != s.chunks || stored != s.vectors {
        return invalid(format!(
            "the new generation has {chunks} chunks in its documents, {} counted, {} vectors \
             counted and {stored} stored",
            s.chunks, s.vectors
        ));
    }
    let term_lists = store
        .scan_prefix(&keys::in_generation(keys::CHUNK_TERMS, generation))
        .count() as u64;
    if term_lists != chunks {
        return invalid(format!(
            "the new generation has {chunks} chunks and {term_lists} keyword term lists"
        ));
    }
    let (rt, _) = ctx
        .engine
        .ensure_index_of(ctx.op.collection_id, generation, &writer.config)?;
    let guard = rt.index.read().expect("index lock");
    let index = guard
        .as_ref()
        .ok_or_else(|| Error::internal("the new generation has no index"))?;
    let indexed = index.stats();
    if indexed.vectors as u64 != stored {
        return invalid(format!(
            "the new index holds {} live vectors, {stored} are stored",
            indexed.vectors
        ));
    }
    // Sampled vectors must find themselves (or an equal one); one sampled text is searched
    // through the model too.
    let with_chunks: Vec<_> = docs.iter().filter(|d| d.chunk_count > 0).collect();
    let step = with_chunks.len().div_ceil(SAMPLE_SEARCHES).max(1);
    for (i, doc) in with_chunks.iter().step_by(step).enumerate() {
        let chunk_id = doc.first_chunk;
        let Some(v) = writer.reader.vector(chunk_id)? else {
            return invalid(format!("vector of chunk {chunk_id} is missing"));
        };
        let own = writer.config.index.metric.score(&v, &v);
        let hits = index.search_with(&v, 10, None, None);
        if hits
            .first()
            .is_none_or(|h| h.score < own - 1e-3 * own.abs().max(1.0))
        {
            return invalid(format!(
                "a search for the vector of chunk {chunk_id} did not find it"
            ));
        }
        if i == 0
            && let Some(e) = &writer.embedder
        {
            let chunk = writer
                .reader
                .chunk(chunk_id)?
                .ok_or_else(|| Error::corrupt(format!("chunk {chunk_id} is missing")))?;
            let mut q = e
                .embed(&[chunk.text.as_str()])?
                .pop()
                .ok_or_else(|| Error::internal("embedder returned no vector"))?;
            if writer.config.index.metric == Metric::Cosine {
                normalize(&mut q);
            }
            if index.search_with(&q, 10, None, None).is_empty() {
                return invalid("a text search of the new generation found nothing".into());
            }
        }
    }
    Ok(())
}
