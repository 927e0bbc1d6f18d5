//! Models fetched from a Hub: a local server with the Hub's endpoints and headers
//! (`mock_hub`), never the real one. Fresh downloads into the Hugging Face cache layout, cache
//! hits without a request, the offline switch, an interrupted download resumed, a file that
//! does not match its hash removed, the Hub's errors typed, revisions pinned and kept.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use semantik_core::embed::{DownloadProgress, HubConfig, locate_model};
use semantik_core::{CollectionConfig, Config, ErrorCode};

use crate::mock_hub::{Fault, MockHub, files_of, sha256};
use crate::parity::fixture;

/// The default model's files (installed by `make model`), published under another name so
/// that semantik's own cache does not hold it.
const MINILM: &str = "semantik-mock/all-MiniLM-L6-v2";
const COMMIT_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const COMMIT_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

fn minilm_files() -> BTreeMap<String, Vec<u8>> {
    let dir = semantik_core::embed::model_dir(semantik_core::embed::DEFAULT_MODEL)
        .expect("the default model (make model)");
    let mut files = files_of(&dir);
    // What a Hub repo also holds and semantik must never fetch.
    files.insert("pytorch_model.bin".into(), b"pickle bytes".to_vec());
    files.insert("onnx/model.onnx".into(), vec![7; 20_000]);
    files
}

fn hub(mock: &MockHub, cache: &Path) -> HubConfig {
    HubConfig::from_env()
        .with_endpoint(&mock.url)
        .with_cache_dir(cache)
        .with_token(None)
        .with_offline(false)
}

fn repo_dir(cache: &Path, name: &str) -> PathBuf {
    cache.join(format!("models--{}", name.replace('/', "--")))
}

/// Nothing of `name` that loads: no complete snapshot (an offline lookup fails).
fn assert_not_cached(cache: &Path, name: &str) {
    let offline = HubConfig::from_env()
        .with_cache_dir(cache)
        .with_offline(true);
    let err = locate_model(name, None, &offline, &mut |_| {}).unwrap_err();
    assert_eq!(err.code(), ErrorCode::ModelNotFound, "{err}");
}

#[test]
fn a_model_is_downloaded_once_into_the_hub_cache_then_used_offline() {
    let mock = MockHub::start();
    mock.publish(MINILM, COMMIT_A, &["main"], minilm_files());
    let cache = tempfile::tempdir().unwrap();
    let mut progress: Vec<DownloadProgress> = Vec::new();
    let found = locate_model(MINILM, None, &hub(&mock, cache.path()), &mut |p| {
        progress.push(p.clone())
    })
    .unwrap();
    assert_eq!(found.revision.as_deref(), Some(COMMIT_A));
    // The Hub's cache layout, as Python's tools write and read it.
    let repo = repo_dir(cache.path(), MINILM);
    assert_eq!(
        std::fs::read_to_string(repo.join("refs/main"))
            .unwrap()
            .trim(),
        COMMIT_A
    );
    assert_eq!(found.dir, repo.join("snapshots").join(COMMIT_A));
    let weights = found.dir.join("model.safetensors");
    let blob = std::fs::canonicalize(&weights).unwrap();
    assert_eq!(
        blob.parent().unwrap(),
        std::fs::canonicalize(repo.join("blobs")).unwrap()
    );
    assert_eq!(
        blob.file_name().unwrap().to_string_lossy(),
        sha256(&std::fs::read(&weights).unwrap())
    );
    // Only what a sentence-transformers model needs; never pickle or ONNX files.
    let requests = mock.requests();
    for never in ["pytorch_model.bin", "onnx", "README", "vocab.txt"] {
        assert!(
            !requests.iter().any(|r| r.contains(never)),
            "{never}: {requests:#?}"
        );
    }
    for needed in [
        "config.json",
        "tokenizer.json",
        "modules.json",
        "1_Pooling/config.json",
        "model.safetensors",
    ] {
        assert!(found.dir.join(needed).is_file(), "{needed}");
    }
    // Progress of the weights, to their size.
    let size = std::fs::metadata(&weights).unwrap().len();
    let last = progress
        .iter()
        .rev()
        .find(|p| p.file == "model.safetensors")
        .unwrap();
    assert!(
        last.done && last.bytes == size && last.total == size,
        "{last:?}"
    );

    // A database using that cache: the collection records the commit; a second one, offline,
    // asks the Hub nothing.
    let before = mock.requests().len();
    let dir = tempfile::tempdir().unwrap();
    let db = crate::common::open_with(
        dir.path(),
        Config::new().with_hub(hub(&mock, cache.path()).with_offline(true)),
    );
    let col = db
        .create_collection(CollectionConfig::new("notes").with_model(MINILM))
        .unwrap();
    let config = col.info().unwrap().config;
    assert_eq!(config.model_revision.as_deref(), Some(COMMIT_A));
    assert_eq!(config.dimension, Some(384));
    col.add_texts(["sled is an embedded database", "candle runs models"])
        .unwrap()
        .wait(None)
        .unwrap();
    let hits = col
        .search("which crate stores data?")
        .limit(1)
        .run()
        .unwrap();
    assert_eq!(hits[0].text, "sled is an embedded database");
    assert_eq!(mock.requests().len(), before, "the cache answered");
}

