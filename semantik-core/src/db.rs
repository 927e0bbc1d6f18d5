//! The database: one directory, one process, many collections.
//!
//! [`Database`] is the public facade; [`Engine`] is the shared state behind every handle
//! (collections and operations hold it too). Catalog changes (create, rename, delete) are
//! serialised by one lock; data writes go through operations.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use crate::collection::{
    Collection, CollectionConfig, CollectionId, CollectionInfo, CollectionRecord, CollectionStats,
    CollectionStatus, validate_name,
};
use crate::document::{
    Chunk, ChunkRecord, Document, DocumentInput, DocumentStatus, Metadata, StagedDocument,
};
use crate::embed::{self, EXTERNAL_MODEL, Embedder};
use crate::error::{Error, ErrorInfo, Result};
use crate::index::CollectionIndex;
use crate::ops::scheduler::Scheduler;
use crate::ops::{
    EventBus, EventKind, Filter, OpParams, OpState, Operation, OperationFilter, OperationId,
    OperationInfo, OperationKind, OperationRecord, OperationStatus, Progress, Subscription,
};
use crate::search::MultiSearch;
use crate::source::{SourceOptions, SourceRecord};
use crate::storage::{self, Store, WriteBatch, format, keys};
use crate::verify::VerifyReport;

/// Name of the lock file inside a database directory.
const LOCK_FILE: &str = "semantik.lock";
/// Name of the storage directory inside a database directory.
const DATA_DIR: &str = "data";

/// Settings of an open database (not persisted).
///
/// ```
/// use std::time::Duration;
/// let c = semantik_core::Config::new()
///     .with_max_concurrent_operations(4)
///     .with_operation_timeout(Some(Duration::from_secs(600)));
/// assert_eq!(c.max_concurrent_operations, 4);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Config {
    /// Operations that run at the same time, across collections (default 2).
    pub max_concurrent_operations: usize,
    /// Longest an operation may run before it fails with [`Error::TimedOut`] (default none).
    pub operation_timeout: Option<Duration>,
    /// Most collections the database may hold (default 1,000).
    pub max_collections: usize,
    /// Most bytes of source content one collection may hold (default unlimited).
    pub max_collection_bytes: Option<u64>,
    /// Name of the collection [`Database::default_collection`] returns (default `"default"`).
    pub default_collection_name: String,
    /// Where embedding models run (default the CPU).
    pub device: embed::Device,
    /// Where models come from: the Hub, its cache, the offline switch (default: from the
    /// environment, see [`HubConfig::from_env`](embed::HubConfig::from_env)).
    pub hub: embed::HubConfig,
    /// Faults injected into storage (tests only).
    #[cfg(feature = "testing")]
    pub(crate) faults: Option<crate::Faults>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_concurrent_operations: 2,
            operation_timeout: None,
            max_collections: 1000,
            max_collection_bytes: None,
            default_collection_name: "default".into(),
            device: embed::Device::Cpu,
            hub: embed::HubConfig::from_env(),
            #[cfg(feature = "testing")]
            faults: None,
        }
    }
}

impl Config {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets how many operations run at once (at least 1).
    pub fn with_max_concurrent_operations(mut self, n: usize) -> Self {
        self.max_concurrent_operations = n.max(1);
        self
    }
    /// Sets the time limit of operations.
    pub fn with_operation_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.operation_timeout = timeout;
        self
    }
    /// Sets the most collections.
    pub fn with_max_collections(mut self, n: usize) -> Self {
        self.max_collections = n;
        self
    }
    /// Sets the most bytes of source content per collection.
    pub fn with_max_collection_bytes(mut self, bytes: Option<u64>) -> Self {
        self.max_collection_bytes = bytes;
        self
    }
    /// Sets where embedding models run.
    pub fn with_device(mut self, device: embed::Device) -> Self {
        self.device = device;
        self
    }
    /// Sets where models come from.
    pub fn with_hub(mut self, hub: embed::HubConfig) -> Self {
        self.hub = hub;
        self
    }
    /// Never downloads models: one missing from the caches is [`Error::ModelNotFound`]
    /// (also set by `HF_HUB_OFFLINE=1`).
    pub fn with_offline(mut self, offline: bool) -> Self {
        self.hub.offline = offline;
        self
    }
    /// Sets the default collection's name.
    pub fn with_default_collection_name(mut self, name: impl Into<String>) -> Self {
        self.default_collection_name = name.into();
        self
    }
    /// Injects `faults` into the database's storage (feature `testing`).
    #[cfg(feature = "testing")]
    pub fn with_faults(mut self, faults: crate::Faults) -> Self {
        self.faults = Some(faults);
        self
    }
}

/// An open semantik database. Cheap to clone; closed (and flushed) when the last clone is
/// dropped or [`Database::close`] is called.
///
/// ```
/// use semantik_core::{CollectionConfig, Database};
/// let dir = tempfile::tempdir()?;
/// let db = Database::open(dir.path())?;
/// db.create_collection(CollectionConfig::new("docs").with_external_vectors(3))?;
/// assert_eq!(db.collections()?.len(), 1);
/// db.close()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Database {
    handle: Arc<DbHandle>,
}

#[derive(Debug)]
struct DbHandle {
    engine: Arc<Engine>,
}

impl Drop for DbHandle {
    fn drop(&mut self) {
        let _ = self.engine.shutdown();
    }
}

impl Database {
    /// Opens (creating if needed) the database in directory `path`, with default settings.
    ///
    /// # Errors
    /// As [`Database::open_with`].
    pub fn open(path: impl AsRef<Path>) -> Result<Database> {
        Self::open_with(path, Config::default())
    }

    /// Opens (creating if needed) the database in directory `path`.
    ///
    /// Operations that a crash interrupted are marked failed with [`Error::Interrupted`];
    /// [`Operation::retry`] runs them again.
    ///
    /// # Errors
    /// [`Error::DatabaseLocked`] when another process or handle has it open (returned at once,
    /// never blocking); [`Error::NotADatabase`] for a directory with other content;
    /// [`Error::UnsupportedFormat`] for a database of a newer semantik; storage errors.
    pub fn open_with(path: impl AsRef<Path>, config: Config) -> Result<Database> {
        let engine = Engine::open(path.as_ref(), config)?;
        Scheduler::start(&engine);
        Ok(Database {
            handle: Arc::new(DbHandle { engine }),
        })
    }

    /// Flushes and closes the database. Queued operations are cancelled; running ones stop at
    /// their next document boundary and end `cancelled`. Other handles stop working.
    ///
    /// # Errors
    /// A storage error from the final flush.
    pub fn close(self) -> Result<()> {
        self.handle.engine.shutdown()
    }

    /// The database directory.
    pub fn path(&self) -> &Path {
        &self.handle.engine.path
    }

    /// The settings it was opened with.
    pub fn config(&self) -> &Config {
        &self.handle.engine.config
    }

