//! [`HnswIndex`]: an HNSW graph with its vectors, searchable and serialisable.

use super::copies::Copies;
use super::graph::{Distances, Graph, Space, prefetch, score_of};
use super::{IndexConfig, Metric, Quantization, build, dot_codes};
use crate::error::{Error, Result};

/// An approximate nearest-neighbour index over vectors held in memory.
///
/// Collections build and persist these for you; the type is public for callers who manage their
/// own vectors and for benchmarks. Nodes are identified by their position in the vectors given
/// to [`HnswIndex::build`]. With [`Metric::Cosine`] the caller passes unit vectors.
///
/// ```
/// use semantik_core::{HnswIndex, IndexConfig, Metric};
/// let dim = 8;
/// let vectors: Vec<f32> = (0..500 * dim).map(|i| (i as f32 * 0.618).sin()).collect();
/// let config = IndexConfig::new().with_metric(Metric::L2);
/// let index = HnswIndex::build(vectors.clone(), dim, &config)?;
/// let query = vectors[5 * dim..6 * dim].to_vec();
/// let hits = index.search(&query, 3, 64);
/// assert_eq!(hits[0].0, 5);
/// // The graph is stored apart from the vectors, and reassembled without a rebuild.
/// let bytes = index.graph_bytes();
/// let reopened = HnswIndex::from_graph_bytes(&bytes, vectors, dim, &config)?;
/// assert_eq!(reopened.search(&query, 3, 64), hits);
/// # Ok::<(), semantik_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct HnswIndex {
    metric: Metric,
    dim: usize,
    vectors: Vec<f32>,
    graph: Graph,
    codes: Option<Int8Codes>,
    /// Exact copies: the graph holds each distinct vector once.
    copies: Copies,
}

/// Vectors as `i8` codes of one scale, for traversal: a quarter of the memory traffic.
#[derive(Debug, Clone)]
pub(super) struct Int8Codes {
    dim: usize,
    metric: Metric,
    /// Codes per unit of the original values.
    scale: f32,
    codes: Vec<i8>,
    /// For [`Metric::L2`], each code's squared length (empty for the other metrics).
    norms: Vec<f32>,
}

/// `xs` as codes of their own scale (127 for the largest magnitude) into `out`; returns the scale.
fn quantize_own_scale(xs: &[f32], out: &mut [i8]) -> f32 {
    let max = super::max_abs(xs);
    let scale = if max > 0.0 { 127.0 / max } else { 1.0 };
    super::quantize(xs, scale, out);
    scale
}

impl Int8Codes {
    pub(super) fn new(vectors: &[f32], dim: usize, metric: Metric) -> Int8Codes {
        let mut codes = vec![0i8; vectors.len()];
        let scale = quantize_own_scale(vectors, &mut codes);
        let norms = match metric {
            Metric::L2 => codes
                .chunks_exact(dim)
                .map(|c| dot_codes(c, c) as f32)
                .collect(),
            Metric::Cosine | Metric::Dot => Vec::new(),
        };
        Int8Codes {
            dim,
            metric,
            scale,
            codes,
            norms,
        }
    }

    /// The code of node `id`.
    #[inline]
    pub(super) fn code(&self, id: usize) -> &[i8] {
        &self.codes[id * self.dim..(id + 1) * self.dim]
    }

    /// Distances from `query`, itself turned into codes of its own scale (held in `scratch`):
    /// the code kernels then compare 8-bit integers on both sides.
    pub(super) fn from<'a>(&'a self, query: &[f32], scratch: &'a mut Vec<i8>) -> CodeDistances<'a> {
        scratch.clear();
        scratch.resize(query.len(), 0);
        let query_scale = quantize_own_scale(query, scratch);
        CodeDistances {
            codes: self,
            query: scratch,
            cross: 2.0 * self.scale / query_scale,
        }
    }

    fn memory_bytes(&self) -> usize {
        self.codes.len() + 4 * self.norms.len()
    }
}

/// Approximate distances from a query to i8 codes, ordered as the exact ones would be up to
/// quantization error (of the codes and of the query).
pub(super) struct CodeDistances<'a> {
    codes: &'a Int8Codes,
    /// The query's codes.
    query: &'a [i8],
    /// For L2, `|c - q|^2 - |q|^2 = |c|^2 - cross * (c . q')` in the stored codes' units, `q'`
    /// being the query's codes.
    cross: f32,
}