#[test]
fn offline_a_missing_model_is_not_found_and_nothing_is_asked() {
    let mock = MockHub::start();
    mock.publish(MINILM, COMMIT_A, &["main"], minilm_files());
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = crate::common::open_with(
        dir.path(),
        Config::new()
            .with_hub(hub(&mock, cache.path()))
            .with_offline(true),
    );
    let err = db
        .create_collection(CollectionConfig::new("notes").with_model(MINILM))
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::ModelNotFound);
    assert!(err.to_string().contains("HF_HUB_OFFLINE"), "{err}");
    assert!(mock.requests().is_empty());
    assert!(db.collections().unwrap().is_empty());
}

#[test]
fn an_interrupted_download_leaves_nothing_that_loads_and_resumes() {
    let mock = MockHub::start();
    mock.publish(MINILM, COMMIT_A, &["main"], minilm_files());
    let cache = tempfile::tempdir().unwrap();
    let cut = 40_000_000;
    mock.fault("model.safetensors", Some(Fault::Truncate(cut)));
    let err = locate_model(MINILM, None, &hub(&mock, cache.path()), &mut |_| {}).unwrap_err();
    assert_eq!(err.code(), ErrorCode::ModelDownload, "{err}");
    assert!(err.to_string().contains("model.safetensors"), "{err}");
    assert_not_cached(cache.path(), MINILM);
    mock.fault("model.safetensors", None);
    let found = locate_model(MINILM, None, &hub(&mock, cache.path()), &mut |_| {}).unwrap();
    // The second attempt asked only for the rest.
    let resumed = mock
        .requests()
        .iter()
        .any(|r| r.contains("model.safetensors") && r.contains(&format!("bytes={cut}-")));
    assert!(resumed, "{:#?}", mock.requests());
    let bytes = std::fs::read(found.dir.join("model.safetensors")).unwrap();
    assert_eq!(sha256(&bytes), sha256(&minilm_files()["model.safetensors"]));
}

#[test]
fn a_file_that_does_not_match_its_hash_is_removed() {
    let mock = MockHub::start();
    mock.publish(MINILM, COMMIT_A, &["main"], minilm_files());
    let cache = tempfile::tempdir().unwrap();
    mock.fault("model.safetensors", Some(Fault::WrongBytes));
    let err = locate_model(MINILM, None, &hub(&mock, cache.path()), &mut |_| {}).unwrap_err();
    assert_eq!(err.code(), ErrorCode::ModelDownload);
    assert!(err.to_string().contains("does not match its hash"), "{err}");
    assert_not_cached(cache.path(), MINILM);
    let sha = sha256(&minilm_files()["model.safetensors"]);
    let repo = repo_dir(cache.path(), MINILM);
    assert!(!repo.join("blobs").join(&sha).exists());
    assert!(
        !repo
            .join("snapshots")
            .join(COMMIT_A)
            .join("model.safetensors")
            .exists()
    );
    mock.fault("model.safetensors", None);
    locate_model(MINILM, None, &hub(&mock, cache.path()), &mut |_| {}).unwrap();
}

