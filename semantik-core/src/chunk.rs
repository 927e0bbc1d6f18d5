//! Chunking: splitting a document's text into the passages that are embedded and searched.
//!
//! [`ChunkingConfig`] is stored per collection. The [`Chunker`] measures sizes in tokens of
//! the collection's own model (or in characters) and splits recursively at the most meaningful
//! boundary that keeps a chunk within `max_size`: pages and sections (headings), then
//! paragraphs, lines, sentences and words ([text-splitter](https://docs.rs/text-splitter), with its Markdown
//! splitter for Markdown). Small neighbouring sections are packed together; a section too large
//! for one chunk is split with `overlap` units shared by consecutive chunks. Every chunk keeps
//! its byte range in the document text, its page (PDF) and its heading path.

use std::fmt;
use std::ops::Range;

use serde::{Deserialize, Serialize};
use text_splitter::{ChunkConfig, ChunkSizer, MarkdownSplitter, TextSplitter};

use crate::error::{Error, Result};
use crate::extract::Extracted;

/// What chunk sizes are measured in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, Hash)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ChunkUnit {
    /// Tokens of the collection's model, without its special tokens (default).
    #[default]
    Tokens,
    /// Unicode characters.
    Characters,
}

/// How a collection splits documents into chunks.
///
/// ```
/// use semantik_core::{ChunkUnit, ChunkingConfig};
/// let c = ChunkingConfig::new().with_size(128, 16);
/// assert_eq!((c.unit, c.max_size, c.overlap), (ChunkUnit::Tokens, 128, 16));
/// let chars = ChunkingConfig::characters(800, 100);
/// assert_eq!(chars.unit, ChunkUnit::Characters);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct ChunkingConfig {
    /// What sizes are measured in.
    pub unit: ChunkUnit,
    /// Largest chunk, in `unit`s.
    pub max_size: usize,
    /// Units shared by consecutive chunks of a section split into several.
    pub overlap: usize,
}

impl Default for ChunkingConfig {
    fn default() -> Self {
        ChunkingConfig {
            // The 256-token window of the default model. Measured on the pyfaq set (`make
            // eval`, nDCG@10): 256 tokens without overlap beat 200 with 20 in every mode
            // (semantic 0.583 vs 0.573, keyword 0.317 vs 0.298), an overlap of 32 did not help,
            // and 240 (room for a title as context) lost 0.008-0.010 in both modes against 256.
            // The model may cut the last few tokens of a chunk embedded after its context; the
            // keyword index has them all.
            unit: ChunkUnit::Tokens,
            max_size: 256,
            overlap: 0,
        }
    }
}

impl ChunkingConfig {
    /// The default settings: 256 tokens, no overlap.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sized in characters.
    pub fn characters(max_size: usize, overlap: usize) -> Self {
        ChunkingConfig {
            unit: ChunkUnit::Characters,
            max_size,
            overlap,
        }
    }

    /// Sets the largest chunk and the overlap, in the current unit.
    pub fn with_size(mut self, max_size: usize, overlap: usize) -> Self {
        self.max_size = max_size;
        self.overlap = overlap;
        self
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when `max_size` is below 8 tokens or 16 characters, or the
    /// overlap is more than half of it.
    pub fn validate(&self) -> Result<()> {
        let min = match self.unit {
            ChunkUnit::Tokens => 8,
            ChunkUnit::Characters => 16,
        };
        if self.max_size < min {
            return Err(Error::invalid(format!(
                "chunking.max_size must be at least {min}"
            )));
        }
        if self.overlap * 2 > self.max_size {
            return Err(Error::invalid(
                "chunking.overlap must be at most half of max_size",
            ));
        }
        Ok(())
    }
}

/// One chunk of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TextChunk {
    /// Byte range in the document text.
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) text: String,
    /// 1-based page of the chunk's start, for paged formats.
    pub(crate) page: Option<u32>,
    /// Titles of the sections the chunk's start lies in, outermost first.
    pub(crate) headings: Vec<String>,
    /// Its size in the collection's unit.
    pub(crate) size: usize,
}

