"""semantik: an embeddable, collection-centric semantic search engine.

>>> import semantik, tempfile
>>> with semantik.open(tempfile.mkdtemp()) as db:
...     info = db.create_collection("notes", model="external", dimension=3)
...     [c["name"] for c in db.collections()]
['notes']
"""

from __future__ import annotations

from semantik._semantik import Database, version
from semantik.exceptions import (
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

__version__ = version()

__all__ = [
    "AlreadyExistsError",
    "Database",
    "DatabaseLockedError",
    "DocumentError",
    "InvalidArgumentError",
    "ModelError",
    "NotFoundError",
    "OperationError",
    "OperationTimeoutError",
    "SemantikError",
    "StateError",
    "StorageError",
    "open",
    "version",
]


def open(path: str) -> Database:  # noqa: A001 - mirrors the builtin on purpose
    """Opens (creating if needed) the database in directory ``path``; usable as a context manager."""
    return Database(path)
