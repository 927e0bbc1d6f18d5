//! Search: the query builder, its modes, fusion, filters, reranking, and its hits.
//!
//! A search runs on the caller's thread against one generation of a collection (the one served
//! when it starts; a reindex may swap meanwhile, but the purge of the old generation waits for
//! the searches reading it). [`SearchMode::Semantic`] asks the
//! vector index, [`SearchMode::Keyword`] the BM25 index, and [`SearchMode::Hybrid`] both, then
//! merges the two lists with a [`Fusion`]. A [`Reranker`] may re-score the best candidates.
//! [`Search::max_per_document`] ranks documents instead of chunks. Every final score lies in
//! [0, 1] (how each mode maps its raw scores is in the `ranking` module; the raw component
//! scores stay in [`Hit::scores`]). [`crate::Database::search`] runs one query over several
//! collections.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::collection::{Collection, CollectionRecord};
use crate::document::{Document, DocumentStatus, Metadata};
use crate::embed::{self, EXTERNAL_MODEL};
use crate::engine::Engine;
use crate::error::{Error, ErrorInfo, Result};
use crate::generation::Reader;
use crate::index::Metric;
use crate::keyword::{self, Analyzer};
use crate::rerank::Reranker;
use ranking::Scale;

mod documents;
mod fusion;
mod options;
mod ranking;

pub(crate) use documents::{Documents, DocumentsDelta};

pub use fusion::Fusion;
pub use multi::{CollectionFailure, MultiSearch, MultiSearchResults};
pub use options::{DEFAULT_FUSION_ALPHA, DEFAULT_RRF_K, SearchOptions};

/// Default number of hits.
pub const DEFAULT_LIMIT: usize = 10;

/// Default number of candidates a reranker sees, as a multiple of `offset + limit`.
pub const DEFAULT_RERANK_MULTIPLIER: usize = 4;

/// Candidates each side of a hybrid search contributes at least (more when `offset + limit`
/// is larger): fusion needs depth to recover what one side ranks low.
pub const HYBRID_CANDIDATES: usize = 100;

/// Chunks a search ranked by document takes at least (see [`Search::max_per_document`]).
pub const DOCUMENT_CANDIDATES: usize = 300;

/// How a search finds candidates.
///
/// The default is the mode measured best: hybrid (`make eval` on pyfaq with the default model:
/// nDCG@10 0.626 against 0.599 semantic and 0.320 keyword; the README's evaluation table). A
/// search by vector is semantic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SearchMode {
    /// Nearest neighbours of the query's embedding.
    Semantic,
    /// BM25 over the keyword index.
    Keyword,
    /// Both, merged by the search's [`Fusion`] (the default).
    #[default]
    Hybrid,
}

/// A condition on a document's metadata field.
#[derive(Debug, Clone, PartialEq)]
enum Condition {
    Equals(serde_json::Value),
    /// Numeric range, bounds inclusive.
    Range(Option<f64>, Option<f64>),
}

/// Which documents a search may return. Every condition must hold.
///
/// ```
/// use semantik_core::search::Filter;
/// let f = Filter::new()
///     .source_under("/srv/docs/howto")
///     .media_type("text/html")
///     .metadata_eq("lang", "en")
///     .metadata_range("year", Some(2020.0), None);
/// assert!(!f.is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    source_prefix: Option<PathBuf>,
    media_types: Vec<String>,
    metadata: Vec<(String, Condition)>,
}

impl Filter {
    /// No condition.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether it has no condition.
    pub fn is_empty(&self) -> bool {
        *self == Filter::default()
    }

    /// Documents read from a file at or below `path` (whole path components).
    pub fn source_under(mut self, path: impl AsRef<Path>) -> Self {
        self.source_prefix = Some(path.as_ref().to_path_buf());
        self
    }

    /// Documents of this media type (given more than once: of any of them).
    pub fn media_type(mut self, media_type: impl Into<String>) -> Self {
        self.media_types.push(media_type.into());
        self
    }

    /// Documents whose metadata field `key` equals `value`.
    pub fn metadata_eq(
        mut self,
        key: impl Into<String>,
        value: impl Into<serde_json::Value>,
    ) -> Self {
        self.metadata
            .push((key.into(), Condition::Equals(value.into())));
        self
    }

