//! Extraction: turning the bytes of a file into text and its structure.
//!
//! [`sniff`] finds a file's media type from its content first and its extension second;
//! [`extractor_for`] gives the [`Extractor`] of that type; [`extract`] does both. A malformed
//! file fails that one document with a typed error ([`Error::DocumentRead`]); a type that no
//! compiled-in extractor reads gives [`Error::UnsupportedContent`]. No extractor panics the
//! process on any input, nor recurses on the nesting depth of the input.
//!
//! Formats: plain text and source code (always), Markdown (`markdown`), HTML (`html`), PDF
//! (`pdf`), Word .docx (`docx`) and e-mail (`email`).

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

#[cfg(feature = "docx")]
mod docx;
#[cfg(feature = "email")]
mod email;
#[cfg(feature = "html")]
mod html;
#[cfg(feature = "markdown")]
mod markdown;
pub(crate) mod markup;
#[cfg(feature = "pdf")]
mod pdf;
mod text;

/// The text of one document and its structure. Byte offsets index into `text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    /// The document's text.
    pub text: String,
    /// The media type it was read as, e.g. `"application/pdf"`.
    pub media_type: String,
    /// The document's own title (PDF Info, `<title>`, e-mail subject, first level-1 heading...).
    pub title: Option<String>,
    /// (byte offset where the page starts, 1-based page number), ascending; empty if the
    /// format has no pages.
    pub pages: Vec<(usize, u32)>,
    /// Headings in document order.
    pub headings: Vec<Heading>,
}

impl Extracted {
    /// A text without pages whose title is its first level-1 heading.
    pub(crate) fn with_headings(text: String, media_type: &str, headings: Vec<Heading>) -> Self {
        let title = headings
            .iter()
            .find(|h| h.level == 1)
            .map(|h| h.title.clone());
        Extracted {
            text,
            media_type: media_type.to_string(),
            title,
            pages: Vec::new(),
            headings,
        }
    }
}

/// A heading of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heading {
    /// Byte offset of the heading in the text.
    pub start: usize,
    /// 1 to 6.
    pub level: u8,
    /// The heading's text.
    pub title: String,
}

/// Turns the bytes of one format into text. Implementations are stateless and `Send + Sync`.
pub trait Extractor: Send + Sync + fmt::Debug {
    /// Media types this extractor reads.
    fn media_types(&self) -> &'static [&'static str];
    /// Extracts `bytes`, the content of `path` (used for messages and extension hints).
    ///
    /// # Errors
    /// [`Error::DocumentRead`] when the content is malformed, truncated, encrypted or too large;
    /// [`Error::UnsupportedContent`] when it is not of a type this extractor reads.
    fn extract(&self, path: &Path, bytes: &[u8]) -> Result<Extracted>;
}

/// The media type of Word documents.
pub(crate) const DOCX: &str =
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
/// The media type of content no extractor reads.
pub(crate) const BINARY: &str = "application/octet-stream";

/// How many bytes at the start of a file the content checks look at.
const SNIFF_LEN: usize = 8192;

/// The extractors compiled in; the first that lists a media type reads it.
static EXTRACTORS: &[&dyn Extractor] = &[
    #[cfg(feature = "pdf")]
    &pdf::Pdf,
    #[cfg(feature = "docx")]
    &docx::Docx,
    #[cfg(feature = "html")]
    &html::Html,
    #[cfg(feature = "email")]
    &email::Email,
    #[cfg(feature = "markdown")]
    &markdown::Markdown,
    &text::PlainText,
];

