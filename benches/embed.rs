//! Embedding throughput and latency (`make bench-embed` runs it beside sentence-transformers).
//!
//! Usage: `embed MODE PASSAGES.jsonl [--model NAME_OR_DIR] [--precision P] [--limit N]` with
//! MODE `native` (semantik's forward pass at precision P, default float32), `stock` (candle's
//! `BertModel`, batch 32), `query` (latency of a 10-word query), `cosine` (vectors at
//! precision P against float32: min and mean cosine) or `vector-search` (latency of
//! `search_by_vector`, limit 10, over the passages stored as external vectors; the Rust side of
//! `make bench-py`). The model defaults to all-MiniLM-L6-v2; the first N passages are used.
//! Prints one JSON object. Each mode runs in its own process so that peak RSS is its own.

use std::time::Instant;

#[path = "proc.rs"]
mod proc;
use proc::rss_mb;
use semantik_core::embed::{
    CandleEmbedder, DEFAULT_MODEL, Embedder, Precision, SentenceEmbedder, model_dir,
};

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let [mode, path] = [&args[0], &args[1]];
    let option = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let model = option("--model").unwrap_or_else(|| DEFAULT_MODEL.to_string());
    let precision: Precision = option("--precision")
        .map_or(Ok(Precision::Float32), |p| p.parse())
        .expect("precision");
    let limit: usize = option("--limit").map_or(usize::MAX, |n| n.parse().expect("limit"));
    let passages: Vec<String> = std::fs::read_to_string(path)
        .expect("passages file")
        .lines()
        .take(limit)
        .map(|l| serde_json::from_str(l).expect("a JSON string per line"))
        .collect();
    let texts: Vec<&str> = passages.iter().map(String::as_str).collect();
    let dir = model_dir(&model).expect("model (run `make model`)");
    let load = |p: Precision| SentenceEmbedder::load_dir(&model, &dir, p).expect("model");
    let native = load(precision);
    let tokens: usize = native.tokenize(&texts).unwrap().iter().map(Vec::len).sum();
    let threads = rayon::current_num_threads();
    let result = match mode.as_str() {
        "native" | "stock" => {
            let embedder: Box<dyn Embedder> = if mode == "native" {
                Box::new(native)
            } else {
                Box::new(CandleEmbedder::load(DEFAULT_MODEL, 32).unwrap())
            };
            embedder.embed(&texts[..64.min(texts.len())]).unwrap();
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
                "precision": precision.as_str(),
            })
        }
        "cosine" => {
            let reference = load(Precision::Float32).embed(&texts).unwrap();
            let got = native.embed(&texts).unwrap();
            let cos: Vec<f64> = reference
                .iter()
                .zip(&got)
                .map(|(a, b)| {
                    let dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(x * y)).sum();
                    let na: f64 = a.iter().map(|x| f64::from(x * x)).sum::<f64>().sqrt();
                    let nb: f64 = b.iter().map(|x| f64::from(x * x)).sum::<f64>().sqrt();
                    dot / (na * nb)
                })
                .collect();
            serde_json::json!({
                "mode": "cosine", "precision": precision.as_str(), "passages": cos.len(),
                "min_cosine": cos.iter().copied().fold(1.0, f64::min),
                "mean_cosine": cos.iter().sum::<f64>() / cos.len() as f64,
                "weight_mb": native.weight_bytes() as f64 / 1e6,
                "float32_weight_mb": load(Precision::Float32).weight_bytes() as f64 / 1e6,
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
