//! Vector index benchmark (`make bench-index` runs it beside hnswlib on the same data).
//!
//! Usage:
//! - `index data SENTENCES.jsonl DIR`: embeds the sentences with the default model; the first
//!   100,000 vectors go to `DIR/base.f32`, the last 1,000 to `DIR/queries.f32` (held out).
//! - `index run DIR [f32]`: builds an [`HnswIndex`] (M=16, ef_construction=200; int8 traversal
//!   unless `f32`) with every rayon thread, then sweeps ef: recall@10 against `DIR/gt.i32` and
//!   queries/s on 1 and 2 threads.
//! - `index db DIR`: the same vectors through a [`Database`]: add, build, close, then the time to
//!   reopen and answer the first query, and recall after 50% churn (half deleted, as many added,
//!   compacted) against a fresh build of the same final set. The 100k database stays in
//!   `DIR/db-100k`; `index reopen DIR` times its reopen again.
//!
//! Each prints one JSON object.

#[path = "proc.rs"]
mod proc;
use proc::rss_mb;
use std::path::Path;
use std::time::Instant;

use rayon::prelude::*;
use semantik_core::embed::{DEFAULT_MODEL, Embedder, SentenceEmbedder};
use semantik_core::{CollectionConfig, Database, HnswIndex, IndexConfig, Quantization};

const DIM: usize = 384;
const BASE: usize = 100_000;
const QUERIES: usize = 1_000;
const K: usize = 10;
const EFS: [usize; 14] = [10, 12, 16, 20, 24, 32, 40, 48, 64, 80, 96, 128, 192, 256];

