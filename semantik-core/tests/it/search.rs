//! Search through the public API: BM25 against a reference computation, hybrid fusion,
//! filters, thresholds, paging, reranking, multi-collection search, model prompts.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use semantik_core::embed::{DEFAULT_MODEL, Embedder, HashEmbedder, SentenceEmbedder};
use semantik_core::rerank::Reranker;
use semantik_core::search::Filter;
use semantik_core::{
    ChunkingConfig, CollectionConfig, DocumentInput, ErrorCode, Fusion, KeywordConfig, Metadata,
    Result, SearchMode, SourceOptions,
};

use crate::common::{TEST_MODEL, open, temp_db, text_collection};

/// Words that the English analyser keeps as they are (no stopword, stem = word).
const WORDS: [&str; 8] = ["cat", "dog", "fish", "bird", "tree", "rock", "sand", "wind"];

/// One chunk per document, so that BM25 documents are the documents.
fn whole_documents(name: &str) -> CollectionConfig {
    text_collection(name).with_chunking(ChunkingConfig::characters(100_000, 0))
}

/// BM25 (Lucene variant, k1 1.5, b 0.75) of `query` over `docs`, computed from scratch.
fn reference_bm25(docs: &BTreeMap<String, Vec<&str>>, query: &[&str]) -> HashMap<String, f64> {
    let n = docs.len() as f64;
    let avg = docs.values().map(|d| d.len() as f64).sum::<f64>() / n;
    let mut terms: Vec<&str> = query.to_vec();
    terms.sort_unstable();
    terms.dedup();
    let mut out = HashMap::new();
    for t in terms {
        let df = docs.values().filter(|d| d.contains(&t)).count() as f64;
        let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
        for (id, d) in docs {
            let tf = d.iter().filter(|w| **w == t).count() as f64;
            if tf > 0.0 {
                let norm = 1.5 * (1.0 - 0.75 + 0.75 * d.len() as f64 / avg);
                *out.entry(id.clone()).or_insert(0.0) += idf * tf / (tf + norm);
            }
        }
    }
    out
}

fn doc_words() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(0..WORDS.len(), 1..12)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    /// Keyword scores equal BM25 computed from scratch over the live documents, after adds,
    /// replacements and deletes (statistics stay exact).
    #[test]
    fn bm25_scores_equal_a_reference_after_replacements_and_deletes(
        first in prop::collection::vec(doc_words(), 2..12),
        replaced in prop::collection::vec((0..12usize, doc_words()), 0..4),
        deleted in prop::collection::vec(0..12usize, 0..4),
        query in prop::collection::vec(0..WORDS.len(), 1..4),
    ) {
        let (_dir, db) = temp_db();
        let col = db.create_collection(whole_documents("bm25")).unwrap();
        let text = |ws: &[usize]| ws.iter().map(|&w| WORDS[w]).collect::<Vec<_>>().join(" ");
        let mut live: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        let inputs: Vec<DocumentInput> = first
            .iter()
            .enumerate()
            .map(|(i, ws)| {
                live.insert(format!("d{i}"), ws.iter().map(|&w| WORDS[w]).collect());
                DocumentInput::new(text(ws)).with_id(format!("d{i}"))
            })
            .collect();
        col.add_texts(inputs).unwrap().wait(None).unwrap();
        // One replacement per id (the last one given).
        let replaced: BTreeMap<usize, &Vec<usize>> = replaced
            .iter()
            .filter(|(i, _)| *i < first.len())
            .map(|(i, ws)| (*i, ws))
            .collect();
        let replacements: Vec<DocumentInput> = replaced
            .iter()
            .map(|(i, ws)| {
                live.insert(format!("d{i}"), ws.iter().map(|&w| WORDS[w]).collect());
                DocumentInput::new(text(ws)).with_id(format!("d{i}"))
            })
            .collect();
        if !replacements.is_empty() {
            col.add_texts(replacements).unwrap().wait(None).unwrap();
        }
        let mut gone: Vec<String> = deleted
            .iter()
            .filter(|&&i| i < first.len())
            .map(|i| format!("d{i}"))
            .collect();
        gone.sort();
        gone.dedup();
        if !gone.is_empty() {
            col.delete_documents(gone.clone()).unwrap().wait(None).unwrap();
            for g in &gone {
                live.remove(g);
            }
        }
        prop_assume!(!live.is_empty());
        let q: Vec<&str> = query.iter().map(|&w| WORDS[w]).collect();
        let expected = reference_bm25(&live, &q);
        let hits = col
            .search(&q.join(" "))
            .mode(SearchMode::Keyword)
            .limit(100)
            .run()
            .unwrap();
        prop_assert_eq!(hits.len(), expected.len());
        // The raw BM25 is in `scores`; the final score is it over the query's best.
        let best = hits.iter().filter_map(|h| h.scores.keyword).fold(0.0, f32::max);
        for h in &hits {
            let want = expected[&h.document_id];
            let bm25 = h.scores.keyword.unwrap();
            prop_assert!((f64::from(bm25) - want).abs() < 1e-4 * want.max(1.0),
                "{}: {} vs reference {}", h.document_id, bm25, want);
            prop_assert!((h.score - bm25 / best).abs() < 1e-6);
            prop_assert!(!h.matched_terms.is_empty());
        }
        for w in hits.windows(2) {
            prop_assert!(w[0].score >= w[1].score);
        }
    }
}

