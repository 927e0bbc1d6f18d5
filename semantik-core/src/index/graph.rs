//! A built HNSW graph in a flat layout, and its search.
//!
//! Layer 0 keeps every node's neighbour list in one contiguous array of fixed-size blocks
//! (`[count, id, id, ...]`, `2 * M` ids), so visiting a node touches one cache line run and no
//! pointer; the few nodes on upper layers keep theirs in a second array. Searches use per-thread
//! scratch (a visited array tagged by epoch and two reusable heaps), so a query allocates only
//! its result. Ids here are positions in the segment (`u32`); the segment maps them to chunk ids.

use std::cell::RefCell;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::{Metric, dot, squared_l2};
use crate::error::{Error, Result};

/// Distance used inside the graph: lower is closer. Cosine and dot use the negated inner
/// product; L2 the squared distance.
#[inline]
pub(super) fn distance(metric: Metric, a: &[f32], b: &[f32]) -> f32 {
    match metric {
        Metric::Cosine | Metric::Dot => -dot(a, b),
        Metric::L2 => squared_l2(a, b),
    }
}

/// The score ("higher is better") of a graph distance.
#[inline]
pub(super) fn score_of(metric: Metric, distance: f32) -> f32 {
    match metric {
        Metric::Cosine | Metric::Dot => -distance,
        Metric::L2 => -distance.max(0.0).sqrt(),
    }
}

/// Distances from one query to the graph's nodes, as a search sees them.
pub(super) trait Distances {
    /// Distance from the query to node `id` (lower is closer).
    fn dist(&self, id: u32) -> f32;
    /// Hints the CPU to fetch what `dist(id)` will read.
    fn prefetch(&self, id: u32);
}

/// The vectors a graph's nodes stand for: node `i` is `vectors[i * dim..(i + 1) * dim]`.
#[derive(Clone, Copy)]
pub(super) struct Space<'a> {
    pub(super) vectors: &'a [f32],
    pub(super) dim: usize,
    pub(super) metric: Metric,
}

impl<'a> Space<'a> {
    #[inline]
    pub(super) fn vector(&self, id: u32) -> &'a [f32] {
        &self.vectors[id as usize * self.dim..(id as usize + 1) * self.dim]
    }

    /// Exact distances from `query`.
    pub(super) fn from(self, query: &'a [f32]) -> ExactDistances<'a> {
        ExactDistances { space: self, query }
    }
}

/// Exact f32 distances from a query.
pub(super) struct ExactDistances<'a> {
    space: Space<'a>,
    query: &'a [f32],
}

impl Distances for ExactDistances<'_> {
    #[inline]
    fn dist(&self, id: u32) -> f32 {
        distance(self.space.metric, self.query, self.space.vector(id))
    }
    #[inline]
    fn prefetch(&self, id: u32) {
        prefetch(self.space.vector(id).as_ptr().cast());
    }
}

/// A node and its distance to the query, ordered by distance then id.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Near {
    pub(super) dist: f32,
    pub(super) id: u32,
}

impl Eq for Near {}
impl PartialOrd for Near {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Near {
    fn cmp(&self, other: &Self) -> Ordering {
        self.dist
            .total_cmp(&other.dist)
            .then(self.id.cmp(&other.id))
    }
}

/// Neighbour lists of every layer, flat.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Graph {
    /// Slots per layer-0 list (`2 * M`).
    m0: u32,
    /// Slots per upper-layer list (`M`).
    m: u32,
    entry: u32,
    max_level: u8,
    levels: Vec<u8>,
    /// `n * (m0 + 1)`: per node, a count then `m0` slots.
    layer0: Vec<u32>,
    /// Per node, the start of its upper-layer blocks in `upper` (`u32::MAX` when level 0).
    upper_start: Vec<u32>,
    /// Per node with level `l >= 1`, `l` blocks of `m + 1`: a count then `m` slots.
    upper: Vec<u32>,
}

const MAGIC: &[u8; 4] = b"SKG1";
const NONE: u32 = u32::MAX;

