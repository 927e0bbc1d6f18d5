//! Deleting a collection.

use super::purge::{purge_generation, purge_prefix};
use super::runner::{Closing, Ctx};
use crate::error::Result;
use crate::generation::GenerationId;
use crate::ops::Phase;
use crate::storage::{WriteBatch, keys};

/// Deletes a collection: hides it at once, then purges its records in batches; the removal of
/// its record is the closing write. A crash in between leaves it hidden; retrying the
/// operation finishes the purge, and a retry that finds the record gone completes.
pub(super) fn run(ctx: &mut Ctx<'_>) -> Result<Closing> {
    let id = ctx.op.collection_id;
    ctx.engine.begin_delete(id)?;
    ctx.progress.phase = Phase::Processing;
    let record = ctx.engine.catalog.record_any(id)?;
    let mut generations = record.map(|r| r.generations()).unwrap_or_default();
    generations.push(GenerationId::first_of(id));
    generations.sort();
    generations.dedup();
    for generation in generations {
        ctx.progress.chunks_done += purge_generation(ctx.engine, generation)?;
    }
    for tag in keys::PER_COLLECTION {
        if tag != keys::COLLECTION {
            purge_prefix(ctx.engine, &keys::in_collection(tag, id.0))?;
        }
    }
    ctx.progress.documents_done = 1;
    ctx.progress.documents_total = Some(1);
    let mut batch = WriteBatch::new();
    batch.delete(keys::collection(id.0));
    Ok(Closing::new(batch))
}
