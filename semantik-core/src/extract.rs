//! Extraction: reading a file and turning it into text.
//!
//! This first extractor handles text files (UTF-8, with or without a byte-order mark). Binary
//! content and invalid UTF-8 fail the one document with a typed error; the operation goes on.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use crate::error::{Error, Result};

/// The text of one file and what was learnt reading it.
#[derive(Debug, Clone)]
pub(crate) struct Extracted {
    pub(crate) text: String,
    pub(crate) media_type: String,
    pub(crate) size: u64,
    pub(crate) mtime_ms: Option<u64>,
    pub(crate) hash: blake3::Hash,
}

/// Reads `path` as a text document.
pub(crate) fn read_file(path: &Path) -> Result<Extracted> {
    let read_err = |message: String| Error::DocumentRead {
        path: path.to_path_buf(),
        message,
    };
    let meta = std::fs::metadata(path).map_err(|e| read_err(e.to_string()))?;
    let mtime_ms = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as u64);
    let bytes = std::fs::read(path).map_err(|e| read_err(e.to_string()))?;
    let hash = blake3::hash(&bytes);
    let media_type = media_type_of(path, &bytes);
    if media_type == "application/octet-stream" {
        return Err(Error::UnsupportedContent {
            path: PathBuf::from(path),
            media_type,
        });
    }
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    let text = String::from_utf8(body.to_vec()).map_err(|e| {
        read_err(format!(
            "not valid UTF-8 (first bad byte at offset {})",
            e.utf8_error().valid_up_to()
        ))
    })?;
    Ok(Extracted {
        text,
        media_type,
        size: meta.len(),
        mtime_ms,
        hash,
    })
}

/// The media type of a file, from its extension, falling back to sniffing its bytes.
pub(crate) fn media_type_of(path: &Path, bytes: &[u8]) -> String {
    let head = &bytes[..bytes.len().min(8192)];
    if head.contains(&0) {
        return "application/octet-stream".into();
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
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_text_strips_bom_and_rejects_binary_and_bad_utf8() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("a.md");
        std::fs::write(&good, b"\xEF\xBB\xBF# Title\nbody").unwrap();
        let e = read_file(&good).unwrap();
        assert_eq!(e.text, "# Title\nbody");
        assert_eq!(e.media_type, "text/markdown");
        assert_eq!(e.size, 15);

        let bin = dir.path().join("b.txt");
        std::fs::write(&bin, b"\x00\x01\x02").unwrap();
        assert_eq!(
            read_file(&bin).unwrap_err().code(),
            crate::ErrorCode::UnsupportedContent
        );

        let bad = dir.path().join("c.txt");
        std::fs::write(&bad, b"ok \xff\xfe").unwrap();
        let err = read_file(&bad).unwrap_err();
        assert_eq!(err.code(), crate::ErrorCode::DocumentRead);
        assert!(err.to_string().contains("offset 3"));

        let missing = dir.path().join("none.txt");
        assert_eq!(
            read_file(&missing).unwrap_err().code(),
            crate::ErrorCode::DocumentRead
        );
    }
}
