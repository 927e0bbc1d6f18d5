//! Retrieval quality on a BEIR-format set (`make eval`).
//!
//! Usage: `eval DATASET OUT [--reuse] [--chunk TOKENS,OVERLAP]`. DATASET holds `corpus.jsonl`,
//! `queries.jsonl` and `qrels.tsv` or `qrels/test.tsv` (and optionally `self.tsv`); the queries
//! with judgements are searched. Every corpus entry becomes a document (id = its `_id`, its
//! text, its title as the document title), ingested with the default model through the public API into
//! a database under OUT (kept with `--reuse`). Each query is then searched in every mode, and
//! one run file per mode is written to OUT (`run-<mode>.json`, `{query: {doc: score}}`): the
//! library's document ranking (`max_per_document(1)`), 100 documents per query. Also written:
//! `candidates.json`, the hybrid candidates of each query as `[document, chunk id, dense score,
//! keyword score, chunk index]` (for studying fusion and document ranking). Prints one JSON object: ingestion and latency figures.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::time::Instant;

use semantik_core::{
    ChunkingConfig, CollectionConfig, Database, DocumentInput, Fusion, Hit, Search, SearchMode,
};
use serde_json::{Value, json};

/// Documents per query in a run file.
const DEPTH: usize = 100;
/// Hybrid candidates (chunks) per query written to `candidates.json`.
const CHUNKS: usize = 300;

fn read_jsonl(path: &Path) -> Vec<Value> {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    BufReader::new(f)
        .lines()
        .map(|l| serde_json::from_str(&l.expect("line")).expect("json line"))
        .collect()
}

/// Queries per length in the latency by query length.
const LONG_QUERIES: usize = 100;

/// Documents per ingestion operation.
const BATCH: usize = 10_000;

/// A BEIR id (a string, or a number in some sets).
fn id_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `qrels.tsv`, or BEIR's usual `qrels/test.tsv`.
fn qrels_path(dataset: &Path) -> std::path::PathBuf {
    let flat = dataset.join("qrels.tsv");
    if flat.exists() {
        flat
    } else {
        dataset.join("qrels").join("test.tsv")
    }
}

/// The query ids of a qrels file.
fn judged_queries(path: &Path) -> HashSet<String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .enumerate()
        .filter_map(|(n, line)| {
            let q = line.split('\t').next()?;
            let header = n == 0 && matches!(q, "query-id" | "query_id" | "qid");
            (!header && !q.is_empty()).then(|| q.to_string())
        })
        .collect()
}

/// Query id -> corpus ids to leave out of its results (`self.tsv`).
fn read_excluded(path: &Path) -> HashMap<String, HashSet<String>> {
    let mut out: HashMap<String, HashSet<String>> = HashMap::new();
    let Ok(text) = std::fs::read_to_string(path) else {
        return out;
    };
    for (n, line) in text.lines().enumerate() {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() < 2 || (n == 0 && matches!(cols[0], "query-id" | "query_id" | "qid")) {
            continue;
        }
        out.entry(cols[0].into())
            .or_default()
            .insert(cols[1].into());
    }
    out
}

/// The documents of `hits` (one hit per document), best first, DEPTH documents, without
/// those to skip.
fn per_document(hits: &[Hit], skip: Option<&HashSet<String>>) -> Vec<(String, f32)> {
    hits.iter()
        .filter(|h| skip.is_none_or(|s| !s.contains(&h.document_id)))
        .take(DEPTH)
        .map(|h| (h.document_id.clone(), h.score))
        .collect()
}

/// Turns a plain search into one mode's search.
type Configure = Box<dyn Fn(Search) -> Search>;

