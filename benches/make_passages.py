"""Builds benchmark text sets from the Python 3.11 documentation sources (Debian python3.11-doc),
one JSON string per line: by default 1,024 passages of 50-250 words (embedding benchmark); with
`--sentences`, COUNT distinct sentences of 6-60 words (index benchmark), topped up with sentences
from the docstrings of the running Python's standard library when the documentation has too few.

Usage: make_passages.py DOCS_SOURCES_DIR OUT.jsonl [COUNT] [--sentences]
"""

import ast
import itertools
import json
import pathlib
import re
import sys
import sysconfig


def paragraphs(text):
    for block in re.split(r"\n\s*\n", text):
        words = block.split()
        # Skip reST markup-only blocks (tables, directives, headings underlines).
        if not words or block.lstrip().startswith((".. ", "+-", "==", "--", "|")):
            continue
        yield " ".join(words)


def docstrings():
    stdlib = pathlib.Path(sysconfig.get_paths()["stdlib"])
    for path in sorted(stdlib.rglob("*.py")):
        try:
            tree = ast.parse(path.read_bytes())
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc:
                    yield from paragraphs(doc)


def sentences(src):
    seen = set()
    docs = (p for path in sorted(src.rglob("*.rst.txt"))
            for p in paragraphs(path.read_text(encoding="utf-8", errors="replace")))
    for p in itertools.chain(docs, docstrings()):
        for s in re.split(r"(?<=[.!?])\s+", p):
            if 6 <= len(s.split()) <= 60 and s not in seen:
                seen.add(s)
                yield s


def main():
    args = [a for a in sys.argv[1:] if a != "--sentences"]
    src, out = pathlib.Path(args[0]), pathlib.Path(args[1])
    count = int(args[2]) if len(args) > 2 else 1024
    pool = []
    if "--sentences" in sys.argv:
        pool = list(itertools.islice(sentences(src), count))
    for path in sorted(src.rglob("*.rst.txt")) if not pool else []:
        buf = []
        for p in paragraphs(path.read_text(encoding="utf-8", errors="replace")):
            buf.append(p)
            n = sum(len(b.split()) for b in buf)
            if n >= 50:
                if n <= 250:
                    pool.append(" ".join(buf))
                buf = []
    if len(pool) < count:
        sys.exit(f"only {len(pool)} passages found")
    step = len(pool) / count
    chosen = [pool[int(i * step)] for i in range(count)]
    out.write_text("".join(json.dumps(p) + "\n" for p in chosen), encoding="utf-8")
    words = [len(p.split()) for p in chosen]
    print(f"{len(chosen)} passages, {min(words)}-{max(words)} words, from {len(pool)}", file=sys.stderr)


if __name__ == "__main__":
    main()
