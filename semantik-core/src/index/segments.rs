//! The vector index of a collection: immutable HNSW segments, a small exact segment for fresh
//! vectors, and tombstones.
//!
//! Fresh vectors go to the exact segment, which is searched by brute force. Once it holds
//! `exact_threshold` vectors, an operation builds them into an HNSW segment (outside any lock)
//! and installs it. Deleting a vector of a graph segment sets its tombstone bit: searches pass
//! through it (the graph stays connected) but never return it. When the deleted share passes
//! `compact_deleted_share`, or there are too many segments, a compaction rebuilds one segment
//! from every live vector.
//!
//! Persistence: each segment is stored as its member chunk ids and its graph, in parts, with a
//! manifest, all in one atomic batch; vectors are not duplicated, they are read from the
//! collection's vector records (the source of truth) on load. A member whose vector record is
//! gone is a tombstone; a vector in no segment is fresh. So the persisted graphs and the stored
//! vectors cannot disagree after a crash: the worst case is a segment that fails its checksum,
//! whose vectors are then searched exactly until a rebuild.

use serde::{Deserialize, Serialize};

use super::hnsw::HnswIndex;
use super::{ChunkSet, ExactIndex, IndexConfig, Scored, VectorIndex};
use crate::error::{Error, Result};
use crate::generation::GenerationId;
use crate::storage::{self, Store, WriteBatch, keys};

/// More graph segments than this are compacted into one.
const MAX_SEGMENTS: usize = 8;
/// Bytes per stored part of a segment.
const PART_BYTES: usize = 1 << 20;
/// Below this number of allowed vectors, a filtered search scans them exactly.
const EXACT_FILTER_BELOW: usize = 2_000;
/// Vectors scored per node a filtered graph walk visits, against one a scan scores.
const SCAN_FACTOR: usize = 16;

/// An immutable graph segment and its tombstones.
#[derive(Debug)]
struct Segment {
    id: u64,
    /// Chunk id of each position, ascending.
    ids: Vec<u64>,
    index: HnswIndex,
    deleted: Vec<u64>,
    deleted_count: usize,
}

impl Segment {
    fn new(id: u64, ids: Vec<u64>, index: HnswIndex) -> Segment {
        let words = ids.len().div_ceil(64);
        Segment {
            id,
            ids,
            index,
            deleted: vec![0; words],
            deleted_count: 0,
        }
    }

    fn is_deleted(&self, pos: u32) -> bool {
        self.deleted[pos as usize / 64] & (1 << (pos % 64)) != 0
    }

    fn delete(&mut self, pos: u32) {
        if !self.is_deleted(pos) {
            self.deleted[pos as usize / 64] |= 1 << (pos % 64);
            self.deleted_count += 1;
        }
    }

    fn position(&self, id: u64) -> Option<u32> {
        self.ids.binary_search(&id).ok().map(|p| p as u32)
    }

    fn live(&self) -> usize {
        self.ids.len() - self.deleted_count
    }

    /// The `k` best live members that `filter` allows.
    fn search(&self, query: &[f32], k: usize, ef: usize, filter: Option<&ChunkSet>) -> Vec<Scored> {
        // A walk that accepts a share `s` of the nodes visits about `ef / s` of them, scoring
        // each one's neighbours; a scan scores the `a = s * n` allowed vectors once: the scan
        // is the cheaper while `a * a < SCAN_FACTOR * ef * n`.
        let scan_below = (SCAN_FACTOR * ef * self.ids.len())
            .isqrt()
            .max(EXACT_FILTER_BELOW);
        if let Some(few) = filter.and_then(|f| self.allowed_positions(f, scan_below)) {
            return self.score(query, k, few);
        }
        let allowed = |pos: u32| self.allows(pos, filter);
        let hits = if self.deleted_count == 0 && filter.is_none() {
            self.index.search(query, k, ef)
        } else {
            self.index.search_filtered(query, k, ef, Some(&allowed))
        };
        if hits.len() < k && hits.len() < self.live() {
            // The beam ran dry among rejected nodes: scan, so that existing hits are found.
            return self.exact(query, k, filter);
        }
        hits.into_iter()
            .map(|(pos, score)| Scored {
                id: self.ids[pos as usize],
                score,
            })
            .collect()
    }

    /// Whether position `pos` is live and its member in `filter` (if any).
    fn allows(&self, pos: u32, filter: Option<&ChunkSet>) -> bool {
        !self.is_deleted(pos) && filter.is_none_or(|f| f.contains(self.ids[pos as usize]))
    }

