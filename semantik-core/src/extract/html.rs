//! HTML: the readable text of a page, without scripts, navigation and boilerplate (scraper on
//! html5ever).
//!
//! html5ever keeps its stack of open elements on the heap and the tree (ego-tree) is a vector, so
//! parsing, walking ([`ego_tree::NodeRef::traverse`], no recursion here) and dropping do not use
//! stack in proportion to the nesting depth. Its time does grow with the square of the depth of
//! nested block elements (each `<div>` looks down the stack of open elements for a `<p>` to close:
//! 20,000 nested `<div>`s take a second, 100,000 half a minute), so a page nested deeper than
//! [`MAX_DEPTH`] elements (Chromium flattens past 512) is refused before parsing.

use std::path::Path;

use ego_tree::NodeRef;
use ego_tree::iter::Edge;
use scraper::node::Element;
use scraper::{CaseSensitivity, Node};

use super::{Decoded, Extracted, Extractor, Heading, decode, memmem, read_error, unsupported};
use crate::error::Result;

/// The deepest nesting of elements read (html5ever takes about 40 ms at this depth).
pub(crate) const MAX_DEPTH: usize = 4096;

/// HTML pages.
#[derive(Debug)]
pub(crate) struct Html;

impl Extractor for Html {
    fn media_types(&self) -> &'static [&'static str] {
        &["text/html"]
    }

    fn extract(&self, path: &Path, bytes: &[u8]) -> Result<Extracted> {
        // Content sniffed as HTML is read even with stray NUL bytes (the parser drops them).
        let Decoded::Text(source) = decode(bytes, declared_charset(bytes), false) else {
            return Err(unsupported(path, super::BINARY));
        };
        let page = html_text(&source).map_err(|message| read_error(path, message))?;
        Ok(Extracted {
            text: page.text,
            media_type: "text/html".to_string(),
            title: page.title,
            pages: Vec::new(),
            headings: page.headings,
        })
    }
}

/// The readable text of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HtmlText {
    /// Paragraphs separated by a blank line, blocks by a line end, inline whitespace collapsed.
    pub(crate) text: String,
    /// `<title>`, else the first `<h1>`.
    pub(crate) title: Option<String>,
    /// `<h1>`..`<h6>`, at the offset of their text in `text`.
    pub(crate) headings: Vec<Heading>,
}

/// Extracts the readable text of an HTML document already decoded to a string.
///
/// # Errors
/// The message for [`crate::Error::DocumentRead`] when elements nest deeper than [`MAX_DEPTH`].
pub(crate) fn html_text(source: &str) -> std::result::Result<HtmlText, String> {
    if nesting_exceeds(source.as_bytes(), MAX_DEPTH) {
        return Err(format!("HTML elements nest deeper than {MAX_DEPTH}"));
    }
    let document = scraper::Html::parse_document(source);
    let root = document.tree.root();
    let mut w = Writer::default();
    // The subtree being skipped, if any.
    let mut skip = None;
    // Depth inside <article> or <main>, where <header> and <footer> belong to the content.
    let mut content_depth = 0usize;
    for edge in root.traverse() {
        match edge {
            Edge::Open(node) => {
                if skip.is_some() {
                    continue;
                }
                match node.value() {
                    Node::Text(t) => w.text(t),
                    Node::Element(el) => {
                        let name = el.name();
                        if is_boilerplate(el, content_depth) {
                            skip = Some(node.id());
                            continue;
                        }
                        if matches!(name, "article" | "main") {
                            content_depth += 1;
                        }
                        w.open(name, node);
                    }
                    _ => {}
                }
            }
            Edge::Close(node) => {
                if let Some(id) = skip {
                    if id == node.id() {
                        skip = None;
                    }
                    continue;
                }
                if let Node::Element(el) = node.value() {
                    let name = el.name();
                    if matches!(name, "article" | "main") {
                        content_depth -= 1;
                    }
                    w.close(name);
                }
            }
        }
    }
    let title = page_title(&document).or_else(|| {
        w.headings
            .iter()
            .find(|h| h.level == 1)
            .map(|h| h.title.clone())
    });
    let mut text = w.out;
    text.truncate(text.trim_end().len());
    Ok(HtmlText {
        text,
        title,
        headings: w.headings,
    })
}

