//! The docx extractor, then chunking and keyword analysis, as ingestion runs them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use semantik_core::fuzzing::ingest;

fuzz_target!(init: semantik_core::fuzzing::count_only_escaping_panics(), |data: &[u8]| {
    ingest("fuzz.docx", Some("application/vnd.openxmlformats-officedocument.wordprocessingml.document"), data, &Default::default());
});
