//! Embedding throughput and latency (`make bench-embed` runs it beside sentence-transformers).
//!
//! Usage: `embed MODE PASSAGES.jsonl` with MODE `native` (semantik's forward pass), `stock`
//! (candle's `BertModel`, batch 32), `query` (latency of a 10-word query) or `vector-search`
//! (latency of `search_by_vector`, limit 10, over the passages stored as external vectors; the
//! Rust side of `make bench-py`). Prints one JSON object. Each mode runs in its own process so
//! that peak RSS is its own.

use std::time::Instant;

#[path = "proc.rs"]
mod proc;
use proc::rss_mb;
use semantik_core::embed::{CandleEmbedder, DEFAULT_MODEL, Embedder, SentenceEmbedder};

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let [mode, path] = [&args[0], &args[1]];
    let passages: Vec<String> = std::fs::read_to_string(path)
        .expect("passages file")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON string per line"))
        .collect();
    let texts: Vec<&str> = passages.iter().map(String::as_str).collect();
    let native = SentenceEmbedder::load(DEFAULT_MODEL).expect("model (run `make model`)");
    let tokens: usize = native.tokenize(&texts).unwrap().iter().map(Vec::len).sum();
    let threads = rayon::current_num_threads();
    let result = match mode.as_str() {
        "native" | "stock" => {
            let embedder: Box<dyn Embedder> = if mode == "native" {
                Box::new(native)
            } else {
                Box::new(CandleEmbedder::load(DEFAULT_MODEL, 32).unwrap())
            };
            embedder.embed(&texts[..64]).unwrap();
            let runs = if mode == "native" { 3 } else { 1 };
            let mut best = f64::INFINITY;
            for _ in 0..runs {
                let t = Instant::now();
                let v = embedder.embed(&texts).unwrap();
                best = best.min(t.elapsed().as_secs_f64());
                assert_eq!(v.len(), texts.len());
            }
            serde_json::json!({
                "mode": mode, "tokens": tokens, "passages": texts.len(), "seconds": best,
                "tokens_per_s": tokens as f64 / best, "passages_per_s": texts.len() as f64 / best,
                "peak_rss_mb": rss_mb("VmHWM:"), "threads": threads,
            })
        }
        "query" => {
            let query = "how do I read a large file line by line";
            assert_eq!(query.split_whitespace().count(), 10);
            for _ in 0..20 {
                native.embed(&[query]).unwrap();
            }
            let mut ms: Vec<f64> = (0..300)
                .map(|_| {
                    let t = Instant::now();
                    native.embed(&[query]).unwrap();
                    t.elapsed().as_secs_f64() * 1000.0
                })
                .collect();
            ms.sort_by(f64::total_cmp);
            serde_json::json!({
                "mode": "query", "query_p50_ms": ms[ms.len() / 2], "query_p99_ms": ms[ms.len() * 99 / 100],
            })
        }
        "vector-search" => {
            let vectors = native.embed(&texts).unwrap();
            let dir = tempfile::tempdir().unwrap();
            let db = semantik_core::Database::open(dir.path()).unwrap();
            let col = db
                .create_collection(
                    semantik_core::CollectionConfig::new("v")
                        .with_external_vectors(vectors[0].len()),
                )
                .unwrap();
            let ids = (0..texts.len()).map(|i| format!("p{i}")).collect();
            col.add_vectors(ids, vectors.clone(), passages.clone(), vec![])
                .unwrap()
                .wait(None)
                .unwrap();
            let search = |v: &Vec<f32>| col.search_by_vector(v.clone()).limit(10).run().unwrap();
            for v in vectors.iter().take(50) {
                search(v);
            }
            let mut us: Vec<f64> = (0..2000)
                .map(|i| {
                    let t = Instant::now();
                    let hits = search(&vectors[i % vectors.len()]);
                    let elapsed = t.elapsed().as_secs_f64() * 1e6;
                    assert_eq!(hits.len(), 10);
                    elapsed
                })
                .collect();
            us.sort_by(f64::total_cmp);
            serde_json::json!({
                "mode": "vector-search", "p50_us": us[us.len() / 2], "p99_us": us[us.len() * 99 / 100],
                "vectors": vectors.len(),
            })
        }
        other => panic!("unknown mode {other}"),
    };
    println!("{result}");
}
