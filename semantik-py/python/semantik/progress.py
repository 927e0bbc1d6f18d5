"""tqdm progress bars for operations and model downloads, in terminals and notebooks:
``semantik.progress(op)`` follows an operation, ``semantik.progress.download(db, model)`` a
model's download."""

from __future__ import annotations

from typing import Any


class _Progress:
    """``semantik.progress``: call it on an operation; ``.download`` fetches a model."""

    def __call__(self, op: Any, *, desc: str | None = None, **tqdm_args: Any) -> dict[str, Any]:
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

    def download(
        self, db: Any, model: str, revision: str | None = None, **tqdm_args: Any
    ) -> dict[str, Any]:
        """Fetches ``model`` (at ``revision``) with ``db.fetch_model``, showing each downloaded
        file's bytes in a tqdm bar; returns its result. Nothing is shown for a model already in
        the caches. Needs ``tqdm`` installed.

        >>> import semantik, tempfile
        >>> db = semantik.open(tempfile.mkdtemp(), offline=True)
        >>> try:
        ...     semantik.progress.download(db, "nobody/absent-model", disable=True)
        ... except semantik.ModelError as e:
        ...     print(e.code)
        400
        >>> db.close()
        """
        from tqdm.auto import tqdm

        bars: dict[str, Any] = {}

        def report(p: dict[str, Any]) -> None:
            bar = bars.get(p["file"])
            if bar is None:
                bar = bars[p["file"]] = tqdm(
                    desc=p["file"], total=p["total"], unit="B", unit_scale=True, **tqdm_args
                )
            bar.n = p["bytes"]
            bar.refresh()
            if p["done"]:
                bar.close()

        try:
            result: dict[str, Any] = db.fetch_model(model, revision, report)
            return result
        finally:
            for bar in bars.values():
                bar.close()


progress = _Progress()
