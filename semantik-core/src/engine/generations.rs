//! Generations in memory: the runtime (vector index) of each generation a collection serves or
//! builds, and the leases that let a purge wait for the reads of a retired generation.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use uuid::Uuid;

use super::catalog::Catalog;
use crate::collection::{CollectionConfig, CollectionId, CollectionRecord};
use crate::error::Result;
use crate::index::CollectionIndex;
use crate::storage::Store;

/// In-memory state of one generation: its vector index, loaded on first use.
#[derive(Debug, Default)]
pub(crate) struct Runtime {
    pub(crate) index: RwLock<Option<CollectionIndex>>,
}

/// The runtimes and leases of every generation in use.
#[derive(Debug, Default)]
pub(crate) struct Generations {
    /// In-memory state per generation.
    runtimes: Mutex<HashMap<Uuid, Arc<Runtime>>>,
    /// One lease per generation read now: held shared by every read of the generation's
    /// records, taken exclusively once by a purge so that it waits for the reads that started
    /// before the generation was retired. (Apart from `runtimes`, which a panic may reset.)
    leases: Mutex<HashMap<Uuid, Arc<RwLock<()>>>>,
}

impl Generations {
    /// The in-memory state of generation `data`.
    pub(crate) fn runtime(&self, data: Uuid) -> Arc<Runtime> {
        self.runtimes
            .lock()
            .expect("runtimes lock")
            .entry(data)
            .or_default()
            .clone()
    }

    /// Drops the in-memory state of these generations; it is rebuilt from storage on next use.
    pub(crate) fn drop_runtimes(&self, generations: impl IntoIterator<Item = Uuid>) {
        let mut runtimes = self.runtimes.lock().expect("runtimes lock");
        for data in generations {
            runtimes.remove(&data);
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
            let lease = self.lease(record.data());
            let _shared = lease.read().expect("lease lock");
            if catalog.record(id)?.data() == record.data() {
                return f(&record, &self.runtime(record.data()));
            }
            // Retired between the two reads: read the new record. (The lease entry stays: a
            // retire may be about to wait on it. It is a few bytes per retired generation.)
        }
    }

    fn lease(&self, data: Uuid) -> Arc<RwLock<()>> {
        self.leases
            .lock()
            .expect("leases lock")
            .entry(data)
            .or_default()
            .clone()
    }

    /// Waits for every read of generation `data` that holds its lease (see
    /// [`Generations::with_served`]); the caller has already made it unreachable to new reads.
    pub(crate) fn retire(&self, data: Uuid) {
        let lease = self.lease(data);
        drop(lease.write().expect("lease lock"));
        self.leases.lock().expect("leases lock").remove(&data);
    }

    /// Loads the index of generation `data` (of settings `config`) from `store` unless it is
    /// loaded; returns its runtime and, when this call loaded it, how many stored segments it
    /// dropped as damaged.
    pub(crate) fn ensure_index_of(
        &self,
        store: &dyn Store,
        data: Uuid,
        config: &CollectionConfig,
    ) -> Result<(Arc<Runtime>, Option<usize>)> {
        let rt = self.runtime(data);
        if rt.index.read().expect("index lock").is_some() {
            return Ok((rt, None));
        }
        let mut guard = rt.index.write().expect("index lock");
        if guard.is_some() {
            return Ok((rt.clone(), None));
        }
        let (index, report) = CollectionIndex::load(
            store,
            data,
            config.index.clone(),
            config.dimension.unwrap_or(0),
        )?;
        *guard = Some(index);
        drop(guard);
        Ok((rt, Some(report.dropped_segments)))
    }
}
