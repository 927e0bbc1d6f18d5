//! Vector indexes: exact search, HNSW graphs, and the segmented index of a collection.
//!
//! [`HnswIndex`] is an approximate index: hnsw_rs builds the graph (`build`, the only module
//! naming hnsw_rs), which is kept in a flat layout with re-selected neighbour lists and searched
//! by semantik's own code (`graph`). The exact index is the search path for small collections
//! and the ground truth for approximate ones. Vectors in storage are the source of truth.

mod build;
mod copies;
mod exact;
mod graph;
mod hnsw;
mod segments;

use serde::{Deserialize, Serialize};

pub(crate) use exact::ExactIndex;
pub use hnsw::HnswIndex;
pub use segments::IndexStats;
pub(crate) use segments::{CollectionIndex, verify_stored};

/// Returns heap memory freed by a graph build or an index load to the system: the hnsw_rs draft
/// allocates small objects per node and edge, and loading reads every stored vector through
/// sled's buffers; glibc would otherwise keep those pages for the process.
pub(crate) fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        unsafe extern "C" {
            fn malloc_trim(pad: usize) -> i32;
        }
        // SAFETY: malloc_trim only returns free heap pages to the kernel.
        unsafe {
            malloc_trim(0);
        }
    }
}

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
#[inline(always)]
fn dot_codes_body(a: &[i8], b: &[i8]) -> i32 {
    crate::simd::sum_codes(a, b, |x, y| x * y)
}

#[inline(always)]
fn squared_l2_codes_body(a: &[i8], b: &[i8]) -> i32 {
    crate::simd::sum_codes(a, b, |x, y| (x - y) * (x - y))
}

#[inline(always)]
fn max_abs_body(xs: &[f32]) -> f32 {
    let mut acc = [0.0f32; 16];
    let chunks = xs.chunks_exact(16);
    let tail = chunks.remainder();
    for c in chunks {
        for (a, x) in acc.iter_mut().zip(c) {
            *a = a.max(x.abs());
        }
    }
    acc.iter().chain(tail).fold(0.0f32, |m, x| m.max(x.abs()))
}

#[inline(always)]
fn quantize_body(xs: &[f32], scale: f32, out: &mut [i8]) {
    // Ties to even: one vector instruction (`round` is a library call per value, 0.15 s of a
    // 100k-vector load).
    for (o, x) in out.iter_mut().zip(xs) {
        *o = (x * scale).round_ties_even().clamp(-127.0, 127.0) as i8;
    }
}

crate::simd::dispatch!(
    /// Largest absolute value (0 when empty).
    max_abs, max_abs_avx2, max_abs_avx512, (xs: &[f32]) -> f32, max_abs_body
);
crate::simd::dispatch!(
    /// `out[i] = round(xs[i] * scale)`, clamped to ±127.
    quantize, quantize_avx2, quantize_avx512, (xs: &[f32], scale: f32, out: &mut [i8]), quantize_body
);
crate::simd::dispatch!(
    /// Inner product of two i8 code vectors (exact in `i32` up to 133,000 dimensions).
    dot_codes, dot_codes_avx2, dot_codes_avx512, (a: &[i8], b: &[i8]) -> i32, dot_codes_body
);
crate::simd::dispatch!(
    /// Squared Euclidean distance of two i8 code vectors (exact in `i32` up to 33,000 dimensions).
    squared_l2_codes, squared_l2_codes_avx2, squared_l2_codes_avx512, (a: &[i8], b: &[i8]) -> i32, squared_l2_codes_body
);
crate::simd::dispatch!(
    /// Squared Euclidean distance, vectorised for the CPU.
    squared_l2, squared_l2_avx2, squared_l2_avx512, (a: &[f32], b: &[f32]) -> f32, squared_l2_body
);

/// How graph segments hold vectors in memory for traversal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Quantization {
    /// Traverse on the f32 vectors.
    None,
    /// Traverse on 8-bit codes (one scale per segment, the query turned into codes of its own
    /// scale), then re-rank the search beam with the f32 vectors: a quarter of the memory
    /// traffic per visited node and integer arithmetic, for a quarter more memory.
    #[default]
    Int8,
}

