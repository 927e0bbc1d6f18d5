//! A generation's searchable documents in memory, indexed for filters: which chunks a
//! [`Filter`] allows is answered from per-field postings instead of every document record.
//!
//! Each condition of a filter is answered exactly by its postings (an equality's set of
//! chunks, a range of the numeric values, a range of the ordered source paths, the media
//! types' sets), so a filter is their intersection: a set of chunk ids ([`ChunkSet`], a
//! compressed bitmap), which the vector and keyword searches test ids against and which a
//! selective filter's scan lists.
//!
//! Storage stays the source of truth, as for the keyword postings: the table is read on a
//! generation's first filtered search and then kept in step with each write, which records
//! the documents it removes and stores in a [`DocumentsDelta`] applied once its batch is
//! stored. Applying is idempotent (a document stored again replaces itself; removing an absent
//! one does nothing), so a load that overlaps a write still ends exact.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use super::{Condition, Filter};
use crate::document::{Document, DocumentStatus, Metadata};
use crate::index::ChunkSet;

/// A document's chunk ids, `[first, end)`.
type Span = (u64, u64);

/// A document as filters see it: what its removal takes out of the postings.
#[derive(Debug)]
struct Entry {
    span: Span,
    source: Option<PathBuf>,
    media_type: Box<str>,
    metadata: Metadata,
}

/// Documents with chunks, by id, and postings of their fields.
#[derive(Debug, Default)]
pub(crate) struct Documents {
    entries: HashMap<Box<str>, Entry>,
    /// (field, value as JSON) -> chunks: equality, the JSON text being canonical for
    /// `serde_json::Value` equality (object keys sorted, `7` and `7.0` distinct).
    equals: HashMap<(Box<str>, Box<str>), ChunkSet>,
    /// Field -> numeric value in total order -> chunks, for ranges: a range is the union of
    /// its values' sets (few and large for the usual year, rating or group fields).
    numbers: HashMap<Box<str>, BTreeMap<u64, ChunkSet>>,
    media_types: HashMap<Box<str>, ChunkSet>,
    /// (source path, document): the paths under a folder are one contiguous range.
    sources: BTreeSet<(PathBuf, Span)>,
}

/// What a write changes in a generation's documents, in the order it did.
#[derive(Debug, Default)]
pub(crate) struct DocumentsDelta(Vec<Change>);

#[derive(Debug)]
enum Change {
    Remove(String),
    Store(Box<Document>),
}

impl DocumentsDelta {
    pub(crate) fn remove(&mut self, id: &str) {
        self.0.push(Change::Remove(id.to_string()));
    }

    pub(crate) fn store(&mut self, doc: &Document) {
        self.0.push(Change::Store(Box::new(doc.clone())));
    }
}

/// A number's bits in an order that sorts as the numbers do (-0 as 0).
fn ordered(x: f64) -> u64 {
    let bits = (x + 0.0).to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | 1 << 63
    }
}

fn json(value: &serde_json::Value) -> Box<str> {
    value.to_string().into()
}

impl Documents {
    /// The table of `docs` (a generation's stored records).
    pub(crate) fn new(docs: Vec<Document>) -> Documents {
        let mut table = Documents::default();
        for doc in &docs {
            table.insert(doc);
        }
        table
    }

    pub(crate) fn apply(&mut self, delta: &DocumentsDelta) {
        for change in &delta.0 {
            match change {
                Change::Remove(id) => self.remove(id),
                Change::Store(doc) => {
                    self.remove(&doc.id);
                    self.insert(doc);
                }
            }
        }
    }

    fn insert(&mut self, doc: &Document) {
        if doc.status != DocumentStatus::Indexed || doc.chunk_count == 0 {
            return; // nothing a search can return
        }
        let span = (
            doc.first_chunk,
            doc.first_chunk + u64::from(doc.chunk_count),
        );
        for (field, value) in &doc.metadata {
            self.equals
                .entry((field.as_str().into(), json(value)))
                .or_default()
                .insert_range(span.0..span.1);
            if let Some(x) = value.as_f64() {
                self.numbers
                    .entry(field.as_str().into())
                    .or_default()
                    .entry(ordered(x))
                    .or_default()
                    .insert_range(span.0..span.1);
            }
        }
        self.media_types
            .entry(doc.media_type.as_str().into())
            .or_default()
            .insert_range(span.0..span.1);
        if let Some(source) = &doc.source {
            self.sources.insert((source.clone(), span));
        }
        let entry = Entry {
            span,
            source: doc.source.clone(),
            media_type: doc.media_type.as_str().into(),
            metadata: doc.metadata.clone(),
        };
        self.entries.insert(doc.id.as_str().into(), entry);
    }

