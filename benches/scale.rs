//! A collection of N chunks through the public API (`make bench-scale` runs it at 100k and 1M,
//! beside hnswlib building the same vectors).
//!
//! Texts: real paragraphs (Debian's linux-doc-6.1 and the Python 3.11 docs, `texts.jsonl`), a
//! document being two of them drawn at random (seeded), chunked by the collection's default
//! chunker. Vectors: a calibrated synthetic generator, registered as the collection's model
//! through the public `Embedder` API: a chunk's vector is one of the 100,000 real MiniLM
//! embeddings of `make bench-index` (picked by a hash of the text) plus Gaussian noise, its
//! sigma set so that the mean cosine between a vector and the nearest of its siblings equals
//! the mean cosine between a real vector and its nearest real neighbour. Query texts embed the
//! same way; vector queries are the 1,000 held-out real query embeddings.
//!
//! Usage (each prints one JSON object):
//! - `scale build DIR N`: ingests documents until the collection holds N chunks (`add_texts`,
//!   batches of 50,000 documents), then compacts it into one graph: ingest time, build time
//!   and the process's peak RSS during the build, disk size. Writes the chunk vectors to
//!   `DIR/vectors-N.f32` for hnswlib.
//! - `scale query DIR N`: reopens the database (`reopen_s`: open to first answer), RSS after
//!   reopen, then query latency on this thread: vector, keyword, hybrid, filtered (a vector
//!   query with a metadata filter passing 0.1% or 50% of the documents, and a range passing
//!   1-20% in `filtered_share_p50_ms`), each kind's first query apart.

#[path = "proc.rs"]
mod proc;
use proc::rss_mb;

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use semantik_core::{
    CollectionConfig, Database, DocumentInput, Embedder, Filter, Metadata, Result, SearchMode,
};

const DIM: usize = 384;
const MODEL: &str = "bench/synthetic-minilm";
const BATCH: usize = 50_000;

fn read_f32(path: &Path) -> Vec<f32> {
    std::fs::read(path)
        .expect("vector file (run `make bench-index` once)")
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Vectors near real embeddings: `base[h % n] + sigma * N(0, 1)`, normalised, `h` a hash of
/// the text. Every chunk vector it returns is recorded (for hnswlib to build the same set).
#[derive(Debug)]
struct Synthetic {
    base: Vec<f32>,
    sigma: f32,
    recorded: Mutex<Vec<f32>>,
}

impl Synthetic {
    /// The generator over `DIR/base.f32`, its sigma calibrated once and kept in `DIR/sigma`.
    fn load(dir: &Path) -> Arc<Synthetic> {
        let base = read_f32(&dir.join("base.f32"));
        let saved = dir.join("sigma");
        let sigma = match std::fs::read_to_string(&saved)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            Some(sigma) => sigma,
            None => {
                let sigma = Self::calibrate(&base);
                std::fs::write(&saved, sigma.to_string()).unwrap();
                sigma
            }
        };
        Arc::new(Synthetic {
            base,
            sigma,
            recorded: Mutex::new(Vec::new()),
        })
    }

    fn calibrate(base: &[f32]) -> f32 {
        let rows: Vec<&[f32]> = base.chunks_exact(DIM).collect();
        // The mean cosine of a real vector to its nearest real neighbour, on 500 of them.
        let sample: Vec<usize> = (0..500).map(|i| i * rows.len() / 500).collect();
        let nearest: f32 = sample
            .iter()
            .map(|&i| {
                rows.iter()
                    .enumerate()
                    .filter(|&(j, _)| j != i)
                    .map(|(_, r)| dot(rows[i], r))
                    .fold(f32::MIN, f32::max)
            })
            .sum::<f32>()
            / sample.len() as f32;
        // Two noisy copies of one unit vector have cosine ~ 1 / (1 + DIM sigma^2).
        let sigma = ((1.0 / nearest - 1.0) / DIM as f32).sqrt();
        eprintln!("real nearest-neighbour cosine {nearest:.4}: sigma {sigma:.5}");
        sigma
    }

    fn vector(&self, text: &str) -> Vec<f32> {
        let mut h = DefaultHasher::new();
        text.hash(&mut h);
        let seed = h.finish();
        let rows = self.base.len() / DIM;
        let row = (seed % rows as u64) as usize;
        let mut rng = StdRng::seed_from_u64(seed);
        let mut v: Vec<f32> = self.base[row * DIM..(row + 1) * DIM]
            .iter()
            .map(|x| {
                // Box-Muller.
                let (u1, u2): (f32, f32) = (rng.random::<f32>().max(1e-9), rng.random());
                x + self.sigma * (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
            })
            .collect();
        let norm = dot(&v, &v).sqrt();
        v.iter_mut().for_each(|x| *x /= norm);
        v
    }
}

impl Embedder for Synthetic {
    fn model_name(&self) -> &str {
        MODEL
    }

    fn dimension(&self) -> usize {
        DIM
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let out: Vec<Vec<f32>> = texts.iter().map(|t| self.vector(t)).collect();
        let mut recorded = self.recorded.lock().unwrap();
        out.iter().for_each(|v| recorded.extend_from_slice(v));
        Ok(out)
    }

    fn embed_query(&self, text: &str) -> Result<Vec<f32>> {
        Ok(self.vector(text))
    }
}

fn texts(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("texts.jsonl"))
        .expect("texts.jsonl (scripts/bench-scale.sh writes it)")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON string per line"))
        .collect()
}