    pub(crate) fn engine(&self) -> &Arc<Engine> {
        &self.handle.engine
    }

    /// Starts a search for `query` over the collections named `collections` (see
    /// [`MultiSearch`]).
    pub fn search<S: AsRef<str>>(&self, collections: &[S], query: &str) -> MultiSearch {
        let names = collections.iter().map(|c| c.as_ref().to_string()).collect();
        MultiSearch::new(self.engine().clone(), names, query)
    }

    fn handle_for(&self, id: CollectionId) -> Collection {
        Collection {
            engine: self.engine().clone(),
            id,
        }
    }

    /// Creates a collection.
    ///
    /// # Errors
    /// [`Error::InvalidName`], [`Error::CollectionExists`], [`Error::LimitExceeded`] (too many
    /// collections), [`Error::DimensionMismatch`] (dimension disagrees with the model),
    /// [`Error::InvalidArgument`] (bad chunking settings, external vectors without dimension).
    pub fn create_collection(&self, config: CollectionConfig) -> Result<Collection> {
        let id = self.engine().create_collection(config)?;
        Ok(self.handle_for(id))
    }

    /// Every collection, in creation order.
    ///
    /// # Errors
    /// Storage errors.
    pub fn collections(&self) -> Result<Vec<CollectionInfo>> {
        self.engine().list_collections()
    }

    /// The collection named `name`.
    ///
    /// # Errors
    /// [`Error::CollectionNotFound`].
    pub fn collection(&self, name: &str) -> Result<Collection> {
        let id = self.engine().resolve_name(name)?;
        Ok(self.handle_for(id))
    }

    /// The collection with id `id`.
    ///
    /// # Errors
    /// [`Error::CollectionNotFound`].
    pub fn collection_by_id(&self, id: CollectionId) -> Result<Collection> {
        self.engine().record(id)?;
        Ok(self.handle_for(id))
    }

    /// The default collection ([`Config::default_collection_name`]), created with default
    /// settings on first use.
    ///
    /// # Errors
    /// As [`Database::create_collection`].
    pub fn default_collection(&self) -> Result<Collection> {
        let name = &self.engine().config.default_collection_name;
        match self.collection(name) {
            Err(Error::CollectionNotFound { .. }) => {
                match self.create_collection(CollectionConfig::new(name.clone())) {
                    Err(Error::CollectionExists { .. }) => self.collection(name),
                    other => other,
                }
            }
            other => other,
        }
    }

    /// Deletes a collection and its data, as an operation. The collection disappears for
    /// users when the operation starts.
    ///
    /// # Errors
    /// [`Error::CollectionNotFound`].
    pub fn delete_collection(&self, name: &str) -> Result<Operation> {
        let id = self.engine().resolve_name(name)?;
        self.engine().new_operation(
            id,
            OperationKind::Delete,
            OpParams::Delete,
            WriteBatch::new(),
        )
    }

    /// The operation with id `id` (running or from the past).
    ///
    /// # Errors
    /// [`Error::OperationNotFound`].
    pub fn operation(&self, id: OperationId) -> Result<Operation> {
        let state = self.engine().operation_state(id)?;
        Ok(Operation {
            engine: self.engine().clone(),
            state,
        })
    }

    /// Operations of every collection, oldest first.
    ///
    /// # Errors
    /// Storage errors.
    pub fn operations(&self, filter: OperationFilter) -> Result<Vec<OperationInfo>> {
        self.engine().list_operations(filter)
    }

    /// Finds model `name` at `revision` (a commit, tag or branch; `None`: what is installed,
    /// else `main`) as collections do, downloading it from the Hub into the Hugging Face cache
    /// unless this database is offline ([`Config::with_offline`]); `progress` is told of each
    /// file's bytes as they arrive. Creating a collection fetches its model too; call this
    /// first to show a download's progress or to fetch a model ahead of time.
    ///
    /// ```no_run
    /// let db = semantik_core::Database::open("db")?;
    /// let found = db.fetch_model("sentence-transformers/all-MiniLM-L6-v2", None, &mut |p| {
    ///     eprintln!("{}: {} of {} bytes", p.file, p.bytes, p.total);
    /// })?;
    /// println!("{} at {:?}", found.dir.display(), found.revision);
    /// # Ok::<(), semantik_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`embed::locate_model`].
    pub fn fetch_model(
        &self,
        name: &str,
        revision: Option<&str>,
        progress: &mut dyn FnMut(&embed::DownloadProgress),
    ) -> Result<embed::ModelLocation> {
        embed::locate_model(name, revision, &self.engine().config.hub, progress)
    }

