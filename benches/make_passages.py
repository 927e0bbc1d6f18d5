"""Builds the embedding benchmark's passage set: 1,024 real passages of 50-250 words from the
Python 3.11 documentation sources (Debian python3.11-doc), one JSON string per line.

Usage: make_passages.py DOCS_SOURCES_DIR OUT.jsonl [COUNT]
"""

import json
import pathlib
import re
import sys


def paragraphs(text):
    for block in re.split(r"\n\s*\n", text):
        words = block.split()
        # Skip reST markup-only blocks (tables, directives, headings underlines).
        if not words or block.lstrip().startswith((".. ", "+-", "==", "--", "|")):
            continue
        yield " ".join(words)


def main():
    src, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 1024
    pool = []
    for path in sorted(src.rglob("*.rst.txt")):
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