/// The media type of a file: content sniffing (magic bytes, markup, RFC 822 headers) first,
/// extension second. Binary content that no extractor reads is `"application/octet-stream"`.
///
/// The type is returned whether or not its extractor is compiled in, so that
/// [`Error::UnsupportedContent`] can name it.
pub fn sniff(path: &Path, bytes: &[u8]) -> &'static str {
    let head = &bytes[..bytes.len().min(SNIFF_LEN)];
    let ext = extension(path);
    // PDF readers accept the header anywhere in the first KiB; text that only mentions it is not
    // a PDF unless it is named one.
    let pdf_at = memmem(&head[..head.len().min(1024)], b"%PDF-");
    if pdf_at == Some(0) || (pdf_at.is_some() && ext.as_deref() == Some("pdf")) {
        return "application/pdf";
    }
    if head.starts_with(b"PK\x03\x04") {
        // The first local header is usually [Content_Types].xml; the central directory at the end
        // names every entry.
        let tail = &bytes[bytes.len().saturating_sub(64 * 1024)..];
        if memmem(head, b"word/document.xml").is_some()
            || memmem(tail, b"word/document.xml").is_some()
            || ext.as_deref() == Some("docx")
        {
            return DOCX;
        }
        return BINARY;
    }
    let utf16 = head.starts_with(b"\xFF\xFE") || head.starts_with(b"\xFE\xFF");
    if !utf16 {
        let body = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
        if looks_like_html(body) {
            return "text/html";
        }
        if looks_like_email(body) {
            return "message/rfc822";
        }
        if memchr(0, head).is_some() {
            return BINARY;
        }
    }
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    if name.ends_with(".rst.txt") {
        return "text/x-rst";
    }
    match ext.as_deref() {
        Some("pdf") => "application/pdf",
        Some("docx") => DOCX,
        Some("eml") => "message/rfc822",
        Some("html" | "htm" | "xhtml") => "text/html",
        Some("md" | "markdown" | "mdown" | "mkd") => "text/markdown",
        Some("rst") => "text/x-rst",
        Some("json") => "application/json",
        Some("toml") => "application/toml",
        Some("yaml" | "yml") => "application/yaml",
        Some("xml") => "application/xml",
        Some("csv") => "text/csv",
        Some("py" | "pyi") => "text/x-python",
        Some("rs") => "text/x-rust",
        Some("c" | "h") => "text/x-c",
        Some("cc" | "cpp" | "cxx" | "hh" | "hpp" | "hxx") => "text/x-c++",
        Some("go") => "text/x-go",
        Some("java") => "text/x-java",
        Some("js" | "mjs" | "cjs") => "text/javascript",
        Some("ts" | "tsx") => "text/x-typescript",
        Some("sh" | "bash") => "text/x-shellscript",
        _ => "text/plain",
    }
}

/// The extractor for a media type, among those compiled in (None: unsupported).
pub fn extractor_for(media_type: &str) -> Option<&'static dyn Extractor> {
    EXTRACTORS
        .iter()
        .copied()
        .find(|e| e.media_types().contains(&media_type))
}

/// Sniffs and extracts `bytes`, the content of `path`.
///
/// # Errors
/// [`Error::UnsupportedContent`] for a type no extractor reads; the extractor's errors.
pub fn extract(path: &Path, bytes: &[u8]) -> Result<Extracted> {
    extract_as(path, bytes, sniff(path, bytes))
}

/// Extracts `bytes` as `media_type` (what [`sniff`] said of them).
///
/// # Errors
/// As [`extract`].
pub fn extract_as(path: &Path, bytes: &[u8], media_type: &str) -> Result<Extracted> {
    match extractor_for(media_type) {
        Some(e) => e.extract(path, bytes),
        None => Err(unsupported(path, media_type)),
    }
}

/// [`Error::DocumentRead`] for `path`.
#[cfg_attr(
    not(any(feature = "pdf", feature = "docx", feature = "html", feature = "email")),
    allow(dead_code)
)]
pub(crate) fn read_error(path: &Path, message: impl Into<String>) -> Error {
    Error::DocumentRead {
        path: PathBuf::from(path),
        message: message.into(),
    }
}

/// [`Error::UnsupportedContent`] for `path`.
pub(crate) fn unsupported(path: &Path, media_type: &str) -> Error {
    Error::UnsupportedContent {
        path: PathBuf::from(path),
        media_type: media_type.to_string(),
    }
}

/// The lower-case extension of `path`.
fn extension(path: &Path) -> Option<String> {
    path.extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
}

/// Text decoded from bytes of unknown encoding.
#[derive(Debug)]
pub(crate) enum Decoded<'a> {
    /// The text; bytes invalid in the detected encoding are replaced by U+FFFD.
    Text(Cow<'a, str>),
    /// NUL bytes outside UTF-16 (when they mean binary): not text.
    Binary,
}