#[test]
fn keyword_search_stems_highlights_and_leaves_no_postings_behind() {
    let (dir, db) = temp_db();
    let col = db.create_collection(whole_documents("kw")).unwrap();
    col.add_texts([
        DocumentInput::new("Indexing documents runs in the background.").with_id("a"),
        DocumentInput::new("The index of a book lists its terms.").with_id("b"),
        DocumentInput::new("Nothing relevant here at all.").with_id("c"),
    ])
    .unwrap()
    .wait(None)
    .unwrap();
    let hits = col
        .search("indexes")
        .mode(SearchMode::Keyword)
        .run()
        .unwrap();
    let ids: Vec<&str> = hits.iter().map(|h| h.document_id.as_str()).collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&"a") && ids.contains(&"b"));
    let a = hits.iter().find(|h| h.document_id == "a").unwrap();
    assert_eq!(a.matched_terms, ["Indexing"]);
    assert_eq!(a.scores.dense, None);
    // Stopwords alone match nothing.
    assert!(
        col.search("the of a")
            .mode(SearchMode::Keyword)
            .run()
            .unwrap()
            .is_empty()
    );
    // Deleting and replacing removes postings with the chunks.
    col.delete_documents(["a"]).unwrap().wait(None).unwrap();
    col.add_texts([DocumentInput::new("A book without that word.").with_id("b")])
        .unwrap()
        .wait(None)
        .unwrap();
    assert!(
        col.search("index")
            .mode(SearchMode::Keyword)
            .run()
            .unwrap()
            .is_empty()
    );
    let hits = col.search("book").mode(SearchMode::Keyword).run().unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].text, "A book without that word.");
    // A document's title is searchable and kept, though not part of its text.
    col.add_texts([DocumentInput::new("Use a key function.").with_title("Sorting HOWTO")])
        .unwrap()
        .wait(None)
        .unwrap();
    let hits = col.search("howto").mode(SearchMode::Keyword).run().unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].title.as_deref(), Some("Sorting HOWTO"));
    assert_eq!(hits[0].text, "Use a key function.");
    // The postings kept in memory through those writes answer as those read afresh on reopen.
    let queries = [
        "book word",
        "key function sorting",
        "nothing relevant",
        "index",
    ];
    let answers = |col: &semantik_core::Collection| -> Vec<Vec<(String, u32)>> {
        queries
            .iter()
            .map(|q| {
                let hits = col.search(q).mode(SearchMode::Keyword).run().unwrap();
                let score = |h: &semantik_core::search::Hit| h.scores.keyword.unwrap().to_bits();
                hits.iter()
                    .map(|h| (h.document_id.clone(), score(h)))
                    .collect()
            })
            .collect()
    };
    let before = answers(&col);
    assert_eq!(before[2].len(), 1);
    drop(col);
    drop(db);
    let db = open(dir.path());
    assert_eq!(answers(&db.collection("kw").unwrap()), before);
}

