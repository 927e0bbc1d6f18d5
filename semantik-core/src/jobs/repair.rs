//! Repairs that reads find to be needed. A search that loads an index whose stored segments
//! fail their checks searches their vectors exactly and only reports the damage (see
//! `Generations::ensure_index_of`); this thread, on the write side, marks the collection
//! degraded and queues the compaction that rebuilds the segments.

use std::sync::Arc;
use std::thread::JoinHandle;

use crate::collection::CollectionStatus;
use crate::engine::Engine;
use crate::engine::generations::Damaged;
use crate::error::Result;
use crate::ops::{OpParams, OperationKind};
use crate::storage::WriteBatch;

/// Starts the thread that repairs reported damage until [`Damage::close`](crate::engine::generations::Damage::close).
pub(crate) fn start(engine: Arc<Engine>) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name("semantik-repair".into())
        .spawn(move || {
            while let Some(found) = engine.generations.damage.take() {
                for damaged in found {
                    // A failed repair (the store failing, the database closing) leaves the
                    // segments dropped in memory and searched exactly; the next load of the
                    // index finds and reports them again.
                    let _ = repair(&engine, damaged);
                }
            }
        })
        .expect("spawn repair thread")
}

/// Marks the collection degraded and queues a compaction, unless the damaged generation is
/// no longer the one it serves (a reindex replaced it, or it is being built: the reindex's
/// own checks cover that).
fn repair(engine: &Engine, damaged: Damaged) -> Result<()> {
    let Damaged {
        collection,
        generation,
        segments,
    } = damaged;
    if engine.record(collection)?.generation() != generation {
        return Ok(());
    }
    engine.set_status(
        collection,
        None,
        CollectionStatus::Degraded,
        Some(format!(
            "{segments} stored vector index segments failed their checks; searching exactly \
             until the index is rebuilt"
        )),
    )?;
    engine.ops.create(
        collection,
        OperationKind::Compact,
        OpParams::Compact,
        WriteBatch::new(),
    )?;
    Ok(())
}