impl TextChunk {
    /// What the model embeds for this chunk: its text, after its context (the document title
    /// and the chunk's section headings, `" > "`-joined) when there is one and the text does
    /// not already start with it. A passage in the middle of a long document is otherwise read
    /// without knowing what it is about.
    pub(crate) fn embedded_text(&self, title: Option<&str>) -> std::borrow::Cow<'_, str> {
        let mut parts: Vec<&str> = title.into_iter().map(str::trim).collect();
        for h in &self.headings {
            let h = h.trim();
            if parts.last() != Some(&h) {
                parts.push(h);
            }
        }
        parts.retain(|p| !p.is_empty());
        let context = parts.join(" > ");
        if context.is_empty() || self.text.trim_start().starts_with(&context) {
            std::borrow::Cow::Borrowed(&self.text)
        } else {
            std::borrow::Cow::Owned(format!("{context}\n\n{}", self.text))
        }
    }
}

/// What the keyword index analyses for the chunks of a document titled `title`: their text,
/// the title before the first one (once per document, as a BM25 over whole documents would
/// count it; repeating it in every chunk would inflate its term frequencies).
pub(crate) fn keyword_texts<'c>(
    chunks: &'c [TextChunk],
    title: Option<&str>,
) -> Vec<std::borrow::Cow<'c, str>> {
    chunks
        .iter()
        .enumerate()
        .map(|(i, c)| keyword_text(&c.text, i, title))
        .collect()
}

/// What the keyword index analyses for chunk `index` of a document titled `title` whose text is
/// `text` (see [`keyword_texts`]).
pub(crate) fn keyword_text<'t>(
    text: &'t str,
    index: usize,
    title: Option<&str>,
) -> std::borrow::Cow<'t, str> {
    match title.map(str::trim) {
        Some(t) if index == 0 && !t.is_empty() && !text.trim_start().starts_with(t) => {
            std::borrow::Cow::Owned(format!("{t}\n\n{text}"))
        }
        _ => std::borrow::Cow::Borrowed(text),
    }
}

/// Splits extracted documents into chunks.
pub(crate) trait Chunker: Send + Sync + fmt::Debug {
    /// The chunks of `doc`, in order.
    ///
    /// # Errors
    /// [`Error::Model`] when the model's tokenizer fails.
    fn chunk(&self, doc: &Extracted) -> Result<Vec<TextChunk>>;
}

/// Token start offsets of a text, as a model counts them.
pub(crate) type TokenCounter = dyn Fn(&str) -> Result<Vec<usize>> + Send + Sync;

/// The chunker of a collection: recursive, section-aware splitting sized in tokens or
/// characters.
pub(crate) struct SplitChunker {
    config: ChunkingConfig,
    /// Token starts of a text; used when the unit is tokens.
    tokens: Option<Box<TokenCounter>>,
}

impl fmt::Debug for SplitChunker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SplitChunker")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl SplitChunker {
    /// A chunker for `config`; `tokens` counts the model's tokens (required for
    /// [`ChunkUnit::Tokens`]; without it, tokens are approximated by words).
    pub(crate) fn new(config: ChunkingConfig, tokens: Option<Box<TokenCounter>>) -> Self {
        SplitChunker { config, tokens }
    }
}

/// Sizes of byte ranges of one text: tokens from a precomputed table of token starts, or
/// characters.
struct Sizes<'a> {
    text: &'a str,
    /// Ascending token starts, for token sizing; `None` sizes in characters.
    starts: Option<Vec<usize>>,
}

impl Sizes<'_> {
    fn of(&self, r: Range<usize>) -> usize {
        match &self.starts {
            Some(s) => s.partition_point(|&p| p < r.end) - s.partition_point(|&p| p < r.start),
            None => self.text[r].chars().count(),
        }
    }
}

