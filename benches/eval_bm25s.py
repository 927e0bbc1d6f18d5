#!/usr/bin/env python3
"""The BM25 reference for `make eval`: bm25s (Lucene variant, k1 1.5, b 0.75, English
stopwords, PyStemmer's English Snowball stemmer) over title + text of a BEIR corpus.

    eval_bm25s.py DATASET RUN.json

Writes the top 100 documents of each query as a run file ({query: {doc: score}}), leaving out
the pairs listed in DATASET/self.tsv when it exists.
"""
import json
import os
import sys

import bm25s
import Stemmer

DEPTH = 100


def main():
    dataset, out = sys.argv[1], sys.argv[2]
    with open(os.path.join(dataset, "corpus.jsonl"), encoding="utf-8") as f:
        corpus = [json.loads(line) for line in f if line.strip()]
    with open(os.path.join(dataset, "queries.jsonl"), encoding="utf-8") as f:
        queries = [json.loads(line) for line in f if line.strip()]
    excluded = {}
    self_tsv = os.path.join(dataset, "self.tsv")
    if os.path.exists(self_tsv):
        with open(self_tsv, encoding="utf-8") as f:
            for n, line in enumerate(f):
                cols = line.rstrip("\n").split("\t")
                if len(cols) < 2 or (n == 0 and cols[0] in ("query-id", "query_id", "qid")):
                    continue
                excluded.setdefault(cols[0], set()).add(cols[1])
    stemmer = Stemmer.Stemmer("english")
    texts = [(d.get("title") or "") + "\n\n" + (d.get("text") or "") for d in corpus]
    tokens = bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False)
    retriever = bm25s.BM25(method="lucene", k1=1.5, b=0.75)
    retriever.index(tokens, show_progress=False)
    ids = [str(d["_id"]) for d in corpus]
    run = {}
    k = min(DEPTH + 10, len(ids))
    for q in queries:
        qt = bm25s.tokenize([q["text"]], stopwords="en", stemmer=stemmer, show_progress=False)
        qid = str(q["_id"])
        if not qt.vocab:
            run[qid] = {}
            continue
        docs, scores = retriever.retrieve(qt, k=k, show_progress=False)
        skip = excluded.get(qid, set())
        ranked = [(ids[i], float(s)) for i, s in zip(docs[0], scores[0]) if ids[i] not in skip]
        run[qid] = dict(ranked[:DEPTH])
    with open(out, "w", encoding="utf-8") as f:
        json.dump(run, f)


if __name__ == "__main__":
    main()