    /// The live positions `filter` allows, listed from the filter when it has fewer than
    /// `below` ids within this segment's range; `None` when it has more.
    fn allowed_positions(&self, filter: &ChunkSet, below: usize) -> Option<Vec<u32>> {
        let (&first, &last) = (self.ids.first()?, self.ids.last()?);
        if filter.range_cardinality(first..=last) >= below as u64 {
            return None;
        }
        let mut ids = filter.iter();
        ids.advance_to(first);
        Some(
            ids.take_while(|&id| id <= last)
                .filter_map(|id| self.position(id))
                .filter(|&pos| !self.is_deleted(pos))
                .collect(),
        )
    }

    /// The `k` best live members that `filter` allows, every one scored.
    fn exact(&self, query: &[f32], k: usize, filter: Option<&ChunkSet>) -> Vec<Scored> {
        // Each listed id costs a binary search, each position of a scan one membership test.
        let list_below = self.ids.len() / 16;
        let positions: Vec<u32> = match filter.and_then(|f| self.allowed_positions(f, list_below)) {
            Some(few) => few,
            None => (0..self.ids.len() as u32)
                .filter(|&p| self.allows(p, filter))
                .collect(),
        };
        self.score(query, k, positions)
    }

    /// The `k` best of `positions`.
    fn score(&self, query: &[f32], k: usize, positions: Vec<u32>) -> Vec<Scored> {
        let mut hits: Vec<Scored> = positions
            .into_iter()
            .map(|p| Scored {
                id: self.ids[p as usize],
                score: self.index.metric().score(query, self.index.vector(p)),
            })
            .collect();
        sort_hits(&mut hits);
        hits.truncate(k);
        hits
    }

    /// Serialised form: count, member ids, graph.
    fn to_bytes(&self) -> Vec<u8> {
        let graph = self.index.graph_bytes();
        let mut out = Vec::with_capacity(8 + 8 * self.ids.len() + graph.len());
        out.extend_from_slice(&(self.ids.len() as u64).to_le_bytes());
        for id in &self.ids {
            out.extend_from_slice(&id.to_le_bytes());
        }
        out.extend_from_slice(&graph);
        out
    }
}

fn sort_hits(hits: &mut [Scored]) {
    hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
}

/// What persisting a segment set needs to know: written with the parts in one batch.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Manifest {
    next_segment: u64,
    segments: Vec<SegmentEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SegmentEntry {
    id: u64,
    vectors: u64,
    parts: u32,
    bytes: u64,
    checksum: String,
}

/// A snapshot of a collection's vector index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[non_exhaustive]
pub struct IndexStats {
    /// Searchable vectors.
    pub vectors: usize,
    /// Vectors searched exactly because they are not in a graph yet.
    pub exact_vectors: usize,
    /// HNSW graph segments.
    pub graph_segments: usize,
    /// Deleted vectors still held by graph segments (until a compaction).
    pub deleted_vectors: usize,
    /// Bytes of memory held by vectors and graphs.
    pub memory_bytes: usize,
}

/// A graph build to run: which vectors, and which segments it replaces.
#[derive(Debug)]
pub(crate) struct BuildPlan {
    ids: Vec<u64>,
    vectors: Vec<f32>,
    replaces: Vec<u64>,
    segment: u64,
}

impl BuildPlan {
    /// Vectors the build will insert.
    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }
}

/// A built segment, ready to be persisted and installed.
#[derive(Debug)]
pub(crate) struct Built {
    segment: Segment,
    replaces: Vec<u64>,
}

/// What loading found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LoadReport {
    /// Stored segments that failed their checks and were dropped.
    pub(crate) dropped_segments: usize,
}

/// The searchable vectors of one collection.
#[derive(Debug)]
pub(crate) struct CollectionIndex {
    config: IndexConfig,
    dim: usize,
    segments: Vec<Segment>,
    fresh: ExactIndex,
    next_segment: u64,
    /// Stored segments that failed their checks at load: still listed in the stored manifest
    /// until the next persisted build replaces them.
    dropped: Vec<u64>,
}

impl CollectionIndex {
    pub(crate) fn new(config: IndexConfig, dim: usize) -> CollectionIndex {
        CollectionIndex {
            fresh: ExactIndex::new(config.metric, dim),
            config,
            dim,
            segments: Vec::new(),
            next_segment: 0,
            dropped: Vec::new(),
        }
    }

    /// Counts and sizes.
    pub(crate) fn stats(&self) -> IndexStats {
        IndexStats {
            vectors: self.fresh.len() + self.segments.iter().map(Segment::live).sum::<usize>(),
            exact_vectors: self.fresh.len(),
            graph_segments: self.segments.len(),
            deleted_vectors: self.deleted_len(),
            memory_bytes: self.fresh.len() * (self.dim * 4 + 8)
                + self
                    .segments
                    .iter()
                    .map(|s| s.index.memory_bytes() + 8 * s.ids.len() + 8 * s.deleted.len())
                    .sum::<usize>(),
        }
    }