    fn remove(&mut self, id: &str) {
        let Some(entry) = self.entries.remove(id) else {
            return;
        };
        let span = entry.span;
        fn unlist<K: Eq + std::hash::Hash>(map: &mut HashMap<K, ChunkSet>, key: K, span: Span) {
            if let Some(set) = map.get_mut(&key) {
                set.remove_range(span.0..span.1);
                if set.is_empty() {
                    map.remove(&key);
                }
            }
        }
        for (field, value) in &entry.metadata {
            unlist(&mut self.equals, (field.as_str().into(), json(value)), span);
            if let Some(x) = value.as_f64()
                && let Some(values) = self.numbers.get_mut(field.as_str())
                && let Some(set) = values.get_mut(&ordered(x))
            {
                set.remove_range(span.0..span.1);
                if set.is_empty() {
                    values.remove(&ordered(x));
                }
                if values.is_empty() {
                    self.numbers.remove(field.as_str());
                }
            }
        }
        unlist(&mut self.media_types, entry.media_type, span);
        if let Some(source) = entry.source {
            self.sources.remove(&(source, span));
        }
    }

    /// The chunks of the documents `filter` accepts: the intersection of its conditions'
    /// postings, smallest first.
    pub(crate) fn allowed(&self, filter: &Filter) -> ChunkSet {
        let empty = ChunkSet::new();
        let mut sets: Vec<Cow<'_, ChunkSet>> = Vec::new();
        for (field, cond) in &filter.metadata {
            sets.push(match cond {
                Condition::Equals(v) => Cow::Borrowed(
                    self.equals
                        .get(&(field.as_str().into(), json(v)))
                        .unwrap_or(&empty),
                ),
                Condition::Range(min, max) => Cow::Owned(self.in_range(field, *min, *max)),
            });
        }
        if !filter.media_types.is_empty() {
            let mut union = ChunkSet::new();
            for set in filter
                .media_types
                .iter()
                .filter_map(|m| self.media_types.get(m.as_str()))
            {
                union |= set;
            }
            sets.push(Cow::Owned(union));
        }
        if let Some(prefix) = &filter.source_prefix {
            sets.push(Cow::Owned(self.under(prefix)));
        }
        sets.sort_by_key(|set| set.len());
        let mut sets = sets.into_iter();
        let Some(first) = sets.next() else {
            return chunks(self.entries.values().map(|e| e.span)); // no condition: all
        };
        let mut out = first.into_owned();
        for set in sets {
            out &= set.as_ref();
        }
        out
    }

    /// The chunks of the documents whose `field` is a number within `min..=max`.
    fn in_range(&self, field: &str, min: Option<f64>, max: Option<f64>) -> ChunkSet {
        let (lo, hi) = (min.map_or(0, ordered), max.map_or(u64::MAX, ordered));
        let nan = min.is_some_and(f64::is_nan) || max.is_some_and(f64::is_nan);
        let mut out = ChunkSet::new();
        if let Some(values) = self.numbers.get(field)
            && lo <= hi
            && !nan
        {
            for set in values.range(lo..=hi).map(|(_, set)| set) {
                out |= set;
            }
        }
        out
    }

    /// The chunks of the documents read from a file at or below `prefix`.
    fn under(&self, prefix: &Path) -> ChunkSet {
        chunks(
            self.sources
                .range((prefix.to_path_buf(), (0, 0))..)
                .take_while(|(path, _)| path.starts_with(prefix))
                .map(|&(_, span)| span),
        )
    }
}

