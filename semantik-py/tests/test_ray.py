"""`semantik.ray` on real Ray clusters of this machine: a local one, and two nodes of one CPU
each (`ray.cluster_utils.Cluster`), with the real model; compared with in-process ingestion."""

import json
import os
import pathlib
import signal
import threading
import time

import numpy as np
import pytest
import ray
import ray.data
from ray.cluster_utils import Cluster

import semantik
import semantik.ray

ROOT = pathlib.Path(__file__).resolve().parents[2]
PYFAQ = ROOT.parent / "shared" / "eval" / "pyfaq" / "corpus.jsonl"


def corpus(n):
    """`n` documents of the Python FAQ and docs: id, title, text."""
    with open(PYFAQ) as f:
        rows = [json.loads(line) for _, line in zip(range(n), f)]
    return [{"id": r["_id"], "title": r["title"], "text": r["text"], "metadata": {"n": i}} for i, r in enumerate(rows)]


def quiet():
    ray.data.DataContext.get_current().enable_progress_bars = False


def by_chunk(col, key):
    """The collection's chunks keyed by (document key, chunk index): text and vector."""
    table = col.to_arrow()
    keys = table.column(key).to_pylist()
    return {
        (k, i): (t, np.asarray(v, dtype=np.float32))
        for k, i, t, v in zip(
            keys,
            table.column("chunk_index").to_pylist(),
            table.column("text").to_pylist(),
            table.column("vector").to_pylist(),
            strict=True,
        )
    }


def assert_same(ray_col, local_col, key, queries):
    """Same chunks, vectors within 1e-6, same top-10 for every query in every mode."""
    got, want = by_chunk(ray_col, key), by_chunk(local_col, key)
    assert got.keys() == want.keys()
    assert all(got[k][0] == want[k][0] for k in want)
    assert max(float(np.abs(got[k][1] - want[k][1]).max()) for k in want) <= 1e-6
    for q in queries:
        for mode in ["semantic", "keyword", "hybrid"]:
            a = [(h.source or h.document_id, h.chunk_index) for h in ray_col.search(q, limit=10, mode=mode)]
            b = [(h.source or h.document_id, h.chunk_index) for h in local_col.search(q, limit=10, mode=mode)]
            assert a == b, (q, mode)


def test_texts_on_a_local_cluster_equal_in_process_ingestion(tmp_path):
    rows = corpus(24)
    ray.init(num_cpus=2, log_to_driver=False, logging_level="ERROR")
    quiet()
    try:
        with semantik.open(str(tmp_path / "db")) as db:
            done = semantik.ray.ingest(db, "faq", ray.data.from_items(rows), actors=2, batch_size=4)
            local = db.create_collection("local")
            local.add(
                [r["text"] for r in rows],
                ids=[r["id"] for r in rows],
                metadatas=[r["metadata"] for r in rows],
                titles=[r["title"] for r in rows],
            ).wait()
            assert done.documents == len(rows) and done.chunks == local.stats["chunks"] > len(rows)
            assert done.duplicate_rows == 0 and sum(done.nodes.values()) == done.chunks
            assert {d["id"]: d["metadata"] for d in done.collection.documents()} == {
                r["id"]: r["metadata"] for r in rows
            }
            queries = [" ".join(r["text"].split()[:6]) for r in rows[::4]]
            assert_same(done.collection, local, "document_id", queries)
            with pytest.raises(semantik.InvalidArgumentError, match="`id` and `text` columns"):
                semantik.ray.ingest(db, "no-ids", ray.data.from_items([{"text": "an orphan"}]), actors=1)
            assert "no-ids" not in db
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def two_nodes():
    """A head and a worker node of one CPU each, on this machine."""
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    ray.init(address=cluster.address, log_to_driver=False, logging_level="ERROR")
    quiet()
    yield cluster
    ray.shutdown()
    cluster.shutdown()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Real files of six kinds: Rust, Python, Markdown, HTML, e-mail and DOCX."""
    folder = tmp_path_factory.mktemp("files")
    sources = [ROOT / "semantik-core" / "src" / "index" / name for name in ["copies.rs", "exact.rs"]]
    sources += [ROOT / "semantik-py" / "python" / "semantik" / name for name in ["progress.py", "_aio.py"]]
    sources += [ROOT / "tests" / "fixtures" / name for name in ["python-docx-README.md", "html-broken.html", "ham-plain.eml", "par-known-styles.docx"]]
    for i, path in enumerate(sources):
        (folder / f"{i:02}-{path.name}").write_bytes(path.read_bytes())
    return folder


def test_files_on_two_nodes_land_on_both_and_equal_in_process_ingestion(two_nodes, files, tmp_path):
    paths = sorted(str(p) for p in files.iterdir())
    with semantik.open(str(tmp_path / "db")) as db:
        local = db.create_collection("local")
        local.add_source(str(files)).wait()
        by_path = semantik.ray.ingest(db, "by-path", ray.data.from_items([{"path": p} for p in paths]), batch_size=2)
        # Content shipped in the dataset, as read_binary_files gives it.
        shipped = [{"path": p, "bytes": pathlib.Path(p).read_bytes()} for p in paths]
        by_bytes = semantik.ray.ingest(db, "by-bytes", ray.data.from_items(shipped), batch_size=2)
        for done in [by_path, by_bytes]:
            assert len(done.nodes) == 2, done.nodes  # both nodes embedded
            assert done.documents == len(paths) and done.duplicate_rows == 0
            queries = ["copies of one vector share a graph node", "import the rows embedded on Ray"]
            assert_same(done.collection, local, "source_path", queries)


def test_an_actor_killed_mid_run_leaves_every_document_exactly_once(two_nodes, tmp_path):
    rows = corpus(48)
    killed = []

    def workers():
        found = set()
        for pid in os.listdir("/proc"):
            try:
                cmdline = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes()
            except (OSError, ValueError):
                continue
            if b"ray::MapWorker(MapBatches(_Embedder))" in cmdline:
                found.add(int(pid))
        return found

    earlier = workers()  # the pools of earlier tests, shutting down

    def kill_one_worker():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            for pid in workers() - earlier:
                time.sleep(2)  # the model loaded, batches under way
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    continue
                killed.append(time.monotonic())
                return
            time.sleep(0.2)

    killer = threading.Thread(target=kill_one_worker)
    killer.start()
    with semantik.open(str(tmp_path / "db")) as db:
        started = time.monotonic()
        done = semantik.ray.ingest(db, "faq", ray.data.from_items(rows), batch_size=2)
        killer.join()
        assert killed and killed[0] < started + done.embed_seconds, "no actor was killed mid-run"
        ids = [d["id"] for d in done.collection.documents()]
        assert sorted(ids) == sorted(r["id"] for r in rows)  # each exactly once
        local = db.create_collection("local")
        local.add([r["text"] for r in rows], ids=[r["id"] for r in rows], titles=[r["title"] for r in rows]).wait()
        assert done.chunks == done.collection.stats["chunks"] == local.stats["chunks"]
        got, want = by_chunk(done.collection, "document_id"), by_chunk(local, "document_id")
        assert got.keys() == want.keys()
