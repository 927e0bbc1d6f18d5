"""The Python side of `make bench-py`: embedding throughput through `semantik.Embedder` and
`search_by_vector` latency from Python, on the same passages as the Rust bench.

Usage: py_overhead.py PASSAGES.jsonl; prints one JSON object.
"""

import json
import sys
import tempfile
import time

import semantik

passages = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8")]
embedder = semantik.Embedder()
embedder.embed(passages[:64])
best = float("inf")
for _ in range(3):
    t = time.perf_counter()
    vectors = embedder.embed(passages)
    best = min(best, time.perf_counter() - t)
assert vectors.shape == (len(passages), 384)

with semantik.open(tempfile.mkdtemp()) as db:
    col = db.create_collection("v", model="external", dimension=384)
    col.add_vectors([f"p{i}" for i in range(len(passages))], vectors, texts=passages).wait()
    for v in vectors[:50]:
        col.search_by_vector(v, limit=10)
    us = []
    for i in range(2000):
        v = vectors[i % len(vectors)]
        t = time.perf_counter()
        hits = col.search_by_vector(v, limit=10)
        us.append((time.perf_counter() - t) * 1e6)
        assert len(hits) == 10
    us.sort()

print(json.dumps({"seconds": best, "passages_per_s": len(passages) / best, "p50_us": us[len(us) // 2],
                  "p99_us": us[len(us) * 99 // 100]}))
