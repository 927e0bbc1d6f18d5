//! [`Database::verify`](crate::Database::verify): every internal invariant of the stored data,
//! checked on a snapshot so that it can run while operations write.
//!
//! Per collection, for the generation it serves and one a reindex is building: documents <->
//! chunks (consecutive ids, owner and position) <-> vectors (one per chunk, of the collection's
//! dimension) <-> keyword postings (each chunk's term list and its postings agree) <-> graph
//! segments (parts, checksums, membership); the content-hash, source-path and text records
//! point at their documents (a document may lack its text: formats before 3 kept none, and
//! readers fall back to its chunks); the stored counts equal what is counted. Across the database:
//! the format version, the name index against the collection records, no record of a
//! generation or collection that nothing references, and well-formed operation records.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use uuid::Uuid;

use crate::collection::{CollectionRecord, CollectionStats};
use crate::document::{Document, DocumentStatus};
use crate::error::Result;
use crate::generation::{GenerationId, Reader};
use crate::ops::{OperationRecord, OperationStatus};
use crate::storage::{self, Store, format, keys};

/// What [`Database::verify`](crate::Database::verify) found.
///
/// ```
/// use semantik_core::{CollectionConfig, Database};
/// let dir = tempfile::tempdir()?;
/// let db = Database::open(dir.path())?;
/// let c = db.create_collection(CollectionConfig::new("c").with_model("semantik-test/hash-8"))?;
/// c.add_texts(["one text", "another text"])?.wait(None)?;
/// let report = db.verify()?;
/// assert!(report.is_ok(), "{report}");
/// assert_eq!((report.collections, report.documents), (1, 2));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct VerifyReport {
    /// Collections checked (not counting those being deleted).
    pub collections: u64,
    /// Documents checked.
    pub documents: u64,
    /// Chunks checked.
    pub chunks: u64,
    /// Stored vectors checked.
    pub vectors: u64,
    /// Operation records checked.
    pub operations: u64,
    /// Generations retired by a reindex whose records are still to be purged (by the
    /// housekeeping of the collection's next operation when a crash cut the purge short).
    pub retired: u64,
    /// Every broken invariant; empty when the database is sound.
    pub violations: Vec<Violation>,
}

impl VerifyReport {
    /// Whether no invariant is broken.
    pub fn is_ok(&self) -> bool {
        self.violations.is_empty()
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} collections, {} documents, {} chunks, {} vectors, {} operations: ",
            self.collections, self.documents, self.chunks, self.vectors, self.operations
        )?;
        if self.is_ok() {
            return write!(f, "ok");
        }
        write!(f, "{} violations", self.violations.len())?;
        for v in &self.violations {
            write!(f, "\n  {v}")?;
        }
        Ok(())
    }
}

/// One broken invariant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Violation {
    /// The collection it concerns, by name (`None`: the database as a whole).
    pub collection: Option<String>,
    /// Which family of records: `format`, `catalog`, `documents`, `chunks`, `vectors`,
    /// `keyword`, `index`, `counts`, `orphans` or `operations`.
    pub check: &'static str,
    /// What exactly is wrong, naming the record.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.collection {
            Some(c) => write!(f, "[{}] collection {c}: {}", self.check, self.message),
            None => write!(f, "[{}] {}", self.check, self.message),
        }
    }
}

struct Checker<'a> {
    store: &'a Arc<dyn Store>,
    report: VerifyReport,
    collection: Option<String>,
}

impl Checker<'_> {
    fn violation(&mut self, check: &'static str, message: String) {
        self.report.violations.push(Violation {
            collection: self.collection.clone(),
            check,
            message,
        });
    }

    /// Every entry under `prefix`, with the key's suffix after it.
    fn entries(&self, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        storage::scan_suffixes(self.store.as_ref(), prefix).collect()
    }
}