/// Whether elements in `html` nest deeper than `limit`, by a quick scan of its tags: comments
/// and raw text (`<script>`, `<style>`...) are skipped; void elements, `<x/>` and elements whose
/// end tag may be left out (`<p>`, `<li>`, `<td>`...: the next one closes them) do not count; an
/// end tag closes one level.
fn nesting_exceeds(html: &[u8], limit: usize) -> bool {
    const NOT_NESTING: &[&[u8]] = &[
        b"area",
        b"base",
        b"br",
        b"col",
        b"embed",
        b"hr",
        b"img",
        b"input",
        b"link",
        b"meta",
        b"param",
        b"source",
        b"track",
        b"wbr",
        b"p",
        b"li",
        b"dt",
        b"dd",
        b"tr",
        b"td",
        b"th",
        b"option",
        b"optgroup",
        b"thead",
        b"tbody",
        b"tfoot",
        b"colgroup",
        b"rb",
        b"rt",
        b"rp",
        b"html",
        b"head",
        b"body",
    ];
    const RAW_TEXT: &[&[u8]] = &[
        b"script",
        b"style",
        b"textarea",
        b"title",
        b"xmp",
        b"iframe",
        b"noembed",
        b"noframes",
    ];
    let is_one_of = |name: &[u8], list: &[&[u8]]| list.iter().any(|n| n.eq_ignore_ascii_case(name));
    let mut depth = 0usize;
    let mut i = 0;
    while let Some(j) = memchr::memchr(b'<', &html[i..]) {
        i += j + 1;
        let rest = &html[i..];
        if rest.starts_with(b"!--") {
            match memmem(rest, b"-->") {
                Some(k) => i += k + 3,
                None => break,
            }
            continue;
        }
        if rest.first() == Some(&b'/') {
            depth = depth.saturating_sub(1);
            continue;
        }
        if !rest.first().is_some_and(u8::is_ascii_alphabetic) {
            continue;
        }
        let name_len = rest
            .iter()
            .position(|b| !b.is_ascii_alphanumeric())
            .unwrap_or(rest.len());
        let name = &rest[..name_len];
        let Some(end) = memchr::memchr(b'>', rest) else {
            break;
        };
        i += end + 1;
        if is_one_of(name, RAW_TEXT) {
            // Up to the matching end tag, in any case.
            let close_at = memchr::memchr_iter(b'<', &html[i..]).find(|&k| {
                let tag = &html[i + k..];
                tag.get(1) == Some(&b'/')
                    && tag.len() >= name_len + 2
                    && tag[2..name_len + 2].eq_ignore_ascii_case(name)
            });
            match close_at {
                Some(k) => i += k,
                None => break,
            }
            continue;
        }
        if rest[end.saturating_sub(1)] == b'/' || is_one_of(name, NOT_NESTING) {
            continue;
        }
        depth += 1;
        if depth > limit {
            return true;
        }
    }
    false
}

/// Whether `el` and its content are not part of the readable text.
fn is_boilerplate(el: &Element, content_depth: usize) -> bool {
    let ci = CaseSensitivity::AsciiCaseInsensitive;
    match el.name() {
        "script" | "style" | "noscript" | "template" | "svg" | "head" | "nav" | "aside"
        | "iframe" | "object" | "embed" | "canvas" | "audio" | "video" | "button" | "select" => {
            true
        }
        "header" | "footer" => content_depth == 0,
        "div"
            if el.has_class("sphinxsidebar", ci)
                || el.has_class("related", ci)
                || el.has_class("footer", ci) =>
        {
            true
        }
        "a" if el.has_class("headerlink", ci) => true,
        _ => {
            el.attr("hidden").is_some()
                || el
                    .attr("role")
                    .is_some_and(|r| r.eq_ignore_ascii_case("navigation"))
        }
    }
}

