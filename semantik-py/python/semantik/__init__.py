"""semantik: an embeddable, collection-centric semantic search engine.

>>> import semantik, tempfile
>>> with semantik.open(tempfile.mkdtemp()) as db:
...     col = db.create_collection("notes", model="external", dimension=3)
...     op = col.add_vectors(["a", "b"], [[1, 0, 0], [0, 1, 0]], texts=["along x", "along y"])
...     info = op.wait()
...     [hit.text for hit in col.search_by_vector([0.1, 0.9, 0.0], limit=1)]
['along y']
"""

from __future__ import annotations

from typing import Any

from semantik._semantik import Collection, Database, Embedder, Events, Hit, Operation, version
from semantik.exceptions import (
    AccessError,
    AlreadyExistsError,
    DatabaseLockedError,
    DocumentError,
    InvalidArgumentError,
    ModelError,
    NotFoundError,
    OperationError,
    OperationTimeoutError,
    SemantikError,
    StateError,
    StorageError,
)
from semantik.progress import progress

__version__ = version()

__all__ = [
    "AccessError",
    "AlreadyExistsError",
    "Collection",
    "Database",
    "DatabaseLockedError",
    "DocumentError",
    "Embedder",
    "Events",
    "Hit",
    "InvalidArgumentError",
    "ModelError",
    "NotFoundError",
    "Operation",
    "OperationError",
    "OperationTimeoutError",
    "SemantikError",
    "StateError",
    "StorageError",
    "open",
    "import_arrow",
    "progress",
    "version",
]


def open(path: str, **config: Any) -> Database:  # noqa: A001 - mirrors the builtin on purpose
    """Opens (creating if needed) the database in directory ``path``; a context manager.

    ``config``: ``max_concurrent_operations``, ``operation_timeout`` (seconds),
    ``max_collections``, ``max_collection_bytes``.
    """
    return Database(path, **config)


def import_arrow(db: Database, data: Any, name: str) -> Collection:
    """Creates collection ``name`` in ``db`` from Arrow data in the columns of
    ``Collection.export`` with its schema metadata: a ``pyarrow.Table`` (as ``Collection.to_arrow``
    returns, filtered or sliced as you like), a ``RecordBatchReader`` or a list of batches.
    Nothing is embedded again. Needs ``pyarrow``.

    >>> import semantik, tempfile
    >>> with semantik.open(tempfile.mkdtemp()) as db:
    ...     col = db.create_collection("notes", model="external", dimension=2)
    ...     info = col.add_vectors(["a", "b"], [[1, 0], [0, 1]], texts=["x", "y"]).wait()
    ...     table = col.to_arrow()
    ...     copy = semantik.import_arrow(db, table.slice(1, 1), "only-b")  # the row of "b"
    ...     [doc["id"] for doc in copy.documents()]
    ['b']
    """
    import os
    import tempfile

    import pyarrow as pa
    import pyarrow.ipc

    if isinstance(data, pa.RecordBatchReader):
        table = data.read_all()
    elif isinstance(data, pa.Table):
        table = data
    else:
        table = pa.Table.from_batches(list(data))
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "import.arrow")
        with pa.ipc.new_file(path, table.schema) as writer:
            writer.write_table(table)
        return db.import_file(path, name)
