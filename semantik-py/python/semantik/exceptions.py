"""Exceptions of semantik. Each carries the core's stable numeric ``code`` and subclasses a
builtin exception, so callers can catch ``LookupError``, ``ValueError`` and so on."""

from __future__ import annotations


class SemantikError(Exception):
    """Base class of every semantik error. ``code`` is the stable error code."""

    def __init__(self, message: str, code: int = 900) -> None:
        super().__init__(message)
        self.code = code


class InvalidArgumentError(SemantikError, ValueError):
    """A bad argument (codes 1xx)."""


class NotFoundError(SemantikError, LookupError):
    """A collection, operation, document or path that does not exist."""


class AlreadyExistsError(SemantikError, ValueError):
    """A collection name that is taken."""


class DatabaseLockedError(SemantikError, OSError):
    """Another process (or handle) has the database open."""


class StateError(SemantikError, RuntimeError):
    """The request does not fit the current state (closed database, limits, ...)."""


class StorageError(SemantikError, OSError):
    """Storage failure, corruption or an unsupported on-disk format (codes 3xx)."""


class ModelError(SemantikError, RuntimeError):
    """A model that cannot be found or run (codes 4xx)."""


class OperationError(SemantikError, RuntimeError):
    """An operation that failed, was cancelled or timed out (codes 5xx)."""


class OperationTimeoutError(OperationError, TimeoutError):
    """Waiting for an operation, or the operation itself, ran out of time."""


class DocumentError(SemantikError, ValueError):
    """A document that cannot be read (codes 6xx)."""


class AccessError(SemantikError, PermissionError):
    """Not signed in, or not allowed (the accounts of a served database)."""


_BY_CODE = {
    702: AlreadyExistsError,
    200: NotFoundError,
    201: AlreadyExistsError,
    202: NotFoundError,
    203: NotFoundError,
    103: NotFoundError,
    210: DatabaseLockedError,
    231: OperationTimeoutError,
    501: OperationTimeoutError,
}


def error_class(code: int) -> type[SemantikError]:
    """The exception class for a core error code."""
    if code in _BY_CODE:
        return _BY_CODE[code]
    group = code // 100
    return {
        1: InvalidArgumentError,
        2: StateError,
        3: StorageError,
        4: ModelError,
        5: OperationError,
        6: DocumentError,
        7: AccessError,
    }.get(group, SemantikError)
