//! The shared state of an open database, in parts with one job each: the [`Catalog`]
//! (collection records, names, status), the [`Generations`] (runtimes and leases), the
//! [`Models`] (embedder registry) and the operations registry ([`Operations`]: records, queue,
//! workers, events). The parts know nothing of each other; the few steps that need two of
//! them are the [`Engine`]'s methods. Opening, recovery and shutdown are in `db`.

pub(crate) mod catalog;
pub(crate) mod generations;
pub(crate) mod models;

use std::fs::File;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::collection::{
    CollectionConfig, CollectionId, CollectionInfo, CollectionRecord, CollectionStatus,
};
use crate::db::Config;
use crate::embed::EXTERNAL_MODEL;
use crate::error::{Error, Result};
use crate::generation::GenerationId;
use crate::ops::OperationId;
use crate::ops::registry::Operations;
use crate::storage::{Store, StoreSlot, WriteBatch};

pub(crate) use catalog::Catalog;
pub(crate) use generations::{Generations, Runtime};
pub(crate) use models::Models;

/// The shared state of an open database.
#[derive(Debug)]
pub(crate) struct Engine {
    pub(crate) path: PathBuf,
    pub(crate) config: Config,
    pub(crate) store: Arc<StoreSlot>,
    pub(crate) lock_file: Mutex<Option<File>>,
    /// The thread that repairs the damage reads report (see `jobs::repair`).
    pub(crate) repairs: Mutex<Option<JoinHandle<()>>>,
    pub(crate) catalog: Catalog,
    pub(crate) generations: Generations,
    pub(crate) models: Models,
    pub(crate) ops: Arc<Operations>,
    /// Serialises the writes of the accounts.
    pub(crate) account_writes: crate::accounts::Writes,
}

impl Engine {
    /// The store, unless the database is closed.
    pub(crate) fn store(&self) -> Result<Arc<dyn Store>> {
        self.store.get()
    }

    /// The record of a live collection.
    pub(crate) fn record(&self, id: CollectionId) -> Result<CollectionRecord> {
        self.catalog.record(id)
    }

    /// Runs `f` with the collection's record and the runtime of the generation it serves,
    /// holding that generation's lease (see [`Generations::with_served`]).
    pub(crate) fn with_served<T>(
        &self,
        id: CollectionId,
        f: impl FnOnce(&CollectionRecord, &Arc<Runtime>) -> Result<T>,
    ) -> Result<T> {
        self.generations.with_served(&self.catalog, id, f)
    }

    /// Settings, status and counts of a collection, as served.
    pub(crate) fn collection_info(&self, id: CollectionId) -> Result<CollectionInfo> {
        self.with_served(id, |record, _| {
            Ok(record
                .clone()
                .into_info(self.catalog.stats(record.generation())?))
        })
    }

    /// Sets a collection's status and publishes the change (if it is one).
    pub(crate) fn set_status(
        &self,
        id: CollectionId,
        op: Option<OperationId>,
        status: CollectionStatus,
        message: Option<String>,
    ) -> Result<()> {
        let event = self.catalog.apply_with_record(id, WriteBatch::new(), |r| {
            r.status = status;
            r.status_message = message;
        })?;
        if let Some(kind) = event {
            self.ops.bus.publish(id, op, kind);
        }
        Ok(())
    }

    /// Marks a collection deleted and drops its generations' runtimes.
    pub(crate) fn begin_delete(&self, id: CollectionId) -> Result<()> {
        if let Some(record) = self.catalog.begin_delete(id)? {
            self.generations.drop_runtimes(record.generations());
        }
        Ok(())
    }

    /// Drops the in-memory state of a collection's generations; it is rebuilt from storage on
    /// next use.
    pub(crate) fn forget_runtime(&self, id: CollectionId) {
        if let Ok(Some(record)) = self.catalog.record_any(id) {
            self.generations.drop_runtimes(record.generations());
        }
    }

    /// Checks a new collection's settings and resolves its model: loaded (downloaded if
    /// needed), its commit recorded and its dimension checked or taken.
    pub(crate) fn resolve_config(&self, config: &mut CollectionConfig) -> Result<()> {
        config.chunking.validate()?;
        config.index.validate()?;
        config.keyword.validate()?;
        if config.model == EXTERNAL_MODEL {
            return match config.dimension {
                None => Err(Error::invalid(
                    "a collection of external vectors needs a dimension",
                )),
                Some(0) => Err(Error::invalid("dimension must be at least 1")),
                Some(_) => Ok(()),
            };
        }
        let (embedder, spec) = self.models.load(&config.model_spec())?;
        config.model_revision = spec.revision;
        let known = embedder.dimension();
        match config.dimension {
            Some(0) => Err(Error::invalid("dimension must be at least 1")),
            Some(d) if d != known => Err(Error::DimensionMismatch {
                expected: known,
                got: d,
            }),
            _ => {
                config.dimension = Some(known);
                Ok(())
            }
        }
    }

    /// Loads the collection's index (stored graph segments joined with the stored vectors)
    /// unless it is loaded. A stored segment that fails its checks is dropped, its vectors
    /// searched exactly, and reported (see [`Generations::ensure_index_of`]); this read writes
    /// nothing.
    pub(crate) fn ensure_index(&self, record: &CollectionRecord) -> Result<Arc<Runtime>> {
        let generation = record.generation();
        let (rt, loaded) = self.ensure_index_of(record.id, generation, &record.config)?;
        // A reindex may have swapped generations since `record` was read: this caller still
        // gets the index it loaded, but it is not kept.
        if loaded && self.catalog.record(record.id)?.generation() != generation {
            self.generations.drop_runtimes([generation]);
        }
        Ok(rt)
    }

    /// Loads the index of `collection`'s generation `generation` (of settings `config`) unless
    /// it is loaded (see [`Generations::ensure_index_of`]); returns whether this call loaded it.
    pub(crate) fn ensure_index_of(
        &self,
        collection: CollectionId,
        generation: GenerationId,
        config: &CollectionConfig,
    ) -> Result<(Arc<Runtime>, bool)> {
        self.generations
            .ensure_index_of(self.store()?.as_ref(), collection, generation, config)
    }
}
