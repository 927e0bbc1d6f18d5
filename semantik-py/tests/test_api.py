"""The Python API end to end with the real model (all-MiniLM-L6-v2 from the local cache)."""

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import semantik

TEXTS = [
    "sled is an embedded database that stores the data on disk",
    "candle runs the embedding model on the CPU",
    "rayon spreads the work over every core",
    "tokio is an asynchronous runtime for network services",
]
IDS = ["sled", "candle", "rayon", "tokio"]


@pytest.fixture
def db(tmp_path):
    with semantik.open(str(tmp_path / "db"), max_concurrent_operations=2) as database:
        yield database


@pytest.fixture
def notes(db):
    col = db.create_collection("notes", chunking={"unit": "characters", "max_size": 400, "overlap": 0})
    info = col.add(TEXTS, ids=IDS, metadatas=[{"year": 2020 + i, "lang": "en"} for i in range(4)]).wait()
    assert info["status"] == "completed"
    return col


def test_collections_and_documents(db, notes):
    assert notes.name == "notes" and notes.dimension == 384 and len(notes) == 4
    assert db["notes"].id == notes.id
    assert notes.stats["documents"] == 4
    docs = notes.get(["tokio", "missing", "sled"])
    assert [d["id"] for d in docs] == ["tokio", "sled"]
    assert docs[0]["text"] == TEXTS[3] and docs[0]["metadata"] == {"year": 2023, "lang": "en"}
    assert sorted(d["id"] for d in notes.documents()) == sorted(IDS)
    notes.delete(["rayon", "not-there"]).wait()
    assert len(notes) == 3
    assert notes.get(["rayon"]) == []


def test_search_modes_filters_and_hits(notes):
    hybrid = notes.search("which crate keeps my data on disk?", limit=2)  # the default mode
    assert hybrid[0].document_id == "sled"
    assert hybrid[0].dense_score is not None and hybrid[0].keyword_score is not None
    hits = notes.search("which crate keeps my data on disk?", limit=2, mode="semantic")
    assert [h.document_id for h in hits][0] == "sled"
    top = hits[0]
    assert isinstance(top, semantik.Hit)
    assert top.collection == "notes" and top.text == TEXTS[0] and 0.6 < top.score <= 1.0
    # The final score is the cosine mapped to [0, 1]; the cosine itself is dense_score.
    assert top.score == pytest.approx((top.dense_score + 1) / 2) and top.rerank_score is None
    for mode in ["semantic", "keyword", "hybrid"]:
        assert all(0.0 <= h.score <= 1.0 for h in notes.search("data disk crate", mode=mode))
    assert top.metadata == {"year": 2020, "lang": "en"}
    assert top.start == 0 and top.end == len(TEXTS[0].encode())
    assert notes.search("asynchronous runtime", mode="keyword")[0].document_id == "tokio"
    for fusion in ["adaptive", "rrf", "weighted", {"rrf": {"k": 20}}]:
        hit = notes.search("Asynchronous network", mode="hybrid", fusion=fusion)[0]
        assert hit.document_id == "tokio"
        assert hit.matched_terms == ["asynchronous", "network"]
    assert {h.document_id for h in notes.search("data", filter={"year": {"min": 2022}})} == {"rayon", "tokio"}
    assert {h.document_id for h in notes.search("data", filter={"lang": "en", "year": 2021})} == {"candle"}
    assert notes.search("data", filter={"media_type": "text/html"}) == []
    assert notes.search("data", score_threshold=2.0) == []
    paged = notes.search("data", limit=2)
    assert notes.search("data", limit=1, offset=1)[0].document_id == paged[1].document_id
    with pytest.raises(semantik.InvalidArgumentError):
        notes.search("data", mode="fuzzy")
    with pytest.raises(ValueError, match="media_type"):
        notes.search("data", filter={"media_type": 3})
    # The C API's and the CLI's filter shape; a key beside its keys is named, not a metadata field.
    assert {h.document_id for h in notes.search("data", filter={"metadata_range": {"year": {"min": 2022}}})} == {
        "rayon",
        "tokio",
    }
    with pytest.raises(semantik.InvalidArgumentError, match="metadata"):
        notes.search("data", filter={"source_under": "/x", "metadata": {"lang": "en"}})
    with pytest.raises(semantik.InvalidArgumentError, match="limt"):
        notes.search("data", fusion={"rrf": {"limt": 3}})


def test_rerank_with_a_python_function(notes):
    def prefer_rayon(query, passages):
        return [1.0 if "rayon" in p else 0.0 for p in passages]

    hit = notes.search("which crate keeps my data on disk?", rerank=prefer_rayon)[0]
    assert hit.document_id == "rayon" and hit.rerank_score == 1.0

    def broken(query, passages):
        raise RuntimeError("no")

    with pytest.raises(semantik.ModelError):
        notes.search("data", rerank=broken)
    with pytest.raises(semantik.ModelError):
        notes.search("data", rerank="/no/such/cross-encoder")


