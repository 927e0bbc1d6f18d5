//! Reranking: a second, slower model that re-scores a search's best candidates.
//!
//! A [`Reranker`] sees the query and each candidate passage together, which a bi-encoder
//! (the collection's embedding model) never does, so it orders the top of a result list
//! better. [`CrossEncoder`] runs a BERT sequence-classification checkpoint on candle.

mod cross_encoder;

pub use cross_encoder::CrossEncoder;

use crate::error::Result;

/// Scores passages against a query; higher is more relevant.
///
/// Implementations must be deterministic for equal inputs and return exactly one score per
/// passage, in the passages' order. [`Search::rerank`](crate::Search::rerank) calls it once per
/// search with the top `(offset + limit) x multiplier` candidates (of the merged list in a
/// multi-collection search), outside any lock of the library.
pub trait Reranker: Send + Sync + std::fmt::Debug {
    /// One relevance score per passage, in order.
    ///
    /// # Errors
    /// Model errors.
    fn score(&self, query: &str, passages: &[&str]) -> Result<Vec<f32>>;
}
