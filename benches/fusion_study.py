#!/usr/bin/env python3
"""Why naive RRF loses and what fuses better: a study of hybrid fusion on `make eval` output.

    fusion_study.py OUT/candidates.json QRELS.tsv [EVALUATE.py]

`candidates.json` (written by `make eval`) holds, per query, the hybrid candidates (chunks) with
both component scores: dense similarity and BM25 (every candidate has both, whichever list found
it). This script replays fusion functions on them, scores each per document (best chunk) with
evaluate.py, and prints:

1. the score distributions of the two sides (how peaked each list's top is);
2. fusions: RRF at several k, convex combinations of min-max and z-scored scores at several
   weights, and the adaptive (confidence-weighted) fusion semantik uses by default;
3. how much each side contributes to the fused top 10;
4. robustness: the same fusions when the dense side is made worse (Gaussian noise) or the
   keyword side better (relevant chunks' BM25 boosted), standing in for data sets where keyword
   search is competitive or stronger. A default must never lose to the better side.
"""
import json
import random
import statistics
import sys

CONFIDENCE_DEPTH = 20


def load_evaluate(path):
    import importlib.util
    spec = importlib.util.spec_from_file_location("evaluate", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def minmax(xs):
    lo, hi = min(xs), max(xs)
    return [(x - lo) / (hi - lo) if hi > lo else 0.0 for x in xs]


def zs(xs):
    m = statistics.mean(xs)
    s = statistics.pstdev(xs)
    return [(x - m) / s if s > 0 else 0.0 for x in xs]


def ranks(xs):
    order = sorted(range(len(xs)), key=lambda i: -xs[i])
    r = [0] * len(xs)
    for p, i in enumerate(order):
        r[i] = p + 1
    return r


def confidence(xs):
    top = sorted(xs, reverse=True)[:CONFIDENCE_DEPTH]
    if len(top) < 2:
        return 0.0
    s = statistics.pstdev(top)
    return (top[0] - statistics.mean(top)) / s if s > 0 else 0.0


def rrf(k):
    return lambda d, w: [1 / (k + a) + 1 / (k + b) for a, b in zip(ranks(d), ranks(w))]


def convex(norm, alpha):
    return lambda d, w: [alpha * x + (1 - alpha) * y for x, y in zip(norm(d), norm(w))]


def adaptive_weight(d, w, alpha):
    cd, cw = alpha * confidence(d), (1 - alpha) * confidence(w)
    return cd / (cd + cw) if cd + cw > 0 else alpha


def adaptive(alpha):
    def f(d, w):
        a = adaptive_weight(d, w, alpha)
        return [a * x + (1 - a) * y for x, y in zip(zs(d), zs(w))]
    return f


def main():
    cand_path, qrels_path = sys.argv[1], sys.argv[2]
    ev = load_evaluate(sys.argv[3] if len(sys.argv) > 3 else "../shared/eval/evaluate.py")
    cand = json.load(open(cand_path))
    qrels = ev.read_tsv_pairs(qrels_path, True)

    def score(cands, fn):
        run = {}
        for q, rows in cands.items():
            if not rows:
                run[q] = {}
                continue
            d = [r[2] if r[2] is not None else -1.0 for r in rows]
            w = [r[3] or 0.0 for r in rows]
            best = {}
            for r, f in zip(rows, fn(d, w)):
                best[r[0]] = max(best.get(r[0], float("-inf")), f)
            run[q] = dict(sorted(best.items(), key=lambda x: -x[1])[:100])
        return ev.evaluate(qrels, run, {})[0]["nDCG@10"]

    fusions = [
        ("dense only", lambda d, w: d),
        ("keyword only", lambda d, w: w),
        ("RRF k=60", rrf(60)),
        ("RRF k=10", rrf(10)),
        ("min-max a=0.5", convex(minmax, 0.5)),
        ("min-max a=0.7", convex(minmax, 0.7)),
        ("min-max a=0.8", convex(minmax, 0.8)),
        ("z-score a=0.5", convex(zs, 0.5)),
        ("z-score a=0.7", convex(zs, 0.7)),
        ("z-score a=0.8", convex(zs, 0.8)),
        ("adaptive a=0.7 (default)", adaptive(0.7)),
    ]

    print("1. score distributions (per query, over its candidates)")
    conf_d, conf_w, corr = [], [], []
    for rows in cand.values():
        if len(rows) < 3:
            continue
        d = [r[2] if r[2] is not None else -1.0 for r in rows]
        w = [r[3] or 0.0 for r in rows]
        conf_d.append(confidence(d))
        conf_w.append(confidence(w))
        if statistics.pstdev(d) > 0 and statistics.pstdev(w) > 0:
            corr.append(statistics.correlation(d, w))
    print(f"   confidence (top - mean) / std of the top {CONFIDENCE_DEPTH}: dense median "
          f"{statistics.median(conf_d):.2f}, keyword median {statistics.median(conf_w):.2f}")
    print(f"   correlation of the two scores over the candidates: median {statistics.median(corr):.2f}")
    weights = [adaptive_weight([r[2] if r[2] is not None else -1.0 for r in rows],
                               [r[3] or 0.0 for r in rows], 0.7) for rows in cand.values() if rows]
    q = statistics.quantiles(weights, n=10)
    print(f"   adaptive dense weight per query: 10th pct {q[0]:.2f}, median {statistics.median(weights):.2f}, 90th pct {q[-1]:.2f}")

    print("\n2. fusions, nDCG@10")
    for name, fn in fusions:
        print(f"   {name:<26} {score(cand, fn):.4f}")

    print("\n3. where the fused top 10 comes from (share of its chunks in each side's own top 10)")
    for name, fn in fusions[2:3] + fusions[-1:]:
        from_d = from_w = total = 0
        for rows in cand.values():
            if not rows:
                continue
            d = [r[2] if r[2] is not None else -1.0 for r in rows]
            w = [r[3] or 0.0 for r in rows]
            f = fn(d, w)
            top = sorted(range(len(rows)), key=lambda i: -f[i])[:10]
            td = set(sorted(range(len(rows)), key=lambda i: -d[i])[:10])
            tw = set(sorted(range(len(rows)), key=lambda i: -w[i])[:10])
            from_d += sum(i in td for i in top)
            from_w += sum(i in tw for i in top)
            total += len(top)
        print(f"   {name:<26} dense top 10: {from_d / total:.0%}, keyword top 10: {from_w / total:.0%}")

    print("\n4. robustness, nDCG@10 (dense only / keyword only / RRF 60 / z-score 0.8 / adaptive 0.7)")
    picks = [fusions[0], fusions[1], fusions[2], fusions[9], fusions[10]]
    for label, make in [
        ("as measured", lambda: cand),
        ("dense + noise 0.05", lambda: noisy(cand, 0.05)),
        ("dense + noise 0.10", lambda: noisy(cand, 0.10)),
        ("dense + noise 0.20", lambda: noisy(cand, 0.20)),
        ("relevant BM25 x1.3", lambda: boosted(cand, qrels, 1.3)),
        ("relevant BM25 x1.6", lambda: boosted(cand, qrels, 1.6)),
        ("relevant BM25 x2.0", lambda: boosted(cand, qrels, 2.0)),
    ]:
        c = make()
        vals = [score(c, fn) for _, fn in picks]
        best = max(vals[0], vals[1])
        flags = ["" if v >= best - 0.005 else " (loses)" for v in vals[2:]]
        print(f"   {label:<20} " + " / ".join(f"{v:.4f}" for v in vals[:2]) + " / "
              + " / ".join(f"{v:.4f}{fl}" for v, fl in zip(vals[2:], flags)))


def noisy(cand, sigma, seed=1):
    rnd = random.Random(seed)
    return {q: [[r[0], r[1], (r[2] if r[2] is not None else -1.0) + rnd.gauss(0, sigma), r[3]]
                for r in rows] for q, rows in cand.items()}


def boosted(cand, qrels, factor):
    return {q: [[r[0], r[1], r[2], (r[3] or 0.0) * (factor if r[0] in qrels.get(q, ()) else 1.0)]
                for r in rows] for q, rows in cand.items()}


if __name__ == "__main__":
    main()
