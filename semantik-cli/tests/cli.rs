//! End-to-end tests of the `semantik` binary: the real executable, a temporary database, the
//! real default model and a small folder of real text.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The Python FAQ sources `make demo` fetches (the first choice of corpus).
const FAQ: &str = "../.cache/python-docs/usr/share/doc/python3.11/html/_sources/faq";

/// What one run of the binary did.
#[derive(Debug)]
struct Run {
    /// Exit code (-1 when killed by a signal).
    code: i32,
    /// Standard output.
    stdout: String,
    /// Standard error.
    stderr: String,
}

impl Run {
    /// Asserts success and returns stdout.
    fn ok(self) -> String {
        assert_eq!(self.code, 0, "expected success, got {self:#?}");
        self.stdout
    }

    /// Asserts success and parses stdout as JSON.
    fn json(self) -> Value {
        let out = self.ok();
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}):\n{out}"))
    }

    /// Asserts the error exit (1) with `semantik: ... (code N)` on stderr.
    fn fails_with(self, code: u32) {
        assert_eq!(self.code, 1, "expected exit 1, got {self:#?}");
        assert!(
            self.stderr.starts_with("semantik: ")
                && self.stderr.contains(&format!("(code {code})")),
            "expected code {code}: {self:#?}"
        );
    }
}

/// Runs `semantik --db DB --no-progress ARGS`, with no `SEMANTIK_DB` from the environment.
fn semantik(db: &Path, args: &[&str]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_semantik"));
    cmd.env_remove("SEMANTIK_DB")
        .arg("--db")
        .arg(db)
        .arg("--no-progress");
    run(cmd.args(args))
}

