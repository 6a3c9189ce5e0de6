"""The AWS Encryption SDK for Python against cks (contract §11), beyond test_encryption_sdk.py:
pointed at cks by `endpoint_url` in the profile its botocore session reads; strict and
discovery providers; an external key store key (the bundled `cks xks-proxy`, software keys,
TLS) and a plain AWS_KMS key, on SQLite and PostgreSQL; a message of one key refused by another."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import aws_encryption_sdk
import botocore.session
import pytest
from aws_encryption_sdk.exceptions import DecryptKeyError
from aws_encryption_sdk.identifiers import CommitmentPolicy
from botocore.exceptions import ClientError

from tests.helpers.clients import kms_client, unique_region
from tests.helpers.server import ServerProcess
from tests.keys.bundled_xks import XksSetup, bundled_xks

# External keys of the bundled proxy: one per KMS key the tests create (a store's keys may not
# share one).
XKS_KEYS = ("sdk-key", "sdk-other-key")


@pytest.fixture(scope="module")
def xks_setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XksSetup]:
    with bundled_xks(tmp_path_factory.mktemp("real-clients"), XKS_KEYS) as setup:
        yield setup


def sdk_session(url: str, directory: Path) -> botocore.session.Session:
    """A botocore session that sends KMS to `url`: the endpoint and the credentials come from
    a config file, as `endpoint_url` in a profile of ~/.aws/config would give them."""
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "aws-config"
    config.write_text(
        f"[default]\nendpoint_url = {url}\naws_access_key_id = test\naws_secret_access_key = test\n"
    )
    session = botocore.session.Session()
    session.set_config_variable("config_file", str(config))
    session.set_config_variable("credentials_file", str(directory / "no-credentials"))
    session.set_config_variable("profile", "default")
    return session


SDK = aws_encryption_sdk.EncryptionSDKClient(
    commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
)
MESSAGE = b"a message for the AWS Encryption SDK, " * 40
CONTEXT = {"purpose": "test", "team": "cks"}


def round_trip(arn: str, session: botocore.session.Session) -> None:
    """Encrypt and decrypt a message under `arn` as the SDK's documentation shows."""
    provider = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(
        key_ids=[arn], botocore_session=session
    )
    ciphertext, header = SDK.encrypt(
        source=MESSAGE, key_provider=provider, encryption_context=CONTEXT
    )
    # One data key, wrapped by cks under the key; the SDK records the ARN cks returned.
    assert [key.key_provider.key_info.decode() for key in header.encrypted_data_keys] == [arn]
    assert MESSAGE not in ciphertext
    plaintext, decrypted = SDK.decrypt(source=ciphertext, key_provider=provider)
    assert plaintext == MESSAGE
    assert {k: v for k, v in decrypted.encryption_context.items() if k in CONTEXT} == CONTEXT
    # Discovery mode (no key configured) finds the key from the message alone.
    discovery = aws_encryption_sdk.DiscoveryAwsKmsMasterKeyProvider(botocore_session=session)
    assert SDK.decrypt(source=ciphertext, key_provider=discovery)[0] == MESSAGE


def test_encryption_sdk_with_an_external_key(xks_setup: XksSetup, tmp_path: Path) -> None:
    arn = xks_setup.create_key("sdk-key")
    round_trip(arn, sdk_session(xks_setup.server.url, tmp_path))


def test_encryption_sdk_with_an_aws_kms_key(keys_server: ServerProcess, tmp_path: Path) -> None:
    kms = kms_client(keys_server.url, unique_region())
    arn = kms.create_key()["KeyMetadata"]["Arn"]
    round_trip(arn, sdk_session(keys_server.url, tmp_path))


def test_encryption_sdk_refuses_a_message_for_another_key(
    xks_setup: XksSetup, tmp_path: Path
) -> None:
    """Decrypt(KeyId=other key) of a data key wrapped by this key fails; the SDK tried it."""
    session = sdk_session(xks_setup.server.url, tmp_path)
    mine = xks_setup.create_key("sdk-other-key")
    other = xks_setup.kms.create_key()["KeyMetadata"]["Arn"]
    encrypting = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(
        key_ids=[mine], botocore_session=session
    )
    ciphertext, _ = SDK.encrypt(source=MESSAGE, key_provider=encrypting)
    # The strict provider for another key never offers the data key: nothing matches.
    wrong = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(
        key_ids=[other], botocore_session=session
    )
    with pytest.raises(DecryptKeyError):
        SDK.decrypt(source=ciphertext, key_provider=wrong)
    # And KMS itself refuses Decrypt naming the other key for this key's ciphertext.
    wrapped = _wrapped_data_key(ciphertext, session, mine)
    with pytest.raises(ClientError) as raised:
        xks_setup.kms.decrypt(CiphertextBlob=wrapped, KeyId=other)
    assert raised.value.response["Error"]["Code"] == "IncorrectKeyException"


def _wrapped_data_key(ciphertext: bytes, session: botocore.session.Session, arn: str) -> bytes:
    """The KMS ciphertext blob of the message's data key, from its header."""
    provider = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(
        key_ids=[arn], botocore_session=session
    )
    with SDK.stream(mode="d", source=ciphertext, key_provider=provider) as decryptor:
        header = decryptor.header
    keys = [key.encrypted_data_key for key in header.encrypted_data_keys]
    assert len(keys) == 1
    return bytes(keys[0])


@pytest.mark.postgres
def test_encryption_sdk_on_postgresql(fresh_postgres: str, tmp_path: Path) -> None:
    """The same with the server's keys in PostgreSQL."""
    with bundled_xks(tmp_path / "setup", ("sdk-pg-key",), database_url=fresh_postgres) as setup:
        session = sdk_session(setup.server.url, tmp_path / "sdk")
        round_trip(setup.create_key("sdk-pg-key"), session)
        round_trip(setup.kms.create_key()["KeyMetadata"]["Arn"], session)
