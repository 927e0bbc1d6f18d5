//! Generations in memory: the runtime (vector index) of each generation a collection serves or
//! builds, the leases that let a purge wait for the reads of a retired generation, and the
//! damage that loading an index found, until the write side repairs it.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, RwLock};

use super::catalog::Catalog;
use crate::collection::{CollectionConfig, CollectionId, CollectionRecord};
use crate::error::Result;
use crate::generation::GenerationId;
use crate::generation::Reader;
use crate::index::CollectionIndex;
use crate::keyword::{Delta, Postings};
use crate::search::{Documents, DocumentsDelta};
use crate::storage::Store;

/// In-memory state of one generation: its vector index, its keyword postings and its
/// documents as filters see them, each loaded on first use.
#[derive(Debug, Default)]
pub(crate) struct Runtime {
    pub(crate) index: RwLock<Option<CollectionIndex>>,
    keywords: RwLock<Option<Postings>>,
    documents: RwLock<Option<Documents>>,
}

/// Runs `f` on what `lock` holds, loaded with `load` first if it holds nothing. The load holds
/// the lock, so a write stored meanwhile waits to apply its change on top (applying is
/// idempotent, see [`Postings`] and [`Documents`]).
fn loaded<S, T>(
    lock: &RwLock<Option<S>>,
    load: impl FnOnce() -> Result<S>,
    f: impl FnOnce(&S) -> T,
) -> Result<T> {
    {
        let guard = lock.read().expect("runtime lock");
        if let Some(state) = guard.as_ref() {
            return Ok(f(state));
        }
    }
    let mut guard = lock.write().expect("runtime lock");
    if guard.is_none() {
        *guard = Some(load()?);
    }
    Ok(f(guard.as_ref().expect("loaded")))
}

impl Runtime {
    /// Runs `f` on generation `generation`'s keyword postings, read from `store` first if they
    /// are not in memory.
    pub(crate) fn with_postings<T>(
        &self,
        store: &dyn Store,
        generation: GenerationId,
        f: impl FnOnce(&Postings) -> T,
    ) -> Result<T> {
        loaded(&self.keywords, || Postings::load(store, generation), f)
    }

    /// Runs `f` on generation `generation`'s documents, read from `store` first if they are
    /// not in memory.
    pub(crate) fn with_documents<T>(
        &self,
        store: Arc<dyn Store>,
        generation: GenerationId,
        f: impl FnOnce(&Documents) -> T,
    ) -> Result<T> {
        let load = || Ok(Documents::new(Reader::new(store, generation).documents()?));
        loaded(&self.documents, load, f)
    }

    /// Applies a stored write's changes to what is in memory.
    pub(crate) fn apply(&self, keywords: &Delta, documents: &DocumentsDelta) {
        if let Some(postings) = self.keywords.write().expect("runtime lock").as_mut() {
            postings.apply(keywords);
        }
        if let Some(docs) = self.documents.write().expect("runtime lock").as_mut() {
            docs.apply(documents);
        }
    }
}

/// The runtimes and leases of every generation in use.
#[derive(Debug, Default)]
pub(crate) struct Generations {
    /// In-memory state per generation.
    runtimes: Mutex<HashMap<GenerationId, Arc<Runtime>>>,
    /// One lease per generation read now: held shared by every read of the generation's
    /// records, taken exclusively once by a purge so that it waits for the reads that started
    /// before the generation was retired. (Apart from `runtimes`, which a panic may reset.)
    leases: Mutex<HashMap<GenerationId, Arc<RwLock<()>>>>,
    /// Damaged index segments found by loads, for the write side to repair.
    pub(crate) damage: Damage,
}

/// Stored index segments that failed their checks when a generation's index was loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Damaged {
    pub(crate) collection: CollectionId,
    pub(crate) generation: GenerationId,
    /// How many segments were dropped (their vectors are searched exactly meanwhile).
    pub(crate) segments: usize,
}

/// The damage that loads reported and the write side has not taken yet. Whoever loads an
/// index (a search too) only reports here; `jobs::repair` takes the reports, marks the
/// collection degraded and queues the compaction that rebuilds the segments.
#[derive(Debug, Default)]
pub(crate) struct Damage {
    state: Mutex<(Vec<Damaged>, bool)>,
    wake: Condvar,
}

