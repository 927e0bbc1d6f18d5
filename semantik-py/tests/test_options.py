"""The same search options through Python, Rust (the CLI) and C give the same hits.

Python writes a collection with the real model and searches it; then the CLI
(`semantik search --mode --limit --offset --per-document --filter --json`) and the C API (tests/c/search.c,
built by `make test-py`) open the same database and search it with the same options. All three
read the options through the core's one options layer: the same filter JSON, the same defaults.
"""

import json
import os
import pathlib
import subprocess

import pytest

import semantik

ROOT = pathlib.Path(__file__).parents[2]
CLI = pathlib.Path(os.environ.get("SEMANTIK_CLI", ROOT / "target/debug/semantik"))
C_SEARCH = pathlib.Path(os.environ.get("SEMANTIK_C_SEARCH", ROOT / "target/c/search"))

NOTES = {
    "sled": ("sled is an embedded database that stores the data on disk", {"lang": "en", "year": 2016}),
    "candle": ("candle runs the embedding model on the CPU", {"lang": "en", "year": 2023}),
    "rayon": ("rayon spreads the work over every core of the machine", {"lang": "en", "year": 2015}),
    "tokio": ("tokio is an asynchronous runtime for network services", {"lang": "en", "year": 2019}),
    "serde": ("serde liest und schreibt Daten in vielen Formaten", {"lang": "de", "year": 2017}),
    "sqlx": ("sqlx talks to SQL databases asynchronously and checks queries", {"lang": "en", "year": 2020}),
}

# (query, options): each option as Python's keyword argument, the CLI's flag and C's field.
CASES = [
    ("where is my data kept on disk?", {}),
    ("asynchronous database", {"mode": "keyword", "limit": 3}),
    ("asynchronous database", {"mode": "semantic", "limit": 2, "offset": 1}),
    ("data", {"mode": "hybrid", "filter": {"lang": "en", "year": {"min": 2018}}}),
    ("data", {"filter": {"metadata_eq": {"lang": "de"}, "media_type": ["text/plain"]}}),
    ("data", {"mode": "semantic", "filter": {"metadata_range": {"year": {"max": 2016}}}}),
    ("databases on disk", {"max_per_document": 1, "limit": 4}),
]


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    for program in (CLI, C_SEARCH):
        assert program.exists(), f"{program} is missing: run `make test-py`, which builds it"
    path = tmp_path_factory.mktemp("options") / "db"
    with semantik.open(str(path)) as db:
        col = db.create_collection("notes")
        ids = list(NOTES)
        op = col.add([NOTES[i][0] for i in ids], ids=ids, metadatas=[NOTES[i][1] for i in ids])
        assert op.wait()["status"] == "completed"
        python = [col.search(query, **options) for query, options in CASES]
    return path, python


def key(hits):
    """What must agree: documents, chunks and scores, in order."""
    return [(h["document_id"], h["chunk_id"], round(h["score"], 5)) for h in hits]


def test_python_cli_and_c_take_the_same_options_and_find_the_same_hits(database):
    path, python = database
    for (query, options), py_hits in zip(CASES, python):
        mode = options.get("mode")
        limit = str(options.get("limit", 10))
        offset = str(options.get("offset", 0))
        per_document = str(options.get("max_per_document", 0))
        filter_json = [json.dumps(options["filter"])] if "filter" in options else []
        cli = [str(CLI), "--db", str(path), "search", "notes", query, "--limit", limit, "--offset", offset]
        cli += ["--per-document", per_document, "--json"]
        cli += ["--mode", mode] if mode else []
        cli += ["--filter", *filter_json] if filter_json else []
        rust = json.loads(subprocess.run(cli, check=True, capture_output=True, text=True).stdout)
        c = json.loads(
            subprocess.run(
                [str(C_SEARCH), str(path), "notes", query, mode or "default", limit, offset, per_document, *filter_json],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
        assert c["failures"] == []
        mine = key({"document_id": h.document_id, "chunk_id": h.chunk_id, "score": h.score} for h in py_hits)
        assert mine, f"{query!r} {options}: no hits to compare"
        assert key(rust) == mine, f"{query!r} {options}: the CLI differs"
        assert key(c["hits"]) == mine, f"{query!r} {options}: C differs"


def test_the_default_mode_is_hybrid_everywhere(database):
    _, python = database
    top = python[0][0]
    assert top.dense_score is not None and top.keyword_score is not None
    hybrid = python[3]
    assert {h.document_id for h in hybrid} == {"candle", "tokio", "sqlx"}
    assert [h.document_id for h in python[4]] == ["serde"]
    assert {h.document_id for h in python[5]} == {"sled", "rayon"}
