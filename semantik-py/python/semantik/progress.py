"""A tqdm progress bar for operations, in terminals and notebooks."""

from __future__ import annotations

from typing import Any


def progress(op: Any, *, desc: str | None = None, **tqdm_args: Any) -> dict[str, Any]:
    """Shows ``op``'s progress in a tqdm bar (``tqdm.auto``: a widget in notebooks) until it
    ends, then returns ``op.wait()``'s result (raising as it does). Needs ``tqdm`` installed.

    >>> import semantik, tempfile
    >>> db = semantik.open(tempfile.mkdtemp())
    >>> col = db.create_collection("v", model="external", dimension=2)
    >>> info = semantik.progress(col.add_vectors(["a"], [[1.0, 0.0]]), disable=True)
    >>> info["status"]
    'completed'
    >>> db.close()
    """
    from tqdm.auto import tqdm

    with tqdm(desc=desc or op.kind, unit="doc", **tqdm_args) as bar:
        for event in op.events():
            p = event.get("progress")
            if p is not None:
                if p.get("documents_total") is not None:
                    bar.total = p["documents_total"]
                bar.n = p.get("documents_done", 0)
                bar.set_postfix(phase=p.get("phase"), refresh=False)
                bar.refresh()
    return op.wait()