impl Graph {
    /// Assembles a graph from per-node levels and neighbour lists (`lists[node][layer]`).
    /// Lists longer than their layer's capacity are truncated.
    pub(super) fn from_lists(m: usize, levels: Vec<u8>, lists: &[Vec<Vec<u32>>]) -> Graph {
        let n = levels.len();
        let (m0, m) = (2 * m as u32, m as u32);
        let mut layer0 = vec![0u32; n * (m0 as usize + 1)];
        let mut upper_start = vec![NONE; n];
        let mut upper = Vec::new();
        let (mut entry, mut max_level) = (0u32, 0u8);
        for (node, node_lists) in lists.iter().enumerate() {
            let level = levels[node];
            if level > max_level || node == 0 {
                (entry, max_level) = (node as u32, level.max(max_level));
            }
            let block = &mut layer0[node * (m0 as usize + 1)..(node + 1) * (m0 as usize + 1)];
            write_block(block, node_lists.first().map_or(&[][..], |l| l));
            if level > 0 {
                upper_start[node] = upper.len() as u32;
                for layer in 1..=level as usize {
                    let start = upper.len();
                    upper.resize(start + m as usize + 1, 0);
                    write_block(
                        &mut upper[start..],
                        node_lists.get(layer).map_or(&[][..], |l| l),
                    );
                }
            }
        }
        Graph {
            m0,
            m,
            entry,
            max_level,
            levels,
            layer0,
            upper_start,
            upper,
        }
    }

    /// This graph, built over some of `n` positions (node `i` stands for `positions[i]`), laid
    /// out over all `n`: the others get no edges.
    pub(super) fn spread(&self, positions: &[u32], n: usize) -> Graph {
        let mut levels = vec![0u8; n];
        let mut lists = vec![Vec::new(); n];
        for (node, &position) in positions.iter().enumerate() {
            let level = self.levels[node];
            levels[position as usize] = level;
            lists[position as usize] = (0..=level)
                .map(|layer| {
                    self.neighbours(node as u32, layer)
                        .iter()
                        .map(|&nb| positions[nb as usize])
                        .collect()
                })
                .collect();
        }
        let mut graph = Graph::from_lists(self.m as usize, levels, &lists);
        graph.entry = positions[self.entry as usize];
        graph
    }

    /// Number of nodes.
    pub(super) fn len(&self) -> usize {
        self.levels.len()
    }

    /// Neighbours of `node` on `layer` (which must be at most the node's level).
    #[inline]
    pub(super) fn neighbours(&self, node: u32, layer: u8) -> &[u32] {
        let block = if layer == 0 {
            let w = self.m0 as usize + 1;
            &self.layer0[node as usize * w..(node as usize + 1) * w]
        } else {
            let w = self.m as usize + 1;
            let start = self.upper_start[node as usize] as usize + (layer as usize - 1) * w;
            &self.upper[start..start + w]
        };
        &block[1..1 + block[0] as usize]
    }

    /// Bytes held by the graph.
    pub(super) fn memory_bytes(&self) -> usize {
        self.levels.len() + 4 * (self.layer0.len() + self.upper_start.len() + self.upper.len())
    }

    /// The `k` nodes nearest the query of `d` (ascending distance) among those `accept` allows,
    /// exploring with a beam of `ef`.
    pub(super) fn search<D: Distances>(
        &self,
        d: &D,
        k: usize,
        ef: usize,
        accept: Option<&dyn Fn(u32) -> bool>,
    ) -> Vec<Near> {
        let n = self.len();
        if n == 0 || k == 0 {
            return Vec::new();
        }
        let dist = |id: u32| d.dist(id);
        // Greedy descent through the upper layers.
        let mut cur = self.entry;
        let mut cur_d = dist(cur);
        for layer in (1..=self.max_level).rev() {
            loop {
                let mut moved = false;
                for &nb in self.neighbours(cur, layer) {
                    let d = dist(nb);
                    if d < cur_d {
                        (cur, cur_d) = (nb, d);
                        moved = true;
                    }
                }
                if !moved {
                    break;
                }
            }
        }
        let ef = ef.max(k);
        SCRATCH.with(|s| {
            let mut s = s.borrow_mut();
            let s = &mut *s;
            s.reset(n);
            s.mark(cur);
            let start = Near {
                dist: cur_d,
                id: cur,
            };
            s.candidates.push(std::cmp::Reverse(start));
            if accept.is_none_or(|f| f(cur)) {
                s.top.push(start);
            }
            while let Some(std::cmp::Reverse(c)) = s.candidates.pop() {
                if s.top.len() >= ef && s.top.peek().is_some_and(|w| c.dist > w.dist) {
                    break;
                }
                let nbs = self.neighbours(c.id, 0);
                for &nb in nbs {
                    d.prefetch(nb);
                }
                for &nb in nbs {
                    if !s.mark(nb) {
                        continue;
                    }
                    let d = dist(nb);
                    let full = s.top.len() >= ef;
                    if full && s.top.peek().is_some_and(|w| d >= w.dist) {
                        continue;
                    }
                    let near = Near { dist: d, id: nb };
                    s.candidates.push(std::cmp::Reverse(near));
                    if accept.is_none_or(|f| f(nb)) {
                        s.top.push(near);
                        if s.top.len() > ef {
                            s.top.pop();
                        }
                    }
                }
            }
            let mut out: Vec<Near> = s.top.drain().collect();
            out.sort_unstable();
            out.truncate(k);
            out
        })
    }