/// text-splitter's view of [`Sizes`]: its chunks are slices of the text, so their offset is
/// found from their address.
impl ChunkSizer for Sizes<'_> {
    fn size(&self, chunk: &str) -> usize {
        let base = self.text.as_ptr() as usize;
        let at = chunk.as_ptr() as usize;
        if at >= base && at + chunk.len() <= base + self.text.len() {
            self.of(at - base..at - base + chunk.len())
        } else {
            // Not a slice of the text (never seen): count words.
            chunk.split_whitespace().count()
        }
    }
}

impl Chunker for SplitChunker {
    fn chunk(&self, doc: &Extracted) -> Result<Vec<TextChunk>> {
        let text = doc.text.as_str();
        let starts = match (self.config.unit, &self.tokens) {
            (ChunkUnit::Characters, _) => None,
            (ChunkUnit::Tokens, Some(count)) => Some(count(text)?),
            (ChunkUnit::Tokens, None) => Some(word_starts(text)),
        };
        let sizes = Sizes { text, starts };
        let max = self.config.max_size;
        let markdown = doc.media_type == "text/markdown";
        // Sections: from each heading to the next.
        // Sections: (start, level of its heading, 0 for none; whether a page starts there).
        let mut bounds: Vec<(usize, u8, bool)> = vec![(0, 0, true)];
        let headings = doc.headings.iter().map(|h| (h.start, h.level, false));
        let pages = doc.pages.iter().map(|&(start, _)| (start, 0, true));
        let mut marks: Vec<(usize, u8, bool)> =
            headings.chain(pages).filter(|m| m.0 < text.len()).collect();
        marks.sort_by_key(|m| m.0);
        for (start, level, page) in marks {
            match bounds.last_mut() {
                Some(last) if last.0 == start => {
                    last.1 = last.1.max(level);
                    last.2 |= page;
                }
                _ => bounds.push((start, level, page)),
            }
        }
        bounds.push((text.len(), 0, true));
        let mut ranges: Vec<Range<usize>> = Vec::new();
        // Sections packed so far, and the level of the first one's heading: only deeper
        // sections (its subsections) on the same page join it.
        let mut packed: Option<(Range<usize>, u8)> = None;
        for w in bounds.windows(2) {
            let (section, level, page) = (w[0].0..w[1].0, w[0].1, w[0].2);
            if let Some((p, first)) = &packed
                && !page
                && level > *first
                && sizes.of(p.start..section.end) <= max
            {
                packed = Some((p.start..section.end, *first));
                continue;
            }
            ranges.extend(packed.take().map(|(r, _)| r));
            if sizes.of(section.clone()) <= max {
                packed = Some((section, level));
            } else {
                split_section(&sizes, &self.config, markdown, section, &mut ranges)?;
            }
        }
        ranges.extend(packed.map(|(r, _)| r));
        // What a piece says once its markup is gone (a heading's underline, a label), in the
        // collection's unit: what the minimum applies to.
        let content = |r: Range<usize>| -> Result<usize> {
            let shown = crate::extract::markup::clean(&doc.media_type, &text[r.clone()]);
            Ok(match (&shown, self.config.unit, &self.tokens) {
                (std::borrow::Cow::Borrowed(_), _, _) => sizes.of(r),
                (_, ChunkUnit::Characters, _) => shown.chars().count(),
                (_, ChunkUnit::Tokens, Some(count)) => count(&shown)?.len(),
                (_, ChunkUnit::Tokens, None) => word_starts(&shown).len(),
            })
        };
        let ranges = join_fragments(&sizes, &content, &self.config, markdown, doc, ranges)?;
        let mut chunks = Vec::with_capacity(ranges.len());
        for r in ranges {
            // Trim, keeping the range exact.
            let slice = &text[r.clone()];
            let lead = slice.len() - slice.trim_start().len();
            let trimmed = slice.trim();
            if trimmed.is_empty() {
                continue;
            }
            let start = r.start + lead;
            let end = start + trimmed.len();
            // What is embedded, indexed and shown: the text without its markup syntax (a
            // piece that is all markup, a label or a directive, forms no chunk).
            let shown = crate::extract::markup::clean(&doc.media_type, trimmed);
            if shown.trim().is_empty() {
                continue;
            }
            chunks.push(TextChunk {
                start,
                end,
                text: shown.into_owned(),
                page: page_at(&doc.pages, start),
                headings: heading_path(doc, start),
                size: sizes.of(start..end),
            });
        }
        Ok(chunks)
    }
}

