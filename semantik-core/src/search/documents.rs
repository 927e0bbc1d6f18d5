//! A generation's searchable documents in memory, indexed for filters: which chunks a
//! [`Filter`] allows is answered from per-field postings instead of every document record.
//!
//! Storage stays the source of truth, as for the keyword postings: the table is read on a
//! generation's first filtered search and then kept in step with each write, which records
//! the documents it removes and stores in a [`DocumentsDelta`] applied once its batch is
//! stored. Applying is idempotent (a document stored again replaces itself; removing an absent
//! one does nothing), so a load that overlaps a write still ends exact.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;
use std::path::{Path, PathBuf};

use super::{Condition, Filter};
use crate::document::{Document, DocumentStatus, Metadata};

/// A document's chunk ids, `[first, end)`: how postings name it.
type Span = (u64, u64);

/// A document as filters see it.
#[derive(Debug)]
struct Entry {
    span: Span,
    source: Option<PathBuf>,
    media_type: Box<str>,
    metadata: Metadata,
}

/// Documents with chunks, by id, and postings of their fields, each ordered by chunk id.
#[derive(Debug, Default)]
pub(crate) struct Documents {
    entries: HashMap<Box<str>, Entry>,
    /// (field, value as JSON) -> documents: equality, the JSON text being canonical for
    /// `serde_json::Value` equality (object keys sorted, `7` and `7.0` distinct).
    equals: HashMap<(Box<str>, Box<str>), BTreeSet<Span>>,
    /// Field -> (numeric value in total order, document), for ranges.
    numbers: HashMap<Box<str>, BTreeSet<(u64, Span)>>,
    media_types: HashMap<Box<str>, BTreeSet<Span>>,
    /// Source path -> document; paths under a folder are one contiguous range.
    sources: BTreeMap<PathBuf, Span>,
    /// Which document a span belongs to, for checking conditions on candidates.
    ids: BTreeMap<u64, Box<str>>,
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
                .insert(span);
            if let Some(x) = value.as_f64() {
                self.numbers
                    .entry(field.as_str().into())
                    .or_default()
                    .insert((ordered(x), span));
            }
        }
        self.media_types
            .entry(doc.media_type.as_str().into())
            .or_default()
            .insert(span);
        if let Some(source) = &doc.source {
            self.sources.insert(source.clone(), span);
        }
        self.ids.insert(span.0, doc.id.as_str().into());
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
        fn unlist<K: Eq + std::hash::Hash, T: Ord>(
            map: &mut HashMap<K, BTreeSet<T>>,
            key: K,
            item: &T,
        ) {
            if let Some(set) = map.get_mut(&key) {
                set.remove(item);
                if set.is_empty() {
                    map.remove(&key);
                }
            }
        }
        let span = entry.span;
        for (field, value) in &entry.metadata {
            unlist(
                &mut self.equals,
                (field.as_str().into(), json(value)),
                &span,
            );
            if let Some(x) = value.as_f64() {
                unlist(
                    &mut self.numbers,
                    field.as_str().into(),
                    &(ordered(x), span),
                );
            }
        }
        unlist(&mut self.media_types, entry.media_type, &span);
        if let Some(source) = entry.source
            && self.sources.get(&source) == Some(&span)
        {
            self.sources.remove(&source);
        }
        self.ids.remove(&span.0);
    }

    /// The chunk ranges `[first, end)` of the documents `filter` accepts, in order.
    ///
    /// The narrowest indexed condition gives the candidates (an equality's postings, or the
    /// media types', a range's or a source folder's span); when the filter has other
    /// conditions, each candidate is checked against all of them.
    pub(crate) fn allowed(&self, filter: &Filter) -> Vec<Span> {
        let conditions = filter.metadata.len()
            + usize::from(!filter.media_types.is_empty())
            + usize::from(filter.source_prefix.is_some());
        let candidates = self.candidates(filter);
        if conditions == 1 {
            return candidates; // the one condition's postings are its answer
        }
        candidates
            .into_iter()
            .filter(|span| {
                self.ids
                    .get(&span.0)
                    .and_then(|id| self.entries.get(id))
                    .is_some_and(|e| {
                        filter.accepts(e.source.as_deref(), &e.media_type, &e.metadata)
                    })
            })
            .collect()
    }

    /// The spans, in order, of a superset of the documents `filter` accepts (exactly those
    /// when it has one condition).
    fn candidates(&self, filter: &Filter) -> Vec<Span> {
        let empty = BTreeSet::new();
        // An equality's postings first: their size is known without collecting them.
        let smallest = filter
            .metadata
            .iter()
            .filter_map(|(field, cond)| match cond {
                Condition::Equals(v) => Some(
                    self.equals
                        .get(&(field.as_str().into(), json(v)))
                        .unwrap_or(&empty),
                ),
                Condition::Range(..) => None,
            })
            .min_by_key(|set| set.len());
        if let Some(set) = smallest {
            return set.iter().copied().collect();
        }
        let mut spans: Vec<Vec<Span>> = Vec::new();
        if !filter.media_types.is_empty() {
            spans.push(
                filter
                    .media_types
                    .iter()
                    .filter_map(|m| self.media_types.get(m.as_str()))
                    .flatten()
                    .copied()
                    .collect(),
            );
        }
        for (field, cond) in &filter.metadata {
            if let Condition::Range(min, max) = cond {
                let lo = (min.map_or(0, ordered), (0, 0));
                let hi = (max.map_or(u64::MAX, ordered), (u64::MAX, u64::MAX));
                spans.push(
                    self.numbers
                        .get(field.as_str())
                        .map(|set| set.range(lo..=hi).map(|&(_, span)| span).collect())
                        .unwrap_or_default(),
                );
            }
        }
        if let Some(prefix) = &filter.source_prefix {
            spans.push(
                self.sources
                    .range::<Path, _>((Bound::Included(prefix.as_path()), Bound::Unbounded))
                    .take_while(|(path, _)| path.starts_with(prefix))
                    .map(|(_, &span)| span)
                    .collect(),
            );
        }
        let mut found = spans
            .into_iter()
            .min_by_key(Vec::len)
            .unwrap_or_else(|| self.entries.values().map(|e| e.span).collect());
        found.sort_unstable();
        found.dedup();
        found
    }
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
                f = f.metadata_range("x", Some(lo), rng.random_bool(0.5).then_some(lo + 1.5));
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
                let mut want: Vec<(u64, u64)> = stored
                    .values()
                    .filter(|d| d.status == DocumentStatus::Indexed && d.chunk_count > 0)
                    .filter(|d| f.accepts(d.source.as_deref(), &d.media_type, &d.metadata))
                    .map(|d| (d.first_chunk, d.first_chunk + u64::from(d.chunk_count)))
                    .collect();
                want.sort_unstable();
                assert_eq!(table.allowed(&f), want, "{f:?}");
            }
            let fresh = Documents::new(stored.values().cloned().collect());
            let f = filter(&mut rng);
            assert_eq!(fresh.allowed(&f), table.allowed(&f));
        }
    }
}
