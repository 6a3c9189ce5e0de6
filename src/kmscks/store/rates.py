"""Token buckets in the database, so that a quota holds for the whole server, not per process.

store layer. A quota (api/quota.py) counts requests per scope: an operation, account and Region,
or a custom key store. Every worker process of `cks serve`, and every server sharing one
PostgreSQL database, takes its tokens from the same row, so N processes allow the configured
rate, not N times it. Each take is one atomic statement: refill the bucket for the time since it
was last touched (at most one second's worth), then take a token if one is whole.

The rows live on `SqlStore.counters()`: a bucket lost in a power cut is a full bucket, so they
skip the disk flush that the store's own changes pay. The processes' clocks (`now`) must agree,
as they do on one machine.
"""

from __future__ import annotations

from kmscks.store.sql import SqlStore

# A bucket untouched for a second has refilled to its capacity (one second's worth), the same as
# no row at all; such rows are deleted now and then, so the table holds only the busy scopes.
_IDLE_SECONDS = 1.0
_TAKES_BETWEEN_PRUNES = 1000

# `?` in order: scope, rate, now (the new row); rate, now, rate (the refill), now (the update's
# time); rate, now, rate (the condition's refill). PostgreSQL has LEAST/GREATEST where SQLite has
# the two-argument MIN/MAX.
_TAKE = """
INSERT INTO rate_buckets (scope, tokens, updated) VALUES (?, ? - 1, ?)
ON CONFLICT (scope) DO UPDATE SET
    tokens = {least}(?, rate_buckets.tokens + {greatest}(0, ? - rate_buckets.updated) * ?) - 1,
    updated = {greatest}(rate_buckets.updated, ?)
WHERE {least}(?, rate_buckets.tokens + {greatest}(0, ? - rate_buckets.updated) * ?) >= 1
"""
_TAKE_BY_DIALECT = {
    "sqlite": _TAKE.format(least="MIN", greatest="MAX"),
    "postgres": _TAKE.format(least="LEAST", greatest="GREATEST"),
}


class RateBuckets:
    """Shared token buckets: `take` says whether a request of a scope may pass now."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store.counters()
        self._take = _TAKE_BY_DIALECT[self._store.dialect]
        self._takes = 0

    def take(self, scope: str, rate: float, now: float) -> bool:
        """Take one token from the scope's bucket (capacity `rate`, refilled at `rate` per
        second); False, and nothing taken, when less than one token is left."""
        self._takes += 1
        if self._takes % _TAKES_BETWEEN_PRUNES == 0:
            self._store._execute(
                "DELETE FROM rate_buckets WHERE updated < ?", (now - _IDLE_SECONDS,)
            )
        cursor = self._store._execute(
            self._take, (scope, rate, now, rate, now, rate, now, rate, now, rate)
        )
        return bool(cursor.rowcount == 1)

    def scopes(self) -> int:
        """How many buckets the table holds (tests)."""
        return int(self._store._execute("SELECT COUNT(*) FROM rate_buckets").fetchone()[0])
