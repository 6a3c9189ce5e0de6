"""A live `cks serve` per store (SQLite, PostgreSQL) for the fuzz and regression tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.conftest import SHARED_PROXY_HOSTS
from tests.helpers.proxies import FakeProxy
from tests.helpers.server import ServerProcess, start_cks_server


def proxy_config(proxy: FakeProxy) -> str:
    resolve = ", ".join(f'"{host}" = "{proxy.address}"' for host in SHARED_PROXY_HOSTS)
    hosts = ", ".join(f'"{host}"' for host in SHARED_PROXY_HOSTS)
    return f"[xks]\nresolve = {{ {resolve} }}\nallow_http = [{hosts}]\n"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def store_server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    healthy_proxy: FakeProxy,
) -> Iterator[ServerProcess]:
    """A server on SQLite, then one on a PostgreSQL database of its own."""
    database_url = None
    admin = None
    name = f"cks_fuzz_{uuid.uuid4().hex[:12]}"
    if request.param == "postgres":
        import psycopg

        base = request.getfixturevalue("postgres_url")
        admin = base.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        database_url = base.rsplit("/", 1)[0] + f"/{name}"
    server = start_cks_server(
        tmp_path_factory.mktemp(f"fuzz-{request.param}"),
        proxy_config(healthy_proxy),
        database_url=database_url,
    )
    server.store_name = request.param  # type: ignore[attr-defined]
    yield server
    server.stop()
    if admin is not None:
        import psycopg

        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