    /// Documents whose metadata field `key` is a number within `min..=max` (a missing bound
    /// is open).
    pub fn metadata_range(
        mut self,
        key: impl Into<String>,
        min: Option<f64>,
        max: Option<f64>,
    ) -> Self {
        self.metadata.push((key.into(), Condition::Range(min, max)));
        self
    }

    /// Whether a document of this source, media type and metadata passes: the definition the
    /// filter postings of `search::documents` are tested against.
    #[cfg(test)]
    fn accepts(&self, source: Option<&Path>, media_type: &str, metadata: &Metadata) -> bool {
        if let Some(prefix) = &self.source_prefix
            && !source.is_some_and(|s| s.starts_with(prefix))
        {
            return false;
        }
        if !self.media_types.is_empty() && !self.media_types.iter().any(|m| m == media_type) {
            return false;
        }
        self.metadata.iter().all(|(key, cond)| {
            let value = metadata.get(key);
            match cond {
                Condition::Equals(want) => value == Some(want),
                Condition::Range(min, max) => value
                    .and_then(serde_json::Value::as_f64)
                    .is_some_and(|v| min.is_none_or(|m| v >= m) && max.is_none_or(|m| v <= m)),
            }
        })
    }
}

/// The scores behind a hit's final score; `None` where that stage did not run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Scores {
    /// Vector similarity to the query (cosine for cosine collections).
    pub dense: Option<f32>,
    /// BM25 score (0 for a chunk that has none of the query's terms).
    pub keyword: Option<f32>,
    /// The reranker's score.
    pub rerank: Option<f32>,
}

/// What a search looks for.
#[derive(Debug, Clone)]
pub(crate) enum Query {
    Text(String),
    Vector(Vec<f32>),
}

/// The settings of one search, shared by [`Search`] and [`MultiSearch`]: its options and its
/// reranker.
#[derive(Debug, Clone, Default)]
pub(crate) struct Request {
    pub(crate) options: SearchOptions,
    pub(crate) rerank: Option<Arc<dyn Reranker>>,
}

impl Request {
    /// How many candidates the search ranks: `offset + limit`, times the rerank multiplier
    /// when it reranks.
    pub(crate) fn depth(&self) -> usize {
        let want = self.options.offset.saturating_add(self.options.limit);
        match self.rerank {
            Some(_) => want.saturating_mul(self.options.rerank_multiplier.max(1)),
            None => want,
        }
    }

    /// The candidates a search takes: [`Request::depth`], or for a search ranked by document
    /// (whose documents come from several chunks each, and whose length correction is measured
    /// on the candidates) [`DOCUMENT_CANDIDATES`] or three times the depth, whichever is more.
    pub(crate) fn pool(&self) -> usize {
        match self.options.max_per_document {
            Some(_) => self.depth().saturating_mul(3).max(DOCUMENT_CANDIDATES),
            None => self.depth(),
        }
    }
}