    /// Deleted vectors still held by graph segments.
    fn deleted_len(&self) -> usize {
        self.segments.iter().map(|s| s.deleted_count).sum()
    }

    /// The build this index needs, if any: a compaction when tombstones or segments are too
    /// many (or `force`), else a new segment from the fresh vectors when they are too many.
    pub(crate) fn plan(&self, force_compact: bool) -> Option<BuildPlan> {
        let in_graphs: usize = self.segments.iter().map(|s| s.ids.len()).sum();
        let deleted = self.deleted_len();
        let compact = force_compact
            || (deleted > 0
                && deleted as f32 > self.config.compact_deleted_share * in_graphs as f32)
            || self.segments.len() >= MAX_SEGMENTS;
        let mut members: Vec<(u64, &[f32])> = Vec::new();
        let mut replaces = if compact {
            for s in &self.segments {
                members.extend(
                    (0..s.ids.len() as u32)
                        .filter(|&p| !s.is_deleted(p))
                        .map(|p| (s.ids[p as usize], s.index.vector(p))),
                );
            }
            self.segments.iter().map(|s| s.id).collect()
        } else if self.fresh.len() >= self.config.exact_threshold.max(1) {
            Vec::new()
        } else {
            return None;
        };
        members.extend(self.fresh.iter());
        // Segments dropped at load leave the stored manifest with the next build.
        replaces.extend(&self.dropped);
        if members.is_empty() && replaces.is_empty() {
            return None;
        }
        members.sort_unstable_by_key(|m| m.0);
        let mut vectors = Vec::with_capacity(members.len() * self.dim);
        for (_, v) in &members {
            vectors.extend_from_slice(v);
        }
        Some(BuildPlan {
            ids: members.into_iter().map(|m| m.0).collect(),
            vectors,
            replaces,
            segment: self.next_segment,
        })
    }

    /// Builds the planned segment (the long part: run it without holding the index lock).
    pub(crate) fn build(
        config: &IndexConfig,
        dim: usize,
        plan: BuildPlan,
        progress: &mut dyn FnMut(usize) -> Result<()>,
    ) -> Result<Built> {
        let index = HnswIndex::build_with_progress(plan.vectors, dim, config, progress)?;
        Ok(Built {
            segment: Segment::new(plan.segment, plan.ids, index),
            replaces: plan.replaces,
        })
    }

    /// The batch that persists the segment set after installing `built`: new parts, a new
    /// manifest, and the replaced segments' parts removed.
    pub(crate) fn persist_batch(
        store: &dyn Store,
        generation: GenerationId,
        built: &Built,
    ) -> Result<WriteBatch> {
        let mut batch = WriteBatch::new();
        let mut manifest: Manifest =
            storage::get_json(store, "index manifest", &keys::index_manifest(generation))?
                .unwrap_or_default();
        for old in manifest
            .segments
            .iter()
            .filter(|e| built.replaces.contains(&e.id))
        {
            for part in 0..old.parts {
                batch.delete(keys::index_part(generation, old.id, part));
            }
        }
        manifest
            .segments
            .retain(|e| !built.replaces.contains(&e.id));
        let bytes = built.segment.to_bytes();
        let mut parts = 0;
        for (i, chunk) in bytes.chunks(PART_BYTES).enumerate() {
            batch.put(
                keys::index_part(generation, built.segment.id, i as u32),
                chunk.to_vec(),
            );
            parts += 1;
        }
        manifest.segments.push(SegmentEntry {
            id: built.segment.id,
            vectors: built.segment.ids.len() as u64,
            parts,
            bytes: bytes.len() as u64,
            checksum: blake3::hash(&bytes).to_hex().to_string(),
        });
        manifest.next_segment = manifest.next_segment.max(built.segment.id + 1);
        batch.put_json(keys::index_manifest(generation), &manifest)?;
        Ok(batch)
    }

    /// Installs a built segment (after its batch is applied). Vectors deleted while it was
    /// being built become tombstones in it; its members leave the exact segment.
    pub(crate) fn install(&mut self, built: Built) {
        let Built {
            mut segment,
            replaces,
        } = built;
        let old: Vec<Segment> = {
            let (gone, kept) = std::mem::take(&mut self.segments)
                .into_iter()
                .partition(|s| replaces.contains(&s.id));
            self.segments = kept;
            gone
        };
        self.dropped.retain(|id| !replaces.contains(id));
        for pos in 0..segment.ids.len() as u32 {
            let id = segment.ids[pos as usize];
            let live_in_old = old
                .iter()
                .any(|s| s.position(id).is_some_and(|p| !s.is_deleted(p)));
            if !self.fresh.remove(id) && !live_in_old {
                segment.delete(pos);
            }
        }
        self.next_segment = self.next_segment.max(segment.id + 1);
        self.segments.push(segment);
    }