/// The smallest chunk a document longer than it is cut into: an eighth of the largest (32
/// tokens by default). A smaller piece (a heading alone, a label, the last line of a long
/// section) says too little to be found on its own and crowds the results when it is.
pub(crate) fn min_chunk(config: &ChunkingConfig) -> usize {
    config.max_size / 8
}

/// The size of a piece's content (its text without markup) in the collection's unit.
type Content<'a> = dyn Fn(Range<usize>) -> Result<usize> + 'a;

/// Joins each piece whose content is smaller than [`min_chunk`] to a neighbour on its page
/// (across sections): a fragment that opens a section (a heading alone) to the piece after it,
/// any other to the one before it, when both fit in one chunk; else the two are cut again into
/// two pieces of about half their size each.
fn join_fragments(
    sizes: &Sizes<'_>,
    content: &Content<'_>,
    config: &ChunkingConfig,
    markdown: bool,
    doc: &Extracted,
    ranges: Vec<Range<usize>>,
) -> Result<Vec<Range<usize>>> {
    let (min, max) = (min_chunk(config), config.max_size);
    let text = sizes.text;
    let new_page = |a: &Range<usize>, b: &Range<usize>| {
        doc.pages.iter().any(|&(p, _)| a.start < p && p <= b.start)
    };
    let opens_section = |r: &Range<usize>| {
        doc.headings.iter().any(|h| {
            h.start >= r.start && h.start < r.end && text[r.start..h.start].trim().is_empty()
        })
    };
    // Each piece with the size of its content, measured once.
    let mut out: Vec<(Range<usize>, usize)> = Vec::with_capacity(ranges.len());
    // Joins `r` (of content `size`) to the last piece of `out` if either is a fragment.
    let push = |out: &mut Vec<(Range<usize>, usize)>, r: Range<usize>, size: usize| -> Result<()> {
        let Some((prev, prev_size)) = out.last().cloned() else {
            out.push((r, size));
            return Ok(());
        };
        if new_page(&prev, &r) || (size >= min && prev_size >= min) {
            out.push((r, size));
            return Ok(());
        }
        let union = prev.start..r.end.max(prev.end);
        out.pop();
        let pieces = if sizes.of(union.clone()) <= max {
            vec![union]
        } else {
            halves(sizes, content, config, markdown, union)?
        };
        for piece in pieces {
            let size = content(piece.clone())?;
            out.push((piece, size));
        }
        Ok(())
    };
    // A section's opening fragment, waiting to join the piece after it.
    let mut carried: Option<(Range<usize>, usize)> = None;
    for r in ranges {
        if text[r.clone()].trim().is_empty() {
            continue;
        }
        let r = match carried.take() {
            Some((c, _)) if !new_page(&c, &r) && sizes.of(c.start..r.end) <= max => c.start..r.end,
            Some((c, size)) => {
                push(&mut out, c, size)?;
                r
            }
            None => r,
        };
        let size = content(r.clone())?;
        if opens_section(&r) && size < min {
            carried = Some((r, size));
        } else {
            push(&mut out, r, size)?;
        }
    }
    if let Some((c, size)) = carried {
        push(&mut out, c, size)?;
    }
    Ok(out.into_iter().map(|(r, _)| r).collect())
}