#[test]
fn a_reindex_changes_the_keyword_language_and_bad_settings_are_refused() {
    let (_dir, db) = temp_db();
    let col = db
        .create_collection(whole_documents("lang").with_keyword(KeywordConfig::language("none")))
        .unwrap();
    col.add_texts(["The dogs were running home."])
        .unwrap()
        .wait(None)
        .unwrap();
    let find = |q: &str| col.search(q).mode(SearchMode::Keyword).run().unwrap().len();
    assert_eq!((find("run"), find("running"), find("the")), (0, 1, 1));
    col.reindex()
        .keyword(KeywordConfig::language("english"))
        .start()
        .unwrap()
        .wait(None)
        .unwrap();
    assert_eq!((find("run"), find("dog"), find("the")), (1, 1, 0));
    assert_eq!(col.info().unwrap().config.keyword.language, "english");
    for bad in [
        KeywordConfig::language("klingon"),
        KeywordConfig::default().with_bm25(-1.0, 0.5),
    ] {
        let err = db
            .create_collection(whole_documents("bad").with_keyword(bad))
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidArgument);
    }
}

#[test]
fn hybrid_hits_carry_both_scores_and_fusions_differ() {
    let (_dir, db) = temp_db();
    let col = db.create_collection(whole_documents("hy")).unwrap();
    let texts: Vec<String> = (0..40)
        .map(|i| {
            format!(
                "passage {i} about {} and {}",
                WORDS[i % 8],
                WORDS[(i / 8) % 8]
            )
        })
        .collect();
    col.add_texts(texts.iter().map(|t| DocumentInput::new(t.clone())))
        .unwrap()
        .wait(None)
        .unwrap();
    for fusion in [
        Fusion::default(),
        Fusion::Rrf { k: 60.0 },
        Fusion::Weighted { alpha: 0.3 },
    ] {
        let hits = col
            .search("cat tree")
            .mode(SearchMode::Hybrid)
            .fusion(fusion)
            .limit(10)
            .run()
            .unwrap();
        assert_eq!(hits.len(), 10, "{fusion:?}");
        for h in &hits {
            assert!(
                h.scores.dense.is_some(),
                "every candidate has its dense score"
            );
            assert!(h.scores.keyword.is_some(), "and its keyword score");
        }
        for w in hits.windows(2) {
            assert!(w[0].score >= w[1].score);
        }
    }
    // The chunk matching both words is the best keyword match, and hybrid keeps it on top
    // when keywords weigh most.
    let hits = col
        .search("cat tree")
        .mode(SearchMode::Hybrid)
        .fusion(Fusion::Weighted { alpha: 0.1 })
        .run()
        .unwrap();
    assert_eq!(hits[0].matched_terms.len(), 2, "{:?}", hits[0]);
    // A search by vector is semantic only.
    let err = col
        .search_by_vector(vec![0.1; 64])
        .mode(SearchMode::Hybrid)
        .run()
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidArgument);
}

/// The documents `filter` should pass, computed from the stored records: (id, condition) pairs
/// checked one by one, the way a user would.
fn filtered_by_hand(
    col: &semantik_core::Collection,
    lang: Option<&str>,
    year: Option<(f64, f64)>,
    under: Option<&std::path::Path>,
) -> Vec<String> {
    let mut ids: Vec<String> = col
        .documents()
        .unwrap()
        .into_iter()
        .filter(|d| d.status == semantik_core::DocumentStatus::Indexed && d.chunk_count > 0)
        .filter(|d| lang.is_none_or(|l| d.metadata.get("lang") == Some(&l.into())))
        .filter(|d| {
            year.is_none_or(|(lo, hi)| {
                d.metadata
                    .get("year")
                    .and_then(|y| y.as_f64())
                    .is_some_and(|y| y >= lo && y <= hi)
            })
        })
        .filter(|d| under.is_none_or(|u| d.source.as_deref().is_some_and(|s| s.starts_with(u))))
        .map(|d| d.id)
        .collect();
    ids.sort_unstable();
    ids
}

