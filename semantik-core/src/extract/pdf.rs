//! PDF: text per page (pdf-extract), title from the Info dictionary.
//!
//! pdf-extract places text by its position on the page (line breaks, word spaces), which reads
//! much better than lopdf's own `extract_text`, which runs all text of a page together and puts
//! spaces inside words; a page that pdf-extract cannot read (it panics on some fonts) falls back to
//! lopdf's `extract_text` (the lopdf that pdf-extract re-exports). Both parsers panic on some
//! malformed input: every call into them is behind [`catch_unwind`], and a panic becomes
//! [`crate::Error::DocumentRead`].

use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use pdf_extract::{Document, Object, ObjectId, PlainTextOutput};

use super::{Extracted, Extractor, read_error};
use crate::error::Result;

/// PDF documents.
#[derive(Debug)]
pub(crate) struct Pdf;

impl Extractor for Pdf {
    fn media_types(&self) -> &'static [&'static str] {
        &["application/pdf"]
    }

    fn extract(&self, path: &Path, bytes: &[u8]) -> Result<Extracted> {
        match catch_unwind(AssertUnwindSafe(|| read(bytes))) {
            Ok(Ok(e)) => Ok(e),
            Ok(Err(message)) => Err(read_error(path, message)),
            Err(panic) => Err(read_error(
                path,
                format!("the PDF parser failed: {}", panic_message(&panic)),
            )),
        }
    }
}

/// Reads a whole document; the error is the message for [`crate::Error::DocumentRead`].
fn read(bytes: &[u8]) -> std::result::Result<Extracted, String> {
    let mut doc = Document::load_mem(bytes).map_err(|e| load_message(&e))?;
    if doc.is_encrypted() {
        // Documents with only an owner password open with the empty user password.
        doc.decrypt("")
            .map_err(|e| format!("the PDF is encrypted and needs a password to open ({e})"))?;
    }
    let pages = doc.get_pages();
    if pages.is_empty() {
        return Err("the PDF has no pages (truncated or damaged?)".to_string());
    }
    let title = info_title(&doc);
    let mut text = String::new();
    let mut offsets = Vec::with_capacity(pages.len());
    let mut first_error = None;
    let mut read_pages = 0;
    for (&number, &id) in &pages {
        if !offsets.is_empty() {
            text.push_str("\n\n");
        }
        offsets.push((text.len(), number));
        match page_text(&doc, number, id) {
            Ok(page) => {
                push_page(&mut text, &page);
                read_pages += 1;
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    if read_pages == 0 {
        let e = first_error.unwrap_or_default();
        return Err(format!("no page of the PDF could be read: {e}"));
    }
    Ok(Extracted {
        text,
        media_type: "application/pdf".to_string(),
        title,
        pages: offsets,
        headings: Vec::new(),
    })
}

/// The text of one page: pdf-extract's, else lopdf's.
fn page_text(doc: &Document, number: u32, id: ObjectId) -> std::result::Result<String, String> {
    let first = if parents_loop(doc, id) {
        // pdf-extract looks up inherited attributes without end (a hang found by fuzzing);
        // lopdf stops at the loop with an error.
        "its page tree loops".to_string()
    } else {
        let layout = catch_unwind(AssertUnwindSafe(|| {
            let mut s = String::new();
            let mut out = PlainTextOutput::new(&mut s);
            pdf_extract::output_doc_page(doc, &mut out, number).map(|()| s)
        }));
        match layout {
            Ok(Ok(s)) => return Ok(s),
            Ok(Err(e)) => e.to_string(),
            Err(panic) => panic_message(&panic),
        }
    };
    match catch_unwind(AssertUnwindSafe(|| doc.extract_text(&[number]))) {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(format!("page {number}: {first}; {e}")),
        Err(panic) => Err(format!("page {number}: {first}; {}", panic_message(&panic))),
    }
}

/// Whether following `/Parent` up from a page comes back to a node already passed.
fn parents_loop(doc: &Document, page: ObjectId) -> bool {
    let mut seen = HashSet::from([page]);
    let mut node = doc.get_dictionary(page).ok();
    while let Some(dict) = node {
        let Ok(parent) = dict.get(b"Parent").and_then(Object::as_reference) else {
            return false;
        };
        if !seen.insert(parent) {
            return true;
        }
        node = doc.get_dictionary(parent).ok();
    }
    false
}

/// Appends a page's text: trailing blank lines and leading line ends dropped, typographic
/// ligatures spelled out (ﬁ → fi) so that words match their queries.
fn push_page(text: &mut String, page: &str) {
    let page = page.trim_start_matches(['\n', '\r']).trim_end();
    text.reserve(page.len());
    for c in page.chars() {
        match c {
            '\u{FB00}' => text.push_str("ff"),
            '\u{FB01}' => text.push_str("fi"),
            '\u{FB02}' => text.push_str("fl"),
            '\u{FB03}' => text.push_str("ffi"),
            '\u{FB04}' => text.push_str("ffl"),
            '\u{FB05}' | '\u{FB06}' => text.push_str("st"),
            '\0' => {}
            c => text.push(c),
        }
    }
}

/// The message for a document lopdf could not load.
fn load_message(e: &pdf_extract::Error) -> String {
    let detail = e.to_string();
    if matches!(e, pdf_extract::Error::Decryption(_)) || detail.contains("ecrypt") {
        format!("the PDF is encrypted and cannot be opened ({detail})")
    } else {
        format!("not a readable PDF (truncated or damaged?): {detail}")
    }
}

/// `/Title` of the Info dictionary, if it is a non-empty string.
fn info_title(doc: &Document) -> Option<String> {
    let info = match doc.trailer.get(b"Info").ok()? {
        Object::Reference(id) => doc.get_object(*id).ok()?,
        other => other,
    };
    let title = match info.as_dict().ok()?.get(b"Title").ok()? {
        Object::Reference(id) => doc.get_object(*id).ok()?,
        other => other,
    };
    let Object::String(bytes, _) = title else {
        return None;
    };
    let title = super::collapse_whitespace(&text_string(bytes));
    (!title.is_empty()).then_some(title)
}

/// Decodes a PDF text string: UTF-16BE or UTF-8 with a byte-order mark, else PDFDocEncoding
/// (read as Latin-1, which it equals for letters).
fn text_string(bytes: &[u8]) -> String {
    if let Some(rest) = bytes.strip_prefix(b"\xFE\xFF") {
        encoding_rs::UTF_16BE
            .decode_without_bom_handling(rest)
            .0
            .into_owned()
    } else if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        String::from_utf8_lossy(rest).into_owned()
    } else {
        bytes.iter().map(|&b| char::from(b)).collect()
    }
}

/// The message of a caught panic.
fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".to_string()
    }
}
