"""Chunking and embedding on a Ray cluster; one writer imports the result.

Embedding is nearly all of the time an ingestion takes, and it parallelises across machines:
:func:`embed` turns a Ray Dataset of texts or files into chunks and vectors in an actor pool
(``map_batches`` with a callable class: one model load per actor, ``RAYON_NUM_THREADS`` set from
the actor's CPUs), each actor ingesting its batches into a private, temporary database with the
same code as in-process ingestion, and emitting them in the schema of
:meth:`semantik.Collection.export`. :func:`ingest` then imports those rows into a collection of a
local database, which stays single-writer: nothing is embedded again.

A batch that Ray runs twice (an actor that died mid-run is restarted and its batch retried) may
reach the writer twice; :func:`ingest` keeps one copy of each document, identified by its source
path (files) or its id (texts), so every document ends in the collection exactly once.

Input rows are either texts, with columns ``id`` (required: it identifies a document across
retries) and ``text``, and optionally ``title`` and ``metadata`` (a dict or a JSON string), or
files, with a ``path`` column (files every actor can read, e.g. on shared storage) and optionally
``bytes`` (the file's content, as ``ray.data.read_binary_files(..., include_paths=True)`` gives;
then the path is only the document's name).

Needs ``ray[data]``.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc

import semantik

__all__ = ["RayIngest", "embed", "ingest"]

#: The column :func:`embed` adds to the export schema: the Ray node that embedded the row.
NODE_COLUMN = "ray_node_id"


_SETTINGS = ("model", "model_revision", "dimension", "chunking", "keyword", "index")


def _settings(given: dict[str, Any]) -> dict[str, Any]:
    """The collection settings among ``given`` (those of ``create_collection``), unset ones left out."""
    return {k: given[k] for k in _SETTINGS if given.get(k) is not None}


class _Embedder:
    """An actor of the pool: one temporary database, the model loaded once, a collection per batch."""

    def __init__(self, settings: dict[str, Any]) -> None:
        import ray

        self._node = ray.get_runtime_context().get_node_id()
        self._folder = tempfile.TemporaryDirectory(prefix="semantik-ray-")
        self._db = semantik.open(os.path.join(self._folder.name, "db"))
        self._settings = settings
        self._batches = 0
        # Loads the model now, once for the actor's life.
        self._db.create_collection("warm", **settings)

    def __call__(self, batch: pa.Table) -> pa.Table:
        self._batches += 1
        name = f"batch-{self._batches}"
        col = self._db.create_collection(name, **self._settings)
        try:
            if "text" in batch.column_names:
                self._add_texts(col, batch)
                table = col.to_arrow()
            else:
                table = self._add_files(col, batch)
        finally:
            self._db.delete_collection(name)
        return table.append_column(NODE_COLUMN, pa.array([self._node] * table.num_rows, pa.string()))

    @staticmethod
    def _add_texts(col: semantik.Collection, batch: pa.Table) -> None:
        rows = batch.to_pylist()
        metadatas = [
            json.loads(r["metadata"]) if isinstance(r.get("metadata"), str) else r.get("metadata")
            for r in rows
        ]
        col.add(
            [r["text"] for r in rows],
            ids=[str(r["id"]) for r in rows],
            metadatas=metadatas,
            titles=[r.get("title") for r in rows],
        ).wait()

    def _add_files(self, col: semantik.Collection, batch: pa.Table) -> pa.Table:
        paths = batch.column("path").to_pylist()
        if "bytes" not in batch.column_names:
            for path in paths:
                col.add_source(path).wait()
            return col.to_arrow()
        # Each file's content under its own name (extraction goes by the extension), then the
        # rows name the file as the dataset does.
        staged = tempfile.mkdtemp(dir=self._folder.name)
        original = {}
        for i, (path, content) in enumerate(zip(paths, batch.column("bytes").to_pylist(), strict=True)):
            folder = os.path.join(staged, str(i))
            os.mkdir(folder)
            local = os.path.join(folder, os.path.basename(path))
            with open(local, "wb") as f:
                f.write(content)
            original[os.path.realpath(local)] = path
        col.add_source(staged).wait()
        table = col.to_arrow()
        names = [original.get(os.path.realpath(p), p) if p else p for p in table.column("source_path").to_pylist()]
        at = table.schema.get_field_index("source_path")
        return table.set_column(at, "source_path", pa.array(names, pa.string()))


def embed(
    dataset: Any,
    *,
    model: str | None = None,
    model_revision: str | None = None,
    dimension: int | None = None,
    chunking: dict[str, Any] | None = None,
    keyword: dict[str, Any] | None = None,
    index: dict[str, Any] | None = None,
    actors: int | tuple[int, int] = 2,
    cpus_per_actor: int = 1,
    batch_size: int = 32,
) -> Any:
    """The chunks and vectors of ``dataset``'s texts or files, as a Ray Dataset in the schema of
    :meth:`semantik.Collection.export` plus ``ray_node_id`` (the node that embedded the row).

    ``actors``: the pool's size, or ``(min, max)`` for an autoscaling pool; each actor asks for
    ``cpus_per_actor`` CPUs and embeds with as many threads. The settings are those of
    :meth:`semantik.Database.create_collection`. Lazy, as Ray Datasets are: nothing runs until
    the result is consumed (by :func:`ingest`, ``write_parquet``, ``iter_batches``...).
    """
    import ray.data

    columns = dataset.schema().names
    if not ({"id", "text"} <= set(columns) or "path" in columns):
        raise semantik.InvalidArgumentError(
            f"rows need `id` and `text` columns (the id identifies a document when Ray retries a "
            f"batch), or a `path` column; these have {columns}"
        )
    size = actors if isinstance(actors, tuple) else (actors, actors)
    return dataset.map_batches(
        _Embedder,
        fn_constructor_kwargs={
            "settings": _settings(
                {"model": model, "model_revision": model_revision, "dimension": dimension,
                 "chunking": chunking, "keyword": keyword, "index": index}
            )
        },
        batch_size=batch_size,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(min_size=size[0], max_size=size[1]),
        num_cpus=cpus_per_actor,
        runtime_env={"env_vars": {"RAYON_NUM_THREADS": str(cpus_per_actor)}},
    )


@dataclass
class RayIngest:
    """What :func:`ingest` did."""

    #: The collection made.
    collection: semantik.Collection
    #: Documents and chunks imported.
    documents: int
    chunks: int
    #: Rows dropped because a retried batch delivered their document a second time.
    duplicate_rows: int
    #: Chunks embedded per Ray node id (retried copies included).
    nodes: dict[str, int] = field(default_factory=dict)
    #: Seconds spent embedding (the Ray run) and importing (the single writer).
    embed_seconds: float = 0.0
    import_seconds: float = 0.0


def ingest(db: semantik.Database, name: str, dataset: Any, **options: Any) -> RayIngest:
    """Embeds ``dataset`` on Ray with :func:`embed` (``options`` are its keywords) and imports
    the result into a new collection ``name`` of ``db``, each document exactly once.

    Rows stream through two temporary Arrow files beside nothing else: memory stays bounded by
    a batch, not the corpus. A document that could not be read or extracted has no rows, so it
    is missing from the collection (``documents`` says how many arrived); an input without
    the columns :func:`embed` needs raises :class:`semantik.InvalidArgumentError`.
    """
    settings = _settings(options)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="semantik-ray-") as folder:
        # The export schema and its metadata (model, revision, settings), from this machine:
        # the import loads the model here anyway.
        scratch = semantik.open(os.path.join(folder, "scratch"))
        try:
            schema = scratch.create_collection("schema", **settings).to_arrow().schema
        finally:
            scratch.close()
        staged = os.path.join(folder, "staged.arrow")
        nodes: dict[str, int] = {}
        with pa.ipc.new_file(staged, schema) as out:
            for batch in embed(dataset, **options).iter_batches(batch_size=None, batch_format="pyarrow"):
                for node, n in zip(*pc.value_counts(batch.column(NODE_COLUMN)).flatten(), strict=True):
                    nodes[node.as_py()] = nodes.get(node.as_py(), 0) + n.as_py()
                batch = batch.drop_columns([NODE_COLUMN]).cast(schema)
                out.write_table(batch)
        embedded = time.monotonic()
        table = pa.ipc.open_file(pa.memory_map(staged)).read_all()
        rows = _one_copy_each(table)
        final = os.path.join(folder, "import.arrow")
        with pa.ipc.new_file(final, schema) as out:
            for at in range(0, len(rows), 8192):
                part = table.take(rows[at : at + 8192])
                ids = pa.array(range(at, at + part.num_rows), pa.uint64())
                out.write_table(part.set_column(0, schema.field(0), ids))
        col = db.import_file(final, name)
        documents = len(set(table.column("document_id").take(rows).to_pylist())) if rows else 0
    return RayIngest(
        collection=col,
        documents=documents,
        chunks=len(rows),
        duplicate_rows=table.num_rows - len(rows),
        nodes=nodes,
        embed_seconds=embedded - started,
        import_seconds=time.monotonic() - embedded,
    )


def _one_copy_each(table: pa.Table) -> list[int]:
    """Row numbers of ``table`` in import order: documents by source path (files) or id
    (texts), one copy of each (the one with the least document id; copies of a retried batch
    are equal), its chunks in order.

    Raises :class:`semantik.InvalidArgumentError` when a kept document lacks a chunk (which a
    retried batch cannot cause: Ray delivers a batch's output whole or not at all).
    """
    key = pc.coalesce(table.column("source_path"), table.column("document_id"))
    order = pa.table(
        {"key": key, "doc": table.column("document_id"), "chunk": table.column("chunk_index")}
    )
    sorted_rows = pc.sort_indices(order, sort_keys=[("key", "ascending"), ("doc", "ascending"), ("chunk", "ascending")])
    keys = key.take(sorted_rows).to_pylist()
    docs = table.column("document_id").take(sorted_rows).to_pylist()
    chunks = table.column("chunk_index").take(sorted_rows).to_pylist()
    keep: list[int] = []
    kept_doc: dict[str, str] = {}
    last: tuple[str, int] | None = None
    for row, k, d, c in zip(sorted_rows.to_pylist(), keys, docs, chunks, strict=True):
        if kept_doc.setdefault(k, d) != d or last == (d, c):
            continue
        if c != (last[1] + 1 if last and last[0] == d else 0):
            raise semantik.InvalidArgumentError(f"document {d!r} lacks chunk {c - 1} in the embedded rows")
        keep.append(row)
        last = (d, c)
    return keep