    /// Makes `embedder` the implementation of its [`Embedder::model_name`] for this database:
    /// collections that name that model embed with it. Use it to bring your own model.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use semantik_core::{CollectionConfig, Database, embed::HashEmbedder};
    /// let dir = tempfile::tempdir()?;
    /// let db = Database::open(dir.path())?;
    /// db.register_embedder(Arc::new(HashEmbedder::new(8)));
    /// let col = db.create_collection(CollectionConfig::new("c").with_model("semantik-test/hash-8"))?;
    /// assert_eq!(col.info()?.dimension(), 8);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn register_embedder(&self, embedder: Arc<dyn Embedder>) {
        self.engine()
            .embedders
            .lock()
            .expect("embedders lock")
            .insert(embedder.model_name().to_string(), embedder);
    }

    /// Subscribes to every event of the database.
    pub fn events(&self) -> Subscription {
        self.engine().bus.subscribe(Filter::All, None)
    }

    /// Bytes the database occupies on disk.
    ///
    /// # Errors
    /// Storage errors.
    pub fn size_on_disk(&self) -> Result<u64> {
        self.engine().store()?.size_on_disk()
    }

    /// Checks every internal invariant of the stored data and reports each violation (see
    /// [`VerifyReport`]). Read-only; it reads a snapshot, so operations may keep running.
    /// An `Err` means the data could not be read at all, not that it is inconsistent.
    pub fn verify(&self) -> Result<VerifyReport> {
        let snapshot = self.engine().store()?.snapshot()?;
        crate::verify::verify(snapshot.as_ref())
    }

    /// Writes a consistent snapshot of the whole database to the new file `dest`, while
    /// operations keep running (a write waits at most for the snapshot to be registered).
    /// Returns the number of records written. The file is complete once this returns, or
    /// absent; restore it with [`Database::restore`].
    ///
    /// ```
    /// use semantik_core::{CollectionConfig, Database};
    /// let dir = tempfile::tempdir()?;
    /// let db = Database::open(dir.path().join("db"))?;
    /// let c = db.create_collection(CollectionConfig::new("c").with_model("semantik-test/hash-8"))?;
    /// c.add_texts(["kept in the backup"])?.wait(None)?;
    /// db.backup(dir.path().join("db.backup"))?;
    /// Database::restore(dir.path().join("db.backup"), dir.path().join("copy"))?;
    /// let copy = Database::open(dir.path().join("copy"))?;
    /// assert_eq!(copy.collection("c")?.stats()?.documents, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn backup(&self, dest: impl AsRef<Path>) -> Result<u64> {
        let snapshot = self.engine().store()?.snapshot()?;
        storage::backup::write(snapshot.as_ref(), dest.as_ref())
    }

    /// Restores the backup file `src` as a new database in `dest` (which must not exist or
    /// be an empty directory) and verifies it, holding the new database's lock throughout. A
    /// backup written by a newer semantik is refused with [`Error::UnsupportedFormat`]; a
    /// damaged or incomplete one with [`Error::Corrupt`]; an older format is migrated. On
    /// failure `dest` is left as it was. Operations that were running when the backup was
    /// taken are marked interrupted when the restored database is first opened, and can be
    /// retried there.
    pub fn restore(src: impl AsRef<Path>, dest: impl AsRef<Path>) -> Result<()> {
        let (src, dest) = (src.as_ref(), dest.as_ref());
        let io = |e: std::io::Error| {
            Error::storage(format!("cannot restore into {}", dest.display()), e)
        };
        let existed = dest.exists();
        if existed && std::fs::read_dir(dest).map_err(io)?.next().is_some() {
            return Err(Error::invalid(format!(
                "{} is not empty; a restore needs a new directory",
                dest.display()
            )));
        }
        std::fs::create_dir_all(dest).map_err(io)?;
        let lock_path = dest.join(LOCK_FILE);
        let partial = dest.join("data.partial");
        let result = (|| {
            let lock = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lock_path)
                .map_err(io)?;
            lock.try_lock().map_err(|_| Error::DatabaseLocked {
                path: dest.to_path_buf(),
            })?;
            let store = storage::backup::restore(src, &partial)?;
            format::prepare(store.as_ref(), dest)?;
            let report = crate::verify::verify(store.as_ref())?;
            if let Some(v) = report.violations.first() {
                return Err(Error::corrupt(format!(
                    "the restored database fails verify ({} violations): {v}",
                    report.violations.len()
                )));
            }
            store.flush()?;
            drop(store);
            std::fs::rename(&partial, dest.join(DATA_DIR)).map_err(io)?;
            drop(lock);
            Ok(())
        })();
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&partial);
            let _ = std::fs::remove_file(&lock_path);
            if !existed {
                let _ = std::fs::remove_dir(dest);
            }
        }
        result
    }
}

/// In-memory state of one collection: its vector index, loaded on first search.
#[derive(Debug, Default)]
pub(crate) struct Runtime {
    pub(crate) index: RwLock<Option<CollectionIndex>>,
}

/// The shared state of an open database.
#[derive(Debug)]
pub(crate) struct Engine {
    pub(crate) path: PathBuf,
    pub(crate) config: Config,
    store: RwLock<Option<Arc<dyn Store>>>,
    lock_file: Mutex<Option<File>>,
    /// Serialises catalog changes: create, rename, delete, metadata updates, status changes.
    catalog: Mutex<()>,
    /// In-memory state per generation.
    runtimes: Mutex<HashMap<uuid::Uuid, Arc<Runtime>>>,
    /// One lease per generation read now: held shared by every read of the generation's
    /// records, taken exclusively once by a purge so that it waits for the reads that started
    /// before the generation was retired. (Apart from `runtimes`, which a panic may reset.)
    leases: Mutex<HashMap<uuid::Uuid, Arc<RwLock<()>>>>,
    /// Embedders the host registered, by model name.
    embedders: Mutex<HashMap<String, Arc<dyn Embedder>>>,
    /// Models loaded, by the spec they were loaded for.
    models: Mutex<HashMap<embed::ModelSpec, Arc<dyn Embedder>>>,
    ops: Mutex<HashMap<OperationId, Arc<OpState>>>,
    pub(crate) bus: EventBus,
    pub(crate) scheduler: Scheduler,
    closed: AtomicBool,
}

fn now() -> SystemTime {
    SystemTime::now()
}