/// The settings both [`Search`] and [`MultiSearch`] take.
macro_rules! request_builders {
    ($t:ty) => {
        impl $t {
            /// Every option at once, the reranker aside (`options` replaces what was set).
            ///
            /// ```
            /// use semantik_core::{CollectionConfig, Database, SearchOptions};
            /// let dir = tempfile::tempdir()?;
            /// let db = Database::open(dir.path())?;
            /// let col = db.create_collection(CollectionConfig::new("kb").with_model("semantik-test/hash-64"))?;
            /// col.add_texts(["sled is an embedded database", "rayon parallelises iterators"])?.wait(None)?;
            /// let options = SearchOptions::from_json(r#"{"mode": "keyword", "limit": 1}"#)?;
            /// let hits = col.search("iterators").options(options).run()?;
            /// assert_eq!(hits[0].text, "rayon parallelises iterators");
            /// # Ok::<(), Box<dyn std::error::Error>>(())
            /// ```
            pub fn options(mut self, options: $crate::search::SearchOptions) -> Self {
                self.request.options = options;
                self
            }

            /// At most this many hits (default 10).
            pub fn limit(mut self, limit: usize) -> Self {
                self.request.options.limit = limit;
                self
            }

            /// Skips this many hits first, for paging: hits are ordered by score, then chunk id, so
            /// consecutive pages of an unchanged collection neither repeat nor skip a hit while
            /// `offset + limit` stays within the candidate depth: the HNSW beam `ef` for
            /// semantic search, [`HYBRID_CANDIDATES`](crate::search::HYBRID_CANDIDATES) per side
            /// for hybrid search (its normalisation is over the candidates, so a deeper pool
            /// can reorder every hit), and no reranking (its pool grows with the offset).
            pub fn offset(mut self, offset: usize) -> Self {
                self.request.options.offset = offset;
                self
            }

            /// How candidates are found (default [`SearchMode::default`], hybrid; a search by
            /// vector is semantic only).
            pub fn mode(mut self, mode: SearchMode) -> Self {
                self.request.options.mode = Some(mode);
                self
            }

            /// How a hybrid search merges its two lists (default [`Fusion::default`]).
            pub fn fusion(mut self, fusion: $crate::search::Fusion) -> Self {
                self.request.options.fusion = fusion;
                self
            }

            /// Only documents that pass `filter`.
            pub fn filter(mut self, filter: $crate::search::Filter) -> Self {
                self.request.options.filter = filter;
                self
            }

            /// Only hits whose final score is at least `threshold`.
            pub fn score_threshold(mut self, threshold: f32) -> Self {
                self.request.options.score_threshold = Some(threshold);
                self
            }

            /// Re-scores the best `(offset + limit) x` [`rerank_multiplier`](Self::rerank_multiplier)
            /// candidates with `reranker` and orders them by its score (the hits' final score).
            pub fn rerank(
                mut self,
                reranker: std::sync::Arc<dyn $crate::rerank::Reranker>,
            ) -> Self {
                self.request.rerank = Some(reranker);
                self
            }

            /// Sets how many candidates a reranker sees, as a multiple of `offset + limit`
            /// (default [`DEFAULT_RERANK_MULTIPLIER`](crate::search::DEFAULT_RERANK_MULTIPLIER),
            /// at least 1; it matters only with a reranker).
            pub fn rerank_multiplier(mut self, multiplier: usize) -> Self {
                self.request.options.rerank_multiplier = multiplier.max(1);
                self
            }

            /// Sets the HNSW beam width for this search (default: the collection's
            /// [`IndexConfig::ef_search`](crate::IndexConfig), raised to the candidates wanted): wider
            /// finds more of the true nearest neighbours, slower. Vectors not yet in a graph are
            /// searched exactly.
            ///
            /// ```
            /// use semantik_core::{CollectionConfig, Database};
            /// let dir = tempfile::tempdir()?;
            /// let db = Database::open(dir.path())?;
            /// let col = db.create_collection(CollectionConfig::new("v").with_external_vectors(2))?;
            /// col.add_vectors(vec!["a".into()], vec![vec![1.0, 0.0]], vec![String::new()], vec![])?
            ///     .wait(None)?;
            /// let hits = col.search_by_vector(vec![1.0, 0.1]).ef(200).run()?;
            /// assert_eq!(hits[0].document_id, "a");
            /// # Ok::<(), Box<dyn std::error::Error>>(())
            /// ```
            pub fn ef(mut self, ef: usize) -> Self {
                self.request.options.ef = Some(ef);
                self
            }

            /// Scores every vector instead of walking the graph: exact nearest neighbours, slower
            /// (for ground truth and small collections).
            pub fn exact(mut self) -> Self {
                self.request.options.exact = true;
                self
            }

            /// Ranks documents rather than chunks: at most `n` hits (passages) per document,
            /// documents ordered by their best passage less a length correction (a long
            /// document's best chunk is expected to score higher by chance; see the `search`
            /// module), from the best [`DOCUMENT_CANDIDATES`](crate::search::DOCUMENT_CANDIDATES)
            /// chunks or three times `offset + limit`, whichever is more. Each hit's score
            /// includes its document's correction; pages are stable as with chunks.
            ///
            /// ```
            /// use semantik_core::{CollectionConfig, Database, DocumentInput};
            /// let dir = tempfile::tempdir()?;
            /// let db = Database::open(dir.path())?;
            /// let col = db.create_collection(
            ///     CollectionConfig::new("kb")
            ///         .with_model("semantik-test/hash-64")
            ///         .with_chunking(semantik_core::ChunkingConfig::characters(40, 0)),
            /// )?;
            /// col.add_texts([
            ///     DocumentInput::new("sled stores data. sled is embedded. sled has trees.").with_id("a"),
            ///     DocumentInput::new("rayon runs iterators in parallel").with_id("b"),
            /// ])?
            /// .wait(None)?;
            /// let hits = col.search("sled").max_per_document(1).run()?;
            /// assert_eq!(hits.iter().filter(|h| h.document_id == "a").count(), 1);
            /// assert!(hits.iter().all(|h| (0.0..=1.0).contains(&h.score)));
            /// # Ok::<(), Box<dyn std::error::Error>>(())
            /// ```
            pub fn max_per_document(mut self, n: usize) -> Self {
                self.request.options.max_per_document = Some(n);
                self
            }
        }
    };
}

