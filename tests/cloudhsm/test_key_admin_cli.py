"""`cks cloudhsm list-keys`, `delete-key`, `exhaust-sessions` and `restore-sessions` end to end:
the command against a live server, and KMS's connector (in this process, on the server's
database and master key, like a second server process) seeing the result."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from kmscks.cloudhsm.control import ControlPlane
from kmscks.cloudhsm.keys import ClusterKeys
from kmscks.config import CloudHsmSettings
from kmscks.connectors.cloudhsm_keys import CloudHsmKeyConnector
from kmscks.errors import ServiceError
from kmscks.service.secrets import Sealer, load_master_key
from kmscks.store.sql import SqliteStore
from tests.cloudhsm.lab import Lab
from tests.cloudhsm.test_aws_cli_walk import cks_cloudhsm
from tests.helpers.server import ServerProcess

ACCOUNT = "000000000000"
AAD = bytes(54)


@dataclass
class Kms:
    connector: CloudHsmKeyConnector
    store: SqliteStore


@pytest.fixture
def kms_side(hsm_server: ServerProcess) -> Iterator[Kms]:
    store = SqliteStore(hsm_server.data_dir / "cks.sqlite3")
    sealer = Sealer(load_master_key(None, hsm_server.data_dir))
    control = ControlPlane(store, CloudHsmSettings(transition_ms=40), sealer)
    yield Kms(CloudHsmKeyConnector(ClusterKeys(control)), store)
    store.close()


def arn(region: str, index: int) -> str:
    return f"arn:aws:kms:{region}:{ACCOUNT}:key/{index:08x}-aaaa-4bbb-8ccc-dddddddddddd"


def run(server: ServerProcess, region: str, *args: str) -> dict[str, object]:
    result = cks_cloudhsm(server, region, *args)
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def fails(server: ServerProcess, region: str, *args: str) -> str:
    result = cks_cloudhsm(server, region, *args)
    assert result.returncode == 254, result.stdout
    return result.stderr.strip()


def test_list_and_delete_keys(hsm_server: ServerProcess, lab: Lab, kms_side: Kms) -> None:
    region = lab.region
    cluster_id = lab.build().id
    first, second = arn(region, 1), arn(region, 2)
    for label in (first, second):
        kms_side.connector.create_backing_key(ACCOUNT, region, cluster_id, label)
    iv, tag, body = kms_side.connector.encrypt(ACCOUNT, region, cluster_id, first, b"x", AAD)

    listed = run(hsm_server, region, "list-keys", "--cluster-id", cluster_id)
    assert listed["ClusterId"] == cluster_id
    keys = listed["Keys"]
    assert isinstance(keys, list)
    assert [(k["KeyHandle"], k["Label"], k["Owner"], k["KeyType"]) for k in keys] == [
        ("0x0000000000000001", first, "kmsuser", "aes-256"),
        ("0x0000000000000002", second, "kmsuser", "aes-256"),
    ]
    assert all(
        set(k) == {"KeyHandle", "Label", "Owner", "KeyType", "CreateTimestamp"} for k in keys
    )
    sealed = [
        row[0] for row in kms_side.store._execute("SELECT material_sealed FROM cloudhsm_keys")
    ]
    assert not any(value in json.dumps(listed) for value in sealed)

    said = cks_cloudhsm(hsm_server, region, "list-keys", "--cluster-id", cluster_id).stderr
    assert said == f"list-keys: 2 key(s) in {cluster_id}.\n"
    deleted = run(hsm_server, region, "delete-key", "--cluster-id", cluster_id, "--label", first)
    assert deleted["Key"]["Label"] == first  # type: ignore[index]
    said = cks_cloudhsm(
        hsm_server, region, "delete-key", "--cluster-id", cluster_id, "--key-handle", "0x2"
    ).stderr
    assert said == (
        f"delete-key: deleted the key 0x0000000000000002 labelled {second} from {cluster_id}.\n"
    )
    with pytest.raises(ServiceError) as raised:
        kms_side.connector.decrypt(ACCOUNT, region, cluster_id, first, iv, tag, body, AAD)
    assert (raised.value.code, raised.value.message) == (
        "KMSInvalidStateException",
        f"The key material for {first} is not available in CloudHSM cluster {cluster_id}.",
    )
    assert run(hsm_server, region, "list-keys", "--cluster-id", cluster_id)["Keys"] == []

    message = fails(hsm_server, region, "delete-key", "--cluster-id", cluster_id, "--label", first)
    assert message == (
        "An error occurred (CloudHsmResourceNotFoundException): The cluster"
        f" {cluster_id} has no key labelled {first}."
    )
    for args in ((), ("--label", second, "--key-handle", "0x2")):
        message = fails(hsm_server, region, "delete-key", "--cluster-id", cluster_id, *args)
        assert message == (
            "An error occurred (CloudHsmInvalidRequestException): Specify exactly one of"
            " Label (--label) and KeyHandle (--key-handle)."
        )
    message = fails(
        hsm_server, region, "delete-key", "--cluster-id", cluster_id, "--key-handle", "0x63"
    )
    assert message.endswith(f"The cluster {cluster_id} has no key with handle 0x0000000000000063.")
    message = fails(hsm_server, region, "list-keys", "--cluster-id", "cluster-aaaaaaaaaaa")
    assert "CloudHsmResourceNotFoundException" in message


def test_session_exhaustion_drill(hsm_server: ServerProcess, lab: Lab, kms_side: Kms) -> None:
    region = lab.region
    cluster_id = lab.build().id
    label = arn(region, 1)
    kms_side.connector.create_backing_key(ACCOUNT, region, cluster_id, label)
    answer = run(hsm_server, region, "exhaust-sessions", "--cluster-id", cluster_id)
    assert answer == {"ClusterId": cluster_id, "State": "ACTIVE"}
    with pytest.raises(ServiceError) as raised:
        kms_side.connector.encrypt(ACCOUNT, region, cluster_id, label, b"x", AAD)
    assert raised.value.code == "KMSInternalException"
    assert "PKCS#11 session" in raised.value.message
    run(hsm_server, region, "restore-sessions", "--cluster-id", cluster_id)
    iv, tag, body = kms_side.connector.encrypt(ACCOUNT, region, cluster_id, label, b"x", AAD)
    assert kms_side.connector.decrypt(ACCOUNT, region, cluster_id, label, iv, tag, body, AAD) == (
        b"x"
    )
