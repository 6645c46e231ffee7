"""Store errors.

StoreError
├── StoreMisuse            the caller broke the rules (bad column, closed transaction)
├── DuplicateKey           insert of a key that exists
├── RowNotFound            update or delete of a key that does not
├── TransactionAborted     this transaction must roll back; running it again may succeed
│   ├── DeadlockDetected   a lock wait would close a cycle
│   ├── WriteConflict      its reads went stale before it could write (SQLite's snapshot)
│   └── LockTimeout        it waited longer than the store's bound for a lock
└── StoreUnavailable       the database cannot be reached

The three kinds of ``TransactionAborted`` are different conditions and are named apart, so that
a log or a report never calls a busy SQLite database a deadlock.
"""

from __future__ import annotations

__all__ = [
    "DeadlockDetected",
    "DuplicateKey",
    "LockTimeout",
    "RowNotFound",
    "StoreError",
    "StoreMisuse",
    "StoreUnavailable",
    "TransactionAborted",
    "WriteConflict",
]


class StoreError(Exception):
    """Base of every store error."""


class StoreMisuse(StoreError):
    """The caller used the store wrongly; a bug in the caller, not a database condition."""


class DuplicateKey(StoreError):
    pass


class RowNotFound(StoreError):
    pass


class TransactionAborted(StoreError):
    """The transaction cannot go on and must roll back; nothing it wrote will commit. The
    condition is one of timing between transactions, so running the whole transaction again
    (reading afresh) may succeed."""


class DeadlockDetected(TransactionAborted):
    """Raised in the transaction whose lock request would complete a wait cycle."""


class WriteConflict(TransactionAborted):
    """The transaction read a snapshot and then needed to write, but another transaction had
    written since (SQLite refuses to upgrade a stale snapshot to the write lock; PostgreSQL
    reports a serialization failure). Lock before reading (``for_update``) to wait instead."""


class LockTimeout(TransactionAborted):
    """The transaction waited for a lock longer than the store allows (SQLite's busy timeout
    for its database write lock): another connection, often another process, held it that
    long. Not a deadlock: nobody was shown to be waiting for this transaction."""


class StoreUnavailable(StoreError):
    pass
