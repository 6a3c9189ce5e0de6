"""The kill switch, end to end: an external key store on the bundled `cks xks-proxy` (TLS,
software keys), a KMS key in it, and what happens to its ciphertexts when the proxy stops, the
store is disconnected, and the server restarts."""

from __future__ import annotations

from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.helpers.clients import kms_client
from tests.keys.bundled_xks import bundled_xks
from tests.keys.conftest import settled

UNREACHABLE = (
    "AWS KMS cannot communicate with the external key store proxy. This might be a transient"
    " network issue. If you see this error repeatedly, verify that your external key store"
    " proxy is active and is connected to the network, and that its endpoint URI is correct in"
    " your external key store."
)
CONTEXT = {"a": "b"}


def _error(raised: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return raised.value.response["Error"]["Code"], raised.value.response["Error"]["Message"]


def test_kill_switch_of_an_external_key(tmp_path: Path) -> None:
    with bundled_xks(tmp_path, ("kill-key",)) as xks:
        kms, store_id = xks.kms, xks.store_id
        arn = xks.create_key("kill-key")
        blob = kms.encrypt(KeyId=arn, Plaintext=b"kill switch", EncryptionContext=CONTEXT)[
            "CiphertextBlob"
        ]

        def decrypted() -> bytes:
            return bytes(kms.decrypt(CiphertextBlob=blob, EncryptionContext=CONTEXT)["Plaintext"])

        assert decrypted() == b"kill switch"
        pair = kms.generate_data_key(KeyId=arn, KeySpec="AES_256")
        assert kms.decrypt(CiphertextBlob=pair["CiphertextBlob"])["Plaintext"] == pair["Plaintext"]

        # 1. The proxy stops: every call fails at once with the contract's message.
        xks.stop_proxy()
        for call in (decrypted, lambda: kms.encrypt(KeyId=arn, Plaintext=b"x")):
            with pytest.raises(ClientError) as raised:
                call()
            assert _error(raised) == ("KMSInvalidStateException", UNREACHABLE)

        # 2. It comes back: the old ciphertext decrypts.
        xks.restart_proxy()
        assert decrypted() == b"kill switch"

        # 3. The store is disconnected: the key is Unavailable at once, crypto is refused.
        kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
        assert settled(kms, store_id) == "DISCONNECTED"
        assert kms.describe_key(KeyId=arn)["KeyMetadata"]["KeyState"] == "Unavailable"
        with pytest.raises(ClientError) as raised:
            decrypted()
        assert _error(raised) == ("KMSInvalidStateException", f"{arn} is unavailable.")

        # 4. Reconnected: the old ciphertext decrypts again.
        kms.connect_custom_key_store(CustomKeyStoreId=store_id)
        assert settled(kms, store_id) == "CONNECTED"
        assert kms.describe_key(KeyId=arn)["KeyMetadata"]["KeyState"] == "Enabled"
        assert decrypted() == b"kill switch"

        # 5. Ciphertexts made before a server restart decrypt after it.
        xks.server.stop()
        xks.server.start()
        kms = kms_client(xks.server.url, xks.region)
        assert decrypted() == b"kill switch"

        # 6. Re-encrypting between a standard key and the external key works both ways.
        standard = kms.create_key()["KeyMetadata"]["Arn"]
        moved = kms.re_encrypt(
            CiphertextBlob=blob, SourceEncryptionContext=CONTEXT, DestinationKeyId=standard
        )
        back = kms.re_encrypt(CiphertextBlob=moved["CiphertextBlob"], DestinationKeyId=arn)
        assert kms.decrypt(CiphertextBlob=back["CiphertextBlob"])["Plaintext"] == b"kill switch"