impl Damage {
    fn report(&self, damaged: Damaged) {
        let mut st = self.state.lock().expect("damage lock");
        st.0.push(damaged);
        self.wake.notify_all();
    }

    /// Waits for reports and takes them all; `None` once closed.
    pub(crate) fn take(&self) -> Option<Vec<Damaged>> {
        let mut st = self.state.lock().expect("damage lock");
        loop {
            if st.1 {
                return None;
            }
            if !st.0.is_empty() {
                return Some(std::mem::take(&mut st.0));
            }
            st = self.wake.wait(st).expect("damage lock");
        }
    }

    /// Wakes whoever waits in [`Damage::take`] for good.
    pub(crate) fn close(&self) {
        self.state.lock().expect("damage lock").1 = true;
        self.wake.notify_all();
    }
}

impl Generations {
    /// The in-memory state of generation `generation`.
    pub(crate) fn runtime(&self, generation: GenerationId) -> Arc<Runtime> {
        self.runtimes
            .lock()
            .expect("runtimes lock")
            .entry(generation)
            .or_default()
            .clone()
    }

    /// Drops the in-memory state of these generations; it is rebuilt from storage on next use.
    pub(crate) fn drop_runtimes(&self, generations: impl IntoIterator<Item = GenerationId>) {
        let mut runtimes = self.runtimes.lock().expect("runtimes lock");
        for generation in generations {
            runtimes.remove(&generation);
        }
    }

    /// Drops every runtime (at close).
    pub(crate) fn clear(&self) {
        self.runtimes.lock().expect("runtimes lock").clear();
    }

    /// Runs `f` with the collection's record and the runtime of the generation it serves,
    /// holding that generation's lease: a reindex that retires it waits for `f` before
    /// purging, so a read never sees a half-deleted generation.
    pub(crate) fn with_served<T>(
        &self,
        catalog: &Catalog,
        id: CollectionId,
        f: impl FnOnce(&CollectionRecord, &Arc<Runtime>) -> Result<T>,
    ) -> Result<T> {
        loop {
            let record = catalog.record(id)?;
            let lease = self.lease(record.generation());
            let _shared = lease.read().expect("lease lock");
            if catalog.record(id)?.generation() == record.generation() {
                return f(&record, &self.runtime(record.generation()));
            }
            // Retired between the two reads: read the new record. (The lease entry stays: a
            // retire may be about to wait on it. It is a few bytes per retired generation.)
        }
    }

    fn lease(&self, generation: GenerationId) -> Arc<RwLock<()>> {
        self.leases
            .lock()
            .expect("leases lock")
            .entry(generation)
            .or_default()
            .clone()
    }

    /// Waits for every read of generation `generation` that holds its lease (see
    /// [`Generations::with_served`]); the caller has already made it unreachable to new reads.
    pub(crate) fn retire(&self, generation: GenerationId) {
        let lease = self.lease(generation);
        drop(lease.write().expect("lease lock"));
        self.leases.lock().expect("leases lock").remove(&generation);
    }

    /// Loads the index of `collection`'s generation `generation` (of settings `config`) from
    /// `store` unless it is loaded; returns its runtime and whether this call loaded it. Stored
    /// segments that fail their checks are dropped (their vectors are searched exactly) and
    /// reported to [`Generations::damage`].
    pub(crate) fn ensure_index_of(
        &self,
        store: &dyn Store,
        collection: CollectionId,
        generation: GenerationId,
        config: &CollectionConfig,
    ) -> Result<(Arc<Runtime>, bool)> {
        let rt = self.runtime(generation);
        if rt.index.read().expect("index lock").is_some() {
            return Ok((rt, false));
        }
        let mut guard = rt.index.write().expect("index lock");
        if guard.is_some() {
            return Ok((rt.clone(), false));
        }
        let (index, report) = CollectionIndex::load(
            store,
            generation,
            config.index.clone(),
            config.dimension.unwrap_or(0),
        )?;
        *guard = Some(index);
        drop(guard);
        if report.dropped_segments > 0 {
            self.damage.report(Damaged {
                collection,
                generation,
                segments: report.dropped_segments,
            });
        }
        Ok((rt, true))
    }
}