impl Distances for CodeDistances<'_> {
    #[inline]
    fn dist(&self, id: u32) -> f32 {
        let dot = dot_codes(self.query, self.codes.code(id as usize)) as f32;
        match self.codes.metric {
            Metric::Cosine | Metric::Dot => -dot,
            Metric::L2 => self.codes.norms[id as usize] - self.cross * dot,
        }
    }
    #[inline]
    fn prefetch(&self, id: u32) {
        prefetch(self.codes.code(id as usize).as_ptr());
    }
}

impl HnswIndex {
    /// Builds the index of `vectors` (`dim` floats each, concatenated) with `config`'s metric,
    /// `m` and `ef_construction`, using every rayon thread.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for bad settings or a length that is not a multiple of `dim`.
    pub fn build(vectors: Vec<f32>, dim: usize, config: &IndexConfig) -> Result<HnswIndex> {
        Self::build_with_progress(vectors, dim, config, &mut |_| Ok(()))
    }

    /// [`HnswIndex::build`], calling `progress(vectors inserted)` between batches; an error it
    /// returns stops the build and is returned.
    pub(crate) fn build_with_progress(
        vectors: Vec<f32>,
        dim: usize,
        config: &IndexConfig,
        progress: &mut dyn FnMut(usize) -> Result<()>,
    ) -> Result<HnswIndex> {
        config.validate()?;
        check_shape(&vectors, dim)?;
        let (firsts, copies) = Copies::find(&vectors, dim);
        let graph = |vectors: &[f32], progress: &mut dyn FnMut(usize) -> Result<()>| {
            build::build(
                vectors,
                dim,
                config.metric,
                config.m,
                config.ef_construction,
                progress,
            )
        };
        let graph = if copies.is_empty() {
            graph(&vectors, progress)?
        } else {
            let distinct: Vec<f32> = firsts
                .iter()
                .flat_map(|&p| &vectors[p as usize * dim..][..dim])
                .copied()
                .collect();
            graph(&distinct, progress)?.spread(&firsts, vectors.len() / dim)
        };
        Ok(HnswIndex::assemble(config, dim, vectors, graph, copies))
    }

    fn assemble(
        config: &IndexConfig,
        dim: usize,
        vectors: Vec<f32>,
        graph: Graph,
        copies: Copies,
    ) -> HnswIndex {
        let codes = (config.quantization == Quantization::Int8)
            .then(|| Int8Codes::new(&vectors, dim, config.metric));
        HnswIndex {
            metric: config.metric,
            dim,
            vectors,
            graph,
            codes,
            copies,
        }
    }

    /// Reassembles an index from [`HnswIndex::graph_bytes`] and the same vectors.
    ///
    /// # Errors
    /// [`Error::Corrupt`] when the bytes are not a valid graph or do not match the vectors.
    pub fn from_graph_bytes(
        bytes: &[u8],
        vectors: Vec<f32>,
        dim: usize,
        config: &IndexConfig,
    ) -> Result<HnswIndex> {
        check_shape(&vectors, dim)?;
        let graph = Graph::from_bytes(bytes)?;
        if graph.len() * dim != vectors.len() {
            return Err(Error::corrupt("vector index graph size"));
        }
        let copies = Copies::recover(&graph, &vectors, dim);
        Ok(HnswIndex::assemble(config, dim, vectors, graph, copies))
    }

    /// The graph in its serialised form (the vectors are not included).
    pub fn graph_bytes(&self) -> Vec<u8> {
        self.graph.to_bytes()
    }

    /// Number of vectors.
    pub fn len(&self) -> usize {
        self.graph.len()
    }

    /// Whether the index holds no vector.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How vectors are compared.
    pub fn metric(&self) -> Metric {
        self.metric
    }

    /// Dimension of the vectors.
    pub fn dimension(&self) -> usize {
        self.dim
    }

    /// The vector at `position`.
    pub fn vector(&self, position: u32) -> &[f32] {
        let p = position as usize;
        &self.vectors[p * self.dim..(p + 1) * self.dim]
    }

