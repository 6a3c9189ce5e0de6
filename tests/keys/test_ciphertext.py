"""The ciphertext blob: framing, sizes and the associated data (service/ciphertext.py)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kmscks.errors import ServiceError
from kmscks.service import ciphertext as ct

KEY_ID = str(uuid.uuid4())


def _kms_blob(plaintext: bytes, context: dict[str, str] | None = None) -> tuple[bytes, bytes]:
    material = os.urandom(32)
    head = ct.header(ct.KIND_AWS_KMS, KEY_ID)
    iv, tag, body = ct.split_gcm(
        ct.seal_inner(AESGCM(material), plaintext, ct.associated_data(head, context))
    )
    return material, ct.gcm_blob(head, iv, tag, body)


def test_a_kms_blob_round_trips_and_names_its_key() -> None:
    material, blob = _kms_blob(b"secret", {"purpose": "test"})
    parsed = ct.parse(blob)
    assert (parsed.kind, parsed.key_id) == (ct.KIND_AWS_KMS, KEY_ID)
    aad = ct.associated_data(parsed.header, {"purpose": "test"})
    inner = ct.join_gcm(parsed.iv, parsed.tag, parsed.ciphertext)
    assert ct.open_inner(AESGCM(material), inner, aad) == b"secret"
    assert (
        ct.open_inner(AESGCM(material), inner, ct.associated_data(parsed.header, {"purpose": "x"}))
        is None
    )


def test_an_absent_and_an_empty_context_are_the_same() -> None:
    assert ct.context_bytes(None) == ct.context_bytes({}) == b"\x00\x00"


def test_context_encoding_is_order_free_and_unambiguous() -> None:
    assert ct.context_bytes({"a": "1", "b": "2"}) == ct.context_bytes({"b": "2", "a": "1"})
    assert ct.context_bytes({"ab": "c"}) != ct.context_bytes({"a": "bc"})


def test_sizes_stay_within_the_model_and_the_proxy_limits() -> None:
    _, blob = _kms_blob(os.urandom(4096))
    assert len(blob) == 22 + 12 + 16 + 4096
    head = ct.header(ct.KIND_XKS, KEY_ID)
    inner = ct.seal_inner(AESGCM(os.urandom(32)), os.urandom(4096), ct.associated_data(head, None))
    assert len(inner) == 4096 + 28 <= 4300
    largest = ct.xks_blob(head, os.urandom(16), os.urandom(16), os.urandom(20), inner)
    assert len(largest) == 4200 <= 6144
    parsed = ct.parse(largest)
    assert (len(parsed.iv), len(parsed.ciphertext_metadata), parsed.ciphertext) == (16, 20, inner)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda b: b[:10],
        lambda b: b"XKS" + b[3:],
        lambda b: b[:3] + b"\x02" + b[4:],
        lambda b: b[:4] + b"\x09" + b[5:],
        lambda b: b[:21] + b"\x01" + b[22:],
        lambda b: b[:22] + b"\x0d" + b[23:],
        lambda b: b[: 22 + 1 + 12 + 16] + b"\x15" + b[22 + 1 + 12 + 16 + 1 :],
        lambda b: b[:60],
    ],
)
def test_broken_framing_is_an_invalid_ciphertext_with_no_message(
    mangle: Callable[[bytes], bytes],
) -> None:
    head = ct.header(ct.KIND_XKS, KEY_ID)
    inner = ct.seal_inner(AESGCM(os.urandom(32)), b"data", ct.associated_data(head, None))
    blob = ct.xks_blob(head, os.urandom(12), os.urandom(16), b"", inner)
    ct.parse(blob)
    with pytest.raises(ServiceError) as raised:
        ct.parse(mangle(blob))
    assert (raised.value.code, raised.value.message) == ("InvalidCiphertextException", "")
