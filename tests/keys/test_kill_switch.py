"""The kill switch, end to end: an external key store on the bundled `cks xks-proxy` (TLS,
software keys), a KMS key in it, and what happens to its ciphertexts when the proxy stops or
hangs, the store is disconnected, and the server restarts."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

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
NO_TIMELY_ANSWER = (
    "AWS KMS rejected the request because the external key store proxy did not respond in"
    " time. Retry the request. If you see this error repeatedly, report it to your external"
    " key store proxy administrator."
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


def _answers(calls: list[Callable[[], Any]]) -> list[Any]:
    """Each call's result, or its error's code and message, all calls made at once."""

    def answer(call: Callable[[], Any]) -> Any:
        try:
            return call()
        except ClientError as error:
            return error.response["Error"]["Code"], error.response["Error"]["Message"]

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(answer, calls))


def test_a_hung_proxy_times_out_and_its_late_answers_are_never_taken(tmp_path: Path) -> None:
    """A proxy that stops answering without closing anything (SIGSTOP: its connections stay
    open and the kernel still accepts new ones) is the contract's timeout, for calls on kept
    connections and on new ones alike, and a Connect then fails with XKS_PROXY_TIMED_OUT. When
    it runs again it answers the requests cks gave up on; none of those answers may be read as
    the answer to a later request (each later call must get its own plaintext back)."""
    with bundled_xks(tmp_path, ("hung-key",)) as xks:
        kms, store_id = xks.kms, xks.store_id
        arn = xks.create_key("hung-key")
        plaintexts = [f"message {number}".encode() for number in range(8)]

        def encrypt(plaintext: bytes) -> Callable[[], Any]:
            return lambda: kms.encrypt(KeyId=arn, Plaintext=plaintext)["CiphertextBlob"]

        def decrypt(blob: bytes) -> Callable[[], Any]:
            return lambda: bytes(kms.decrypt(CiphertextBlob=blob)["Plaintext"])

        # Eight at once: the key client keeps several connections to the proxy open.
        blobs = _answers([encrypt(plaintext) for plaintext in plaintexts])
        assert _answers([decrypt(blob) for blob in blobs]) == plaintexts

        pid = xks.proxy.process.pid
        os.kill(pid, signal.SIGSTOP)
        try:
            hung = _answers(
                [encrypt(plaintext) for plaintext in plaintexts[:4]]
                + [decrypt(blob) for blob in blobs[:4]]
            )
            assert hung == [("KMSInvalidStateException", NO_TIMELY_ANSWER)] * 8
            kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
            assert settled(kms, store_id) == "DISCONNECTED"
            kms.connect_custom_key_store(CustomKeyStoreId=store_id)
            assert settled(kms, store_id) == "FAILED"
            store = kms.describe_custom_key_stores(CustomKeyStoreId=store_id)["CustomKeyStores"][0]
            assert store["ConnectionErrorCode"] == "XKS_PROXY_TIMED_OUT"
        finally:
            os.kill(pid, signal.SIGCONT)

        kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
        assert settled(kms, store_id) == "DISCONNECTED"
        kms.connect_custom_key_store(CustomKeyStoreId=store_id)
        assert settled(kms, store_id) == "CONNECTED"
        # Three rounds of eight at once, each answer checked against its own request.
        for _ in range(3):
            assert _answers([decrypt(blob) for blob in blobs]) == plaintexts
            fresh = _answers([encrypt(plaintext) for plaintext in plaintexts])
            assert _answers([decrypt(blob) for blob in fresh]) == plaintexts