#[test]
fn filters_stay_exact_through_adds_replacements_deletions_and_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(src.path().join("a/b")).unwrap();
    std::fs::create_dir_all(src.path().join("ab")).unwrap();
    for (name, text) in [
        ("a/x.txt", "cat in a"),
        ("a/b/y.txt", "cat in a/b"),
        ("ab/z.txt", "cat in ab"),
    ] {
        std::fs::write(src.path().join(name), text).unwrap();
    }
    let doc = |i: usize, lang: &str| {
        let mut m = Metadata::new();
        m.insert("year".into(), (2000 + i % 20).into());
        m.insert("lang".into(), lang.into());
        DocumentInput::new(format!("{} cat notes {i}", WORDS[i % 8]))
            .with_id(format!("d{i:03}"))
            .with_metadata(m)
    };
    let check = |col: &semantik_core::Collection| {
        type Case<'a> = (
            Option<&'a str>,
            Option<(f64, f64)>,
            Option<std::path::PathBuf>,
        );
        let cases: [Case; 7] = [
            (Some("en"), None, None),
            (Some("de"), Some((2003.0, 2011.0)), None),
            (Some("de"), Some((2011.0, 2003.0)), None), // inverted: nothing passes
            (None, Some((2015.0, 2100.0)), None),
            (Some("fr"), None, None),
            (None, None, Some(src.path().join("a"))),
            (None, None, Some(src.path().join("a/b"))),
        ];
        for (lang, year, under) in cases {
            let mut f = Filter::new();
            if let Some(l) = lang {
                f = f.metadata_eq("lang", l);
            }
            if let Some((lo, hi)) = year {
                f = f.metadata_range("year", Some(lo), Some(hi));
            }
            if let Some(u) = &under {
                f = f.source_under(u);
            }
            let mut got: Vec<String> = col
                .search("cat")
                .mode(SearchMode::Keyword)
                .filter(f)
                .limit(1000)
                .run()
                .unwrap()
                .into_iter()
                .map(|h| h.document_id)
                .collect();
            got.sort_unstable();
            assert_eq!(
                got,
                filtered_by_hand(col, lang, year, under.as_deref()),
                "{lang:?} {year:?} {under:?}"
            );
        }
    };
    {
        let db = open(dir.path());
        let col = db.create_collection(whole_documents("f")).unwrap();
        col.add_texts((0..60).map(|i| doc(i, if i % 3 == 0 { "en" } else { "de" })))
            .unwrap()
            .wait(None)
            .unwrap();
        check(&col); // the first filtered search loads the table
        col.add_source(src.path(), SourceOptions::default())
            .unwrap()
            .wait(None)
            .unwrap();
        check(&col);
        // Replacements change a document's metadata; deletions remove documents.
        col.add_texts((0..20).map(|i| doc(i, "fr")))
            .unwrap()
            .wait(None)
            .unwrap();
        check(&col);
        col.delete_documents((40..60).map(|i| format!("d{i:03}")))
            .unwrap()
            .wait(None)
            .unwrap();
        std::fs::remove_file(src.path().join("a/b/y.txt")).unwrap();
        col.append().unwrap().wait(None).unwrap();
        check(&col);
        col.compact().unwrap().wait(None).unwrap();
        check(&col);
    }
    let db = open(dir.path());
    check(&db.collection("f").unwrap());
}

