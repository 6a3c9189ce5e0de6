"""The ciphertext blob of cks: what Encrypt returns and Decrypt reads (docs/keys.md, "Ciphertext").

service layer; pure (no store, no connectors). Real KMS ciphertext is proprietary and every
client treats it as opaque, so the layout is ours. It names the key (Decrypt needs no KeyId),
is authenticated end to end including the encryption context, and keeps a 4096-byte plaintext
under the model's 6144-byte CiphertextBlob limit and the XKS inner layer under the 4300 bytes a
proxy must accept.

    header, 22 bytes, authenticated by every layer:
      "CKS" | version 0x01 | kind | key id (16 raw bytes of the key's UUID) | flags 0x00
    kind 0x01 AWS_KMS and 0x02 AWS_CLOUDHSM:   iv (12) | tag (16) | ciphertext
    kind 0x03 EXTERNAL_KEY_STORE (the proxy's outer layer around the KMS-side inner layer):
      iv_len (1: 12 or 16) | iv | tag (16) | ctm_len (1: 0..20) | ciphertextMetadata | outer
      ciphertext; the inner layer inside it is iv_i (12) | ciphertext_i | tag_i (16)

The associated data of every layer is `header || SHA-256(context bytes)`, where the context
bytes are a count and length-prefixed pairs sorted by key: fixed-size, and unambiguous.
"""

from __future__ import annotations

import hashlib
import os
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kmscks.errors import ServiceError

MAGIC = b"CKS"
VERSION = 1
HEADER_LENGTH = 22
GCM_IV_LENGTH = 12
GCM_TAG_LENGTH = 16
MAX_CIPHERTEXT_METADATA = 20

KIND_AWS_KMS = 0x01
KIND_CLOUDHSM = 0x02
KIND_XKS = 0x03
KIND_OF_ORIGIN = {
    "AWS_KMS": KIND_AWS_KMS,
    "AWS_CLOUDHSM": KIND_CLOUDHSM,
    "EXTERNAL_KEY_STORE": KIND_XKS,
}


def invalid_ciphertext() -> ServiceError:
    """KMS answers InvalidCiphertextException without a message member (docs/decisions.md)."""
    return ServiceError("InvalidCiphertextException", "")


def header(kind: int, key_id: str) -> bytes:
    # bytes.fromhex of the canonical UUID text: a fifth of uuid.UUID(key_id).bytes's cost.
    return MAGIC + bytes((VERSION, kind)) + bytes.fromhex(key_id.replace("-", "")) + b"\x00"


def _key_id_text(raw: bytes) -> str:
    """The canonical text of a 16-byte UUID, as str(uuid.UUID(bytes=raw)) gives it."""
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def context_bytes(context: dict[str, str] | None) -> bytes:
    """The encryption context as a count and length-prefixed pairs, sorted by UTF-8 key bytes.

    An absent context and {} give the same bytes, so they decrypt each other's ciphertext.
    """
    pairs = sorted((key.encode(), value.encode()) for key, value in (context or {}).items())
    parts = [struct.pack(">H", len(pairs))]
    for key, value in pairs:
        parts += [struct.pack(">H", len(key)), key, struct.pack(">H", len(value)), value]
    return b"".join(parts)


# Most requests carry no encryption context: its hash is a constant.
_NO_CONTEXT_DIGEST = hashlib.sha256(context_bytes(None)).digest()


def associated_data(blob_header: bytes, context: dict[str, str] | None) -> bytes:
    if not context:
        return blob_header + _NO_CONTEXT_DIGEST
    return blob_header + hashlib.sha256(context_bytes(context)).digest()


@dataclass(frozen=True)
class ParsedBlob:
    """A blob whose framing is valid; nothing in it has been authenticated yet."""

    kind: int
    key_id: str
    header: bytes
    iv: bytes
    tag: bytes
    ciphertext: bytes
    ciphertext_metadata: bytes = b""