/// Milliseconds of a search in `mode` for each of `queries`, sorted.
fn latencies(col: &semantik_core::Collection, queries: &[String], mode: SearchMode) -> Vec<f64> {
    let mut ms: Vec<f64> = queries
        .iter()
        .map(|q| {
            let t = Instant::now();
            col.search(q).mode(mode).run().expect("search");
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    ms
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let (Some(dataset), Some(out)) = (args.first(), args.get(1)) else {
        panic!("usage: eval DATASET OUT [--reuse]");
    };
    let reuse = args.iter().any(|a| a == "--reuse");
    // The collection's chunking: the default unless `--chunk TOKENS,OVERLAP` is given.
    let chunking = args
        .iter()
        .position(|a| a == "--chunk")
        .and_then(|i| args.get(i + 1))
        .map(|v| {
            let (size, overlap) = v.split_once(',').expect("--chunk TOKENS,OVERLAP");
            ChunkingConfig::new().with_size(
                size.parse().expect("chunk size"),
                overlap.parse().expect("chunk overlap"),
            )
        })
        .unwrap_or_default();
    // The model's precision: float32 unless `--precision P` is given.
    let precision: semantik_core::embed::Precision = args
        .iter()
        .position(|a| a == "--precision")
        .and_then(|i| args.get(i + 1))
        .map_or(Ok(Default::default()), |p| p.parse())
        .expect("precision");
    let (dataset, out) = (Path::new(dataset), Path::new(out));
    std::fs::create_dir_all(out).expect("out dir");
    let db_dir = out.join("db");
    if !reuse && db_dir.exists() {
        std::fs::remove_dir_all(&db_dir).expect("remove old db");
    }
    let db = Database::open(&db_dir).expect("open");
    let col = match db.collection("eval") {
        Ok(c) => c,
        Err(_) => db
            .create_collection(
                CollectionConfig::new("eval")
                    .with_chunking(chunking)
                    .with_model_precision(precision),
            )
            .expect("collection"),
    };
    let mut ingest_s = 0.0;
    if col.stats().expect("stats").documents == 0 {
        let corpus = read_jsonl(&dataset.join("corpus.jsonl"));
        let t = Instant::now();
        let mut indexed = 0;
        // In operations of BATCH documents, so that a large corpus is not staged at once.
        for part in corpus.chunks(BATCH) {
            let docs = part.iter().map(|d| {
                let title = d["title"].as_str().unwrap_or_default();
                let text = d["text"].as_str().unwrap_or_default();
                let doc = DocumentInput::new(text).with_id(id_of(&d["_id"]));
                if title.is_empty() {
                    doc
                } else {
                    doc.with_title(title)
                }
            });
            let info = col
                .add_texts(docs)
                .expect("add")
                .wait(None)
                .expect("ingest (run `make model`)");
            indexed += info.progress.documents_indexed();
        }
        ingest_s = t.elapsed().as_secs_f64();
        eprintln!("ingested {indexed} documents in {ingest_s:.1} s");
    }
    let stats = col.stats().expect("stats");
    // The queries that have judgements (a BEIR queries file may hold other splits' too).
    let judged = judged_queries(&qrels_path(dataset));
    let queries: Vec<Value> = read_jsonl(&dataset.join("queries.jsonl"))
        .into_iter()
        .filter(|q| judged.contains(&id_of(&q["_id"])))
        .collect();
    let excluded = read_excluded(&dataset.join("self.tsv"));

    let modes: Vec<(&str, Configure)> = vec![
        ("semantic", Box::new(|s| s.mode(SearchMode::Semantic))),
        (
            "semantic_exact",
            Box::new(|s| s.mode(SearchMode::Semantic).exact()),
        ),
        ("keyword", Box::new(|s| s.mode(SearchMode::Keyword))),
        ("hybrid", Box::new(|s| s.mode(SearchMode::Hybrid))),
        (
            "hybrid_rrf",
            Box::new(|s| s.mode(SearchMode::Hybrid).fusion(Fusion::Rrf { k: 60.0 })),
        ),
        (
            "hybrid_weighted",
            Box::new(|s| {
                s.mode(SearchMode::Hybrid)
                    .fusion(Fusion::Weighted { alpha: 0.7 })
            }),
        ),
    ];
    let mut runs: Vec<serde_json::Map<String, Value>> = vec![Default::default(); modes.len()];
    let mut candidates = serde_json::Map::new();
    let mut texts = Vec::new();
    for q in &queries {
        let qid = id_of(&q["_id"]);
        let qid = qid.as_str();
        let text = q["text"].as_str().expect("query text");
        let skip = excluded.get(qid);
        for ((_, configure), run) in modes.iter().zip(&mut runs) {
            let depth = DEPTH + skip.map_or(0, HashSet::len);
            let hits = configure(col.search(text).max_per_document(1).limit(depth))
                .run()
                .expect("search");
            let docs: serde_json::Map<String, Value> = per_document(&hits, skip)
                .into_iter()
                .map(|(d, s)| (d, json!(s)))
                .collect();
            run.insert(qid.into(), Value::Object(docs));
        }
        let hits = col
            .search(text)
            .mode(SearchMode::Hybrid)
            .limit(CHUNKS)
            .run()
            .expect("search");
        let rows: Vec<Value> = hits
            .iter()
            .filter(|h| skip.is_none_or(|s| !s.contains(&h.document_id)))
            .map(|h| {
                json!([
                    h.document_id,
                    h.chunk_id,
                    h.scores.dense,
                    h.scores.keyword,
                    h.chunk_index
                ])
            })
            .collect();
        candidates.insert(qid.into(), Value::Array(rows));
        texts.push(text.to_string());
    }
    for ((name, _), run) in modes.iter().zip(runs) {
        let path = out.join(format!("run-{name}.json"));
        std::fs::write(&path, serde_json::to_vec(&run).expect("json")).expect("write run");
    }
    let chunk_counts: serde_json::Map<String, Value> = col
        .documents()
        .expect("documents")
        .into_iter()
        .map(|d| (d.id, json!(d.chunk_count)))
        .collect();
    std::fs::write(
        out.join("chunk_counts.json"),
        serde_json::to_vec(&chunk_counts).expect("json"),
    )
    .expect("write chunk counts");
    let mut f = std::fs::File::create(out.join("candidates.json")).expect("candidates");
    f.write_all(&serde_json::to_vec(&candidates).expect("json"))
        .expect("write candidates");

    // Latency: a hybrid query end to end (query embedding included), and a semantic search
    // by a vector embedded beforehand; each query once (the passes above warmed up).
    let time = |mode: SearchMode| latencies(&col, &texts, mode);
    let hybrid_ms = time(SearchMode::Hybrid);
    // Hybrid search by query length: LONG_QUERIES queries of 10, 100 and 300 words (the first
    // words of corpus passages that long, spread over the corpus: pasted paragraphs).
    let corpus = read_jsonl(&dataset.join("corpus.jsonl"));
    let mut by_length = serde_json::Map::new();
    for words in [10usize, 100, 300] {
        let long: Vec<String> = corpus
            .iter()
            .filter_map(|d| {
                let w: Vec<&str> = d["text"].as_str()?.split_whitespace().collect();
                (w.len() >= words).then(|| w[..words].join(" "))
            })
            .collect();
        let step = (long.len() / LONG_QUERIES).max(1);
        let long: Vec<String> = long.into_iter().step_by(step).take(LONG_QUERIES).collect();
        let (hybrid, keyword) = (
            latencies(&col, &long, SearchMode::Hybrid),
            latencies(&col, &long, SearchMode::Keyword),
        );
        by_length.insert(
            words.to_string(),
            json!({
                "p50_ms": percentile(&hybrid, 0.5),
                "p99_ms": percentile(&hybrid, 0.99),
                "keyword_p50_ms": percentile(&keyword, 0.5),
                "queries": hybrid.len(),
            }),
        );
    }
    let keyword_ms = time(SearchMode::Keyword);
    let semantic_ms = time(SearchMode::Semantic);
    let (embedder, _) = semantik_core::embed::resolve(
        &col.info().expect("info").config.model_spec(),
        semantik_core::embed::Device::Cpu,
        &semantik_core::embed::HubConfig::from_env(),
    )
    .expect("model");
    let query_vectors: Vec<Vec<f32>> = texts
        .iter()
        .map(|t| embedder.embed_query(t).expect("embed query"))
        .collect();
    let mut vector_ms = Vec::new();
    for v in &query_vectors {
        let t = Instant::now();
        col.search_by_vector(v.clone()).run().expect("vector");
        vector_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    vector_ms.sort_by(f64::total_cmp);
    println!(
        "{}",
        json!({
            "documents": stats.documents,
            "chunks": stats.chunks,
            "queries": queries.len(),
            "ingest_s": ingest_s,
            "hybrid_p50_ms": percentile(&hybrid_ms, 0.5),
            "hybrid_p99_ms": percentile(&hybrid_ms, 0.99),
            "keyword_p50_ms": percentile(&keyword_ms, 0.5),
            "semantic_p50_ms": percentile(&semantic_ms, 0.5),
            "vector_p50_ms": percentile(&vector_ms, 0.5),
            "vector_p99_ms": percentile(&vector_ms, 0.99),
            "hybrid_by_query_words": by_length,
        })
    );
}
