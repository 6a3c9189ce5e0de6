"""Why a store FAILED, where the user looks: the last connection attempts and their causes.

Real proxies on 127.0.0.1 (a closed port, an untrusted certificate, a healthy one), a real
`cks serve`, and `cks kms explain-connection-error --custom-key-store-id` as a user runs it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kmscks.store.attempts import KEEP, AttemptRow, ConnectionAttempts
from tests.conftest import SECOND_ACCESS_KEY, SECOND_ACCOUNT, SECOND_SECRET
from tests.core.test_store import insert, record
from tests.helpers.clients import VALID_ACCESS_KEY_ID, VALID_SECRET, kms_client, unique_region
from tests.helpers.proxies import Behaviour, FakeProxy, Tls, closed_port_address, untrusted_context
from tests.helpers.server import ServerProcess, start_cks_server

# Each test works in its own region (an endpoint service serves one store per region).
REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-south-1", "ca-central-1")


def _service(case: str, region: str) -> str:
    return f"com.amazonaws.vpce.{region}.vpce-svc-{case}0000"


def _config(addresses: dict[str, str], tls: Tls) -> str:
    services = "".join(
        f"""
[[vpc_endpoint_services]]
name = "{_service(case, region)}"
owner = "000000000000"
private_dns_name = "{case}.vpce.test"
address = "{address}"
"""
        for case, address in addresses.items()
        for region in REGIONS
    )
    return f"""
[server]
transition_delay_ms = 20

[[credentials]]
access_key_id = "{SECOND_ACCESS_KEY}"
secret_access_key = "{SECOND_SECRET}"
account_id = "{SECOND_ACCOUNT}"

[xks]
ca_bundle = "{tls.ca_path}"
{services}
"""


class Lab:
    def __init__(self, folder: Path, database_url: str | None) -> None:
        self.tls = Tls.create(folder)
        self.healthy = FakeProxy(Behaviour(), self.tls.server_context("healthy.vpce.test"))
        self.untrusted = FakeProxy(Behaviour(), untrusted_context("untrusted.vpce.test"))
        self.addresses = {
            "healthy": self.healthy.address,
            "untrusted": self.untrusted.address,
            "refused": closed_port_address(),
        }
        self.server = start_cks_server(
            folder, _config(self.addresses, self.tls), database_url=database_url
        )

    def close(self) -> None:
        self.server.stop()
        self.healthy.close()
        self.untrusted.close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    lab = Lab(tmp_path_factory.mktemp("attempts"), None)
    yield lab
    lab.close()


def _vpc_members(case: str, region: str) -> dict[str, Any]:
    return {
        "XksProxyUriEndpoint": f"https://{case}.vpce.test",
        "XksProxyVpcEndpointServiceName": _service(case, region),
    }


def create(client: Any, case: str) -> str:
    answer = client.create_custom_key_store(
        CustomKeyStoreName=f"store-{case}-{time.monotonic_ns()}",
        CustomKeyStoreType="EXTERNAL_KEY_STORE",
        XksProxyConnectivity="VPC_ENDPOINT_SERVICE",
        XksProxyUriPath="/kms/xks/v1",
        XksProxyAuthenticationCredential={
            "AccessKeyId": VALID_ACCESS_KEY_ID,
            "RawSecretAccessKey": VALID_SECRET,
        },
        **_vpc_members(case, client.meta.region_name),
    )
    return str(answer["CustomKeyStoreId"])


def connect(client: Any, store_id: str) -> str:
    client.connect_custom_key_store(CustomKeyStoreId=store_id)
    return settle(client, store_id)


def settle(client: Any, store_id: str) -> str:
    """The state a CONNECTING or DISCONNECTING store ends in."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        state = client.describe_custom_key_stores(CustomKeyStoreId=store_id)["CustomKeyStores"][0][
            "ConnectionState"
        ]
        if state not in ("CONNECTING", "DISCONNECTING"):
            return str(state)
        time.sleep(0.05)
    raise AssertionError("the store stayed CONNECTING")


def explain(server: ServerProcess, region: str, store_id: str, **env: str) -> Any:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "kmscks",
            "kms",
            "explain-connection-error",
            "--custom-key-store-id",
            store_id,
            "--endpoint-url",
            server.url,
            "--region",
            region,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={
            **os.environ,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            **env,
        },
    )


def _check_refused(lab: Lab, region: str) -> None:
    client = kms_client(lab.server.url, region)
    store_id = create(client, "refused")
    assert connect(client, store_id) == "FAILED"
    result = explain(lab.server, region, store_id)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"{store_id} (" in out and "is FAILED: XKS_PROXY_NOT_REACHABLE" in out
    assert f"cause: TCP connection refused by {lab.addresses['refused']}" in out
    assert "To try:" in out and "Start the XKS proxy" in out
    assert "KMS can't communicate with your external key store" in out  # the code's text
    assert VALID_SECRET not in out


def test_a_stopped_proxy_shows_the_refused_address(lab: Lab) -> None:
    _check_refused(lab, REGIONS[0])


def test_a_stopped_proxy_on_postgresql(tmp_path: Path, fresh_postgres: str) -> None:
    lab = Lab(tmp_path, fresh_postgres)
    try:
        _check_refused(lab, REGIONS[0])
    finally:
        lab.close()


