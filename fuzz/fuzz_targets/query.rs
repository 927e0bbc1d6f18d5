//! Queries: keyword analysis in every stemmer language, and searches in every mode (semantic,
//! keyword, hybrid) with filters, paging and thresholds, on a small real collection.
//! Input: a byte of settings, then the query text (any bytes, read as lossy UTF-8); a tab in
//! the query separates a metadata key and value for an equality filter.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use semantik_core::search::Filter;
use semantik_core::{Collection, CollectionConfig, Database, SearchMode};

const LANGUAGES: [&str; 20] = [
    "arabic",
    "danish",
    "dutch",
    "english",
    "finnish",
    "french",
    "german",
    "greek",
    "hungarian",
    "italian",
    "norwegian",
    "portuguese",
    "romanian",
    "russian",
    "spanish",
    "swedish",
    "tamil",
    "turkish",
    "simple",
    "unknown",
];

fn collection() -> &'static Collection {
    static COLLECTION: OnceLock<(tempfile::TempDir, Database, Collection)> = OnceLock::new();
    &COLLECTION
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let db = Database::open(dir.path()).unwrap();
            let col = db
                .create_collection(CollectionConfig::new("q").with_model("semantik-test/hash-32"))
                .unwrap();
            let texts: Vec<String> = (0..40)
                .map(|i| format!("Passage {i}: the quick brown fox jumps over lazy dog number {i}; Ελληνικά, русский, 中文 {i}."))
                .collect();
            col.add_texts(texts).unwrap().wait(None).unwrap();
            (dir, db, col)
        })
        .2
}

fuzz_target!(init: semantik_core::fuzzing::count_only_escaping_panics(), |data: &[u8]| {
    let Some((&settings, rest)) = data.split_first() else {
        return;
    };
    let query = String::from_utf8_lossy(rest);
    semantik_core::fuzzing::analyze(LANGUAGES[usize::from(settings) % LANGUAGES.len()], &query);
    let mode = [SearchMode::Semantic, SearchMode::Keyword, SearchMode::Hybrid][usize::from(settings >> 5) % 3];
    let mut search = collection()
        .search(&query)
        .mode(mode)
        .limit(usize::from(settings & 15))
        .offset(usize::from(settings >> 6));
    if let Some((key, value)) = query.split_once('\t') {
        search = search.filter(Filter::new().metadata_eq(key, value).source_under(value));
    }
    if settings & 16 != 0 {
        search = search.score_threshold(f32::from(settings) / 255.0 - 0.5);
    }
    let _ = search.run();
});
