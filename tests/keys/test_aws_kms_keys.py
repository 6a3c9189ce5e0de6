"""AWS_KMS-origin keys through boto3 against a live server: create, describe, list, the
lifecycle states and the key-identifier forms (contract §3-§6).

Each test works in a region of its own on the shared server, so tests never see each other.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import SECOND_ACCESS_KEY, SECOND_SECRET
from tests.helpers.clients import kms_client
from tests.helpers.server import ServerProcess

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def error(raised: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    body = raised.value.response["Error"]
    return str(body["Code"]), str(body.get("Message", ""))


def test_create_key_answers_the_metadata_describe_key_shows(kms: Any, region: str) -> None:
    before = time.time()
    created = kms.create_key(Description="first key")["KeyMetadata"]
    key_id = created["KeyId"]
    assert re.fullmatch(UUID, key_id)
    assert created["Arn"] == f"arn:aws:kms:{region}:000000000000:key/{key_id}"
    assert created["AWSAccountId"] == "000000000000"
    assert before - 1 <= created["CreationDate"].timestamp() <= time.time() + 1
    expected = {
        "Enabled": True,
        "Description": "first key",
        "KeyUsage": "ENCRYPT_DECRYPT",
        "KeyState": "Enabled",
        "Origin": "AWS_KMS",
        "KeyManager": "CUSTOMER",
        "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT",
        "KeySpec": "SYMMETRIC_DEFAULT",
        "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"],
        "MultiRegion": False,
    }
    assert {name: created[name] for name in expected} == expected
    for absent in ("DeletionDate", "CustomKeyStoreId", "XksKeyConfiguration", "ValidTo"):
        assert absent not in created
    described = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert described == created
    assert kms.describe_key(KeyId=created["Arn"])["KeyMetadata"] == created


def test_unknown_and_malformed_key_ids(kms: Any, region: str) -> None:
    missing = "1234abcd-12ab-34cd-56ef-1234567890ab"
    arn = f"arn:aws:kms:{region}:000000000000:key/{missing}"
    with pytest.raises(ClientError) as raised:
        kms.describe_key(KeyId=missing)
    assert error(raised) == ("NotFoundException", f"Key '{arn}' does not exist")
    with pytest.raises(ClientError) as raised:
        kms.describe_key(KeyId="not-a-key")
    assert error(raised) == ("NotFoundException", "Invalid keyId not-a-key")
    with pytest.raises(ClientError) as raised:
        kms.describe_key(KeyId="alias/nothing-here")
    assert error(raised) == (
        "NotFoundException",
        f"Alias arn:aws:kms:{region}:000000000000:alias/nothing-here is not found.",
    )


def test_a_well_formed_multi_region_key_id_does_not_exist(kms: Any, region: str) -> None:
    # KMS answers a well-formed multi-Region key id or ARN that names no key as missing, not
    # as malformed; cks makes no multi-Region keys, so none exists. A malformed one stays
    # "Invalid keyId".
    mrk = "mrk-d3b95762d3b95762d3b95762d3b95762"
    arn = f"arn:aws:kms:{region}:000000000000:key/{mrk}"
    for key_id in (mrk, arn):
        with pytest.raises(ClientError) as raised:
            kms.describe_key(KeyId=key_id)
        assert error(raised) == ("NotFoundException", f"Key '{arn}' does not exist")
    with pytest.raises(ClientError) as raised:
        kms.encrypt(KeyId=mrk, Plaintext=b"x")
    assert error(raised) == ("NotFoundException", f"Key '{arn}' does not exist")
    with pytest.raises(ClientError) as raised:
        kms.describe_key(KeyId="mrk-fake-key-id")
    assert error(raised) == ("NotFoundException", "Invalid keyId mrk-fake-key-id")


def test_a_key_of_another_account_or_region_does_not_exist(
    kms: Any, server: ServerProcess, region: str
) -> None:
    key = kms.create_key()["KeyMetadata"]
    other_account = kms_client(server.url, region, SECOND_ACCESS_KEY, SECOND_SECRET)
    with pytest.raises(ClientError) as raised:
        other_account.describe_key(KeyId=key["KeyId"])
    assert error(raised)[0] == "NotFoundException"
    with pytest.raises(ClientError) as raised:
        other_account.describe_key(KeyId=key["Arn"])
    assert error(raised) == ("NotFoundException", f"Key '{key['Arn']}' does not exist")
    other_region = kms_client(server.url, region + "-b")
    with pytest.raises(ClientError) as raised:
        other_region.describe_key(KeyId=key["Arn"])
    assert error(raised)[0] == "NotFoundException"


def test_list_keys_walks_every_key_in_creation_order(kms: Any) -> None:
    created = [kms.create_key()["KeyMetadata"]["KeyId"] for _ in range(5)]
    seen: list[str] = []
    markers: list[str] = []
    page = kms.list_keys(Limit=2)
    while True:
        seen += [entry["KeyId"] for entry in page["Keys"]]
        for entry in page["Keys"]:
            assert entry["KeyArn"].endswith(f":key/{entry['KeyId']}")
        if not page["Truncated"]:
            assert "NextMarker" not in page
            break
        markers.append(page["NextMarker"])
        page = kms.list_keys(Limit=2, Marker=page["NextMarker"])
    assert seen == created
    assert len(set(markers)) == len(markers) == 2
    paginated = [
        entry["KeyId"]
        for page in kms.get_paginator("list_keys").paginate(PaginationConfig={"PageSize": 3})
        for entry in page["Keys"]
    ]
    assert paginated == created


def test_list_keys_refuses_a_forged_marker(kms: Any) -> None:
    with pytest.raises(ClientError) as raised:
        kms.list_keys(Marker="AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
    assert error(raised)[0] == "InvalidMarkerException"


def test_enable_disable_and_the_states_they_show(kms: Any) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    assert kms.disable_key(KeyId=key_id)["ResponseMetadata"]["HTTPStatusCode"] == 200
    described = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert (described["KeyState"], described["Enabled"]) == ("Disabled", False)
    kms.disable_key(KeyId=key_id)  # again: still Disabled, no error
    kms.enable_key(KeyId=key_id)
    described = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert (described["KeyState"], described["Enabled"]) == ("Enabled", True)


def test_schedule_and_cancel_deletion(kms: Any) -> None:
    key = kms.create_key()["KeyMetadata"]
    scheduled = kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    assert scheduled["KeyId"] == key["Arn"]
    assert scheduled["KeyState"] == "PendingDeletion"
    assert scheduled["PendingWindowInDays"] == 7
    days = (scheduled["DeletionDate"].timestamp() - time.time()) / 86400
    assert 6.9 < days <= 7
    described = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    assert described["KeyState"] == "PendingDeletion"
    assert described["Enabled"] is False
    assert described["DeletionDate"] == scheduled["DeletionDate"]
    for again in (kms.schedule_key_deletion, kms.enable_key, kms.disable_key):
        with pytest.raises(ClientError) as raised:
            again(KeyId=key["KeyId"])
        assert error(raised) == ("KMSInvalidStateException", f"{key['Arn']} is pending deletion.")
    assert kms.cancel_key_deletion(KeyId=key["Arn"])["KeyId"] == key["Arn"]
    described = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    assert described["KeyState"] == "Disabled"
    assert "DeletionDate" not in described
    with pytest.raises(ClientError) as raised:
        kms.cancel_key_deletion(KeyId=key["KeyId"])
    assert error(raised) == ("KMSInvalidStateException", f"{key['Arn']} is not pending deletion.")


def test_the_deletion_window_is_7_to_30_days(kms: Any) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    for days in (1, 6, 31, 365):
        with pytest.raises(ClientError) as raised:
            kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=days)
        assert error(raised) == (
            "ValidationException",
            "PendingWindowInDays must be between 7 and 30",
        )
    scheduled = kms.schedule_key_deletion(KeyId=key_id)
    assert scheduled["PendingWindowInDays"] == 30


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"KeySpec": "RSA_2048"}, "KeySpec must be SYMMETRIC_DEFAULT for a KMS key in cks."),
        ({"KeyUsage": "SIGN_VERIFY"}, "KeyUsage must be ENCRYPT_DECRYPT for a KMS key in cks."),
        ({"MultiRegion": True}, "cks does not support multi-Region keys."),
        (
            {"Origin": "EXTERNAL"},
            "cks does not support keys with imported key material (Origin EXTERNAL).",
        ),
        (
            {"CustomKeyStoreId": "cks-1234567890abcdef0"},
            "CustomKeyStoreId is valid only when Origin is AWS_CLOUDHSM or EXTERNAL_KEY_STORE.",
        ),
        ({"XksKeyId": "abc"}, "XksKeyId is valid only when Origin is EXTERNAL_KEY_STORE."),
        (
            {"Origin": "AWS_CLOUDHSM"},
            "CustomKeyStoreId is required when Origin is AWS_CLOUDHSM.",
        ),
    ],
)
def test_unsupported_create_key_combinations(
    kms: Any, params: dict[str, Any], message: str
) -> None:
    with pytest.raises(ClientError) as raised:
        kms.create_key(**params)
    assert error(raised) == ("UnsupportedOperationException", message)
    assert kms.list_keys()["Keys"] == []


def test_create_key_in_a_store_that_does_not_exist(kms: Any) -> None:
    with pytest.raises(ClientError) as raised:
        kms.create_key(Origin="AWS_CLOUDHSM", CustomKeyStoreId="cks-1234567890abcdef0")
    assert error(raised) == (
        "CustomKeyStoreNotFoundException",
        # The sentence every other operation gives for an unknown store.
        "Custom key store cks-1234567890abcdef0 does not exist in this account and Region.",
    )


def test_malformed_policy_and_reserved_tags_are_refused(kms: Any) -> None:
    with pytest.raises(ClientError) as raised:
        kms.create_key(Policy="not json")
    assert error(raised)[0] == "MalformedPolicyDocumentException"
    with pytest.raises(ClientError) as raised:
        kms.create_key(Tags=[{"TagKey": "aws:owner", "TagValue": "x"}])
    assert error(raised) == ("TagException", "Tags beginning with aws: are reserved")
    assert kms.list_keys()["Keys"] == []