request_builders!(Search);

mod multi;

/// A search being built; [`Search::run`] executes it.
///
/// ```
/// use semantik_core::{CollectionConfig, Database, SearchMode};
/// let dir = tempfile::tempdir()?;
/// let db = Database::open(dir.path())?;
/// let col = db.create_collection(CollectionConfig::new("kb").with_model("semantik-test/hash-128"))?;
/// col.add_texts(["sled is an embedded database", "rayon parallelises iterators"])?.wait(None)?;
/// let hits = col.search("embedded database").limit(1).run()?;
/// assert_eq!(hits[0].text, "sled is an embedded database");
/// let hits = col.search("iterators").mode(SearchMode::Keyword).run()?;
/// assert_eq!(hits[0].matched_terms, ["iterators"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a search does nothing until run"]
pub struct Search {
    collection: Collection,
    query: Query,
    request: Request,
}

impl Search {
    pub(crate) fn text(collection: Collection, query: &str) -> Self {
        Search {
            collection,
            query: Query::Text(query.to_string()),
            request: Request::default(),
        }
    }

    pub(crate) fn vector(collection: Collection, vector: Vec<f32>) -> Self {
        Search {
            collection,
            query: Query::Vector(vector),
            request: Request::default(),
        }
    }

    /// Runs the search.
    ///
    /// # Errors
    /// [`Error::DimensionMismatch`] for a query vector of the wrong length;
    /// [`Error::InvalidState`] for a text query in semantic or hybrid mode on an
    /// external-vector collection; [`Error::InvalidArgument`] for a keyword or hybrid search
    /// by vector, or a limit of 0; model and storage errors.
    pub fn run(self) -> Result<Vec<Hit>> {
        self.request.options.validate()?;
        let (engine, id) = (&self.collection.engine, self.collection.id);
        let text = match &self.query {
            Query::Text(t) => Some(t.as_str()),
            Query::Vector(_) => None,
        };
        let wants_vector = self.request.options.mode_for(text.is_none()) != SearchMode::Keyword;
        // The query is embedded before the generation's lease is taken (embedding may load a
        // model), and again under it only if a reindex changed the model meanwhile.
        let embedded = match text.filter(|_| wants_vector) {
            Some(t) => {
                let record = engine.record(id)?;
                Some((
                    record.config.model.clone(),
                    embed_query(engine, &record, t)?,
                ))
            }
            None => None,
        };
        let hits = engine.with_served(id, |record, _| {
            let vector = match (&self.query, &embedded) {
                (Query::Vector(v), _) => Some(v.clone()),
                (Query::Text(_), Some((model, v))) if *model == record.config.model => {
                    Some(v.clone())
                }
                (Query::Text(t), _) if wants_vector => Some(embed_query(engine, record, t)?),
                (Query::Text(_), _) => None,
            };
            run_served(engine, record, text, vector, &self.request)
        })?;
        finish(hits.0, &self.request, text, Some(hits.1))
    }
}

