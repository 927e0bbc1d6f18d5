"""semantik quickstart in Python: index three notes with the default model, search them.

Run: python examples/quickstart.py /tmp/my-db
"""

import sys

import semantik

with semantik.open(sys.argv[1] if len(sys.argv) > 1 else "quickstart-db") as db:
    notes = db.create_collection("notes")  # all-MiniLM-L6-v2
    op = notes.add(
        ["sled stores the data on disk", "candle runs the embedding model", "rayon spreads the work over every core"]
    )
    op.wait()  # or: for event in op.events(): ...  / await op
    for hit in notes.search("where is my data kept?", limit=2):
        print(f"{hit.score:.3f}  {hit.text}")
    print(notes.embed(["a query"]).shape)  # numpy float32 (1, 384)
