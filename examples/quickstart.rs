//! semantik quickstart in Rust: create a collection, add texts, search.
//!
//! The collection uses the default model, sentence-transformers/all-MiniLM-L6-v2: found in the
//! Hugging Face cache (or semantik's, filled by `make model`), else downloaded from the Hub.

use semantik_core::{CollectionConfig, Database};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "quickstart-db".into());
    let db = Database::open(&dir)?;
    let notes = match db.collection("notes") {
        Ok(c) => c,
        Err(_) => db.create_collection(CollectionConfig::new("notes"))?,
    };
    let op = notes.add_texts([
        "sled is an embedded database written in Rust",
        "candle runs transformer models on the CPU",
        "rayon spreads work over every core",
    ])?;
    let info = op.wait(None)?;
    println!("indexed {} documents", info.progress.documents_indexed());
    for hit in notes.search("which library stores data?").limit(2).run()? {
        println!("{:.3}  {}", hit.score, hit.text);
    }
    db.close()?;
    Ok(())
}