/// Checks every invariant of the data in `store` (a snapshot of it, on a live database).
pub(crate) fn verify(store: &Arc<dyn Store>) -> Result<VerifyReport> {
    let mut c = Checker {
        store,
        report: VerifyReport::default(),
        collection: None,
    };
    match format::read_version(store.as_ref()) {
        Ok(Some(v)) if v == format::FORMAT_VERSION => {}
        Ok(v) => c.violation(
            "format",
            format!("format version {v:?}, expected {}", format::FORMAT_VERSION),
        ),
        Err(e) => c.violation("format", e.to_string()),
    }
    let records = catalog(&mut c)?;
    for record in records.values().filter(|r| !r.deleting) {
        c.report.collections += 1;
        c.report.retired += record.retired.len() as u64;
        c.collection = Some(record.config.name.clone());
        generation(&mut c, record.generation(), record.config.dimension)?;
        if let Some(building) = record.building {
            // Its settings (the dimension of a new model) are the reindex's until the swap:
            // its vectors need only agree with each other.
            generation(&mut c, building, None)?;
        }
    }
    c.collection = None;
    orphans(&mut c, &records)?;
    operations(&mut c)?;
    Ok(c.report)
}

/// The collection records, checked against the name index.
fn catalog(c: &mut Checker<'_>) -> Result<BTreeMap<Uuid, CollectionRecord>> {
    let mut records = BTreeMap::new();
    for (id, v) in c.entries(&[keys::COLLECTION])? {
        match storage::decode_json::<CollectionRecord>("collection", &v) {
            Ok(r) if r.id.0.as_bytes()[..] == id[..] => {
                records.insert(r.id.0, r);
            }
            Ok(r) => c.violation(
                "catalog",
                format!("record of collection {} is stored under another id", r.id),
            ),
            Err(e) => c.violation("catalog", e.to_string()),
        }
    }
    let mut named = HashSet::new();
    for (name, v) in c.entries(&[keys::COLLECTION_NAME])? {
        let name = String::from_utf8_lossy(&name).into_owned();
        let target = Uuid::from_slice(&v).ok().and_then(|id| records.get(&id));
        match target {
            Some(r) if !r.deleting && r.config.name == name => {
                named.insert(r.id.0);
            }
            _ => c.violation(
                "catalog",
                format!("name {name:?} points at no live collection of that name"),
            ),
        }
    }
    for r in records.values() {
        if !r.deleting && !named.contains(&r.id.0) {
            c.violation(
                "catalog",
                format!(
                    "collection {:?} is missing from the name index",
                    r.config.name
                ),
            );
        }
    }
    Ok(records)
}

