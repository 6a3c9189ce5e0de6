"""Keys across two `cks serve` processes on one PostgreSQL database: a ciphertext of one
decrypts on the other, an alias made on one resolves on the other, and a key disabled on one is
refused by the other on the very next call (no process keeps a stale copy of a key)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.helpers.clients import kms_client
from tests.helpers.proxies import FakeProxy
from tests.scale.conftest import StartProcesses, attempt, process_config

pytestmark = pytest.mark.postgres


@pytest.fixture
def pair(
    start_processes: StartProcesses,
    fresh_postgres: str,
    master_key: str,
    counting_proxy: FakeProxy,
) -> list[Any]:
    """A boto3 client for each of two processes sharing one database and the master key."""
    config = process_config(master_key, proxy_address=counting_proxy.address)
    processes = start_processes([config, config], database_url=fresh_postgres)
    return [kms_client(process.url) for process in processes]


def test_a_ciphertext_of_one_process_decrypts_on_the_other(pair: list[Any]) -> None:
    first, second = pair
    key = first.create_key()["KeyMetadata"]
    context = {"purpose": "scale"}
    blob = first.encrypt(KeyId=key["KeyId"], Plaintext=b"shared secret", EncryptionContext=context)[
        "CiphertextBlob"
    ]
    decrypted = second.decrypt(CiphertextBlob=blob, EncryptionContext=context)
    assert (decrypted["Plaintext"], decrypted["KeyId"]) == (b"shared secret", key["Arn"])
    # And back: the second process's ciphertext, re-encrypted there, decrypts on the first.
    other = second.create_key()["KeyMetadata"]
    moved = second.re_encrypt(
        CiphertextBlob=blob, SourceEncryptionContext=context, DestinationKeyId=other["KeyId"]
    )["CiphertextBlob"]
    assert first.decrypt(CiphertextBlob=moved)["Plaintext"] == b"shared secret"
    data_key = second.generate_data_key(KeyId=key["Arn"], NumberOfBytes=32)
    assert (
        first.decrypt(CiphertextBlob=data_key["CiphertextBlob"])["Plaintext"]
        == (data_key["Plaintext"])
    )


def test_an_alias_made_on_one_process_resolves_on_the_other(pair: list[Any]) -> None:
    first, second = pair
    key = first.create_key()["KeyMetadata"]
    first.create_alias(AliasName="alias/across", TargetKeyId=key["KeyId"])
    assert second.describe_key(KeyId="alias/across")["KeyMetadata"]["Arn"] == key["Arn"]
    blob = second.encrypt(KeyId="alias/across", Plaintext=b"via alias")["CiphertextBlob"]
    assert first.decrypt(CiphertextBlob=blob)["KeyId"] == key["Arn"]
    # Retargeted on the second, the first follows at once.
    other = second.create_key()["KeyMetadata"]
    second.update_alias(AliasName="alias/across", TargetKeyId=other["KeyId"])
    assert first.describe_key(KeyId="alias/across")["KeyMetadata"]["Arn"] == other["Arn"]
    first.delete_alias(AliasName="alias/across")
    with pytest.raises(ClientError) as missing:
        second.describe_key(KeyId="alias/across")
    assert missing.value.response["Error"]["Code"] == "NotFoundException"


def test_a_key_disabled_on_one_process_is_refused_by_the_other_at_once(pair: list[Any]) -> None:
    first, second = pair
    key = first.create_key()["KeyMetadata"]
    blob = second.encrypt(KeyId=key["KeyId"], Plaintext=b"before")["CiphertextBlob"]
    assert second.decrypt(CiphertextBlob=blob)["Plaintext"] == b"before"  # the second has used it
    first.disable_key(KeyId=key["KeyId"])
    assert attempt(second.encrypt, KeyId=key["KeyId"], Plaintext=b"after") == "DisabledException"
    assert attempt(second.decrypt, CiphertextBlob=blob) == "DisabledException"
    assert attempt(second.generate_data_key, KeyId=key["Arn"], KeySpec="AES_256") == (
        "DisabledException"
    )
    second.enable_key(KeyId=key["KeyId"])
    assert first.decrypt(CiphertextBlob=blob)["Plaintext"] == b"before"
