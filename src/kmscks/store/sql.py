"""The SQL store: one implementation over two dialects, SQLite (embedded) and PostgreSQL.

store layer. Queries are written once with `?` placeholders; the PostgreSQL dialect rewrites
them. Every change of state is a conditional update (`... WHERE seq = ? AND connection_state
= ?`), and every create or update that checks a uniqueness rule or the quota runs in a
mutation transaction that is serialized per region (SQLite: BEGIN IMMEDIATE; PostgreSQL: an
advisory transaction lock), so the rules hold when several processes share one database.
One connection per process: opening one per request costs more than the query.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from itertools import starmap
from pathlib import Path
from typing import Any

from kmscks.store.changes import ChangeToken
from kmscks.store.records import (
    COLUMNS,
    LISTING_COLUMNS,
    WRITABLE_COLUMNS,
    StoreListing,
    StoreRecord,
)
from kmscks.store.schema import LATEST_VERSION, MIGRATIONS

_SELECT = f"SELECT {', '.join(COLUMNS)} FROM custom_key_stores"
_SELECT_LISTING = f"SELECT {', '.join(LISTING_COLUMNS)} FROM custom_key_stores"


SQLITE_FILE = "cks.sqlite3"  # the embedded database, in the data dir
CHANGES_SUFFIX = "-changes"  # beside it: the change token (store/changes.py)
# What a write statement starts with (INSERT, UPDATE, DELETE, DROP, CREATE, ALTER) and COMMIT.
_WRITE_STARTS = frozenset("IUDCA")


class StoreUnavailable(Exception):
    """The database cannot be reached or answered with an unexpected error."""


class NameConflict(Exception):
    """The database refused a row because its (account, region, name) is taken."""


def _record(row: Sequence[Any]) -> StoreRecord:
    return StoreRecord(*row)


class SqlStore:
    """Persistence of custom key stores; the dialect subclasses say how to talk to the database."""

    dialect = "abstract"
    placeholder = "?"
    # Rewritten after every committed write, for the processes' cached reads (store/changes.py);
    # None where reads are not cached.
    changes: ChangeToken | None = None

    def __init__(self) -> None:
        self._in_transaction = False
        self._conn: Any = self._connect()
        self._cursor: Any = None
        self._cursor_conn: Any = None
        self._translated: dict[str, str] = {}
        self._migrate()

    # -- dialect hooks -------------------------------------------------------------------------

    def _connect(self) -> Any:
        raise NotImplementedError

    @contextmanager
    def _transaction(self, lock_key: str | None) -> Iterator[None]:
        raise NotImplementedError
        yield

    def _is_name_conflict(self, error: Exception) -> bool:
        raise NotImplementedError

    _claim_lock_clause = ""
    # Whether statements share one cursor per connection (see PostgresStore).
    _reuse_cursor = False

    # -- plumbing ------------------------------------------------------------------------------

    def _sql(self, query: str) -> str:
        if self.placeholder == "?":
            return query
        translated = self._translated.get(query)
        if translated is None:
            translated = query.replace("?", self.placeholder)
            if len(self._translated) < 512:  # the queries are a small fixed set; stay bounded
                self._translated[query] = translated
        return translated

    def _execute(self, query: str, params: Sequence[Any] = ()) -> Any:
        try:
            if not self._reuse_cursor:
                result = self._conn.execute(self._sql(query), params)
            else:
                if self._cursor_conn is not self._conn:
                    self._cursor = self._conn.cursor()
                    self._cursor_conn = self._conn
                result = self._cursor.execute(self._sql(query), params)
        except Exception as error:
            if self._is_name_conflict(error):
                raise NameConflict(str(error))
            raise self._unavailable(error)
        if self.changes is not None and query.lstrip()[0] in _WRITE_STARTS:
            # Outside a transaction the statement has committed; inside one this is early (and
            # harmless: a reader only reads again), and the COMMIT announces it once more.
            self.changes.changed()
        return result

    def cache_token(self) -> ChangeToken | None:
        """What a cached read is checked against (store/changes.py), or None when the read must
        go to the database: no token, or inside a transaction, whose reads may see its own
        uncommitted writes and must see every commit before it (the rule checks)."""
        return None if self._in_transaction else self.changes

    def _unavailable(self, error: Exception) -> Exception:
        return StoreUnavailable(f"{type(error).__name__}: {error}")

    def _fetch_one(self, query: str, params: Sequence[Any]) -> StoreRecord | None:
        row = self._execute(query, params).fetchone()
        return _record(row) if row else None

    def _fetch_all(self, query: str, params: Sequence[Any]) -> list[StoreRecord]:
        # starmap: no Python-level call per row (a page's rows cost a third as much).
        return list(starmap(StoreRecord, self._execute(query, params).fetchall()))

    def _migrate(self) -> None:
        with self._transaction("schema"):
            self._execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = self._execute("SELECT MAX(version) FROM schema_version").fetchone()
            current = row[0] or 0
            for migration in MIGRATIONS:
                if migration.version <= current:
                    continue
                for statement in migration.statements[self.dialect]:
                    self._execute(statement)
                self._execute(
                    "INSERT INTO schema_version (version) VALUES (?)", (migration.version,)
                )

    def counters(self) -> SqlStore:
        """Where to keep counters that need not survive a power cut (the quotas' buckets): this
        store, unless the dialect has a cheaper connection for them."""
        return self

    def schema_version(self) -> int:
        return int(self._execute("SELECT MAX(version) FROM schema_version").fetchone()[0] or 0)

    def close(self) -> None:
        self._conn.close()
        if self.changes is not None:
            self.changes.close()

    # -- reads ---------------------------------------------------------------------------------

    def get(self, account_id: str, region: str, store_id: str) -> StoreRecord | None:
        return self._fetch_one(
            f"{_SELECT} WHERE id = ? AND account_id = ? AND region = ?",
            (store_id, account_id, region),
        )

    def get_by_seq(self, seq: int) -> StoreRecord | None:
        return self._fetch_one(f"{_SELECT} WHERE seq = ?", (seq,))

    def page(
        self,
        account_id: str,
        region: str,
        after_seq: int,
        limit: int,
        store_id: str | None = None,
        name: str | None = None,
    ) -> list[StoreRecord]:
        """One account and region's stores in creation order, after `after_seq`; at most `limit`."""
        where, params = _keyset_page(account_id, region, after_seq, limit, store_id, name)
        return self._fetch_all(f"{_SELECT} {where}", params)

    def listing(
        self,
        account_id: str,
        region: str,
        after_seq: int,
        limit: int,
        store_id: str | None = None,
        name: str | None = None,
    ) -> list[StoreListing]:
        """The same page as `page()`, with only the columns DescribeCustomKeyStores shows."""
        where, params = _keyset_page(account_id, region, after_seq, limit, store_id, name)
        return list(starmap(StoreListing, self._execute(f"{_SELECT_LISTING} {where}", params)))

    # -- mutations that check rules --------------------------------------------------------------

    @contextmanager
    def mutation(self, region: str) -> Iterator[Transaction]:
        """A transaction in which rule checks and writes for `region` are serialized."""
        with self._transaction(f"region:{region}"):
            yield Transaction(self)

    # -- transitions (single conditional statements; no transaction needed) -----------------------

    def begin_transition(self, seq: int, from_state: str, to_state: str, due: float) -> bool:
        """Move a store into CONNECTING or DISCONNECTING if it is still in `from_state`."""
        cursor = self._execute(
            "UPDATE custom_key_stores SET connection_state = ?, connection_error_code = NULL,"
            " transition_due = ?, transition_generation = transition_generation + 1,"
            " lease_owner = NULL, lease_until = NULL"
            " WHERE seq = ? AND connection_state = ?",
            (to_state, due, seq, from_state),
        )
        return bool(cursor.rowcount == 1)

    def claim_due(
        self, owner: str, now: float, lease_until: float, limit: int
    ) -> list[StoreRecord]:
        """Take a lease on pending transitions that are due and not leased by a live worker."""
        return self._fetch_all(
            "UPDATE custom_key_stores SET lease_owner = ?, lease_until = ?"
            " WHERE seq IN (SELECT seq FROM custom_key_stores"
            " WHERE transition_due IS NOT NULL AND transition_due <= ?"
            " AND (lease_until IS NULL OR lease_until < ?)"
            f" ORDER BY transition_due LIMIT ?{self._claim_lock_clause})"
            f" RETURNING {', '.join(COLUMNS)}",
            (owner, lease_until, now, now, limit),
        )

    def finish_transition(
        self,
        record: StoreRecord,
        to_state: str,
        error_code: str | None,
        changes: dict[str, Any] | None = None,
        after: Callable[[Transaction], None] | None = None,
    ) -> bool:
        """End a leased transition, unless the store moved on (a newer Connect/Disconnect).

        `changes` are further columns to set, and `after` runs in the same transaction once the
        finish is certain (for example a connector's own bookkeeping), so both happen or neither.
        """
        extra = changes or {}
        assignments = "".join(f", {name} = ?" for name in extra)
        with self._transaction(None):
            cursor = self._execute(
                "UPDATE custom_key_stores SET connection_state = ?, connection_error_code = ?,"
                f" transition_due = NULL, lease_owner = NULL, lease_until = NULL{assignments}"
                " WHERE seq = ? AND connection_state = ? AND transition_generation = ?"
                " AND lease_owner = ?",
                (
                    to_state,
                    error_code,
                    *extra.values(),
                    record.seq,
                    record.connection_state,
                    record.transition_generation,
                    record.lease_owner,
                ),
            )
            if cursor.rowcount != 1:
                return False
            if after is not None:
                after(Transaction(self))
            return True

    def next_transition_time(self) -> float | None:
        """When the earliest pending transition becomes claimable, or None if there is none."""
        row = self._execute(
            "SELECT MIN(CASE WHEN lease_until IS NOT NULL AND lease_until > transition_due"
            " THEN lease_until ELSE transition_due END)"
            " FROM custom_key_stores WHERE transition_due IS NOT NULL"
        ).fetchone()
        return None if row is None or row[0] is None else float(row[0])


class Transaction:
    """Reads and writes inside a region-serialized mutation; only SqlStore.mutation makes one."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store

    def get(self, account_id: str, region: str, store_id: str) -> StoreRecord | None:
        return self._store.get(account_id, region, store_id)

    def count(self, account_id: str, region: str) -> int:
        row = self._store._execute(
            "SELECT COUNT(*) FROM custom_key_stores WHERE account_id = ? AND region = ?",
            (account_id, region),
        ).fetchone()
        return int(row[0])

    # The uniqueness rules' queries (service/rules.py). `seq` is the store being saved, which
    # never clashes with itself (0 for a new one).

    def _first(self, where: str, params: Sequence[Any]) -> StoreRecord | None:
        return self._store._fetch_one(f"{_SELECT} WHERE {where} LIMIT 1", params)

    def name_taken(self, account_id: str, region: str, name: str, seq: int) -> bool:
        """Whether another store of the account and Region has this exact (case-sensitive) name."""
        return (
            self._first(
                "account_id = ? AND region = ? AND name = ? AND seq <> ?",
                (account_id, region, name, seq),
            )
            is not None
        )

    def proxy_uri_taken(
        self, account_id: str, region: str, endpoint: str, path: str | None, seq: int
    ) -> bool:
        """Whether another store of the account and Region has this endpoint (any case) and path."""
        return (
            self._first(
                "account_id = ? AND region = ? AND lower(xks_uri_endpoint) = ?"
                " AND xks_uri_path = ? AND seq <> ?",
                (account_id, region, endpoint.lower(), path, seq),
            )
            is not None
        )

    def proxy_endpoint_taken(
        self, region: str, endpoint: str, seq: int, connectivity: str | None = None
    ) -> bool:
        """Whether another store of the Region, in any account, has this endpoint (any case);
        with `connectivity`, only stores of that connectivity count."""
        where = "region = ? AND lower(xks_uri_endpoint) = ? AND seq <> ?"
        params: list[Any] = [region, endpoint.lower(), seq]
        if connectivity is not None:
            where += " AND xks_connectivity = ?"
            params.append(connectivity)
        return self._first(where, params) is not None

    def vpc_service_taken(self, region: str, service_name: str | None, seq: int) -> bool:
        """Whether another store of the Region, in any account, uses this VPC endpoint service."""
        return (
            self._first(
                "region = ? AND xks_vpc_service_name = ? AND seq <> ?", (region, service_name, seq)
            )
            is not None
        )

    def store_on_clusters(
        self, account_id: str, region: str, cluster_ids: Sequence[str], seq: int
    ) -> StoreRecord | None:
        """Another store of the account and Region associated with one of these clusters."""
        if not cluster_ids:
            return None
        marks = ", ".join("?" for _ in cluster_ids)
        return self._first(
            f"account_id = ? AND region = ? AND cloudhsm_cluster_id IN ({marks}) AND seq <> ?",
            (account_id, region, *cluster_ids, seq),
        )

    def insert(self, record: StoreRecord) -> int:
        values = [getattr(record, name) for name in WRITABLE_COLUMNS]
        cursor = self._store._execute(
            f"INSERT INTO custom_key_stores ({', '.join(WRITABLE_COLUMNS)})"
            f" VALUES ({', '.join('?' for _ in WRITABLE_COLUMNS)}) RETURNING seq",
            values,
        )
        seq = int(cursor.fetchone()[0])
        record.seq = seq
        return seq

    def update(self, seq: int, expected_state: str, changes: dict[str, Any]) -> bool:
        """Apply `changes` (column -> value) if the store is still in `expected_state`."""
        if not changes:
            return True
        unknown = set(changes) - set(WRITABLE_COLUMNS)
        if unknown:
            raise ValueError(f"not columns: {sorted(unknown)}")
        assignments = ", ".join(f"{name} = ?" for name in changes)
        cursor = self._store._execute(
            f"UPDATE custom_key_stores SET {assignments} WHERE seq = ? AND connection_state = ?",
            [*changes.values(), seq, expected_state],
        )
        return bool(cursor.rowcount == 1)

    def delete(self, seq: int, expected_state: str) -> bool:
        # Its connection attempts go with it (same condition, same transaction).
        self._store._execute(
            "DELETE FROM connection_attempts WHERE store_id IN (SELECT id FROM custom_key_stores"
            " WHERE seq = ? AND connection_state = ?)",
            (seq, expected_state),
        )
        cursor = self._store._execute(
            "DELETE FROM custom_key_stores WHERE seq = ? AND connection_state = ?",
            (seq, expected_state),
        )
        return bool(cursor.rowcount == 1)


class SqliteStore(SqlStore):
    """The embedded default: one SQLite file in the data directory, WAL mode."""

    dialect = "sqlite"

    def __init__(self, path: Path, durable: bool = True, announce_changes: bool = True) -> None:
        self._path = path
        self._durable = durable
        if announce_changes:
            self.changes = ChangeToken(path.with_name(path.name + CHANGES_SUFFIX))
        super().__init__()

    def counters(self) -> SqlStore:
        """A second connection to the same file whose commits skip the disk flush (~150 us
        each): its last changes may be lost in a power cut, never corrupted (WAL with NORMAL).
        Nothing cached depends on the counters, so their writes announce no change."""
        return SqliteStore(self._path, durable=False, announce_changes=False)

    def _connect(self) -> sqlite3.Connection:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit mode: transactions are explicit (BEGIN IMMEDIATE), statements atomic.
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode = WAL")
        # FULL: an acknowledged change survives a power cut, not only a crash.
        conn.execute(f"PRAGMA synchronous = {'FULL' if self._durable else 'NORMAL'}")
        conn.execute("PRAGMA busy_timeout = 10000")
        return conn

    @contextmanager
    def _transaction(self, lock_key: str | None) -> Iterator[None]:
        # IMMEDIATE takes the write lock at once: writers (every process) are serialized.
        self._execute("BEGIN IMMEDIATE")
        self._in_transaction = True
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        finally:
            self._in_transaction = False
        self._execute("COMMIT")

    def _is_name_conflict(self, error: Exception) -> bool:
        return isinstance(error, sqlite3.IntegrityError) and "name" in str(error)


class PostgresStore(SqlStore):
    """PostgreSQL, for several server processes sharing one database."""

    dialect = "postgres"
    placeholder = "%s"
    # Two processes claiming at once each get different rows instead of waiting.
    _claim_lock_clause = " FOR UPDATE SKIP LOCKED"
    # psycopg reads a whole result when the statement runs, so one cursor can serve every
    # statement; a new cursor per statement cost ~30 us of a ~120 us page (bench/).
    _reuse_cursor = True

    def __init__(self, url: str) -> None:
        self._url = url
        super().__init__()

    def _connect(self) -> Any:
        import psycopg

        try:
            return psycopg.connect(self._url, autocommit=True)
        except psycopg.Error as error:
            raise StoreUnavailable(f"cannot connect to PostgreSQL: {error}")

    def _execute(self, query: str, params: Sequence[Any] = ()) -> Any:
        import psycopg

        if self._conn.closed:
            self._conn = self._connect()
        try:
            return super()._execute(query, params)
        except StoreUnavailable:
            # A broken connection is replaced for the next request; this one fails (500,
            # which clients retry).
            if self._conn.closed or self._conn.info.status != psycopg.pq.ConnStatus.OK:
                self._conn.close()
            raise

    @contextmanager
    def _transaction(self, lock_key: str | None) -> Iterator[None]:
        with self._conn.transaction():
            if lock_key is not None:
                self._execute("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", (lock_key,))
            yield

    def _is_name_conflict(self, error: Exception) -> bool:
        import psycopg

        return isinstance(error, psycopg.errors.UniqueViolation) and "name" in str(error)


def _keyset_page(
    account_id: str,
    region: str,
    after_seq: int,
    limit: int,
    store_id: str | None,
    name: str | None,
) -> tuple[str, list[Any]]:
    """WHERE ... ORDER BY ... LIMIT of a page: keyset pagination on (account, region, seq)."""
    query = "WHERE account_id = ? AND region = ? AND seq > ?"
    params: list[Any] = [account_id, region, after_seq]
    if store_id is not None:
        query += " AND id = ?"
        params.append(store_id)
    if name is not None:
        query += " AND name = ?"
        params.append(name)
    query += " ORDER BY seq LIMIT ?"
    params.append(limit)
    return query, params


def open_store(database_url: str | None, data_dir: Path) -> SqlStore:
    """SQLite in `data_dir` unless a postgresql:// URL is given."""
    if database_url:
        if not database_url.startswith(("postgresql://", "postgres://")):
            raise StoreUnavailable(f"unsupported database URL {database_url!r}: use postgresql://")
        return PostgresStore(database_url)
    return SqliteStore(data_dir / SQLITE_FILE)


__all__ = [
    "LATEST_VERSION",
    "NameConflict",
    "PostgresStore",
    "SqlStore",
    "SqliteStore",
    "StoreUnavailable",
    "Transaction",
    "open_store",
]
