//! Removing documents: those read from a path (remove_source) or named by id
//! (delete_documents), in one batch that is the operation's closing write.

use std::path::Path;

use super::runner::{Closing, Ctx};
use super::writer::Writer;
use crate::error::Result;
use crate::ops::Phase;
use crate::storage::{WriteBatch, keys};

/// Removes every document read from `root` or below it, and the sources there, in one atomic
/// batch: the operation's closing writes.
pub(super) fn remove_source(ctx: &mut Ctx<'_>, root: &Path) -> Result<Closing> {
    let id = ctx.op.collection_id;
    let mut writer = Writer::open(ctx.engine, id, false)?;
    let docs = writer.reader.documents_under(root)?;
    ctx.progress.documents_total = Some(docs.len() as u64);
    ctx.progress.phase = Phase::Processing;
    ctx.publish(true)?;
    ctx.checkpoint()?;
    let mut batch = WriteBatch::new();
    let mut removed = Vec::new();
    for (_, doc_id) in &docs {
        if let Some(doc) = writer.reader.document(doc_id)? {
            removed.extend(writer.remove_into(&mut batch, &doc)?);
            ctx.progress.documents_removed += 1;
            ctx.progress.bytes_done += doc.size;
        } else {
            ctx.progress.documents_skipped += 1;
        }
    }
    for mut s in ctx.engine.catalog.sources(id)? {
        if s.path.starts_with(root) {
            batch.delete(keys::source(id.0, &s.path));
        } else if let Ok(rel) = root.strip_prefix(&s.path) {
            // Below a source that stays: exclude it there, so an append does not add it back.
            let glob = format!("/{}", rel.to_string_lossy().replace('\\', "/"));
            if !s.options.exclude.contains(&glob) {
                s.options.exclude.push(glob);
                batch.put_json(keys::source(id.0, &s.path), &s)?;
            }
        }
    }
    ctx.progress.chunks_done += removed.len() as u64;
    ctx.progress.documents_done = docs.len() as u64;
    writer.closing(batch, removed, Vec::new())
}

pub(super) fn delete_documents(ctx: &mut Ctx<'_>, ids: Vec<String>) -> Result<Closing> {
    let mut writer = Writer::open(ctx.engine, ctx.op.collection_id, false)?;
    remove_documents(ctx, &mut writer, ids)
}

/// The removal of documents `doc_ids`, in one batch; ids not held count as skipped.
pub(super) fn remove_documents(
    ctx: &mut Ctx<'_>,
    writer: &mut Writer<'_>,
    mut doc_ids: Vec<String>,
) -> Result<Closing> {
    doc_ids.sort();
    doc_ids.dedup();
    ctx.progress.phase = Phase::Processing;
    ctx.progress.documents_total =
        Some(ctx.progress.documents_total.unwrap_or(0) + doc_ids.len() as u64);
    ctx.publish(true)?;
    ctx.checkpoint()?;
    let mut batch = WriteBatch::new();
    let mut removed = Vec::new();
    for doc_id in doc_ids {
        if let Some(doc) = writer.reader.document(&doc_id)? {
            removed.extend(writer.remove_into(&mut batch, &doc)?);
            ctx.progress.documents_removed += 1;
        } else {
            ctx.progress.documents_skipped += 1;
        }
        ctx.progress.documents_done += 1;
    }
    ctx.progress.chunks_done += removed.len() as u64;
    writer.closing(batch, removed, Vec::new())
}