/// Runs a prepared command.
fn run(cmd: &mut Command) -> Run {
    let out = cmd.output().expect("the semantik binary runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The counts of a summary line `LABEL: I indexed, S skipped, F failed, R removed, C chunks, T s`
/// (the first line of `out` that has them): `[indexed, skipped, failed, removed, chunks]`.
fn counts(out: &str) -> [u64; 5] {
    let line = out
        .lines()
        .find(|l| l.contains(" indexed, "))
        .unwrap_or_else(|| panic!("no summary line in:\n{out}"));
    let after = &line[line.rfind(": ").expect("label") + 2..];
    let mut n = [0; 5];
    for (slot, (part, word)) in n.iter_mut().zip(
        after
            .split(", ")
            .zip(["indexed", "skipped", "failed", "removed", "chunks"]),
    ) {
        let (num, w) = part.split_once(' ').expect("count and word");
        assert_eq!(w, word, "in {line:?}");
        *slot = num.parse().expect("a count");
    }
    n
}

/// A folder of real text to index and what the test knows about it.
#[derive(Debug)]
struct Corpus {
    /// The folder (files at the top, one more in `extra/`).
    root: PathBuf,
    /// File name of the file `query` is taken from.
    target: String,
    /// A sentence from `target`.
    query: String,
    /// File name of a file the test changes.
    changed: String,
    /// File name of a file the test deletes.
    deleted: String,
}

/// Copies four files (plus one in `extra/`) of the Python FAQ into `dir`, or, without the
/// FAQ, of semantik-core's sources.
fn corpus(dir: &Path) -> Corpus {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let faq = manifest.join(FAQ);
    let root = dir.join("corpus");
    std::fs::create_dir_all(root.join("extra")).unwrap();
    let (from, top, extra, query) = if faq.join("gui.rst.txt").is_file() {
        let query = "How do I ship a frozen Tkinter application with the Tcl and Tk libraries?";
        (
            faq,
            [
                "gui.rst.txt",
                "installed.rst.txt",
                "extending.rst.txt",
                "windows.rst.txt",
            ],
            "index.rst.txt",
            query.to_string(),
        )
    } else {
        let from = manifest.join("../semantik-core/src");
        let text = std::fs::read_to_string(from.join("chunk.rs")).unwrap();
        let first = text
            .lines()
            .next()
            .unwrap()
            .trim_start_matches("//!")
            .trim();
        (
            from,
            ["chunk.rs", "document.rs", "error.rs", "simd.rs"],
            "storage.rs",
            first.to_string(),
        )
    };
    for f in top {
        std::fs::copy(from.join(f), root.join(f)).unwrap();
    }
    std::fs::copy(from.join(extra), root.join("extra").join(extra)).unwrap();
    Corpus {
        root,
        target: top[0].into(),
        query,
        changed: top[1].into(),
        deleted: top[3].into(),
    }
}

/// Fails with a clear message when the default model is not installed.
fn require_model() {
    let model = semantik_core::embed::DEFAULT_MODEL;
    if let Err(e) = semantik_core::embed::model_dir(model) {
        panic!("the CLI tests need the default model {model}: run `make model`\n({e})");
    }
}

/// The source paths of JSON hits.
fn sources(hits: &Value) -> Vec<String> {
    hits.as_array()
        .expect("an array of hits")
        .iter()
        .map(|h| h["source"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The one collection of an `ls --json`.
fn only_collection(db: &Path) -> Value {
    let all = semantik(db, &["ls", "--json"]).json();
    assert_eq!(all.as_array().unwrap().len(), 1, "{all}");
    all[0].clone()
}

/// A whole session: create, add, search, ls, ops, append after changes, docs, remove-source,
/// reindex and rm, checking counts and exit codes on the way.
#[test]
fn session_on_a_real_folder() {
    require_model();
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let c = corpus(tmp.path());
    let root = c.root.to_str().unwrap();

    let out = semantik(&db, &["create", "kb", "--description", "test corpus"]).ok();
    assert!(out.contains("created collection kb"), "{out}");
    assert!(out.contains("precision:   float32"), "{out}");
    let out = semantik(
        &tmp.path().join("db8"),
        &["create", "kb8", "--precision", "int8"],
    )
    .ok();
    assert!(out.contains("precision:   int8"), "{out}");
    assert!(out.contains(semantik_core::embed::DEFAULT_MODEL), "{out}");
    semantik(&db, &["create", "kb"]).fails_with(201);

    // add: five documents, nothing failed.
    let out = semantik(&db, &["add", "kb", root]).ok();
    let [indexed, skipped, failed, removed, chunks] = counts(&out);
    assert_eq!((indexed, skipped, failed, removed), (5, 0, 0, 0), "{out}");
    assert!(chunks >= 5, "{out}");

    // search: the file the sentence comes from ranks first, as text and as JSON.
    let out = semantik(&db, &["search", "kb", &c.query, "--limit", "3"]).ok();
    let first = out.lines().next().unwrap_or_default();
    assert!(
        first.starts_with(" 1. ") && first.contains(&format!("{}  ", c.target))
            || first.ends_with(&c.target),
        "{out}"
    );
    let hits = semantik(&db, &["search", "kb", &c.query, "--limit", "3", "--json"]).json();
    let found = sources(&hits);
    assert!(!found.is_empty() && found.len() <= 3, "{hits}");
    assert!(found[0].ends_with(&c.target), "{hits}");
    assert!(hits[0]["score"].as_f64().unwrap() > 0.3, "{hits}");
    assert!(!hits[0]["text"].as_str().unwrap().is_empty(), "{hits}");
    // Keyword and hybrid modes: matched words for highlighting, the same file among the best.
    let kw = semantik(
        &db,
        &["search", "kb", &c.query, "--mode", "keyword", "--json"],
    )
    .json();
    assert!(!kw.as_array().unwrap().is_empty(), "{kw}");
    assert!(
        !kw[0]["matched_terms"].as_array().unwrap().is_empty(),
        "{kw}"
    );
    assert!(kw[0]["scores"]["keyword"].as_f64().unwrap() > 0.0, "{kw}");
    let hy = semantik(
        &db,
        &[
            "search", "kb", &c.query, "--mode", "hybrid", "-n", "3", "--json",
        ],
    )
    .json();
    assert!(sources(&hy).iter().any(|s| s.ends_with(&c.target)), "{hy}");
    let page2 = semantik(
        &db,
        &[
            "search", "kb", &c.query, "--offset", "1", "-n", "1", "--json",
        ],
    )
    .json();
    assert_eq!(page2[0]["chunk_id"], hits[1]["chunk_id"], "{page2}");
    let r = semantik(&db, &["search", "kb", "x", "--mode", "fuzzy"]);
    assert_eq!(r.code, 2, "an unknown mode is a usage error: {r:#?}");

    // ls and ops.
    let col = only_collection(&db);
    assert_eq!(col["name"], "kb");
    assert_eq!(col["model"], semantik_core::embed::DEFAULT_MODEL);
    assert_eq!(col["dimension"], 384);
    assert_eq!(col["status"], "ready");
    assert_eq!(col["documents"], 5);
    assert_eq!(col["chunks"], chunks);
    assert_eq!(col["failed_documents"], 0);
    let ops = semantik(&db, &["ops", "--status", "completed", "--json"]).json();
    assert_eq!(ops.as_array().unwrap().len(), 1, "{ops}");
    assert_eq!(ops[0]["collection"], "kb");
    assert_eq!(ops[0]["status"], "completed");
    assert_eq!(ops[0]["documents_indexed"], 5);
    assert_eq!(ops[0]["error"], Value::Null);
    let none = semantik(&db, &["ops", "--status", "failed", "--json"]).json();
    assert_eq!(none, Value::Array(vec![]));
    // `running` is the word for `processing`: nothing runs once a command has ended.
    let running = semantik(&db, &["ops", "--status", "running", "--json"]).json();
    assert_eq!(running, Value::Array(vec![]));
    let text = semantik(&db, &["ops"]).ok();
    assert!(
        text.starts_with("ID ") && text.contains(" completed "),
        "{text}"
    );

    // append after changing one file, deleting one and adding two (one of them binary).
    let changed = c.root.join(&c.changed);
    let mut text = std::fs::read_to_string(&changed).unwrap();
    text.push_str("\n\nOne more paragraph, written by the command-line test.\n");
    std::fs::write(&changed, text).unwrap();
    std::fs::remove_file(c.root.join(&c.deleted)).unwrap();
    std::fs::write(
        c.root.join("notes.txt"),
        "The kettle whistles when the water boils; take it off the stove at once.\n",
    )
    .unwrap();
    let binary: Vec<u8> = (0..4096u32).map(|i| (i * 7 % 256) as u8).collect();
    std::fs::write(c.root.join("blob.txt"), binary).unwrap();
    let out = semantik(&db, &["append", "kb"]).ok();
    let [indexed, skipped, failed, removed, _] = counts(&out);
    assert_eq!((indexed, skipped, failed, removed), (2, 3, 1, 1), "{out}");
    assert!(
        out.lines()
            .any(|l| l.contains("failed: ") && l.contains("blob.txt") && l.contains("(code 601)")),
        "{out}"
    );
    let hits = semantik(
        &db,
        &["search", "kb", "when does the kettle whistle?", "--json"],
    )
    .json();
    assert!(sources(&hits)[0].ends_with("notes.txt"), "{hits}");
    let hits = semantik(&db, &["search", "kb", &c.query, "--limit", "50", "--json"]).json();
    assert!(
        !sources(&hits).iter().any(|s| s.ends_with(&c.deleted)),
        "{hits}"
    );

    // docs: the binary file failed with 601.
    let out = semantik(&db, &["docs", "kb", "--failed"]).ok();
    assert_eq!(out.lines().count(), 2, "a header and one document:\n{out}");
    assert!(
        out.contains("blob.txt") && out.contains("(code 601)"),
        "{out}"
    );
    let failed = semantik(&db, &["docs", "kb", "--failed", "--json"]).json();
    assert_eq!(failed.as_array().unwrap().len(), 1, "{failed}");
    assert_eq!(failed[0]["status"], "failed");
    assert_eq!(failed[0]["error"]["code"], 601);
    let all = semantik(&db, &["docs", "kb", "--json"]).json();
    assert_eq!(all.as_array().unwrap().len(), 6, "{all}");

    // remove-source: the folder's one document goes.
    let extra = c.root.join("extra");
    let out = semantik(&db, &["remove-source", "kb", extra.to_str().unwrap()]).ok();
    assert_eq!(counts(&out)[3], 1, "{out}");
    let all = semantik(&db, &["docs", "kb", "--json"]).json();
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 5);
    assert!(
        !all.iter()
            .any(|d| d["source"].as_str().unwrap().contains("extra"))
    );

    // reindex with smaller chunks: more of them, still searchable.
    let before = only_collection(&db)["chunks"].as_u64().unwrap();
    let out = semantik(
        &db,
        &[
            "reindex",
            "kb",
            "--chunk-size",
            "48",
            "--chunk-overlap",
            "8",
        ],
    )
    .ok();
    assert!(out.contains("(reindex): "), "{out}");
    let col = only_collection(&db);
    assert_eq!(col["chunking"]["max_size"], 48);
    assert_eq!(col["chunking"]["overlap"], 8);
    assert_eq!(col["documents"], 4);
    assert!(
        col["chunks"].as_u64().unwrap() > before,
        "{col} vs {before} chunks"
    );
    let hits = semantik(&db, &["search", "kb", &c.query, "--json"]).json();
    assert!(sources(&hits)[0].ends_with(&c.target), "{hits}");

    // verify, backup, restore: the copy verifies and answers the same search.
    let out = semantik(&db, &["verify"]).ok();
    assert!(out.trim_end().ends_with(": ok"), "{out}");
    let backup = tmp.path().join("kb.backup");
    let out = semantik(&db, &["backup", backup.to_str().unwrap()]).ok();
    assert!(out.starts_with("backed up "), "{out}");
    let copy = tmp.path().join("copy");
    semantik(
        &db,
        &["restore", backup.to_str().unwrap(), copy.to_str().unwrap()],
    )
    .ok();
    let report = semantik(&db, &["verify", copy.to_str().unwrap(), "--json"]).json();
    assert_eq!(report["violations"], Value::Array(vec![]), "{report}");
    assert_eq!(report["chunks"], col["chunks"], "{report}");
    let again = semantik(&copy, &["search", "kb", &c.query, "--json"]).json();
    assert_eq!(sources(&again), sources(&hits));
    semantik(
        &db,
        &["restore", backup.to_str().unwrap(), copy.to_str().unwrap()],
    )
    .fails_with(100);

    // export, import: the imported copy answers the same search, without embedding again.
    for (format, file) in [("parquet", "kb.parquet"), ("arrow", "kb.arrow")] {
        let file = tmp.path().join(file);
        let file = file.to_str().unwrap();
        let out = semantik(&db, &["export", "kb", file, "--format", format]).ok();
        assert!(out.starts_with("exported "), "{out}");
        let name = format!("kb-{format}");
        let out = semantik(&db, &["import", file, "--name", &name]).ok();
        assert!(out.starts_with("imported "), "{out}");
        let again = semantik(&db, &["search", &name, &c.query, "--json"]).json();
        assert_eq!(sources(&again), sources(&hits));
        semantik(&db, &["import", file, "--name", &name]).fails_with(201);
        semantik(&db, &["rm", &name]).ok();
    }
    semantik(&db, &["import", "no-such-file.parquet", "--name", "x"]).fails_with(103);

    // rm: gone.
    let out = semantik(&db, &["rm", "kb"]).ok();
    assert!(out.contains("deleted collection kb"), "{out}");
    assert_eq!(
        semantik(&db, &["ls", "--json"]).json(),
        Value::Array(vec![])
    );
    semantik(&db, &["search", "kb", "anything"]).fails_with(200);
}

/// Commands on a collection that does not exist fail with code 200.
#[test]
fn unknown_collection_is_code_200() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    for args in [
        &["search", "nope", "query"][..],
        &["add", "nope", "."],
        &["append", "nope"],
        &["docs", "nope"],
        &["rm", "nope"],
        &["reindex", "nope", "--chunk-size", "64"],
        &["remove-source", "nope", "."],
    ] {
        let r = semantik(&db, args);
        assert!(
            r.stderr.contains("collection not found"),
            "{args:?}: {r:#?}"
        );
        r.fails_with(200);
    }
}

/// Bad arguments to semantik itself fail with their codes; the collection is not created.
#[test]
fn invalid_arguments_fail_with_their_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    semantik(&db, &["create", "kb", "--chunk-size", "2"]).fails_with(100);
    semantik(&db, &["create", "a/b"]).fails_with(101);
    assert_eq!(
        semantik(&db, &["ls", "--json"]).json(),
        Value::Array(vec![])
    );
    // Offline (no test reaches a hub), a model in no cache is not found.
    semantik(
        &db,
        &["--offline", "create", "kb", "--model", "no-such/model"],
    )
    .fails_with(400);
    semantik(&db, &["create", "kb", "--revision", "../../etc"]).fails_with(100);
    let r = semantik(&db, &["create", "q", "--precision", "int4"]);
    assert_eq!(r.code, 2, "{r:#?}");
    assert!(r.stderr.contains("int4"), "{r:#?}");
    let nowhere = tmp.path().join("nowhere");
    semantik(&db, &["verify", nowhere.to_str().unwrap()]).fails_with(303);
    assert!(!nowhere.exists(), "verify creates nothing");
}

/// Usage errors exit 2 before anything is opened; `--help` exits 0.
#[test]
fn bad_usage_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    for args in [
        &["frobnicate"][..],
        &[],
        &["search", "kb"],
        &["add", "kb"],
        &["ops", "--status", "sleeping"],
        &["create", "kb", "--chunk-unit", "words"],
        &["add", "kb", ".", "--symlinks", "sometimes"],
        &["search", "kb", "q", "--limit", "many"],
    ] {
        let r = semantik(&db, args);
        assert_eq!(r.code, 2, "{args:?}: {r:#?}");
        assert!(r.stdout.is_empty(), "{args:?}: {r:#?}");
    }
    assert!(!db.exists(), "usage errors must not open the database");
    let help = semantik(&db, &["--help"]).ok();
    assert!(
        help.contains("remove-source") && help.contains("SEMANTIK_DB"),
        "{help}"
    );
}

/// Without `--db`, the database is `$SEMANTIK_DB`, else `$XDG_DATA_HOME/semantik`.
#[test]
fn database_location_from_the_environment() {
    let tmp = tempfile::tempdir().unwrap();
    let from_env = tmp.path().join("env-db");
    let data_home = tmp.path().join("data");
    let bin = env!("CARGO_BIN_EXE_semantik");
    let out = run(Command::new(bin)
        .env("SEMANTIK_DB", &from_env)
        .env("XDG_DATA_HOME", &data_home)
        .args(["ls"]))
    .ok();
    assert!(out.starts_with("NAME"), "{out}");
    assert!(from_env.is_dir() && !data_home.exists());
    let out = run(Command::new(bin)
        .env_remove("SEMANTIK_DB")
        .env("XDG_DATA_HOME", &data_home)
        .args(["ls", "--json"]))
    .json();
    assert_eq!(out, Value::Array(vec![]));
    assert!(data_home.join("semantik").is_dir());
}

/// A database another process holds fails at once with code 210 (tested with two of our
/// own processes would race; a held lock from this test process is enough).
#[test]
fn locked_database_is_code_210() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let held = semantik_core::Database::open(&db).unwrap();
    semantik(&db, &["ls"]).fails_with(210);
    held.close().unwrap();
    semantik(&db, &["ls"]).ok();
}
