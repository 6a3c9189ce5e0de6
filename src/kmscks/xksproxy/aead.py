"""Byte-level rules of XKS encryption (layer: xksproxy; imports only the standard library).

Two formulas from the spec (../shared/contract/xks-proxy.md §1.4):
- the AAD handed to the key backend binds ciphertextMetadata into the GCM tag:
  len16be(aad) || aad || len8(ctm) || ctm, a missing part counting as empty;
- the ciphertextDataIntegrityValue is SHA-256(aad || ctm || iv || ciphertext || tag) over the
  raw bytes, with no lengths.
"""

from __future__ import annotations

import hashlib

MAX_AAD = 0xFFFF  # the 2-byte length prefix bounds it
MAX_METADATA = 0xFF  # the 1-byte length prefix bounds it
KMS_MAX_METADATA = 20  # KMS rejects longer ciphertextMetadata in an encrypt response
IV_LENGTH = 12
TAG_LENGTH = 16


def backend_aad(aad: bytes, metadata: bytes) -> bytes:
    """The AAD given to AES-GCM, so that tampering with either part breaks the tag."""
    if len(aad) > MAX_AAD or len(metadata) > MAX_METADATA:
        raise ValueError("AAD or ciphertext metadata too long for its length prefix")
    return len(aad).to_bytes(2, "big") + aad + len(metadata).to_bytes(1, "big") + metadata


def integrity_value(aad: bytes, metadata: bytes, iv: bytes, ciphertext: bytes, tag: bytes) -> bytes:
    """The SHA_256 ciphertextDataIntegrityValue (raw digest; the caller base64-encodes it)."""
    return hashlib.sha256(aad + metadata + iv + ciphertext + tag).digest()
