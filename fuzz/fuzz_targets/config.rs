//! Settings from JSON, as the bindings and stored records read them: collection configs
//! (created for real, then deleted), chunking (then used to chunk a text), keyword, index and
//! source options; search options (the one options layer every binding and the CLI read: then
//! a search runs with them, and their filter must read back as it serializes) and reindex
//! settings. The first byte picks what the rest is.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use semantik_core::{
    ChunkingConfig, Collection, CollectionConfig, Database, IndexConfig, KeywordConfig,
    ReindexSettings, SearchOptions, SourceOptions,
};

fn database() -> &'static Database {
    static DB: OnceLock<(tempfile::TempDir, Database)> = OnceLock::new();
    &DB.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(dir.path()).unwrap();
        (dir, db)
    })
    .1
}

/// A collection of four documents with vectors of their own, to search with fuzzed options.
fn searched() -> &'static Collection {
    static COL: OnceLock<Collection> = OnceLock::new();
    COL.get_or_init(|| {
        let col = database()
            .create_collection(CollectionConfig::new("searched").with_external_vectors(4))
            .unwrap();
        let ids: Vec<String> = (0..4).map(|i| format!("d{i}")).collect();
        let vectors: Vec<Vec<f32>> = (0..4)
            .map(|i| (0..4).map(|j| if i == j { 1.0 } else { 0.1 }).collect())
            .collect();
        let texts = [
            "a first note",
            "a second note",
            "the third",
            "and a fourth note",
        ];
        let metadata = (0..4)
            .map(|i| serde_json::json!({"n": i, "lang": if i % 2 == 0 { "en" } else { "de" }}))
            .map(|m| serde_json::from_value(m).unwrap())
            .collect();
        col.add_vectors(ids, vectors, texts.map(String::from).to_vec(), metadata)
            .unwrap()
            .wait(None)
            .unwrap();
        col
    })
}

const TEXT: &str = "# A heading\n\nA first paragraph of a few words.\n\n## Another\n\nA second, \
                    longer paragraph that the chunker has to split somewhere in the middle.";

fuzz_target!(|data: &[u8]| {
    let Some((&pick, json)) = data.split_first() else {
        return;
    };
    match pick % 7 {
        0 => {
            if let Ok(config) = serde_json::from_slice::<CollectionConfig>(json) {
                let db = database();
                let name = config.name.clone();
                if db.create_collection(config).is_ok() {
                    db.delete_collection(&name).unwrap().wait(None).unwrap();
                }
            }
        }
        1 => {
            if let Ok(chunking) = serde_json::from_slice::<ChunkingConfig>(json)
                && chunking.validate().is_ok()
            {
                semantik_core::fuzzing::ingest("a.md", None, TEXT.as_bytes(), &chunking);
            }
        }
        2 => {
            if let Ok(k) = serde_json::from_slice::<KeywordConfig>(json) {
                let _ = k.validate();
            }
        }
        3 => {
            if let Ok(index) = serde_json::from_slice::<IndexConfig>(json) {
                let db = database();
                let config = CollectionConfig::new("ix")
                    .with_external_vectors(4)
                    .with_index(index);
                if db.create_collection(config).is_ok() {
                    db.delete_collection("ix").unwrap().wait(None).unwrap();
                }
            }
        }
        4 => {
            let _ = serde_json::from_slice::<SourceOptions>(json);
        }
        5 => {
            let Ok(text) = std::str::from_utf8(json) else {
                return;
            };
            if let Ok(options) = SearchOptions::from_json(text) {
                let again = serde_json::to_string(&options).unwrap();
                assert_eq!(
                    SearchOptions::from_json(&again).unwrap(),
                    options,
                    "{again}"
                );
                let col = searched();
                let _ = col.search("a note").options(options.clone()).run();
                let _ = col
                    .search_by_vector(vec![1.0, 0.5, 0.0, 0.2])
                    .options(options)
                    .run();
            }
        }
        _ => {
            let _ = serde_json::from_slice::<ReindexSettings>(json);
        }
    }
});