impl Engine {
    fn open(path: &Path, config: Config) -> Result<Arc<Engine>> {
        let io = |context: &str, e: std::io::Error| {
            Error::storage(format!("{context} {}", path.display()), e)
        };
        if path.exists() {
            if !path.is_dir() {
                return Err(Error::NotADatabase {
                    path: path.to_path_buf(),
                });
            }
            let has_data = path.join(DATA_DIR).is_dir();
            let empty = std::fs::read_dir(path)
                .map_err(|e| io("cannot list", e))?
                .next()
                .is_none();
            if !has_data && !empty {
                return Err(Error::NotADatabase {
                    path: path.to_path_buf(),
                });
            }
        } else {
            std::fs::create_dir_all(path).map_err(|e| io("cannot create", e))?;
        }
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path.join(LOCK_FILE))
            .map_err(|e| io("cannot open lock file in", e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(Error::DatabaseLocked {
                    path: path.to_path_buf(),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io("cannot lock", e)),
        }
        #[cfg(feature = "testing")]
        let store = match &config.faults {
            Some(f) => storage::open_sled_with_faults(&path.join(DATA_DIR), f)?,
            None => storage::open_sled(&path.join(DATA_DIR))?,
        };
        #[cfg(not(feature = "testing"))]
        let store = storage::open_sled(&path.join(DATA_DIR))?;
        format::prepare(store.as_ref(), path)?;
        let engine = Arc::new(Engine {
            path: path.to_path_buf(),
            scheduler: Scheduler::new(config.max_concurrent_operations),
            config,
            store: RwLock::new(Some(store)),
            lock_file: Mutex::new(Some(lock)),
            catalog: Mutex::new(()),
            runtimes: Mutex::new(HashMap::new()),
            leases: Mutex::new(HashMap::new()),
            embedders: Mutex::new(HashMap::new()),
            models: Mutex::new(HashMap::new()),
            ops: Mutex::new(HashMap::new()),
            bus: EventBus::default(),
            closed: AtomicBool::new(false),
        });
        engine.recover()?;
        Ok(engine)
    }

    /// Marks operations that were pending or running when the database was last closed
    /// uncleanly as failed (interrupted), and their collections as `error`; a delete whose
    /// collection is gone is recorded as completed.
    fn recover(&self) -> Result<()> {
        let store = self.store()?;
        let mut batch = WriteBatch::new();
        let mut touched: HashMap<CollectionId, String> = HashMap::new();
        for mut rec in
            storage::scan_json::<OperationRecord>(store.as_ref(), "operation", &[keys::OPERATION])?
        {
            if rec.info.status.is_terminal() {
                continue;
            }
            rec.info.finished_at = Some(now());
            if matches!(rec.params, OpParams::Delete)
                && store
                    .get(&keys::collection(rec.info.collection_id.0))?
                    .is_none()
            {
                // Its closing write, the removal of the record, committed: a delete whose
                // outcome a database of an earlier version wrote apart from it.
                rec.info.status = OperationStatus::Completed;
                rec.info.progress.phase = crate::ops::Phase::Done;
                rec.info.note = Some("completed at recovery: the collection was gone".into());
                batch.put_json(keys::operation(rec.info.id.0), &rec)?;
                continue;
            }
            let err = Error::Interrupted {
                reason: format!(
                    "the database was not closed cleanly while this operation was {}",
                    if rec.info.status == OperationStatus::Pending {
                        "queued"
                    } else {
                        "running"
                    }
                ),
            };
            rec.info.status = OperationStatus::Failed;
            rec.info.error = Some(ErrorInfo::from(&err));
            touched.insert(
                rec.info.collection_id,
                format!("operation {} was interrupted; retry it", rec.info.id),
            );
            batch.put_json(keys::operation(rec.info.id.0), &rec)?;
        }
        for (id, message) in touched {
            if let Some(mut r) = storage::get_json::<CollectionRecord>(
                store.as_ref(),
                "collection",
                &keys::collection(id.0),
            )? && !r.deleting
            {
                r.status = CollectionStatus::Error;
                r.status_message = Some(message);
                r.updated_at = now();
                batch.put_json(keys::collection(id.0), &r)?;
            }
        }
        if !batch.is_empty() {
            store.apply(batch)?;
            store.flush()?;
        }
        Ok(())
    }

    /// Stops workers, cancels operations, flushes and releases the directory. Idempotent.
    pub(crate) fn shutdown(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        for op in self.scheduler.drain_pending() {
            self.finish_cancelled_pending(&op, "database closed");
        }
        for op in self.ops.lock().expect("ops lock").values() {
            op.request_cancel("database closed");
        }
        self.scheduler.stop_and_join();
        // Anything a worker did not get to (it was stopping) is cancelled too.
        for op in self.scheduler.drain_pending() {
            self.finish_cancelled_pending(&op, "database closed");
        }
        self.bus.close();
        let store = self.store.write().expect("store lock").take();
        let result = match &store {
            Some(s) => s.flush(),
            None => Ok(()),
        };
        drop(store);
        self.runtimes.lock().expect("runtimes lock").clear();
        self.lock_file.lock().expect("lock file lock").take();
        result
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// The store, unless the database is closed.
    pub(crate) fn store(&self) -> Result<Arc<dyn Store>> {
        self.store
            .read()
            .expect("store lock")
            .clone()
            .ok_or(Error::DatabaseClosed)
    }

    // ----- catalog -----

    /// The record of a live (not deleted) collection.
    pub(crate) fn record(&self, id: CollectionId) -> Result<CollectionRecord> {
        self.record_any(id)?
            .filter(|r| !r.deleting)
            .ok_or_else(|| Error::CollectionNotFound {
                name: id.to_string(),
            })
    }

    /// The record of a collection, including one being deleted.
    pub(crate) fn record_any(&self, id: CollectionId) -> Result<Option<CollectionRecord>> {
        storage::get_json(
            self.store()?.as_ref(),
            "collection",
            &keys::collection(id.0),
        )
    }

    /// The counts of generation `data`.
    pub(crate) fn stats(&self, data: uuid::Uuid) -> Result<CollectionStats> {
        Ok(storage::get_json(
            self.store()?.as_ref(),
            "collection stats",
            &keys::stats(data),
        )?
        .unwrap_or_default())
    }

    pub(crate) fn collection_info(&self, id: CollectionId) -> Result<CollectionInfo> {
        self.with_served(id, |record, _| {
            Ok(record.clone().into_info(self.stats(record.data())?))
        })
    }

    pub(crate) fn resolve_name(&self, name: &str) -> Result<CollectionId> {
        let not_found = || Error::CollectionNotFound {
            name: name.to_string(),
        };
        let bytes = self
            .store()?
            .get(&keys::collection_name(name))?
            .ok_or_else(not_found)?;
        let id =
            uuid::Uuid::from_slice(&bytes).map_err(|_| Error::corrupt("collection name index"))?;
        Ok(CollectionId(id))
    }

    /// Checks `config`'s chunking and index settings and sets its dimension from its model
    /// (checking a given one against it).
    /// Checks a new collection's settings and resolves its model: loaded (downloaded if
    /// needed), its commit recorded and its dimension checked or taken.
    fn resolve_config(&self, config: &mut CollectionConfig) -> Result<()> {
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
        let (embedder, spec) = self.load_model(&config.model_spec())?;
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

    fn create_collection(&self, mut config: CollectionConfig) -> Result<CollectionId> {
        validate_name(&config.name)?;
        self.resolve_config(&mut config)?;
        let _guard = self.catalog.lock().expect("catalog lock");
        let store = self.store()?;
        if store.get(&keys::collection_name(&config.name))?.is_some() {
            return Err(Error::CollectionExists { name: config.name });
        }
        let count = store.scan_prefix(&[keys::COLLECTION_NAME]).count();
        if count >= self.config.max_collections {
            return Err(Error::LimitExceeded {
                limit: "max_collections".into(),
                max: self.config.max_collections as u64,
            });
        }
        let id = CollectionId::new();
        let t = now();
        let record = CollectionRecord {
            id,
            config,
            status: CollectionStatus::Pending,
            status_message: Some("no documents yet".into()),
            created_at: t,
            updated_at: t,
            deleting: false,
            generation: None,
            building: None,
            retired: Vec::new(),
        };
        let mut batch = WriteBatch::new();
        batch.put(
            keys::collection_name(&record.config.name),
            id.0.as_bytes().to_vec(),
        );
        batch.put_json(keys::collection(id.0), &record)?;
        batch.put_json(keys::stats(id.0), &CollectionStats::default())?;
        store.apply(batch)?;
        store.flush()?;
        Ok(id)
    }

    fn list_collections(&self) -> Result<Vec<CollectionInfo>> {
        let store = self.store()?;
        let mut out = Vec::new();
        for r in storage::scan_json::<CollectionRecord>(
            store.as_ref(),
            "collection",
            &[keys::COLLECTION],
        )? {
            if r.deleting {
                continue;
            }
            let stats = self.stats(r.data())?;
            out.push(r.into_info(stats));
        }
        Ok(out)
    }

    /// Applies `f` to a live collection's record and stores it.
    pub(crate) fn update_record(
        &self,
        id: CollectionId,
        f: impl FnOnce(&mut CollectionRecord),
    ) -> Result<()> {
        let _guard = self.catalog.lock().expect("catalog lock");
        let mut r = self.record(id)?;
        f(&mut r);
        r.updated_at = now();
        let mut batch = WriteBatch::new();
        batch.put_json(keys::collection(id.0), &r)?;
        self.store()?.apply(batch)
    }

    pub(crate) fn rename_collection(&self, id: CollectionId, new_name: &str) -> Result<()> {
        validate_name(new_name)?;
        let _guard = self.catalog.lock().expect("catalog lock");
        let store = self.store()?;
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
        r.updated_at = now();
        batch.put_json(keys::collection(id.0), &r)?;
        store.apply(batch)?;
        store.flush()
    }

    /// Sets a collection's status and publishes the change (if it is one).
    pub(crate) fn set_status(
        &self,
        id: CollectionId,
        op: Option<OperationId>,
        status: CollectionStatus,
        message: Option<String>,
    ) -> Result<()> {
        let event = self.apply_with_record(id, WriteBatch::new(), |r| {
            r.status = status;
            r.status_message = message;
        })?;
        if let Some(kind) = event {
            self.bus.publish(id, op, kind);
        }
        Ok(())
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
        let _guard = self.catalog.lock().expect("catalog lock");
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
                r.updated_at = now();
                batch.put_json(keys::collection(id.0), &r)?;
            }
        }
        if !batch.is_empty() {
            self.store()?.apply(batch)?;
        }
        Ok(event)
    }

    /// Marks a collection deleted (it disappears for users) and frees its name. A collection
    /// already gone (a retried delete that had finished) is left as it is.
    pub(crate) fn begin_delete(&self, id: CollectionId) -> Result<()> {
        let _guard = self.catalog.lock().expect("catalog lock");
        let Some(mut r) = self.record_any(id)? else {
            return Ok(());
        };
        if r.deleting {
            return Ok(());
        }
        let store = self.store()?;
        let mut batch = WriteBatch::new();
        batch.delete(keys::collection_name(&r.config.name));
        r.deleting = true;
        r.updated_at = now();
        batch.put_json(keys::collection(id.0), &r)?;
        store.apply(batch)?;
        store.flush()?;
        let mut runtimes = self.runtimes.lock().expect("runtimes lock");
        for data in r.generations() {
            runtimes.remove(&data);
        }
        Ok(())
    }

    // ----- documents -----

    pub(crate) fn documents(&self, id: CollectionId) -> Result<Vec<Document>> {
        let store = self.store()?;
        let mut docs: Vec<Document> = self.with_served(id, |record, _| {
            storage::scan_json(
                store.as_ref(),
                "document",
                &keys::in_collection(keys::DOCUMENT, record.data()),
            )
        })?;
        let mut known: std::collections::HashSet<String> =
            docs.iter().map(|d| d.id.clone()).collect();
        for (_, v) in store
            .scan_prefix(&keys::in_collection(keys::STAGED, id.0))
            .collect::<Result<Vec<_>>>()?
        {
            let staged: StagedDocument = storage::decode_json("staged document", &v)?;
            // Listed once, even when several queued operations carry the same id.
            if known.insert(staged.id.clone()) {
                docs.push(pending_document(&staged));
            }
        }
        docs.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(docs)
    }

    pub(crate) fn document(&self, id: CollectionId, doc_id: &str) -> Result<Document> {
        let store = self.store()?;
        let key = |data| keys::in_collection_with(keys::DOCUMENT, data, doc_id.as_bytes());
        let served = self.with_served(id, |record, _| {
            storage::get_json(store.as_ref(), "document", &key(record.data()))
        })?;
        if let Some(d) = served {
            return Ok(d);
        }
        self.documents(id)?
            .into_iter()
            .find(|d| d.id == doc_id)
            .ok_or_else(|| Error::DocumentNotFound {
                id: doc_id.to_string(),
            })
    }

    pub(crate) fn chunks(&self, id: CollectionId, doc_id: &str) -> Result<Vec<Chunk>> {
        self.with_served(id, |record, _| self.chunks_of(record.data(), doc_id))
    }

    pub(crate) fn text(&self, id: CollectionId, doc_id: &str) -> Result<String> {
        let store = self.store()?;
        self.with_served(id, |record, _| {
            let stored: Option<crate::document::StoredText> = storage::get_json(
                store.as_ref(),
                "document text",
                &keys::document_text(record.data(), doc_id),
            )?;
            match stored {
                Some(t) => Ok(t.text),
                // Documents stored with their vectors (and those of formats before 3) keep
                // their text in their chunks only.
                None => {
                    let chunks = self.chunks_of(record.data(), doc_id)?;
                    Ok(chunks
                        .into_iter()
                        .map(|c| c.text)
                        .collect::<Vec<_>>()
                        .join("\n\n"))
                }
            }
        })
    }

    fn chunks_of(&self, data: uuid::Uuid, doc_id: &str) -> Result<Vec<Chunk>> {
        let store = self.store()?;
        let doc: Document = storage::get_json(
            store.as_ref(),
            "document",
            &keys::in_collection_with(keys::DOCUMENT, data, doc_id.as_bytes()),
        )?
        .ok_or_else(|| Error::DocumentNotFound {
            id: doc_id.to_string(),
        })?;
        let first = doc.first_chunk;
        let end = first + u64::from(doc.chunk_count);
        store
            .scan_range(&keys::chunk(data, first), &keys::chunk(data, end))
            .map(|entry| {
                let (k, v) = entry?;
                let c: ChunkRecord = storage::decode_json("chunk", &v)?;
                Ok((c.document_id == doc.id).then(|| Chunk {
                    id: keys::chunk_id_of(&k).unwrap_or_default(),
                    index: c.index,
                    start: c.start,
                    end: c.end,
                    text: c.text,
                    page: c.page,
                    headings: c.headings,
                }))
            })
            .filter_map(Result::transpose)
            .collect()
    }

    // ----- operations -----

    /// Persists a new operation (with `extra` writes, atomically), queues it and returns its
    /// handle.
    pub(crate) fn new_operation(
        self: &Arc<Self>,
        collection_id: CollectionId,
        kind: OperationKind,
        params: OpParams,
        extra: WriteBatch,
    ) -> Result<Operation> {
        self.new_operation_with(collection_id, kind, params, extra, None, OperationId::new())
    }

    fn new_operation_with(
        self: &Arc<Self>,
        collection_id: CollectionId,
        kind: OperationKind,
        params: OpParams,
        mut batch: WriteBatch,
        retry_of: Option<OperationId>,
        id: OperationId,
    ) -> Result<Operation> {
        if self.is_closed() {
            return Err(Error::DatabaseClosed);
        }
        let record = OperationRecord {
            info: OperationInfo {
                id,
                collection_id,
                kind,
                status: OperationStatus::Pending,
                error: None,
                progress: Progress::default(),
                created_at: now(),
                started_at: None,
                finished_at: None,
                retry_of,
                note: None,
            },
            params,
        };
        batch.put_json(keys::operation(id.0), &record)?;
        let store = self.store()?;
        store.apply(batch)?;
        store.flush()?;
        let state = Arc::new(OpState::new(record));
        self.ops.lock().expect("ops lock").insert(id, state.clone());
        self.bus
            .publish(collection_id, Some(id), EventKind::OperationQueued { kind });
        if !self.scheduler.enqueue(state.clone()) {
            self.finish_cancelled_pending(&state, "database closed");
        }
        Ok(Operation {
            engine: self.clone(),
            state,
        })
    }

    /// Persists an operation's record as it is now.
    pub(crate) fn save_operation(&self, op: &OpState) -> Result<()> {
        let record = op.lock().record.clone();
        self.save_record(&record)
    }

    /// Persists an operation's record.
    pub(crate) fn save_record(&self, record: &OperationRecord) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.put_json(keys::operation(record.info.id.0), record)?;
        self.store()?.apply(batch)
    }

