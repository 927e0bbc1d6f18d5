//! Graph construction: hnsw_rs builds the graph, which is then exported to the flat layout with
//! every neighbour list re-selected by the HNSW heuristic.
//!
//! This is the only module that names `hnsw_rs`. Measured on 100k MiniLM vectors (M=16, 2
//! threads), hnsw_rs at ef_construction=200 builds 3.3x slower than hnswlib, and its graph needs a
//! wider search beam for the same recall: when a list overflows it drops its farthest entry
//! instead of re-running neighbour selection, so lists hold near but redundant neighbours.
//!
//! So hnsw_rs builds a *draft* with a narrow beam (levels, upper layers, a connected layer 0),
//! exported to the flat layout. Then every node's layer-0 candidates are found by a search of width
//! `ef_construction` over the draft with semantik's own search, and each list is re-selected as HNSW
//! insertion would leave it: the heuristic's choice of `M` (keep, nearest first, a candidate only
//! if it is closer to the node than to every neighbour kept so far; Malkov & Yashunin, algorithm
//! 4), plus reverse edges, cut back by the heuristic past `2M`. The draft and the searches compare
//! 8-bit codes (hnsw_rs holds a copy of the codes, a quarter of the vectors' size); the selection
//! compares the f32 vectors. Build time about hnswlib's, recall per beam width within a point of
//! it.

use hnsw_rs::prelude::{Distance, Hnsw};
use rayon::prelude::*;

use super::graph::{Graph, Near, distance};
use super::hnsw::Int8Codes;
use super::{Metric, dot_codes, squared_l2_codes};
use crate::error::Result;

/// The draft's distance, between 8-bit codes. hnsw_rs needs non-negative distances: inner
/// products are shifted by a bound of their size.
struct DraftDistance {
    metric: Metric,
    shift: i32,
}

impl Distance<i8> for DraftDistance {
    fn eval(&self, a: &[i8], b: &[i8]) -> f32 {
        match self.metric {
            Metric::Cosine | Metric::Dot => (self.shift - dot_codes(a, b)) as f32,
            Metric::L2 => squared_l2_codes(a, b) as f32,
        }
    }
}

/// Beam width of hnsw_rs's draft graph; the refinement searches with `ef_construction`.
const DRAFT_EF: usize = 48;

/// Inserts per call to the progress callback.
const BATCH: usize = 4096;

/// Builds the graph of `vectors` (`dim` floats each). `progress(done)` runs between batches of
/// insertions; an error it returns (cancellation) stops the build.
pub(super) fn build(
    vectors: &[f32],
    dim: usize,
    metric: Metric,
    m: usize,
    ef_construction: usize,
    progress: &mut dyn FnMut(usize) -> Result<()>,
) -> Result<Graph> {
    let n = vectors.len().checked_div(dim).unwrap_or(0);
    if n == 0 {
        return Ok(Graph::from_lists(m, Vec::new(), &[]));
    }
    // The draft and the refinement's searches run on 8-bit codes (a quarter of the memory and of
    // the memory traffic); neighbours are selected on exact distances.
    let codes = Int8Codes::new(vectors, dim, metric);
    let code = |id: usize| codes.code(id);
    // By Cauchy-Schwarz no inner product of two codes exceeds the largest squared length.
    let shift = (0..n)
        .map(|i| dot_codes(code(i), code(i)))
        .max()
        .unwrap_or(0);
    let hnsw = Hnsw::<i8, DraftDistance>::new(
        m,
        n,
        16,
        DRAFT_EF.min(ef_construction),
        DraftDistance { metric, shift },
    );
    let rows: Vec<(&[i8], usize)> = (0..n).map(|i| (code(i), i)).collect();
    // Progress counts the draft's insertions and the refinement's searches as half each.
    for (i, batch) in rows.chunks(BATCH).enumerate() {
        hnsw.parallel_insert_slice(&batch.to_vec());
        progress((i * BATCH + batch.len()) / 2)?;
    }
    // Export: levels and lists as hnsw_rs left them.
    let mut levels = vec![0u8; n];
    let mut lists: Vec<Vec<Vec<u32>>> = vec![Vec::new(); n];
    let points = hnsw.get_point_indexation();
    for layer in 0..=points.get_max_level_observed() as usize {
        for p in points.get_layer_iterator(layer) {
            let node = p.get_origin_id();
            levels[node] = layer as u8;
            lists[node] = p
                .get_neighborhood_id()
                .into_iter()
                .take(layer + 1)
                .map(|l| l.iter().map(|nb| nb.d_id as u32).collect())
                .collect();
        }
    }
    drop(hnsw);
    super::release_freed_memory();
    let mut lists = reselect(vectors, dim, metric, m, &levels, lists);
    // Refinement: each node's layer-0 pool is a search of width ef_construction over the draft.
    let draft = Graph::from_lists(m, levels.clone(), &lists);
    let vector = |id: usize| &vectors[id * dim..(id + 1) * dim];
    let mut pools: Vec<Vec<u32>> = Vec::with_capacity(n);
    for start in (0..n).step_by(BATCH) {
        let end = (start + BATCH).min(n);
        pools.par_extend((start..end).into_par_iter().map(|node| {
            let mut scratch = Vec::new();
            let found = draft.search(
                &codes.from(vector(node), &mut scratch),
                ef_construction,
                ef_construction,
                None,
            );
            found
                .into_iter()
                .map(|c| c.id)
                .chain(lists[node][0].iter().copied())
                .collect::<Vec<u32>>()
        }));
        progress(n / 2 + end / 2)?;
    }
    drop(draft);
    for (node_lists, pool) in lists.iter_mut().zip(pools) {
        node_lists[0] = pool;
    }
    let lists = reselect(vectors, dim, metric, m, &levels, lists);
    let graph = Graph::from_lists(m, levels, &lists);
    drop(lists);
    super::release_freed_memory();
    Ok(graph)
}