    /// The serialised form (little-endian), see [`Graph::from_bytes`].
    pub(super) fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32 + self.memory_bytes());
        out.extend_from_slice(MAGIC);
        for v in [
            self.m0,
            self.m,
            self.entry,
            u32::from(self.max_level),
            self.levels.len() as u32,
            self.upper.len() as u32,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&self.levels);
        for v in self
            .layer0
            .iter()
            .chain(&self.upper_start)
            .chain(&self.upper)
        {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }

    /// Decodes and checks a serialised graph: every neighbour id, count and offset in range.
    pub(super) fn from_bytes(bytes: &[u8]) -> Result<Graph> {
        let bad = || Error::corrupt("vector index graph");
        let mut r = Reader { bytes, pos: 0 };
        if r.take(4).ok_or_else(bad)? != MAGIC {
            return Err(bad());
        }
        let mut header = [0u32; 6];
        for h in &mut header {
            *h = r.u32().ok_or_else(bad)?;
        }
        let [m0, m, entry, max_level, n, upper_len] = header;
        let n = n as usize;
        let levels = r.take(n).ok_or_else(bad)?.to_vec();
        let layer0 = r.u32s(n * (m0 as usize + 1)).ok_or_else(bad)?;
        let upper_start = r.u32s(n).ok_or_else(bad)?;
        let upper = r.u32s(upper_len as usize).ok_or_else(bad)?;
        let graph = Graph {
            m0,
            m,
            entry,
            max_level: u8::try_from(max_level).map_err(|_| bad())?,
            levels,
            layer0,
            upper_start,
            upper,
        };
        if r.pos != bytes.len() || !graph.is_consistent() {
            return Err(bad());
        }
        Ok(graph)
    }

    fn is_consistent(&self) -> bool {
        let n = self.len();
        if n == 0 {
            return self.upper.is_empty();
        }
        if self.entry as usize >= n || self.levels[self.entry as usize] != self.max_level {
            return false;
        }
        let w = self.m as usize + 1;
        (0..n).all(|node| {
            let level = self.levels[node];
            if level > self.max_level {
                return false;
            }
            let start = self.upper_start[node];
            let upper_ok = if level == 0 {
                start == NONE
            } else {
                (start as usize)
                    .checked_add(level as usize * w)
                    .is_some_and(|end| end <= self.upper.len())
            };
            upper_ok
                && (0..=level).all(|layer| {
                    let (count, cap) = if layer == 0 {
                        (self.layer0[node * (self.m0 as usize + 1)], self.m0)
                    } else {
                        (
                            self.upper[start as usize + (layer as usize - 1) * w],
                            self.m,
                        )
                    };
                    count <= cap
                        && self
                            .neighbours(node as u32, layer)
                            .iter()
                            .all(|&nb| (nb as usize) < n && self.levels[nb as usize] >= layer)
                })
        })
    }
}

fn write_block(block: &mut [u32], ids: &[u32]) {
    let len = ids.len().min(block.len() - 1);
    block[0] = len as u32;
    block[1..1 + len].copy_from_slice(&ids[..len]);
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        let s = self.bytes.get(self.pos..self.pos.checked_add(len)?)?;
        self.pos += len;
        Some(s)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u32s(&mut self, count: usize) -> Option<Vec<u32>> {
        let raw = self.take(count.checked_mul(4)?)?;
        Some(
            raw.chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        )
    }
}

/// Hints the CPU to load the cache line at `p`.
#[inline(always)]
pub(super) fn prefetch(p: *const i8) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: prefetching is a hint; it never faults, whatever the address.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Per-thread search state, reused across queries.
#[derive(Default)]
struct Scratch {
    /// `visited[i] == epoch` when node `i` was seen by the current query.
    visited: Vec<u32>,
    epoch: u32,
    candidates: BinaryHeap<std::cmp::Reverse<Near>>,
    top: BinaryHeap<Near>,
}

impl Scratch {
    fn reset(&mut self, n: usize) {
        if self.visited.len() < n {
            self.visited.resize(n, 0);
        }
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.visited.fill(0);
            self.epoch = 1;
        }
        self.candidates.clear();
        self.top.clear();
    }

    /// Marks `id` visited; false if it already was.
    #[inline]
    fn mark(&mut self, id: u32) -> bool {
        let slot = &mut self.visited[id as usize];
        if *slot == self.epoch {
            return false;
        }
        *slot = self.epoch;
        true
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}
