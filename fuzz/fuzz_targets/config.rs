//! Settings from JSON, as the bindings and stored records read them: collection configs
//! (created for real, then deleted), chunking (then used to chunk a text), keyword, index and
//! source options, search options of the C API. The first byte picks what the rest is.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use semantik_core::{
    ChunkingConfig, CollectionConfig, Database, IndexConfig, KeywordConfig, SourceOptions,
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

const TEXT: &str = "# A heading\n\nA first paragraph of a few words.\n\n## Another\n\nA second, \
                    longer paragraph that the chunker has to split somewhere in the middle.";

fuzz_target!(|data: &[u8]| {
    let Some((&pick, json)) = data.split_first() else {
        return;
    };
    match pick % 5 {
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
        _ => {
            let _ = serde_json::from_slice::<SourceOptions>(json);
        }
    }
});
