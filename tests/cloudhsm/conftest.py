"""A server with fast CloudHSM transitions for the CloudHSM tests (each test has its own region),
and fresh databases for the in-process ones."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kmscks.store.sql import PostgresStore, SqliteStore, SqlStore
from tests.cloudhsm.lab import Lab, hsm_region
from tests.helpers.server import ServerProcess, start_cks_server

CONFIG = """
[server]
transition_delay_ms = 30

[limits]
custom_key_stores = 100

[cloudhsm]
transition_ms = 40
kmsuser_max_failed_logins = 3
"""


@pytest.fixture(scope="session")
def hsm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_cks_server(tmp_path_factory.mktemp("cloudhsm-server"), CONFIG)
    yield server
    server.stop()


@pytest.fixture
def lab(hsm_server: ServerProcess) -> Lab:
    return Lab(hsm_server.url, hsm_region())


@pytest.fixture(params=["sqlite", "postgres"])
def open_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], SqlStore]]:
    """A factory of connections to one fresh database (each like another server process)."""
    if request.param == "sqlite":

        def factory() -> SqlStore:
            return SqliteStore(tmp_path / "cks.sqlite3")
    else:
        url = request.getfixturevalue("fresh_postgres")

        def factory() -> SqlStore:
            return PostgresStore(url)

    opened: list[SqlStore] = []

    def tracked() -> SqlStore:
        store = factory()
        opened.append(store)
        return store

    yield tracked
    for store in opened:
        store.close()