#[test]
fn filters_threshold_and_pages() {
    let (_dir, db) = temp_db();
    let col = db.create_collection(whole_documents("f")).unwrap();
    let docs = (0..30).map(|i| {
        let mut m = Metadata::new();
        m.insert("year".into(), (2000 + i).into());
        m.insert("lang".into(), if i % 2 == 0 { "en" } else { "de" }.into());
        DocumentInput::new(format!("{} notes number {i}", WORDS[i % 8]))
            .with_id(format!("d{i:02}"))
            .with_metadata(m)
    });
    col.add_texts(docs).unwrap().wait(None).unwrap();
    let src = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(src.path().join("sub")).unwrap();
    std::fs::write(
        src.path().join("sub/x.md"),
        "# Cat\n\ncat notes in markdown",
    )
    .unwrap();
    std::fs::write(src.path().join("y.txt"), "cat notes in plain text").unwrap();
    col.add_source(src.path(), SourceOptions::default())
        .unwrap()
        .wait(None)
        .unwrap();

    let run = |f: Filter| col.search("cat notes").filter(f).limit(50).run().unwrap();
    let en = run(Filter::new().metadata_eq("lang", "en"));
    assert_eq!(en.len(), 15);
    assert!(en.iter().all(|h| h.metadata["lang"] == "en"));
    let range = run(Filter::new().metadata_range("year", Some(2010.0), Some(2014.0)));
    let mut ids: Vec<&str> = range.iter().map(|h| h.document_id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["d10", "d11", "d12", "d13", "d14"]);
    let both =
        run(Filter::new()
            .metadata_eq("lang", "de")
            .metadata_range("year", None, Some(2005.0)));
    assert_eq!(both.len(), 3);
    let under = run(Filter::new().source_under(src.path().join("sub")));
    assert_eq!(under.len(), 1);
    assert!(under[0].source.as_ref().unwrap().ends_with("sub/x.md"));
    let md = run(Filter::new().media_type("text/markdown"));
    assert_eq!(md.len(), 1);
    // Filters apply to keyword search too.
    let kw = col
        .search("cat")
        .mode(SearchMode::Keyword)
        .filter(Filter::new().metadata_eq("lang", "de"))
        .run()
        .unwrap();
    assert!(kw.iter().all(|h| h.metadata["lang"] == "de"));

    // Threshold: only hits at or above it.
    let all = col.search("cat notes").limit(50).run().unwrap();
    let cut = all[5].score;
    let above = col
        .search("cat notes")
        .limit(50)
        .score_threshold(cut)
        .run()
        .unwrap();
    assert!(above.len() >= 6 && above.iter().all(|h| h.score >= cut));

    // Pages of any mode neither repeat nor skip.
    for mode in [
        SearchMode::Semantic,
        SearchMode::Keyword,
        SearchMode::Hybrid,
    ] {
        let whole = col.search("cat notes").mode(mode).limit(20).run().unwrap();
        let mut paged = Vec::new();
        for page in 0..4 {
            paged.extend(
                col.search("cat notes")
                    .mode(mode)
                    .offset(page * 5)
                    .limit(5)
                    .run()
                    .unwrap()
                    .into_iter()
                    .map(|h| h.chunk_id),
            );
        }
        let expected: Vec<u64> = whole.iter().map(|h| h.chunk_id).collect();
        assert_eq!(paged, expected, "{mode:?}");
    }
    let err = col.search("x").limit(0).run().unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidArgument);
    let err = col
        .search("x")
        .mode(SearchMode::Hybrid)
        .fusion(Fusion::Weighted { alpha: 2.0 })
        .run()
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidArgument);
    // Huge limits and offsets are answered, not overflowed.
    assert!(
        col.search("cat")
            .limit(usize::MAX)
            .offset(usize::MAX)
            .run()
            .unwrap()
            .is_empty()
    );
    assert_eq!(col.search("cat").limit(usize::MAX).run().unwrap().len(), 32);
}

/// Scores a passage by how many times it contains `word`; counts its calls and passages.
#[derive(Debug)]
struct CountingReranker {
    word: &'static str,
    calls: AtomicUsize,
    passages: AtomicUsize,
}

impl Reranker for CountingReranker {
    fn score(&self, _query: &str, passages: &[&str]) -> Result<Vec<f32>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.passages.fetch_add(passages.len(), Ordering::SeqCst);
        Ok(passages
            .iter()
            .map(|p| p.matches(self.word).count() as f32)
            .collect())
    }
}