/// Embeds `text` with `record`'s model, as a query.
pub(crate) fn embed_query(
    engine: &Engine,
    record: &CollectionRecord,
    text: &str,
) -> Result<Vec<f32>> {
    if record.config.model == EXTERNAL_MODEL {
        return Err(Error::InvalidState {
            message: "this collection stores external vectors: search by vector or by keyword"
                .into(),
        });
    }
    engine
        .models
        .embedder(&record.config.model_spec())?
        .embed_query(text)
}

/// One search result: a chunk and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Hit {
    /// The collection's name.
    pub collection: String,
    /// The chunk's id in its collection.
    pub chunk_id: u64,
    /// The document it belongs to.
    pub document_id: String,
    /// The document's source file, if any.
    pub source: Option<PathBuf>,
    /// Position of the chunk in its document.
    pub chunk_index: u32,
    /// Byte range of the chunk in the document text.
    pub start: usize,
    /// End of that range.
    pub end: usize,
    /// The page the chunk starts on, for paged formats (PDF).
    pub page: Option<u32>,
    /// Titles of the sections the chunk lies in, outermost first.
    pub headings: Vec<String>,
    /// The document's title, when it has one.
    pub title: Option<String>,
    /// The chunk text.
    pub text: String,
    /// The final score, in [0, 1] (higher is better): the similarity in semantic mode, the
    /// BM25 score relative to the query's best in keyword mode, the fused score in hybrid mode,
    /// the reranker's when reranked, each mapped as the `search` module says. With
    /// [`Search::max_per_document`], the document's length correction is included.
    pub score: f32,
    /// The scores it was computed from.
    pub scores: Scores,
    /// Words of the chunk text that match the query's keywords, as written there, in order of
    /// first occurrence (keyword and hybrid modes): what to highlight.
    pub matched_terms: Vec<String>,
    /// The document's metadata.
    pub metadata: Metadata,
    /// How many chunks the document has (for its length correction).
    #[serde(skip)]
    pub(crate) document_chunks: u32,
}

/// A candidate: chunk id, final score, component scores.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Candidate {
    pub(crate) id: u64,
    pub(crate) score: f32,
    pub(crate) scores: Scores,
}

fn by_score(a: &Candidate, b: &Candidate) -> Ordering {
    b.score.total_cmp(&a.score).then(a.id.cmp(&b.id))
}