fn read_f32(path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(path).expect("data file (run `make bench-index`)");
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn write_f32(path: &Path, v: &[f32]) {
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    std::fs::write(path, bytes).unwrap();
}

fn ground_truth(dir: &Path) -> Vec<Vec<u32>> {
    std::fs::read(dir.join("gt.i32"))
        .expect("gt.i32")
        .chunks_exact(4 * K)
        .map(|row| {
            row.chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        })
        .collect()
}

fn recall(found: &[Vec<u32>], truth: &[Vec<u32>]) -> f64 {
    let hits: usize = found
        .iter()
        .zip(truth)
        .map(|(f, t)| f.iter().filter(|id| t.contains(id)).count())
        .sum();
    hits as f64 / (truth.len() * K) as f64
}

fn data(sentences: &Path, dir: &Path) {
    let texts: Vec<String> = std::fs::read_to_string(sentences)
        .expect("sentences file")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON string per line"))
        .collect();
    assert!(
        texts.len() >= BASE + QUERIES,
        "need {} texts",
        BASE + QUERIES
    );
    let embedder = SentenceEmbedder::load(DEFAULT_MODEL).expect("model (run `make model`)");
    let t = Instant::now();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let mut all = Vec::with_capacity((BASE + QUERIES) * DIM);
    for batch in refs[..BASE + QUERIES].chunks(8192) {
        for v in embedder.embed(batch).unwrap() {
            all.extend_from_slice(&v);
        }
    }
    std::fs::create_dir_all(dir).unwrap();
    write_f32(&dir.join("base.f32"), &all[..BASE * DIM]);
    write_f32(&dir.join("queries.f32"), &all[BASE * DIM..]);
    eprintln!(
        "embedded {} texts in {:.1} s",
        BASE + QUERIES,
        t.elapsed().as_secs_f64()
    );
}

/// Passes of the query set per point of a sweep: a point's queries/s is their median, so that a
/// moment of noise on a shared machine does not decide a ratio (`index_hnswlib.py` does the same).
const PASSES: usize = 5;

/// Median queries/s of `PASSES` runs of `pass`, each answering `queries` queries.
fn median_qps(queries: usize, mut pass: impl FnMut()) -> f64 {
    let mut qps: Vec<f64> = (0..PASSES)
        .map(|_| {
            let t = Instant::now();
            pass();
            queries as f64 / t.elapsed().as_secs_f64()
        })
        .collect();
    qps.sort_by(f64::total_cmp);
    qps[PASSES / 2]
}

fn run(dir: &Path, quantization: Quantization) -> serde_json::Value {
    let base = read_f32(&dir.join("base.f32"));
    let queries = read_f32(&dir.join("queries.f32"));
    let truth = ground_truth(dir);
    let config = IndexConfig::new().with_quantization(quantization);
    let rss_before = rss_mb("VmRSS:");
    let t = Instant::now();
    let index = HnswIndex::build(base.clone(), DIM, &config).unwrap();
    let build_s = t.elapsed().as_secs_f64();
    let rss_after = rss_mb("VmRSS:");
    let queries: Vec<&[f32]> = queries.chunks_exact(DIM).collect();
    let mut sweep = Vec::new();
    for ef in EFS {
        let search =
            |q: &&[f32]| -> Vec<u32> { index.search(q, K, ef).into_iter().map(|h| h.0).collect() };
        queries.iter().take(100).for_each(|q| drop(search(q)));
        let found: Vec<Vec<u32>> = queries.iter().map(search).collect();
        let qps1 = median_qps(queries.len(), || queries.iter().map(search).for_each(drop));
        let qps2 = median_qps(queries.len(), || {
            drop(queries.par_iter().map(search).collect::<Vec<_>>())
        });
        sweep.push(serde_json::json!({
            "ef": ef, "recall": recall(&found, &truth), "qps_1t": qps1, "qps_2t": qps2,
        }));
    }
    let tombstones = tombstone_strategies(&index, &base, &queries);
    let bytes = index.graph_bytes();
    let t = Instant::now();
    let reloaded = HnswIndex::from_graph_bytes(&bytes, base, DIM, &config).unwrap();
    let load_s = t.elapsed().as_secs_f64();
    assert_eq!(reloaded.len(), index.len());
    serde_json::json!({
        "engine": "semantik", "quantization": format!("{quantization:?}"), "n": index.len(),
        "build_s": build_s,
        "threads": rayon::current_num_threads(),
        "index_mb": index.memory_bytes() as f64 / 1048576.0,
        "rss_delta_mb": rss_after - rss_before,
        "graph_mb": bytes.len() as f64 / 1048576.0, "graph_load_s": load_s,
        "sweep": sweep, "tombstones_10pct": tombstones,
    })
}

/// With every 10th vector deleted: recall@10 and queries/s of filtered traversal (deleted nodes
/// are passed through but never returned) against over-fetching 2k and dropping deleted hits.
fn tombstone_strategies(index: &HnswIndex, base: &[f32], queries: &[&[f32]]) -> serde_json::Value {
    let live = |p: u32| !p.is_multiple_of(10);
    let truth: Vec<Vec<u32>> = queries
        .par_iter()
        .map(|q| {
            let mut scored: Vec<(f32, u32)> = base
                .chunks_exact(DIM)
                .zip(0u32..)
                .filter(|(_, p)| live(*p))
                .map(|(v, p)| (v.iter().zip(*q).map(|(a, b)| a * b).sum::<f32>(), p))
                .collect();
            scored.select_nth_unstable_by(K, |a, b| b.0.total_cmp(&a.0));
            scored[..K].iter().map(|s| s.1).collect()
        })
        .collect();
    let mut out = Vec::new();
    for ef in [40, 64, 128] {
        let filtered = |q: &&[f32]| -> Vec<u32> {
            index
                .search_filtered(q, K, ef, Some(&live))
                .into_iter()
                .map(|h| h.0)
                .collect()
        };
        let overfetch = |q: &&[f32]| -> Vec<u32> {
            let hits = index.search(q, 2 * K, ef);
            hits.into_iter()
                .map(|h| h.0)
                .filter(|p| live(*p))
                .take(K)
                .collect()
        };
        for (name, f) in [
            ("filtered", &filtered as &dyn Fn(&&[f32]) -> Vec<u32>),
            ("overfetch", &overfetch),
        ] {
            let t = Instant::now();
            let found: Vec<Vec<u32>> = queries.iter().map(f).collect();
            let qps = queries.len() as f64 / t.elapsed().as_secs_f64();
            out.push(serde_json::json!({"ef": ef, "strategy": name, "recall": recall(&found, &truth), "qps_1t": qps}));
        }
    }
    serde_json::Value::Array(out)
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let result = match args.first().map(String::as_str) {
        Some("data") => {
            data(Path::new(&args[1]), Path::new(&args[2]));
            return;
        }
        Some("run") => {
            let f32_only = args.get(2).is_some_and(|a| a == "f32");
            let q = if f32_only {
                Quantization::None
            } else {
                Quantization::Int8
            };
            run(Path::new(&args[1]), q)
        }
        Some("db") => db(Path::new(&args[1])),
        Some("reopen") => {
            let dir = Path::new(&args[1]);
            let queries = read_f32(&dir.join("queries.f32"));
            let (_db, _col, s, rss) = reopen(&dir.join("db-100k"), &queries[..DIM]);
            serde_json::json!({"reopen_s": s, "reopen_rss_delta_mb": rss})
        }
        _ => panic!("usage: index data SENTENCES DIR | run DIR | db DIR"),
    };
    println!("{result}");
}

/// Adds `vectors` (rows `first..`) to `col` as documents `v{row}` and waits.
fn add(col: &semantik_core::Collection, vectors: &[&[f32]], first: usize) -> f64 {
    let n = vectors.len();
    let t = Instant::now();
    col.add_vectors(
        (first..first + n).map(|i| format!("v{i}")).collect(),
        vectors.iter().map(|v| v.to_vec()).collect(),
        vec![String::new(); n],
        Vec::new(),
    )
    .unwrap()
    .wait(None)
    .unwrap();
    t.elapsed().as_secs_f64()
}

/// recall@10 of `col` against exact search over `rows` (document `v{row}` = `base[row]`).
fn db_recall(
    col: &semantik_core::Collection,
    base: &[&[f32]],
    rows: &[usize],
    queries: &[&[f32]],
) -> f64 {
    let found: Vec<Vec<u32>> = queries
        .iter()
        .map(|q| {
            col.search_by_vector(q.to_vec())
                .limit(K)
                .run()
                .unwrap()
                .iter()
                .map(|h| h.document_id[1..].parse().unwrap())
                .collect()
        })
        .collect();
    let truth: Vec<Vec<u32>> = queries
        .par_iter()
        .map(|q| {
            let mut scored: Vec<(f32, u32)> = rows
                .iter()
                .map(|&r| {
                    (
                        base[r].iter().zip(*q).map(|(a, b)| a * b).sum::<f32>(),
                        r as u32,
                    )
                })
                .collect();
            scored.sort_by(|a, b| b.0.total_cmp(&a.0));
            scored.iter().take(K).map(|s| s.1).collect()
        })
        .collect();
    recall(&found, &truth)
}

/// Opens the database at `path` and answers one query: (database, collection, seconds, RSS
/// growth in MB).
fn reopen(path: &Path, query: &[f32]) -> (Database, semantik_core::Collection, f64, f64) {
    let rss_before = rss_mb("VmRSS:");
    let t = Instant::now();
    let db = Database::open(path).unwrap();
    let col = db.collection("bench").unwrap();
    let first = col.search_by_vector(query.to_vec()).limit(K).run().unwrap();
    let seconds = t.elapsed().as_secs_f64();
    assert_eq!(first.len(), K);
    (db, col, seconds, rss_mb("VmRSS:") - rss_before)
}

fn db(dir: &Path) -> serde_json::Value {
    let data = read_f32(&dir.join("base.f32"));
    let queries = read_f32(&dir.join("queries.f32"));
    let base: Vec<&[f32]> = data.chunks_exact(DIM).collect();
    let queries: Vec<&[f32]> = queries.chunks_exact(DIM).collect();
    let tmp = tempfile::tempdir().unwrap();
    let config = CollectionConfig::new("bench").with_external_vectors(DIM);
    // 100k vectors: ingest and build, then reopen (`index reopen DIR` repeats the reopen).
    let path = dir.join("db-100k");
    let _ = std::fs::remove_dir_all(&path);
    let (add_s, segments) = {
        let db = Database::open(&path).unwrap();
        let col = db.create_collection(config.clone()).unwrap();
        let t = Instant::now();
        let op = col
            .add_vectors(
                (0..BASE).map(|i| format!("v{i}")).collect(),
                base.iter().map(|v| v.to_vec()).collect(),
                vec![String::new(); BASE],
                Vec::new(),
            )
            .unwrap();
        let info = op.wait(None).unwrap();
        let total = t.elapsed().as_secs_f64();
        assert_eq!(info.progress.documents_indexed(), BASE as u64);
        (total, col.index_stats().unwrap().graph_segments)
    };
    let (db, col, reopen_s, reopen_rss) = reopen(&path, queries[0]);
    let stats = col.index_stats().unwrap();
    let all: Vec<usize> = (0..BASE).collect();
    let reopened_recall = db_recall(&col, &base, &all, &queries);
    drop((col, db));
    // Churn: two thirds in, half of those deleted, as many new added; against a fresh build.
    let initial = BASE * 2 / 3;
    let churn = Database::open(tmp.path().join("churn")).unwrap();
    let col = churn.create_collection(config.clone()).unwrap();
    add(&col, &base[..initial], 0);
    let deleted: Vec<String> = (0..initial).step_by(2).map(|i| format!("v{i}")).collect();
    let removed = deleted.len();
    col.delete_documents(deleted).unwrap().wait(None).unwrap();
    add(&col, &base[initial..initial + removed], initial);
    let rows: Vec<usize> = (1..initial)
        .step_by(2)
        .chain(initial..initial + removed)
        .collect();
    let churn_stats = col.index_stats().unwrap();
    let churned = db_recall(&col, &base, &rows, &queries);
    let fresh_db = Database::open(tmp.path().join("fresh")).unwrap();
    let fresh = fresh_db.create_collection(config).unwrap();
    let final_rows: Vec<&[f32]> = rows.iter().map(|&r| base[r]).collect();
    fresh
        .add_vectors(
            rows.iter().map(|r| format!("v{r}")).collect(),
            final_rows.iter().map(|v| v.to_vec()).collect(),
            vec![String::new(); rows.len()],
            Vec::new(),
        )
        .unwrap()
        .wait(None)
        .unwrap();
    let fresh_recall = db_recall(&fresh, &base, &rows, &queries);
    serde_json::json!({
        "engine": "semantik-db", "n": BASE, "add_and_build_s": add_s, "segments": segments,
        "reopen_s": reopen_s, "reopen_rss_delta_mb": reopen_rss,
        "index_memory_mb": stats.memory_bytes as f64 / 1048576.0, "reopened_recall": reopened_recall,
        "churn_recall": churned, "fresh_recall": fresh_recall,
        "churn_recall_delta": fresh_recall - churned, "churn_index": churn_stats,
    })
}