    pub(crate) fn operation_state(&self, id: OperationId) -> Result<Arc<OpState>> {
        if let Some(s) = self.ops.lock().expect("ops lock").get(&id) {
            return Ok(s.clone());
        }
        let record: OperationRecord =
            storage::get_json(self.store()?.as_ref(), "operation", &keys::operation(id.0))?
                .ok_or_else(|| Error::OperationNotFound { id: id.to_string() })?;
        let state = Arc::new(OpState::new(record));
        Ok(self
            .ops
            .lock()
            .expect("ops lock")
            .entry(id)
            .or_insert(state)
            .clone())
    }

    pub(crate) fn list_operations(&self, filter: OperationFilter) -> Result<Vec<OperationInfo>> {
        let stored: Vec<OperationRecord> =
            storage::scan_json(self.store()?.as_ref(), "operation", &[keys::OPERATION])?;
        let live = self.ops.lock().expect("ops lock");
        Ok(stored
            .into_iter()
            .map(|r| live.get(&r.info.id).map_or(r.info, |s| s.info()))
            .filter(|info| filter.matches(info))
            .collect())
    }

    pub(crate) fn cancel_operation(&self, op: &Arc<OpState>, reason: &str) {
        if self.scheduler.remove_pending(op.id) {
            self.finish_cancelled_pending(op, reason);
        } else {
            op.request_cancel(reason);
        }
    }

