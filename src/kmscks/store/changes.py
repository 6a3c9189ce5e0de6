"""Cached reads that every process of a server drops when any of them changes the database.

store layer, standard library only. For the embedded SQLite database, whose processes (a
server's workers, and any `cks` command that opens the same data directory) all run on one
machine: a small file next to the database holds a change token, 8 random bytes, that every
process maps into memory and rewrites after each write it commits. A process caches a read
together with the token it saw before reading; the cached value is used while the token is
unchanged, so a disable, disconnect or deletion committed by any process is seen by every
other one on its next request, as if it had read the database.

Why: the crypto operations read a key and its store on every request, and under load that
SQLite read (a read lock taken with system calls, and the GIL handed to the HTTP threads
while SQLite runs) costs more than the rest of an AWS_KMS Encrypt (docs/benchmarks.md).

Reads inside a transaction bypass the cache: they may see the transaction's own uncommitted
writes, and a rule checked under the write lock must see every commit before it.

A token is random rather than a counter, so two processes rewriting it at once (no atomic
increment across processes) still leave a value nobody cached. An entry also expires after
`MAX_AGE_SECONDS`, which bounds what a process that died between its commit and its rewrite
could leave stale. PostgreSQL has no token: its servers may run on several machines, so each
request reads the database, as before.
"""

from __future__ import annotations

import mmap
import os
import time
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

TOKEN_BYTES = 8
MAX_AGE_SECONDS = 1.0


class ChangeToken:
    """The shared token of one SQLite database (the file `path`, created on first use)."""

    def __init__(self, path: Path) -> None:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(descriptor).st_size < TOKEN_BYTES:
                os.ftruncate(descriptor, TOKEN_BYTES)  # zeros: a token like any other
            self._map = mmap.mmap(descriptor, TOKEN_BYTES)
        finally:
            os.close(descriptor)  # the mapping stays valid without the descriptor

    def current(self) -> bytes:
        return self._map[:TOKEN_BYTES]

    def changed(self) -> None:
        """Called after a write is committed: every cached read, in every process, is old."""
        self._map[:TOKEN_BYTES] = os.urandom(TOKEN_BYTES)

    def close(self) -> None:
        self._map.close()


class ReadCache(Generic[K, V]):
    """Reads kept while the database's change token stays the same (at most `size` of them).

    `token()` gives the token to check against, or None when this read must go to the
    database and not be kept (PostgreSQL; inside a transaction). A value that `load` finds
    missing (None) is not kept. Cached values are shared: callers must not change them."""

    def __init__(
        self,
        token: Callable[[], ChangeToken | None],
        size: int,
        max_age: float = MAX_AGE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._token = token
        self._size = size
        self._max_age = max_age
        self._clock = clock
        self._entries: dict[K, tuple[V, bytes, float]] = {}

    def get(self, key: K, load: Callable[[], V | None]) -> V | None:
        token = self._token()
        if token is None:
            return load()
        seen = token.current()  # before the read: a change during it makes the entry old
        now = self._clock()
        entry = self._entries.get(key)
        if entry is not None and entry[1] == seen and now - entry[2] < self._max_age:
            return entry[0]
        value = load()
        if value is None:
            self._entries.pop(key, None)
            return None
        if key not in self._entries and len(self._entries) >= self._size:
            del self._entries[next(iter(self._entries))]  # the oldest entry
        self._entries[key] = (value, seen, now)
        return value

    def __len__(self) -> int:
        return len(self._entries)
