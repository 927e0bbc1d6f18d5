"""Ray ingestion (2 actors x 1 thread) against in-process ingestion (1 process x 2 threads) of
the same documents; the import's rate against one actor's embedding rate. One JSON line.

Usage: ray_ingest.py CORPUS.jsonl DOCS
"""

import json
import os
import sys
import tempfile
import time

os.environ["RAYON_NUM_THREADS"] = "2"  # the in-process side and the writer: 2 threads

import ray
import ray.data

import semantik
import semantik.ray


def main(corpus, n):
    with open(corpus) as f:
        rows = [json.loads(line) for _, line in zip(range(n), f)]
    rows = [{"id": r["_id"], "title": r["title"], "text": r["text"]} for r in rows]
    with tempfile.TemporaryDirectory() as folder, semantik.open(os.path.join(folder, "db")) as db:
        started = time.monotonic()
        local = db.create_collection("local")  # loads the model, as each actor does
        local.add([r["text"] for r in rows], ids=[r["id"] for r in rows], titles=[r["title"] for r in rows]).wait()
        local_s = time.monotonic() - started
        chunks = local.stats["chunks"]

        ray.init(num_cpus=2, log_to_driver=False, logging_level="ERROR")
        ray.data.DataContext.get_current().enable_progress_bars = False
        done = semantik.ray.ingest(db, "ray", ray.data.from_items(rows), actors=2, cpus_per_actor=1, batch_size=16)
        ray.shutdown()
        assert done.chunks == chunks and done.documents == len(rows), (done.chunks, chunks)

    local_rate = chunks / local_s
    ray_rate = chunks / done.embed_seconds
    per_actor = ray_rate / 2
    import_rate = chunks / done.import_seconds
    print(
        f"{len(rows)} documents, {chunks} chunks: in-process {local_s:.1f} s, "
        f"Ray embedding {done.embed_seconds:.1f} s (nodes {done.nodes}), import {done.import_seconds:.2f} s",
        file=sys.stderr,
    )
    print(
        json.dumps(
            {
                "documents": len(rows),
                "chunks": chunks,
                "in_process_chunks_per_s": round(local_rate, 1),
                "ray_chunks_per_s": round(ray_rate, 1),
                "ray_vs_in_process": round(ray_rate / local_rate, 3),
                "actor_chunks_per_s": round(per_actor, 1),
                "import_chunks_per_s": round(import_rate, 1),
                "import_vs_actor": round(import_rate / per_actor, 1),
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