    /// Ends an operation that never started as cancelled.
    fn finish_cancelled_pending(&self, op: &Arc<OpState>, reason: &str) {
        let progress = op.update(|inner| {
            let info = &mut inner.record.info;
            info.status = OperationStatus::Cancelled;
            info.error = Some(ErrorInfo::from(&Error::Cancelled {
                reason: reason.into(),
            }));
            info.finished_at = Some(now());
            info.progress.phase = crate::ops::Phase::Done;
            info.progress.clone()
        });
        let _ = self.save_operation(op);
        self.bus.publish(
            op.collection_id,
            Some(op.id),
            EventKind::OperationCancelled {
                reason: reason.into(),
                progress,
            },
        );
    }

    pub(crate) fn retry_operation(self: &Arc<Self>, op: &Arc<OpState>) -> Result<Operation> {
        let info = op.info();
        if !matches!(
            info.status,
            OperationStatus::Failed | OperationStatus::Cancelled
        ) {
            return Err(Error::InvalidState {
                message: format!(
                    "operation {} is {:?}; only failed or cancelled operations can be retried",
                    info.id, info.status
                ),
            });
        }
        if info.kind != OperationKind::Delete {
            self.record(info.collection_id)?;
        }
        self.new_operation_with(
            info.collection_id,
            info.kind,
            op.params(),
            WriteBatch::new(),
            Some(info.id),
            OperationId::new(),
        )
    }

    pub(crate) fn subscribe_operation(&self, op: &Arc<OpState>) -> Subscription {
        let info = op.info();
        let progress = info.progress.clone();
        let now = match info.status {
            OperationStatus::Processing => Some(EventKind::Progress { progress }),
            OperationStatus::Completed => Some(EventKind::OperationCompleted { progress }),
            OperationStatus::Failed => Some(EventKind::OperationFailed {
                error: info
                    .error
                    .clone()
                    .unwrap_or_else(|| ErrorInfo::from(&Error::internal("unknown"))),
                progress,
            }),
            OperationStatus::Cancelled => Some(EventKind::OperationCancelled {
                reason: crate::ops::cancel_reason(&info),
                progress,
            }),
            _ => None,
        };
        self.bus
            .subscribe(Filter::Operation(op.id), now.map(|k| (op.collection_id, k)))
    }

    pub(crate) fn subscribe_collection(&self, id: CollectionId) -> Subscription {
        self.bus.subscribe(Filter::Collection(id), None)
    }

    pub(crate) fn add_texts(
        self: &Arc<Self>,
        id: CollectionId,
        docs: Vec<DocumentInput>,
    ) -> Result<Operation> {
        let record = self.record(id)?;
        if record.config.model == EXTERNAL_MODEL {
            return Err(Error::InvalidState {
                message: "this collection stores external vectors: use add_vectors".into(),
            });
        }
        let staged = docs
            .into_iter()
            .map(|d| StagedDocument {
                explicit_id: d.id.is_some(),
                id: d.id.unwrap_or_else(|| uuid::Uuid::now_v7().to_string()),
                text: d.text,
                title: d.title,
                metadata: d.metadata,
                vector: None,
            })
            .collect();
        self.stage(id, &record, staged)
    }

    pub(crate) fn add_vectors(
        self: &Arc<Self>,
        id: CollectionId,
        ids: Vec<String>,
        vectors: Vec<Vec<f32>>,
        texts: Vec<String>,
        metadata: Vec<Metadata>,
    ) -> Result<Operation> {
        let record = self.record(id)?;
        if record.config.model != EXTERNAL_MODEL {
            return Err(Error::InvalidState {
                message: format!(
                    "this collection embeds with {}: use add_texts",
                    record.config.model
                ),
            });
        }
        let n = ids.len();
        if vectors.len() != n || texts.len() != n || !(metadata.is_empty() || metadata.len() == n) {
            return Err(Error::invalid(format!(
                "ids ({n}), vectors ({}), texts ({}) and metadata ({}) must have the same length",
                vectors.len(),
                texts.len(),
                metadata.len()
            )));
        }
        let dim = record.config.dimension.unwrap_or(0);
        if let Some(v) = vectors.iter().find(|v| v.len() != dim) {
            return Err(Error::DimensionMismatch {
                expected: dim,
                got: v.len(),
            });
        }
        if vectors.iter().flatten().any(|x| !x.is_finite()) {
            return Err(Error::invalid(
                "vectors must not contain NaN or infinite values",
            ));
        }
        let mut metadata = metadata.into_iter();
        let staged = ids
            .into_iter()
            .zip(vectors)
            .zip(texts)
            .map(|((id, vector), text)| StagedDocument {
                id,
                explicit_id: true,
                text,
                title: None,
                metadata: metadata.next().unwrap_or_default(),
                vector: Some(vector),
            })
            .collect();
        self.stage(id, &record, staged)
    }

