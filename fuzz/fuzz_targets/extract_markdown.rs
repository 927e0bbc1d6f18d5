//! The markdown extractor, then chunking and keyword analysis, as ingestion runs them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use semantik_core::fuzzing::ingest;

fuzz_target!(init: semantik_core::fuzzing::count_only_escaping_panics(), |data: &[u8]| {
    ingest("fuzz.md", Some("text/markdown"), data, &Default::default());
});