/// Decodes text: a byte-order mark (UTF-8, UTF-16 LE/BE) wins; then valid UTF-8 as is; then
/// `declared` (e.g. an HTML `<meta charset>`), then the guess of `chardetng`. With
/// `nul_is_binary`, NUL bytes in a file without a UTF-16 mark make it [`Decoded::Binary`].
pub(crate) fn decode<'a>(
    bytes: &'a [u8],
    declared: Option<&'static encoding_rs::Encoding>,
    nul_is_binary: bool,
) -> Decoded<'a> {
    if let Some((encoding, bom_len)) = encoding_rs::Encoding::for_bom(bytes) {
        return Decoded::Text(encoding.decode_without_bom_handling(&bytes[bom_len..]).0);
    }
    if nul_is_binary && memchr(0, bytes).is_some() {
        return Decoded::Binary;
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Decoded::Text(Cow::Borrowed(text));
    }
    let encoding = match declared {
        // A page that claims UTF-16 without a mark is read as UTF-8 (HTML rule); it was not
        // valid UTF-8, so guess.
        Some(e) if e != encoding_rs::UTF_8 && e.is_ascii_compatible() => e,
        _ => {
            let mut detector =
                chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
            detector.feed(bytes, true);
            detector.guess(None, chardetng::Utf8Detection::Allow)
        }
    };
    Decoded::Text(encoding.decode_without_bom_handling(bytes).0)
}

/// Whether `body` (after a UTF-8 BOM) starts, after whitespace, with `<!doctype html` or
/// `<html` (ASCII case-insensitive), possibly after comments and an XML declaration.
fn looks_like_html(body: &[u8]) -> bool {
    let mut rest = body;
    for _ in 0..16 {
        rest = trim_ascii_start(rest);
        if starts_with_ci(rest, b"<!doctype html") || starts_with_ci(rest, b"<html") {
            return true;
        }
        // Skip a comment or an XML declaration, then look again.
        let close: &[u8] = if rest.starts_with(b"<!--") {
            b"-->"
        } else if rest.starts_with(b"<?xml") {
            b"?>"
        } else {
            return false;
        };
        match memmem(rest, close) {
            Some(i) => rest = &rest[i + close.len()..],
            None => return false,
        }
    }
    false
}

/// Whether `body` starts with an RFC 822 header block: an optional mbox `From ` line, then at
/// least two header lines (`Name: value`, continuations indented) up to the first blank line, the
/// end of the file or the end of the sniffed window, one of them a header only mail has.
fn looks_like_email(body: &[u8]) -> bool {
    const MAIL_ONLY: &[&[u8]] = &[
        b"received",
        b"from",
        b"return-path",
        b"message-id",
        b"mime-version",
        b"delivered-to",
        b"x-mailer",
        b"in-reply-to",
    ];
    let mut lines = body.split(|&b| b == b'\n').peekable();
    if lines.peek().is_some_and(|l| l.starts_with(b"From ")) {
        lines.next();
    }
    let (mut headers, mut mail_only) = (0, false);
    while let Some(line) = lines.next() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            // A continuation line, not before the first header.
            if headers == 0 {
                return false;
            }
            continue;
        }
        let Some(colon) = memchr(b':', line) else {
            // The last line of a full window may be cut anywhere.
            let cut = lines.peek().is_none() && body.len() >= SNIFF_LEN;
            if cut {
                break;
            }
            return false;
        };
        let name = &line[..colon];
        if name.is_empty() || !name.iter().all(|&b| b.is_ascii_graphic()) {
            return false;
        }
        headers += 1;
        mail_only |= MAIL_ONLY.iter().any(|m| m.eq_ignore_ascii_case(name));
    }
    headers >= 2 && mail_only
}

/// `s` without leading ASCII whitespace.
fn trim_ascii_start(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|b| b.is_ascii_whitespace()).count();
    &s[n..]
}

/// Whether `s` starts with `prefix`, ASCII case-insensitively.
fn starts_with_ci(s: &[u8], prefix: &[u8]) -> bool {
    s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// The first index of `byte` in `s`.
fn memchr(byte: u8, s: &[u8]) -> Option<usize> {
    memchr::memchr(byte, s)
}

/// The first index of `needle` in `haystack`.
pub(crate) fn memmem(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}

/// Collapses runs of whitespace to one space and trims the ends.
pub(crate) fn collapse_whitespace(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
pub(crate) mod tests;
