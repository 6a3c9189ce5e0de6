"""The black-box campaign's member findings, on SQLite and PostgreSQL: `null` members read as
absent, and U+0000 answered alike by both stores (never a 500)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from tests.fuzz.wire import SignedClient
from tests.helpers.clients import unique_region, xks_params
from tests.helpers.server import ServerProcess

_names = itertools.count()


@pytest.fixture
def client(store_server: ServerProcess) -> Any:
    client = SignedClient(store_server.port, unique_region())
    yield client
    client.close()


def create(client: SignedClient, **changes: Any) -> str:
    name = f"store-{next(_names)}"
    params = {**xks_params(name), **changes}
    answer = client.call("CreateCustomKeyStore", params)
    assert answer.status == 200, answer.body
    return str(answer.json()["CustomKeyStoreId"])


def test_null_limit_is_no_limit(client: SignedClient) -> None:
    answer = client.call("DescribeCustomKeyStores", {"Limit": None, "Marker": None})
    assert (answer.status, answer.json()) == (200, {"CustomKeyStores": [], "Truncated": False})


def same_as_absent(client: SignedClient, operation: str, params: dict[str, Any], member: str):
    """Send `params` with `member` null, then without it: both answers must be alike."""
    with_null = client.call(operation, {**params, member: None})
    without = client.call(operation, {k: v for k, v in params.items() if k != member})
    assert with_null.status < 500, with_null.body
    assert (with_null.status, with_null.error_type) == (without.status, without.error_type)
    return with_null


def test_null_credential_is_a_missing_credential(client: SignedClient) -> None:
    answer = same_as_absent(
        client,
        "CreateCustomKeyStore",
        xks_params("no-credential"),
        "XksProxyAuthenticationCredential",
    )
    assert answer.status == 400
    store_id = create(client)
    update = {"CustomKeyStoreId": store_id, "XksProxyAuthenticationCredential": None}
    assert client.call("UpdateCustomKeyStore", update).status == 200


def test_null_type_is_the_default_type(client: SignedClient) -> None:
    # Absent, the type is AWS_CLOUDHSM, which refuses the external members.
    answer = same_as_absent(
        client, "CreateCustomKeyStore", xks_params("null-type"), "CustomKeyStoreType"
    )
    assert answer.status == 400


def test_null_connectivity_is_refused_and_never_stored(client: SignedClient) -> None:
    answer = same_as_absent(
        client, "CreateCustomKeyStore", xks_params("null-connectivity"), "XksProxyConnectivity"
    )
    assert answer.status == 400
    listed = client.call("DescribeCustomKeyStores", {}).json()["CustomKeyStores"]
    assert listed == []


def test_null_new_name_keeps_the_name(client: SignedClient) -> None:
    store_id = create(client)
    answer = client.call(
        "UpdateCustomKeyStore", {"CustomKeyStoreId": store_id, "NewCustomKeyStoreName": None}
    )
    assert answer.status == 200, answer.body


def test_nested_null_members_are_absent(client: SignedClient) -> None:
    credential = {"AccessKeyId": None, "RawSecretAccessKey": "x" * 43}
    params = {**xks_params("nested-null"), "XksProxyAuthenticationCredential": credential}
    answer = client.call("CreateCustomKeyStore", params)
    assert answer.status == 400
    assert (
        "Value null at 'xksProxyAuthenticationCredential.accessKeyId'" in answer.json()["message"]
    )


NUL_CASES = [
    ("DescribeCustomKeyStores", {"CustomKeyStoreId": "cks-\x00"}),
    ("DescribeCustomKeyStores", {"CustomKeyStoreName": "a\x00b"}),
    ("CreateCustomKeyStore", xks_params("nul\x00name", path="/kms/xks/v1")),
    ("UpdateCustomKeyStore", {"CustomKeyStoreId": "cks-\x00", "NewCustomKeyStoreName": "n"}),
    ("ConnectCustomKeyStore", {"CustomKeyStoreId": "\x00"}),
    ("DisconnectCustomKeyStore", {"CustomKeyStoreId": "\x00"}),
    ("DeleteCustomKeyStore", {"CustomKeyStoreId": "\x00"}),
]


@pytest.mark.parametrize(("operation", "params"), NUL_CASES, ids=[c[0] for c in NUL_CASES])
def test_nul_is_a_validation_error_on_every_store(
    client: SignedClient, operation: str, params: dict[str, Any]
) -> None:
    answer = client.call(operation, params)
    assert answer.status == 400, answer.body
    assert answer.error_type == "ValidationException"
    assert "Member must not contain the character U+0000" in answer.json()["message"]
    assert "\x00" not in answer.json()["message"]  # that value is not echoed


def test_a_renamed_store_refuses_nul_too(client: SignedClient) -> None:
    store_id = create(client)
    answer = client.call(
        "UpdateCustomKeyStore", {"CustomKeyStoreId": store_id, "NewCustomKeyStoreName": "x\x00"}
    )
    assert (answer.status, answer.error_type) == (400, "ValidationException")
