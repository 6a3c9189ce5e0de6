"""Keys in an external key store through boto3: CreateKey's proxy check and rules, KeyMetadata,
the states following the store's connection, HasCMKs, and the refused operations (contract
§3-§6)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.helpers.proxies import wait_for
from tests.helpers.server import ServerProcess
from tests.keys.conftest import ExternalStore, KeyedProxy
from tests.keys.test_aws_kms_keys import error


def state(kms: Any, key_id: str) -> str:
    return str(kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"])


def test_create_an_external_key(xks_store: ExternalStore, keyed_proxy: KeyedProxy) -> None:
    answer = xks_store.kms.create_key(
        Origin="EXTERNAL_KEY_STORE",
        CustomKeyStoreId=xks_store.id,
        XksKeyId="aes-first",
        Description="xks",
    )
    created = answer["KeyMetadata"]
    assert created["Origin"] == "EXTERNAL_KEY_STORE"
    assert created["CustomKeyStoreId"] == xks_store.id
    assert created["XksKeyConfiguration"] == {"Id": "aes-first"}
    assert created["KeyState"] == "Enabled"
    assert created["Enabled"] is True
    assert created["KeySpec"] == "SYMMETRIC_DEFAULT"
    for absent in ("CloudHsmClusterId", "DeletionDate", "ValidTo", "CurrentKeyMaterialId"):
        assert absent not in created
    assert xks_store.kms.describe_key(KeyId=created["KeyId"])["KeyMetadata"] == created
    [call] = keyed_proxy.metadata_calls("aes-first")
    meta = call["requestMetadata"]
    assert meta["kmsOperation"] == "CreateKey"
    assert "kmsKeyArn" not in meta
    assert meta["awsPrincipalArn"].startswith("arn:aws:iam::000000000000:")
    # The proxy's log line can be matched to the client's request.
    assert meta["kmsRequestId"] == answer["ResponseMetadata"]["RequestId"]


def test_an_xks_key_id_is_used_once_per_store(xks_store: ExternalStore) -> None:
    first = xks_store.create_key("aes-once")
    with pytest.raises(ClientError) as raised:
        xks_store.create_key("aes-once")
    assert error(raised) == (
        "XksKeyAlreadyInUseException",
        f"The external key aes-once is already associated with another KMS key in custom key"
        f" store {xks_store.id}.",
    )
    xks_store.kms.schedule_key_deletion(KeyId=first["KeyId"], PendingWindowInDays=7)
    with pytest.raises(ClientError) as raised:  # pending deletion still holds it
        xks_store.create_key("aes-once")
    assert error(raised)[0] == "XksKeyAlreadyInUseException"


@pytest.mark.parametrize(
    ("xks_key_id", "code", "message"),
    [
        (
            "missing-key",
            "XksKeyNotFoundException",
            "The external key store proxy rejected the request because it could not find the"
            " external key.",
        ),
        (
            "disabled-key",
            "XksKeyInvalidConfigurationException",
            "The status of the external key must be ENABLED. The status of specified external key"
            " is DISABLED.",
        ),
        (
            "rsa-key",
            "XksKeyInvalidConfigurationException",
            "The key spec of the external key must be AES_256. The key spec of specified external"
            " key is RSA_2048.",
        ),
    ],
)
def test_the_external_key_must_fit(
    xks_store: ExternalStore, xks_key_id: str, code: str, message: str
) -> None:
    with pytest.raises(ClientError) as raised:
        xks_store.create_key(xks_key_id)
    assert error(raised) == (code, message)
    assert xks_store.kms.list_keys()["Keys"] == []


def test_combinations_and_store_rules(xks_store: ExternalStore) -> None:
    kms = xks_store.kms
    cases: list[tuple[dict[str, Any], str, str]] = [
        (
            {"Origin": "EXTERNAL_KEY_STORE", "CustomKeyStoreId": xks_store.id},
            "UnsupportedOperationException",
            "XksKeyId is required when Origin is EXTERNAL_KEY_STORE.",
        ),
        (
            {"Origin": "AWS_CLOUDHSM", "CustomKeyStoreId": xks_store.id, "XksKeyId": "aes-x"},
            "UnsupportedOperationException",
            "XksKeyId is valid only when Origin is EXTERNAL_KEY_STORE.",
        ),
        (
            {"Origin": "AWS_CLOUDHSM", "CustomKeyStoreId": xks_store.id},
            "UnsupportedOperationException",
            f"Custom key store {xks_store.id} is of type EXTERNAL_KEY_STORE; a KMS key in it"
            " must have Origin EXTERNAL_KEY_STORE, not AWS_CLOUDHSM.",
        ),
        (
            {
                "Origin": "EXTERNAL_KEY_STORE",
                "CustomKeyStoreId": xks_store.id,
                "XksKeyId": "aes-x",
                "KeyUsage": "GENERATE_VERIFY_MAC",
            },
            "UnsupportedOperationException",
            "KeyUsage must be ENCRYPT_DECRYPT for a KMS key in a custom key store.",
        ),
        (
            {
                "Origin": "EXTERNAL_KEY_STORE",
                "CustomKeyStoreId": xks_store.id,
                "XksKeyId": "aes-x",
                "MultiRegion": True,
            },
            "UnsupportedOperationException",
            "You cannot create a multi-Region key in a custom key store.",
        ),
    ]
    for params, code, message in cases:
        with pytest.raises(ClientError) as raised:
            kms.create_key(**params)
        assert error(raised) == (code, message), params
    xks_store.disconnect()
    with pytest.raises(ClientError) as raised:
        xks_store.create_key("aes-x")
    assert error(raised) == (
        "CustomKeyStoreInvalidStateException",
        "This KMS key is in a custom key store that is not connected to its external key store"
        " proxy. Connect the external key store and try the request again.",
    )
    assert kms.list_keys()["Keys"] == []


def test_states_follow_the_store(xks_store: ExternalStore) -> None:
    kms = xks_store.kms
    enabled = xks_store.create_key("aes-enabled")["KeyId"]
    disabled = xks_store.create_key("aes-disabled")["KeyId"]
    doomed = xks_store.create_key("aes-doomed")
    kms.disable_key(KeyId=disabled)
    kms.schedule_key_deletion(KeyId=doomed["KeyId"], PendingWindowInDays=7)
    xks_store.disconnect()
    assert state(kms, enabled) == "Unavailable"
    assert kms.describe_key(KeyId=enabled)["KeyMetadata"]["Enabled"] is False
    assert state(kms, disabled) == "Unavailable"
    assert state(kms, doomed["KeyId"]) == "PendingDeletion"
    # Requests while Unavailable are recorded and shown on reconnect.
    kms.disable_key(KeyId=enabled)
    kms.enable_key(KeyId=disabled)
    assert state(kms, enabled) == "Unavailable"
    # A scheduled key can be cancelled while its store is disconnected.
    kms.cancel_key_deletion(KeyId=doomed["KeyId"])
    assert state(kms, doomed["KeyId"]) == "Unavailable"
    # Aliases and tags work on Unavailable keys.
    kms.create_alias(AliasName="alias/unavailable", TargetKeyId=enabled)
    kms.tag_resource(KeyId=enabled, Tags=[{"TagKey": "k", "TagValue": "v"}])
    with pytest.raises(ClientError) as raised:
        kms.cancel_key_deletion(KeyId=enabled)
    assert error(raised)[0] == "KMSInvalidStateException"
    scheduled = kms.schedule_key_deletion(KeyId=enabled, PendingWindowInDays=30)
    assert scheduled["KeyState"] == "PendingDeletion"
    kms.cancel_key_deletion(KeyId=enabled)
    xks_store.connect()
    assert state(kms, enabled) == "Disabled"
    assert state(kms, disabled) == "Enabled"
    assert state(kms, doomed["KeyId"]) == "Disabled"


def test_a_store_with_keys_cannot_be_deleted(xks_store: ExternalStore) -> None:
    key = xks_store.create_key("aes-kept")
    xks_store.kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    xks_store.disconnect()
    with pytest.raises(ClientError) as raised:
        xks_store.kms.delete_custom_key_store(CustomKeyStoreId=xks_store.id)
    assert error(raised) == (
        "CustomKeyStoreHasCMKsException",
        f"Custom key store {xks_store.id} contains KMS keys. Schedule deletion of the KMS keys"
        " and wait for the waiting period to end before deleting the custom key store.",
    )


def test_rotation_import_and_replication_are_refused(xks_store: ExternalStore) -> None:
    key = xks_store.create_key("aes-refuse")
    kms = xks_store.kms
    message = (
        "UnsupportedOperationException",
        f"{key['Arn']} origin is EXTERNAL_KEY_STORE which is not valid for this operation.",
    )
    kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)  # in every state
    calls = [
        lambda: kms.get_key_rotation_status(KeyId=key["KeyId"]),
        lambda: kms.enable_key_rotation(KeyId=key["KeyId"]),
        lambda: kms.disable_key_rotation(KeyId=key["KeyId"]),
        lambda: kms.rotate_key_on_demand(KeyId=key["KeyId"]),
        lambda: kms.list_key_rotations(KeyId=key["KeyId"]),
        lambda: kms.get_parameters_for_import(
            KeyId=key["KeyId"], WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"
        ),
        lambda: kms.delete_imported_key_material(KeyId=key["KeyId"]),
        lambda: kms.generate_data_key_pair(KeyId=key["KeyId"], KeyPairSpec="RSA_2048"),
        lambda: kms.generate_data_key_pair_without_plaintext(
            KeyId=key["KeyId"], KeyPairSpec="RSA_2048"
        ),
        lambda: kms.replicate_key(KeyId=key["KeyId"], ReplicaRegion="us-west-2"),
        lambda: kms.update_primary_region(KeyId=key["KeyId"], PrimaryRegion="us-west-2"),
    ]
    for call in calls:
        with pytest.raises(ClientError) as raised:
            call()
        assert error(raised) == message


def test_deletion_frees_the_xks_key_id_and_the_store(
    short_day_server: ServerProcess, keyed_proxy: KeyedProxy
) -> None:
    store = ExternalStore(short_day_server.url)
    key = store.create_key("aes-reused")
    store.kms.create_alias(AliasName="alias/xks", TargetKeyId=key["KeyId"])
    store.kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    wait_for(lambda: f"deleted KMS key {key['Arn']}" in short_day_server.log())
    assert store.kms.list_aliases()["Aliases"] == []
    # The external key itself is untouched: only its metadata was ever asked for.
    assert {
        path.rsplit("/", 1)[-1] for path, _ in keyed_proxy.requests if "aes-reused" in path
    } == {"metadata"}
    again = store.create_key("aes-reused")
    assert again["KeyId"] != key["KeyId"]
    store.kms.schedule_key_deletion(KeyId=again["KeyId"], PendingWindowInDays=7)
    wait_for(lambda: f"deleted KMS key {again['Arn']}" in short_day_server.log())
    store.disconnect()
    store.kms.delete_custom_key_store(CustomKeyStoreId=store.id)


def test_terraform_create_read_back_and_destroy(xks_store: ExternalStore) -> None:
    """aws_kms_key with custom_key_store_id and xks_key_id (contract §11)."""
    kms = xks_store.kms
    created = kms.create_key(
        Description="tf",
        KeySpec="SYMMETRIC_DEFAULT",
        KeyUsage="ENCRYPT_DECRYPT",
        Origin="EXTERNAL_KEY_STORE",
        CustomKeyStoreId=xks_store.id,
        XksKeyId="aes-terraform",
        Tags=[{"TagKey": "Name", "TagValue": "tf"}],
        BypassPolicyLockoutSafetyCheck=False,
    )["KeyMetadata"]
    read = kms.describe_key(KeyId=created["KeyId"])["KeyMetadata"]
    # Terraform plans a replacement unless both read back as given.
    assert read["CustomKeyStoreId"] == xks_store.id
    assert read["XksKeyConfiguration"]["Id"] == "aes-terraform"
    assert kms.get_key_policy(KeyId=created["KeyId"], PolicyName="default")["Policy"]
    assert kms.list_resource_tags(KeyId=created["KeyId"])["Tags"] == [
        {"TagKey": "Name", "TagValue": "tf"}
    ]
    kms.schedule_key_deletion(KeyId=created["KeyId"], PendingWindowInDays=7)
    wait_for(lambda: state(kms, created["KeyId"]) not in ("Enabled", "Disabled"))
    assert state(kms, created["KeyId"]) == "PendingDeletion"


def test_at_most_fifty_tags(xks_store: ExternalStore) -> None:
    tags = [{"TagKey": f"k{i}", "TagValue": "v"} for i in range(51)]
    with pytest.raises(ClientError) as raised:
        xks_store.create_key("aes-tags", Tags=tags)
    assert error(raised) == ("TagException", "Too many tags")
    key = xks_store.create_key("aes-tags", Tags=tags[:50])
    with pytest.raises(ClientError) as raised:
        xks_store.kms.tag_resource(KeyId=key["KeyId"], Tags=tags[50:])
    assert error(raised)[0] == "LimitExceededException"
    xks_store.kms.tag_resource(KeyId=key["KeyId"], Tags=tags[:1])  # a change, not a new tag
