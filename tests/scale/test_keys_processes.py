"""Two `cks serve` processes on one PostgreSQL database serve the same KMS keys: a ciphertext
made by one decrypts on the other (an AWS_KMS key and an external key store key on the bundled
`cks xks-proxy`), an alias made on one resolves on the other, and a key disabled on one is
refused by the other at once (no process caches key state). test_keys_crypto.py does the same
for AWS_KMS keys on the fake proxy; here the external key's proxy calls are real."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.helpers.clients import kms_client
from tests.keys.bundled_xks import XksSetup, bundled_xks

pytestmark = pytest.mark.postgres


@pytest.fixture
def two(tmp_path: Path, fresh_postgres: str) -> Iterator[tuple[XksSetup, Any, Any]]:
    """The setup, and a boto3 client of each process (same account and Region)."""
    with bundled_xks(tmp_path, ("scale-key",), servers=2, database_url=fresh_postgres) as setup:
        first, second = (kms_client(server.url, setup.region) for server in setup.servers)
        yield setup, first, second


def _error(raised: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return raised.value.response["Error"]["Code"], raised.value.response["Error"]["Message"]


def test_ciphertexts_decrypt_on_the_other_process(two: tuple[XksSetup, Any, Any]) -> None:
    setup, first, second = two
    external = setup.create_key("scale-key")
    standard = first.create_key()["KeyMetadata"]["Arn"]
    for arn in (standard, external):
        for made_by, read_by in ((first, second), (second, first)):
            blob = made_by.encrypt(KeyId=arn, Plaintext=b"shared", EncryptionContext={"k": "v"})
            answer = read_by.decrypt(
                CiphertextBlob=blob["CiphertextBlob"], EncryptionContext={"k": "v"}
            )
            assert (answer["KeyId"], answer["Plaintext"]) == (arn, b"shared")
            pair = made_by.generate_data_key(KeyId=arn, NumberOfBytes=32)
            assert (
                read_by.decrypt(CiphertextBlob=pair["CiphertextBlob"])["Plaintext"]
                == (pair["Plaintext"])
            )
        # ReEncrypt on one process of a ciphertext made by the other, between the two keys.
        other = standard if arn == external else external
        blob = first.encrypt(KeyId=arn, Plaintext=b"moved")["CiphertextBlob"]
        moved = second.re_encrypt(CiphertextBlob=blob, DestinationKeyId=other)
        assert first.decrypt(CiphertextBlob=moved["CiphertextBlob"])["Plaintext"] == b"moved"


def test_aliases_made_on_one_process_resolve_on_the_other(two: tuple[XksSetup, Any, Any]) -> None:
    setup, first, second = two
    external = setup.create_key("scale-key")
    standard = first.create_key()["KeyMetadata"]["Arn"]
    first.create_alias(AliasName="alias/external", TargetKeyId=external)
    second.create_alias(AliasName="alias/standard", TargetKeyId=standard)
    for alias, arn, reader in (
        ("alias/external", external, second),
        ("alias/standard", standard, first),
    ):
        assert reader.describe_key(KeyId=alias)["KeyMetadata"]["Arn"] == arn
        blob = reader.encrypt(KeyId=alias, Plaintext=b"by alias")["CiphertextBlob"]
        assert reader.decrypt(CiphertextBlob=blob)["KeyId"] == arn
    # Repointed on one process, the other follows at once.
    second.update_alias(AliasName="alias/external", TargetKeyId=standard)
    assert first.describe_key(KeyId="alias/external")["KeyMetadata"]["Arn"] == standard


def test_a_key_disabled_on_one_process_is_refused_by_the_other(
    two: tuple[XksSetup, Any, Any],
) -> None:
    setup, first, second = two
    external = setup.create_key("scale-key")
    standard = first.create_key()["KeyMetadata"]["Arn"]
    for arn in (standard, external):
        blob = second.encrypt(KeyId=arn, Plaintext=b"before")["CiphertextBlob"]
        first.disable_key(KeyId=arn)
        for call in (
            lambda: second.decrypt(CiphertextBlob=blob),  # noqa: B023 - called at once
            lambda: second.encrypt(KeyId=arn, Plaintext=b"after"),  # noqa: B023
        ):
            with pytest.raises(ClientError) as raised:
                call()
            assert _error(raised) == ("DisabledException", f"{arn} is disabled.")
        second.enable_key(KeyId=arn)
        assert first.decrypt(CiphertextBlob=blob)["Plaintext"] == b"before"