fn open(dir: &Path, n: usize, synthetic: &Arc<Synthetic>) -> Database {
    let db = Database::open(dir.join(format!("db-{n}"))).unwrap();
    db.register_embedder(synthetic.clone());
    db
}

/// Document `i`: two paragraphs drawn by a seeded generator; metadata `group` (i mod 1000, for a
/// 0.1% filter) and `half` (i mod 2, for a 50% filter).
fn document(paragraphs: &[String], rng: &mut StdRng, i: usize) -> DocumentInput {
    let a = &paragraphs[rng.random_range(0..paragraphs.len())];
    let b = &paragraphs[rng.random_range(0..paragraphs.len())];
    let mut metadata = Metadata::new();
    metadata.insert("group".into(), (i % 1000).into());
    metadata.insert("half".into(), (i % 2).into());
    DocumentInput::new(format!("{a}\n\n{b}"))
        .with_id(format!("d{i}"))
        .with_metadata(metadata)
}

fn disk_mb(path: &Path) -> f64 {
    fn walk(p: &Path) -> u64 {
        std::fs::read_dir(p).map_or(0, |entries| {
            entries
                .flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => walk(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
    }
    walk(path) as f64 / 1048576.0
}

fn build(dir: &Path, n: usize) -> serde_json::Value {
    let paragraphs = texts(dir);
    let path = dir.join(format!("db-{n}"));
    let _ = std::fs::remove_dir_all(&path);
    let synthetic = Synthetic::load(dir);
    let db = open(dir, n, &synthetic);
    let col = db
        .create_collection(CollectionConfig::new("bench").with_model(MODEL))
        .unwrap();
    let mut rng = StdRng::seed_from_u64(7);
    let (mut docs, mut chunks) = (0, 0);
    let t = Instant::now();
    while chunks < n as u64 {
        // The last batch is sized by the chunks per document so far.
        let per_doc = if docs == 0 {
            1.0
        } else {
            chunks as f64 / docs as f64
        };
        let want = (((n as u64 - chunks) as f64 / per_doc).ceil() as usize).clamp(1, BATCH);
        let batch: Vec<DocumentInput> = (docs..docs + want)
            .map(|i| document(&paragraphs, &mut rng, i))
            .collect();
        col.add_texts(batch).unwrap().wait(None).unwrap();
        docs += want;
        chunks = col.stats().unwrap().chunks;
        eprintln!(
            "{docs} documents, {chunks} chunks, {:.0} s",
            t.elapsed().as_secs_f64()
        );
    }
    let ingest_s = t.elapsed().as_secs_f64();
    // hnswlib's input, written and freed before the build.
    let vectors = std::mem::take(&mut *synthetic.recorded.lock().unwrap());
    assert_eq!(vectors.len() / DIM, chunks as usize, "one vector per chunk");
    let bytes: Vec<u8> = vectors.iter().flat_map(|x| x.to_le_bytes()).collect();
    std::fs::write(dir.join(format!("vectors-{n}.f32")), bytes).unwrap();
    drop(vectors);
    // The build: every vector into one graph, the peak RSS of this process reset before it.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let rss_before = rss_mb("VmRSS:");
    let t = Instant::now();
    col.compact().unwrap().wait(None).unwrap();
    let build_s = t.elapsed().as_secs_f64();
    let peak = rss_mb("VmHWM:");
    let stats = col.index_stats().unwrap();
    drop((col, db));
    serde_json::json!({
        "chunks": chunks, "documents": docs, "ingest_s": ingest_s,
        "ingest_chunks_per_s": chunks as f64 / ingest_s, "build_s": build_s,
        "peak_build_rss_mb": peak, "rss_before_build_mb": rss_before,
        "graph_segments": stats.graph_segments, "index_memory_mb": stats.memory_bytes as f64 / 1048576.0,
        "disk_mb": disk_mb(&path), "sigma": synthetic.sigma,
    })
}

fn percentiles(mut ms: Vec<f64>) -> (f64, f64) {
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99))
}

fn query(dir: &Path, n: usize) -> serde_json::Value {
    let queries = read_f32(&dir.join("queries.f32"));
    let queries: Vec<&[f32]> = queries.chunks_exact(DIM).collect();
    let paragraphs = texts(dir);
    let synthetic = Synthetic::load(dir);
    let rss_before = rss_mb("VmRSS:");
    let t = Instant::now();
    let db = open(dir, n, &synthetic);
    let col = db.collection("bench").unwrap();
    let first = col
        .search_by_vector(queries[0].to_vec())
        .limit(10)
        .run()
        .unwrap();
    let reopen_s = t.elapsed().as_secs_f64();
    assert_eq!(first.len(), 10);
    let rss_after_reopen = rss_mb("VmRSS:") - rss_before;
    // Keyword queries: three consecutive words of a paragraph.
    let mut rng = StdRng::seed_from_u64(11);
    let words: Vec<String> = (0..501)
        .map(|_| {
            let p: Vec<&str> = paragraphs[rng.random_range(0..paragraphs.len())]
                .split_whitespace()
                .collect();
            let at = rng.random_range(0..p.len().saturating_sub(3).max(1));
            p[at..(at + 3).min(p.len())].join(" ")
        })
        .collect();
    // Each kind's first query is timed apart: it loads what that kind keeps in memory (the
    // keyword postings, the documents' filter postings).
    let time = |count: usize, f: &dyn Fn(usize) -> usize| {
        let t = Instant::now();
        std::hint::black_box(f(count));
        let first = t.elapsed().as_secs_f64() * 1000.0;
        let ms: Vec<f64> = (0..count)
            .map(|i| {
                let t = Instant::now();
                std::hint::black_box(f(i));
                t.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        let (p50, p99) = percentiles(ms);
        (p50, p99, first)
    };
    let vector = time(500, &|i| {
        col.search_by_vector(queries[i % queries.len()].to_vec())
            .limit(10)
            .run()
            .unwrap()
            .len()
    });
    let keyword = time(500, &|i| {
        col.search(&words[i])
            .mode(SearchMode::Keyword)
            .limit(10)
            .run()
            .unwrap()
            .len()
    });
    let hybrid = time(200, &|i| {
        col.search(&words[i])
            .mode(SearchMode::Hybrid)
            .limit(10)
            .run()
            .unwrap()
            .len()
    });
    let filtered = |filter: Filter, count: usize| {
        time(count, &|i| {
            let hits = col
                .search_by_vector(queries[i % queries.len()].to_vec())
                .filter(filter.clone())
                .limit(10)
                .run()
                .unwrap();
            hits.len()
        })
    };
    let selective = filtered(Filter::new().metadata_eq("group", 7), 20);
    let broad = filtered(Filter::new().metadata_eq("half", 0), 20);
    // Shares either side of the switch from a scan of the allowed vectors to a filtered walk
    // of the graph (at sqrt(16 * ef * n) allowed: 3.2% of 1M, 10% of 100k at ef 64).
    let shares: serde_json::Map<String, serde_json::Value> = [1, 2, 5, 10, 20]
        .into_iter()
        .map(|pct| {
            let f = Filter::new().metadata_range("group", None, Some(f64::from(pct * 10 - 1)));
            (format!("{pct}%"), filtered(f, 20).0.into())
        })
        .collect();
    serde_json::json!({
        "reopen_s": reopen_s, "rss_after_reopen_mb": rss_after_reopen,
        "keyword_first_ms": keyword.2, "filtered_first_ms": selective.2,
        "vector_p50_ms": vector.0, "vector_p99_ms": vector.1,
        "keyword_p50_ms": keyword.0, "keyword_p99_ms": keyword.1,
        "hybrid_p50_ms": hybrid.0, "hybrid_p99_ms": hybrid.1,
        "filtered_p50_ms": selective.0.max(broad.0), "filtered_p99_ms": selective.1.max(broad.1),
        "filtered_selective_p50_ms": selective.0, "filtered_selective_p99_ms": selective.1,
        "filtered_broad_p50_ms": broad.0, "filtered_broad_p99_ms": broad.1,
        "filtered_share_p50_ms": shares,
    })
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let usage = "usage: scale build|query DIR N";
    let (dir, n) = (
        Path::new(args.get(1).expect(usage)),
        args.get(2).and_then(|n| n.parse().ok()).expect(usage),
    );
    let result = match args[0].as_str() {
        "build" => build(dir, n),
        "query" => query(dir, n),
        _ => panic!("{usage}"),
    };
    println!("{result}");
}
