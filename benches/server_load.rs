//! The load of `make bench-server`: concurrent clients sending vector queries to a search
//! server's HTTP API for a while, optionally with one more client streaming `add` calls, the
//! same client code for semantik and for Chroma. One JSON line out: queries per second, p50
//! and p99 latency, recall@10 against the exact neighbours, and every request that failed.
//!
//! ```text
//! server_load semantik|chroma BASE_URL COLLECTION_ID DATA_DIR CLIENTS SECONDS [--writer] [--token T] [--ef N]
//! ```
//!
//! DATA_DIR is what `scripts/index-data.sh` makes: `queries.f32` (1,000 x 384), `gt.i32` (their
//! exact top-10 among `base.f32`, whose row `r` was added as document `v{r}`) and `base.f32`,
//! from which the writer adds copies as new documents.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const DIM: usize = 384;
const K: usize = 10;
/// Documents per `add` call of the writer.
const ADD_BATCH: usize = 100;

fn read_f32(path: &Path) -> Vec<f32> {
    std::fs::read(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn read_i32(path: &Path) -> Vec<i32> {
    std::fs::read(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .chunks_exact(4)
        .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// One of the two servers: how it is asked, and how its answer names the hits.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Semantik,
    Chroma,
}

struct Target {
    kind: Kind,
    base: String,
    collection: String,
    token: Option<String>,
    /// semantik's HNSW beam, if set (Chroma's is its own default, 100).
    ef: Option<usize>,
}

impl Target {
    fn search_url(&self) -> String {
        match self.kind {
            Kind::Semantik => format!(
                "{}/api/v2/collections/{}/search",
                self.base, self.collection
            ),
            Kind::Chroma => format!(
                "{}/api/v2/tenants/default_tenant/databases/default_database/collections/{}/query",
                self.base, self.collection
            ),
        }
    }

    fn add_url(&self) -> String {
        match self.kind {
            Kind::Semantik => format!(
                "{}/api/v2/collections/{}/documents?queue=true",
                self.base, self.collection
            ),
            Kind::Chroma => format!(
                "{}/api/v2/tenants/default_tenant/databases/default_database/collections/{}/add",
                self.base, self.collection
            ),
        }
    }

    fn query_body(&self, q: &[f32]) -> String {
        match self.kind {
            Kind::Semantik => {
                let mut body = json!({"vector": q, "limit": K});
                if let Some(ef) = self.ef {
                    body["ef"] = json!(ef);
                }
                body.to_string()
            }
            Kind::Chroma => json!({
                "query_embeddings": [q],
                "n_results": K,
                "include": ["documents", "distances"],
            })
            .to_string(),
        }
    }

    fn add_body(&self, first: usize, vectors: &[&[f32]]) -> String {
        let ids: Vec<String> = (first..first + vectors.len())
            .map(|i| format!("w{i}"))
            .collect();
        match self.kind {
            Kind::Semantik => json!({"documents": ids.iter().zip(vectors).map(|(id, v)| json!({
                "id": id, "text": format!("added {id}"), "vector": v,
            })).collect::<Vec<_>>()})
            .to_string(),
            Kind::Chroma => json!({
                "ids": ids,
                "embeddings": vectors,
                "documents": ids.iter().map(|id| format!("added {id}")).collect::<Vec<_>>(),
            })
            .to_string(),
        }
    }

    /// The rows of the hits of an answer (`v{row}` documents; others, the writer's, are -1).
    fn rows(&self, answer: &str) -> Option<Vec<i64>> {
        let v: Value = serde_json::from_str(answer).ok()?;
        let ids: Vec<&str> = match self.kind {
            Kind::Semantik => v["results"]
                .as_array()?
                .iter()
                .filter_map(|h| h["document_id"].as_str())
                .collect(),
            Kind::Chroma => v["ids"][0]
                .as_array()?
                .iter()
                .filter_map(Value::as_str)
                .collect(),
        };
        Some(
            ids.iter()
                .map(|id| {
                    id.strip_prefix('v')
                        .and_then(|r| r.parse().ok())
                        .unwrap_or(-1)
                })
                .collect(),
        )
    }

    fn post(&self, agent: &ureq::Agent, url: &str, body: &str) -> Result<String, String> {
        let mut request = agent.post(url).set("Content-Type", "application/json");
        if let Some(t) = &self.token {
            request = request.set("Authorization", &format!("Bearer {t}"));
        }
        match request.send_string(body) {
            Ok(r) => r.into_string().map_err(|e| e.to_string()),
            Err(ureq::Error::Status(code, r)) => {
                Err(format!("{code}: {}", r.into_string().unwrap_or_default()))
            }
            Err(e) => Err(e.to_string()),
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 6 {
        eprintln!(
            "usage: server_load semantik|chroma BASE_URL COLLECTION_ID DATA_DIR CLIENTS SECONDS [--writer] [--token T] [--ef N]"
        );
        std::process::exit(2);
    }
    let kind = match args[0].as_str() {
        "semantik" => Kind::Semantik,
        "chroma" => Kind::Chroma,
        other => panic!("unknown server {other}"),
    };
    let token = args
        .iter()
        .position(|a| a == "--token")
        .map(|i| args[i + 1].clone());
    let ef = args
        .iter()
        .position(|a| a == "--ef")
        .map(|i| args[i + 1].parse().expect("--ef N"));
    let target = Arc::new(Target {
        kind,
        base: args[1].clone(),
        collection: args[2].clone(),
        token,
        ef,
    });
    let dir = Path::new(&args[3]);
    let clients: usize = args[4].parse().expect("CLIENTS");
    let seconds: f64 = args[5].parse().expect("SECONDS");
    let writer = args.iter().any(|a| a == "--writer");

    let queries = read_f32(&dir.join("queries.f32"));
    let gt = read_i32(&dir.join("gt.i32"));
    let nq = queries.len() / DIM;
    let bodies: Arc<Vec<String>> = Arc::new(
        queries
            .chunks_exact(DIM)
            .map(|q| target.query_body(q))
            .collect(),
    );
    let gt: Arc<Vec<i32>> = Arc::new(gt);

    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let first_error = Arc::new(std::sync::Mutex::new(None::<String>));
    let started = Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|c| {
            let (target, bodies, gt, stop, errors, first_error) = (
                target.clone(),
                bodies.clone(),
                gt.clone(),
                stop.clone(),
                errors.clone(),
                first_error.clone(),
            );
            std::thread::spawn(move || {
                let agent = ureq::AgentBuilder::new()
                    .timeout(Duration::from_secs(60))
                    .max_idle_connections_per_host(1)
                    .build();
                let url = target.search_url();
                let (mut latencies, mut found, mut asked) = (Vec::new(), 0usize, 0usize);
                let mut i = c * 7919;
                while !stop.load(Ordering::Relaxed) {
                    let q = i % nq;
                    i += 1;
                    let t = Instant::now();
                    match target.post(&agent, &url, &bodies[q]) {
                        Ok(answer) => {
                            latencies.push(t.elapsed().as_secs_f64());
                            let truth = &gt[q * K..(q + 1) * K];
                            match target.rows(&answer) {
                                Some(rows) => {
                                    found += rows
                                        .iter()
                                        .filter(|r| truth.contains(&(**r as i32)))
                                        .count();
                                    asked += K;
                                }
                                None => {
                                    errors.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                        }
                        Err(e) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                            first_error.lock().unwrap().get_or_insert(e);
                        }
                    }
                }
                (latencies, found, asked)
            })
        })
        .collect();

    let writer = writer.then(|| {
        let (target, stop, first_error) = (target.clone(), stop.clone(), first_error.clone());
        let base = read_f32(&dir.join("base.f32"));
        std::thread::spawn(move || {
            let agent = ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(120))
                .build();
            let url = target.add_url();
            let rows: Vec<&[f32]> = base.chunks_exact(DIM).collect();
            let (mut added, mut failed, mut next) = (0usize, 0u64, 0usize);
            while !stop.load(Ordering::Relaxed) {
                let batch: Vec<&[f32]> = (0..ADD_BATCH)
                    .map(|j| rows[(next + j) % rows.len()])
                    .collect();
                match target.post(&agent, &url, &target.add_body(next, &batch)) {
                    Ok(_) => added += batch.len(),
                    Err(e) => {
                        failed += 1;
                        first_error.lock().unwrap().get_or_insert(e);
                    }
                }
                next += ADD_BATCH;
            }
            (added, failed)
        })
    });

    std::thread::sleep(Duration::from_secs_f64(seconds));
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    let (mut latencies, mut found, mut asked) = (Vec::new(), 0, 0);
    for w in workers {
        let (l, f, a) = w.join().expect("client thread");
        latencies.extend(l);
        found += f;
        asked += a;
    }
    let (added, writer_errors) = writer.map_or((0, 0), |w| w.join().expect("writer thread"));
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |s| s * 1000.0)
    };
    let out = json!({
        "clients": clients,
        "seconds": elapsed,
        "queries": latencies.len(),
        "qps": latencies.len() as f64 / elapsed,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "recall10": if asked > 0 { found as f64 / asked as f64 } else { 0.0 },
        "errors": errors.load(Ordering::Relaxed) + writer_errors,
        "added": added,
        "first_error": *first_error.lock().unwrap(),
    });
    println!("{out}");
}