/// Checks one generation of a collection whose vectors have `dimension` (`None`: that of the
/// first one).
fn generation(
    c: &mut Checker<'_>,
    generation: GenerationId,
    dimension: Option<usize>,
) -> Result<()> {
    let stored_stats: CollectionStats = match storage::get_json(
        c.store.as_ref(),
        "collection stats",
        &keys::stats(generation),
    ) {
        Ok(s) => s.unwrap_or_default(),
        Err(e) => {
            c.violation("counts", e.to_string());
            CollectionStats::default()
        }
    };
    let mut counted = CollectionStats::default();
    let mut stored_bytes = 0u64;
    // chunk id -> (document id, position)
    let mut expected: BTreeMap<u64, (String, u32)> = BTreeMap::new();
    let mut docs: HashMap<String, Document> = HashMap::new();
    let reader = Reader::new(c.store.clone(), generation);
    for entry in reader.document_records() {
        let (id, doc) = entry?;
        let doc = match doc {
            Ok(d) if d.id == id => d,
            Ok(d) => {
                c.violation(
                    "documents",
                    format!("document {:?} is stored under id {id:?}", d.id),
                );
                continue;
            }
            Err(e) => {
                c.violation("documents", format!("document {id:?}: {e}"));
                continue;
            }
        };
        c.report.documents += 1;
        match doc.status {
            DocumentStatus::Indexed => {
                counted.documents += 1;
                counted.source_bytes += doc.size;
                stored_bytes += doc.stored_bytes;
                if !reader.hash_indexes(&doc.content_hash, &doc.id)? {
                    c.violation(
                        "documents",
                        format!("document {id:?} is missing from the content-hash index"),
                    );
                }
                for i in 0..doc.chunk_count {
                    expected.insert(doc.first_chunk + u64::from(i), (id.clone(), i));
                }
            }
            DocumentStatus::Failed => {
                counted.failed_documents += 1;
                if doc.chunk_count != 0 {
                    c.violation(
                        "documents",
                        format!("failed document {id:?} claims {} chunks", doc.chunk_count),
                    );
                }
            }
            DocumentStatus::Pending => {
                c.violation("documents", format!("document {id:?} is stored as pending"))
            }
        }
        if let Some(src) = &doc.source
            && reader.document_id_at(src)?.as_deref() != Some(id.as_str())
        {
            c.violation(
                "documents",
                format!(
                    "source-path index of {} does not point at document {id:?}",
                    src.display()
                ),
            );
        }
        docs.insert(id, doc);
    }
    let mut chunks = BTreeSet::new();
    for entry in reader.chunk_records() {
        let (id, record) = entry?;
        let Some(id) = id else {
            c.violation("chunks", "malformed chunk key".into());
            continue;
        };
        chunks.insert(id);
        let owner = expected.remove(&id);
        match record {
            Ok(r) => match owner {
                Some((doc, index)) if doc == r.document_id && index == r.index => {}
                Some((doc, index)) => c.violation(
                    "chunks",
                    format!(
                        "chunk {id} says it is #{} of {:?}, the document says #{index} of {doc:?}",
                        r.index, r.document_id
                    ),
                ),
                None => c.violation(
                    "chunks",
                    format!("chunk {id} (of {:?}) belongs to no document", r.document_id),
                ),
            },
            Err(e) => c.violation("chunks", format!("chunk {id}: {e}")),
        }
        if id >= stored_stats.next_chunk_id {
            c.violation(
                "chunks",
                format!(
                    "chunk {id} is not below the next chunk id {}",
                    stored_stats.next_chunk_id
                ),
            );
        }
    }
    for (id, (doc, index)) in &expected {
        c.violation(
            "chunks",
            format!("chunk {id} (#{index} of {doc:?}) is missing"),
        );
    }
    counted.chunks = chunks.len() as u64;
    c.report.chunks += counted.chunks;

    let mut dim = dimension;
    let mut with_vector = BTreeSet::new();
    for entry in reader.vector_sizes() {
        let (id, bytes) = entry?;
        let Some(id) = id else {
            c.violation("vectors", "malformed vector key".into());
            continue;
        };
        with_vector.insert(id);
        if !chunks.contains(&id) {
            c.violation("vectors", format!("vector {id} has no chunk"));
        }
        let want = *dim.get_or_insert(bytes / 4);
        if bytes != want * 4 {
            c.violation(
                "vectors",
                format!(
                    "vector {id} has {bytes} bytes, dimension {want} needs {}",
                    want * 4
                ),
            );
        }
    }
    for id in chunks.difference(&with_vector) {
        c.violation("vectors", format!("chunk {id} has no vector"));
    }
    counted.vectors = with_vector.len() as u64;
    c.report.vectors += counted.vectors;

    let mut keyword = Vec::new();
    counted.keyword_terms =
        crate::keyword::verify(c.store.as_ref(), generation, &chunks, &mut |m| {
            keyword.push(m)
        })?;
    let mut index = Vec::new();
    crate::index::verify_stored(c.store.as_ref(), generation, &mut |m| index.push(m))?;
    for m in keyword {
        c.violation("keyword", m);
    }
    for m in index {
        c.violation("index", m);
    }
    indexes(c, &reader, &docs)?;

    let mut want = stored_stats.clone();
    want.next_chunk_id = 0;
    counted.bytes_on_disk = stored_bytes;
    if want != counted {
        c.violation(
            "counts",
            format!("stored counts {want:?} disagree with the records: {counted:?}"),
        );
    }
    Ok(())
}