#[test]
fn rerank_reorders_the_top_candidates_by_the_rerankers_score() {
    let (_dir, db) = temp_db();
    let col = db.create_collection(whole_documents("rr")).unwrap();
    let texts: Vec<String> = (0..30)
        .map(|i| format!("notes {i}: {}", "rock ".repeat(i % 5)))
        .collect();
    col.add_texts(texts.iter().map(|t| DocumentInput::new(t.clone())))
        .unwrap()
        .wait(None)
        .unwrap();
    let reranker = Arc::new(CountingReranker {
        word: "rock",
        calls: AtomicUsize::new(0),
        passages: AtomicUsize::new(0),
    });
    let candidates = col.search("notes").limit(12).run().unwrap();
    let best = candidates
        .iter()
        .map(|h| h.text.matches("rock").count())
        .max()
        .unwrap() as f32;
    // The multiplier may be set before or after the reranker.
    let hits = col
        .search("notes")
        .rerank_multiplier(3)
        .rerank(reranker.clone())
        .limit(4)
        .run()
        .unwrap();
    assert_eq!(reranker.calls.load(Ordering::SeqCst), 1);
    assert_eq!(
        reranker.passages.load(Ordering::SeqCst),
        12,
        "limit x multiplier"
    );
    assert_eq!(hits.len(), 4);
    for w in hits.windows(2) {
        assert!(w[0].score >= w[1].score);
    }
    for h in &hits {
        // The reranker's score is in `scores`; the final score is its logistic.
        let raw = h.text.matches("rock").count() as f32;
        assert_eq!(h.scores.rerank, Some(raw));
        assert!((h.score - 1.0 / (1.0 + (-raw).exp())).abs() < 1e-6);
        assert!(h.scores.dense.is_some());
    }
    assert_eq!(
        hits[0].scores.rerank,
        Some(best),
        "the best of the 12 candidates comes first"
    );
    assert!(
        hits.iter()
            .all(|h| candidates.iter().any(|c| c.chunk_id == h.chunk_id))
    );
}

/// The hash model, failing every query (a model that breaks at search time).
#[derive(Debug)]
struct FailingQueries(HashEmbedder);

impl Embedder for FailingQueries {
    fn model_name(&self) -> &str {
        "test/failing-queries"
    }
    fn dimension(&self) -> usize {
        self.0.dimension()
    }
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        self.0.embed(texts)
    }
    fn embed_query(&self, _text: &str) -> Result<Vec<f32>> {
        Err(semantik_core::Error::Model {
            name: "test/failing-queries".into(),
            message: "broken on purpose".into(),
        })
    }
}

/// The hash model, counting query embeddings.
#[derive(Debug)]
struct CountingQueries(HashEmbedder, AtomicUsize);

impl Embedder for CountingQueries {
    fn model_name(&self) -> &str {
        "test/counting-queries"
    }
    fn dimension(&self) -> usize {
        self.0.dimension()
    }
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        self.0.embed(texts)
    }
    fn embed_query(&self, text: &str) -> Result<Vec<f32>> {
        self.1.fetch_add(1, Ordering::SeqCst);
        self.0.embed_query(text)
    }
}