    /// Loads a collection's index: stored segments joined with the stored vectors.
    pub(crate) fn load(
        store: &dyn Store,
        generation: GenerationId,
        config: IndexConfig,
        dim: usize,
    ) -> Result<(CollectionIndex, LoadReport)> {
        let mut index = CollectionIndex::new(config, dim);
        let mut report = LoadReport::default();
        let manifest: Manifest =
            storage::get_json(store, "index manifest", &keys::index_manifest(generation))?
                .unwrap_or_default();
        index.next_segment = manifest.next_segment;
        let mut stored = Vec::new();
        for entry in &manifest.segments {
            match read_segment(store, generation, entry) {
                Ok(segment) => stored.push(segment),
                Err(_) => {
                    report.dropped_segments += 1;
                    index.dropped.push(entry.id);
                }
            }
        }
        let members: Vec<&[u64]> = stored.iter().map(|s| s.members.as_slice()).collect();
        let Placed {
            members: placed,
            fresh_ids,
            fresh,
        } = read_vectors(store, generation, dim, &members)?;
        for (segment, (vectors, found)) in stored.into_iter().zip(placed) {
            let StoredSegment { id, members, bytes } = segment;
            let graph = &bytes[8 + 8 * members.len()..];
            match HnswIndex::from_graph_bytes(graph, vectors, dim, &index.config) {
                Ok(hnsw) => {
                    let mut segment = Segment::new(id, members, hnsw);
                    for (pos, _) in found.iter().enumerate().filter(|(_, f)| !**f) {
                        segment.delete(pos as u32);
                    }
                    index.segments.push(segment);
                }
                Err(_) => {
                    // A graph that does not parse (its checksum did): its vectors, read again,
                    // are searched exactly.
                    report.dropped_segments += 1;
                    index.dropped.push(id);
                    for (&member, _) in members.iter().zip(&found).filter(|(_, f)| **f) {
                        let Some(bytes) = store.get(&keys::vector(generation, member))? else {
                            continue;
                        };
                        let mut vector = Vec::with_capacity(dim);
                        storage::decode_vector_into(&bytes, &mut vector)?;
                        index.fresh.insert(member, &vector);
                    }
                }
            }
        }
        for (id, vector) in fresh_ids.iter().zip(fresh.chunks_exact(dim)) {
            index.fresh.insert(*id, vector);
        }
        drop(fresh);
        super::release_freed_memory();
        Ok((index, report))
    }
}

/// Checks the stored graph segments of generation `generation` against its manifest: every part
/// present, each segment's length and checksum as listed, its members ascending, counted as
/// listed and in no other segment, and no part stored for a segment the manifest does not
/// list. Reports each problem to `report`.
pub(crate) fn verify_stored(
    store: &dyn Store,
    generation: GenerationId,
    report: &mut dyn FnMut(String),
) -> Result<()> {
    let manifest: Manifest =
        match storage::get_json(store, "index manifest", &keys::index_manifest(generation)) {
            Ok(m) => m.unwrap_or_default(),
            Err(e) => {
                report(e.to_string());
                return Ok(());
            }
        };
    let mut members = std::collections::HashSet::new();
    for entry in &manifest.segments {
        if entry.id >= manifest.next_segment {
            report(format!(
                "segment {} is not below the next segment id {}",
                entry.id, manifest.next_segment
            ));
        }
        let mut bytes = Vec::with_capacity(entry.bytes as usize);
        let mut complete = true;
        for part in 0..entry.parts {
            match store.get(&keys::index_part(generation, entry.id, part))? {
                Some(p) => bytes.extend_from_slice(&p),
                None => {
                    report(format!("part {part} of segment {} is missing", entry.id));
                    complete = false;
                }
            }
        }
        if !complete {
            continue;
        }
        if bytes.len() as u64 != entry.bytes
            || blake3::hash(&bytes).to_hex().as_str() != entry.checksum
        {
            report(format!(
                "segment {} does not match its length or checksum",
                entry.id
            ));
            continue;
        }
        let count = bytes
            .get(..8)
            .map_or(0, |b| u64::from_le_bytes(b.try_into().expect("8 bytes")));
        let ids: Vec<u64> = bytes
            .get(8..8 + 8 * count.min(bytes.len() as u64) as usize)
            .unwrap_or_default()
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect();
        if count != entry.vectors || ids.len() as u64 != count {
            report(format!(
                "segment {} lists {} members, its manifest {}",
                entry.id,
                ids.len(),
                entry.vectors
            ));
        }
        if ids.windows(2).any(|w| w[0] >= w[1]) {
            report(format!("members of segment {} are not ascending", entry.id));
        }
        for id in ids {
            if !members.insert(id) {
                report(format!("chunk {id} is a member of two segments"));
            }
        }
    }
    let listed: std::collections::HashMap<u64, u32> =
        manifest.segments.iter().map(|e| (e.id, e.parts)).collect();
    let prefix = keys::in_generation(keys::INDEX_PART, generation);
    for entry in store.scan_prefix(&prefix) {
        let (k, _) = entry?;
        let rest = &k[prefix.len()..];
        let (segment, part) = match rest.len() {
            12 => (
                u64::from_be_bytes(rest[..8].try_into().expect("8 bytes")),
                u32::from_be_bytes(rest[8..].try_into().expect("4 bytes")),
            ),
            _ => {
                report(format!("malformed index part key {}", keys::hex(&k)));
                continue;
            }
        };
        if listed.get(&segment).is_none_or(|&parts| part >= parts) {
            report(format!(
                "part {part} of segment {segment} is stored but not in the manifest"
            ));
        }
    }
    Ok(())
}