    /// Stores documents' input under a new operation's id and queues the operation.
    fn stage(
        self: &Arc<Self>,
        id: CollectionId,
        record: &CollectionRecord,
        staged: Vec<StagedDocument>,
    ) -> Result<Operation> {
        let mut seen = std::collections::HashSet::new();
        for d in &staged {
            if d.id.is_empty() || d.id.len() > 512 {
                return Err(Error::invalid("document ids must be 1 to 512 bytes"));
            }
            if !seen.insert(d.id.as_str()) {
                return Err(Error::invalid(format!(
                    "document id {:?} appears twice",
                    d.id
                )));
            }
        }
        let op_id = OperationId::new();
        let mut batch = WriteBatch::new();
        for d in &staged {
            batch.put_json(staged_key(id, op_id, &d.id), d)?;
        }
        let kind = self.ingest_kind(record)?;
        self.new_operation_with(
            id,
            kind,
            OpParams::Ingest {
                sources: Vec::new(),
                staged: Some(op_id),
            },
            batch,
            None,
            op_id,
        )
    }

    /// `Index` for the first ingestion into an empty collection, `Append` after that.
    fn ingest_kind(&self, record: &CollectionRecord) -> Result<OperationKind> {
        let empty =
            self.stats(record.data())?.documents == 0 && record.status == CollectionStatus::Pending;
        Ok(if empty {
            OperationKind::Index
        } else {
            OperationKind::Append
        })
    }

    pub(crate) fn add_source(
        self: &Arc<Self>,
        id: CollectionId,
        path: &Path,
        options: SourceOptions,
    ) -> Result<Operation> {
        let record = self.record(id)?;
        if record.config.model == EXTERNAL_MODEL {
            return Err(Error::InvalidState {
                message: "this collection stores external vectors: use add_vectors".into(),
            });
        }
        options.validate()?;
        let path = std::fs::canonicalize(path).map_err(|_| Error::PathNotFound {
            path: path.to_path_buf(),
        })?;
        if path.to_str().is_none() {
            return Err(Error::invalid(format!(
                "source path {} is not valid UTF-8",
                path.display()
            )));
        }
        let mut batch = WriteBatch::new();
        let source = SourceRecord {
            path: path.clone(),
            options,
            added_at: now(),
        };
        batch.put_json(keys::source(id.0, &path), &source)?;
        let kind = self.ingest_kind(&record)?;
        self.new_operation(
            id,
            kind,
            OpParams::Ingest {
                sources: vec![path],
                staged: None,
            },
            batch,
        )
    }

    /// The remembered sources of a collection, in path order.
    pub(crate) fn source_records(&self, id: CollectionId) -> Result<Vec<SourceRecord>> {
        storage::scan_json(
            self.store()?.as_ref(),
            "source",
            &keys::in_collection(keys::SOURCE, id.0),
        )
    }

    pub(crate) fn sources(&self, id: CollectionId) -> Result<Vec<(PathBuf, SourceOptions)>> {
        self.record(id)?;
        Ok(self
            .source_records(id)?
            .into_iter()
            .map(|s| (s.path, s.options))
            .collect())
    }

    pub(crate) fn append(self: &Arc<Self>, id: CollectionId) -> Result<Operation> {
        let record = self.record(id)?;
        let sources = self
            .source_records(id)?
            .into_iter()
            .map(|s| s.path)
            .collect();
        let kind = self.ingest_kind(&record)?;
        self.new_operation(
            id,
            kind,
            OpParams::Ingest {
                sources,
                staged: None,
            },
            WriteBatch::new(),
        )
    }

    pub(crate) fn reindex(
        self: &Arc<Self>,
        id: CollectionId,
        mut config: CollectionConfig,
    ) -> Result<Operation> {
        let record = self.record(id)?;
        let old = &record.config;
        if (old.model == EXTERNAL_MODEL || config.model == EXTERNAL_MODEL)
            && (config.model != old.model
                || config.dimension.is_some_and(|d| Some(d) != old.dimension))
        {
            return Err(Error::InvalidState {
                message: "a collection of external vectors keeps its model and dimension: \
                          semantik cannot compute the vectors"
                    .into(),
            });
        }
        config.name = old.name.clone();
        self.resolve_config(&mut config)?;
        self.new_operation(
            id,
            OperationKind::Reindex,
            OpParams::Reindex {
                config: Box::new(config),
                generation: uuid::Uuid::now_v7(),
            },
            WriteBatch::new(),
        )
    }

    pub(crate) fn remove_source(
        self: &Arc<Self>,
        id: CollectionId,
        path: &Path,
    ) -> Result<Operation> {
        self.record(id)?;
        // The path may no longer exist: removing a deleted folder's documents is the point.
        let path = crate::source::canonical_even_if_gone(path);
        self.new_operation(
            id,
            OperationKind::RemoveSource,
            OpParams::RemoveSource { path },
            WriteBatch::new(),
        )
    }

    pub(crate) fn delete_documents(
        self: &Arc<Self>,
        id: CollectionId,
        ids: Vec<String>,
    ) -> Result<Operation> {
        self.record(id)?;
        self.new_operation(
            id,
            OperationKind::DeleteDocuments,
            OpParams::DeleteDocuments { ids },
            WriteBatch::new(),
        )
    }

    pub(crate) fn index_stats(&self, id: CollectionId) -> Result<crate::IndexStats> {
        self.with_served(id, |record, _| {
            let (rt, _) = self.ensure_index(record)?;
            let guard = rt.index.read().expect("index lock");
            Ok(guard
                .as_ref()
                .map(CollectionIndex::stats)
                .unwrap_or_default())
        })
    }

    pub(crate) fn compact(self: &Arc<Self>, id: CollectionId) -> Result<Operation> {
        self.record(id)?;
        self.new_operation(
            id,
            OperationKind::Compact,
            OpParams::Compact,
            WriteBatch::new(),
        )
    }

    pub(crate) fn retry_documents(self: &Arc<Self>, id: CollectionId) -> Result<Operation> {
        self.record(id)?;
        self.new_operation(
            id,
            OperationKind::RetryDocuments,
            OpParams::RetryDocuments,
            WriteBatch::new(),
        )
    }

    // ----- embedding, index and search -----

    /// The embedder of `spec` (a collection's model, its revision the recorded commit).
    pub(crate) fn embedder(&self, spec: &embed::ModelSpec) -> Result<Arc<dyn Embedder>> {
        Ok(self.load_model(spec)?.0)
    }

    /// Loads `spec`'s model unless it is loaded or registered; returns it with the spec of
    /// what was loaded (its revision the commit found, when the model came from the Hub).
    pub(crate) fn load_model(
        &self,
        spec: &embed::ModelSpec,
    ) -> Result<(Arc<dyn Embedder>, embed::ModelSpec)> {
        if let Some(e) = self
            .embedders
            .lock()
            .expect("embedders lock")
            .get(&spec.name)
        {
            return Ok((e.clone(), spec.clone()));
        }
        if let Some(e) = self.models.lock().expect("models lock").get(spec) {
            return Ok((e.clone(), spec.clone()));
        }
        let (e, location) = embed::resolve(spec, self.config.device, &self.config.hub)?;
        let loaded = spec
            .clone()
            .with_revision(location.and_then(|l| l.revision).or(spec.revision.clone()));
        let mut models = self.models.lock().expect("models lock");
        let e = models.entry(loaded.clone()).or_insert(e).clone();
        models.entry(spec.clone()).or_insert_with(|| e.clone());
        Ok((e, loaded))
    }

