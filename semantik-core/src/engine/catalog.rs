//! The catalog: collection records, their names and their status.
//!
//! Every change of a record goes through here, under one lock, so that two changes of the
//! catalog (a create and a rename, a status change and a delete) never interleave.

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::collection::{
    CollectionConfig, CollectionId, CollectionRecord, CollectionStats, CollectionStatus,
    live_record, validate_name,
};
use crate::error::{Error, Result};
use crate::generation::GenerationId;
use crate::ops::EventKind;
use crate::source::SourceRecord;
use crate::storage::{self, StoreSlot, WriteBatch, keys};

/// Collection records, names and status.
#[derive(Debug)]
pub(crate) struct Catalog {
    store: Arc<StoreSlot>,
    max_collections: usize,
    /// Serialises catalog changes: create, rename, delete, metadata updates, status changes.
    lock: Mutex<()>,
}

impl Catalog {
    pub(crate) fn new(store: Arc<StoreSlot>, max_collections: usize) -> Self {
        Catalog {
            store,
            max_collections,
            lock: Mutex::new(()),
        }
    }

    /// The record of a live (not deleted) collection.
    pub(crate) fn record(&self, id: CollectionId) -> Result<CollectionRecord> {
        live_record(self.store.get()?.as_ref(), id)
    }

    /// The record of a collection, including one being deleted.
    pub(crate) fn record_any(&self, id: CollectionId) -> Result<Option<CollectionRecord>> {
        storage::get_json(
            self.store.get()?.as_ref(),
            "collection",
            &keys::collection(id.0),
        )
    }

    /// The counts of generation `generation`.
    pub(crate) fn stats(&self, generation: GenerationId) -> Result<CollectionStats> {
        Ok(storage::get_json(
            self.store.get()?.as_ref(),
            "collection stats",
            &keys::stats(generation),
        )?
        .unwrap_or_default())
    }

    /// The id of the collection named `name`.
    pub(crate) fn resolve_name(&self, name: &str) -> Result<CollectionId> {
        let not_found = || Error::CollectionNotFound {
            name: name.to_string(),
        };
        let bytes = self
            .store
            .get()?
            .get(&keys::collection_name(name))?
            .ok_or_else(not_found)?;
        let id =
            uuid::Uuid::from_slice(&bytes).map_err(|_| Error::corrupt("collection name index"))?;
        Ok(CollectionId(id))
    }

    /// Records a new collection of `config` (its model already resolved), named as it says.
    pub(crate) fn create(&self, config: CollectionConfig) -> Result<CollectionId> {
        validate_name(&config.name)?;
        let _guard = self.lock.lock().expect("catalog lock");
        let store = self.store.get()?;
        if store.get(&keys::collection_name(&config.name))?.is_some() {
            return Err(Error::CollectionExists { name: config.name });
        }
        let count = store.scan_prefix(&[keys::COLLECTION_NAME]).count();
        if count >= self.max_collections {
            return Err(Error::LimitExceeded {
                limit: "max_collections".into(),
                max: self.max_collections as u64,
            });
        }
        let id = CollectionId::new();
        let t = SystemTime::now();
        let record = CollectionRecord {
            id,
            config,
            status: CollectionStatus::Pending,
            status_message: Some("no documents yet".into()),
            created_at: t,
            updated_at: t,
            deleting: false,
            served: None,
            building: None,
            retired: Vec::new(),
        };
        let mut batch = WriteBatch::new();
        batch.put(
            keys::collection_name(&record.config.name),
            id.0.as_bytes().to_vec(),
        );
        batch.put_json(keys::collection(id.0), &record)?;
        batch.put_json(
            keys::stats(GenerationId::first_of(id)),
            &CollectionStats::default(),
        )?;
        store.apply(batch)?;
        store.flush()?;
        Ok(id)
    }