#[test]
fn multi_collection_search_embeds_once_per_model_and_reports_failures() {
    let (_dir, db) = temp_db();
    let counting = Arc::new(CountingQueries(HashEmbedder::new(32), AtomicUsize::new(0)));
    db.register_embedder(counting.clone());
    db.register_embedder(Arc::new(FailingQueries(HashEmbedder::new(16))));
    for (name, model, text) in [
        ("a", "test/counting-queries", "sled stores data on disk"),
        (
            "b",
            "test/counting-queries",
            "rayon runs data parallel loops",
        ),
        ("c", TEST_MODEL, "candle runs models on data"),
        ("broken", "test/failing-queries", "never searched"),
    ] {
        let col = db
            .create_collection(CollectionConfig::new(name).with_model(model))
            .unwrap();
        col.add_texts([text]).unwrap().wait(None).unwrap();
    }
    let found = db
        .search(&["a", "b", "c", "broken", "missing"], "data")
        .limit(10)
        .run()
        .unwrap();
    assert_eq!(
        counting.1.load(Ordering::SeqCst),
        1,
        "one embedding per model"
    );
    let mut labels: Vec<&str> = found.hits.iter().map(|h| h.collection.as_str()).collect();
    labels.sort_unstable();
    assert_eq!(labels, ["a", "b", "c"]);
    let failed: Vec<(&str, ErrorCode)> = found
        .failures
        .iter()
        .map(|f| (f.collection.as_str(), f.error.code))
        .collect();
    assert_eq!(
        failed,
        [
            ("broken", ErrorCode::Model),
            ("missing", ErrorCode::CollectionNotFound)
        ]
    );
    // Keyword mode needs no embedding at all, and the broken model does not matter to it.
    let kw = db
        .search(&["a", "b", "c", "broken"], "disk")
        .mode(SearchMode::Keyword)
        .run()
        .unwrap();
    assert_eq!(counting.1.load(Ordering::SeqCst), 1);
    assert!(kw.failures.is_empty());
    assert_eq!(kw.hits.len(), 1);
    assert_eq!(kw.hits[0].collection, "a");
    let paged = db
        .search(&["a", "b", "c"], "data")
        .offset(1)
        .limit(1)
        .run()
        .unwrap();
    assert_eq!(paged.hits[0].chunk_id, found.hits[1].chunk_id);
    assert_eq!(paged.hits[0].collection, found.hits[1].collection);
    // A collection named twice is searched once.
    let twice = db.search(&["a", "a"], "data").run().unwrap();
    assert_eq!(twice.hits.len(), 1);
    // The threshold applies to each collection's own final scores (the cosine mapped to
    // [0, 1]); the merged scores are scaled reciprocal ranks.
    let own: Vec<f32> = found
        .hits
        .iter()
        .map(|h| (h.scores.dense.unwrap() + 1.0) / 2.0)
        .collect();
    let (lo, hi) = own
        .iter()
        .fold((f32::MAX, f32::MIN), |(l, h), &s| (l.min(s), h.max(s)));
    let run = |t: f32| {
        db.search(&["a", "b", "c"], "data")
            .mode(SearchMode::Semantic)
            .score_threshold(t)
            .run()
            .unwrap()
            .hits
    };
    assert_eq!(run(lo).len(), 3, "each collection's hit is above {lo}");
    assert!(run(hi + 1e-3).is_empty());
    let err = db
        .search(&["a"], "data")
        .fusion(Fusion::Rrf { k: 0.0 })
        .run()
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidArgument);
}

#[test]
fn real_model_hybrid_finds_an_exact_identifier_and_prompts_come_from_the_model_config() {
    let (_dir, db) = temp_db();
    let col = db
        .create_collection(CollectionConfig::new("py"))
        .expect("default model (run `make model`)");
    col.add_texts([
        "Use PyTuple_Pack() to build a tuple from C values.",
        "Lists are mutable sequences, typically used to store collections of items.",
        "A tuple is an immutable sequence type.",
        "The for statement iterates over the items of any sequence.",
    ])
    .unwrap()
    .wait(None)
    .unwrap();
    let hits = col
        .search("PyTuple_Pack")
        .mode(SearchMode::Hybrid)
        .limit(2)
        .run()
        .unwrap();
    assert!(hits[0].text.contains("PyTuple_Pack"), "{hits:?}");
    assert_eq!(hits[0].matched_terms, ["PyTuple_Pack"]);

    // A model folder whose sentence-transformers config names prompts gets them applied.
    let real = semantik_core::embed::model_dir(DEFAULT_MODEL).unwrap();
    let prompted = tempfile::tempdir().unwrap();
    copy_dir(&real, prompted.path());
    let config = prompted.path().join("config_sentence_transformers.json");
    assert!(!config.is_symlink());
    std::fs::write(
        &config,
        r#"{"prompts": {"query": "query: ", "document": "passage: "}}"#,
    )
    .unwrap();
    let plain = SentenceEmbedder::load(DEFAULT_MODEL).unwrap();
    let with = SentenceEmbedder::load(prompted.path().to_str().unwrap()).unwrap();
    let q = with.embed_query("how to sort").unwrap();
    assert_eq!(q, plain.embed(&["query: how to sort"]).unwrap()[0]);
    let p = with.embed(&["a passage"]).unwrap();
    assert_eq!(p[0], plain.embed(&["passage: a passage"]).unwrap()[0]);
    assert_eq!(
        plain.embed_query("x").unwrap(),
        plain.embed(&["x"]).unwrap()[0]
    );
}