    /// Drops the in-memory state of a collection's generations; it is rebuilt from storage on
    /// next use.
    pub(crate) fn forget_runtime(&self, id: CollectionId) {
        let Ok(Some(record)) = self.record_any(id) else {
            return;
        };
        let mut runtimes = self.runtimes.lock().expect("runtimes lock");
        for data in record.generations() {
            runtimes.remove(&data);
        }
    }

    /// Drops the in-memory state of one generation.
    pub(crate) fn drop_runtime(&self, data: uuid::Uuid) {
        self.runtimes.lock().expect("runtimes lock").remove(&data);
    }

    /// The in-memory state of generation `data`.
    pub(crate) fn runtime(&self, data: uuid::Uuid) -> Arc<Runtime> {
        self.runtimes
            .lock()
            .expect("runtimes lock")
            .entry(data)
            .or_default()
            .clone()
    }

    /// Runs `f` with the collection's record and the runtime of the generation it serves,
    /// holding that generation's lease: a reindex that retires it waits for `f` before
    /// purging, so a read never sees a half-deleted generation.
    pub(crate) fn with_served<T>(
        &self,
        id: CollectionId,
        f: impl FnOnce(&CollectionRecord, &Arc<Runtime>) -> Result<T>,
    ) -> Result<T> {
        loop {
            let record = self.record(id)?;
            let lease = self.lease(record.data());
            let _shared = lease.read().expect("lease lock");
            if self.record(id)?.data() == record.data() {
                return f(&record, &self.runtime(record.data()));
            }
            // Retired between the two reads: read the new record. (The lease entry stays: a
            // retire may be about to wait on it. It is a few bytes per retired generation.)
        }
    }

    fn lease(&self, data: uuid::Uuid) -> Arc<RwLock<()>> {
        self.leases
            .lock()
            .expect("leases lock")
            .entry(data)
            .or_default()
            .clone()
    }

    /// Waits for every read of generation `data` that holds its lease (see
    /// [`Engine::with_served`]); the caller has already made it unreachable to new reads.
    pub(crate) fn retire(&self, data: uuid::Uuid) {
        let lease = self.lease(data);
        drop(lease.write().expect("lease lock"));
        self.leases.lock().expect("leases lock").remove(&data);
    }

    /// Loads the collection's index (stored graph segments joined with the stored vectors)
    /// unless it is loaded. A stored segment that fails its checks is dropped: its vectors are
    /// searched exactly, the collection reports `degraded`, and a compaction is queued to
    /// rebuild it.
    /// Returns the runtime and whether this call found damaged segments.
    pub(crate) fn ensure_index(&self, record: &CollectionRecord) -> Result<(Arc<Runtime>, bool)> {
        let (rt, loaded) = self.ensure_index_of(record.data(), &record.config)?;
        // A reindex may have swapped generations since `record` was read: this caller still
        // gets the index it loaded, but it is not kept.
        if loaded.is_some() && self.record(record.id)?.data() != record.data() {
            self.drop_runtime(record.data());
        }
        let dropped = loaded.unwrap_or(0);
        if dropped > 0 {
            self.set_status(
                record.id,
                None,
                CollectionStatus::Degraded,
                Some(format!(
                    "{dropped} stored vector index segments failed their checks; searching \
                     exactly until the index is rebuilt"
                )),
            )?;
        }
        Ok((rt, dropped > 0))
    }

    /// Loads the index of generation `data` (of settings `config`) unless it is loaded;
    /// returns its runtime and, when this call loaded it, how many stored segments it dropped
    /// as damaged.
    pub(crate) fn ensure_index_of(
        &self,
        data: uuid::Uuid,
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
            self.store()?.as_ref(),
            data,
            config.index.clone(),
            config.dimension.unwrap_or(0),
        )?;
        *guard = Some(index);
        drop(guard);
        Ok((rt, Some(report.dropped_segments)))
    }
}

/// Key of a staged document: `STAGED | collection | operation | document id`.
pub(crate) fn staged_key(collection: CollectionId, op: OperationId, doc_id: &str) -> Vec<u8> {
    let mut suffix = op.0.as_bytes().to_vec();
    suffix.extend_from_slice(doc_id.as_bytes());
    keys::in_collection_with(keys::STAGED, collection.0, &suffix)
}

/// How a staged (not yet processed) document is listed.
fn pending_document(staged: &StagedDocument) -> Document {
    let t = now();
    Document {
        id: staged.id.clone(),
        source: None,
        content_hash: blake3::hash(staged.text.as_bytes()).to_hex().to_string(),
        size: staged.text.len() as u64,
        mtime_ms: None,
        media_type: "text/plain".into(),
        title: staged.title.clone(),
        status: DocumentStatus::Pending,
        error: None,
        chunk_count: 0,
        first_chunk: 0,
        metadata: staged.metadata.clone(),
        created_at: t,
        updated_at: t,
        stored_bytes: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newer_format_on_disk_is_refused_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        Database::open(dir.path()).unwrap().close().unwrap();
        {
            let store = storage::open_sled(&dir.path().join(DATA_DIR)).unwrap();
            let mut b = WriteBatch::new();
            b.put_json(keys::meta("format_version"), &99u32).unwrap();
            store.apply(b).unwrap();
            store.flush().unwrap();
        }
        let err = Database::open(dir.path()).unwrap_err();
        assert!(
            matches!(err, Error::UnsupportedFormat { found: 99, .. }),
            "{err}"
        );
        let store = storage::open_sled(&dir.path().join(DATA_DIR)).unwrap();
        assert_eq!(format::read_version(store.as_ref()).unwrap(), Some(99));
    }

    #[test]
    fn format_1_database_is_migrated_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let id = uuid::Uuid::now_v7();
        {
            let store = storage::open_sled(&dir.path().join(DATA_DIR)).unwrap();
            format::tests::write_v1(store.as_ref(), id, "old");
            store.flush().unwrap();
        }
        let db = Database::open(dir.path()).unwrap();
        let col = db.collection("old").unwrap();
        assert_eq!(col.id().0, id);
        assert_eq!(col.info().unwrap().dimension(), 3);
        db.close().unwrap();
        let store = storage::open_sled(&dir.path().join(DATA_DIR)).unwrap();
        assert_eq!(
            format::read_version(store.as_ref()).unwrap(),
            Some(format::FORMAT_VERSION)
        );
    }
}
