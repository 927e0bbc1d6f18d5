//! Markdown: the source text as it is, with its headings (pulldown-cmark).

use std::path::Path;

use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};

use super::text::decode_text;
use super::{Extracted, Extractor, Heading};
use crate::error::Result;

/// Markdown (CommonMark with tables, strikethrough, task lists, footnotes and front matter).
#[derive(Debug)]
pub(crate) struct Markdown;

impl Extractor for Markdown {
    fn media_types(&self) -> &'static [&'static str] {
        &["text/markdown"]
    }

    fn extract(&self, path: &Path, bytes: &[u8]) -> Result<Extracted> {
        let text = decode_text(path, bytes)?;
        let headings = headings(&text);
        Ok(Extracted::with_headings(text, "text/markdown", headings))
    }
}

/// ATX and setext headings: `start` is the offset of the heading's first line in `text`, the
/// title its plain text (inline markup dropped, code spans kept).
pub(crate) fn headings(text: &str) -> Vec<Heading> {
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_YAML_STYLE_METADATA_BLOCKS
        | Options::ENABLE_PLUSES_DELIMITED_METADATA_BLOCKS;
    let mut headings = Vec::new();
    // (start, level, title so far) of the heading being read
    let mut open: Option<(usize, u8, String)> = None;
    for (event, range) in Parser::new_ext(text, options).into_offset_iter() {
        match event {
            Event::Start(Tag::Heading { level, .. }) => {
                open = Some((range.start, level_number(level), String::new()));
            }
            Event::End(TagEnd::Heading(_)) => {
                if let Some((start, level, title)) = open.take() {
                    let title = super::collapse_whitespace(&title);
                    if !title.is_empty() {
                        headings.push(Heading {
                            start,
                            level,
                            title,
                        });
                    }
                }
            }
            Event::Text(t) | Event::Code(t) => {
                if let Some((_, _, title)) = open.as_mut() {
                    title.push_str(&t);
                }
            }
            Event::SoftBreak | Event::HardBreak => {
                if let Some((_, _, title)) = open.as_mut() {
                    title.push(' ');
                }
            }
            _ => {}
        }
    }
    headings
}

/// 1 for `#`, ..., 6 for `######`.
fn level_number(level: HeadingLevel) -> u8 {
    match level {
        HeadingLevel::H1 => 1,
        HeadingLevel::H2 => 2,
        HeadingLevel::H3 => 3,
        HeadingLevel::H4 => 4,
        HeadingLevel::H5 => 5,
        HeadingLevel::H6 => 6,
    }
}
