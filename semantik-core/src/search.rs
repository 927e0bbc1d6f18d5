//! Search: the query builder and its hits.
//!
//! This first version runs semantic search over the collection's vector index. Keyword and
//! hybrid modes, filters and reranking plug into the same builder.

use std::path::PathBuf;

use serde::Serialize;

use crate::collection::Collection;
use crate::document::Metadata;
use crate::error::Result;

/// Default number of hits.
pub const DEFAULT_LIMIT: usize = 10;

#[derive(Debug, Clone)]
pub(crate) enum Query {
    Text(String),
    Vector(Vec<f32>),
}

/// A search being built; [`Search::run`] executes it.
///
/// ```
/// use semantik_core::{CollectionConfig, Database};
/// let dir = tempfile::tempdir()?;
/// let db = Database::open(dir.path())?;
/// let col = db.create_collection(CollectionConfig::new("kb").with_model("semantik-test/hash-128"))?;
/// col.add_texts(["sled is an embedded database", "rayon parallelises iterators"])?.wait(None)?;
/// let hits = col.search("embedded database").limit(1).run()?;
/// assert_eq!(hits[0].text, "sled is an embedded database");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a search does nothing until run"]
pub struct Search {
    collection: Collection,
    query: Query,
    limit: usize,
    ef: Option<usize>,
}

impl Search {
    pub(crate) fn text(collection: Collection, query: &str) -> Self {
        Search {
            collection,
            query: Query::Text(query.to_string()),
            limit: DEFAULT_LIMIT,
            ef: None,
        }
    }

    pub(crate) fn vector(collection: Collection, vector: Vec<f32>) -> Self {
        Search {
            collection,
            query: Query::Vector(vector),
            limit: DEFAULT_LIMIT,
            ef: None,
        }
    }

    /// At most this many hits (default 10).
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// Sets the HNSW beam width for this search (default: the collection's
    /// [`IndexConfig::ef_search`](crate::IndexConfig), raised to the limit): wider finds more
    /// of the true nearest neighbours, slower. Vectors not yet in a graph are searched exactly.
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
        self.ef = Some(ef);
        self
    }

    /// Runs the search.
    ///
    /// # Errors
    /// [`Error::DimensionMismatch`](crate::Error::DimensionMismatch) for a query vector of the
    /// wrong length; [`Error::InvalidState`](crate::Error::InvalidState) for a text query on an
    /// external-vector collection; model and storage errors.
    pub fn run(self) -> Result<Vec<Hit>> {
        self.collection
            .engine
            .search(self.collection.id, &self.query, self.limit, self.ef)
    }
}

/// One search result: a chunk and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Hit {
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
    /// Similarity score (higher is better).
    pub score: f32,
    /// The document's metadata.
    pub metadata: Metadata,
}
