//! `Collection`: documents, the operations that write them, search and embedding.

use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyDict, PyList};
use semantik_core::arrow_array::ffi_stream::FFI_ArrowArrayStream;
use semantik_core::{
    Collection as CoreCollection, DocumentInput, ExportFormat, Metadata, ReindexSettings,
    SourceOptions,
};

use crate::convert::{array, detached, float_rows, from_object, invalid, status_filter, to_object};
use crate::operation::{Events, Operation};
use crate::search::{Options, apply_options, hits};

/// A collection of documents with its own embedding model.
#[pyclass(module = "semantik._semantik", frozen)]
pub(crate) struct Collection {
    pub(crate) col: CoreCollection,
}

/// Reads an optional list of metadata dicts, one per item.
fn metadatas_arg(
    py: Python<'_>,
    metadatas: Option<&Bound<'_, PyAny>>,
    len: usize,
) -> PyResult<Vec<Metadata>> {
    match metadatas {
        None => Ok(Vec::new()),
        Some(m) if m.is_none() => Ok(Vec::new()),
        Some(m) => {
            let list: Vec<Option<Metadata>> = from_object(m, "metadatas")?;
            if list.len() != len {
                return Err(invalid(
                    py,
                    format!("{} metadatas for {len} items", list.len()),
                ));
            }
            Ok(list.into_iter().map(Option::unwrap_or_default).collect())
        }
    }
}

#[pymethods]
impl Collection {
    /// The collection's name.
    #[getter]
    fn name(&self, py: Python<'_>) -> PyResult<String> {
        let col = self.col.clone();
        detached(py, move || col.name())
    }

    /// Its stable id.
    #[getter]
    fn id(&self) -> String {
        self.col.id().to_string()
    }

    /// The vector dimension.
    #[getter]
    fn dimension(&self, py: Python<'_>) -> PyResult<usize> {
        let col = self.col.clone();
        detached(py, move || Ok(col.info()?.dimension()))
    }

    /// Everything known about it (id, config, status, times, stats) as a dict.
    fn info(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let col = self.col.clone();
        let info = detached(py, move || col.info())?;
        to_object(py, &info)
    }

    /// Its counts (documents, failed_documents, chunks, vectors, source_bytes, bytes_on_disk).
    #[getter]
    fn stats(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let col = self.col.clone();
        let stats = detached(py, move || col.stats())?;
        to_object(py, &stats)
    }

