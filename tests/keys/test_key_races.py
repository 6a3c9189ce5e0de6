"""Key rules under concurrency, through boto3: two `cks serve` processes on one PostgreSQL
database (and one SQLite server with two workers) keep alias names unique and the key quota,
and a store's deletion cannot slip past a CreateKey."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.helpers.clients import kms_client, xks_params
from tests.helpers.server import ServerProcess, start_cks_server
from tests.keys.conftest import LOADED_MACHINE_XKS, XKS_HOST, KeyedProxy, settled

QUOTA = 6


def config(master_key: str, proxy: KeyedProxy) -> str:
    return f"""
[server]
master_key = "{master_key}"
transition_delay_ms = 30

[keys]
max_keys_per_region = {QUOTA}

[xks]
resolve = {{ "{XKS_HOST}" = "{proxy.address}" }}
allow_http = ["{XKS_HOST}"]
{LOADED_MACHINE_XKS}
"""


@pytest.fixture(params=["sqlite-2-workers", "postgres-2-processes"])
def clients(
    request: pytest.FixtureRequest, tmp_path: Path, keyed_proxy: KeyedProxy
) -> Iterator[list[Any]]:
    master_key = base64.b64encode(os.urandom(32)).decode()
    servers: list[ServerProcess] = []
    if request.param == "sqlite-2-workers":
        servers.append(start_cks_server(tmp_path, config(master_key, keyed_proxy), workers=2))
    else:
        url = request.getfixturevalue("fresh_postgres")
        for name in ("one", "two"):
            servers.append(
                start_cks_server(tmp_path / name, config(master_key, keyed_proxy), database_url=url)
            )
    try:
        yield [kms_client(server.url) for server in servers for _ in range(6 // len(servers))]
    finally:
        for server in servers:
            server.stop()


def outcomes(calls: list[Any]) -> list[str]:
    def run(call: Any) -> str:
        try:
            call()
        except ClientError as raised:
            return str(raised.response["Error"]["Code"])
        return "ok"

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def test_colliding_alias_names(clients: list[Any]) -> None:
    key_id = clients[0].create_key()["KeyMetadata"]["KeyId"]
    for round_ in range(3):
        name = f"alias/race-{round_}"
        results = outcomes(
            [lambda c=c, n=name: c.create_alias(AliasName=n, TargetKeyId=key_id) for c in clients]
        )
        assert sorted(results) == ["AlreadyExistsException"] * (len(clients) - 1) + ["ok"]
    assert len(clients[0].list_aliases()["Aliases"]) == 3


def test_the_key_quota_holds(clients: list[Any]) -> None:
    results = outcomes([lambda c=c: c.create_key() for c in clients for _ in range(2)])
    assert results.count("ok") == QUOTA
    assert set(results) == {"ok", "LimitExceededException"}, results
    assert len(clients[-1].list_keys()["Keys"]) == QUOTA


def test_an_xks_key_id_once_per_store(clients: list[Any]) -> None:
    params = xks_params("race", host=XKS_HOST, path="/race/kms/xks/v1")
    store_id = clients[0].create_custom_key_store(**params)["CustomKeyStoreId"]
    clients[0].connect_custom_key_store(CustomKeyStoreId=store_id)
    assert settled(clients[0], store_id) == "CONNECTED"
    results = outcomes(
        [
            lambda c=c: c.create_key(
                Origin="EXTERNAL_KEY_STORE", CustomKeyStoreId=store_id, XksKeyId="aes-raced"
            )
            for c in clients
        ]
    )
    assert sorted(results) == ["XksKeyAlreadyInUseException"] * (len(clients) - 1) + ["ok"]
