//! Word .docx: the text of `word/document.xml` (zip + quick-xml), headings from paragraph styles,
//! title from `docProps/core.xml`.

use std::collections::HashMap;
use std::io::{Cursor, Read};
use std::path::Path;

use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

use super::{DOCX, Decoded, Extracted, Extractor, Heading, decode, read_error};
use crate::error::Result;

/// Word documents (Office Open XML, transitional or strict).
#[derive(Debug)]
pub(crate) struct Docx;

/// The most bytes read from one zip entry once uncompressed (guards against zip bombs).
pub(crate) const MAX_ENTRY_BYTES: u64 = 256 * 1024 * 1024;

/// WordprocessingML namespaces: transitional and strict.
const W_NS: &[&str] = &[
    "http://schemas.openxmlformats.org/wordprocessingml/2006/main",
    "http://purl.oclc.org/ooxml/wordprocessingml/main",
];
/// Markup compatibility (`mc:AlternateContent`: `mc:Fallback` repeats `mc:Choice`).
const MC_NS: &str = "http://schemas.openxmlformats.org/markup-compatibility/2006";
/// Dublin Core elements (`dc:title` of the core properties).
const DC_NS: &str = "http://purl.org/dc/elements/1.1/";

impl Extractor for Docx {
    fn media_types(&self) -> &'static [&'static str] {
        &[DOCX]
    }

    fn extract(&self, path: &Path, bytes: &[u8]) -> Result<Extracted> {
        read_docx(path, bytes, MAX_ENTRY_BYTES)
    }
}

/// Reads a .docx whose entries may each be at most `limit` bytes uncompressed.
pub(crate) fn read_docx(path: &Path, bytes: &[u8], limit: u64) -> Result<Extracted> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| read_error(path, format!("not a readable .docx (zip) file: {e}")))?;
    let document = read_entry(path, &mut zip, "word/document.xml", limit)?
        .ok_or_else(|| read_error(path, "not a Word document: no word/document.xml"))?;
    let styles = match read_entry(path, &mut zip, "word/styles.xml", limit)? {
        Some(xml) => heading_styles(&xml),
        None => HashMap::new(),
    };
    let title = match read_entry(path, &mut zip, "docProps/core.xml", limit)? {
        Some(xml) => core_title(&xml),
        None => None,
    };
    let (text, headings) = body_text(&document, &styles)
        .map_err(|e| read_error(path, format!("word/document.xml: {e}")))?;
    Ok(Extracted {
        text,
        media_type: DOCX.to_string(),
        title,
        pages: Vec::new(),
        headings,
    })
}

/// The text of entry `name`, None if there is none.
///
/// # Errors
/// [`crate::Error::DocumentRead`] when it is larger than `limit`, damaged or not text.
fn read_entry(
    path: &Path,
    zip: &mut zip::ZipArchive<Cursor<&[u8]>>,
    name: &str,
    limit: u64,
) -> Result<Option<String>> {
    let entry = match zip.by_name(name) {
        Ok(entry) => entry,
        Err(zip::result::ZipError::FileNotFound) => return Ok(None),
        Err(e) => return Err(read_error(path, format!("{name}: {e}"))),
    };
    let too_large = || {
        read_error(
            path,
            format!("{name} is larger than {limit} bytes uncompressed"),
        )
    };
    if entry.size() > limit {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    // The declared size may lie: read one byte past the limit to know.
    entry
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| read_error(path, format!("{name}: {e}")))?;
    if bytes.len() as u64 > limit {
        return Err(too_large());
    }
    match decode(&bytes, None, true) {
        Decoded::Text(text) => Ok(Some(text.into_owned())),
        Decoded::Binary => Err(read_error(path, format!("{name} is not XML text"))),
    }
}

/// Whether the element is in the WordprocessingML namespace.
fn is_w(ns: &ResolveResult<'_>) -> bool {
    matches!(ns, ResolveResult::Bound(n) if W_NS.contains(&n.as_ref()))
}

/// The value of the `w:val` attribute.
fn val(e: &BytesStart<'_>) -> Option<String> {
    e.attributes().flatten().find_map(|a| {
        (a.key.local_name().as_ref() == "val")
            .then(|| {
                a.normalized_value(XmlVersion::Implicit1_0)
                    .ok()
                    .map(|v| v.into_owned())
            })
            .flatten()
    })
}

/// The heading level a style or paragraph property names: `Heading1`..`Heading6` or `Title`
/// (style ids), `heading 1`..`heading 6` or `Title` (style names), in any case.
fn level_of_style_name(name: &str) -> Option<u8> {
    let lower = name.to_ascii_lowercase();
    if lower == "title" {
        return Some(1);
    }
    let n = lower.strip_prefix("heading")?.trim_start();
    match n.parse::<u8>() {
        Ok(level @ 1..=6) => Some(level),
        _ => None,
    }
}

