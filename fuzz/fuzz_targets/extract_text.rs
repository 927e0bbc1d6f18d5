//! Plain text and source files: type sniffing by content and name, encoding detection (UTF-16
//! with and without BOM, legacy 8-bit charsets), then chunking and keyword analysis. The first
//! byte picks the file name; chunking by characters or by Markdown structure.
#![no_main]

use libfuzzer_sys::fuzz_target;
use semantik_core::ChunkingConfig;
use semantik_core::fuzzing::ingest;

const NAMES: [&str; 6] = ["a.txt", "a.rst", "a.py", "a.csv", "README", "a.json"];

fuzz_target!(init: semantik_core::fuzzing::count_only_escaping_panics(), |data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let chunking = ChunkingConfig::characters(64 + usize::from(pick), usize::from(pick & 15));
    ingest(NAMES[usize::from(pick) % NAMES.len()], None, rest, &chunking);
});
