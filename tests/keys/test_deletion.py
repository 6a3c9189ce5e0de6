"""Deletion at the end of the waiting period, with a short `[keys] day_seconds`: the key, its
aliases and its tags really leave the database, also when the window ended while no server
ran, and exactly once when two processes share one PostgreSQL database (contract §5.5)."""

from __future__ import annotations

import base64
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.helpers.clients import kms_client
from tests.helpers.proxies import wait_for
from tests.helpers.server import ServerProcess, start_cks_server
from tests.keys.test_aws_kms_keys import error


def config(day_seconds: float, master_key: str = "") -> str:
    server = f'[server]\nmaster_key = "{master_key}"\n' if master_key else ""
    return f"{server}\n[keys]\nday_seconds = {day_seconds}\n"


def key_rows(data_dir: Path, database_url: str | None, key_id: str) -> int:
    """Rows of the key, its aliases and its tags still in the database."""
    query = (
        "SELECT (SELECT COUNT(*) FROM kms_keys WHERE id = {0})"
        " + (SELECT COUNT(*) FROM kms_aliases WHERE key_id = {0})"
        " + (SELECT COUNT(*) FROM kms_key_tags WHERE key_id = {0})"
    )
    if database_url:
        import psycopg

        with psycopg.connect(database_url) as conn:
            row = conn.execute(query.format("%(k)s"), {"k": key_id}).fetchone()
    else:
        with sqlite3.connect(data_dir / "cks.sqlite3") as conn:
            row = conn.execute(query.format(":k"), {"k": key_id}).fetchone()
    assert row is not None
    return int(row[0])


def wait_until_gone(data_dir: Path, database_url: str | None, key_id: str) -> None:
    """Wait until the key, its aliases and its tags are out of the database."""
    wait_for(lambda: key_rows(data_dir, database_url, key_id) == 0)


def doomed_key(kms: Any) -> dict[str, Any]:
    key = kms.create_key(Tags=[{"TagKey": "t", "TagValue": "v"}])["KeyMetadata"]
    kms.create_alias(AliasName="alias/doomed", TargetKeyId=key["KeyId"])
    return dict(key)


def gone(kms: Any, key_id: str) -> bool:
    try:
        kms.describe_key(KeyId=key_id)
    except ClientError as raised:
        return raised.response["Error"]["Code"] == "NotFoundException"
    return False


@pytest.fixture
def short_day(tmp_path: Path) -> Iterator[ServerProcess]:
    server = start_cks_server(tmp_path, config(0.05))
    yield server
    server.stop()


def test_a_key_is_deleted_with_its_aliases_and_tags(short_day: ServerProcess) -> None:
    kms = kms_client(short_day.url)
    key = doomed_key(kms)
    kept = kms.create_key()["KeyMetadata"]["KeyId"]
    assert key_rows(short_day.data_dir, None, key["KeyId"]) == 3
    scheduled = kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    # DeletionDate follows the short day: 7 x 0.05 s.
    assert scheduled["DeletionDate"].timestamp() - time.time() < 1
    wait_for(lambda: key_rows(short_day.data_dir, None, key["KeyId"]) == 0)
    assert gone(kms, key["KeyId"])
    with pytest.raises(ClientError) as raised:
        kms.describe_key(KeyId="alias/doomed")
    assert error(raised)[0] == "NotFoundException"
    assert [entry["KeyId"] for entry in kms.list_keys()["Keys"]] == [kept]
    assert kms.list_aliases()["Aliases"] == []
    # The name is free again.
    kms.create_alias(AliasName="alias/doomed", TargetKeyId=kept)
    assert "deleted KMS key " + key["Arn"] in short_day.log()


def test_a_cancelled_deletion_keeps_the_key(tmp_path: Path) -> None:
    server = start_cks_server(tmp_path, config(0.5))
    try:
        kms = kms_client(server.url)
        key = doomed_key(kms)
        kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
        kms.cancel_key_deletion(KeyId=key["KeyId"])
        # Past the date the deletion would have had.
        wait_for(lambda: time.time() > key["CreationDate"].timestamp() + 4, timeout=10)
        assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Disabled"
        assert key_rows(server.data_dir, None, key["KeyId"]) == 3
    finally:
        server.stop()


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_a_window_that_ended_while_no_server_ran(
    tmp_path: Path, request: pytest.FixtureRequest, database: str
) -> None:
    url = request.getfixturevalue("fresh_postgres") if database == "postgres" else None
    master_key = base64.b64encode(os.urandom(32)).decode()
    server = start_cks_server(tmp_path, config(0.2, master_key), database_url=url)
    kms = kms_client(server.url)
    key = doomed_key(kms)
    scheduled = kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    server.stop()
    deletion_date = scheduled["DeletionDate"].timestamp()
    wait_for(lambda: time.time() > deletion_date + 0.1, timeout=10)
    assert key_rows(server.data_dir, url, key["KeyId"]) == 3  # nobody has deleted it yet
    again = start_cks_server(
        tmp_path, config(0.2, master_key), database_url=url, data_dir=server.data_dir
    )
    try:
        wait_for(lambda: key_rows(server.data_dir, url, key["KeyId"]) == 0)
        assert gone(kms_client(again.url), key["KeyId"])
    finally:
        again.stop()


@pytest.mark.postgres
def test_two_processes_delete_each_key_once(tmp_path: Path, fresh_postgres: str) -> None:
    master_key = base64.b64encode(os.urandom(32)).decode()
    servers = [
        start_cks_server(tmp_path / name, config(0.05, master_key), database_url=fresh_postgres)
        for name in ("one", "two")
    ]
    try:
        clients = [kms_client(server.url) for server in servers]
        keys = [clients[i % 2].create_key()["KeyMetadata"] for i in range(8)]
        for index, key in enumerate(keys):
            clients[index % 2].schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
        for key in keys:
            wait_until_gone(tmp_path, fresh_postgres, key["KeyId"])
        logs = servers[0].log() + servers[1].log()
        for key in keys:
            assert logs.count("deleted KMS key " + key["Arn"]) == 1
    finally:
        for server in servers:
            server.stop()
