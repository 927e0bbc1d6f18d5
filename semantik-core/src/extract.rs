//! Extraction: turning the bytes of a file into text and its structure.
//!
//! [`sniff`] finds a file's media type from its content first and its extension second;
//! [`extractor_for`] gives the [`Extractor`] of that type. A malformed file fails that one
//! document with a typed error; the operation goes on.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The text of one document and its structure. Byte offsets index into `text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Extracted {
    pub(crate) text: String,
    pub(crate) media_type: String,
    pub(crate) title: Option<String>,
    /// (byte offset where the page starts, 1-based page number), ascending; empty if the
    /// format has no pages.
    pub(crate) pages: Vec<(usize, u32)>,
    /// Headings in document order.
    pub(crate) headings: Vec<Heading>,
}

/// A heading of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Heading {
    /// Byte offset of the heading in the text.
    pub(crate) start: usize,
    /// 1 to 6.
    pub(crate) level: u8,
    pub(crate) title: String,
}

/// Turns the bytes of one format into text. Implementations are stateless.
pub(crate) trait Extractor: Send + Sync + fmt::Debug {
    /// Media types this extractor reads.
    fn media_types(&self) -> &'static [&'static str];
    /// Extracts `bytes`, the content of `path` (used for messages and extension hints).
    fn extract(&self, path: &Path, bytes: &[u8]) -> Result<Extracted>;
}

/// Plain text and source code, UTF-8 with or without a byte-order mark.
#[derive(Debug)]
struct PlainText;

const TEXT_TYPES: &[&str] = &[
    "text/plain",
    "text/markdown",
    "text/x-rst",
    "text/html",
    "application/json",
    "text/x-python",
    "text/x-rust",
    "text/x-c",
];

impl Extractor for PlainText {
    fn media_types(&self) -> &'static [&'static str] {
        TEXT_TYPES
    }

    fn extract(&self, path: &Path, bytes: &[u8]) -> Result<Extracted> {
        let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let text = String::from_utf8(body.to_vec()).map_err(|e| Error::DocumentRead {
            path: path.to_path_buf(),
            message: format!(
                "not valid UTF-8 (first bad byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        })?;
        Ok(Extracted {
            text,
            media_type: sniff(path, bytes).to_string(),
            title: None,
            pages: Vec::new(),
            headings: Vec::new(),
        })
    }
}

/// The media type of a file, from its content and its extension.
pub(crate) fn sniff(path: &Path, bytes: &[u8]) -> &'static str {
    let head = &bytes[..bytes.len().min(8192)];
    if head.contains(&0) {
        return "application/octet-stream";
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("md" | "markdown") => "text/markdown",
        Some("rst") => "text/x-rst",
        Some("html" | "htm") => "text/html",
        Some("json") => "application/json",
        Some("py") => "text/x-python",
        Some("rs") => "text/x-rust",
        Some("c" | "h") => "text/x-c",
        _ => "text/plain",
    }
}

/// The extractor for a media type (None: unsupported).
pub(crate) fn extractor_for(media_type: &str) -> Option<&'static dyn Extractor> {
    PlainText
        .media_types()
        .contains(&media_type)
        .then_some(&PlainText as &dyn Extractor)
}

/// Sniffs and extracts `bytes`, the content of `path`.
///
/// # Errors
/// [`Error::UnsupportedContent`] for a type no extractor reads; the extractor's errors.
pub(crate) fn extract(path: &Path, bytes: &[u8]) -> Result<Extracted> {
    let media_type = sniff(path, bytes);
    match extractor_for(media_type) {
        Some(e) => e.extract(path, bytes),
        None => Err(Error::UnsupportedContent {
            path: PathBuf::from(path),
            media_type: media_type.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_text_strips_bom_and_rejects_binary_and_bad_utf8() {
        let e = extract(Path::new("a.md"), b"\xEF\xBB\xBF# Title\nbody").unwrap();
        assert_eq!(e.text, "# Title\nbody");
        assert_eq!(e.media_type, "text/markdown");
        assert_eq!(
            extract(Path::new("b.txt"), b"\x00\x01\x02")
                .unwrap_err()
                .code(),
            crate::ErrorCode::UnsupportedContent
        );
        let err = extract(Path::new("c.txt"), b"ok \xff\xfe").unwrap_err();
        assert_eq!(err.code(), crate::ErrorCode::DocumentRead);
    }
}
