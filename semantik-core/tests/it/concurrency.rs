//! The concurrency soak: 8 searching threads, 1 writer (adds, replacements, deletes) and 1
//! thread listing operations, following events and verifying the live database, for
//! `SEMANTIK_SOAK_SECONDS` (20 s in `make test`, 10 minutes in `make soak`).
//!
//! Every passage of a document carries its marker `[dN vV]`. A search must never return a
//! chunk of a document whose delete had completed before the search started, nor an older
//! version of a document whose replacement had completed before it started, nor a version
//! that was never written; every call must succeed, no thread may panic, memory must stay
//! bounded while the collection's size does. One JSON line of figures at the end.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use semantik_core::{
    ChunkingConfig, Collection, CollectionConfig, DocumentInput, OperationFilter, SearchMode,
};

use crate::common::{TEST_MODEL, temp_db};

const SEARCHERS: usize = 8;
/// Documents the writer keeps in the collection (it deletes as many as it adds).
const LIVE: u64 = 120;
const PER_ROUND: u64 = 12;

/// What searches may see: the outcome of every write that has completed.
#[derive(Debug, Default, Clone)]
struct Committed {
    /// Latest completed version of each live document.
    versions: HashMap<u64, u64>,
    /// Documents whose delete completed.
    deleted: HashSet<u64>,
}

#[derive(Debug, Default)]
struct Shared {
    committed: RwLock<Arc<Committed>>,
    /// Highest version ever submitted per document (a hit above it was never written).
    submitted: Mutex<HashMap<u64, u64>>,
    stop: AtomicBool,
    searches: AtomicU64,
    hits: AtomicU64,
    listed: AtomicU64,
    events: AtomicU64,
    verifies: AtomicU64,
    rounds: AtomicU64,
    problems: Mutex<Vec<String>>,
}

impl Shared {
    fn problem(&self, p: String) {
        let mut all = self.problems.lock().unwrap();
        if all.len() < 20 {
            all.push(p);
        }
    }
}