/// The text of the first `<title>` outside `<svg>`.
fn page_title(document: &scraper::Html) -> Option<String> {
    document.tree.nodes().find_map(|node| {
        let el = node.value().as_element()?;
        if el.name() != "title" || node.ancestors().any(|a| is_element(a, "svg")) {
            return None;
        }
        let mut raw = String::new();
        for d in node.descendants() {
            if let Node::Text(t) = d.value() {
                raw.push_str(t);
            }
        }
        let title = super::collapse_whitespace(&raw);
        (!title.is_empty()).then_some(title)
    })
}

/// Whether `node` is an element named `name`.
fn is_element(node: NodeRef<'_, Node>, name: &str) -> bool {
    node.value().as_element().is_some_and(|e| e.name() == name)
}

/// What separates the text written next from the text before it; a stronger gap wins.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Gap {
    #[default]
    None,
    Space,
    Tab,
    Line,
    Paragraph,
}

/// Builds the text: whitespace collapsed outside `<pre>`, gaps written only before more text.
#[derive(Debug, Default)]
struct Writer {
    out: String,
    gap: Gap,
    /// Depth inside `<pre>`, `<textarea>` and `<listing>`.
    pre: usize,
    /// A list item's `- ` is waiting for its first text.
    bullet: bool,
    /// Depth inside `<li>` (a nested list starts on a new line, not a new paragraph).
    items: usize,
    /// The open heading: level, offset of its text once written, its raw text.
    heading: Option<(u8, Option<usize>, String)>,
    headings: Vec<Heading>,
}

impl Writer {
    /// Asks for at least gap `g` before the next text.
    fn gap(&mut self, g: Gap) {
        self.gap = self.gap.max(g);
    }

