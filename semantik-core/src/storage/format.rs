//! The on-disk format version and the migrations between versions.
//!
//! The version is stored under `META | "format_version"`. Opening a database with an older
//! version runs each migration step in order; every step writes its changes *and* the new
//! version in one atomic batch, so a crash during a migration leaves the database at the old
//! version and the step runs again on the next open. A newer version is refused.

use std::path::Path;

use super::{Store, WriteBatch, decode_json, get_json, keys};
use crate::error::{Error, Result};

/// The format this build writes.
pub(crate) const FORMAT_VERSION: u32 = 5;

const VERSION_KEY: &str = "format_version";

/// One migration step: reads the store at `from` and returns the batch that brings it to
/// `from + 1` (without the version key, which the caller adds).
type Step = fn(&dyn Store) -> Result<WriteBatch>;

/// `STEPS[i]` migrates version `i + 1` to `i + 2`.
const STEPS: [Step; (FORMAT_VERSION - 1) as usize] = [v1_to_v2, v2_to_v3, v3_to_v4, v4_to_v5];

/// The stored format version, or `None` for a store that has none.
pub(crate) fn read_version(store: &dyn Store) -> Result<Option<u32>> {
    get_json(store, "format version", &keys::meta(VERSION_KEY))
}

/// Makes `store` a current-format semantik database, migrating an older one.
///
/// An empty store is initialised; a store with data but no version is not a semantik database.
pub(crate) fn prepare(store: &dyn Store, path: &Path) -> Result<()> {
    let mut version = match read_version(store)? {
        Some(v) => v,
        None => {
            if store.scan_prefix(&[]).next().is_some() {
                return Err(Error::NotADatabase {
                    path: path.to_path_buf(),
                });
            }
            let mut batch = WriteBatch::new();
            batch.put_json(keys::meta(VERSION_KEY), &FORMAT_VERSION)?;
            store.apply(batch)?;
            store.flush()?;
            return Ok(());
        }
    };
    if version > FORMAT_VERSION || version == 0 {
        return Err(Error::UnsupportedFormat {
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    while version < FORMAT_VERSION {
        let mut batch = STEPS[(version - 1) as usize](store)?;
        version += 1;
        batch.put_json(keys::meta(VERSION_KEY), &version)?;
        store.apply(batch)?;
        store.flush()?;
    }
    Ok(())
}

/// Format 1 kept collection names only inside the collection records; format 2 adds the
/// `COLLECTION_NAME` index used for unique names and lookups by name.
fn v1_to_v2(store: &dyn Store) -> Result<WriteBatch> {
    let mut batch = WriteBatch::new();
    for entry in store.scan_prefix(&[keys::COLLECTION]) {
        let (_, value) = entry?;
        let record: serde_json::Value = decode_json("collection record", &value)?;
        if record["deleting"].as_bool() == Some(true) {
            continue;
        }
        let (Some(name), Some(id)) = (record["config"]["name"].as_str(), record["id"].as_str())
        else {
            return Err(Error::corrupt(
                "format 1 collection record without name or id",
            ));
        };
        let id: uuid::Uuid = id
            .parse()
            .map_err(|e| Error::corrupt(format!("collection id {id:?}: {e}")))?;
        batch.put(keys::collection_name(name), id.as_bytes().to_vec());
    }
    Ok(batch)
}

/// Format 3 sizes chunks by unit (`{unit, max_size, overlap}` instead of `{max_chars,
/// overlap_chars}`), keeps documents' text (tag 0x14) and lets collections serve a generation
/// other than their own id (reindex). Older collections keep their character sizes.
fn v2_to_v3(store: &dyn Store) -> Result<WriteBatch> {
    let mut batch = WriteBatch::new();
    for entry in store.scan_prefix(&[keys::COLLECTION]) {
        let (key, value) = entry?;
        let mut record: serde_json::Value = decode_json("collection record", &value)?;
        let chunking = &mut record["config"]["chunking"];
        if let Some(old) = chunking.as_object() {
            let max = old.get("max_chars").and_then(|v| v.as_u64()).unwrap_or(800);
            let overlap = old
                .get("overlap_chars")
                .and_then(|v| v.as_u64())
                .unwrap_or(120);
            *chunking = serde_json::json!({
                "unit": "characters", "max_size": max, "overlap": overlap
            });
            batch.put(key, super::encode_json(&record)?);
        }
    }
    Ok(batch)
}

/// Format 4 adds the keyword (BM25) index: postings (0x24, dropped by format 5) and chunk term
/// lists (0x25) of every stored chunk, and the total term count in each generation's stats. Existing
/// collections get the default keyword settings (English). One batch, as every step: its
/// memory grows with the number of stored chunks.
fn v3_to_v4(store: &dyn Store) -> Result<WriteBatch> {
    use crate::collection::{CollectionRecord, CollectionStats};
    use crate::keyword::{self, Analyzer, KeywordConfig};
    let analyzer = Analyzer::new(&KeywordConfig::default())?;
    let mut batch = WriteBatch::new();
    for entry in store.scan_prefix(&[keys::COLLECTION]) {
        let (_, value) = entry?;
        let record: CollectionRecord = decode_json("collection record", &value)?;
        for generation in record.generations() {
            let mut terms = 0;
            for entry in store.scan_prefix(&keys::in_generation(keys::CHUNK, generation)) {
                let (key, value) = entry?;
                let chunk: crate::document::ChunkRecord = decode_json("chunk", &value)?;
                let id = keys::chunk_id_of(&key)
                    .ok_or_else(|| Error::corrupt("chunk key without a chunk id"))?;
                // The first chunk is indexed with its document's title, as new writes do.
                let title = if chunk.index == 0 {
                    let doc_key = keys::document(generation, &chunk.document_id);
                    get_json::<serde_json::Value>(store, "document", &doc_key)?
                        .and_then(|d| d["title"].as_str().map(str::to_string))
                } else {
                    None
                };
                let text = crate::chunk::keyword_text(&chunk.text, 0, title.as_deref());
                let chunk_terms = analyzer.terms(&text);
                // A database is migrated before it is opened: no postings are in memory yet.
                let unused = &mut keyword::Delta::default();
                terms += keyword::add_chunk(&mut batch, unused, generation, id, &chunk_terms);
            }
            if let Some(mut stats) =
                get_json::<CollectionStats>(store, "collection stats", &keys::stats(generation))?
            {
                stats.keyword_terms = terms;
                batch.put_json(keys::stats(generation), &stats)?;
            }
        }
    }
    Ok(batch)
}

/// Format 5 drops the stored postings (0x24, one key per term and chunk): searches build them
/// in memory from the chunks' term lists (0x25), which hold the same frequencies and lengths.
/// (Their keys were most of a database's records and of its size.)
fn v4_to_v5(store: &dyn Store) -> Result<WriteBatch> {
    let mut batch = WriteBatch::new();
    for entry in store.scan_prefix(&[keys::POSTING]) {
        batch.delete(entry?.0);
    }
    Ok(batch)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::generation::GenerationId;
    use crate::storage::mem_store::MemStore;

    /// A collection record as formats 1 to 3 stored it, with `config`.
    fn old_record(id: uuid::Uuid, config: serde_json::Value) -> serde_json::Value {
        serde_json::json!({
            "id": id.to_string(),
            "config": config,
            "status": "ready",
            "created_at": {"secs_since_epoch": 1_700_000_000u64, "nanos_since_epoch": 0},
            "updated_at": {"secs_since_epoch": 1_700_000_000u64, "nanos_since_epoch": 0},
        })
    }

    /// Writes a format-1 database holding one collection record, as format 1 stored it.
    pub(crate) fn write_v1(store: &dyn Store, id: uuid::Uuid, name: &str) {
        let mut batch = WriteBatch::new();
        batch.put_json(keys::meta(VERSION_KEY), &1u32).unwrap();
        let record = old_record(
            id,
            serde_json::json!({"name": name, "model": "external", "dimension": 3}),
        );
        batch.put_json(keys::collection(id), &record).unwrap();
        store.apply(batch).unwrap();
    }

    #[test]
    fn v2_chunking_becomes_characters() {
        let store = MemStore::default();
        let id = uuid::Uuid::now_v7();
        let mut batch = WriteBatch::new();
        batch.put_json(keys::meta(VERSION_KEY), &2u32).unwrap();
        let record = old_record(
            id,
            serde_json::json!({"name": "old", "model": "m", "dimension": 3,
                               "chunking": {"max_chars": 500, "overlap_chars": 50}}),
        );
        batch.put_json(keys::collection(id), &record).unwrap();
        store.apply(batch).unwrap();
        prepare(&store, Path::new("x")).unwrap();
        let r: crate::collection::CollectionRecord = get_json(&store, "c", &keys::collection(id))
            .unwrap()
            .unwrap();
        assert_eq!(
            r.config.chunking,
            crate::ChunkingConfig::characters(500, 50)
        );
        assert_eq!(r.generation().0, id);
    }

    #[test]
    fn v3_chunks_gain_keyword_postings() {
        let store = MemStore::default();
        let id = uuid::Uuid::now_v7();
        let mut batch = WriteBatch::new();
        batch.put_json(keys::meta(VERSION_KEY), &3u32).unwrap();
        let record = old_record(
            id,
            serde_json::json!({"name": "old", "model": "m", "dimension": 3}),
        );
        batch.put_json(keys::collection(id), &record).unwrap();
        for (i, text) in ["Sorting lists of dictionaries", "Reading files"]
            .iter()
            .enumerate()
        {
            let chunk = serde_json::json!({"document_id": format!("d{i}"), "index": 0,
                                           "start": 0, "end": text.len(), "text": text});
            batch
                .put_json(keys::chunk(GenerationId(id), i as u64), &chunk)
                .unwrap();
        }
        let stats = serde_json::json!({"documents": 2, "chunks": 2, "vectors": 2,
                                       "next_chunk_id": 2});
        batch
            .put_json(keys::stats(GenerationId(id)), &stats)
            .unwrap();
        store.apply(batch).unwrap();
        prepare(&store, Path::new("x")).unwrap();
        let stats: crate::collection::CollectionStats =
            get_json(&store, "s", &keys::stats(GenerationId(id)))
                .unwrap()
                .unwrap();
        // sort, list, dictionari | read, file
        assert_eq!(stats.keyword_terms, 5);
        let corpus = crate::keyword::Corpus {
            chunks: stats.chunks,
            terms: stats.keyword_terms,
        };
        let config = crate::KeywordConfig::default();
        let postings = crate::keyword::Postings::load(&store, GenerationId(id)).unwrap();
        let hits =
            crate::keyword::search(&postings, corpus, &config, &["file".to_string()], 10, None);
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].0, 1);
    }

    #[test]
    fn v4_stored_postings_are_deleted_and_the_term_lists_kept() {
        let store = MemStore::default();
        let generation = GenerationId(uuid::Uuid::now_v7());
        let mut batch = WriteBatch::new();
        batch.put_json(keys::meta(VERSION_KEY), &4u32).unwrap();
        let mut posting = keys::in_generation_with(keys::POSTING, generation, b"file\xff");
        posting.extend_from_slice(&7u64.to_be_bytes());
        batch.put(posting, vec![1, 0, 0, 0, 2, 0, 0, 0]);
        let list = [
            &2u32.to_le_bytes()[..],
            &1u32.to_le_bytes(),
            &4u16.to_le_bytes(),
            b"file",
        ];
        batch.put(keys::chunk_terms(generation, 7), list.concat());
        store.apply(batch).unwrap();
        prepare(&store, Path::new("x")).unwrap();
        assert!(store.scan_prefix(&[keys::POSTING]).next().is_none());
        assert_eq!(read_version(&store).unwrap(), Some(5));
        let postings = crate::keyword::Postings::load(&store, generation).unwrap();
        let corpus = crate::keyword::Corpus {
            chunks: 1,
            terms: 2,
        };
        let config = crate::KeywordConfig::default();
        let hits =
            crate::keyword::search(&postings, corpus, &config, &["file".to_string()], 10, None);
        assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), [7]);
    }

    #[test]
    fn empty_store_is_initialised() {
        let store = MemStore::default();
        prepare(&store, Path::new("x")).unwrap();
        assert_eq!(read_version(&store).unwrap(), Some(FORMAT_VERSION));
    }

    #[test]
    fn foreign_data_is_not_a_database() {
        let store = MemStore::default();
        let mut b = WriteBatch::new();
        b.put(b"hello".to_vec(), b"world".to_vec());
        store.apply(b).unwrap();
        let err = prepare(&store, Path::new("x")).unwrap_err();
        assert_eq!(err.code(), crate::ErrorCode::NotADatabase);
    }

    #[test]
    fn newer_format_is_refused_and_untouched() {
        let store = MemStore::default();
        let mut b = WriteBatch::new();
        b.put_json(keys::meta(VERSION_KEY), &(FORMAT_VERSION + 1))
            .unwrap();
        store.apply(b).unwrap();
        let err = prepare(&store, Path::new("x")).unwrap_err();
        assert!(matches!(err, Error::UnsupportedFormat { found, supported }
            if found == FORMAT_VERSION + 1 && supported == FORMAT_VERSION));
        assert_eq!(read_version(&store).unwrap(), Some(FORMAT_VERSION + 1));
    }

    #[test]
    fn v1_gains_the_name_index() {
        let store = MemStore::default();
        let id = uuid::Uuid::now_v7();
        write_v1(&store, id, "docs");
        prepare(&store, Path::new("x")).unwrap();
        assert_eq!(read_version(&store).unwrap(), Some(FORMAT_VERSION));
        assert_eq!(
            store.get(&keys::collection_name("docs")).unwrap(),
            Some(id.as_bytes().to_vec())
        );
    }

    // On open, through the database.

    #[test]
    fn newer_format_on_disk_is_refused_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        crate::Database::open(dir.path()).unwrap().close().unwrap();
        {
            let store = crate::storage::open_sled(&dir.path().join(crate::db::DATA_DIR)).unwrap();
            let mut b = WriteBatch::new();
            b.put_json(keys::meta("format_version"), &99u32).unwrap();
            store.apply(b).unwrap();
            store.flush().unwrap();
        }
        let err = crate::Database::open(dir.path()).unwrap_err();
        assert!(
            matches!(err, crate::Error::UnsupportedFormat { found: 99, .. }),
            "{err}"
        );
        let store = crate::storage::open_sled(&dir.path().join(crate::db::DATA_DIR)).unwrap();
        assert_eq!(read_version(store.as_ref()).unwrap(), Some(99));
    }

    #[test]
    fn format_1_database_is_migrated_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let id = uuid::Uuid::now_v7();
        {
            let store = crate::storage::open_sled(&dir.path().join(crate::db::DATA_DIR)).unwrap();
            write_v1(store.as_ref(), id, "old");
            store.flush().unwrap();
        }
        let db = crate::Database::open(dir.path()).unwrap();
        let col = db.collection("old").unwrap();
        assert_eq!(col.id().0, id);
        assert_eq!(col.info().unwrap().dimension(), 3);
        db.close().unwrap();
        let store = crate::storage::open_sled(&dir.path().join(crate::db::DATA_DIR)).unwrap();
        assert_eq!(read_version(store.as_ref()).unwrap(), Some(FORMAT_VERSION));
    }
}
