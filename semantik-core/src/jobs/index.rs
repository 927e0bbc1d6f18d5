//! The vector index's maintenance: a graph segment for the vectors searched exactly, or a
//! compaction; `compact` is that step alone, as an operation's effect.

use super::runner::{Closing, Ctx};
use crate::collection::CollectionConfig;
use crate::error::Result;
use crate::generation::GenerationId;
use crate::index::CollectionIndex;
use crate::ops::Phase;

/// A compaction of the served generation's vector index: its new segments are the closing
/// writes.
pub(super) fn compact(ctx: &mut Ctx<'_>) -> Result<Closing> {
    let record = ctx.engine.record(ctx.op.collection_id)?;
    Ok(maintain_index(ctx, record.generation(), &record.config, true)?.unwrap_or_default())
}

/// Builds what generation `generation`'s vector index needs (a graph segment from the vectors
/// searched exactly, or a compaction; always a compaction when `compact`) and returns its
/// storage and installation, for the caller to apply. The build runs without holding the
/// index lock: searches go on, served by the current segments.
pub(super) fn maintain_index(
    ctx: &mut Ctx<'_>,
    generation: GenerationId,
    config: &CollectionConfig,
    compact: bool,
) -> Result<Option<Closing>> {
    let (rt, _) = ctx
        .engine
        .ensure_index_of(ctx.op.collection_id, generation, config)?;
    let plan = rt
        .index
        .read()
        .expect("index lock")
        .as_ref()
        .and_then(|index| index.plan(compact));
    let Some(plan) = plan else {
        return Ok(None);
    };
    ctx.progress.phase = Phase::Indexing;
    ctx.progress.vectors_total = Some(plan.len() as u64);
    ctx.publish(true)?;
    let dim = config.dimension.unwrap_or(0);
    let built = CollectionIndex::build(&config.index, dim, plan, &mut |done| {
        ctx.checkpoint()?;
        ctx.progress.vectors_indexed = done as u64;
        ctx.publish(false)
    })?;
    ctx.checkpoint()?;
    // Stored before it is installed: a crash in between loads the same state.
    let store = ctx.engine.store()?;
    let batch = CollectionIndex::persist_batch(store.as_ref(), generation, &built)?;
    Ok(Some(Closing::new(batch).then(move || {
        if let Some(index) = rt.index.write().expect("index lock").as_mut() {
            index.install(built);
        }
    })))
}
