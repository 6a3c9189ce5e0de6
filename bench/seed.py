"""Benchmark fixtures: databases filled with custom key stores by direct SQL.

Not a test and not the API: the rows of the measured account are written through the store
layer (sealed secrets, as the server would), the filler rows of other accounts with one
INSERT ... SELECT per chunk so that a million rows take seconds, not hours.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from kmscks.service.secrets import Sealer
from kmscks.store.records import StoreRecord
from kmscks.store.sql import PostgresStore, SqliteStore, SqlStore

MEASURED_ACCOUNT = "000000000000"  # the built-in `test` credential's account
ACCESS_KEY_ID = "ABCDEFGHIJKLMNOPQRSTUVWX"
SECRET = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA=="

_FILLER_COLUMNS = (
    "id, account_id, region, name, store_type, connection_state, creation_date,"
    " xks_connectivity, xks_access_key_id, xks_secret_sealed, xks_uri_endpoint, xks_uri_path"
)
_SQLITE_FILLER = f"""
WITH RECURSIVE n(i) AS (SELECT ? UNION ALL SELECT i + 1 FROM n WHERE i < ?)
INSERT INTO custom_key_stores ({_FILLER_COLUMNS})
SELECT printf('cks-%017x', i), printf('%012d', 100000000000 + i % ?), ?,
       'filler-' || i, 'EXTERNAL_KEY_STORE', 'DISCONNECTED', 1700000000.0 + i,
       'PUBLIC_ENDPOINT', '{ACCESS_KEY_ID}', 'v1:not-a-secret',
       'https://xks' || i || '.example.test', '/kms/xks/v1'
FROM n
"""
_POSTGRES_FILLER = f"""
INSERT INTO custom_key_stores ({_FILLER_COLUMNS})
SELECT 'cks-' || lpad(to_hex(i), 17, '0'), lpad((100000000000 + i %% %s)::text, 12, '0'), %s,
       'filler-' || i, 'EXTERNAL_KEY_STORE', 'DISCONNECTED', 1700000000.0 + i,
       'PUBLIC_ENDPOINT', '{ACCESS_KEY_ID}', 'v1:not-a-secret',
       'https://xks' || i || '.example.test', '/kms/xks/v1'
FROM generate_series(%s::bigint, %s::bigint) AS i
"""


def open_bench_store(database_url: str | None, data_dir: Path) -> SqlStore:
    if database_url:
        return PostgresStore(database_url)
    return SqliteStore(data_dir / "cks.sqlite3")


def store_record(
    sealer: Sealer, region: str, index: int, *, prefix: str = "bench", host: str | None = None
) -> StoreRecord:
    store_id = "cks-" + os.urandom(9).hex()[:17]
    return StoreRecord(
        id=store_id,
        account_id=MEASURED_ACCOUNT,
        region=region,
        name=f"{prefix}-{index:07}",
        store_type="EXTERNAL_KEY_STORE",
        connection_state="DISCONNECTED",
        creation_date=round(time.time(), 3),
        xks_connectivity="PUBLIC_ENDPOINT",
        xks_access_key_id=ACCESS_KEY_ID,
        xks_secret_sealed=sealer.seal(SECRET, store_id, "xks_secret"),
        xks_uri_endpoint=f"https://{host or 'xks.example.test'}",
        xks_uri_path=f"/{prefix}{index}/kms/xks/v1",
    )


def add_measured(store: SqlStore, records: list[StoreRecord]) -> None:
    by_region: dict[str, list[StoreRecord]] = {}
    for record in records:
        by_region.setdefault(record.region, []).append(record)
    for region, group in by_region.items():
        with store.mutation(region) as tx:
            for record in group:
                tx.insert(record)


def _filler(store: SqlStore, first: int, last: int, accounts: int, region: str) -> None:
    conn: Any = store._conn
    if isinstance(store, PostgresStore):
        conn.execute(_POSTGRES_FILLER, (accounts, region, first, last))
    else:
        conn.execute("BEGIN")
        conn.execute(_SQLITE_FILLER, (first, last, accounts, region))
        conn.execute("COMMIT")


def fill(
    store: SqlStore,
    sealer: Sealer,
    *,
    measured_region: str,
    measured: int,
    filler: int,
    accounts: int,
    filler_region: str = "us-east-1",
) -> float:
    """`measured` stores of the test account, interleaved (in creation order) with `filler`
    stores of `accounts` other accounts; returns the seconds it took."""
    started = time.monotonic()
    chunk = filler // measured if filler else 0
    next_filler = 1
    for index in range(measured):
        if chunk:
            last = filler if index == measured - 1 else next_filler + chunk - 1
            _filler(store, next_filler, last, accounts, filler_region)
            next_filler = last + 1
        add_measured(store, [store_record(sealer, measured_region, index)])
    conn: Any = store._conn
    conn.execute("ANALYZE")
    return time.monotonic() - started


def count_rows(store: SqlStore) -> int:
    return int(store._execute("SELECT COUNT(*) FROM custom_key_stores").fetchone()[0])
