//! What operations do: the job bodies the workers of the operations registry run, a file per
//! job. `runner` dispatches an operation to its job, commits its outcome with its last write
//! and runs the housekeeping after it; `ingest` reads, chunks and embeds documents (index,
//! append, retry of failed documents); `remove` removes documents by path or id; `reindex`
//! builds and swaps in a new generation; `delete` deletes a collection; `purge` deletes a
//! retired generation's records; `index` builds graph segments and compactions; `repair`
//! queues the compaction of damaged index segments that a read reported; `writer` is the one
//! writer of a generation's records.

mod delete;
mod import;
mod index;
mod ingest;
mod purge;
mod reindex;
mod remove;
pub(crate) mod repair;
mod runner;
mod writer;

use crate::engine::Engine;

pub(crate) use import::import;
pub(crate) use runner::{fail_after_panic, run};

/// Test hook: with the `testing` feature, a process whose `SEMANTIK_CRASH_AT` names `point`
/// flushes what it wrote and aborts there, as a kill landing at that moment (after the
/// writes before it reached the disk) would, so that tests place a crash between two writes
/// deterministically. Without the feature it does nothing.
#[inline]
pub(crate) fn crash_point(engine: &Engine, point: &str) {
    #[cfg(feature = "testing")]
    if std::env::var_os("SEMANTIK_CRASH_AT").is_some_and(|p| p == point) {
        if let Ok(store) = engine.store() {
            let _ = store.flush();
        }
        std::process::abort();
    }
    #[cfg(not(feature = "testing"))]
    let _ = (engine, point);
}
