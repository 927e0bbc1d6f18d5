//! Rendering: text tables, search snippets, and the JSON shapes of `--json`.
//!
//! The JSON of collections, operations and documents is the CLI's own, flat shape (error codes
//! as their stable numbers, times as Unix milliseconds); hits are [`semantik_core::Hit`]
//! serialised as they are.

use std::io::{self, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use semantik_core::{CollectionInfo, Document, ErrorInfo, OperationInfo};
use serde::Serialize;
use serde_json::{Value, json};

/// The serde name of a unit enum value (`Phase::Processing` -> `"processing"`).
pub fn name_of<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => "?".into(),
    }
}

/// Milliseconds since the Unix epoch.
pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// An error as text: `message (code N)`.
pub fn error_text(e: &ErrorInfo) -> String {
    format!("{} (code {})", e.message, e.code.as_u32())
}

/// An error as JSON: `{"code": N, "message": ...}`.
pub fn error_json(e: &ErrorInfo) -> Value {
    json!({ "code": e.code.as_u32(), "message": e.message })
}

/// A collection as JSON.
pub fn collection_json(c: &CollectionInfo) -> Value {
    json!({
        "id": c.id.to_string(),
        "name": c.name(),
        "description": c.config.description,
        "model": c.config.model,
        "model_revision": c.config.model_revision,
        "model_precision": c.config.model_precision,
        "dimension": c.dimension(),
        "status": name_of(&c.status),
        "status_message": c.status_message,
        "documents": c.stats.documents,
        "chunks": c.stats.chunks,
        "failed_documents": c.stats.failed_documents,
        "vectors": c.stats.vectors,
        "source_bytes": c.stats.source_bytes,
        "chunking": {
            "unit": name_of(&c.config.chunking.unit),
            "max_size": c.config.chunking.max_size,
            "overlap": c.config.chunking.overlap,
        },
        "created_at_ms": unix_ms(c.created_at),
    })
}

/// An operation as JSON; `collection` is its collection's name when that still exists.
pub fn operation_json(o: &OperationInfo, collection: Option<&str>) -> Value {
    let p = &o.progress;
    json!({
        "id": o.id.to_string(),
        "collection_id": o.collection_id.to_string(),
        "collection": collection,
        "kind": name_of(&o.kind),
        "status": name_of(&o.status),
        "phase": name_of(&p.phase()),
        "documents_total": p.documents_total(),
        "documents_done": p.documents_done(),
        "documents_indexed": p.documents_indexed(),
        "documents_skipped": p.documents_skipped(),
        "documents_failed": p.documents_failed(),
        "documents_removed": p.documents_removed(),
        "chunks": p.chunks_done(),
        "elapsed_ms": p.elapsed().as_millis() as u64,
        "error": o.error.as_ref().map(error_json),
        "created_at_ms": unix_ms(o.created_at),
        "finished_at_ms": o.finished_at.map(unix_ms),
    })
}

/// A document as JSON.
pub fn document_json(d: &Document) -> Value {
    json!({
        "id": d.id,
        "source": d.source.as_ref().map(|p| p.display().to_string()),
        "status": name_of(&d.status),
        "media_type": d.media_type,
        "title": d.title,
        "size": d.size,
        "chunks": d.chunk_count,
        "error": d.error.as_ref().map(error_json),
    })
}

/// Writes `value` pretty-printed, with a final newline.
pub fn write_json(out: &mut impl Write, value: &impl Serialize) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value).map_err(io::Error::from)?;
    writeln!(out)
}

/// Writes rows under headers in left-aligned columns (the last column is not padded).
pub fn write_table(out: &mut impl Write, headers: &[&str], rows: &[Vec<String>]) -> io::Result<()> {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |out: &mut dyn Write, cells: &mut dyn Iterator<Item = &str>| -> io::Result<()> {
        let mut text = String::new();
        for (i, cell) in cells.enumerate() {
            if i > 0 {
                text.push_str("  ");
            }
            text.push_str(cell);
            if i + 1 < widths.len() {
                let pad = widths[i].saturating_sub(cell.chars().count());
                text.extend(std::iter::repeat_n(' ', pad));
            }
        }
        writeln!(out, "{}", text.trim_end())
    };
    line(out, &mut headers.iter().copied())?;
    for row in rows {
        line(out, &mut row.iter().map(String::as_str))?;
    }
    Ok(())
}

/// The first `max_lines` non-blank lines of `text`, each cut to `width` characters, with `…`
/// where something was left out.
pub fn snippet(text: &str, max_lines: usize, width: usize) -> Vec<String> {
    let mut lines = text
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty());
    let mut shown: Vec<String> = lines
        .by_ref()
        .take(max_lines)
        .map(|l| match l.char_indices().nth(width) {
            Some((cut, _)) => format!("{}…", &l[..cut]),
            None => l.to_string(),
        })
        .collect();
    if lines.next().is_some() {
        shown.push("…".into());
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_are_cut() {
        let text = "first\n\n   \nsecond line is long\nthird\nfourth";
        assert_eq!(
            snippet(text, 2, 6),
            vec!["first".to_string(), "second…".into(), "…".into()]
        );
        assert_eq!(snippet("é", 3, 1), vec!["é".to_string()]);
        assert!(snippet("", 3, 10).is_empty());
    }

    #[test]
    fn tables_align() {
        let mut out = Vec::new();
        let rows = vec![vec!["a".to_string(), "long value".into(), "x".into()]];
        write_table(&mut out, &["NAME", "V", "LAST"], &rows).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "NAME  V           LAST\na     long value  x\n"
        );
    }
}