/// `range` (larger than a chunk) cut at a boundary of the text near its middle into two
/// pieces, each at least [`min_chunk`] when the text allows.
fn halves(
    sizes: &Sizes<'_>,
    content: &Content<'_>,
    config: &ChunkingConfig,
    markdown: bool,
    range: Range<usize>,
) -> Result<Vec<Range<usize>>> {
    let mut pieces = Vec::new();
    split_to(
        sizes,
        config,
        markdown,
        range.clone(),
        sizes.of(range.clone()).div_ceil(2),
        &mut pieces,
    )?;
    let min = min_chunk(config);
    let mut fragments = false;
    for p in &pieces {
        fragments |= content(p.clone())? < min;
    }
    if !fragments {
        return Ok(pieces);
    }
    // The text's own boundaries leave a fragment: cut at the line break (else the space)
    // nearest the middle.
    let text = &sizes.text[range.clone()];
    let half = sizes.of(range.clone()) / 2;
    let distance = |at: usize| sizes.of(range.start..range.start + at).abs_diff(half);
    let nearest = |ws: fn(char) -> bool| {
        text.char_indices()
            .filter(|&(i, c)| i > 0 && ws(c))
            .map(|(i, _)| i)
            .min_by_key(|&i| distance(i))
    };
    for at in [nearest(|c| c == '\n'), nearest(char::is_whitespace)]
        .into_iter()
        .flatten()
    {
        let cut = [range.start..range.start + at, range.start + at..range.end];
        if content(cut[0].clone())? >= min && content(cut[1].clone())? >= min {
            return Ok(cut.to_vec());
        }
    }
    Ok(pieces)
}

/// Splits one section too large for a chunk, appending the pieces' byte ranges: as many
/// pieces as its size needs, of about equal size (so that no short remainder is left over).
fn split_section(
    sizes: &Sizes<'_>,
    config: &ChunkingConfig,
    markdown: bool,
    section: Range<usize>,
    out: &mut Vec<Range<usize>>,
) -> Result<()> {
    let total = sizes.of(section.clone());
    let pieces = total.div_ceil(config.max_size.max(1)).max(1);
    split_to(
        sizes,
        config,
        markdown,
        section,
        total.div_ceil(pieces),
        out,
    )
}

/// Splits `section` into pieces of about `desired` (at most the largest chunk) at the highest
/// semantic boundaries that allow it, appending their byte ranges.
fn split_to(
    sizes: &Sizes<'_>,
    config: &ChunkingConfig,
    markdown: bool,
    section: Range<usize>,
    desired: usize,
    out: &mut Vec<Range<usize>>,
) -> Result<()> {
    let desired = desired.clamp(config.overlap + 1, config.max_size.max(config.overlap + 1));
    let chunk_config = ChunkConfig::new(desired..=config.max_size.max(desired))
        .with_sizer(sizes)
        .with_overlap(config.overlap)
        .map_err(|e| Error::invalid(format!("chunking: {e}")))?
        .with_trim(true);
    let body = &sizes.text[section.clone()];
    let pieces: Vec<(usize, usize)> = if markdown {
        MarkdownSplitter::new(chunk_config)
            .chunk_indices(body)
            .map(|(o, s)| (o, s.len()))
            .collect()
    } else {
        TextSplitter::new(chunk_config)
            .chunk_indices(body)
            .map(|(o, s)| (o, s.len()))
            .collect()
    };
    out.extend(
        pieces
            .into_iter()
            .map(|(o, len)| section.start + o..section.start + o + len),
    );
    Ok(())
}

/// Starts of whitespace-separated words: the size of a token when the model has no tokenizer.
pub(crate) fn word_starts(text: &str) -> Vec<usize> {
    let mut out = Vec::new();
    let mut in_word = false;
    for (i, c) in text.char_indices() {
        let ws = c.is_whitespace();
        if !ws && !in_word {
            out.push(i);
        }
        in_word = !ws;
    }
    out
}

