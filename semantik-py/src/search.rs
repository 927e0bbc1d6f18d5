//! Search from Python: keyword arguments to the core's builders, `Hit`, rerankers, `Embedder`.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use semantik_core::rerank::{CrossEncoder, Reranker};
use semantik_core::{Embedder as CoreEmbedder, Error, Hit as CoreHit, SearchOptions};

use crate::convert::{array, detached, from_object, invalid, to_object, to_py};

/// One search result.
#[pyclass(module = "semantik._semantik", frozen, get_all)]
pub(crate) struct Hit {
    /// The chunk text.
    text: String,
    /// The final score (higher is better).
    score: f32,
    /// The document's id.
    document_id: String,
    /// The collection's name.
    collection: String,
    /// The document's source file, or None.
    source: Option<String>,
    /// The document's title, or None.
    title: Option<String>,
    /// Titles of the sections the chunk lies in, outermost first.
    headings: Vec<String>,
    /// The page the chunk starts on (PDF), or None.
    page: Option<u32>,
    /// Byte offset of the chunk in the document text.
    start: usize,
    /// End of that range.
    end: usize,
    /// The chunk's id in its collection.
    chunk_id: u64,
    /// Position of the chunk in its document.
    chunk_index: u32,
    /// Vector similarity, or None.
    dense_score: Option<f32>,
    /// BM25 score, or None.
    keyword_score: Option<f32>,
    /// The reranker's score, or None.
    rerank_score: Option<f32>,
    /// Words of the text that match the query's keywords: what to highlight.
    matched_terms: Vec<String>,
    /// The document's metadata.
    metadata: Py<PyAny>,
}

#[pymethods]
impl Hit {
    fn __repr__(&self) -> String {
        let text: String = self.text.chars().take(60).collect();
        format!(
            "Hit(score={:.4}, document_id={:?}, text={:?})",
            self.score, self.document_id, text
        )
    }
}

/// Converts core hits to Python `Hit`s.
pub(crate) fn hits(py: Python<'_>, hits: Vec<CoreHit>) -> PyResult<Py<PyList>> {
    let out = hits
        .into_iter()
        .map(|h| {
            Py::new(
                py,
                Hit {
                    metadata: to_object(py, &h.metadata)?,
                    text: h.text,
                    score: h.score,
                    document_id: h.document_id,
                    collection: h.collection,
                    source: h.source.map(|p| p.to_string_lossy().into_owned()),
                    title: h.title,
                    headings: h.headings,
                    page: h.page,
                    start: h.start,
                    end: h.end,
                    chunk_id: h.chunk_id,
                    chunk_index: h.chunk_index,
                    dense_score: h.scores.dense,
                    keyword_score: h.scores.keyword,
                    rerank_score: h.scores.rerank,
                    matched_terms: h.matched_terms,
                },
            )
        })
        .collect::<PyResult<Vec<_>>>()?;
    Ok(PyList::new(py, out)?.unbind())
}

/// A reranker that calls a Python function `f(query, passages) -> scores`.
struct PyReranker(Py<PyAny>);

impl std::fmt::Debug for PyReranker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PyReranker")
    }
}

impl Reranker for PyReranker {
    fn score(&self, query: &str, passages: &[&str]) -> semantik_core::Result<Vec<f32>> {
        Python::attach(|py| {
            self.0
                .call1(py, (query, passages.to_vec()))
                .and_then(|scores| scores.extract::<Vec<f32>>(py))
                .map_err(|e| Error::Model {
                    name: "python reranker".into(),
                    message: e.to_string(),
                })
        })
    }
}

/// Search options read from keyword arguments, owned so the search runs without the GIL: the
/// core's options (read as the C API's and the CLI's JSON is) and the reranker.
pub(crate) struct Options {
    pub(crate) search: SearchOptions,
    pub(crate) rerank: Option<Arc<dyn Reranker>>,
}

