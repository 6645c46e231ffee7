"""Store errors.

StoreError
├── StoreMisuse            the caller broke the rules (bad column, closed transaction)
├── DuplicateKey           insert of a key that exists
├── RowNotFound            update or delete of a key that does not
├── DeadlockDetected       a lock wait would close a cycle; this transaction must roll back
└── StoreUnavailable       the database cannot be reached
"""

from __future__ import annotations

__all__ = [
    "DeadlockDetected",
    "DuplicateKey",
    "RowNotFound",
    "StoreError",
    "StoreMisuse",
    "StoreUnavailable",
]


class StoreError(Exception):
    """Base of every store error."""


class StoreMisuse(StoreError):
    """The caller used the store wrongly; a bug in the caller, not a database condition."""


class DuplicateKey(StoreError):
    pass


class RowNotFound(StoreError):
    pass


class DeadlockDetected(StoreError):
    """Raised in the transaction whose lock request would complete a wait cycle."""


class StoreUnavailable(StoreError):
    pass
