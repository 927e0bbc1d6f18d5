//! Purging: deleting every record of a retired generation (after a reindex, or of a deleted
//! collection), in batches, after waiting for the reads that hold the generation's lease.

use super::crash_point;
use crate::collection::CollectionId;
use crate::engine::Engine;
use crate::error::Result;
use crate::generation::GenerationId;
use crate::storage::{WriteBatch, keys};

/// Keys deleted per batch when purging a collection or a generation.
const PURGE_BATCH: usize = 1024;

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

/// Deletes every key under `prefix`, in batches; returns how many.
pub(super) fn purge_prefix(engine: &Engine, prefix: &[u8]) -> Result<u64> {
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

/// Deletes every record of generation `generation`; returns how many chunks it had.
pub(super) fn purge_generation(engine: &Engine, generation: GenerationId) -> Result<u64> {
    engine.generations.retire(generation);
    engine.generations.drop_runtimes([generation]);
    let mut chunks = 0;
    for tag in keys::PER_GENERATION {
        let n = purge_prefix(engine, &keys::in_generation(tag, generation))?;
        if tag == keys::CHUNK {
            chunks = n;
        }
    }
    Ok(chunks)
}
