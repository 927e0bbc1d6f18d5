//! `make demo`: index real folders of text with the default model and search them.
//!
//! Usage: `demo DB_DIR SOURCE...`. The database directory is recreated; every source folder is
//! added to one collection embedded with sentence-transformers/all-MiniLM-L6-v2.

use std::time::Instant;

use semantik_core::{CollectionConfig, Database, EventKind, SourceOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let db_dir = args.next().ok_or("usage: demo DB_DIR SOURCE...")?;
    let sources: Vec<String> = args.collect();
    if sources.is_empty() {
        return Err("usage: demo DB_DIR SOURCE...".into());
    }
    let model = semantik_core::embed::DEFAULT_MODEL;
    println!("semantik {} demo, model {model}", semantik_core::version());
    if std::path::Path::new(&db_dir).exists() {
        std::fs::remove_dir_all(&db_dir)?;
    }
    let db = Database::open(&db_dir)?;
    let col = db.create_collection(
        CollectionConfig::new("python-docs")
            .with_model(model)
            .with_description("Python 3.11 documentation sources"),
    )?;
    let started = Instant::now();
    for docs in &sources {
        println!(
            "indexing {docs} into collection `python-docs` ({})",
            col.id()
        );
        let op = col.add_source(docs, SourceOptions::default())?;
        for event in op.events() {
            match &event.kind {
                EventKind::Progress { progress } => println!(
                    "  progress: {}/{} documents, {} chunks, {:.1} docs/s",
                    progress.documents_done(),
                    progress.documents_total().unwrap_or(0),
                    progress.chunks_done(),
                    progress.rate()
                ),
                EventKind::DocumentFailed { source, error, .. } => {
                    println!("  failed: {} ({error})", source.as_deref().unwrap_or("?"))
                }
                EventKind::OperationCompleted { .. } => println!("  completed"),
                EventKind::OperationFailed { error, .. } => println!("  operation failed: {error}"),
                _ => {}
            }
        }
        op.wait(None)?;
    }
    let stats = col.stats()?;
    println!(
        "indexed {} documents into {} chunks in {:.1} s ({} bytes of text)",
        stats.documents,
        stats.chunks,
        started.elapsed().as_secs_f64(),
        stats.source_bytes
    );
    let queries = [
        "how do I sort a list of dictionaries by a key",
        "reading and writing files with a context manager",
        "why are default arguments shared between calls",
        "what is the global interpreter lock",
    ];
    for q in queries {
        let t = Instant::now();
        let hits = col.search(q).limit(3).run()?;
        println!(
            "\nquery: {q:?} ({:.1} ms)",
            t.elapsed().as_secs_f64() * 1000.0
        );
        for (i, h) in hits.iter().enumerate() {
            let source = h
                .source
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            let words: Vec<&str> = h.text.split_whitespace().collect();
            let snippet: String = words.join(" ").chars().take(160).collect();
            println!("  {}. [{:.3}] {source}\n     {snippet}", i + 1, h.score);
        }
    }
    db.close()?;
    Ok(())
}