    /// Bytes held by the vectors (and their codes) and the graph.
    pub fn memory_bytes(&self) -> usize {
        self.vectors.len() * 4
            + self.codes.as_ref().map_or(0, Int8Codes::memory_bytes)
            + self.graph.memory_bytes()
            + self.copies.memory_bytes()
    }

    /// The `k` best matches of `query` as `(position, score)`, best first, exploring with a beam
    /// of `ef` (raised to `k`). Scores are "higher is better" as in [`Metric`].
    pub fn search(&self, query: &[f32], k: usize, ef: usize) -> Vec<(u32, f32)> {
        self.search_filtered(query, k, ef, None)
    }

    /// [`HnswIndex::search`] among positions `accept` allows. The graph is traversed through
    /// rejected nodes too, so connectivity is kept; a very selective filter is better served by
    /// an exact scan of the allowed positions (collections choose automatically).
    pub fn search_filtered(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        accept: Option<&dyn Fn(u32) -> bool>,
    ) -> Vec<(u32, f32)> {
        if query.len() != self.dim {
            return Vec::new();
        }
        let space = Space {
            vectors: &self.vectors,
            dim: self.dim,
            metric: self.metric,
        };
        let exact = space.from(query);
        // A graph node stands for its copies too: it qualifies when any of them is allowed.
        let copies = &self.copies;
        let group_accept =
            accept.map(|f| move |id: u32| f(id) || copies.of(id).iter().any(|&c| f(c)));
        let graph_accept = match (&group_accept, copies.is_empty()) {
            (Some(g), false) => Some(g as &dyn Fn(u32) -> bool),
            _ => accept,
        };
        let near = match &self.codes {
            None => self.graph.search(&exact, k, ef, graph_accept),
            Some(c) => {
                // Traverse on codes, then re-rank the whole beam exactly.
                let mut scratch = Vec::new();
                let codes = c.from(query, &mut scratch);
                let ef = ef.max(k);
                let mut beam = self.graph.search(&codes, ef, ef, graph_accept);
                for n in &mut beam {
                    n.dist = exact.dist(n.id);
                }
                beam.sort_unstable();
                beam.truncate(k);
                beam
            }
        };
        let near = if copies.is_empty() {
            near
        } else {
            copies.expand(near, k, accept)
        };
        near.into_iter()
            .map(|n| (n.id, score_of(self.metric, n.dist)))
            .collect()
    }
}