/// Heading levels by style id, from the styles' names and outline levels (`word/styles.xml`).
fn heading_styles(xml: &str) -> HashMap<String, u8> {
    let mut levels = HashMap::new();
    let mut reader = NsReader::from_str(xml);
    // (style id, level found so far)
    let mut style: Option<(String, Option<u8>)> = None;
    while let Ok((ns, event)) = reader.read_resolved_event() {
        match event {
            Event::Start(e) | Event::Empty(e) if is_w(&ns) => match e.local_name().as_ref() {
                "style" => {
                    let id = e.attributes().flatten().find_map(|a| {
                        (a.key.local_name().as_ref() == "styleId")
                            .then(|| {
                                a.normalized_value(XmlVersion::Implicit1_0)
                                    .ok()
                                    .map(|v| v.into_owned())
                            })
                            .flatten()
                    });
                    style = id.map(|id| {
                        let level = level_of_style_name(&id);
                        (id, level)
                    });
                }
                "name" => {
                    if let (Some((_, level @ None)), Some(v)) = (style.as_mut(), val(&e)) {
                        *level = level_of_style_name(&v);
                    }
                }
                "outlineLvl" => {
                    if let (Some((_, level @ None)), Some(v)) = (style.as_mut(), val(&e)) {
                        *level = outline_level(&v);
                    }
                }
                _ => {}
            },
            Event::End(e) if is_w(&ns) && e.local_name().as_ref() == "style" => {
                if let Some((id, Some(level))) = style.take() {
                    levels.insert(id, level);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    levels
}

/// Heading level of a `w:outlineLvl` value (0 is level 1; 9 is body text).
fn outline_level(v: &str) -> Option<u8> {
    match v.trim().parse::<u8>() {
        Ok(n @ 0..=5) => Some(n + 1),
        _ => None,
    }
}

/// `dc:title` of the core properties.
fn core_title(xml: &str) -> Option<String> {
    let mut reader = NsReader::from_str(xml);
    let mut in_title = false;
    let mut title = String::new();
    loop {
        let Ok((ns, event)) = reader.read_resolved_event() else {
            return None;
        };
        match event {
            Event::Start(e)
                if e.local_name().as_ref() == "title"
                    && matches!(ns, ResolveResult::Bound(n) if n.as_ref() == DC_NS) =>
            {
                in_title = true;
            }
            Event::Text(t) if in_title => title.push_str(&t.xml10_content()),
            Event::GeneralRef(r) if in_title => push_reference(&mut title, &r),
            Event::End(_) if in_title => break,
            Event::Eof => break,
            _ => {}
        }
    }
    let title = super::collapse_whitespace(&title);
    (!title.is_empty()).then_some(title)
}

/// Appends the character of an entity or character reference (`&amp;`, `&#x41;`).
fn push_reference(out: &mut String, r: &quick_xml::events::BytesRef<'_>) {
    if let Ok(Some(c)) = r.resolve_char_ref() {
        out.push(c);
        return;
    }
    let c = match r.as_ref() {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        _ => return,
    };
    out.push(c);
}

/// A table being read.
#[derive(Debug, Default)]
struct Table {
    rows: Vec<String>,
    cells: Vec<String>,
    /// The text of the open cell (its paragraphs joined by spaces).
    cell: String,
}

/// The body text: paragraphs separated by blank lines, table cells by tabs and rows by line
/// ends; runs' `w:t`, `w:tab` as a tab, `w:br`/`w:cr` as a line end. Headings are paragraphs
/// whose style (or outline level) is a heading's.
fn body_text(
    xml: &str,
    styles: &HashMap<String, u8>,
) -> std::result::Result<(String, Vec<Heading>), String> {
    let mut reader = NsReader::from_str(xml);
    let mut out = String::new();
    let mut headings = Vec::new();
    // Open paragraphs (a text box's paragraphs sit inside a paragraph): text, heading level.
    let mut paragraphs: Vec<(String, Option<u8>)> = Vec::new();
    let mut tables: Vec<Table> = Vec::new();
    // Depth inside w:r, w:t, w:pPr and mc:Fallback.
    let (mut run, mut in_text, mut props, mut fallback) = (0usize, 0usize, 0usize, 0usize);
    loop {
        let (ns, event) = reader.read_resolved_event().map_err(|e| e.to_string())?;
        let mc = matches!(ns, ResolveResult::Bound(n) if n.as_ref() == MC_NS);
        match &event {
            Event::Start(e) if mc && e.local_name().as_ref() == "Fallback" => fallback += 1,
            Event::End(e) if mc && e.local_name().as_ref() == "Fallback" => {
                fallback = fallback.saturating_sub(1);
            }
            _ => {}
        }
        if fallback > 0 && !matches!(event, Event::Eof) {
            continue;
        }
        let w = is_w(&ns);
        match event {
            Event::Start(e) if w => match e.local_name().as_ref() {
                "p" => paragraphs.push((String::new(), None)),
                "r" => run += 1,
                "t" if run > 0 => in_text += 1,
                "pPr" => props += 1,
                "tbl" => tables.push(Table::default()),
                "tc" => {
                    if let Some(t) = tables.last_mut() {
                        t.cell.clear();
                    }
                }
                _ => {}
            },
            Event::Empty(e) if w => match e.local_name().as_ref() {
                "tab" if run > 0 => push_text(&mut paragraphs, "\t"),
                "br" | "cr" if run > 0 => push_text(&mut paragraphs, "\n"),
                "noBreakHyphen" if run > 0 => push_text(&mut paragraphs, "-"),
                "pStyle" if props > 0 => {
                    if let (Some((_, level)), Some(v)) = (paragraphs.last_mut(), val(&e)) {
                        *level = styles
                            .get(&v)
                            .copied()
                            .or_else(|| level_of_style_name(&v))
                            .or(*level);
                    }
                }
                "outlineLvl" if props > 0 => {
                    if let (Some((_, level)), Some(v)) = (paragraphs.last_mut(), val(&e)) {
                        *level = outline_level(&v).or(*level);
                    }
                }
                _ => {}
            },
            Event::Text(t) if in_text > 0 => push_text(&mut paragraphs, &t.xml10_content()),
            Event::CData(t) if in_text > 0 => {
                push_text(&mut paragraphs, &t.into_inner());
            }
            Event::GeneralRef(r) if in_text > 0 => {
                if let Some((p, _)) = paragraphs.last_mut() {
                    push_reference(p, &r);
                }
            }
            Event::End(e) if w => match e.local_name().as_ref() {
                "p" => {
                    let Some((text, level)) = paragraphs.pop() else {
                        continue;
                    };
                    let text = text.trim_matches(|c: char| c == ' ' || c == '\n');
                    if text.trim().is_empty() {
                        continue;
                    }
                    if let Some((outer, _)) = paragraphs.last_mut() {
                        // A text box inside a paragraph.
                        if !outer.is_empty() && !outer.ends_with(char::is_whitespace) {
                            outer.push(' ');
                        }
                        outer.push_str(text);
                    } else if let Some(t) = tables.last_mut() {
                        if !t.cell.is_empty() {
                            t.cell.push(' ');
                        }
                        t.cell.push_str(&text.replace(['\n', '\t'], " "));
                    } else {
                        if !out.is_empty() {
                            out.push_str("\n\n");
                        }
                        if let Some(level) = level {
                            headings.push(Heading {
                                start: out.len(),
                                level,
                                title: super::collapse_whitespace(text),
                            });
                        }
                        out.push_str(text);
                    }
                }
                "r" => run = run.saturating_sub(1),
                "t" => in_text = in_text.saturating_sub(1),
                "pPr" => props = props.saturating_sub(1),
                "tc" => {
                    if let Some(t) = tables.last_mut() {
                        let cell = std::mem::take(&mut t.cell);
                        t.cells.push(cell);
                    }
                }
                "tr" => {
                    if let Some(t) = tables.last_mut() {
                        let row = std::mem::take(&mut t.cells).join("\t");
                        if !row.trim().is_empty() {
                            t.rows.push(row);
                        }
                    }
                }
                "tbl" => {
                    let Some(table) = tables.pop() else {
                        continue;
                    };
                    let text = table.rows.join("\n");
                    if text.trim().is_empty() {
                        continue;
                    }
                    if let Some(outer) = tables.last_mut() {
                        // A table inside a cell.
                        if !outer.cell.is_empty() {
                            outer.cell.push(' ');
                        }
                        outer.cell.push_str(&text.replace(['\n', '\t'], " "));
                    } else {
                        if !out.is_empty() {
                            out.push_str("\n\n");
                        }
                        out.push_str(&text);
                    }
                }
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    Ok((out, headings))
}

/// Appends run text to the innermost open paragraph.
fn push_text(paragraphs: &mut [(String, Option<u8>)], s: &str) {
    if let Some((p, _)) = paragraphs.last_mut() {
        p.push_str(s);
    }
}
