//! Exact copies of one vector share one graph node.
//!
//! Boilerplate repeated across documents (a licence header, "Table of contents") embeds to the
//! same vector many times. Kept as graph nodes, a group larger than the search beam fills it with
//! equal distances, and a query near the group stops there: another vector, its own query, was
//! not found. So the graph is built over distinct vectors; each other copy is a node without
//! edges, and a search that reaches the first position of a vector returns its copies with it.
//! A stored graph needs no extra field: a node without layer-0 edges in a graph of two or more
//! nodes is a copy (a built node always keeps its nearest neighbour), matched on load to the
//! node holding the same bits.

use std::hash::{BuildHasher, Hasher};

use foldhash::{HashMap, HashMapExt};

use super::graph::{Graph, Near};

/// The copies of each vector held more than once: first position → the others, ascending.
#[derive(Debug, Clone, Default)]
pub(super) struct Copies {
    of: HashMap<u32, Vec<u32>>,
}

impl Copies {
    /// The positions that hold a vector first seen there, and the copies of each.
    pub(super) fn find(vectors: &[f32], dim: usize) -> (Vec<u32>, Copies) {
        let mut seen: HashMap<u64, Vec<u32>> = HashMap::new();
        let mut firsts = Vec::new();
        let mut copies = Copies::default();
        for (position, v) in vectors.chunks_exact(dim).enumerate() {
            let position = position as u32;
            let same = seen.entry(bits_hash(v)).or_default();
            match same
                .iter()
                .find(|&&f| same_bits(&vectors[f as usize * dim..][..dim], v))
            {
                Some(&first) => copies.of.entry(first).or_default().push(position),
                None => {
                    same.push(position);
                    firsts.push(position);
                }
            }
        }
        (firsts, copies)
    }

    /// The copies of a graph loaded from storage: its nodes without edges, each matched to the
    /// connected node with the same bits. Costs nothing when every node has edges.
    pub(super) fn recover(graph: &Graph, vectors: &[f32], dim: usize) -> Copies {
        let n = graph.len() as u32;
        let isolated: Vec<u32> = if n < 2 {
            Vec::new()
        } else {
            (0..n)
                .filter(|&i| graph.neighbours(i, 0).is_empty())
                .collect()
        };
        let mut copies = Copies::default();
        if isolated.is_empty() {
            return copies;
        }
        let vector = |i: u32| &vectors[i as usize * dim..][..dim];
        let mut wanted: HashMap<u64, Vec<u32>> = HashMap::new();
        for &i in &isolated {
            wanted.entry(bits_hash(vector(i))).or_default().push(i);
        }
        for first in 0..n {
            if graph.neighbours(first, 0).is_empty() {
                continue;
            }
            let Some(group) = wanted.get_mut(&bits_hash(vector(first))) else {
                continue;
            };
            let (mine, others): (Vec<u32>, Vec<u32>) = group
                .iter()
                .partition(|&&c| same_bits(vector(c), vector(first)));
            if !mine.is_empty() {
                *group = others;
                copies.of.insert(first, mine);
            }
        }
        copies
    }

    pub(super) fn is_empty(&self) -> bool {
        self.of.is_empty()
    }

    /// The other positions holding the vector of `first` (empty for a vector held once).
    pub(super) fn of(&self, first: u32) -> &[u32] {
        self.of.get(&first).map_or(&[], Vec::as_slice)
    }

    /// `found` (graph nodes, nearest first) with each node's copies after it at the same
    /// distance, keeping only positions `accept` allows, the first `k`.
    pub(super) fn expand(
        &self,
        found: Vec<Near>,
        k: usize,
        accept: Option<&dyn Fn(u32) -> bool>,
    ) -> Vec<Near> {
        let mut out = Vec::with_capacity(k);
        for near in found {
            let group = std::iter::once(near.id).chain(self.of(near.id).iter().copied());
            for id in group.filter(|&id| accept.is_none_or(|f| f(id))) {
                if out.len() == k {
                    return out;
                }
                out.push(Near { id, ..near });
            }
        }
        out
    }

    /// Heap bytes held (approximately).
    pub(super) fn memory_bytes(&self) -> usize {
        self.of.values().map(|v| 4 * v.len() + 48).sum()
    }
}

/// A hash of a vector's bits: every vector of a segment is hashed when it is built or loaded,
/// so a fast one (std's SipHash took 0.7 s of a 100k-vector load).
fn bits_hash(v: &[f32]) -> u64 {
    let mut h = foldhash::fast::FixedState::with_seed(0).build_hasher();
    for pair in v.chunks(2) {
        let high = pair.get(1).map_or(0, |x| u64::from(x.to_bits()) << 32);
        h.write_u64(u64::from(pair[0].to_bits()) | high);
    }
    h.finish()
}

fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}
