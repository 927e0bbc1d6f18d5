//! Plain text and source code in any encoding; section headings of reStructuredText.

use std::path::Path;

use super::{Decoded, Extracted, Extractor, Heading, decode, sniff, unsupported};
use crate::error::Result;

/// Plain text and source code: BOM, then UTF-8, then the encoding `chardetng` guesses.
#[derive(Debug)]
pub(crate) struct PlainText;

/// The media types read as plain text.
const TYPES: &[&str] = &[
    "text/plain",
    "text/x-rst",
    #[cfg(not(feature = "markdown"))]
    "text/markdown",
    "text/csv",
    "application/json",
    "application/toml",
    "application/yaml",
    "application/xml",
    "text/x-python",
    "text/x-rust",
    "text/x-c",
    "text/x-c++",
    "text/x-go",
    "text/x-java",
    "text/javascript",
    "text/x-typescript",
    "text/x-shellscript",
];

impl Extractor for PlainText {
    fn media_types(&self) -> &'static [&'static str] {
        TYPES
    }

    fn extract(&self, path: &Path, bytes: &[u8]) -> Result<Extracted> {
        let media_type = sniff(path, bytes);
        let text = decode_text(path, bytes)?;
        let headings = if media_type == "text/x-rst" {
            rst_headings(&text)
        } else {
            Vec::new()
        };
        Ok(Extracted::with_headings(text, media_type, headings))
    }
}

/// Decodes a text file; line ends are kept as they are.
///
/// # Errors
/// [`crate::Error::UnsupportedContent`] (`application/octet-stream`) for NUL bytes outside UTF-16.
pub(crate) fn decode_text(path: &Path, bytes: &[u8]) -> Result<String> {
    match decode(bytes, None, true) {
        Decoded::Text(text) => Ok(text.into_owned()),
        Decoded::Binary => Err(unsupported(path, super::BINARY)),
    }
}

/// Characters that may adorn a reST section title (any non-alphanumeric printable ASCII).
fn is_adornment_char(c: u8) -> bool {
    c.is_ascii_punctuation()
}

/// The adornment character of `line` if it is a run of one punctuation character (at least two;
/// trailing whitespace allowed).
pub(crate) fn adornment(line: &str) -> Option<(u8, usize)> {
    let line = line.trim_end();
    let bytes = line.as_bytes();
    let &c = bytes.first()?;
    (is_adornment_char(c) && bytes.len() >= 2 && bytes.iter().all(|&b| b == c))
        .then_some((c, bytes.len()))
}

/// Section headings of reStructuredText: a title line with an underline of one punctuation
/// character at least as long as the title, optionally with an overline of the same character.
/// Levels follow the order in which each style (character, with or without overline) first
/// appears; past six they stay at 6. `start` is the offset of the title text.
pub(crate) fn rst_headings(text: &str) -> Vec<Heading> {
    // (offset of the line, the line without its line end)
    let mut lines = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        lines.push((offset, line.trim_end_matches(['\n', '\r'])));
        offset += line.len();
    }
    let mut styles: Vec<(u8, bool)> = Vec::new();
    let mut headings = Vec::new();
    let mut i = 0;
    while i + 1 < lines.len() {
        let (start, title_line) = lines[i];
        let title = title_line.trim();
        let blank_before = i == 0 || lines[i - 1].1.trim().is_empty();
        let Some((c, len)) = adornment(lines[i + 1].1) else {
            i += 1;
            continue;
        };
        let width = title.chars().count();
        // With an overline: the line above is the same adornment; the title may be indented.
        let over = i > 0
            && adornment(lines[i - 1].1).is_some_and(|(o, _)| o == c)
            && (i == 1 || lines[i - 2].1.trim().is_empty());
        let plain_ok = blank_before && !title_line.starts_with([' ', '\t']);
        if title.is_empty() || adornment(title_line).is_some() || len < width || !(over || plain_ok)
        {
            i += 1;
            continue;
        }
        let style = (c, over);
        let level = match styles.iter().position(|&s| s == style) {
            Some(p) => p + 1,
            None => {
                styles.push(style);
                styles.len()
            }
        };
        let lead = title_line.len() - title_line.trim_start().len();
        headings.push(Heading {
            start: start + lead,
            level: level.min(6) as u8,
            title: super::collapse_whitespace(title),
        });
        i += 2;
    }
    headings
}