    /// The remembered sources of collection `id`, in path order.
    pub(crate) fn sources(&self, id: CollectionId) -> Result<Vec<SourceRecord>> {
        storage::scan_json(
            self.store.get()?.as_ref(),
            "source",
            &keys::in_collection(keys::SOURCE, id.0),
        )
    }

    /// The live collections' records, in id order.
    pub(crate) fn list(&self) -> Result<Vec<CollectionRecord>> {
        let records: Vec<CollectionRecord> = storage::scan_json(
            self.store.get()?.as_ref(),
            "collection",
            &[keys::COLLECTION],
        )?;
        Ok(records.into_iter().filter(|r| !r.deleting).collect())
    }

    /// Applies `f` to a live collection's record and stores it.
    pub(crate) fn update_record(
        &self,
        id: CollectionId,
        f: impl FnOnce(&mut CollectionRecord),
    ) -> Result<()> {
        let _guard = self.lock.lock().expect("catalog lock");
        let mut r = self.record(id)?;
        f(&mut r);
        r.updated_at = SystemTime::now();
        let mut batch = WriteBatch::new();
        batch.put_json(keys::collection(id.0), &r)?;
        self.store.get()?.apply(batch)
    }

    /// Renames a collection (its old name is free at once).
    pub(crate) fn rename(&self, id: CollectionId, new_name: &str) -> Result<()> {
        validate_name(new_name)?;
        let _guard = self.lock.lock().expect("catalog lock");
        let store = self.store.get()?;
        let mut r = self.record(id)?;
        if r.config.name == new_name {
            return Ok(());
        }
        if store.get(&keys::collection_name(new_name))?.is_some() {
            return Err(Error::CollectionExists {
                name: new_name.to_string(),
            });
        }
        let mut batch = WriteBatch::new();
        batch.delete(keys::collection_name(&r.config.name));
        batch.put(keys::collection_name(new_name), id.0.as_bytes().to_vec());
        r.config.name = new_name.to_string();
        r.updated_at = SystemTime::now();
        batch.put_json(keys::collection(id.0), &r)?;
        store.apply(batch)?;
        store.flush()
    }

    /// Applies `batch` and a change `f` of collection `id`'s record in one atomic batch,
    /// under the catalog lock (a collection gone or being deleted is left alone). Returns the
    /// status-change event to publish when `f` changed the status.
    pub(crate) fn apply_with_record(
        &self,
        id: CollectionId,
        mut batch: WriteBatch,
        f: impl FnOnce(&mut CollectionRecord),
    ) -> Result<Option<EventKind>> {
        let _guard = self.lock.lock().expect("catalog lock");
        let mut event = None;
        if let Some(mut r) = self.record_any(id)?.filter(|r| !r.deleting) {
            let before = r.clone();
            f(&mut r);
            if (r.status, &r.status_message) != (before.status, &before.status_message) {
                event = Some(EventKind::CollectionStatusChanged {
                    status: r.status,
                    message: r.status_message.clone(),
                });
            }
            if r != before {
                r.updated_at = SystemTime::now();
                batch.put_json(keys::collection(id.0), &r)?;
            }
        }
        if !batch.is_empty() {
            self.store.get()?.apply(batch)?;
        }
        Ok(event)
    }

    /// Marks a collection deleted (it disappears for users) and frees its name; returns its
    /// record, or `None` for a collection already gone or already being deleted (a retried
    /// delete).
    pub(crate) fn begin_delete(&self, id: CollectionId) -> Result<Option<CollectionRecord>> {
        let _guard = self.lock.lock().expect("catalog lock");
        let Some(mut r) = self.record_any(id)? else {
            return Ok(None);
        };
        if r.deleting {
            return Ok(None);
        }
        let store = self.store.get()?;
        let mut batch = WriteBatch::new();
        batch.delete(keys::collection_name(&r.config.name));
        r.deleting = true;
        r.updated_at = SystemTime::now();
        batch.put_json(keys::collection(id.0), &r)?;
        store.apply(batch)?;
        store.flush()?;
        Ok(Some(r))
    }
}