/// A stored segment whose parts passed their checks: its members and its bytes (the graph
/// follows the members).
struct StoredSegment {
    id: u64,
    members: Vec<u64>,
    bytes: Vec<u8>,
}

fn read_segment(
    store: &dyn Store,
    generation: GenerationId,
    entry: &SegmentEntry,
) -> Result<StoredSegment> {
    let bad = || Error::corrupt("vector index segment");
    let mut bytes = Vec::with_capacity(entry.bytes as usize);
    for part in 0..entry.parts {
        let chunk = store
            .get(&keys::index_part(generation, entry.id, part))?
            .ok_or_else(bad)?;
        bytes.extend_from_slice(&chunk);
    }
    if bytes.len() as u64 != entry.bytes || blake3::hash(&bytes).to_hex().as_str() != entry.checksum
    {
        return Err(bad());
    }
    let count = u64::from_le_bytes(
        bytes
            .get(..8)
            .ok_or_else(bad)?
            .try_into()
            .map_err(|_| bad())?,
    ) as usize;
    let members: Vec<u64> = bytes
        .get(8..8 + count.checked_mul(8).ok_or_else(bad)?)
        .ok_or_else(bad)?
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect();
    if count as u64 != entry.vectors || members.windows(2).any(|w| w[0] >= w[1]) {
        return Err(bad());
    }
    Ok(StoredSegment {
        id: entry.id,
        members,
        bytes,
    })
}

/// The stored vectors, placed: each segment's members' vectors in member order with whether
/// each was found (a member without a vector was deleted), and the vectors of no segment.
struct Placed {
    members: Vec<(Vec<f32>, Vec<bool>)>,
    fresh_ids: Vec<u64>,
    fresh: Vec<f32>,
}

/// One key range's share of a segment: the members whose ids fall in the range, and their
/// places in the segment's vectors.
struct Share<'a> {
    ids: &'a [u64],
    vectors: &'a mut [f32],
    found: &'a mut [bool],
}

