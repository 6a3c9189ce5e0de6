"""The AWS Encryption SDK for Python encrypts and decrypts messages with keys in custom key
stores, pointed at cks through its botocore session (contract: the SDK's GenerateDataKey and
Decrypt expectations)."""

from __future__ import annotations

from pathlib import Path

import aws_encryption_sdk
import botocore.session
import pytest
from aws_encryption_sdk import CommitmentPolicy
from aws_encryption_sdk.exceptions import AWSEncryptionSDKClientError

from tests.cloudhsm.lab import Lab
from tests.helpers.server import ServerProcess
from tests.keys.bundled_xks import bundled_xks

MESSAGE = b"a message for the Encryption SDK " * 100
CONTEXT = {"purpose": "esdk test", "tenant": "t-1"}


def _sdk_session(url: str, monkeypatch: pytest.MonkeyPatch) -> botocore.session.Session:
    """A botocore session whose KMS clients (one per key Region) reach cks."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_KMS", url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return botocore.session.Session()


def _round_trip(arn: str, session: botocore.session.Session) -> None:
    client = aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
    )
    provider = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(
        key_ids=[arn], botocore_session=session
    )
    ciphertext, header = client.encrypt(
        source=MESSAGE, key_provider=provider, encryption_context=CONTEXT
    )
    assert MESSAGE[:32] not in ciphertext
    assert [key.key_provider.key_info for key in header.encrypted_data_keys] == [arn.encode()]
    plaintext, decrypted_header = client.decrypt(source=ciphertext, key_provider=provider)
    assert plaintext == MESSAGE
    assert CONTEXT.items() <= decrypted_header.encryption_context.items()


def test_a_message_with_an_external_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with bundled_xks(tmp_path, ("esdk-key",)) as xks:
        arn = xks.create_key("esdk-key")
        session = _sdk_session(xks.server.url, monkeypatch)
        _round_trip(arn, session)

        # The kill switch reaches the SDK's users: with the proxy stopped, nothing decrypts.
        client = aws_encryption_sdk.EncryptionSDKClient(
            commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
        )
        provider = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(
            key_ids=[arn], botocore_session=session
        )
        ciphertext, _ = client.encrypt(source=b"x", key_provider=provider)
        xks.stop_proxy()
        with pytest.raises(AWSEncryptionSDKClientError):
            client.decrypt(source=ciphertext, key_provider=provider)


def test_a_message_with_a_cloudhsm_key(
    keys_server: ServerProcess, lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster = lab.build()
    store_id = lab.create_store(cluster)
    assert lab.connect(store_id)["ConnectionState"] == "CONNECTED"
    arn = lab.kms.create_key(Origin="AWS_CLOUDHSM", CustomKeyStoreId=store_id)["KeyMetadata"]["Arn"]
    _round_trip(arn, _sdk_session(keys_server.url, monkeypatch))
