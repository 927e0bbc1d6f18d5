//! The database: one directory, one process, many collections.
//!
//! [`Database`] is the public facade over the [`Engine`], the shared state behind every handle
//! (collections and operations hold its parts). This module opens a database (lock, format,
//! recovery of what a crash interrupted) and shuts it down.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

pub use crate::config::Config;

use crate::collection::{
    Collection, CollectionConfig, CollectionId, CollectionInfo, CollectionRecord, CollectionStatus,
};
use crate::embed::{self, Embedder};
use crate::engine::{Catalog, Engine, Generations, Models};
use crate::error::{Error, ErrorInfo, Result};
use crate::ops::registry::{Job, Operations};
use crate::ops::{
    OpParams, Operation, OperationFilter, OperationId, OperationInfo, OperationKind,
    OperationRecord, OperationStatus, Subscription,
};
use crate::search::MultiSearch;
use crate::storage::{self, StoreSlot, WriteBatch, format, keys};
use crate::verify::VerifyReport;

/// Name of the lock file inside a database directory.
const LOCK_FILE: &str = "semantik.lock";
/// Name of the storage directory inside a database directory.
pub(crate) const DATA_DIR: &str = "data";

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
        let (runner, after_panic) = (engine.clone(), engine.clone());
        let run: Job = Arc::new(move |op| crate::jobs::run(&runner, op));
        let failed: Job = Arc::new(move |op| crate::jobs::fail_after_panic(&after_panic, op));
        engine.ops.start(run, failed);
        *engine.repairs.lock().expect("repairs lock") =
            Some(crate::jobs::repair::start(engine.clone()));
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
        let mut config = config;
        self.engine().resolve_config(&mut config)?;
        let id = self.engine().catalog.create(config)?;
        Ok(self.handle_for(id))
    }

    /// Every collection, in creation order.
    ///
    /// # Errors
    /// Storage errors.
    pub fn collections(&self) -> Result<Vec<CollectionInfo>> {
        let engine = self.engine();
        engine
            .catalog
            .list()?
            .into_iter()
            .map(|r| {
                let stats = engine.catalog.stats(r.generation())?;
                Ok(r.into_info(stats))
            })
            .collect()
    }

    /// The collection named `name`.
    ///
    /// # Errors
    /// [`Error::CollectionNotFound`].
    pub fn collection(&self, name: &str) -> Result<Collection> {
        let id = self.engine().catalog.resolve_name(name)?;
        Ok(self.handle_for(id))
    }

    /// The collection with id `id`.
    ///
    /// # Errors
    /// [`Error::CollectionNotFound`].
    pub fn collection_by_id(&self, id: CollectionId) -> Result<Collection> {
        self.engine().catalog.record(id)?;
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

    /// Creates collection `name` from a file written by [`Collection::export`] (Parquet or
    /// Arrow IPC, told apart by their first bytes), with the settings the file names and its
    /// documents, chunks (ids included) and vectors, without embedding again; then builds its
    /// vector index. The file's model must be available here (it embeds the queries) and give
    /// vectors of the file's dimension. A failed import leaves no collection behind. See
    /// [`Collection::export`] for an example.
    ///
    /// # Errors
    /// [`Error::PathNotFound`]; [`Error::InvalidArgument`] for a file that is not an export
    /// (naming what is wrong); [`Error::CollectionExists`]; [`Error::ModelNotFound`] or
    /// [`Error::DimensionMismatch`] when the model here disagrees; storage errors.
    pub fn import(&self, path: impl AsRef<Path>, name: &str) -> Result<Collection> {
        let exported = crate::collection::exchange::Exported::open(path.as_ref())?;
        let mut config = exported.config.clone();
        config.name = name.to_string();
        let collection = self.create_collection(config)?;
        let imported = crate::jobs::import(self.engine(), collection.id, exported.documents())
            .and_then(|_| collection.compact()?.wait(None).map(drop));
        match imported {
            Ok(()) => Ok(collection),
            Err(e) => {
                if let Ok(op) = self.delete_collection(name) {
                    let _ = op.wait(None);
                }
                Err(e)
            }
        }
    }

    /// Deletes a collection and its data, as an operation. The collection disappears for
    /// users when the operation starts.
    ///
    /// # Errors
    /// [`Error::CollectionNotFound`].
    pub fn delete_collection(&self, name: &str) -> Result<Operation> {
        let id = self.engine().catalog.resolve_name(name)?;
        self.engine().ops.create(
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
        self.engine().ops.handle(id)
    }

    /// Operations of every collection, oldest first.
    ///
    /// # Errors
    /// Storage errors.
    pub fn operations(&self, filter: OperationFilter) -> Result<Vec<OperationInfo>> {
        self.engine().ops.list(filter)
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
        self.engine().models.register(embedder);
    }

    /// The accounts of this database: users, sessions, API keys and who may use each
    /// collection (what a server of it checks; the library itself checks nothing).
    pub fn accounts(&self) -> crate::accounts::Accounts {
        crate::accounts::Accounts::new(self.engine().clone())
    }

    /// Subscribes to every event of the database.
    pub fn events(&self) -> Subscription {
        self.engine().ops.subscribe_all()
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
        crate::verify::verify(&snapshot)
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
            let lock = lock_directory(dest)?;
            let store = storage::backup::restore(src, &partial)?;
            format::prepare(store.as_ref(), dest)?;
            let report = crate::verify::verify(&store)?;
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

/// Takes the lock of database directory `dir` (its lock file created if needed), without
/// waiting: [`Error::DatabaseLocked`] when another process or handle holds it.
fn lock_directory(dir: &Path) -> Result<File> {
    let io = |context: &str, e| Error::storage(format!("{context} {}", dir.display()), e);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(LOCK_FILE))
        .map_err(|e| io("cannot open lock file in", e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::DatabaseLocked {
            path: dir.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(io("cannot lock", e)),
    }
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
        let lock = lock_directory(path)?;
        #[cfg(feature = "testing")]
        let store = match &config.faults {
            Some(f) => storage::open_sled_with_faults(&path.join(DATA_DIR), f)?,
            None => storage::open_sled(&path.join(DATA_DIR))?,
        };
        #[cfg(not(feature = "testing"))]
        let store = storage::open_sled(&path.join(DATA_DIR))?;
        format::prepare(store.as_ref(), path)?;
        let store = Arc::new(StoreSlot::new(store));
        let engine = Arc::new(Engine {
            path: path.to_path_buf(),
            catalog: Catalog::new(store.clone(), config.max_collections),
            generations: Generations::default(),
            models: Models::new(config.device, config.hub.clone()),
            ops: Arc::new(Operations::new(
                store.clone(),
                config.max_concurrent_operations,
            )),
            config,
            store,
            lock_file: Mutex::new(Some(lock)),
            repairs: Mutex::new(None),
            account_writes: Default::default(),
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
            rec.info.finished_at = Some(SystemTime::now());
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
                r.updated_at = SystemTime::now();
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
        if self.ops.is_stopped() {
            return Ok(());
        }
        self.generations.damage.close();
        if let Some(repairs) = self.repairs.lock().expect("repairs lock").take() {
            let _ = repairs.join();
        }
        self.ops.stop();
        let store = self.store.take();
        let result = match &store {
            Some(s) => s.flush(),
            None => Ok(()),
        };
        drop(store);
        self.generations.clear();
        self.lock_file.lock().expect("lock file lock").take();
        result
    }
}