/// The chunk ids of `spans`.
fn chunks(spans: impl Iterator<Item = Span>) -> ChunkSet {
    let mut set = ChunkSet::new();
    for (first, end) in spans {
        set.insert_range(first..end);
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use std::time::SystemTime;

    fn doc(rng: &mut StdRng, id: usize, first: u64) -> Document {
        let mut metadata = Metadata::new();
        metadata.insert("n".into(), rng.random_range(0..10).into());
        if rng.random_bool(0.5) {
            metadata.insert("x".into(), (rng.random_range(-5..5) as f64 / 2.0).into());
        }
        metadata.insert("tag".into(), ["a", "b", "c"][rng.random_range(0..3)].into());
        Document {
            id: format!("d{id}"),
            source: rng.random_bool(0.7).then(|| {
                PathBuf::from(["/r/a", "/r/a/b", "/r/ab", "/s"][rng.random_range(0..4)])
                    .join(format!("f{id}"))
            }),
            content_hash: String::new(),
            size: 0,
            mtime_ms: None,
            media_type: ["text/plain", "text/markdown"][rng.random_range(0..2)].into(),
            title: None,
            status: if rng.random_bool(0.9) {
                DocumentStatus::Indexed
            } else {
                DocumentStatus::Failed
            },
            error: None,
            chunk_count: rng.random_range(0..4),
            first_chunk: first,
            metadata,
            created_at: SystemTime::UNIX_EPOCH,
            updated_at: SystemTime::UNIX_EPOCH,
            stored_bytes: 0,
        }
    }

    fn filter(rng: &mut StdRng) -> Filter {
        let mut f = Filter::new();
        while f.is_empty() {
            if rng.random_bool(0.4) {
                f = f.metadata_eq("n", rng.random_range(0..10));
            }
            if rng.random_bool(0.3) {
                f = f.metadata_eq("tag", ["a", "b", "c", "z"][rng.random_range(0..4)]);
            }
            if rng.random_bool(0.3) {
                let lo = rng.random_range(-4..4) as f64 / 2.0;
                // Bounds may be open, inverted (nothing passes) or NaN (nothing passes).
                let hi = [Some(lo + 1.5), None, Some(lo - 1.0), Some(f64::NAN)];
                f = f.metadata_range("x", Some(lo), hi[rng.random_range(0..4)]);
            }
            if rng.random_bool(0.1) {
                f = f.metadata_range("n", None, Some(rng.random_range(0..10) as f64));
            }
            if rng.random_bool(0.2) {
                f = f.media_type("text/markdown");
            }
            if rng.random_bool(0.3) {
                f = f.source_under(["/r/a", "/r", "/r/ab", "/s/f1"][rng.random_range(0..4)]);
            }
        }
        f
    }

    /// The table answers as a scan of every record would, after any sequence of writes, and a
    /// write applied twice (a load that overlapped it) changes nothing.
    #[test]
    fn the_table_answers_as_a_scan_of_the_records_through_writes() {
        let mut rng = StdRng::seed_from_u64(3);
        let mut stored: BTreeMap<String, Document> = BTreeMap::new();
        let mut table = Documents::default();
        let mut next = 0;
        for round in 0..60 {
            let mut delta = DocumentsDelta::default();
            for _ in 0..rng.random_range(1..8) {
                let id = rng.random_range(0..40);
                if rng.random_bool(0.3) {
                    if let Some(old) = stored.remove(&format!("d{id}")) {
                        delta.remove(&old.id);
                    }
                } else {
                    let d = doc(&mut rng, id, next);
                    next += u64::from(d.chunk_count);
                    if stored.contains_key(&d.id) {
                        delta.remove(&d.id);
                    }
                    delta.store(&d);
                    stored.insert(d.id.clone(), d);
                }
            }
            table.apply(&delta);
            if round % 2 == 0 {
                table.apply(&delta);
            }
            for _ in 0..20 {
                let f = filter(&mut rng);
                let want = chunks(
                    stored
                        .values()
                        .filter(|d| d.status == DocumentStatus::Indexed && d.chunk_count > 0)
                        .filter(|d| f.accepts(d.source.as_deref(), &d.media_type, &d.metadata))
                        .map(|d| (d.first_chunk, d.first_chunk + u64::from(d.chunk_count))),
                );
                assert_eq!(table.allowed(&f), want, "{f:?}");
            }
            let fresh = Documents::new(stored.values().cloned().collect());
            let f = filter(&mut rng);
            assert_eq!(fresh.allowed(&f), table.allowed(&f));
        }
    }
}
