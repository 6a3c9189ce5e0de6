"""The last connection attempts of each custom key store: when, how it ended, and why.

store layer. The transition worker writes one row when a Connect finishes, in the transaction
that finishes it, and keeps the newest KEEP per store; `cks kms explain-connection-error
--custom-key-store-id` reads them through the diagnostics API. A row holds no secret: the
cause is the connector's description of what happened (a refused TCP connection, a failed
certificate check, an HTTP status), never a credential or a request body.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass

from kmscks.store.sql import SqlStore

KEEP = 10

_COLUMNS = (
    "store_id",
    "attempted_at",
    "connection_state",
    "error_code",
    "cause",
    "proxy_latency_ms",
    "proxy_health",
)


@dataclass(frozen=True, slots=True)
class AttemptRow:
    store_id: str
    attempted_at: float
    connection_state: str  # where the attempt ended: CONNECTED or FAILED
    error_code: str | None
    cause: str
    proxy_latency_ms: float | None = None
    proxy_health: str | None = None


class ConnectionAttempts:
    """Queries on `connection_attempts`, on the store's connection (and its transactions)."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store

    def record(self, attempt: AttemptRow) -> None:
        """Add an attempt and forget all but the newest KEEP of its store.

        Call it inside a transaction (the finishing one), so the trim and the insert go
        together."""
        execute = self._store._execute
        execute(
            f"INSERT INTO connection_attempts ({', '.join(_COLUMNS)})"
            f" VALUES ({', '.join('?' for _ in _COLUMNS)})",
            astuple(attempt),
        )
        execute(
            "DELETE FROM connection_attempts WHERE store_id = ? AND seq NOT IN"
            " (SELECT seq FROM connection_attempts WHERE store_id = ? ORDER BY seq DESC LIMIT ?)",
            (attempt.store_id, attempt.store_id, KEEP),
        )

    def recent(self, store_id: str, limit: int = KEEP) -> list[AttemptRow]:
        """The store's attempts, newest first."""
        rows = self._store._execute(
            f"SELECT {', '.join(_COLUMNS)} FROM connection_attempts WHERE store_id = ?"
            " ORDER BY seq DESC LIMIT ?",
            (store_id, limit),
        ).fetchall()
        return [AttemptRow(*row) for row in rows]

    def forget(self, store_id: str) -> None:
        """Drop a deleted store's attempts."""
        self._store._execute("DELETE FROM connection_attempts WHERE store_id = ?", (store_id,))