/// The content-hash, source-path and text records of `reader`'s generation point at documents.
fn indexes(c: &mut Checker<'_>, reader: &Reader, docs: &HashMap<String, Document>) -> Result<()> {
    for entry in reader.hash_entries() {
        let (hash, id) = entry?;
        if docs.get(&id).is_none_or(|d| d.content_hash != hash) {
            c.violation(
                "documents",
                format!("content hash {hash} points at no document {id:?} of that content"),
            );
        }
    }
    for entry in reader.path_entries() {
        let (path, id) = entry?;
        if docs
            .get(&id)
            .is_none_or(|d| d.source.as_deref() != Some(path.as_path()))
        {
            c.violation(
                "documents",
                format!(
                    "source path {} points at no document {id:?} read from it",
                    path.display()
                ),
            );
        }
    }
    for entry in reader.text_ids() {
        let id = entry?;
        if !docs.contains_key(&id) {
            c.violation(
                "documents",
                format!("stored text of {id:?}, which does not exist"),
            );
        }
    }
    Ok(())
}

/// No record belongs to a generation or a collection that no collection record references.
fn orphans(c: &mut Checker<'_>, records: &BTreeMap<Uuid, CollectionRecord>) -> Result<()> {
    let mut generations: HashSet<Uuid> = HashSet::new();
    for r in records.values() {
        generations.extend(r.generations().into_iter().map(|g| g.0));
        generations.insert(r.id.0);
    }
    let tags = keys::PER_GENERATION
        .iter()
        .chain(&keys::PER_COLLECTION)
        .filter(|&&t| t != keys::COLLECTION);
    for &tag in tags {
        let mut unknown: BTreeMap<Uuid, u64> = BTreeMap::new();
        for entry in c.store.scan_prefix(&[tag]) {
            let (k, _) = entry?;
            let owner = k.get(1..17).and_then(|b| Uuid::from_slice(b).ok());
            match owner {
                Some(id) if generations.contains(&id) => {}
                Some(id) => *unknown.entry(id).or_default() += 1,
                None => *unknown.entry(Uuid::nil()).or_default() += 1,
            }
        }
        for (id, n) in unknown {
            c.violation(
                "orphans",
                format!("{n} records of tag {tag:#04x} belong to {id}, which no collection has"),
            );
        }
    }
    Ok(())
}