/// Every stored vector of `generation`, read in parallel key ranges (the per-entry cost of the
/// store dominates a collection's load) straight into the segment of `members` that lists it.
fn read_vectors(
    store: &dyn Store,
    generation: GenerationId,
    dim: usize,
    members: &[&[u64]],
) -> Result<Placed> {
    let mut placed: Vec<(Vec<f32>, Vec<bool>)> = members
        .iter()
        .map(|m| (vec![0.0; m.len() * dim], vec![false; m.len()]))
        .collect();
    let prefix = keys::in_generation(keys::VECTOR, generation);
    let id_of = |k: &[u8]| keys::chunk_id_of(k).ok_or_else(|| Error::corrupt("vector key"));
    let bounds = match store.scan_prefix(&prefix).next().transpose()? {
        Some((first, _)) => store
            .last_with_prefix(&prefix)?
            .map(|(last, _)| Ok::<_, Error>((id_of(&first)?, id_of(&last)?)))
            .transpose()?,
        None => None,
    };
    let Some((first, last)) = bounds else {
        return Ok(Placed {
            members: placed,
            fresh_ids: Vec::new(),
            fresh: Vec::new(),
        });
    };
    let parts = rayon::current_num_threads().clamp(1, 8) as u64;
    let step = (last - first) / parts + 1;
    let ranges: Vec<(u64, u64)> = (0..parts)
        .map(|i| {
            (
                first.saturating_add(i * step),
                first.saturating_add((i + 1) * step).min(last + 1),
            )
        })
        .filter(|(a, b)| a < b)
        .collect();
    // Members are ascending, so each range's members are a run of positions: split every
    // segment's buffers at the ranges' bounds.
    let mut shares: Vec<Vec<Share>> = ranges.iter().map(|_| Vec::new()).collect();
    for (ids, (vectors, found)) in members.iter().zip(&mut placed) {
        let below = ids.partition_point(|&id| id < first);
        let (mut vectors, mut found) = (&mut vectors[below * dim..], &mut found[below..]);
        let mut at = below;
        for (share, &(_, end)) in shares.iter_mut().zip(&ranges) {
            let upto = ids.partition_point(|&id| id < end);
            let (v, rest) = std::mem::take(&mut vectors).split_at_mut((upto - at) * dim);
            let (f, rest_found) = std::mem::take(&mut found).split_at_mut(upto - at);
            (vectors, found) = (rest, rest_found);
            share.push(Share {
                ids: &ids[at..upto],
                vectors: v,
                found: f,
            });
            at = upto;
        }
    }
    let read = |(&(start, end), mut shares): (&(u64, u64), Vec<Share>)| {
        let (mut fresh_ids, mut fresh) = (Vec::new(), Vec::new());
        let mut cursors = vec![0; shares.len()];
        for entry in store.scan_range(
            &keys::vector(generation, start),
            &keys::vector(generation, end),
        ) {
            let (k, v) = entry?;
            let id = id_of(&k)?;
            if v.len() != dim * 4 {
                return Err(Error::corrupt("stored vector dimension"));
            }
            let mut listed = false;
            for (share, at) in shares.iter_mut().zip(&mut cursors) {
                *at += share.ids[*at..].partition_point(|&m| m < id);
                if share.ids.get(*at) == Some(&id) {
                    storage::decode_vector_to(&v, &mut share.vectors[*at * dim..][..dim]);
                    share.found[*at] = true;
                    listed = true;
                }
            }
            if !listed {
                fresh_ids.push(id);
                storage::decode_vector_into(&v, &mut fresh)?;
            }
        }
        Ok((fresh_ids, fresh))
    };
    let pieces: Vec<(Vec<u64>, Vec<f32>)> = {
        use rayon::prelude::*;
        ranges
            .par_iter()
            .zip(shares)
            .map(read)
            .collect::<Result<_>>()?
    };
    let (mut fresh_ids, mut fresh) = (Vec::new(), Vec::new());
    for (i, d) in pieces {
        fresh_ids.extend(i);
        fresh.extend(d);
    }
    Ok(Placed {
        members: placed,
        fresh_ids,
        fresh,
    })
}

impl VectorIndex for CollectionIndex {
    fn insert(&mut self, id: u64, vector: &[f32]) {
        self.remove(id);
        self.fresh.insert(id, vector);
    }

    fn remove(&mut self, id: u64) -> bool {
        for s in &mut self.segments {
            if let Some(pos) = s.position(id) {
                let was_live = !s.is_deleted(pos);
                s.delete(pos);
                return was_live;
            }
        }
        self.fresh.remove(id)
    }

    fn search(&self, query: &[f32], k: usize, filter: Option<&ChunkSet>) -> Vec<Scored> {
        self.search_with(query, k, None, filter)
    }
}

impl CollectionIndex {
    /// The live vector of `id`, if any.
    pub(crate) fn vector(&self, id: u64) -> Option<&[f32]> {
        for s in &self.segments {
            if let Some(pos) = s.position(id) {
                return (!s.is_deleted(pos)).then(|| s.index.vector(pos));
            }
        }
        self.fresh.get(id)
    }

    /// The `k` best live vectors that `filter` allows, every vector scored (no graph).
    pub(crate) fn search_exact(
        &self,
        query: &[f32],
        k: usize,
        filter: Option<&ChunkSet>,
    ) -> Vec<Scored> {
        let mut hits = self.fresh.search(query, k, filter);
        for s in &self.segments {
            hits.extend(s.exact(query, k, filter));
        }
        sort_hits(&mut hits);
        hits.truncate(k);
        hits
    }