/// The tiny BERT fixture as a Hub repo.
fn publish_tiny(mock: &MockHub, name: &str, commit: &str, refs: &[&str]) {
    mock.publish(name, commit, refs, files_of(&fixture("bert")));
}

#[test]
fn the_hubs_errors_are_typed_and_leave_nothing_half_written() {
    let mock = MockHub::start();
    publish_tiny(&mock, "org/tiny", COMMIT_A, &["main", "v1"]);
    publish_tiny(&mock, "org/gated", COMMIT_A, &["main"]);
    mock.gate("org/gated", "secret");
    let cache = tempfile::tempdir().unwrap();
    let h = hub(&mock, cache.path());
    let fetch =
        |name: &str, rev: Option<&str>, h: &HubConfig| locate_model(name, rev, h, &mut |_| {});

    let err = fetch("org/absent", None, &h).unwrap_err();
    assert_eq!(err.code(), ErrorCode::ModelNotFound, "{err}");
    let err = fetch("org/tiny", Some("v9"), &h).unwrap_err();
    assert_eq!(err.code(), ErrorCode::ModelNotFound, "{err}");
    let err = fetch("org/gated", None, &h).unwrap_err();
    assert_eq!(err.code(), ErrorCode::ModelDownload, "{err}");
    assert!(err.to_string().contains("HF_TOKEN"), "{err}");
    assert_not_cached(cache.path(), "org/gated");
    fetch(
        "org/gated",
        None,
        &h.clone().with_token(Some("secret".into())),
    )
    .unwrap();

    // An answer that is a web page, not a Hub file.
    mock.fault("config.json", Some(Fault::Html));
    let err = fetch("org/tiny", None, &h).unwrap_err();
    assert_eq!(err.code(), ErrorCode::ModelDownload, "{err}");
    assert!(err.to_string().contains("not a Hub file"), "{err}");
    assert_not_cached(cache.path(), "org/tiny");
    mock.fault("config.json", None);

    // Names and revisions that would reach outside the cache never ask the Hub.
    let asked = mock.requests().len();
    for (name, rev) in [
        ("../../etc", None),
        ("/etc/passwd", None),
        ("org/tiny", Some("../../../etc")),
        ("org/tiny", Some("/abs/path")),
    ] {
        let err = fetch(name, rev, &h).unwrap_err();
        assert!(
            matches!(
                err.code(),
                ErrorCode::InvalidArgument | ErrorCode::ModelNotFound
            ),
            "{name} {rev:?}: {err}"
        );
    }
    assert_eq!(mock.requests().len(), asked);
    // Each failure left the cache without a loadable snapshot of a broken model.
    let found = fetch("org/tiny", Some("v1"), &h).unwrap();
    assert_eq!(found.revision.as_deref(), Some(COMMIT_A));
}

