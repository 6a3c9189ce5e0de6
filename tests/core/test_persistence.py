"""Durability: data survives restarts, secrets are sealed at rest and kept out of logs, and a
server killed mid-transition finishes the transition after it comes back."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.helpers.clients import VALID_SECRET, kms_client, xks_params
from tests.helpers.proxies import Behaviour, FakeProxy, StallingServer, wait_for
from tests.helpers.server import start_cks_server

VPC_STORE = {
    "CustomKeyStoreName": "survivor",
    "CustomKeyStoreType": "EXTERNAL_KEY_STORE",
    "XksProxyConnectivity": "VPC_ENDPOINT_SERVICE",
    "XksProxyUriEndpoint": "https://survivor.vpce.test",
    "XksProxyUriPath": "/kms/xks/v1",
    "XksProxyVpcEndpointServiceName": "com.amazonaws.vpce.us-east-1.vpce-svc-survivor1",
    "XksProxyAuthenticationCredential": xks_params("x")["XksProxyAuthenticationCredential"],
}


def vpc_config(address: str, extra: str = "") -> str:
    return f"""
[server]
{extra}

[xks]
allow_http = ["survivor.vpce.test"]

[[vpc_endpoint_services]]
name = "com.amazonaws.vpce.us-east-1.vpce-svc-survivor1"
owner = "000000000000"
private_dns_name = "survivor.vpce.test"
address = "{address}"
"""


def state_of(kms: Any, store_id: str) -> dict[str, Any]:
    return dict(kms.describe_custom_key_stores(CustomKeyStoreId=store_id)["CustomKeyStores"][0])


def test_data_survives_a_restart_and_secrets_are_sealed(tmp_path: Path) -> None:
    proxy = FakeProxy(Behaviour())
    config = vpc_config(proxy.address)
    server = start_cks_server(tmp_path, config)
    try:
        kms = kms_client(server.url)
        store_id = kms.create_custom_key_store(**VPC_STORE)["CustomKeyStoreId"]
        kms.connect_custom_key_store(CustomKeyStoreId=store_id)
        wait_for(lambda: state_of(kms, store_id)["ConnectionState"] == "CONNECTED")
        before = state_of(kms, store_id)
        server.stop()
        server = start_cks_server(tmp_path, config, port=server.port)
        assert state_of(kms, store_id) == before
        # The secret is stored only sealed, and never written to the log.
        database = (server.data_dir / "cks.sqlite3").read_bytes()
        for wal in server.data_dir.glob("cks.sqlite3-wal"):
            database += wal.read_bytes()
        assert VALID_SECRET.encode() not in database
        assert b"survivor.vpce.test" in database  # the plain members are there
        assert VALID_SECRET not in server.log()
    finally:
        server.stop()
        proxy.close()


def test_a_server_killed_mid_transition_finishes_it_after_restart(tmp_path: Path) -> None:
    stalling = StallingServer()
    healthy = FakeProxy(Behaviour())
    # The first server's health call hangs (5 s budget) and its lease is short.
    first_config = vpc_config(stalling.address, "lease_seconds = 1")
    first_config = first_config.replace("[xks]", "[xks]\ntimeout_ms = 5000\nretries = 0")
    server = start_cks_server(tmp_path, first_config)
    try:
        kms = kms_client(server.url)
        store_id = kms.create_custom_key_store(**VPC_STORE)["CustomKeyStoreId"]
        kms.connect_custom_key_store(CustomKeyStoreId=store_id)
        wait_for(lambda: stalling._held, timeout=5)  # the worker is inside the health call
        assert state_of(kms, store_id)["ConnectionState"] == "CONNECTING"
        server.kill()
        # The proxy is healthy by the time the server is back.
        server = start_cks_server(tmp_path, vpc_config(healthy.address), port=server.port)
        started = time.monotonic()
        wait_for(lambda: state_of(kms, store_id)["ConnectionState"] == "CONNECTED", timeout=15)
        assert time.monotonic() - started < 10
        assert len(healthy.health_calls()) == 1  # carried out once, by the new process
    finally:
        server.stop()
        stalling.close()
        healthy.close()


def test_a_transition_left_by_a_stopped_server_is_picked_up(tmp_path: Path) -> None:
    proxy = FakeProxy(Behaviour())
    slow = vpc_config(proxy.address, "transition_delay_ms = 1500")
    server = start_cks_server(tmp_path, slow)
    try:
        kms = kms_client(server.url)
        store_id = kms.create_custom_key_store(**VPC_STORE)["CustomKeyStoreId"]
        kms.connect_custom_key_store(CustomKeyStoreId=store_id)
        assert state_of(kms, store_id)["ConnectionState"] == "CONNECTING"
        server.kill()  # before the transition was due: nobody has claimed it
        assert proxy.health_calls() == []
        server = start_cks_server(tmp_path, slow, port=server.port)
        wait_for(lambda: state_of(kms, store_id)["ConnectionState"] == "CONNECTED", timeout=10)
        assert len(proxy.health_calls()) == 1
    finally:
        server.stop()
        proxy.close()