    fn open(&mut self, name: &str, node: NodeRef<'_, Node>) {
        match name {
            "br" => {
                self.gap = if self.gap >= Gap::Line {
                    Gap::Paragraph
                } else {
                    Gap::Line
                }
            }
            "li" => {
                self.gap(Gap::Line);
                self.bullet = true;
                self.items += 1;
            }
            "td" | "th" => {
                let after_cell = node
                    .prev_siblings()
                    .find(|s| s.value().is_element())
                    .is_some_and(|s| is_element(s, "td") || is_element(s, "th"));
                if after_cell {
                    self.gap(Gap::Tab);
                }
            }
            "pre" | "textarea" | "listing" => {
                self.gap(Gap::Paragraph);
                self.pre += 1;
            }
            "ul" | "ol" if self.items > 0 => self.gap(Gap::Line),
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                self.gap(Gap::Paragraph);
                if self.heading.is_none() {
                    let level = name.as_bytes()[1] - b'0';
                    self.heading = Some((level, None, String::new()));
                }
            }
            _ => self.gap(block_gap(name)),
        }
    }

    fn close(&mut self, name: &str) {
        match name {
            "pre" | "textarea" | "listing" => {
                self.pre = self.pre.saturating_sub(1);
                self.gap(Gap::Paragraph);
            }
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                let level = name.as_bytes()[1] - b'0';
                if self.heading.as_ref().is_some_and(|h| h.0 == level) {
                    let (level, start, raw) = self.heading.take().unwrap_or_default();
                    let title = super::collapse_whitespace(&raw);
                    if let (Some(start), false) = (start, title.is_empty()) {
                        self.headings.push(Heading {
                            start,
                            level,
                            title,
                        });
                    }
                }
                self.gap(Gap::Paragraph);
            }
            "ul" | "ol" if self.items > 0 => self.gap(Gap::Line),
            "li" => {
                self.bullet = false;
                self.items = self.items.saturating_sub(1);
                self.gap(Gap::Line);
            }
            _ => self.gap(block_gap(name)),
        }
    }

    /// Writes the pending gap (nothing at the very start) and a waiting bullet.
    fn flush(&mut self) {
        if !self.out.is_empty() {
            match self.gap {
                Gap::None => {}
                Gap::Space => {
                    if !self.out.ends_with(char::is_whitespace) {
                        self.out.push(' ');
                    }
                }
                Gap::Tab => {
                    self.trim_spaces();
                    self.out.push('\t');
                }
                Gap::Line | Gap::Paragraph => {
                    self.trim_spaces();
                    let want = if self.gap == Gap::Line { 1 } else { 2 };
                    let have = self.out.len() - self.out.trim_end_matches('\n').len();
                    for _ in have..want {
                        self.out.push('\n');
                    }
                }
            }
        }
        self.gap = Gap::None;
        if std::mem::take(&mut self.bullet) {
            self.out.push_str("- ");
        }
        if let Some((_, start @ None, _)) = self.heading.as_mut() {
            *start = Some(self.out.len());
        }
    }

    /// Drops spaces and tabs at the end of the output.
    fn trim_spaces(&mut self) {
        let n = self.out.trim_end_matches([' ', '\t']).len();
        self.out.truncate(n);
    }

    fn text(&mut self, s: &str) {
        if s.is_empty() {
            return;
        }
        if let Some((_, _, raw)) = self.heading.as_mut() {
            raw.push_str(s);
        }
        if self.pre > 0 {
            self.flush();
            self.out.push_str(s);
            return;
        }
        let mut words = s.split_whitespace();
        let Some(first) = words.next() else {
            self.gap(Gap::Space);
            return;
        };
        if s.starts_with(char::is_whitespace) {
            self.gap(Gap::Space);
        }
        self.flush();
        self.out.push_str(first);
        for word in words {
            self.out.push(' ');
            self.out.push_str(word);
        }
        if s.ends_with(char::is_whitespace) {
            self.gap(Gap::Space);
        }
    }
}

/// The gap around a block element (other than those [`Writer::open`] handles itself).
fn block_gap(name: &str) -> Gap {
    match name {
        "p" | "blockquote" | "table" | "section" | "article" | "main" | "ul" | "ol" | "dl"
        | "figure" | "form" | "fieldset" | "details" | "address" | "hr" | "header" | "footer"
        | "center" => Gap::Paragraph,
        "div" | "tr" | "dt" | "dd" | "caption" | "figcaption" | "summary" | "legend" | "thead"
        | "tbody" | "tfoot" | "option" => Gap::Line,
        _ => Gap::None,
    }
}

/// The encoding a page declares in a `<meta charset>` or `<meta http-equiv content>` within its
/// first 4 KiB.
pub(crate) fn declared_charset(bytes: &[u8]) -> Option<&'static encoding_rs::Encoding> {
    let head = bytes[..bytes.len().min(4096)].to_ascii_lowercase();
    let mut rest = head.as_slice();
    while let Some(i) = memmem(rest, b"<meta") {
        rest = &rest[i + 5..];
        let tag_end = rest.iter().position(|&b| b == b'>').unwrap_or(rest.len());
        let tag = &rest[..tag_end];
        if let Some(j) = memmem(tag, b"charset=") {
            let value = &tag[j + 8..];
            let value = value
                .strip_prefix(b"\"")
                .or_else(|| value.strip_prefix(b"'"))
                .unwrap_or(value);
            let end = value
                .iter()
                .position(|&b| matches!(b, b'"' | b'\'' | b';' | b' ' | b'/' | b'>'))
                .unwrap_or(value.len());
            if let Some(e) = encoding_rs::Encoding::for_label(&value[..end]) {
                return Some(e);
            }
        }
        rest = &rest[tag_end..];
    }
    None
}