/// Runs `request` against the served generation of `record`: `text` for keyword search,
/// `vector` (the embedded query, or the caller's) for semantic search. Returns the candidates
/// with their raw scores, best first, and how those map to [0, 1].
pub(crate) fn run_served(
    engine: &Arc<Engine>,
    record: &CollectionRecord,
    text: Option<&str>,
    vector: Option<Vec<f32>>,
    request: &Request,
) -> Result<(Vec<Hit>, Scale)> {
    let options = &request.options;
    let mode = options.mode_for(text.is_none());
    let (dense_wanted, keyword_wanted) = match mode {
        SearchMode::Semantic => (true, false),
        SearchMode::Keyword => (false, true),
        SearchMode::Hybrid => (true, true),
    };
    if keyword_wanted && text.is_none() {
        return Err(Error::invalid(
            "a search by vector is semantic only: keyword and hybrid modes need query text",
        ));
    }
    let depth = request.pool();
    let side_depth = if mode == SearchMode::Hybrid {
        depth.max(HYBRID_CANDIDATES)
    } else {
        depth
    };
    let generation = record.generation();

    let dim = record.config.dimension.unwrap_or(0);
    let vector = match vector.filter(|_| dense_wanted) {
        Some(mut v) => {
            if v.len() != dim {
                return Err(Error::DimensionMismatch {
                    expected: dim,
                    got: v.len(),
                });
            }
            if record.config.index.metric == Metric::Cosine {
                embed::normalize(&mut v);
            }
            Some(v)
        }
        None => None,
    };

    // Only a search that uses keywords analyses the query.
    let analyzer = keyword_wanted
        .then(|| Analyzer::new(&record.config.keyword))
        .transpose()?;
    let terms = match (&analyzer, text) {
        (Some(a), Some(t)) => a.terms(t),
        _ => Vec::new(),
    };
    let rt = engine.ensure_index(record)?;
    let store = engine.store()?;
    // The chunks of the documents the filter accepts.
    let allowed = if options.filter.is_empty() {
        None
    } else {
        Some(rt.with_documents(store.clone(), generation, |docs| {
            docs.allowed(&options.filter)
        })?)
    };
    let allow = allowed.as_ref();
    let keyword_scores: HashMap<u64, f32> = if keyword_wanted {
        let stats = engine.catalog.stats(generation)?;
        let corpus = keyword::Corpus {
            chunks: stats.chunks,
            terms: stats.keyword_terms,
        };
        // Fusion looks up the keyword score of any chunk the dense side found: all of them.
        let k = match mode {
            SearchMode::Keyword => side_depth,
            _ => usize::MAX,
        };
        rt.with_postings(store.as_ref(), generation, |postings| {
            keyword::search(postings, corpus, &record.config.keyword, &terms, k, allow)
        })?
        .into_iter()
        .collect()
    } else {
        HashMap::new()
    };

    let mut candidates: Vec<Candidate> = {
        let guard = rt.index.read().expect("index lock");
        let index = guard.as_ref();
        let dense: Vec<(u64, f32)> = match (&vector, index) {
            (Some(v), Some(index)) => if options.exact {
                index.search_exact(v, side_depth, allow)
            } else {
                index.search_with(v, side_depth, options.ef, allow)
            }
            .into_iter()
            .map(|s| (s.id, s.score))
            .collect(),
            _ => Vec::new(),
        };
        match mode {
            SearchMode::Semantic => dense
                .into_iter()
                .map(|(id, s)| Candidate {
                    id,
                    score: s,
                    scores: Scores {
                        dense: Some(s),
                        ..Scores::default()
                    },
                })
                .collect(),
            SearchMode::Keyword => top(
                keyword_scores.iter().map(|(&id, &s)| Candidate {
                    id,
                    score: s,
                    scores: Scores {
                        keyword: Some(s),
                        ..Scores::default()
                    },
                }),
                side_depth,
            ),
            SearchMode::Hybrid => {
                let v = vector.as_deref().unwrap_or_default();
                let dense_of = |id: u64| {
                    index
                        .and_then(|i| i.vector(id))
                        .map(|x| record.config.index.metric.score(v, x))
                };
                let keyword_top = top(
                    keyword_scores.iter().map(|(&id, &s)| Candidate {
                        id,
                        score: s,
                        scores: Scores::default(),
                    }),
                    side_depth,
                );
                let lists = fusion::Lists {
                    dense: &dense,
                    keyword: &keyword_top
                        .iter()
                        .map(|c| (c.id, c.score))
                        .collect::<Vec<_>>(),
                    keyword_of: &|id| keyword_scores.get(&id).copied().unwrap_or(0.0),
                    dense_of: &dense_of,
                };
                options.fusion.fuse(&lists)
            }
        }
    };
    candidates.sort_by(by_score);
    candidates.truncate(depth);

    let mut hits = resolve(engine, record, &candidates)?;
    if let Some(analyzer) = &analyzer {
        let terms: HashSet<&str> = terms.iter().map(String::as_str).collect();
        for h in &mut hits {
            h.matched_terms = analyzer.matching_words(&h.text, &terms);
        }
    }
    let scale = match mode {
        SearchMode::Semantic => Scale::Dense(record.config.index.metric),
        SearchMode::Keyword => Scale::Keyword {
            best: keyword_scores.values().copied().fold(0.0, f32::max),
        },
        SearchMode::Hybrid => Scale::Fused(options.fusion),
    };
    Ok((hits, scale))
}