fn text_of(id: u64, version: u64) -> String {
    const WORDS: [&str; 12] = [
        "ledger", "harbour", "lantern", "quarry", "meadow", "copper", "violin", "glacier",
        "orchard", "signal", "timber", "compass",
    ];
    (0..3)
        .map(|p| {
            let w = |k: u64| WORDS[((id * 7 + version * 3 + p + k) % 12) as usize];
            format!(
                "[d{id} v{version}] paragraph {p} of document {id} speaks of the {} and the {}, \
                 then of the {} near the {}.",
                w(0),
                w(1),
                w(5),
                w(9)
            )
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// The `[dN vV]` marker of a chunk's text.
fn marker(text: &str) -> Option<(u64, u64)> {
    let rest = &text[text.find("[d")? + 2..];
    let (id, rest) = rest.split_once(" v")?;
    let (version, _) = rest.split_once(']')?;
    Some((id.parse().ok()?, version.parse().ok()?))
}

fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

fn writer(col: &Collection, shared: &Shared) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let mut next_id = 0u64;
    let submit = |docs: &[(u64, u64)]| -> Vec<DocumentInput> {
        let mut s = shared.submitted.lock().unwrap();
        docs.iter()
            .map(|&(id, v)| {
                s.insert(id, v);
                DocumentInput::new(text_of(id, v)).with_id(format!("d{id}"))
            })
            .collect()
    };
    let publish = |change: &dyn Fn(&mut Committed)| {
        let mut guard = shared.committed.write().unwrap();
        let mut next = (**guard).clone();
        change(&mut next);
        *guard = Arc::new(next);
    };
    let fail = |what: &str, e: semantik_core::Error| shared.problem(format!("{what}: {e}"));
    while !shared.stop.load(Ordering::SeqCst) {
        // Add new documents.
        let new: Vec<(u64, u64)> = (next_id..next_id + PER_ROUND).map(|id| (id, 0)).collect();
        next_id += PER_ROUND;
        match col.add_texts(submit(&new)).and_then(|op| op.wait(None)) {
            Ok(_) => publish(&|c| c.versions.extend(new.iter().copied())),
            Err(e) => return fail("add", e),
        }
        let live: Vec<(u64, u64)> = {
            let c = shared.committed.read().unwrap();
            let mut v: Vec<_> = c.versions.iter().map(|(&k, &v)| (k, v)).collect();
            v.sort_unstable();
            v
        };
        // Replace a few with their next version.
        let replaced: Vec<(u64, u64)> = (0..4)
            .map(|_| live[rng.random_range(0..live.len())])
            .map(|(id, v)| (id, v + 1))
            .collect::<HashMap<_, _>>()
            .into_iter()
            .collect();
        match col
            .add_texts(submit(&replaced))
            .and_then(|op| op.wait(None))
        {
            Ok(_) => publish(&|c| c.versions.extend(replaced.iter().copied())),
            Err(e) => return fail("replace", e),
        }
        // Delete the oldest beyond the live size.
        let excess = (live.len() as u64).saturating_sub(LIVE);
        let gone: Vec<u64> = live
            .iter()
            .take(excess as usize)
            .map(|&(id, _)| id)
            .collect();
        if !gone.is_empty() {
            let ids: Vec<String> = gone.iter().map(|id| format!("d{id}")).collect();
            match col.delete_documents(ids).and_then(|op| op.wait(None)) {
                Ok(_) => publish(&|c| {
                    for id in &gone {
                        c.versions.remove(id);
                        c.deleted.insert(*id);
                    }
                }),
                Err(e) => return fail("delete", e),
            }
        }
        shared.rounds.fetch_add(1, Ordering::Relaxed);
    }
}

fn searcher(col: &Collection, shared: &Shared, seed: u64) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let modes = [
        SearchMode::Semantic,
        SearchMode::Keyword,
        SearchMode::Hybrid,
    ];
    while !shared.stop.load(Ordering::SeqCst) {
        let before = shared.committed.read().unwrap().clone();
        let id = rng.random_range(0..before.versions.len().max(1) as u64 * 2);
        let query = text_of(id, rng.random_range(0..3));
        let mode = modes[rng.random_range(0..modes.len())];
        let hits = match col.search(&query).mode(mode).limit(20).run() {
            Ok(h) => h,
            Err(e) => return shared.problem(format!("search: {e}")),
        };
        shared.searches.fetch_add(1, Ordering::Relaxed);
        shared.hits.fetch_add(hits.len() as u64, Ordering::Relaxed);
        let submitted = shared.submitted.lock().unwrap().clone();
        for h in &hits {
            let Some((doc, version)) = marker(&h.text) else {
                return shared.problem(format!("hit without marker: {:?}", h.text));
            };
            let problem = if h.document_id != format!("d{doc}") {
                Some(format!("chunk of d{doc} returned as {}", h.document_id))
            } else if before.deleted.contains(&doc) {
                Some(format!("d{doc} returned after its delete completed"))
            } else if before.versions.get(&doc).is_some_and(|&v| version < v) {
                Some(format!(
                    "d{doc} v{version} returned after v{} completed",
                    before.versions[&doc]
                ))
            } else if submitted.get(&doc).is_none_or(|&v| version > v) {
                Some(format!("d{doc} v{version} was never written"))
            } else {
                None
            };
            if let Some(p) = problem {
                return shared.problem(p);
            }
        }
    }
}

fn observer(db: &semantik_core::Database, col: &Collection, shared: &Shared) {
    let events = db.events();
    let mut last_verify = Instant::now();
    while !shared.stop.load(Ordering::SeqCst) {
        match (
            db.operations(OperationFilter::all()),
            col.operations(OperationFilter::all()),
        ) {
            (Ok(_), Ok(_)) => shared.listed.fetch_add(2, Ordering::Relaxed),
            (Err(e), _) | (_, Err(e)) => return shared.problem(format!("list: {e}")),
        };
        // A bounded drain: listings and verifies must not starve behind a stream of events.
        for _ in 0..200 {
            if events.recv_timeout(Duration::from_millis(20)).is_none() {
                break;
            }
            shared.events.fetch_add(1, Ordering::Relaxed);
        }
        if last_verify.elapsed() > Duration::from_secs(2) {
            match db.verify() {
                Ok(r) if r.is_ok() => shared.verifies.fetch_add(1, Ordering::Relaxed),
                Ok(r) => return shared.problem(format!("live verify: {r}")),
                Err(e) => return shared.problem(format!("live verify failed: {e}")),
            };
            last_verify = Instant::now();
        }
    }
}

#[test]
fn searches_writes_listings_and_events_together_stay_correct() {
    let seconds: u64 = std::env::var("SEMANTIK_SOAK_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let (_dir, db) = temp_db();
    let col = db
        .create_collection(
            CollectionConfig::new("soak")
                .with_model(TEST_MODEL)
                .with_chunking(ChunkingConfig::characters(180, 0)),
        )
        .unwrap();
    let shared = Arc::new(Shared::default());
    let start = Instant::now();
    let mut rss_quarter = 0;
    let panics = std::thread::scope(|s| {
        let mut handles = vec![s.spawn(|| writer(&col, &shared))];
        for i in 0..SEARCHERS {
            let (col, shared) = (&col, &shared);
            handles.push(s.spawn(move || searcher(col, shared, i as u64 + 10)));
        }
        handles.push(s.spawn(|| observer(&db, &col, &shared)));
        let deadline = start + Duration::from_secs(seconds);
        while Instant::now() < deadline && shared.problems.lock().unwrap().is_empty() {
            std::thread::sleep(Duration::from_millis(100));
            if rss_quarter == 0 && start.elapsed() * 4 >= Duration::from_secs(seconds) {
                rss_quarter = rss_kib("VmRSS:");
            }
        }
        shared.stop.store(true, Ordering::SeqCst);
        handles
            .into_iter()
            .map(|h| h.join())
            .filter(Result::is_err)
            .count()
    });
    let rss_end = rss_kib("VmRSS:");
    let peak = rss_kib("VmHWM:");
    let problems = shared.problems.lock().unwrap().clone();
    let c = shared.committed.read().unwrap().clone();
    println!(
        "CONCURRENCY_SOAK {{\"seconds\": {:.1}, \"searches\": {}, \"hits_checked\": {}, \
         \"writer_rounds\": {}, \"documents_live\": {}, \"documents_deleted\": {}, \
         \"operation_listings\": {}, \"events\": {}, \"live_verifies\": {}, \"errors\": {}, \
         \"panics\": {panics}, \"rss_quarter_mib\": {}, \"rss_end_mib\": {}, \"peak_rss_mib\": {}}}",
        start.elapsed().as_secs_f64(),
        shared.searches.load(Ordering::Relaxed),
        shared.hits.load(Ordering::Relaxed),
        shared.rounds.load(Ordering::Relaxed),
        c.versions.len(),
        c.deleted.len(),
        shared.listed.load(Ordering::Relaxed),
        shared.events.load(Ordering::Relaxed),
        shared.verifies.load(Ordering::Relaxed),
        problems.len(),
        rss_quarter / 1024,
        rss_end / 1024,
        peak / 1024,
    );
    assert_eq!(panics, 0, "a thread panicked");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(shared.rounds.load(Ordering::Relaxed) >= 3);
    assert!(shared.searches.load(Ordering::Relaxed) >= 100);
    assert!(shared.verifies.load(Ordering::Relaxed) >= 1);
    // The collection holds about LIVE documents throughout: memory must not keep growing
    // with the writes. (Checked in the soak, where this test runs alone in its process.)
    assert!(
        seconds < 120 || rss_end <= rss_quarter * 3 / 2 + 64 * 1024,
        "RSS grew from {rss_quarter} KiB to {rss_end} KiB"
    );
}
