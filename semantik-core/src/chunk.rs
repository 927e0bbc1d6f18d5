//! Chunking: splitting a document's text into the passages that are embedded and searched.
//!
//! [`ChunkingConfig`] is stored per collection. The current chunker packs paragraphs into chunks
//! of at most `max_chars` characters and splits over-long paragraphs at whitespace with
//! `overlap_chars` of overlap. Every chunk keeps its byte offsets into the document text.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How a collection splits documents into chunks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct ChunkingConfig {
    /// Longest chunk, in characters.
    pub max_chars: usize,
    /// Characters shared by consecutive windows of an over-long paragraph.
    pub overlap_chars: usize,
}

impl Default for ChunkingConfig {
    fn default() -> Self {
        ChunkingConfig {
            // About 200 tokens of English prose: under the 256-token window of the default
            // model, so no chunk is cut short when it is embedded.
            max_chars: 800,
            overlap_chars: 120,
        }
    }
}

impl ChunkingConfig {
    /// The default settings.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the longest chunk and the overlap, in characters.
    ///
    /// ```
    /// let c = semantik_core::ChunkingConfig::new().with_size(500, 50);
    /// assert_eq!((c.max_chars, c.overlap_chars), (500, 50));
    /// ```
    pub fn with_size(mut self, max_chars: usize, overlap_chars: usize) -> Self {
        self.max_chars = max_chars;
        self.overlap_chars = overlap_chars;
        self
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when `max_chars` is below 16 or the overlap is not smaller
    /// than half of it.
    pub fn validate(&self) -> Result<()> {
        if self.max_chars < 16 {
            return Err(Error::invalid("chunking.max_chars must be at least 16"));
        }
        if self.overlap_chars * 2 > self.max_chars {
            return Err(Error::invalid(
                "chunking.overlap_chars must be at most half of max_chars",
            ));
        }
        Ok(())
    }
}

/// One chunk of a document: its text and byte range in the document text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TextChunk {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) text: String,
}

/// Splits `text` into chunks.
pub(crate) fn chunk_text(config: &ChunkingConfig, text: &str) -> Vec<TextChunk> {
    let mut pieces = Vec::new();
    for (start, end) in paragraphs(text) {
        split_long(config, text, start, end, &mut pieces);
    }
    let mut chunks = Vec::new();
    let mut current: Option<(usize, usize)> = None;
    for (start, end) in pieces {
        current = match current {
            Some((s, _)) if text[s..end].chars().count() <= config.max_chars => Some((s, end)),
            Some((s, e)) => {
                push(text, s, e, &mut chunks);
                Some((start, end))
            }
            None => Some((start, end)),
        };
    }
    if let Some((s, e)) = current {
        push(text, s, e, &mut chunks);
    }
    chunks
}

fn push(text: &str, start: usize, end: usize, out: &mut Vec<TextChunk>) {
    let t = text[start..end].trim();
    if !t.is_empty() {
        out.push(TextChunk {
            start,
            end,
            text: t.to_string(),
        });
    }
}

/// Byte ranges of paragraphs (separated by blank lines), whitespace-only ones dropped.
fn paragraphs(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\n' {
            // A blank line: '\n' followed by optional spaces/tabs/'\r' and another '\n'.
            let mut j = i + 1;
            while j < bytes.len() && matches!(bytes[j], b' ' | b'\t' | b'\r') {
                j += 1;
            }
            if j < bytes.len() && bytes[j] == b'\n' {
                if !text[start..i].trim().is_empty() {
                    out.push((start, i));
                }
                start = j + 1;
                i = j + 1;
                continue;
            }
        }
        i += 1;
    }
    if !text[start..].trim().is_empty() {
        out.push((start, text.len()));
    }
    out
}

/// Splits one paragraph into windows of at most `max_chars` characters, cut at whitespace
/// where possible, consecutive windows overlapping by about `overlap_chars`.
fn split_long(
    config: &ChunkingConfig,
    text: &str,
    start: usize,
    end: usize,
    out: &mut Vec<(usize, usize)>,
) {
    let para = &text[start..end];
    let boundaries: Vec<usize> = para
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(para.len()))
        .collect();
    let n_chars = boundaries.len() - 1;
    if n_chars <= config.max_chars {
        out.push((start, end));
        return;
    }
    let mut from = 0; // in chars
    while from < n_chars {
        let mut to = (from + config.max_chars).min(n_chars);
        if to < n_chars {
            // Back off to the last whitespace in the second half of the window.
            let lo = from + config.max_chars / 2;
            if let Some(ws) = (lo..to)
                .rev()
                .find(|&c| para[boundaries[c]..].starts_with(char::is_whitespace))
            {
                to = ws;
            }
        }
        out.push((start + boundaries[from], start + boundaries[to]));
        if to >= n_chars {
            break;
        }
        from = (to.saturating_sub(config.overlap_chars)).max(from + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn packs_paragraphs_and_keeps_offsets() {
        let text = "First para.\n\nSecond para.\n\n\n  \nThird.";
        let chunks = chunk_text(&ChunkingConfig::new(), text);
        assert_eq!(chunks.len(), 1);
        assert!(chunks[0].text.starts_with("First") && chunks[0].text.ends_with("Third."));
        let small = ChunkingConfig::new().with_size(16, 4);
        let chunks = chunk_text(&small, text);
        let texts: Vec<&str> = chunks.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(texts, vec!["First para.", "Second para.", "Third."]);
        for c in &chunks {
            assert_eq!(text[c.start..c.end].trim(), c.text);
        }
    }

    #[test]
    fn empty_text_has_no_chunks() {
        assert!(chunk_text(&ChunkingConfig::new(), "  \n\n \t").is_empty());
    }

    #[test]
    fn validation() {
        assert!(ChunkingConfig::new().with_size(8, 0).validate().is_err());
        assert!(ChunkingConfig::new().with_size(100, 60).validate().is_err());
        assert!(ChunkingConfig::new().validate().is_ok());
    }

    proptest! {
        /// Chunks respect the size limit, lie on char boundaries, and cover every word.
        #[test]
        fn chunks_are_bounded_and_cover_the_text(text in "([a-zé]{1,12}[ \n]{1,3}){0,200}", max in 16usize..80) {
            let config = ChunkingConfig::new().with_size(max, max / 4);
            let chunks = chunk_text(&config, &text);
            for c in &chunks {
                prop_assert!(c.text.chars().count() <= max);
                prop_assert_eq!(text[c.start..c.end].trim(), c.text.as_str());
            }
            for (pos, w) in text.match_indices(|c: char| c.is_alphabetic()) {
                let _ = w;
                prop_assert!(chunks.iter().any(|c| c.start <= pos && pos < c.end));
            }
        }
    }
}