/// Turns candidate pools into final lists the way HNSW insertion leaves them: each node keeps the
/// heuristic's choice of at most `m` from its pool, plus the nodes that chose it (reverse edges);
/// a list over its layer's capacity (`2m` on layer 0, `m` above) is cut back by the heuristic.
fn reselect(
    vectors: &[f32],
    dim: usize,
    metric: Metric,
    m: usize,
    levels: &[u8],
    pools: Vec<Vec<Vec<u32>>>,
) -> Vec<Vec<Vec<u32>>> {
    let vector = |id: u32| &vectors[id as usize * dim..(id as usize + 1) * dim];
    let select = |node: usize, layer: usize, pool: &mut Vec<u32>, cap: usize| -> Vec<u32> {
        pool.sort_unstable();
        pool.dedup();
        // An edge may only lead to another node present on its layer.
        pool.retain(|&c| c as usize != node && levels[c as usize] as usize >= layer);
        let mut near: Vec<Near> = pool
            .iter()
            .map(|&id| Near {
                dist: distance(metric, vector(node as u32), vector(id)),
                id,
            })
            .collect();
        // Candidates at equal distance (copies of one vector) in an order of this node's own,
        // so that the members of a group of copies do not all pick the same few of it.
        near.sort_unstable_by(|a, b| {
            a.dist
                .total_cmp(&b.dist)
                .then_with(|| mix(node, a.id).cmp(&mix(node, b.id)))
        });
        let copy = |c: u32| vector(c) == vector(node as u32);
        heuristic(
            &near,
            cap,
            |a, b| distance(metric, vector(a), vector(b)),
            copy,
        )
    };
    let forward: Vec<Vec<Vec<u32>>> = pools
        .into_par_iter()
        .enumerate()
        .map(|(node, mut node_pools)| {
            node_pools
                .iter_mut()
                .enumerate()
                .map(|(layer, pool)| select(node, layer, pool, m))
                .collect()
        })
        .collect();
    let mut lists = forward.clone();
    for (node, node_lists) in forward.iter().enumerate() {
        for (layer, list) in node_lists.iter().enumerate() {
            for &nb in list {
                if let Some(l) = lists[nb as usize].get_mut(layer) {
                    l.push(node as u32);
                }
            }
        }
    }
    lists
        .into_par_iter()
        .enumerate()
        .map(|(node, mut node_lists)| {
            for (layer, list) in node_lists.iter_mut().enumerate() {
                let cap = if layer == 0 { 2 * m } else { m };
                list.sort_unstable();
                list.dedup();
                if list.len() > cap {
                    *list = select(node, layer, list, cap);
                }
            }
            node_lists
        })
        .collect()
}

/// At most this many exact copies of a node among its neighbours: the rest of its list links
/// it to other vectors, so that a large group of copies (boilerplate repeated in hundreds of
/// documents) stays connected to the graph.
const MAX_COPIES: usize = 2;

/// Keeps, nearest first, each candidate no farther from the node than from every kept one, and
/// at most [`MAX_COPIES`] exact copies of the node (`is_copy`).
///
/// A tie keeps the candidate (as hnswlib does): otherwise a node that keeps an exact duplicate
/// of itself rejects every other candidate, each being exactly as far from the duplicate as
/// from the node, and a group of duplicates becomes an island no search reaches.
fn heuristic(
    sorted: &[Near],
    cap: usize,
    dist: impl Fn(u32, u32) -> f32,
    is_copy: impl Fn(u32) -> bool,
) -> Vec<u32> {
    let mut kept: Vec<u32> = Vec::with_capacity(cap);
    let mut copies = 0;
    for c in sorted {
        if kept.len() >= cap {
            break;
        }
        if is_copy(c.id) {
            if copies < MAX_COPIES {
                copies += 1;
                kept.push(c.id);
            }
        } else if kept.iter().all(|&s| dist(c.id, s) >= c.dist) {
            kept.push(c.id);
        }
    }
    kept
}

/// A per-node pseudo-random order of candidate ids (splitmix64 of the pair).
fn mix(node: usize, id: u32) -> u64 {
    let mut z = (node as u64) << 32 ^ u64::from(id);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
