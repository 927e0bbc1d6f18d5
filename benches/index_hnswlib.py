"""hnswlib side of `make bench-index`, on the files `benches/index.rs data` wrote.

Usage: index_hnswlib.py gt DIR    exact top-10 of every query (numpy), written to DIR/gt.i32
       index_hnswlib.py mixture DIR N
                                  synthetic data instead of embeddings: N unit vectors from a
                                  mixture of 100 Gaussians (and 1,000 queries from it), then gt
       index_hnswlib.py build FILE
                                  `make bench-scale`: builds the vectors of FILE (M=16,
                                  ef_construction=200, 2 threads); build time and this process's
                                  peak RSS (reset after the vectors are loaded), then the size of
                                  the index saved to disk.
       index_hnswlib.py run DIR   build (M=16, ef_construction=200, 2 threads), ef sweep with
                                  recall@10 and queries/s on 1 and 2 threads, memory, save/load.
Prints one JSON object (run).
"""

import json
import os
import pathlib
import sys
import tempfile
import time

import numpy as np

DIM, K = 384, 10
EFS = [10, 12, 16, 20, 24, 32, 40, 48, 64, 80, 96, 128, 192, 256]


def rss_mb(field="VmRSS:"):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return 0.0


def build(path):
    import hnswlib

    base = np.fromfile(path, dtype="<f4").reshape(-1, DIM)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # peak RSS from here
    t = time.perf_counter()
    index = hnswlib.Index(space="ip", dim=DIM)
    index.init_index(max_elements=len(base), M=16, ef_construction=200, random_seed=100)
    index.add_items(base, np.arange(len(base)), num_threads=2)
    build_s = time.perf_counter() - t
    peak = rss_mb("VmHWM:")
    with tempfile.TemporaryDirectory() as tmp:
        index.save_index(os.path.join(tmp, "index.bin"))
        size = os.path.getsize(os.path.join(tmp, "index.bin")) / 1048576
    print(json.dumps({"n": len(base), "build_s": build_s, "peak_build_rss_mb": peak, "index_file_mb": size}))


def load(d):
    base = np.fromfile(d / "base.f32", dtype="<f4").reshape(-1, DIM)
    queries = np.fromfile(d / "queries.f32", dtype="<f4").reshape(-1, DIM)
    return base, queries


def gt(d):
    base, queries = load(d)
    top = np.empty((len(queries), K), dtype="<i4")
    for start in range(0, len(queries), 100):
        scores = queries[start:start + 100] @ base.T
        part = np.argpartition(-scores, K, axis=1)[:, :K]
        order = np.take_along_axis(scores, part, axis=1).argsort(axis=1)[:, ::-1]
        top[start:start + 100] = np.take_along_axis(part, order, axis=1)
    top.tofile(d / "gt.i32")


def mixture(d, n):
    rng = np.random.default_rng(7)
    centers = rng.standard_normal((100, DIM)).astype("<f4")
    d.mkdir(parents=True, exist_ok=True)
    for name, count in (("base.f32", n), ("queries.f32", 1000)):
        with open(d / name, "wb") as out:
            for start in range(0, count, 100_000):
                m = min(100_000, count - start)
                v = centers[rng.integers(0, 100, m)] + 0.8 * rng.standard_normal((m, DIM)).astype("<f4")
                v /= np.linalg.norm(v, axis=1, keepdims=True)
                v.astype("<f4").tofile(out)
    gt(d)


def recall(found, truth):
    return sum(len(set(f) & set(t)) for f, t in zip(found.tolist(), truth.tolist())) / truth.size


# Passes of the query set per point of a sweep; a point's queries/s is their median (as in
# benches/index.rs), so that a moment of noise on a shared machine does not decide a ratio.
PASSES = 5


def median_qps(n, query_pass):
    rates = []
    for _ in range(PASSES):
        t = time.perf_counter()
        query_pass()
        rates.append(n / (time.perf_counter() - t))
    return sorted(rates)[PASSES // 2]


def run(d):
    import hnswlib

    base, queries = load(d)
    truth = np.fromfile(d / "gt.i32", dtype="<i4").reshape(-1, K)
    before = rss_mb()
    t = time.perf_counter()
    index = hnswlib.Index(space="ip", dim=DIM)
    index.init_index(max_elements=len(base), M=16, ef_construction=200, random_seed=100)
    index.add_items(base, np.arange(len(base)), num_threads=2)
    build_s = time.perf_counter() - t
    after = rss_mb()
    sweep = []
    for ef in EFS:
        index.set_ef(ef)
        index.knn_query(queries[:100], k=K, num_threads=1)
        labels, _ = index.knn_query(queries, k=K, num_threads=1)
        qps1 = median_qps(len(queries), lambda: index.knn_query(queries, k=K, num_threads=1))
        qps2 = median_qps(len(queries), lambda: index.knn_query(queries, k=K, num_threads=2))
        sweep.append({"ef": ef, "recall": recall(labels, truth), "qps_1t": qps1, "qps_2t": qps2})
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "index.bin")
        index.save_index(path)
        del index
        t = time.perf_counter()
        loaded = hnswlib.Index(space="ip", dim=DIM)
        loaded.load_index(path, max_elements=len(base))
        loaded.set_ef(16)
        loaded.knn_query(queries[:1], k=K)
        load_s = time.perf_counter() - t
    print(json.dumps({
        "engine": "hnswlib", "n": len(base), "build_s": build_s, "threads": 2,
        "rss_delta_mb": after - before, "load_s": load_s, "sweep": sweep,
    }))


if __name__ == "__main__":
    if sys.argv[1] == "mixture":
        mixture(pathlib.Path(sys.argv[2]), int(sys.argv[3]))
    else:
        {"gt": gt, "run": run, "build": build}[sys.argv[1]](pathlib.Path(sys.argv[2]))