fn check_shape(vectors: &[f32], dim: usize) -> Result<()> {
    if dim == 0 || !vectors.len().is_multiple_of(dim) || vectors.len() / dim > u32::MAX as usize {
        return Err(Error::InvalidArgument {
            message: format!(
                "{} floats are not a whole number of {dim}-dimensional vectors",
                vectors.len()
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::{Rng, SeedableRng};

    /// `n` random unit vectors of `dim` dimensions.
    pub(crate) fn unit_vectors(n: usize, dim: usize, seed: u64) -> Vec<f32> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut out = Vec::with_capacity(n * dim);
        for _ in 0..n {
            let v: Vec<f32> = (0..dim).map(|_| rng.random_range(-1.0f32..1.0)).collect();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
            out.extend(v.iter().map(|x| x / norm));
        }
        out
    }

    fn exact_top(vectors: &[f32], dim: usize, metric: Metric, q: &[f32], k: usize) -> Vec<u32> {
        let mut all: Vec<(f32, u32)> = vectors
            .chunks_exact(dim)
            .zip(0..)
            .map(|(v, i)| (metric.score(q, v), i))
            .collect();
        all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        all.into_iter().take(k).map(|x| x.1).collect()
    }

    fn recall(index: &HnswIndex, vectors: &[f32], queries: &[f32], dim: usize, ef: usize) -> f64 {
        let mut hits = 0;
        let mut total = 0;
        for q in queries.chunks_exact(dim) {
            let truth = exact_top(vectors, dim, index.metric(), q, 10);
            let found: Vec<u32> = index.search(q, 10, ef).iter().map(|h| h.0).collect();
            hits += found.iter().filter(|f| truth.contains(f)).count();
            total += truth.len();
        }
        hits as f64 / total as f64
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(6))]
        /// At default parameters, recall@10 against brute force is at least 0.95.
        #[test]
        fn recall_at_default_parameters(
            seed in any::<u64>(),
            metric_pick in 0usize..3,
            int8 in any::<bool>(),
        ) {
            let metric = [Metric::Cosine, Metric::Dot, Metric::L2][metric_pick];
            let (n, dim) = (3000, 24);
            let vectors = unit_vectors(n, dim, seed);
            let queries = unit_vectors(50, dim, seed ^ 0x5eed);
            let quantization = if int8 { Quantization::Int8 } else { Quantization::None };
            let config = IndexConfig::new().with_metric(metric).with_quantization(quantization);
            let index = HnswIndex::build(vectors.clone(), dim, &config).unwrap();
            let r = recall(&index, &vectors, &queries, dim, config.ef_search);
            prop_assert!(r >= 0.95, "recall {r} with {metric:?}, {quantization:?}");
        }
    }

    /// Traversal compares the query's own codes with the stored ones: for every metric, also for
    /// a query far outside the range of the stored vectors (which a query quantized at the codes'
    /// scale would have clipped), the exact ten nearest are among the twenty nearest by codes.
    #[test]
    fn code_distances_rank_like_exact_ones() {
        let (n, dim) = (2000, 48);
        let vectors = unit_vectors(n, dim, 11);
        for metric in [Metric::Cosine, Metric::Dot, Metric::L2] {
            let codes = Int8Codes::new(&vectors, dim, metric);
            // A tiny query is only a test for inner products: under L2 every unit vector is
            // then about equally far, and the codes' rounding of their lengths decides.
            let stretches: &[f32] = match metric {
                Metric::L2 => &[1.0, 25.0],
                Metric::Cosine | Metric::Dot => &[1.0, 0.01, 25.0],
            };
            for (seed, &stretch) in stretches.iter().enumerate() {
                let query: Vec<f32> = unit_vectors(1, dim, seed as u64)
                    .iter()
                    .map(|x| x * stretch)
                    .collect();
                let mut scratch = Vec::new();
                let d = codes.from(&query, &mut scratch);
                let mut by_code: Vec<u32> = (0..n as u32).collect();
                by_code.sort_by(|&a, &b| d.dist(a).total_cmp(&d.dist(b)));
                let exact = exact_top(&vectors, dim, metric, &query, 10);
                let found = by_code[..20].iter().filter(|id| exact.contains(id)).count();
                assert_eq!(found, 10, "{metric:?}, query x{stretch}");
            }
        }
    }

    #[test]
    fn graph_bytes_round_trip_and_corruption_is_detected() {
        let dim = 16;
        let vectors = unit_vectors(1500, dim, 7);
        let config = IndexConfig::new();
        let index = HnswIndex::build(vectors.clone(), dim, &config).unwrap();
        let bytes = index.graph_bytes();
        let back = HnswIndex::from_graph_bytes(&bytes, vectors.clone(), dim, &config).unwrap();
        let q = &vectors[3 * dim..4 * dim];
        assert_eq!(index.search(q, 10, 64), back.search(q, 10, 64));
        assert_eq!(back.search(q, 1, 64)[0].0, 3);
        // A neighbour id out of range, a truncation, a wrong vector count: all refused.
        let mut bad = bytes.clone();
        let at = 4 + 24 + 1500 + 4;
        bad[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        for broken in [bad, bytes[..bytes.len() - 1].to_vec()] {
            let e =
                HnswIndex::from_graph_bytes(&broken, vectors.clone(), dim, &config).unwrap_err();
            assert_eq!(e.code(), crate::ErrorCode::Corrupt);
        }
        let e =
            HnswIndex::from_graph_bytes(&bytes, vectors[dim..].to_vec(), dim, &config).unwrap_err();
        assert_eq!(e.code(), crate::ErrorCode::Corrupt);
    }

    #[test]
    fn filtered_search_returns_only_allowed_nodes() {
        let dim = 16;
        let vectors = unit_vectors(2000, dim, 11);
        let index = HnswIndex::build(vectors.clone(), dim, &IndexConfig::new()).unwrap();
        let q = &vectors[..dim];
        let even = |p: u32| p.is_multiple_of(2);
        let hits = index.search_filtered(q, 10, 64, Some(&even));
        assert_eq!(hits.len(), 10);
        assert!(hits.iter().all(|h| h.0.is_multiple_of(2)));
        assert_eq!(hits[0].0, 0);
    }

    /// Repeated vectors (boilerplate chunks) stay reachable: every vector finds itself or an
    /// exact copy. (A tie in the neighbour heuristic used to drop every non-duplicate edge:
    /// one vector in five was unreachable.)
    #[test]
    fn exact_duplicates_stay_reachable() {
        let dim = 32;
        let distinct = unit_vectors(400, dim, 5);
        let mut vectors = Vec::new();
        for (i, v) in distinct.chunks_exact(dim).enumerate() {
            for _ in 0..1 + i % 4 {
                vectors.extend_from_slice(v);
            }
        }
        for metric in [Metric::Cosine, Metric::L2] {
            let config = IndexConfig::new().with_metric(metric);
            let index = HnswIndex::build(vectors.clone(), dim, &config).unwrap();
            let missed = vectors
                .chunks_exact(dim)
                .filter(|q| {
                    let best = index.search(q, 10, config.ef_search)[0].0;
                    index.vector(best) != *q
                })
                .count();
            assert_eq!(
                missed,
                0,
                "{metric:?}: {missed} of {} vectors unreachable",
                index.len()
            );
        }
    }

    /// A vector repeated far more often than the search beam is wide (boilerplate in many
    /// documents): every copy is found, every other vector still finds itself, the copies
    /// respect a filter one by one, and a reopened index knows its copies. (With each copy a
    /// graph node, a search near the group stopped in it: 10 to 151 of the copies were found and
    /// one build in twelve left a distinct vector unfound.)
    #[test]
    fn a_large_group_of_copies_is_one_node() {
        let dim = 32;
        let mut vectors = unit_vectors(1000, dim, 9);
        let copy = vectors[..dim].to_vec();
        for _ in 0..150 {
            vectors.extend_from_slice(&copy);
        }
        let copies = |index: &HnswIndex, hits: &[(u32, f32)]| {
            hits.iter()
                .filter(|h| index.vector(h.0) == copy.as_slice())
                .count()
        };
        let config = IndexConfig::new();
        for _ in 0..3 {
            let index = HnswIndex::build(vectors.clone(), dim, &config).unwrap();
            assert_eq!(copies(&index, &index.search(&copy, 200, 64)), 151);
            let missed = vectors[dim..1000 * dim]
                .chunks_exact(dim)
                .filter(|q| index.vector(index.search(q, 10, config.ef_search)[0].0) != *q)
                .count();
            assert_eq!(missed, 0, "{missed} distinct vectors unreachable");
            // The first copy (position 0) is not allowed; 50 later ones and the odd others are.
            let allowed = |p: u32| p >= 1100 || (p < 1000 && p % 2 == 1);
            let hits = index.search_filtered(&copy, 60, 64, Some(&allowed));
            assert_eq!(hits.len(), 60);
            assert!(hits[..50].iter().all(|h| h.0 >= 1100 && h.1 == hits[0].1));
            assert!(hits[50..].iter().all(|h| h.0 < 1000 && h.0 % 2 == 1));
            let reopened =
                HnswIndex::from_graph_bytes(&index.graph_bytes(), vectors.clone(), dim, &config)
                    .unwrap();
            assert_eq!(
                reopened.search(&copy, 200, 64),
                index.search(&copy, 200, 64)
            );
        }
    }

    #[test]
    fn tiny_and_empty_indexes() {
        let config = IndexConfig::new().with_metric(Metric::L2);
        let empty = HnswIndex::build(Vec::new(), 4, &config).unwrap();
        assert!(empty.is_empty());
        assert!(empty.search(&[0.0; 4], 3, 10).is_empty());
        let one = HnswIndex::build(vec![1.0, 0.0, 0.0, 0.0], 4, &config).unwrap();
        assert_eq!(one.search(&[1.0, 0.0, 0.0, 0.0], 3, 10), vec![(0, -0.0)]);
        assert!(HnswIndex::build(vec![1.0; 5], 4, &config).is_err());
        assert!(HnswIndex::build(vec![1.0; 4], 4, &config.clone().with_hnsw(1, 10, 10)).is_err());
    }
}
