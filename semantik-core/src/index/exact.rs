//! Exact search: every vector is scored.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

use super::{ChunkSet, Metric, Scored, VectorIndex};

/// Vectors in one contiguous buffer, scored one by one.
#[derive(Debug)]
pub(crate) struct ExactIndex {
    metric: Metric,
    dimension: usize,
    ids: Vec<u64>,
    data: Vec<f32>,
    position: HashMap<u64, usize>,
}

impl ExactIndex {
    pub(crate) fn new(metric: Metric, dimension: usize) -> Self {
        ExactIndex {
            metric,
            dimension,
            ids: Vec::new(),
            data: Vec::new(),
            position: HashMap::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    /// Every `(id, vector)`.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u64, &[f32])> {
        self.ids
            .iter()
            .copied()
            .zip(self.data.chunks_exact(self.dimension.max(1)))
    }

    /// The vector of `id`, if held.
    pub(crate) fn get(&self, id: u64) -> Option<&[f32]> {
        self.position.get(&id).map(|&p| self.vector(p))
    }

    fn vector(&self, pos: usize) -> &[f32] {
        &self.data[pos * self.dimension..(pos + 1) * self.dimension]
    }
}

/// Min-heap entry: the worst kept result is on top.
struct Worst(Scored);

impl PartialEq for Worst {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Worst {}
impl PartialOrd for Worst {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Worst {
    fn cmp(&self, other: &Self) -> Ordering {
        // Reverse of "better": lower score is greater; ties: higher id is worse.
        other
            .0
            .score
            .total_cmp(&self.0.score)
            .then(self.0.id.cmp(&other.0.id))
    }
}

impl VectorIndex for ExactIndex {
    fn insert(&mut self, id: u64, vector: &[f32]) {
        debug_assert_eq!(vector.len(), self.dimension);
        if let Some(&pos) = self.position.get(&id) {
            let d = self.dimension;
            self.data[pos * d..(pos + 1) * d].copy_from_slice(vector);
            return;
        }
        self.position.insert(id, self.ids.len());
        self.ids.push(id);
        self.data.extend_from_slice(vector);
    }

    fn remove(&mut self, id: u64) -> bool {
        let Some(pos) = self.position.remove(&id) else {
            return false;
        };
        let last = self.ids.len() - 1;
        let d = self.dimension;
        if pos != last {
            self.ids.swap(pos, last);
            self.data.copy_within(last * d..(last + 1) * d, pos * d);
            self.position.insert(self.ids[pos], pos);
        }
        self.ids.pop();
        self.data.truncate(last * d);
        true
    }

    fn search(&self, query: &[f32], k: usize, filter: Option<&ChunkSet>) -> Vec<Scored> {
        let k = k.min(self.ids.len());
        if k == 0 || query.len() != self.dimension {
            return Vec::new();
        }
        let mut heap: BinaryHeap<Worst> = BinaryHeap::with_capacity(k + 1);
        for (pos, &id) in self.ids.iter().enumerate() {
            if filter.is_some_and(|f| !f.contains(id)) {
                continue;
            }
            let s = Scored {
                id,
                score: self.metric.score(query, self.vector(pos)),
            };
            if heap.len() < k {
                heap.push(Worst(s));
            } else if let Some(top) = heap.peek()
                && Worst(s) < *top
            {
                heap.pop();
                heap.push(Worst(s));
            }
        }
        let mut out: Vec<Scored> = heap.into_iter().map(|w| w.0).collect();
        out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The heap selection equals sorting every score.
        #[test]
        fn top_k_equals_full_sort(
            vectors in proptest::collection::vec(proptest::collection::vec(-1.0f32..1.0, 4), 0..40),
            query in proptest::collection::vec(-1.0f32..1.0, 4),
            k in 0usize..12,
            removed in proptest::collection::vec(0u64..40, 0..10),
        ) {
            let mut index = ExactIndex::new(Metric::Dot, 4);
            for (i, v) in vectors.iter().enumerate() {
                index.insert(i as u64, v);
            }
            for r in &removed {
                index.remove(*r);
            }
            let mut expected: Vec<Scored> = vectors
                .iter()
                .enumerate()
                .filter(|(i, _)| !removed.contains(&(*i as u64)))
                .map(|(i, v)| Scored { id: i as u64, score: Metric::Dot.score(&query, v) })
                .collect();
            expected.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
            expected.truncate(k);
            prop_assert_eq!(index.search(&query, k, None), expected);
            prop_assert_eq!(index.len(), vectors.len() - removed.iter().filter(|r| (**r as usize) < vectors.len()).collect::<std::collections::HashSet<_>>().len());
        }
    }

    #[test]
    fn filter_and_l2() {
        let mut index = ExactIndex::new(Metric::L2, 2);
        index.insert(1, &[0.0, 0.0]);
        index.insert(2, &[1.0, 0.0]);
        index.insert(3, &[5.0, 0.0]);
        let hits = index.search(&[0.9, 0.0], 2, Some(&ChunkSet::from_iter([1, 3])));
        assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), vec![1, 3]);
        assert!(hits[0].score < 0.0);
        index.insert(1, &[0.9, 0.0]);
        assert_eq!(index.search(&[0.9, 0.0], 1, None)[0].id, 1);
    }
}