    /// [`VectorIndex::search`] with a beam width `ef` (default: the configured `ef_search`).
    pub(crate) fn search_with(
        &self,
        query: &[f32],
        k: usize,
        ef: Option<usize>,
        filter: Option<&ChunkSet>,
    ) -> Vec<Scored> {
        let ef = ef.unwrap_or(self.config.ef_search).max(k);
        let mut hits = self.fresh.search(query, k, filter);
        for s in &self.segments {
            hits.extend(s.search(query, k, ef, filter));
        }
        sort_hits(&mut hits);
        hits.truncate(k);
        hits
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::Metric;
    use crate::storage::mem_store::MemStore;

    const DIM: usize = 16;

    fn vectors(n: usize, seed: u64) -> Vec<Vec<f32>> {
        super::super::hnsw::tests::unit_vectors(n, DIM, seed)
            .chunks_exact(DIM)
            .map(<[f32]>::to_vec)
            .collect()
    }

    /// An index of `n` vectors with ids `0..n`, all in one graph segment.
    fn built(n: usize) -> (CollectionIndex, Vec<Vec<f32>>) {
        let config = IndexConfig::new().with_exact_threshold(10);
        let mut index = CollectionIndex::new(config.clone(), DIM);
        let vs = vectors(n, 9);
        for (i, v) in vs.iter().enumerate() {
            index.insert(i as u64, v);
        }
        let plan = index.plan(false).expect("over the threshold");
        let built = CollectionIndex::build(&config, DIM, plan, &mut |_| Ok(())).unwrap();
        index.install(built);
        assert_eq!(index.stats().graph_segments, 1);
        (index, vs)
    }

    fn exact(vs: &[Vec<f32>], q: &[f32], k: usize, allow: &ChunkSet) -> Vec<u64> {
        let mut all: Vec<(f32, u64)> = vs
            .iter()
            .enumerate()
            .filter(|(i, _)| allow.contains(*i as u64))
            .map(|(i, v)| (Metric::Cosine.score(q, v), i as u64))
            .collect();
        all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        all.into_iter().take(k).map(|x| x.1).collect()
    }

    fn ids_where(n: u64, allow: impl Fn(u64) -> bool) -> ChunkSet {
        (0..n).filter(|&id| allow(id)).collect()
    }

    /// Stores the vector of each id as the writer does.
    fn store_vectors(
        store: &MemStore,
        generation: GenerationId,
        vs: &[Vec<f32>],
        ids: impl Iterator<Item = u64>,
    ) {
        let mut batch = WriteBatch::new();
        for id in ids {
            batch.put(
                keys::vector(generation, id),
                storage::encode_vector(&vs[id as usize]),
            );
        }
        store.apply(batch).unwrap();
    }

    /// Builds `index`'s planned segment, stores it and installs it, as an operation does.
    fn build_and_persist(
        index: &mut CollectionIndex,
        store: &MemStore,
        generation: GenerationId,
        config: &IndexConfig,
    ) {
        let plan = index.plan(false).unwrap();
        let built = CollectionIndex::build(config, DIM, plan, &mut |_| Ok(())).unwrap();
        store
            .apply(CollectionIndex::persist_batch(store, generation, &built).unwrap())
            .unwrap();
        index.install(built);
    }

    #[test]
    fn a_selective_filter_still_returns_every_existing_hit() {
        let (mut index, vs) = built(3000);
        // 0.5% and 40% of the vectors allowed: answered by a scan of them, exactly.
        for allow in [
            ids_where(3000, |id| id % 200 == 7),
            ids_where(3000, |id| id % 5 < 2),
        ] {
            for q in [0, 7, 1234] {
                let hits = index.search(&vs[q], 10, Some(&allow));
                let ids: Vec<u64> = hits.iter().map(|h| h.id).collect();
                assert_eq!(ids, exact(&vs, &vs[q], 10, &allow));
            }
        }
        // 5 allowed, 10 asked: all 5; and a deleted one is never returned.
        let few = ids_where(3000, |id| id < 5);
        assert_eq!(index.search(&vs[100], 10, Some(&few)).len(), 5);
        assert!(index.remove(3));
        let hits = index.search(&vs[3], 10, Some(&few));
        assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>().len(), 4);
        assert!(hits.iter().all(|h| h.id != 3));
        // Ids of no segment in the filter change nothing.
        let mut beyond = few.clone();
        beyond.insert_range(10_000..20_000);
        assert_eq!(index.search(&vs[3], 10, Some(&beyond)), hits);
        // A broad filter (90%) goes through the graph and keeps its recall.
        let most = ids_where(3000, |id| id % 10 != 0);
        let mut found = 0;
        for q in vectors(30, 10) {
            let truth = exact(&vs, &q, 10, &most);
            let hits = index.search(&q, 10, Some(&most));
            assert!(hits.iter().all(|h| most.contains(h.id)));
            found += hits.iter().filter(|h| truth.contains(&h.id)).count();
        }
        assert!(
            found as f64 / 300.0 >= 0.95,
            "recall {}",
            found as f64 / 300.0
        );
    }

    #[test]
    fn vectors_deleted_during_a_build_stay_deleted_after_install() {
        let config = IndexConfig::new().with_exact_threshold(100);
        let mut index = CollectionIndex::new(config.clone(), DIM);
        let vs = vectors(400, 11);
        for (i, v) in vs.iter().enumerate() {
            index.insert(i as u64, v);
        }
        let plan = index.plan(false).unwrap();
        // While the graph is being built, a document is removed and another added.
        assert!(index.remove(5));
        index.insert(1000, &vs[6]);
        let built = CollectionIndex::build(&config, DIM, plan, &mut |_| Ok(())).unwrap();
        index.install(built);
        let stats = index.stats();
        assert_eq!(
            (stats.vectors, stats.deleted_vectors, stats.exact_vectors),
            (400, 1, 1)
        );
        let hits = index.search(&vs[5], 3, None);
        assert!(hits.iter().all(|h| h.id != 5));
        let hits = index.search(&vs[6], 2, None);
        let mut ids: Vec<u64> = hits.iter().map(|h| h.id).collect();
        ids.sort_unstable();
        assert_eq!(ids, vec![6, 1000]);
    }

