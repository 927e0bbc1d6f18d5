//! `Database`: an open database and what spans collections.

use std::sync::Mutex;

use pyo3::prelude::*;
use pyo3::types::PyList;
use semantik_core::{
    ChunkingConfig, CollectionConfig, Config, Database as CoreDatabase, Error, IndexConfig,
    KeywordConfig, Metadata,
};

use crate::collection::Collection;
use crate::convert::{detached, opt_arg, seconds, status_filter, to_object, to_py};
use crate::operation::{Events, Operation};
use crate::search::{Options, apply_options, hits};

/// An open semantik database; a context manager that closes it.
#[pyclass(module = "semantik._semantik", frozen)]
pub(crate) struct Database {
    inner: Mutex<Option<CoreDatabase>>,
    path: String,
}

impl Database {
    fn db(&self, py: Python<'_>) -> PyResult<CoreDatabase> {
        self.inner
            .lock()
            .expect("database lock")
            .clone()
            .ok_or_else(|| to_py(py, Error::DatabaseClosed))
    }
}

#[pymethods]
impl Database {
    /// Opens (creating if needed) the database in directory `path`.
    #[new]
    #[pyo3(signature = (path, *, max_concurrent_operations = None, operation_timeout = None,
        max_collections = None, max_collection_bytes = None, offline = None))]
    fn new(
        py: Python<'_>,
        path: String,
        max_concurrent_operations: Option<usize>,
        operation_timeout: Option<f64>,
        max_collections: Option<usize>,
        max_collection_bytes: Option<u64>,
        offline: Option<bool>,
    ) -> PyResult<Self> {
        let mut config = Config::default();
        if let Some(o) = offline {
            config = config.with_offline(o);
        }
        if let Some(n) = max_concurrent_operations {
            config = config.with_max_concurrent_operations(n);
        }
        if let Some(t) = operation_timeout {
            config = config.with_operation_timeout(seconds(py, t)?);
        }
        if let Some(n) = max_collections {
            config = config.with_max_collections(n);
        }
        if let Some(b) = max_collection_bytes {
            config = config.with_max_collection_bytes(Some(b));
        }
        let p = path.clone();
        let db = detached(py, move || CoreDatabase::open_with(p, config))?;
        Ok(Database {
            inner: Mutex::new(Some(db)),
            path,
        })
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<()> {
        self.close(py)
    }

    /// The database directory.
    #[getter]
    fn path(&self) -> &str {
        &self.path
    }

    /// Flushes and closes the database (running operations are cancelled). Closing twice does
    /// nothing.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let db = self.inner.lock().expect("database lock").take();
        match db {
            Some(db) => detached(py, move || db.close()),
            None => Ok(()),
        }
    }

    /// Finds model `name` at `revision` (a commit, tag or branch) as collections do,
    /// downloading it into the Hugging Face cache unless the database is offline; `progress`,
    /// if given, is called with a dict (`model`, `file`, `bytes`, `total`, `done`) as bytes
    /// arrive (`semantik.progress.download` shows them in a tqdm bar). Returns
    /// `{"dir": folder, "revision": commit or None}`.
    #[pyo3(signature = (name, revision = None, progress = None))]
    fn fetch_model(
        &self,
        py: Python<'_>,
        name: String,
        revision: Option<String>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let db = self.db(py)?;
        let found = detached(py, move || {
            db.fetch_model(&name, revision.as_deref(), &mut |p| {
                if let Some(cb) = &progress {
                    // A failing callback does not stop the download; Python prints it.
                    Python::attach(|py| {
                        if let Err(e) = to_object(py, p).and_then(|d| cb.call1(py, (d,))) {
                            e.print(py);
                        }
                    });
                }
            })
        })?;
        to_object(py, &found)
    }

    /// Creates a collection. `model`: a Hugging Face model id (fetched into the Hugging Face
    /// cache unless it is there; default sentence-transformers/all-MiniLM-L6-v2), a model
    /// folder, or "external" with `dimension` for caller-computed vectors; `model_revision`:
    /// a commit, tag or branch to pin (the commit found is recorded); `model_precision`:
    /// "float32", "float16" or "int8"; `chunking`, `index`, `keyword`: settings dicts.
    #[pyo3(signature = (name, *, model = None, model_revision = None, model_precision = None,
        dimension = None, description = String::new(), chunking = None, index = None,
        keyword = None, metadata = None))]
    #[allow(clippy::too_many_arguments)]
    fn create_collection(
        &self,
        py: Python<'_>,
        name: String,
        model: Option<String>,
        model_revision: Option<String>,
        model_precision: Option<String>,
        dimension: Option<usize>,
        description: String,
        chunking: Option<&Bound<'_, PyAny>>,
        index: Option<&Bound<'_, PyAny>>,
        keyword: Option<&Bound<'_, PyAny>>,
        metadata: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Collection> {
        let db = self.db(py)?;
        let mut config = CollectionConfig::new(name).with_description(description);
        if let Some(m) = model {
            config = config.with_model(m);
        }
        if let Some(r) = model_revision {
            config = config.with_model_revision(r);
        }
        if let Some(p) = model_precision {
            config = config.with_model_precision(p.parse().map_err(|e| to_py(py, e))?);
        }
        if let Some(d) = dimension {
            config = config.with_dimension(d);
        }
        if let Some(c) = opt_arg::<ChunkingConfig>(chunking, "chunking")? {
            config = config.with_chunking(c);
        }
        if let Some(i) = opt_arg::<IndexConfig>(index, "index")? {
            config = config.with_index(i);
        }
        if let Some(k) = opt_arg::<KeywordConfig>(keyword, "keyword")? {
            config = config.with_keyword(k);
        }
        if let Some(m) = opt_arg::<Metadata>(metadata, "metadata")? {
            config = config.with_metadata(m);
        }
        detached(py, move || db.create_collection(config)).map(|col| Collection { col })
    }

    /// Descriptions of every collection (dicts with `name`, `id`, `config`, `status`,
    /// `stats`, ...).
    fn collections(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let db = self.db(py)?;
        let list = detached(py, move || db.collections())?;
        let out = list
            .iter()
            .map(|info| {
                let mut value = serde_json::to_value(info)
                    .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))?;
                value["name"] = info.name().into();
                to_object(py, &value)
            })
            .collect::<PyResult<Vec<_>>>()?;
        Ok(PyList::new(py, out)?.into_any().unbind())
    }

    /// Creates collection `name` from a file written by `Collection.export` (Parquet or
    /// Arrow IPC), without embedding again, and builds its index.
    fn import_file(
        &self,
        py: Python<'_>,
        path: std::path::PathBuf,
        name: String,
    ) -> PyResult<Collection> {
        let db = self.db(py)?;
        detached(py, move || db.import(&path, &name)).map(|col| Collection { col })
    }

    /// The collection named `name` (`NotFoundError` if there is none).
    fn collection(&self, py: Python<'_>, name: String) -> PyResult<Collection> {
        let db = self.db(py)?;
        detached(py, move || db.collection(&name)).map(|col| Collection { col })
    }

    fn __getitem__(&self, py: Python<'_>, name: String) -> PyResult<Collection> {
        self.collection(py, name)
    }

    fn __contains__(&self, py: Python<'_>, name: String) -> PyResult<bool> {
        let db = self.db(py)?;
        match py.detach(move || db.collection(&name)) {
            Ok(_) => Ok(true),
            Err(Error::CollectionNotFound { .. }) => Ok(false),
            Err(e) => Err(to_py(py, e)),
        }
    }

    /// Deletes the collection named `name` and waits for the deletion (at most `timeout`
    /// seconds).
    #[pyo3(signature = (name, timeout = None))]
    fn delete_collection(
        &self,
        py: Python<'_>,
        name: String,
        timeout: Option<f64>,
    ) -> PyResult<()> {
        let db = self.db(py)?;
        let op = detached(py, move || db.delete_collection(&name))?;
        Operation::new(op).wait(py, timeout).map(|_| ())
    }

    /// The database's operations, oldest first, as dicts (`status`: only those).
    #[pyo3(signature = (status = None))]
    fn operations(&self, py: Python<'_>, status: Option<&str>) -> PyResult<Py<PyAny>> {
        let filter = status_filter(py, status)?;
        let db = self.db(py)?;
        let list = detached(py, move || db.operations(filter))?;
        to_object(py, &list)
    }

    /// A blocking iterator over every event of the database from now on (each operation's,
    /// each collection's status changes), as `Operation.events` yields them; it ends when the
    /// database closes. `next(timeout)` waits at most `timeout` seconds.
    fn events(&self, py: Python<'_>) -> PyResult<Events> {
        Ok(Events::new(self.db(py)?.events()))
    }

    /// The operation with id `id`, running or ended.
    fn operation(&self, py: Python<'_>, id: String) -> PyResult<Operation> {
        let db = self.db(py)?;
        detached(py, move || db.operation(id.parse()?)).map(Operation::new)
    }

    /// Searches several collections and merges their hits by reciprocal rank; returns
    /// `(hits, failures)` where failures maps the collections that could not be searched to
    /// their errors. Keyword arguments as `Collection.search`.
    #[pyo3(signature = (collections, query, *, limit = 10, offset = 0, mode = None, fusion = None,
        filter = None, score_threshold = None, rerank = None, rerank_multiplier = None, ef = None,
        exact = false, max_per_document = None))]
    #[allow(clippy::too_many_arguments)]
    fn search(
        &self,
        py: Python<'_>,
        collections: Vec<String>,
        query: String,
        limit: usize,
        offset: usize,
        mode: Option<&str>,
        fusion: Option<&Bound<'_, PyAny>>,
        filter: Option<&Bound<'_, PyAny>>,
        score_threshold: Option<f32>,
        rerank: Option<&Bound<'_, PyAny>>,
        rerank_multiplier: Option<usize>,
        ef: Option<usize>,
        exact: bool,
        max_per_document: Option<usize>,
    ) -> PyResult<(Py<PyList>, Py<PyAny>)> {
        let o = Options::new(
            py,
            limit,
            offset,
            mode,
            fusion,
            filter,
            score_threshold,
            rerank,
            rerank_multiplier,
            ef,
            exact,
            max_per_document,
        )?;
        let db = self.db(py)?;
        let r = detached(py, move || {
            apply_options!(db.search(&collections, &query), o).run()
        })?;
        let failures: serde_json::Map<String, serde_json::Value> = r
            .failures
            .iter()
            .map(|f| {
                (
                    f.collection.clone(),
                    serde_json::json!({"code": f.error.code.as_u32(), "message": f.error.message}),
                )
            })
            .collect();
        Ok((hits(py, r.hits)?, to_object(py, &failures)?))
    }
}