/// The page that byte `at` lies on.
fn page_at(pages: &[(usize, u32)], at: usize) -> Option<u32> {
    let i = pages.partition_point(|&(start, _)| start <= at);
    i.checked_sub(1).map(|i| pages[i].1)
}

/// The titles of the headings enclosing byte `at`, outermost first.
fn heading_path(doc: &Extracted, at: usize) -> Vec<String> {
    let mut path: Vec<(u8, &str)> = Vec::new();
    for h in doc.headings.iter().take_while(|h| h.start <= at) {
        while path.last().is_some_and(|&(level, _)| level >= h.level) {
            path.pop();
        }
        path.push((h.level, h.title.as_str()));
    }
    path.into_iter().map(|(_, t)| t.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::Heading;
    use proptest::prelude::*;

    fn doc(text: &str) -> Extracted {
        Extracted {
            text: text.to_string(),
            media_type: "text/plain".into(),
            title: None,
            pages: Vec::new(),
            headings: Vec::new(),
        }
    }

    fn chars(max: usize, overlap: usize) -> SplitChunker {
        SplitChunker::new(ChunkingConfig::characters(max, overlap), None)
    }

    fn text_chunk(text: &str, headings: &[&str]) -> TextChunk {
        TextChunk {
            start: 0,
            end: text.len(),
            text: text.into(),
            page: None,
            headings: headings.iter().map(|h| h.to_string()).collect(),
            size: 1,
        }
    }

    #[test]
    fn chunks_are_embedded_after_their_context_and_keyword_indexed_with_the_title_once() {
        let mid = text_chunk("Use a key function.", &["Guide", "Sorting"]);
        assert_eq!(
            mid.embedded_text(Some("Guide")),
            "Guide > Sorting\n\nUse a key function."
        );
        assert_eq!(
            mid.embedded_text(None),
            "Guide > Sorting\n\nUse a key function."
        );
        let plain = text_chunk("Just text.", &[]);
        assert_eq!(plain.embedded_text(None), "Just text.");
        assert_eq!(plain.embedded_text(Some("  ")), "Just text.");
        // A chunk that already starts with its context is left alone.
        let head = text_chunk("Guide > Sorting\n\nbody", &["Guide", "Sorting"]);
        assert_eq!(head.embedded_text(Some("Guide")), head.text);

        let chunks = [text_chunk("first", &[]), text_chunk("second", &[])];
        let kw = keyword_texts(&chunks, Some("Title"));
        assert_eq!(kw, ["Title\n\nfirst", "second"]);
        assert_eq!(keyword_texts(&chunks, None), ["first", "second"]);
        let titled = [text_chunk("Title and more", &[])];
        assert_eq!(keyword_texts(&titled, Some("Title")), ["Title and more"]);
    }

    #[test]
    fn packs_paragraphs_and_keeps_offsets() {
        let text = "First para.\n\nSecond para.\n\n\n  \nThird.";
        let chunks = chars(800, 0).chunk(&doc(text)).unwrap();
        assert_eq!(chunks.len(), 1);
        assert!(chunks[0].text.starts_with("First") && chunks[0].text.ends_with("Third."));
        let chunks = chars(16, 0).chunk(&doc(text)).unwrap();
        let texts: Vec<&str> = chunks.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(texts, vec!["First para.", "Second para.", "Third."]);
        for c in &chunks {
            assert_eq!(&text[c.start..c.end], c.text);
        }
    }

    #[test]
    fn empty_text_has_no_chunks() {
        assert!(chars(800, 0).chunk(&doc("  \n\n \t")).unwrap().is_empty());
    }

    #[test]
    fn sections_bound_chunks_and_give_heading_paths_and_pages() {
        let text = "Intro text.\nGuide\nInstall it with pip.\nUsage\nRun it.\nAPI\nCall f().";
        let mut d = doc(text);
        let at = |s: &str| text.find(s).unwrap();
        d.headings = vec![
            Heading {
                start: at("Guide"),
                level: 1,
                title: "Guide".into(),
            },
            Heading {
                start: at("Usage"),
                level: 2,
                title: "Usage".into(),
            },
            Heading {
                start: at("API"),
                level: 1,
                title: "API".into(),
            },
        ];
        d.pages = vec![(0, 1), (at("Usage"), 2)];
        let chunks = chars(30, 0).chunk(&d).unwrap();
        let got: Vec<(&str, Vec<String>, Option<u32>)> = chunks
            .iter()
            .map(|c| (c.text.as_str(), c.headings.clone(), c.page))
            .collect();
        assert_eq!(
            got,
            vec![
                ("Intro text.", vec![], Some(1)),
                (
                    "Guide\nInstall it with pip.",
                    vec!["Guide".to_string()],
                    Some(1)
                ),
                (
                    "Usage\nRun it.",
                    vec!["Guide".to_string(), "Usage".to_string()],
                    Some(2)
                ),
                ("API\nCall f().", vec!["API".to_string()], Some(2)),
            ]
        );
        // With room for everything, subsections are packed with their section, but never
        // across a page or into a higher-level section...
        let texts = |max: usize| -> Vec<String> {
            chars(max, 0)
                .chunk(&d)
                .unwrap()
                .into_iter()
                .map(|c| c.text)
                .collect()
        };
        assert_eq!(
            texts(100),
            [
                "Intro text.\nGuide\nInstall it with pip.",
                "Usage\nRun it.",
                "API\nCall f()."
            ]
        );
        // ...except a fragment (under an eighth of the largest chunk), which joins its
        // neighbour across sections, though still not across a page.
        assert_eq!(
            texts(800),
            [
                "Intro text.\nGuide\nInstall it with pip.",
                "Usage\nRun it.\nAPI\nCall f()."
            ]
        );
        d.pages.clear();
        assert_eq!(chars(800, 0).chunk(&d).unwrap().len(), 1);
    }

    #[test]
    fn token_sizes_come_from_the_counter() {
        let counter: Box<TokenCounter> = Box::new(|t: &str| Ok(word_starts(t)));
        let chunker = SplitChunker::new(ChunkingConfig::new().with_size(8, 2), Some(counter));
        let text = (0..40)
            .map(|i| format!("w{i}"))
            .collect::<Vec<_>>()
            .join(" ");
        let chunks = chunker.chunk(&doc(&text)).unwrap();
        assert!(chunks.len() >= 5);
        for c in &chunks {
            assert!(c.size <= 8, "{c:?}");
            assert_eq!(c.size, c.text.split_whitespace().count());
        }
        // Consecutive chunks overlap.
        assert!(chunks.windows(2).all(|w| w[1].start < w[0].end));
    }

    #[test]
    fn validation() {
        assert!(ChunkingConfig::characters(8, 0).validate().is_err());
        assert!(ChunkingConfig::new().with_size(100, 60).validate().is_err());
        assert!(ChunkingConfig::new().validate().is_ok());
    }

    proptest! {
        /// Chunks respect the size limit, are exact slices of the text, and cover every word.
        #[test]
        fn chunks_are_bounded_and_cover_the_text(text in "([a-zé]{1,12}[ \n]{1,3}){0,200}", max in 16usize..80) {
            let chunks = chars(max, max / 4).chunk(&doc(&text)).unwrap();
            for c in &chunks {
                prop_assert!(c.text.chars().count() <= max);
                prop_assert_eq!(&text[c.start..c.end], c.text.as_str());
            }
            for (pos, _) in text.match_indices(|c: char| c.is_alphabetic()) {
                prop_assert!(chunks.iter().any(|c| c.start <= pos && pos < c.end));
            }
        }
    }
}
