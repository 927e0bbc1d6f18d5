//! Entry points of the fuzz targets (feature `testing`): the code that reads untrusted input,
//! called as ingestion and search call it, with the invariants it promises checked. A broken
//! invariant panics, which the fuzzer reports as a crash.

use std::path::Path;

use crate::chunk::{Chunker, SplitChunker};
use crate::extract::{Extracted, extract, extract_as};
use crate::keyword::Analyzer;
use crate::{ChunkingConfig, KeywordConfig};

/// Makes only the panics that escape count as crashes. The fuzzer's own hook aborts at any
/// panic, even one the library catches by design: the PDF parsers (pdf-extract, lopdf) and
/// the Greek stemmer panic on some input, and semantik turns those panics into a failed
/// document or an unstemmed word. Call it once, in a target's `init`.
pub fn count_only_escaping_panics() {
    std::panic::set_hook(Box::new(|_| {}));
}

/// What ingesting a file's bytes gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Extracted and chunked into this many chunks.
    Chunks(usize),
    /// Refused with a typed error (a malformed or unsupported document).
    Refused,
}

/// Extracts the bytes of a file named `name` (type sniffed from the content and the name, as
/// ingestion does; `media_type` forces a type), checks the result, chunks it with `chunking`
/// and analyses every chunk for the keyword index.
///
/// ```
/// use semantik_core::fuzzing::{Outcome, ingest};
/// let text = b"# Title\n\nSome text under it.";
/// assert_eq!(ingest("a.md", None, text, &Default::default()), Outcome::Chunks(1));
/// assert_eq!(ingest("a.pdf", Some("application/pdf"), b"%PDF-garbage", &Default::default()), Outcome::Refused);
/// ```
pub fn ingest(
    name: &str,
    media_type: Option<&str>,
    bytes: &[u8],
    chunking: &ChunkingConfig,
) -> Outcome {
    let path = Path::new(name);
    let extracted = match media_type {
        Some(t) => extract_as(path, bytes, t),
        None => extract(path, bytes),
    };
    let Ok(doc) = extracted else {
        return Outcome::Refused;
    };
    if let Err(broken) = check(&doc) {
        panic!("{name}: {broken}");
    }
    let chunker = SplitChunker::new(chunking.clone(), None);
    let Ok(chunks) = chunker.chunk(&doc) else {
        return Outcome::Refused;
    };
    let analyzer = Analyzer::new(&KeywordConfig::default()).expect("default analyzer");
    for c in &chunks {
        assert!(
            c.start <= c.end && doc.text.get(c.start..c.end).is_some(),
            "{name}: chunk {}..{} outside the text",
            c.start,
            c.end
        );
        analyzer.terms(&c.text);
    }
    Outcome::Chunks(chunks.len())
}

/// The keyword terms of `text` in `language` (`None`: an unknown language, refused).
pub fn analyze(language: &str, text: &str) -> Option<Vec<String>> {
    let analyzer = Analyzer::new(&KeywordConfig::language(language)).ok()?;
    Some(analyzer.terms(text))
}

/// The invariants of extracted text: page and heading offsets ascending and on character
/// boundaries, page numbers increasing, heading levels 1 to 6.
pub(crate) fn check(e: &Extracted) -> Result<(), String> {
    let mut last = 0;
    for &(start, number) in &e.pages {
        if start < last || !e.text.is_char_boundary(start) {
            return Err(format!("page {number} starts at {start}"));
        }
        last = start;
    }
    if e.pages.windows(2).any(|w| w[0].1 >= w[1].1) {
        return Err("page numbers do not increase".into());
    }
    let mut last = 0;
    for h in &e.headings {
        if !(1..=6).contains(&h.level) || h.start < last || !e.text.is_char_boundary(h.start) {
            return Err(format!("heading {h:?}"));
        }
        last = h.start;
    }
    Ok(())
}