def test_an_untrusted_certificate_shows_the_verification_error(lab: Lab) -> None:
    client = kms_client(lab.server.url, REGIONS[1])
    store_id = create(client, "untrusted")
    assert connect(client, store_id) == "FAILED"
    out = " ".join(explain(lab.server, REGIONS[1], store_id).stdout.split())  # unwrapped
    assert "XKS_PROXY_INVALID_TLS_CONFIGURATION" in out
    assert "cause: certificate verify failed: unable to get local issuer certificate" in out
    assert "(server untrusted.vpce.test at 127.0.0.1:" in out
    assert "Add the CA that issued it to [xks] ca_bundle" in out  # the fix to try


def test_attempts_are_listed_newest_first_with_latency_and_health(lab: Lab) -> None:
    region = REGIONS[2]
    client = kms_client(lab.server.url, region)
    store_id = create(client, "healthy")
    assert connect(client, store_id) == "CONNECTED"
    client.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    assert settle(client, store_id) == "DISCONNECTED"
    client.update_custom_key_store(CustomKeyStoreId=store_id, **_vpc_members("refused", region))
    assert connect(client, store_id) == "FAILED"
    out = explain(lab.server, region, store_id).stdout
    failed, connected = out.index("  FAILED  XKS_PROXY_NOT_REACHABLE"), out.index("  CONNECTED")
    assert failed < connected
    assert "cause: the proxy reports healthy" in out
    assert "proxy health: cks-tests FakeProxy 1.0, fleet of 1; EKMs: ekm-1 ACTIVE" in out
    assert "proxy answered in" in out


def test_other_accounts_and_unknown_ids_get_not_found(lab: Lab) -> None:
    client = kms_client(lab.server.url, REGIONS[3])
    store_id = create(client, "refused")
    other = explain(
        lab.server,
        REGIONS[3],
        store_id,
        AWS_ACCESS_KEY_ID=SECOND_ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=SECOND_SECRET,
    )
    assert other.returncode != 0
    assert "CustomKeyStoreNotFoundException" in other.stderr
    region = unique_region()
    unknown = explain(lab.server, region, "cks-1234567890abcdef0")
    assert "CustomKeyStoreNotFoundException" in unknown.stderr


def test_a_store_with_no_attempt_says_so(lab: Lab) -> None:
    client = kms_client(lab.server.url, REGIONS[4])
    store_id = create(client, "refused")
    out = explain(lab.server, REGIONS[4], store_id).stdout
    assert "is DISCONNECTED" in out and "No connection attempt recorded yet" in out


def test_without_an_id_a_code_is_explained_as_before(lab: Lab) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kmscks", "kms", "explain-connection-error", "USER_LOCKED_OUT"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0 and result.stdout.startswith("USER_LOCKED_OUT\n")


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    from kmscks.store.sql import PostgresStore, SqliteStore, SqlStore

    opened: SqlStore
    if request.param == "sqlite":
        opened = SqliteStore(tmp_path / "cks.sqlite3")
    else:
        opened = PostgresStore(request.getfixturevalue("fresh_postgres"))
    yield opened
    opened.close()


def test_the_store_keeps_the_newest_attempts_and_forgets_deleted_stores(store: Any) -> None:
    kept, other = record("kept"), record("other")
    insert(store, kept, other)
    attempts = ConnectionAttempts(store)
    for number in range(KEEP + 3):
        attempts.record(AttemptRow(kept.id, 1000.0 + number, "FAILED", "X", f"cause {number}"))
    attempts.record(AttemptRow(other.id, 5.0, "CONNECTED", None, "connected", 1.5, "fine"))
    newest = attempts.recent(kept.id)
    assert [row.cause for row in newest] == [f"cause {n}" for n in range(KEEP + 2, 2, -1)]
    assert attempts.recent(other.id) == [
        AttemptRow(other.id, 5.0, "CONNECTED", None, "connected", 1.5, "fine")
    ]
    with store.mutation("us-east-1") as tx:
        assert tx.delete(kept.seq, "DISCONNECTED")
    assert attempts.recent(kept.id) == []
    assert len(attempts.recent(other.id)) == 1


def test_a_cloudhsm_store_shows_what_the_cluster_check_found(tmp_path: Path) -> None:
    from tests.cloudhsm.conftest import CONFIG
    from tests.cloudhsm.lab import Lab as HsmLab
    from tests.cloudhsm.lab import hsm_region

    server = start_cks_server(tmp_path, CONFIG)
    try:
        lab = HsmLab(server.url, hsm_region())
        cluster = lab.build(kmsuser="original1")
        store_id = lab.create_store(cluster, password="original1")
        lab.admin("LockOutKmsUser", ClusterId=cluster.id)
        assert lab.connect(store_id)["ConnectionErrorCode"] == "USER_LOCKED_OUT"
        out = " ".join(explain(server, lab.region, store_id).stdout.split())
    finally:
        server.stop()
    assert f"cause: the kmsuser of cluster {cluster.id} is locked out" in out
    assert "To try: Unlock the kmsuser: cks cloudhsm change-kms-user-password" in out
    assert "original1" not in out
