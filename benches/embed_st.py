"""sentence-transformers side of `make bench-embed`: the same passages (the first LIMIT, when
given), torch on the CPU with 2 threads, batch 32. Prints one JSON object.

Usage: embed_st.py MODEL_DIR PASSAGES.jsonl [THREADS [LIMIT]]"""

import json
import resource
import sys
import time

import torch
from sentence_transformers import SentenceTransformer


def main():
    model_dir, passages_path = sys.argv[1], sys.argv[2]
    threads = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    limit = int(sys.argv[4]) if len(sys.argv) > 4 else None
    torch.set_num_threads(threads)
    passages = [json.loads(line) for line in open(passages_path, encoding="utf-8")][:limit]
    model = SentenceTransformer(model_dir, device="cpu")
    tokens = sum(len(model.tokenizer(p, truncation=True, max_length=model.max_seq_length)["input_ids"]) for p in passages)
    model.encode(passages[:64], batch_size=32)  # warm-up
    best = None
    for _ in range(2):
        start = time.perf_counter()
        model.encode(passages, batch_size=32, normalize_embeddings=True)
        elapsed = time.perf_counter() - start
        best = elapsed if best is None else min(best, elapsed)
    print(json.dumps({
        "tokens": tokens,
        "passages": len(passages),
        "seconds": best,
        "tokens_per_s": tokens / best,
        "passages_per_s": len(passages) / best,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "torch": torch.__version__,
        "threads": threads,
    }))


if __name__ == "__main__":
    main()
