#!/usr/bin/env python3
"""Document ranking and score distributions on `make eval` output.

    ranking_study.py OUT QRELS.tsv [EVALUATE.py]

OUT holds `candidates.json` (per query, the hybrid candidates as `[document, chunk id, dense,
keyword, chunk index]`), `chunk_counts.json` (document -> chunks) and the run files. Prints one
JSON object:

- `document_ranking`: nDCG@10 of each way of turning chunk scores into a document ranking, per
  side (semantic: the dense scores; keyword: BM25; hybrid: the adaptive fusion of
  `fusion_study.py`), on the same candidates: the best chunk; the first chunk only; the best
  chunk less a length correction `c * s_w * E[max of n normals]` (`s_w`: the within-document
  spread of the query's candidates, `n`: the document's chunks; semantik uses c = 1); the best
  plus a share of the next best.
- `scores`: percentiles of the final scores (0 to 1) that the library's default search gives
  relevant and non-relevant documents in its top 10, per mode: what a `score_threshold` keeps.
"""
import functools
import json
import math
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fusion_study as fs  # noqa: E402

@functools.lru_cache(maxsize=None)
def emax(n):
    """E[max] of n standard normal draws: the integral of x n phi(x) Phi(x)^(n-1), by Simpson's
    rule (semantik-core's search::ranking tabulates the same for n <= 16)."""
    if n <= 1:
        return 0.0
    lo, hi, steps = -10.0, 10.0, 4000
    h = (hi - lo) / steps
    total = 0.0
    for i in range(steps + 1):
        x = lo + i * h
        weight = 1 if i in (0, steps) else (4 if i % 2 else 2)
        cdf = 0.5 * (1 + math.erf(x / math.sqrt(2)))
        total += weight * x * n * math.exp(-x * x / 2) / math.sqrt(2 * math.pi) * cdf ** (n - 1)
    return total * h / 3


def within_spread(per_doc):
    num, dof = 0.0, 0
    for xs in per_doc.values():
        if len(xs) > 1:
            m = statistics.mean(xs)
            num += sum((x - m) ** 2 for x in xs)
            dof += len(xs) - 1
    return math.sqrt(num / dof) if dof else 0.0


def main():
    out, qrels_path = sys.argv[1], sys.argv[2]
    ev = fs.load_evaluate(sys.argv[3] if len(sys.argv) > 3 else "../shared/eval/evaluate.py")
    cand = json.load(open(os.path.join(out, "candidates.json")))
    counts = json.load(open(os.path.join(out, "chunk_counts.json")))
    qrels = ev.read_tsv_pairs(qrels_path, True)

    sides = {
        "semantic": lambda rows: [r[2] if r[2] is not None else -1.0 for r in rows],
        "keyword": lambda rows: [r[3] or 0.0 for r in rows],
        "hybrid": lambda rows: fs.adaptive(0.7)(
            [r[2] if r[2] is not None else -1.0 for r in rows], [r[3] or 0.0 for r in rows]),
    }

    def best(v, sw):
        return max(x for x, _, _ in v)

    def first(v, sw):
        f = [x for x, i, _ in v if i == 0]
        return f[0] if f else float("-inf")

    def corrected(c):
        return lambda v, sw: max(x for x, _, _ in v) - c * sw * emax(v[0][2])

    def best_plus(share):
        def f(v, sw):
            xs = sorted((x for x, _, _ in v), reverse=True)
            return xs[0] + share * (xs[1] - xs[0] if len(xs) > 1 else 0.0)
        return f

    options = [("best chunk", best), ("first chunk", first),
               ("length-corrected c=0.5", corrected(0.5)),
               ("length-corrected c=1 (semantik)", corrected(1.0)),
               ("length-corrected c=2", corrected(2.0)),
               ("best + 0.2 x next best", best_plus(0.2))]
    ranking = {}
    for side, score in sides.items():
        ranking[side] = {}
        for name, agg in options:
            run = {}
            for q, rows in cand.items():
                per_doc, per = {}, {}
                for r, x in zip(rows, score(rows) if rows else []):
                    per_doc.setdefault(r[0], []).append((x, r[4], counts.get(r[0], 1)))
                    per.setdefault(r[0], []).append(x)
                sw = within_spread(per)
                ranked = sorted(((d, agg(v, sw)) for d, v in per_doc.items()), key=lambda t: -t[1])
                run[q] = dict(ranked[:100])
            ranking[side][name] = round(ev.evaluate(qrels, run, {})[0]["nDCG@10"], 4)

    scores = {}
    for mode in ["semantic", "keyword", "hybrid"]:
        run = json.load(open(os.path.join(out, f"run-{mode}.json")))
        rel, other = [], []
        for q, docs in run.items():
            for d, s in sorted(docs.items(), key=lambda t: -t[1])[:10]:
                (rel if d in qrels.get(q, ()) else other).append(s)
        pct = lambda xs: {f"p{p}": round(statistics.quantiles(xs, n=20)[p // 5 - 1], 3)
                          for p in (10, 25, 50, 75, 90)} if len(xs) > 20 else {}
        scores[mode] = {"relevant": pct(rel), "not_relevant": pct(other)}
    print(json.dumps({"document_ranking": ranking, "scores": scores}))


if __name__ == "__main__":
    main()
