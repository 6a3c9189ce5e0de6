"""The quotas' shared token buckets (store/rates.py), one test body for SQLite and PostgreSQL:
connections standing for separate server processes draw on one bucket per scope."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kmscks.store.rates import RateBuckets
from kmscks.store.sql import SqliteStore
from tests.core.test_store import open_another  # noqa: F401 - the parametrized fixture

NOW = 1_800_000_000.0


def passed(buckets: RateBuckets, scope: str, rate: float, now: float, tries: int) -> int:
    return sum(buckets.take(scope, rate, now) for _ in range(tries))


def test_processes_share_each_bucket(open_another: Any) -> None:  # noqa: F811
    first, second = RateBuckets(open_another()), RateBuckets(open_another())
    # A full bucket holds one second's worth (4), whichever process takes it.
    assert passed(first, "request/Encrypt/000000000000/us-east-1", 4, NOW, 3) == 3
    assert passed(second, "request/Encrypt/000000000000/us-east-1", 4, NOW, 3) == 1
    assert not first.take("request/Encrypt/000000000000/us-east-1", 4, NOW)
    # Other scopes have buckets of their own.
    assert passed(second, "request/Encrypt/000000000000/eu-west-1", 4, NOW, 5) == 4
    # It refills at the rate (a quarter second: one token), for both, at most to its capacity.
    assert passed(second, "request/Encrypt/000000000000/us-east-1", 4, NOW + 0.25, 3) == 1
    assert passed(first, "request/Encrypt/000000000000/us-east-1", 4, NOW + 60, 9) == 4


def test_a_clock_behind_the_buckets_refills_nothing(open_another: Any) -> None:  # noqa: F811
    buckets = RateBuckets(open_another())
    assert passed(buckets, "store-crypto/cks-1", 2, NOW, 3) == 2
    # Another process whose clock is behind takes nothing back, and moves no time backwards.
    assert passed(buckets, "store-crypto/cks-1", 2, NOW - 5, 2) == 0
    assert passed(buckets, "store-crypto/cks-1", 2, NOW + 0.5, 2) == 1


def test_idle_buckets_are_forgotten(open_another: Any) -> None:  # noqa: F811
    buckets = RateBuckets(open_another())
    for index in range(999):
        buckets.take(f"request/DescribeKey/{index:012d}/us-east-1", 5, NOW)
    assert buckets.scopes() == 999
    # The thousandth take prunes the buckets idle for a second: all full again, so no change.
    assert buckets.take("request/DescribeKey/000000000000/us-east-1", 5, NOW + 2)
    assert buckets.scopes() == 1
    assert passed(buckets, "request/DescribeKey/000000000001/us-east-1", 5, NOW + 2, 6) == 5


def test_sqlite_counts_on_a_connection_without_the_disk_flush(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "cks.sqlite3")
    counters = store.counters()
    synchronous = "PRAGMA synchronous"
    assert store._execute(synchronous).fetchone()[0] == 2  # FULL: the store's own changes
    assert counters._execute(synchronous).fetchone()[0] == 1  # NORMAL: WAL, not flushed
    assert RateBuckets(store).take("store-crypto/cks-1", 1, NOW)
    assert not RateBuckets(SqliteStore(tmp_path / "cks.sqlite3")).take("store-crypto/cks-1", 1, NOW)