/// Copies the model folder `from` into `to`, recursively; the weights are linked, not copied
/// (never written through: every other file is a copy of its own).
fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let p = entry.unwrap().path();
        let target = to.join(p.file_name().unwrap());
        if p.is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&p, &target);
        } else if p.extension().is_some_and(|e| e == "safetensors")
            && std::os::unix::fs::symlink(std::fs::canonicalize(&p).unwrap(), &target).is_ok()
        {
        } else {
            std::fs::copy(&p, &target).unwrap();
        }
    }
}

/// Ranked by document: each document at most `n` times, documents ordered by their (corrected)
/// best passage, pages stable; every mode's final score in [0, 1] and the threshold applied to
/// it.
#[test]
fn documents_ranked_by_best_passage_with_scores_in_the_unit_interval() {
    let (_dir, db) = temp_db();
    let col = db
        .create_collection(text_collection("docs").with_chunking(ChunkingConfig::characters(80, 0)))
        .unwrap();
    let mut docs = vec![
        DocumentInput::new(
            (0..12)
                .map(|i| format!("The sled database stores its trees on disk, part {i}."))
                .collect::<Vec<_>>()
                .join("\n\n"),
        )
        .with_id("long"),
    ];
    for i in 0..20 {
        docs.push(
            DocumentInput::new(format!("Note {i}: the sled database keeps data on disk."))
                .with_id(format!("short{i}")),
        );
    }
    col.add_texts(docs).unwrap().wait(None).unwrap();
    let query = "sled database on disk";
    for mode in [
        SearchMode::Semantic,
        SearchMode::Keyword,
        SearchMode::Hybrid,
    ] {
        let chunks = col.search(query).mode(mode).limit(40).run().unwrap();
        assert!(chunks.iter().filter(|h| h.document_id == "long").count() > 1);
        let grouped = col
            .search(query)
            .mode(mode)
            .max_per_document(1)
            .limit(40)
            .run()
            .unwrap();
        let mut ids: Vec<&str> = grouped.iter().map(|h| h.document_id.as_str()).collect();
        assert_eq!(grouped.len(), 21, "{mode:?}");
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 21, "one hit per document ({mode:?})");
        for hits in [&chunks, &grouped] {
            assert!(
                hits.iter().all(|h| (0.0..=1.0).contains(&h.score)),
                "{mode:?}"
            );
            assert!(
                hits.windows(2).all(|w| w[0].score >= w[1].score),
                "{mode:?}"
            );
        }
        // Two per document: the long one twice, the others once.
        let two = col
            .search(query)
            .mode(mode)
            .max_per_document(2)
            .limit(40)
            .run()
            .unwrap();
        assert_eq!(two.iter().filter(|h| h.document_id == "long").count(), 2);
        // Pages of the grouped ranking neither repeat nor skip.
        let paged: Vec<String> = (0..7)
            .flat_map(|page| {
                col.search(query)
                    .mode(mode)
                    .max_per_document(1)
                    .offset(page * 3)
                    .limit(3)
                    .run()
                    .unwrap()
            })
            .map(|h| h.document_id)
            .collect();
        let whole: Vec<String> = grouped.iter().map(|h| h.document_id.clone()).collect();
        assert_eq!(paged, whole, "{mode:?}");
        // The threshold applies to the final score.
        let t = grouped[5].score;
        let above = col
            .search(query)
            .mode(mode)
            .max_per_document(1)
            .score_threshold(t)
            .limit(40)
            .run()
            .unwrap();
        assert_eq!(above.len(), grouped.iter().filter(|h| h.score >= t).count());
    }
    let err = col.search(query).max_per_document(0).run().unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidArgument);
    db.close().unwrap();
}
