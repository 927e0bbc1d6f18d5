//! Vector indexes: the [`VectorIndex`] seam and the exact (brute-force) index.
//!
//! The exact index is the search path for small collections and the ground truth for
//! approximate indexes. Vectors in sled are the source of truth; an index is built from them
//! in memory when a collection is first searched, and kept up to date by operations.

mod exact;

use serde::{Deserialize, Serialize};

pub(crate) use exact::ExactIndex;

/// How vectors are compared. Scores are always "higher is better".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Metric {
    /// Cosine similarity (vectors are normalised when stored); score in \[-1, 1\].
    #[default]
    Cosine,
    /// Inner product.
    Dot,
    /// Euclidean distance; the score is the negated distance.
    L2,
}

impl Metric {
    /// Score of `a` against `b` under this metric (higher is more similar).
    pub(crate) fn score(self, a: &[f32], b: &[f32]) -> f32 {
        match self {
            Metric::Cosine | Metric::Dot => dot(a, b),
            Metric::L2 => -squared_l2(a, b).sqrt(),
        }
    }
}

#[inline(always)]
fn dot_body(a: &[f32], b: &[f32]) -> f32 {
    crate::simd::sum_pairs(a, b, |x, y| x * y)
}

#[inline(always)]
fn squared_l2_body(a: &[f32], b: &[f32]) -> f32 {
    crate::simd::sum_pairs(a, b, |x, y| (x - y) * (x - y))
}

crate::simd::dispatch!(
    /// Inner product, vectorised for the CPU.
    dot, dot_avx2, dot_avx512, (a: &[f32], b: &[f32]) -> f32, dot_body
);
crate::simd::dispatch!(
    /// Squared Euclidean distance, vectorised for the CPU.
    squared_l2, squared_l2_avx2, squared_l2_avx512, (a: &[f32], b: &[f32]) -> f32, squared_l2_body
);

/// Vector index settings of a collection.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct IndexConfig {
    /// How vectors are compared.
    pub metric: Metric,
}

impl IndexConfig {
    /// Default settings: cosine similarity.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the metric.
    ///
    /// ```
    /// use semantik_core::{IndexConfig, Metric};
    /// let c = IndexConfig::new().with_metric(Metric::Dot);
    /// assert_eq!(c.metric, Metric::Dot);
    /// ```
    pub fn with_metric(mut self, metric: Metric) -> Self {
        self.metric = metric;
        self
    }
}

/// One result of an index search: a chunk id and its score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Scored {
    pub(crate) id: u64,
    pub(crate) score: f32,
}

/// A searchable set of vectors keyed by chunk id.
pub(crate) trait VectorIndex: Send + Sync + std::fmt::Debug {
    /// Adds (or replaces) the vector of `id`.
    fn insert(&mut self, id: u64, vector: &[f32]);
    /// Removes `id` if present.
    fn remove(&mut self, id: u64);
    /// The `k` best matches of `query` among ids accepted by `filter`, best first.
    fn search(&self, query: &[f32], k: usize, filter: Option<&dyn Fn(u64) -> bool>) -> Vec<Scored>;
}
