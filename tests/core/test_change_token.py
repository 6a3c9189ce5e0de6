"""The change token and the read cache of store/changes.py: what a process caches it reads again
once any process has written, or once the entry is old."""

from __future__ import annotations

import stat
from pathlib import Path

from kmscks.store.changes import MAX_AGE_SECONDS, ChangeToken, ReadCache
from kmscks.store.sql import SqliteStore


def test_every_mapping_of_the_file_sees_a_change(tmp_path: Path) -> None:
    one, two = ChangeToken(tmp_path / "token"), ChangeToken(tmp_path / "token")
    seen = two.current()
    one.changed()
    assert two.current() != seen
    assert stat.S_IMODE((tmp_path / "token").stat().st_mode) == 0o600
    one.close()
    two.close()


def test_entries_last_until_a_change_or_their_age(tmp_path: Path) -> None:
    token = ChangeToken(tmp_path / "token")
    now = [0.0]
    cache: ReadCache[str, int] = ReadCache(lambda: token, size=2, clock=lambda: now[0])
    loads: list[str] = []

    def load(key: str) -> int:
        loads.append(key)
        return len(loads)

    assert cache.get("a", lambda: load("a")) == 1
    assert cache.get("a", lambda: load("a")) == 1  # kept
    token.changed()
    assert cache.get("a", lambda: load("a")) == 2  # another process wrote: read again
    now[0] += MAX_AGE_SECONDS
    assert cache.get("a", lambda: load("a")) == 3  # too old, even with no change seen
    assert cache.get("missing", lambda: None) is None
    assert cache.get("b", lambda: load("b")) == 4
    assert cache.get("c", lambda: load("c")) == 5
    assert len(cache) == 2  # bounded: the oldest went
    token.close()


def test_without_a_token_every_get_reads() -> None:
    cache: ReadCache[str, int] = ReadCache(lambda: None, size=10)
    values = iter(range(10))
    assert [cache.get("a", lambda: next(values)) for _ in range(3)] == [0, 1, 2]


def test_writes_announce_a_change_and_reads_and_counters_do_not(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "cks.sqlite3")
    assert store.changes is not None
    before = store.changes.current()
    store.schema_version()  # a read
    assert store.changes.current() == before
    with store.mutation("us-east-1"):
        pass  # BEGIN IMMEDIATE ... COMMIT: a commit announces
    assert store.changes.current() != before
    counters = store.counters()
    assert counters.changes is None  # the quota buckets are not cached by anyone
    counters.close()
    store.close()