/// Operation records decode, sit under their own id and have a consistent outcome.
fn operations(c: &mut Checker<'_>) -> Result<()> {
    for (id, v) in c.entries(&[keys::OPERATION])? {
        let rec = match storage::decode_json::<OperationRecord>("operation", &v) {
            Ok(r) => r,
            Err(e) => {
                c.violation("operations", e.to_string());
                continue;
            }
        };
        c.report.operations += 1;
        let info = &rec.info;
        let problem = if info.id.0.as_bytes()[..] != id[..] {
            Some("is stored under another id")
        } else if info.status.is_terminal() && info.finished_at.is_none() {
            Some("has ended but has no end time")
        } else if info.status == OperationStatus::Failed && info.error.is_none() {
            Some("failed without an error")
        } else if info.status == OperationStatus::Completed && info.error.is_some() {
            Some("completed with an error")
        } else {
            None
        };
        if let Some(p) = problem {
            c.violation("operations", format!("operation {} {p}", info.id));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::WriteBatch;
    use crate::{CollectionConfig, Database, IndexConfig};

    /// A database with one collection of 40 texts whose vectors are in a graph segment.
    fn sample() -> (tempfile::TempDir, Database, Uuid) {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(dir.path()).unwrap();
        let c = db
            .create_collection(
                CollectionConfig::new("c")
                    .with_model("semantik-test/hash-16")
                    .with_index(IndexConfig::new().with_exact_threshold(8)),
            )
            .unwrap();
        let texts: Vec<String> = (0..40)
            .map(|i| format!("text number {i} about sled"))
            .collect();
        c.add_texts(texts).unwrap().wait(None).unwrap();
        c.compact().unwrap().wait(None).unwrap();
        let report = db.verify().unwrap();
        assert!(report.is_ok(), "{report}");
        assert_eq!(
            (report.documents, report.chunks, report.vectors),
            (40, 40, 40)
        );
        (dir, db, c.id().0)
    }

    /// Applies `change` to a fresh sample and returns the checks its violations name.
    fn checks_after(change: impl FnOnce(&dyn Store, Uuid) -> WriteBatch) -> Vec<&'static str> {
        let (_dir, db, id) = sample();
        let store = db.engine().store().unwrap();
        let batch = change(store.as_ref(), id);
        store.apply(batch).unwrap();
        let report = db.verify().unwrap();
        let mut checks: Vec<_> = report.violations.iter().map(|v| v.check).collect();
        checks.dedup();
        assert!(
            report
                .violations
                .iter()
                .all(|v| v.collection.as_deref() == Some("c")
                    || ["orphans", "catalog", "operations", "format"].contains(&v.check)),
            "{report}"
        );
        checks
    }

    fn first(store: &dyn Store, prefix: &[u8]) -> (Vec<u8>, Vec<u8>) {
        store.scan_prefix(prefix).next().unwrap().unwrap()
    }

    #[test]
    fn each_broken_invariant_is_reported_by_its_family() {
        let delete = |tag: u8| {
            move |store: &dyn Store, id: Uuid| {
                let mut b = WriteBatch::new();
                b.delete(first(store, &keys::in_collection(tag, id)).0);
                b
            }
        };
        assert_eq!(checks_after(delete(keys::VECTOR)), ["vectors", "counts"]);
        // A posting stored the format-4 way (format 5 builds them in memory).
        let stray_posting = |_: &dyn Store, id: Uuid| {
            let mut b = WriteBatch::new();
            let mut key = keys::in_collection(keys::POSTING, id);
            key.extend_from_slice(b"sled\xff");
            key.extend_from_slice(&0u64.to_be_bytes());
            b.put(key, vec![1, 0, 0, 0, 1, 0, 0, 0]);
            b
        };
        assert_eq!(checks_after(stray_posting), ["keyword"]);
        assert_eq!(
            checks_after(delete(keys::CHUNK_TERMS)),
            ["keyword", "counts"]
        );
        assert_eq!(checks_after(delete(keys::INDEX_PART)), ["index"]);
        assert_eq!(checks_after(delete(keys::DOCUMENT_HASH)), ["documents"]);
        let chunks = checks_after(delete(keys::CHUNK));
        assert!(
            chunks.contains(&"chunks") && chunks.contains(&"vectors"),
            "{chunks:?}"
        );
        let docs = checks_after(delete(keys::DOCUMENT));
        assert!(
            docs.contains(&"chunks") && docs.contains(&"counts"),
            "{docs:?}"
        );
        assert_eq!(
            checks_after(|store, id| {
                let mut b = WriteBatch::new();
                let (k, v) = first(store, &keys::in_collection(keys::VECTOR, id));
                b.put(k, v[..8].to_vec());
                b
            }),
            ["vectors"]
        );
        assert_eq!(
            checks_after(|store, id| {
                let mut stats: CollectionStats =
                    storage::get_json(store, "stats", &keys::stats(GenerationId(id)))
                        .unwrap()
                        .unwrap();
                stats.documents += 1;
                let mut b = WriteBatch::new();
                b.put_json(keys::stats(GenerationId(id)), &stats).unwrap();
                b
            }),
            ["counts"]
        );
        assert_eq!(
            checks_after(|_, _| {
                let mut b = WriteBatch::new();
                b.put(keys::chunk(GenerationId::new(), 3), b"{}".to_vec());
                b
            }),
            ["orphans"]
        );
        assert_eq!(
            checks_after(|_, _| {
                let mut b = WriteBatch::new();
                b.delete(keys::collection_name("c"));
                b
            }),
            ["catalog"]
        );
        assert_eq!(
            checks_after(|store, _| {
                let (k, v) = first(store, &[keys::OPERATION]);
                let mut rec: OperationRecord = storage::decode_json("op", &v).unwrap();
                rec.info.finished_at = None;
                let mut b = WriteBatch::new();
                b.put_json(k, &rec).unwrap();
                b
            }),
            ["operations"]
        );
        assert_eq!(
            checks_after(|_, _| {
                let mut b = WriteBatch::new();
                b.put_json(keys::meta("format_version"), &1u32).unwrap();
                b
            }),
            ["format"]
        );
    }
}