    #[test]
    fn load_places_each_stored_vector_in_the_segment_listing_it() {
        // Two segments whose members interleave (odd ids, then even ones), so every key
        // range the load reads in parallel feeds both; then deletions in each and fresh
        // vectors after them.
        let store = MemStore::default();
        let generation = GenerationId(uuid::Uuid::from_u128(7));
        let config = IndexConfig::new().with_exact_threshold(10);
        let vs = vectors(460, 5);
        let mut index = CollectionIndex::new(config.clone(), DIM);
        for parity in [1, 0] {
            let ids = (0..400u64).filter(|id| id % 2 == parity);
            store_vectors(&store, generation, &vs, ids.clone());
            for id in ids {
                index.insert(id, &vs[id as usize]);
            }
            build_and_persist(&mut index, &store, generation, &config);
        }
        let deleted = [0u64, 1, 201, 202, 399];
        let mut batch = WriteBatch::new();
        for id in deleted {
            batch.delete(keys::vector(generation, id));
        }
        store.apply(batch).unwrap();
        store_vectors(&store, generation, &vs, 400..460);
        let (loaded, report) = CollectionIndex::load(&store, generation, config, DIM).unwrap();
        assert_eq!(report.dropped_segments, 0);
        let stats = loaded.stats();
        assert_eq!(
            (
                stats.graph_segments,
                stats.vectors,
                stats.deleted_vectors,
                stats.exact_vectors
            ),
            (2, 455, 5, 60)
        );
        for (id, v) in vs.iter().enumerate() {
            let id = id as u64;
            let expected = (!deleted.contains(&id)).then_some(v.as_slice());
            assert_eq!(loaded.vector(id), expected, "vector {id}");
        }
    }

    #[test]
    fn load_joins_segments_with_stored_vectors() {
        let store = MemStore::default();
        let collection = GenerationId(uuid::Uuid::from_u128(42));
        let config = IndexConfig::new().with_exact_threshold(50);
        let vs = vectors(300, 12);
        store_vectors(&store, collection, &vs, 0..300);
        let (mut index, report) =
            CollectionIndex::load(&store, collection, config.clone(), DIM).unwrap();
        assert_eq!(
            (report.dropped_segments, index.stats().exact_vectors),
            (0, 300)
        );
        build_and_persist(&mut index, &store, collection, &config);
        // A vector deleted and one added after the segment was stored.
        let mut batch = WriteBatch::new();
        batch.delete(keys::vector(collection, 3));
        batch.put(
            keys::vector(collection, 500),
            storage::encode_vector(&vs[4]),
        );
        store.apply(batch).unwrap();
        let (loaded, report) =
            CollectionIndex::load(&store, collection, config.clone(), DIM).unwrap();
        assert_eq!(report.dropped_segments, 0);
        let stats = loaded.stats();
        assert_eq!(
            (
                stats.graph_segments,
                stats.vectors,
                stats.deleted_vectors,
                stats.exact_vectors
            ),
            (1, 300, 1, 1)
        );
        assert!(loaded.search(&vs[3], 5, None).iter().all(|h| h.id != 3));
        // A damaged part: the segment is dropped and its vectors are searched exactly.
        let part = keys::index_part(collection, 0, 0);
        let mut bytes = store.get(&part).unwrap().unwrap();
        bytes[20] ^= 0xff;
        let mut batch = WriteBatch::new();
        batch.put(part, bytes);
        store.apply(batch).unwrap();
        let (mut damaged, report) =
            CollectionIndex::load(&store, collection, config.clone(), DIM).unwrap();
        assert_eq!(report.dropped_segments, 1);
        assert_eq!(damaged.stats().exact_vectors, 300);
        assert_eq!(damaged.search(&vs[7], 1, None)[0].id, 7);
        // The next build replaces the damaged segment in the stored manifest too.
        build_and_persist(&mut damaged, &store, collection, &config);
        let mut problems = Vec::new();
        verify_stored(&store, collection, &mut |m| problems.push(m)).unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        let (rebuilt, report) = CollectionIndex::load(&store, collection, config, DIM).unwrap();
        assert_eq!(report.dropped_segments, 0);
        let stats = rebuilt.stats();
        assert_eq!((stats.graph_segments, stats.exact_vectors), (1, 0));
    }
}
