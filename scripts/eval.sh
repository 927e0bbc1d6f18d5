#!/usr/bin/env bash
# `make eval [DATASET=folder]`: retrieval quality on a BEIR-format set (corpus.jsonl,
# queries.jsonl, qrels.tsv, optional self.tsv). Ingests it with the default model, writes one
# run file per search mode (documents ranked by the library: max_per_document(1)), scores them
# with ../shared/eval/evaluate.py, runs the bm25s reference side by side, studies the ways of
# ranking documents from chunks and the final scores' distribution (benches/ranking_study.py),
# prints a table and ends with one JSON line.
set -euo pipefail
cd "$(dirname "$0")/.."
dataset="${1:-../shared/eval/pyfaq}"
evaluate="${EVALUATE:-../shared/eval/evaluate.py}"
qrels="$dataset/qrels.tsv"
[ -f "$qrels" ] || qrels="$dataset/qrels/test.tsv"
for f in "$dataset/corpus.jsonl" "$dataset/queries.jsonl" "$qrels"; do
  [ -f "$f" ] || { echo "eval: $f is missing (a BEIR folder is needed)" >&2; exit 2; }
done
[ -f "$evaluate" ] || { echo "eval: $evaluate is missing (set EVALUATE=path)" >&2; exit 2; }
scripts/fetch-model.sh >/dev/null
venv=.cache/bench-venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import bm25s, Stemmer" 2>/dev/null; then
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "bm25s==0.3.16" "PyStemmer==3.1.0" numpy
fi
cargo build -q --release -p semantik-core --bench eval
bin=$(ls -t target/release/deps/eval-* | grep -v '\.d$' | head -1)
name=$(basename "$(cd "$dataset" && pwd)")
# EVAL_PRECISION=float16|int8 runs the model at that precision (its own output folder).
out=".cache/eval/$name${EVAL_PRECISION:+-$EVAL_PRECISION}"
mkdir -p "$out"
export RAYON_NUM_THREADS="${RAYON_NUM_THREADS:-2}"
ours=$("$bin" "$dataset" "$out" ${EVAL_REUSE:+--reuse} ${EVAL_PRECISION:+--precision "$EVAL_PRECISION"})
"$venv/bin/python" benches/eval_bm25s.py "$dataset" "$out/run-bm25s.json"
exclude=()
[ -f "$dataset/self.tsv" ] && exclude=(--exclude "$dataset/self.tsv")
for run in "$out"/run-*.json; do
  mode=$(basename "$run" .json); mode=${mode#run-}
  python3 "$evaluate" --qrels "$qrels" --run "$run" ${exclude[@]+"${exclude[@]}"} --json > "$out/score-$mode.json"
done
study=$(python3 benches/ranking_study.py "$out" "$qrels" "$evaluate")
python3 - "$out" "$name" "$ours" "$study" <<'PY'
import glob, json, os, sys
out, name, ours, study = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
scores = {os.path.basename(p)[6:-5]: json.load(open(p)) for p in sorted(glob.glob(out + "/score-*.json"))}
order = [m for m in ["semantic", "semantic_exact", "keyword", "hybrid", "hybrid_rrf", "hybrid_weighted", "bm25s"] if m in scores]
print(f"{'mode':<16}{'nDCG@10':>9}{'R@10':>8}{'R@100':>8}{'MRR@10':>8}")
for m in order:
    s = scores[m]
    print(f"{m:<16}{s['nDCG@10']:>9.4f}{s['Recall@10']:>8.4f}{s['Recall@100']:>8.4f}{s['MRR@10']:>8.4f}")
print(f"ingest {ours['ingest_s']:.1f} s, {ours['documents']} documents, {ours['chunks']} chunks; "
      f"hybrid p50 {ours['hybrid_p50_ms']:.2f} ms p99 {ours['hybrid_p99_ms']:.2f} ms; "
      f"vector p50 {ours['vector_p50_ms']:.2f} ms p99 {ours['vector_p99_ms']:.2f} ms; "
      f"p50 of a keyword query {ours['keyword_p50_ms']:.2f} ms, of a semantic text query {ours['semantic_p50_ms']:.2f} ms")
print("document ranking (nDCG@10 on the hybrid candidates):")
for side, options in study["document_ranking"].items():
    print(f"  {side:<9}" + "  ".join(f"{k} {v:.4f}" for k, v in options.items()))
for w, t in ours["hybrid_by_query_words"].items():
    print(f"hybrid, {w}-word queries: p50 {t['p50_ms']:.1f} ms p99 {t['p99_ms']:.1f} ms "
          f"(keyword alone p50 {t['keyword_p50_ms']:.1f} ms)")
pick = lambda k: {m: round(scores[m][k], 4) for m in order}
print(json.dumps({"dataset": name, "ndcg10": pick("nDCG@10"), "recall100": pick("Recall@100"),
                  "mrr10": pick("MRR@10"), "recall10": pick("Recall@10"),
                  "hybrid_p50_ms": round(ours["hybrid_p50_ms"], 3),
                  "hybrid_p99_ms": round(ours["hybrid_p99_ms"], 3),
                  "vector_p50_ms": round(ours["vector_p50_ms"], 3),
                  "vector_p99_ms": round(ours["vector_p99_ms"], 3),
                  "documents": ours["documents"], "chunks": ours["chunks"],
                  "hybrid_by_query_words": {w: {k: round(v, 3) for k, v in t.items()}
                                            for w, t in ours["hybrid_by_query_words"].items()},
                  "document_ranking": study["document_ranking"], "scores": study["scores"]}))
PY