impl Options {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        py: Python<'_>,
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
    ) -> PyResult<Self> {
        let given = PyDict::new(py);
        given.set_item("max_per_document", max_per_document)?;
        given.set_item("limit", limit)?;
        given.set_item("offset", offset)?;
        given.set_item("exact", exact)?;
        given.set_item("mode", mode)?;
        given.set_item("score_threshold", score_threshold)?;
        given.set_item("ef", ef)?;
        for (key, value) in [("fusion", fusion), ("filter", filter)] {
            if let Some(v) = value.filter(|v| !v.is_none()) {
                given.set_item(key, v)?;
            }
        }
        if let Some(m) = rerank_multiplier {
            given.set_item("rerank_multiplier", m)?;
        }
        let search: SearchOptions = from_object(given.as_any(), "search options")?;
        search.validate().map_err(|e| to_py(py, e))?;
        let rerank: Option<Arc<dyn Reranker>> = match rerank {
            None => None,
            Some(r) if r.is_none() || r.extract::<bool>().is_ok_and(|b| !b) => None,
            Some(r) => {
                if let Ok(model) = r.extract::<String>() {
                    Some(Arc::new(detached(py, move || CrossEncoder::load(&model))?))
                } else if r.is_callable() {
                    Some(Arc::new(PyReranker(r.clone().unbind())))
                } else {
                    return Err(invalid(
                        py,
                        "rerank: a cross-encoder model name or a function (query, passages) -> scores",
                    ));
                }
            }
        };
        Ok(Options { search, rerank })
    }
}

/// Applies [`Options`] to a search builder (single and multi-collection searches have the
/// same methods).
macro_rules! apply_options {
    ($builder:expr, $o:expr) => {{
        let o = $o;
        let b = $builder.options(o.search);
        match o.rerank {
            Some(r) => b.rerank(r),
            None => b,
        }
    }};
}
pub(crate) use apply_options;

/// An embedding model on its own: `Embedder("sentence-transformers/all-MiniLM-L6-v2")`, at
/// `revision` and `precision`, found or fetched as collections do.
#[pyclass(module = "semantik._semantik", frozen)]
pub(crate) struct Embedder {
    inner: Arc<dyn CoreEmbedder>,
}

#[pymethods]
impl Embedder {
    #[new]
    #[pyo3(signature = (model = "sentence-transformers/all-MiniLM-L6-v2".to_string(), *,
        revision = None, precision = None))]
    fn new(
        py: Python<'_>,
        model: String,
        revision: Option<String>,
        precision: Option<String>,
    ) -> PyResult<Self> {
        let precision = match precision {
            Some(p) => p.parse().map_err(|e| to_py(py, e))?,
            None => semantik_core::embed::Precision::Float32,
        };
        let spec = semantik_core::embed::ModelSpec::new(model)
            .with_revision(revision)
            .with_precision(precision);
        let (inner, _) = detached(py, move || {
            semantik_core::embed::resolve(
                &spec,
                semantik_core::embed::Device::Cpu,
                &semantik_core::embed::HubConfig::from_env(),
            )
        })?;
        Ok(Embedder { inner })
    }

    /// The model's name.
    #[getter]
    fn model(&self) -> String {
        self.inner.model_name().to_string()
    }

    /// The vector dimension.
    #[getter]
    fn dimension(&self) -> usize {
        self.inner.dimension()
    }

    /// Embeds texts as passages: a `numpy.ndarray[float32]` of shape (len(texts), dimension),
    /// rows L2-normalised. Runs without the GIL.
    fn embed<'py>(&self, py: Python<'py>, texts: Vec<String>) -> PyResult<Bound<'py, PyAny>> {
        let inner = self.inner.clone();
        let rows = detached(py, move || {
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            inner.embed(&refs)
        })?;
        array(py, &rows, self.inner.dimension())
    }

    /// Embeds one query (with the model's query prompt, if it has one): a 1-d array.
    fn embed_query<'py>(&self, py: Python<'py>, text: String) -> PyResult<Bound<'py, PyAny>> {
        let inner = self.inner.clone();
        let row = detached(py, move || inner.embed_query(&text))?;
        let dimension = row.len();
        array(py, &[row], dimension)?.call_method1("reshape", (dimension,))
    }
}