/// Vector index settings of a collection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct IndexConfig {
    /// How vectors are compared.
    pub metric: Metric,
    /// HNSW links per node on upper layers (layer 0 has twice as many). Default 16.
    pub m: usize,
    /// HNSW beam width while building. Default 200.
    pub ef_construction: usize,
    /// HNSW beam width while searching (at least the number of hits asked). Default 64.
    pub ef_search: usize,
    /// Vectors not yet in a graph are searched exactly; once there are this many, they are
    /// built into a graph segment. Default 10,000.
    pub exact_threshold: usize,
    /// Share of deleted vectors in graph segments above which the graphs are rebuilt without
    /// them (compaction). Default 0.2.
    pub compact_deleted_share: f32,
    /// How graph segments hold vectors for traversal. Default [`Quantization::Int8`].
    pub quantization: Quantization,
}

impl Default for IndexConfig {
    fn default() -> Self {
        IndexConfig {
            metric: Metric::Cosine,
            m: 16,
            ef_construction: 200,
            ef_search: 64,
            exact_threshold: 10_000,
            compact_deleted_share: 0.2,
            quantization: Quantization::Int8,
        }
    }
}

impl IndexConfig {
    /// Default settings: cosine similarity, M = 16, ef_construction = 200, ef_search = 64.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the HNSW parameters: links per node `m`, build beam `ef_construction`, search beam
    /// `ef_search`.
    ///
    /// ```
    /// use semantik_core::IndexConfig;
    /// let c = IndexConfig::new().with_hnsw(32, 400, 128);
    /// assert_eq!((c.m, c.ef_construction, c.ef_search), (32, 400, 128));
    /// ```
    pub fn with_hnsw(mut self, m: usize, ef_construction: usize, ef_search: usize) -> Self {
        self.m = m;
        self.ef_construction = ef_construction;
        self.ef_search = ef_search;
        self
    }

    /// Sets how many vectors outside graphs trigger a graph build.
    pub fn with_exact_threshold(mut self, vectors: usize) -> Self {
        self.exact_threshold = vectors;
        self
    }

    /// Sets the deleted share of graph segments that triggers a compaction.
    pub fn with_compact_deleted_share(mut self, share: f32) -> Self {
        self.compact_deleted_share = share;
        self
    }

    /// Sets how graph segments hold vectors for traversal.
    ///
    /// ```
    /// use semantik_core::{IndexConfig, Quantization};
    /// let c = IndexConfig::new().with_quantization(Quantization::Int8);
    /// assert_eq!(c.quantization, Quantization::Int8);
    /// ```
    pub fn with_quantization(mut self, quantization: Quantization) -> Self {
        self.quantization = quantization;
        self
    }

    /// Checks the settings.
    pub(crate) fn validate(&self) -> crate::Result<()> {
        let bad = |message: &str| {
            Err(crate::Error::InvalidArgument {
                message: message.into(),
            })
        };
        if !(2..=128).contains(&self.m) {
            return bad("index m must be between 2 and 128");
        }
        if self.ef_construction == 0 || self.ef_search == 0 {
            return bad("index ef_construction and ef_search must be positive");
        }
        if !(self.compact_deleted_share > 0.0 && self.compact_deleted_share <= 1.0) {
            return bad("index compact_deleted_share must be in (0, 1]");
        }
        Ok(())
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

/// A set of chunk ids: what a filtered search may return.
pub(crate) type ChunkSet = roaring::RoaringTreemap;

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
    /// Removes `id`; false if it was not there.
    fn remove(&mut self, id: u64) -> bool;
    /// The `k` best matches of `query` among the ids in `filter` (all when `None`), best first.
    fn search(&self, query: &[f32], k: usize, filter: Option<&ChunkSet>) -> Vec<Scored>;
}