#[test]
fn a_collection_keeps_the_commit_it_was_created_with() {
    let mock = MockHub::start();
    publish_tiny(&mock, "org/tiny", COMMIT_A, &["main"]);
    // Commit B: other weights (another fixture model under the same name).
    mock.publish(
        "org/tiny",
        COMMIT_B,
        &[],
        files_of(&fixture("weightedmean")),
    );
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = || Config::new().with_hub(hub(&mock, cache.path()));
    let a_vector = {
        let db = crate::common::open_with(dir.path(), config());
        let col = db
            .create_collection(CollectionConfig::new("a").with_model("org/tiny"))
            .unwrap();
        assert_eq!(
            col.info().unwrap().config.model_revision.as_deref(),
            Some(COMMIT_A)
        );
        // Pinned by tag or commit: recorded as the commit.
        let b = db
            .create_collection(
                CollectionConfig::new("b")
                    .with_model("org/tiny")
                    .with_model_revision(COMMIT_B),
            )
            .unwrap();
        assert_eq!(
            b.info().unwrap().config.model_revision.as_deref(),
            Some(COMMIT_B)
        );
        col.embed(&["a text"]).unwrap().pop().unwrap()
    };
    // Another tool moves the cache's `main` to commit B.
    std::fs::write(
        repo_dir(cache.path(), "org/tiny").join("refs/main"),
        COMMIT_B,
    )
    .unwrap();
    let db = crate::common::open_with(dir.path(), config().with_offline(true));
    let col = db.collection("a").unwrap();
    assert_eq!(col.embed(&["a text"]).unwrap().pop().unwrap(), a_vector);
    let b = db.collection("b").unwrap();
    assert_ne!(b.embed(&["a text"]).unwrap().pop().unwrap(), a_vector);
    // A new collection without a pin takes what `main` is now.
    let c = db
        .create_collection(CollectionConfig::new("c").with_model("org/tiny"))
        .unwrap();
    assert_eq!(
        c.info().unwrap().config.model_revision.as_deref(),
        Some(COMMIT_B)
    );
}

/// What a fresh program on the public API does (`examples/quickstart.rs`): open a database,
/// create a collection with the default model, add texts, search. Run as a child process of
/// this binary, with the environment a new machine has.
#[test]
#[ignore = "child process of a_program_with_empty_caches_fetches_the_default_model"]
fn fresh_program() {
    let Some(path) = std::env::var_os("SEMANTIK_FRESH_DB") else {
        return;
    };
    let db = semantik_core::Database::open(path).unwrap();
    let notes = db
        .create_collection(CollectionConfig::new("notes"))
        .unwrap();
    let info = notes
        .add_texts([
            "sled is an embedded database written in Rust",
            "candle runs transformer models on the CPU",
        ])
        .unwrap()
        .wait(None)
        .unwrap();
    println!("indexed {} documents", info.progress.documents_indexed());
    let hits = notes
        .search("which library stores data?")
        .limit(1)
        .run()
        .unwrap();
    println!("top: {}", hits[0].text);
    db.close().unwrap();
}

/// A program with empty caches (no `make model`, no Hugging Face cache) and `HF_ENDPOINT` at
/// the local Hub fetches the default model and creates its collection with it.
#[test]
fn a_program_with_empty_caches_fetches_the_default_model() {
    let mock = MockHub::start();
    mock.publish(
        semantik_core::embed::DEFAULT_MODEL,
        COMMIT_A,
        &["main"],
        minilm_files(),
    );
    let home = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args(["hub::fresh_program", "--exact", "--ignored", "--nocapture"])
        .env("SEMANTIK_FRESH_DB", home.path().join("db"))
        .env("HF_ENDPOINT", &mock.url)
        .env("HF_HOME", home.path().join("hf"))
        .env("SEMANTIK_CACHE_DIR", home.path().join("semantik"))
        .env("HF_HUB_OFFLINE", "0")
        .env_remove("HF_HUB_CACHE")
        .env_remove("SEMANTIK_MODEL_DIR")
        .env_remove("HF_TOKEN")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("indexed 2 documents"), "{stdout}");
    assert!(
        stdout.contains("top: sled is an embedded database"),
        "{stdout}"
    );
    let snapshot = home
        .path()
        .join("hf/hub/models--sentence-transformers--all-MiniLM-L6-v2/snapshots")
        .join(COMMIT_A);
    assert!(snapshot.join("model.safetensors").is_file());
    assert!(
        mock.requests()
            .iter()
            .any(|r| r.contains("model.safetensors"))
    );
}
