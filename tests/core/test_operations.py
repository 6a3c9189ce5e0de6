"""The six operations through boto3 against a live server: every rule of the contract.

Each test works in a region of its own on the shared server, so tests never see each other.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import SECOND_ACCESS_KEY, SECOND_SECRET
from tests.helpers.clients import VALID_ACCESS_KEY_ID, VALID_SECRET, kms_client, xks_params
from tests.helpers.proxies import wait_for
from tests.helpers.server import ServerProcess

CLUSTER_HSM_PARAMS = {
    "CloudHsmClusterId": "cluster-234abcdefABC",
    "TrustAnchorCertificate": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
    "KeyStorePassword": "kmsPswd1",
}


def error_code(raised: pytest.ExceptionInfo[ClientError]) -> str:
    return str(raised.value.response["Error"]["Code"])


def create(kms: Any, name: str, **overrides: Any) -> str:
    return str(kms.create_custom_key_store(**{**xks_params(name), **overrides})["CustomKeyStoreId"])


def describe_one(kms: Any, store_id: str) -> dict[str, Any]:
    stores = kms.describe_custom_key_stores(CustomKeyStoreId=store_id)["CustomKeyStores"]
    assert len(stores) == 1
    return dict(stores[0])


def settle(kms: Any, store_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        entry = describe_one(kms, store_id)
        return None if entry["ConnectionState"] in ("CONNECTING", "DISCONNECTING") else entry

    return wait_for(done)


# -- Create and Describe ------------------------------------------------------------------


def test_create_then_describe_an_external_key_store(kms: Any) -> None:
    before = datetime.now(UTC)
    store_id = create(kms, "first")
    assert re.fullmatch(r"cks-[0-9a-f]{17}", store_id)
    entry = describe_one(kms, store_id)
    assert list(entry) == [
        "CustomKeyStoreId",
        "CustomKeyStoreName",
        "ConnectionState",
        "CreationDate",
        "CustomKeyStoreType",
        "XksProxyConfiguration",
    ]
    assert entry["CustomKeyStoreName"] == "first"
    assert entry["ConnectionState"] == "DISCONNECTED"
    assert entry["CustomKeyStoreType"] == "EXTERNAL_KEY_STORE"
    assert before.timestamp() - 1 <= entry["CreationDate"].timestamp() <= time.time() + 1
    assert entry["XksProxyConfiguration"] == {
        "Connectivity": "PUBLIC_ENDPOINT",
        "AccessKeyId": VALID_ACCESS_KEY_ID,
        "UriEndpoint": "https://xks.example.test",
        "UriPath": "/first/kms/xks/v1",
    }


def test_describe_with_no_stores_is_an_empty_list(kms: Any) -> None:
    answer = kms.describe_custom_key_stores()
    assert answer["CustomKeyStores"] == []
    assert answer["Truncated"] is False
    assert "NextMarker" not in answer


def test_describe_filters_by_id_name_or_both(kms: Any) -> None:
    first = create(kms, "alpha")
    second = create(kms, "beta")
    assert describe_one(kms, first)["CustomKeyStoreName"] == "alpha"
    by_name = kms.describe_custom_key_stores(CustomKeyStoreName="beta")["CustomKeyStores"]
    assert [s["CustomKeyStoreId"] for s in by_name] == [second]
    both = kms.describe_custom_key_stores(CustomKeyStoreId=first, CustomKeyStoreName="alpha")
    assert [s["CustomKeyStoreId"] for s in both["CustomKeyStores"]] == [first]
    for filters in (
        {"CustomKeyStoreId": "cks-00000000000000000"},
        {"CustomKeyStoreName": "gamma"},
        {"CustomKeyStoreId": first, "CustomKeyStoreName": "beta"},  # both must match
    ):
        with pytest.raises(ClientError) as raised:
            kms.describe_custom_key_stores(**filters)
        assert error_code(raised) == "CustomKeyStoreNotFoundException"


def test_names_are_unique_per_account_and_region(
    server: ServerProcess, kms: Any, region: str
) -> None:
    create(kms, "dup")
    with pytest.raises(ClientError) as raised:
        create(kms, "dup", XksProxyUriPath="/other/kms/xks/v1")
    assert error_code(raised) == "CustomKeyStoreNameInUseException"
    # Names are case-sensitive (docs/decisions.md), and other regions and accounts are apart.
    create(kms, "DUP", XksProxyUriPath="/other/kms/xks/v1")
    elsewhere = kms_client(server.url, region + "-b")
    create(elsewhere, "dup")
    other_account = kms_client(server.url, region, SECOND_ACCESS_KEY, SECOND_SECRET)
    create(other_account, "dup")


def test_quota_of_ten_stores_per_account_and_region(
    server: ServerProcess, kms: Any, region: str
) -> None:
    for index in range(10):
        create(kms, f"store-{index}")
    with pytest.raises(ClientError) as raised:
        create(kms, "store-10")
    assert error_code(raised) == "LimitExceededException"
    create(kms_client(server.url, region + "-b"), "store-10")


def test_external_key_store_members_by_connectivity(kms: Any) -> None:
    cases: list[tuple[dict[str, str | None], str]] = [
        ({"XksProxyConnectivity": None}, "XksProxyConnectivity is required"),
        ({"XksProxyUriPath": None}, "XksProxyUriPath is required"),
        ({"KeyStorePassword": "kmsPswd1"}, "KeyStorePassword is not valid"),
        (
            {"XksProxyVpcEndpointServiceName": "com.amazonaws.vpce.us-east-1.vpce-svc-abc"},
            "XksProxyVpcEndpointServiceName is not valid",
        ),
        (
            {"XksProxyConnectivity": "VPC_ENDPOINT_SERVICE"},
            "XksProxyVpcEndpointServiceName is required",
        ),
    ]
    for overrides, message in cases:
        params = {**xks_params("typed"), **overrides}
        params = {name: value for name, value in params.items() if value is not None}
        with pytest.raises(ClientError) as raised:
            kms.create_custom_key_store(**params)
        assert error_code(raised) == "ValidationException"
        assert message in raised.value.response["Error"]["Message"]


def test_cloudhsm_store_without_clusters(kms: Any) -> None:
    with pytest.raises(ClientError) as raised:
        kms.create_custom_key_store(CustomKeyStoreName="hsm", **CLUSTER_HSM_PARAMS)
    assert error_code(raised) == "CloudHsmClusterNotFoundException"
    with pytest.raises(ClientError) as raised:
        kms.create_custom_key_store(
            CustomKeyStoreName="hsm", CloudHsmClusterId="cluster-234abcdefABC"
        )
    assert error_code(raised) == "ValidationException"
    assert (
        "TrustAnchorCertificate, KeyStorePassword are required"
        in raised.value.response["Error"]["Message"]
    )


def test_uri_endpoint_and_path_are_unique_per_account(
    server: ServerProcess, kms: Any, region: str
) -> None:
    create(kms, "one", XksProxyUriPath="/shared/kms/xks/v1")
    with pytest.raises(ClientError) as raised:
        create(kms, "two", XksProxyUriPath="/shared/kms/xks/v1")
    assert error_code(raised) == "XksProxyUriInUseException"
    # The endpoint host compares case-insensitively.
    with pytest.raises(ClientError) as raised:
        create(
            kms,
            "two",
            XksProxyUriEndpoint="https://XKS.example.test",
            XksProxyUriPath="/shared/kms/xks/v1",
        )
    assert error_code(raised) == "XksProxyUriInUseException"
    create(kms, "two", XksProxyUriPath="/shared/kms/xks/v2")  # another path is fine
    other_account = kms_client(server.url, region, SECOND_ACCESS_KEY, SECOND_SECRET)
    create(other_account, "one", XksProxyUriPath="/shared/kms/xks/v1")


# -- Update ---------------------------------------------------------------------------------


def test_update_rules(kms: Any) -> None:
    store_id = create(kms, "upd")
    create(kms, "taken")
    assert set(kms.update_custom_key_store(CustomKeyStoreId=store_id)) == {"ResponseMetadata"}
    kms.update_custom_key_store(CustomKeyStoreId=store_id, NewCustomKeyStoreName="renamed")
    assert describe_one(kms, store_id)["CustomKeyStoreName"] == "renamed"
    with pytest.raises(ClientError) as raised:
        kms.update_custom_key_store(CustomKeyStoreId=store_id, NewCustomKeyStoreName="taken")
    assert error_code(raised) == "CustomKeyStoreNameInUseException"
    with pytest.raises(ClientError) as raised:
        kms.update_custom_key_store(
            CustomKeyStoreId="cks-00000000000000000", NewCustomKeyStoreName="x"
        )
    assert error_code(raised) == "CustomKeyStoreNotFoundException"
    with pytest.raises(ClientError) as raised:
        kms.update_custom_key_store(CustomKeyStoreId=store_id, KeyStorePassword="kmsPswd1")
    assert error_code(raised) == "ValidationException"
    with pytest.raises(ClientError) as raised:
        kms.update_custom_key_store(
            CustomKeyStoreId=store_id, XksProxyConnectivity="VPC_ENDPOINT_SERVICE"
        )
    assert error_code(raised) == "ValidationException"
    assert "requires a new XksProxyUriEndpoint" in raised.value.response["Error"]["Message"]
    new_credential = {"AccessKeyId": "Z" * 20, "RawSecretAccessKey": "b" * 43}
    kms.update_custom_key_store(
        CustomKeyStoreId=store_id,
        XksProxyAuthenticationCredential=new_credential,
        XksProxyUriPath="/moved/kms/xks/v1",
    )
    proxy = describe_one(kms, store_id)["XksProxyConfiguration"]
    assert (proxy["AccessKeyId"], proxy["UriPath"]) == ("Z" * 20, "/moved/kms/xks/v1")


def test_update_while_connected(kms: Any) -> None:
    store_id = create(kms, "live")
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    assert settle(kms, store_id)["ConnectionState"] == "CONNECTED"
    # Allowed while CONNECTED: the name, the credential and the path.
    kms.update_custom_key_store(CustomKeyStoreId=store_id, NewCustomKeyStoreName="live-2")
    kms.update_custom_key_store(CustomKeyStoreId=store_id, XksProxyUriPath="/live2/kms/xks/v1")
    with pytest.raises(ClientError) as raised:
        kms.update_custom_key_store(
            CustomKeyStoreId=store_id, XksProxyUriEndpoint="https://xks2.example.test"
        )
    assert error_code(raised) == "CustomKeyStoreInvalidStateException"
    # Repeating the current value is not a change (what Terraform sends).
    kms.update_custom_key_store(
        CustomKeyStoreId=store_id, XksProxyUriEndpoint="https://xks.example.test"
    )


# -- Connect, Disconnect, Delete ------------------------------------------------------------


def test_connection_state_machine(kms: Any) -> None:
    store_id = create(kms, "machine")
    with pytest.raises(ClientError) as raised:
        kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    assert error_code(raised) == "CustomKeyStoreInvalidStateException"
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    assert describe_one(kms, store_id)["ConnectionState"] in ("CONNECTING", "CONNECTED")
    assert settle(kms, store_id)["ConnectionState"] == "CONNECTED"
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)  # a no-op when CONNECTED
    assert describe_one(kms, store_id)["ConnectionState"] == "CONNECTED"
    with pytest.raises(ClientError) as raised:
        kms.delete_custom_key_store(CustomKeyStoreId=store_id)
    assert error_code(raised) == "CustomKeyStoreInvalidStateException"
    kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    assert settle(kms, store_id)["ConnectionState"] == "DISCONNECTED"
    assert set(kms.delete_custom_key_store(CustomKeyStoreId=store_id)) == {"ResponseMetadata"}
    for call in (
        kms.connect_custom_key_store,
        kms.disconnect_custom_key_store,
        kms.delete_custom_key_store,
    ):
        with pytest.raises(ClientError) as raised:
            call(CustomKeyStoreId=store_id)
        assert error_code(raised) == "CustomKeyStoreNotFoundException"
    # After a delete, the same endpoint and path may be used again.
    create(kms, "machine")


def test_disconnect_while_connecting(kms: Any, server: ServerProcess) -> None:
    store_id = create(kms, "quick")
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    entry = settle(kms, store_id)
    assert entry["ConnectionState"] == "DISCONNECTED"
    time.sleep(0.3)  # a late connect result must not overwrite the disconnect
    assert describe_one(kms, store_id)["ConnectionState"] == "DISCONNECTED"


# -- Isolation -------------------------------------------------------------------------------


def test_accounts_and_regions_never_see_each_other(
    server: ServerProcess, kms: Any, region: str
) -> None:
    store_id = create(kms, "mine")
    strangers = [
        kms_client(server.url, region, SECOND_ACCESS_KEY, SECOND_SECRET),
        kms_client(server.url, region + "-b"),
    ]
    for stranger in strangers:
        assert stranger.describe_custom_key_stores()["CustomKeyStores"] == []
        for call, extra in (
            (stranger.describe_custom_key_stores, {}),
            (stranger.update_custom_key_store, {"NewCustomKeyStoreName": "theirs"}),
            (stranger.connect_custom_key_store, {}),
            (stranger.disconnect_custom_key_store, {}),
            (stranger.delete_custom_key_store, {}),
        ):
            with pytest.raises(ClientError) as raised:
                call(CustomKeyStoreId=store_id, **extra)
            assert error_code(raised) == "CustomKeyStoreNotFoundException"
    assert describe_one(kms, store_id)["CustomKeyStoreName"] == "mine"


def test_secrets_are_never_returned(kms: Any) -> None:
    store_id = create(kms, "secretive")
    raw = kms.describe_custom_key_stores(CustomKeyStoreId=store_id)
    assert VALID_SECRET not in repr(raw)
    assert "RawSecretAccessKey" not in repr(raw)