def test_embed_returns_float32_arrays_and_vectors_search(db, notes):
    vectors = notes.embed(["which crate keeps my data on disk?", "parallel iterators"])
    assert isinstance(vectors, np.ndarray) and vectors.dtype == np.float32 and vectors.shape == (2, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    vectors[0, 0] += 0.0  # writable
    for query in (vectors[0], vectors[0].tolist(), tuple(vectors[0].astype(np.float64))):
        assert notes.search_by_vector(query, limit=1)[0].document_id == "sled"
    with pytest.raises(semantik.InvalidArgumentError):
        notes.search_by_vector(vectors[0][:3])
    embedder = semantik.Embedder()
    assert embedder.dimension == 384 and embedder.model.endswith("all-MiniLM-L6-v2")
    assert np.allclose(embedder.embed(["parallel iterators"]), vectors[1:], atol=1e-5)
    assert embedder.embed_query("parallel iterators").shape == (384,)
    with pytest.raises(semantik.ModelError):
        semantik.Embedder("nobody/no-such-model")

    ext = db.create_collection("vectors", model="external", dimension=3)
    ext.add_vectors(["x", "y"], np.eye(3, dtype=np.float64)[:2], texts=["along x", "along y"]).wait()
    assert ext.search_by_vector([0.1, 0.9, 0], limit=1)[0].text == "along y"
    with pytest.raises(semantik.InvalidArgumentError):
        ext.add_vectors(["z"], [[1.0, 0.0]])
    with pytest.raises(semantik.StateError):
        ext.embed(["text"])


def test_sources_operations_events_and_reindex(db, tmp_path):
    docs = tmp_path / "docs"
    (docs / "guide").mkdir(parents=True)
    (docs / "hnsw.md").write_text("# HNSW\n\nHierarchical navigable small world graphs index vectors.\n")
    (docs / "bm25.md").write_text("# BM25\n\nBM25 ranks documents by the words they share with the query.\n")
    (docs / "skip.txt").write_text("left out by the include glob")
    (docs / "guide" / "fusion.md").write_text("# Fusion\n\nReciprocal rank fusion merges two ranked lists.\n")
    col = db.create_collection("kb")
    op = col.add_source(str(docs), include=["*.md"])
    assert op.kind == "index"
    events = list(op.events())
    assert events[0]["type"] == "operation_queued" and events[-1]["type"] == "operation_completed"
    assert all(a["seq"] < b["seq"] for a, b in zip(events, events[1:]))
    assert op.status == "completed" and op.progress["documents_indexed"] == 3 and op.progress["fraction"] == 1.0
    assert len(col) == 3
    assert col.search("merging ranked lists", limit=1)[0].headings == ["Fusion"]
    with pytest.raises(ValueError):
        col.add_source(str(docs), no_such_option=True)
    with pytest.raises(LookupError):
        col.add_source(str(tmp_path / "missing"))

    (docs / "tokens.md").write_text("# Tokens\n\nWordPiece splits words into sub-word tokens.\n")
    (docs / "bm25.md").unlink()
    op = col.append()
    info = op.wait(timeout=120)
    assert info["progress"]["documents_indexed"] == 1 and info["progress"]["documents_removed"] == 1
    assert db.operation(op.id).status == "completed"
    assert op.id in [o["id"] for o in db.operations(status="completed")]
    assert col.operations(status="failed") == []
    with pytest.raises(ValueError):
        db.operations(status="sleeping")

    before = col.stats
    op = col.reindex(chunking={"unit": "characters", "max_size": 40, "overlap": 0})
    while op.status in ("pending", "processing"):
        assert col.search("graphs", limit=1)
    op.wait()
    assert col.stats["documents"] == before["documents"] and col.stats["chunks"] > before["chunks"]

    col.remove_source(str(docs / "guide")).wait()
    assert len(col) == 2
    db.delete_collection("kb")
    assert "kb" not in db


def test_cancel_and_timeouts(tmp_path):
    texts = [f"note {i}: the quick brown fox {i * 7} jumps over the lazy dog" for i in range(400)]
    with semantik.open(str(tmp_path / "db")) as db:
        col = db.create_collection("c")
        op = col.add(texts)
        with pytest.raises(semantik.OperationTimeoutError) as exc:
            op.wait(timeout=0)
        assert isinstance(exc.value, TimeoutError) and exc.value.code == 231
        op.cancel()
        with pytest.raises(semantik.OperationError) as exc:
            op.wait()
        assert exc.value.code == 500 and op.status == "cancelled"
        assert op.retry().wait(timeout=float("inf"))["status"] == "completed"
        assert len(col) == 400
        with pytest.raises(ValueError):
            op.wait(timeout=float("nan"))
    with semantik.open(str(tmp_path / "db2"), operation_timeout=0.001) as db:
        op = db.create_collection("t").add(texts)
        with pytest.raises(semantik.OperationTimeoutError) as exc:
            op.wait()
        assert exc.value.code == 501


def test_asyncio_await_and_async_for(db):
    col = db.create_collection("a")

    async def main():
        info = await col.add(TEXTS[:2])
        assert info["status"] == "completed"
        seen = [event["type"] async for event in col.add(TEXTS[2:])]
        assert seen[0] == "operation_queued" and seen[-1] == "operation_completed"
        # The loop stays free while an operation runs.
        ticks = 0
        op = col.add([f"text number {i} about databases" for i in range(200)])
        task = asyncio.ensure_future(_wait(op))
        while not task.done():
            ticks += 1
            await asyncio.sleep(0.01)
        await task
        return ticks

    async def _wait(op):
        return await op

    assert asyncio.run(main()) >= 1
    assert len(col) == 204


def test_two_threads_search_while_a_third_runs_an_operation(db, notes):
    texts = [f"document {i} on vector search and ranking" for i in range(300)]
    done = threading.Event()
    counts = [0, 0]
    errors = []

    def search(slot):
        try:
            while not done.is_set():
                assert notes.search("data on disk", limit=3)
                counts[slot] += 1
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    def index():
        notes.add(texts).wait()
        done.set()

    threads = [threading.Thread(target=search, args=(0,)), threading.Thread(target=search, args=(1,))]
    writer = threading.Thread(target=index)
    for t in threads + [writer]:
        t.start()
    writer.join(timeout=300)
    done.set()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert counts[0] >= 1 and counts[1] >= 1, counts
    assert len(notes) == 304


def test_ctrl_c_interrupts_a_blocking_wait(tmp_path):
    code = (
        "import semantik, signal, sys, time\n"
        # A process started in the background by a shell inherits SIGINT ignored; restore it.
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "db = semantik.open(sys.argv[1])\n"
        "op = db.create_collection('c').add([f'text {i} about the weather' for i in range(20000)])\n"
        "print('waiting', flush=True)\n"
        "t = time.monotonic()\n"
        "try:\n"
        "    op.wait()\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted after', round(time.monotonic() - t, 1), op.status, flush=True)\n"
        "    op.cancel()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path / "db")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "waiting"
    time.sleep(1.0)
    os.kill(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert out.startswith("interrupted after"), (out, err)
    assert "processing" in out or "pending" in out


def test_progress_bar_helper(db):
    col = db.create_collection("p")
    info = semantik.progress(col.add(TEXTS), disable=True)
    assert info["status"] == "completed"
    op = col.add([f"text {i} about the weather" for i in range(400)])
    op.cancel()
    with pytest.raises(semantik.OperationError):
        semantik.progress(op, disable=True)


def test_multi_collection_search(db, notes):
    other = db.create_collection("other")
    other.add(["a vector index finds nearest neighbours quickly"]).wait()
    hits, failures = db.search(["notes", "missing", "other"], "nearest neighbour search")
    assert {h.collection for h in hits} == {"notes", "other"}
    assert list(failures) == ["missing"] and failures["missing"]["code"] == 200


def test_database_and_collection_events(db, notes):
    everything, mine = db.events(), notes.events()
    other = db.create_collection("quiet").events()
    op = notes.add(["an event-watched note"], ids=["watched"])
    op.wait()
    for stream in (everything, mine):
        seen = []
        while not seen or seen[-1]["type"] != "operation_completed" or seen[-1]["operation_id"] != op.id:
            event = stream.next(10)
            assert event is not None, f"no completion after {seen}"
            seen.append(event)
        assert [e["type"] for e in seen if e["operation_id"] == op.id][0] == "operation_queued"
    assert other.next(0) is None and not other.closed


def test_max_per_document_ranks_documents_and_scores_stay_in_the_unit_interval(tmp_path):
    with semantik.open(str(tmp_path / "db")) as db:
        col = db.create_collection("long", chunking={"unit": "characters", "max_size": 60, "overlap": 0})
        long_text = " ".join(f"sled keeps data on disk in tree number {i}." for i in range(12))
        col.add([long_text, "sled is a database", "rayon runs iterators"], ids=["long", "short", "other"]).wait()
        chunks = col.search("sled database", limit=20)
        assert sum(h.document_id == "long" for h in chunks) > 1
        grouped = col.search("sled database", limit=20, max_per_document=1)
        ids = [h.document_id for h in grouped]
        assert len(ids) == len(set(ids)) and "long" in ids
        assert all(0.0 <= h.score <= 1.0 for h in chunks + grouped)
        assert [h.score for h in grouped] == sorted((h.score for h in grouped), reverse=True)
        assert [h.document_id for h in col.search("sled database", limit=1, offset=1, max_per_document=1)] == ids[1:2]
        with pytest.raises(semantik.InvalidArgumentError):
            col.search("sled", max_per_document=0)