    /// Number of indexed documents.
    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        let col = self.col.clone();
        detached(py, move || Ok(col.stats()?.documents as usize))
    }

    /// Indexes texts in the background, with ids (None: generated, and content already in the
    /// collection is skipped; an existing id is replaced), metadata dicts and titles.
    #[pyo3(signature = (texts, ids = None, metadatas = None, titles = None))]
    fn add(
        &self,
        py: Python<'_>,
        texts: Vec<String>,
        ids: Option<Vec<String>>,
        metadatas: Option<&Bound<'_, PyAny>>,
        titles: Option<Vec<Option<String>>>,
    ) -> PyResult<Operation> {
        let n = texts.len();
        if ids.as_ref().is_some_and(|ids| ids.len() != n) {
            return Err(invalid(py, "ids and texts differ in length"));
        }
        if titles.as_ref().is_some_and(|t| t.len() != n) {
            return Err(invalid(py, "titles and texts differ in length"));
        }
        let mut metadata = metadatas_arg(py, metadatas, n)?.into_iter();
        let mut ids = ids.map(Vec::into_iter);
        let mut titles = titles.map(Vec::into_iter);
        let docs: Vec<DocumentInput> = texts
            .into_iter()
            .map(|t| {
                let mut d = DocumentInput::new(t);
                if let Some(id) = ids.as_mut().and_then(Iterator::next) {
                    d = d.with_id(id);
                }
                if let Some(Some(title)) = titles.as_mut().and_then(Iterator::next) {
                    d = d.with_title(title);
                }
                if let Some(m) = metadata.next() {
                    d = d.with_metadata(m);
                }
                d
            })
            .collect();
        let col = self.col.clone();
        detached(py, move || col.add_texts(docs)).map(Operation::new)
    }

    /// Stores caller-computed vectors (any array-like of shape (n, dimension)) with their ids,
    /// texts and metadata, for collections created with `model="external"`.
    #[pyo3(signature = (ids, vectors, texts = None, metadatas = None))]
    fn add_vectors(
        &self,
        py: Python<'_>,
        ids: Vec<String>,
        vectors: &Bound<'_, PyAny>,
        texts: Option<Vec<String>>,
        metadatas: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Operation> {
        let n = ids.len();
        let (values, width) = float_rows(vectors, "vectors")?;
        if n == 0 && !values.is_empty() {
            return Err(invalid(py, "vectors given without ids"));
        }
        if n == 0 {
            let col = self.col.clone();
            return detached(py, move || col.add_vectors(vec![], vec![], vec![], vec![]))
                .map(Operation::new);
        }
        if width == 0 || values.len() != n * width {
            return Err(invalid(
                py,
                format!("{n} ids but vectors of shape {} / {width}", values.len()),
            ));
        }
        let rows: Vec<Vec<f32>> = values.chunks(width).map(<[f32]>::to_vec).collect();
        let texts = texts.unwrap_or_else(|| vec![String::new(); n]);
        let metadata = metadatas_arg(py, metadatas, n)?;
        let col = self.col.clone();
        detached(py, move || col.add_vectors(ids, rows, texts, metadata)).map(Operation::new)
    }

    /// Indexes a file or folder in the background. Keyword arguments are the source options:
    /// include, exclude (lists of globs), recursive, gitignore, hidden, symlinks ("skip",
    /// "within_source", "follow"), max_file_size (bytes or None), remove_deleted.
    #[pyo3(signature = (path, **options))]
    fn add_source(
        &self,
        py: Python<'_>,
        path: std::path::PathBuf,
        options: Option<&Bound<'_, pyo3::types::PyDict>>,
    ) -> PyResult<Operation> {
        let options: SourceOptions = match options {
            Some(o) => {
                let known = serde_json::to_value(SourceOptions::default()).unwrap_or_default();
                for key in o.keys() {
                    let key: String = key.extract()?;
                    if known.get(&key).is_none() {
                        return Err(invalid(py, format!("add_source has no option {key:?}")));
                    }
                }
                from_object(o.as_any(), "source options")?
            }
            None => SourceOptions::default(),
        };
        let col = self.col.clone();
        detached(py, move || col.add_source(path, options)).map(Operation::new)
    }

    /// Writes every indexed chunk, with its vector and its document's fields, to a new
    /// Parquet (`format="parquet"`) or Arrow IPC (`"arrow"`) file; returns the rows written.
    /// `Database.import_file` reads it back.
    #[pyo3(signature = (path, format = "parquet"))]
    fn export(&self, py: Python<'_>, path: std::path::PathBuf, format: &str) -> PyResult<u64> {
        let col = self.col.clone();
        let format = format.to_string();
        detached(py, move || {
            col.export(path, format.parse::<ExportFormat>()?)
        })
    }

    /// The collection as a `pyarrow.Table`: the columns of `export`, one row per chunk
    /// (vectors as `fixed_size_list<float32>`), its settings in the schema's metadata, handed
    /// over through the Arrow C stream interface: pyarrow takes the buffers as they are, no
    /// copy. Needs `pyarrow`; other Arrow libraries take the collection itself
    /// (`polars.from_arrow(col)`, `pyarrow.table(col)`) through `__arrow_c_stream__`.
    fn to_arrow(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        let pa = slf.py().import("pyarrow")?;
        Ok(pa.call_method1("table", (slf,))?.unbind())
    }

    /// The Arrow PyCapsule stream protocol: the table of `to_arrow` as an `ArrowArrayStream`,
    /// read from one generation (a write meanwhile is wholly in it or not at all).
    #[pyo3(signature = (requested_schema = None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema; // the schema is the export's; a consumer casts if it must
        let col = self.col.clone();
        let reader = detached(py, move || col.to_arrow())?;
        let stream = FFI_ArrowArrayStream::new(reader);
        PyCapsule::new_with_value(py, stream, c"arrow_array_stream")
    }

    /// Re-scans every source: new files added, changed ones replaced, deleted ones removed.
    fn append(&self, py: Python<'_>) -> PyResult<Operation> {
        let col = self.col.clone();
        detached(py, move || col.append()).map(Operation::new)
    }

    /// Removes every document under `path` and the sources below it, atomically.
    fn remove_source(&self, py: Python<'_>, path: std::path::PathBuf) -> PyResult<Operation> {
        let col = self.col.clone();
        detached(py, move || col.remove_source(path)).map(Operation::new)
    }

    /// Deletes documents by id (ids that do not exist are ignored).
    fn delete(&self, py: Python<'_>, ids: Vec<String>) -> PyResult<Operation> {
        let col = self.col.clone();
        detached(py, move || col.delete_documents(ids)).map(Operation::new)
    }

    /// Builds a new generation with other settings (model, dimension, chunking, index,
    /// keyword; those not given stay) and swaps it in when it is checked, while searches go on.
    #[pyo3(signature = (*, model = None, model_revision = None, model_precision = None,
        dimension = None, chunking = None, index = None, keyword = None))]
    #[allow(clippy::too_many_arguments)]
    fn reindex(
        &self,
        py: Python<'_>,
        model: Option<String>,
        model_revision: Option<String>,
        model_precision: Option<String>,
        dimension: Option<usize>,
        chunking: Option<&Bound<'_, PyAny>>,
        index: Option<&Bound<'_, PyAny>>,
        keyword: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Operation> {
        let given = PyDict::new(py);
        given.set_item("model", model)?;
        given.set_item("model_revision", model_revision)?;
        given.set_item("model_precision", model_precision)?;
        given.set_item("dimension", dimension)?;
        for (key, value) in [
            ("chunking", chunking),
            ("index", index),
            ("keyword", keyword),
        ] {
            given.set_item(key, value)?;
        }
        let settings: ReindexSettings = from_object(given.as_any(), "reindex settings")?;
        let r = self.col.reindex().settings(settings);
        detached(py, move || r.start()).map(Operation::new)
    }

    /// Documents by id, as dicts (`id`, `text`, `metadata`, `title`, `source`, `status`, ...);
    /// ids that do not exist are left out.
    fn get(&self, py: Python<'_>, ids: Vec<String>) -> PyResult<Py<PyAny>> {
        let col = self.col.clone();
        let found = detached(py, move || {
            let mut out = Vec::new();
            for id in ids {
                match col.document(&id) {
                    Ok(doc) => {
                        let text = col.text(&id)?;
                        let mut value = serde_json::to_value(&doc).map_err(|e| {
                            semantik_core::Error::Internal {
                                message: e.to_string(),
                            }
                        })?;
                        value["text"] = text.into();
                        out.push(value);
                    }
                    Err(semantik_core::Error::DocumentNotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(out)
        })?;
        to_object(py, &found)
    }

    /// Every document (without texts), as dicts.
    fn documents(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let col = self.col.clone();
        let docs = detached(py, move || col.documents())?;
        to_object(py, &docs)
    }

    /// Searches for `query`: mode "semantic", "keyword" or "hybrid" (None, the default:
    /// hybrid, the mode measured best); fusion "adaptive",
    /// "rrf", "weighted" (or a dict with parameters); filter a dict (see the docs); rerank a
    /// cross-encoder model name or a function (query, passages) -> scores; max_per_document
    /// ranks documents (at most that many passages each). Scores lie in [0, 1]. Runs without
    /// the GIL. Returns a list of `Hit`.
    #[pyo3(signature = (query, *, limit = 10, offset = 0, mode = None, fusion = None, filter = None,
        score_threshold = None, rerank = None, rerank_multiplier = None, ef = None, exact = false,
        max_per_document = None))]
    #[allow(clippy::too_many_arguments)]
    fn search(
        &self,
        py: Python<'_>,
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
    ) -> PyResult<Py<PyList>> {
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
        let col = self.col.clone();
        let found = detached(py, move || apply_options!(col.search(&query), o).run())?;
        hits(py, found)
    }

    /// Searches by a query vector (any array-like of the collection's dimension).
    #[pyo3(signature = (vector, *, limit = 10, offset = 0, filter = None, score_threshold = None,
        ef = None, exact = false, max_per_document = None))]
    #[allow(clippy::too_many_arguments)]
    fn search_by_vector(
        &self,
        py: Python<'_>,
        vector: &Bound<'_, PyAny>,
        limit: usize,
        offset: usize,
        filter: Option<&Bound<'_, PyAny>>,
        score_threshold: Option<f32>,
        ef: Option<usize>,
        exact: bool,
        max_per_document: Option<usize>,
    ) -> PyResult<Py<PyList>> {
        let (values, width) = float_rows(vector, "vector")?;
        if values.len() != width {
            return Err(invalid(py, "vector: one query vector, not several rows"));
        }
        let o = Options::new(
            py,
            limit,
            offset,
            None,
            None,
            filter,
            score_threshold,
            None,
            None,
            ef,
            exact,
            max_per_document,
        )?;
        let col = self.col.clone();
        let found = detached(py, move || {
            apply_options!(col.search_by_vector(values), o).run()
        })?;
        hits(py, found)
    }

    /// Embeds texts with the collection's model as its passages: a `numpy.ndarray[float32]` of
    /// shape (len(texts), dimension). Runs without the GIL.
    fn embed<'py>(&self, py: Python<'py>, texts: Vec<String>) -> PyResult<Bound<'py, PyAny>> {
        let col = self.col.clone();
        let (rows, dimension) = detached(py, move || {
            let dimension = col.info()?.dimension();
            Ok((col.embed(&texts)?, dimension))
        })?;
        array(py, &rows, dimension)
    }

    /// A blocking iterator over this collection's events from now on (its operations' and its
    /// status changes), as `Operation.events` yields them.
    fn events(&self) -> Events {
        Events::new(self.col.events())
    }

    /// This collection's operations, oldest first, as dicts (`status`: only those).
    #[pyo3(signature = (status = None))]
    fn operations(&self, py: Python<'_>, status: Option<&str>) -> PyResult<Py<PyAny>> {
        let filter = status_filter(py, status)?;
        let col = self.col.clone();
        let list = detached(py, move || col.operations(filter))?;
        to_object(py, &list)
    }

    fn __repr__(&self) -> String {
        match self.col.name() {
            Ok(name) => format!("Collection(name={name:?})"),
            Err(_) => "Collection(<unavailable>)".into(),
        }
    }
}
