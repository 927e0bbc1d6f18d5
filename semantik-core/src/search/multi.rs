//! One query over several collections.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;

use super::{Hit, Request, SearchMode, SearchOptions, embed_query, failure, finish, run_served};
use crate::collection::CollectionId;
use crate::engine::Engine;
use crate::error::{Error, ErrorInfo, Result};

/// The rank offset of the fusion that merges collections (reciprocal rank fusion).
const MERGE_RRF_K: f32 = 60.0;

/// A search over several collections, built by [`Database::search`](crate::Database::search).
///
/// Collections may use different models: the query is embedded once per distinct model.
/// Each collection is searched as [`Search`](super::Search) would (same mode, filter and
/// fusion), and the lists are merged by reciprocal rank fusion, since scores of different
/// models and corpora are not comparable; each hit names its collection, and its final score
/// is the merged one (or the reranker's, which is comparable across collections). A collection
/// that is missing or fails is reported in [`MultiSearchResults::failures`]; the others answer.
///
/// ```
/// use semantik_core::{CollectionConfig, Database};
/// let dir = tempfile::tempdir()?;
/// let db = Database::open(dir.path())?;
/// let a = db.create_collection(CollectionConfig::new("a").with_model("semantik-test/hash-64"))?;
/// let b = db.create_collection(CollectionConfig::new("b").with_model("semantik-test/hash-128"))?;
/// a.add_texts(["sled stores data on disk"])?.wait(None)?;
/// b.add_texts(["candle runs models"])?.wait(None)?;
/// let found = db.search(&["a", "b", "missing"], "stores data").limit(2).run()?;
/// assert_eq!(found.hits[0].collection, "a");
/// assert_eq!(found.failures[0].collection, "missing");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a search does nothing until run"]
pub struct MultiSearch {
    engine: Arc<Engine>,
    collections: Vec<String>,
    query: String,
    request: Request,
}

request_builders!(MultiSearch);

/// A collection a multi-collection search could not search.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct CollectionFailure {
    /// The collection's name, as given.
    pub collection: String,
    /// Why.
    pub error: ErrorInfo,
}

/// The answer of a multi-collection search.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct MultiSearchResults {
    /// Merged hits, best first, each labelled with its collection.
    pub hits: Vec<Hit>,
    /// The collections that did not answer, with their errors, in the order given.
    pub failures: Vec<CollectionFailure>,
}

impl MultiSearch {
    pub(crate) fn new(engine: Arc<Engine>, collections: Vec<String>, query: &str) -> Self {
        MultiSearch {
            engine,
            collections,
            query: query.to_string(),
            request: Request::default(),
        }
    }

    /// Runs the search.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a limit of 0 or no collection; the reranker's errors.
    /// A collection's own errors are reported in the results instead.
    pub fn run(self) -> Result<MultiSearchResults> {
        if self.collections.is_empty() {
            return Err(Error::invalid(
                "a multi-collection search needs a collection",
            ));
        }
        self.request.options.validate()?;
        let depth = self.request.depth();
        let reranks = self.request.rerank.is_some();
        // Each collection answers its top `depth`, unreranked, above the threshold on its own
        // scores unless a reranker scores the merged list; the merge pages.
        let each = Request {
            options: SearchOptions {
                limit: depth,
                offset: 0,
                score_threshold: if reranks {
                    None
                } else {
                    self.request.options.score_threshold
                },
                ..self.request.options.clone()
            },
            rerank: None,
        };
        let mut failures = Vec::new();
        // Resolved once per collection (a name given twice is searched once).
        let mut targets: Vec<(String, CollectionId)> = Vec::new();
        for name in &self.collections {
            match self.engine.catalog.resolve_name(name) {
                Ok(id) if targets.iter().any(|(_, t)| *t == id) => {}
                Ok(id) => targets.push((name.clone(), id)),
                Err(e) => failures.push(failure(name, &e)),
            }
        }
        // The query embedded once per model, before any lease is taken.
        let mut vectors: HashMap<crate::embed::ModelSpec, Result<Vec<f32>>> = HashMap::new();
        let mode = self.request.options.mode_for(false);
        if mode != SearchMode::Keyword {
            for (_, id) in &targets {
                if let Ok(record) = self.engine.record(*id) {
                    vectors
                        .entry(record.config.model_spec())
                        .or_insert_with(|| embed_query(&self.engine, &record, &self.query));
                }
            }
        }
        let mut lists: Vec<Vec<Hit>> = Vec::new();
        for (name, id) in &targets {
            let answer = self.engine.with_served(*id, |record, _| {
                let vector = if mode == SearchMode::Keyword {
                    None
                } else {
                    Some(match vectors.get(&record.config.model_spec()) {
                        Some(v) => v.as_ref().map_err(Error::clone)?.clone(),
                        // Reindexed to another model since: embedded for it now.
                        None => embed_query(&self.engine, record, &self.query)?,
                    })
                };
                run_served(&self.engine, record, Some(&self.query), vector, &each)
            });
            // `each` does not rerank: this ranks, scores and thresholds, and keeps its depth.
            match answer
                .and_then(|(hits, scale)| finish(hits, &each, Some(&self.query), Some(scale)))
            {
                Ok(hits) => lists.push(hits),
                Err(e) => failures.push(failure(name, &e)),
            }
        }
        // Failures in the order the collections were given.
        failures.sort_by_key(|f| self.collections.iter().position(|c| *c == f.collection));
        let mut merged = merge(lists);
        merged.truncate(depth);
        let mut page = self.request.clone();
        if !reranks {
            page.options.score_threshold = None;
        }
        let hits = finish(merged, &page, Some(&self.query), None)?;
        Ok(MultiSearchResults { hits, failures })
    }
}

/// Reciprocal rank fusion of ranked lists; ties by collection list order, then rank.
fn merge(lists: Vec<Vec<Hit>>) -> Vec<Hit> {
    let mut all: Vec<(f32, usize, usize, Hit)> = lists
        .into_iter()
        .enumerate()
        .flat_map(|(l, hits)| {
            hits.into_iter().enumerate().map(move |(rank, mut h)| {
                // Reciprocal rank scaled so that a list's best hit scores 1.
                let score = (MERGE_RRF_K + 1.0) / (MERGE_RRF_K + rank as f32 + 1.0);
                h.score = score;
                (score, rank, l, h)
            })
        })
        .collect();
    all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    all.into_iter().map(|(_, _, _, h)| h).collect()
}
