"""Deleting the server's data, for `cks serve --reset`.

store layer. SQLite: the database file of a data dir (with its WAL files and change token).
PostgreSQL: the tables cks's migrations created, found from the migrations themselves (so a
table another change appends is included) and dropped in one transaction; never the database,
never a table cks did not create.
"""

from __future__ import annotations

import re
from pathlib import Path

from kmscks.store.schema import MIGRATIONS
from kmscks.store.sql import CHANGES_SUFFIX, SQLITE_FILE, StoreUnavailable

SQLITE_FILES = (
    SQLITE_FILE,
    f"{SQLITE_FILE}-wal",
    f"{SQLITE_FILE}-shm",
    f"{SQLITE_FILE}-journal",
    f"{SQLITE_FILE}{CHANGES_SUFFIX}",
)
_CREATE_TABLE = re.compile(
    r"CREATE (?:UNLOGGED )?TABLE (?:IF NOT EXISTS )?([a-z_][a-z0-9_]*)", re.IGNORECASE
)


def cks_tables() -> list[str]:
    """Every table the migrations create, newest first, then the version table."""
    names: list[str] = []
    for migration in MIGRATIONS:
        for statement in migration.statements["postgres"]:
            names += _CREATE_TABLE.findall(statement)
    return [*reversed(names), "schema_version"]


def delete_data(database_url: str | None, data_dir: Path) -> list[str]:
    """Delete the database's data; returns what was deleted, in words."""
    if database_url:
        return [f"table {name}" for name in _drop_postgres_tables(database_url)]
    deleted = []
    for name in SQLITE_FILES:
        path = data_dir / name
        if path.exists():
            path.unlink()
            deleted.append(str(path))
    return deleted


def _drop_postgres_tables(database_url: str) -> list[str]:
    import psycopg

    try:
        with psycopg.connect(database_url, autocommit=True) as conn, conn.transaction():
            existing = {
                row[0]
                for row in conn.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
                )
            }
            dropped = [name for name in cks_tables() if name in existing]
            for name in dropped:
                conn.execute(f'DROP TABLE "{name}" CASCADE')  # names from our migrations only
    except psycopg.Error as error:
        raise StoreUnavailable(f"cannot reset the PostgreSQL database: {error}")
    return dropped