/// The page `request` asks for from the candidates `hits` (best first, raw scores of `scale`;
/// `None`: already final, as a multi-collection merge's are): reranked when it reranks, ranked
/// by document when it groups, scored in [0, 1], above its threshold. Runs outside any lease:
/// a reranker is the caller's code.
pub(crate) fn finish(
    mut hits: Vec<Hit>,
    request: &Request,
    text: Option<&str>,
    scale: Option<Scale>,
) -> Result<Vec<Hit>> {
    let scale = match &request.rerank {
        Some(reranker) => {
            let query = text.ok_or_else(|| {
                Error::invalid("reranking needs query text: a search by vector cannot be reranked")
            })?;
            rerank(reranker.as_ref(), query, &mut hits)?;
            Some(Scale::Reranked)
        }
        None => scale,
    };
    if let Some(scale) = scale {
        if let Some(n) = request.options.max_per_document {
            ranking::by_document(&mut hits, n);
        }
        for h in &mut hits {
            h.score = scale.unit(h.score);
        }
        if let Some(t) = request.options.score_threshold {
            hits.retain(|h| h.score >= t);
        }
    }
    Ok(hits
        .into_iter()
        .skip(request.options.offset)
        .take(request.options.limit)
        .collect())
}

/// Re-scores `hits` with `reranker` and orders them by its score.
pub(crate) fn rerank(reranker: &dyn Reranker, query: &str, hits: &mut [Hit]) -> Result<()> {
    let passages: Vec<&str> = hits.iter().map(|h| h.text.as_str()).collect();
    let scores = reranker.score(query, &passages)?;
    if scores.len() != hits.len() {
        return Err(Error::internal(
            "the reranker returned a score count unlike its input",
        ));
    }
    for (h, s) in hits.iter_mut().zip(scores) {
        h.scores.rerank = Some(s);
        h.score = s;
    }
    ranking::sort(hits);
    Ok(())
}

/// The `k` best candidates.
fn top(items: impl Iterator<Item = Candidate>, k: usize) -> Vec<Candidate> {
    let mut all: Vec<Candidate> = items.collect();
    keep_best(&mut all, k, by_score);
    all
}

/// Keeps the first `k` of `items` in the order of `cmp`, sorted: a partial selection first, so
/// that a query matching thousands of chunks sorts only the `k` it keeps.
pub(crate) fn keep_best<T>(items: &mut Vec<T>, k: usize, cmp: impl Fn(&T, &T) -> Ordering) {
    if k == 0 {
        items.clear();
    } else if items.len() > k {
        items.select_nth_unstable_by(k - 1, &cmp);
        items.truncate(k);
    }
    items.sort_by(cmp);
}

/// Reads the chunks and documents of `candidates` (in order), skipping chunks removed or
/// replaced since the indexes answered.
fn resolve(
    engine: &Engine,
    record: &CollectionRecord,
    candidates: &[Candidate],
) -> Result<Vec<Hit>> {
    let reader = Reader::new(engine.store()?, record.generation());
    let mut docs: HashMap<String, Option<Document>> = HashMap::new();
    let mut hits = Vec::with_capacity(candidates.len());
    for c in candidates {
        let Some(chunk) = reader.chunk(c.id)? else {
            continue;
        };
        let doc = match docs.get(&chunk.document_id) {
            Some(d) => d.clone(),
            None => {
                let d = reader.document(&chunk.document_id)?;
                docs.insert(chunk.document_id.clone(), d.clone());
                d
            }
        };
        let Some(doc) = doc.filter(|d| {
            d.status == DocumentStatus::Indexed
                && (d.first_chunk..d.first_chunk + u64::from(d.chunk_count)).contains(&c.id)
        }) else {
            continue;
        };
        hits.push(Hit {
            collection: record.config.name.clone(),
            chunk_id: c.id,
            document_id: chunk.document_id,
            source: doc.source,
            chunk_index: chunk.index,
            start: chunk.start,
            end: chunk.end,
            page: chunk.page,
            headings: chunk.headings,
            title: doc.title,
            text: chunk.text,
            score: c.score,
            scores: c.scores,
            matched_terms: Vec::new(),
            metadata: doc.metadata,
            document_chunks: doc.chunk_count,
        });
    }
    Ok(hits)
}

/// A failure of one collection in a multi-collection search, as reported.
pub(crate) fn failure(name: &str, error: &Error) -> CollectionFailure {
    CollectionFailure {
        collection: name.to_string(),
        error: ErrorInfo::from(error),
    }
}