def parse(blob: bytes) -> ParsedBlob:
    """Checks the framing before any key lookup or proxy call; InvalidCiphertextException."""
    if len(blob) < HEADER_LENGTH or blob[:3] != MAGIC or blob[3] != VERSION or blob[21] != 0:
        raise invalid_ciphertext()
    kind = blob[4]
    head = blob[:HEADER_LENGTH]
    key_id = _key_id_text(blob[5:21])
    body = blob[HEADER_LENGTH:]
    if kind in (KIND_AWS_KMS, KIND_CLOUDHSM):
        if len(body) < GCM_IV_LENGTH + GCM_TAG_LENGTH:
            raise invalid_ciphertext()
        iv, tag = body[:GCM_IV_LENGTH], body[GCM_IV_LENGTH : GCM_IV_LENGTH + GCM_TAG_LENGTH]
        return ParsedBlob(kind, key_id, head, iv, tag, body[GCM_IV_LENGTH + GCM_TAG_LENGTH :])
    if kind == KIND_XKS:
        return _parse_xks(key_id, head, body)
    raise invalid_ciphertext()


def _parse_xks(key_id: str, head: bytes, body: bytes) -> ParsedBlob:
    if not body or body[0] not in (12, 16):
        raise invalid_ciphertext()
    iv_end = 1 + body[0]
    tag_end = iv_end + GCM_TAG_LENGTH
    if len(body) < tag_end + 1:
        raise invalid_ciphertext()
    metadata_length = body[tag_end]
    if metadata_length > MAX_CIPHERTEXT_METADATA:
        raise invalid_ciphertext()
    metadata_end = tag_end + 1 + metadata_length
    # The outer ciphertext has the inner layer's length: at least its IV, tag and one byte.
    if len(body) < metadata_end + GCM_IV_LENGTH + GCM_TAG_LENGTH + 1:
        raise invalid_ciphertext()
    return ParsedBlob(
        KIND_XKS,
        key_id,
        head,
        iv=body[1:iv_end],
        tag=body[iv_end:tag_end],
        ciphertext=body[metadata_end:],
        ciphertext_metadata=body[tag_end + 1 : metadata_end],
    )


def gcm_blob(blob_header: bytes, iv: bytes, tag: bytes, ciphertext: bytes) -> bytes:
    """An AWS_KMS or CloudHSM blob from one AES-GCM encryption."""
    return blob_header + iv + tag + ciphertext


def xks_blob(
    blob_header: bytes, iv: bytes, tag: bytes, metadata: bytes, outer_ciphertext: bytes
) -> bytes:
    """An external key store blob from every field of the proxy's encrypt answer."""
    return (
        blob_header
        + bytes((len(iv),))
        + iv
        + tag
        + bytes((len(metadata),))
        + metadata
        + outer_ciphertext
    )


# -- the service-side AES-256-GCM layer (AWS_KMS keys, and the inner layer of XKS keys) --------


def seal_inner(cipher: AESGCM, plaintext: bytes, aad: bytes) -> bytes:
    """iv || ciphertext || tag under the key's own 256-bit material (a random 96-bit IV)."""
    iv = os.urandom(GCM_IV_LENGTH)
    return iv + cipher.encrypt(iv, plaintext, aad)


def open_inner(cipher: AESGCM, inner: bytes, aad: bytes) -> bytes | None:
    """The plaintext of `seal_inner`'s output, or None when it does not authenticate."""
    if len(inner) < GCM_IV_LENGTH + GCM_TAG_LENGTH:
        return None
    try:
        return cipher.decrypt(inner[:GCM_IV_LENGTH], inner[GCM_IV_LENGTH:], aad)
    except InvalidTag:
        return None


def split_gcm(sealed: bytes) -> tuple[bytes, bytes, bytes]:
    """`seal_inner` output as (iv, tag, ciphertext), the order of an AWS_KMS blob."""
    return sealed[:GCM_IV_LENGTH], sealed[-GCM_TAG_LENGTH:], sealed[GCM_IV_LENGTH:-GCM_TAG_LENGTH]


def join_gcm(iv: bytes, tag: bytes, ciphertext: bytes) -> bytes:
    return iv + ciphertext + tag
