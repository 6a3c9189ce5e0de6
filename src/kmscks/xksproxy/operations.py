"""The four XKS operations on a parsed JSON body (layer: xksproxy; below the HTTP layer).

Request shapes follow spec v1.0.3 (../shared/contract/xks-proxy.md §1.3-1.4). Validation is
strict about what the spec requires and lenient about everything else: extra fields and
unknown kmsOperation values are accepted, because KMS may add them. Must not import app,
httpserver or anything that knows HTTP.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kmscks.xksproxy import aead
from kmscks.xksproxy.backends.base import UNAVAILABLE, EkmHealth, KeyBackend, Sealed
from kmscks.xksproxy.config import KEY_USAGES, KeyConfig, StoreConfig
from kmscks.xksproxy.errors import (
    InvalidCiphertextException,
    InvalidKeyUsageException,
    InvalidStateException,
    KeyNotFoundException,
    ValidationException,
)

log = logging.getLogger("kmscks.xksproxy")

PROXY_VENDOR = "cks"
PROXY_MODEL = "cks-xks-proxy"
MAX_PLAINTEXT = 16384  # the spec asks for at least 4300 bytes
MAX_AAD = 16384  # the spec asks for at least 8192 bytes

# Required requestMetadata members per operation (§1.3). Others are optional and unchecked.
_HEALTH_METADATA = ("kmsRequestId", "kmsOperation")
_METADATA_METADATA = ("kmsRequestId", "kmsOperation", "awsPrincipalArn")
_CRYPTO_METADATA = ("kmsRequestId", "kmsOperation", "awsPrincipalArn", "kmsKeyArn")


@dataclass(frozen=True, slots=True)
class Context:
    """What an operation needs: the store addressed by the path prefix and the backends."""

    store: StoreConfig
    backends: Mapping[str, KeyBackend]


def health(ctx: Context, body: Any) -> dict[str, Any]:
    _request_metadata(body, _HEALTH_METADATA)
    kinds = sorted({key.backend for key in ctx.store.keys.values()}) or sorted(ctx.backends)
    fleet: list[EkmHealth] = [ctx.backends[kind].health() for kind in kinds if kind in ctx.backends]
    return {
        "xksProxyFleetSize": 1,
        "xksProxyVendor": PROXY_VENDOR,
        "xksProxyModel": f"{PROXY_MODEL} {_version()}",
        "ekmVendor": " + ".join(dict.fromkeys(entry.vendor for entry in fleet)) or PROXY_VENDOR,
        "ekmFleetDetails": [
            {"id": entry.id, "model": entry.model, "healthStatus": entry.status} for entry in fleet
        ],
    }


def metadata(ctx: Context, key_id: str, body: Any) -> dict[str, Any]:
    _request_metadata(body, _METADATA_METADATA)
    key, usage = _key(ctx, key_id)
    return {
        "keySpec": "AES_256",
        "keyUsage": [u for u in KEY_USAGES if u in usage],
        "keyStatus": "ENABLED" if key.enabled else "DISABLED",
    }


def encrypt(ctx: Context, key_id: str, body: Any) -> dict[str, Any]:
    _request_metadata(body, _CRYPTO_METADATA)
    plaintext = _b64(body, "plaintext", required=True, limit=MAX_PLAINTEXT)
    aad = _b64(body, "additionalAuthenticatedData", limit=MAX_AAD)
    _algorithm(body)
    cdiv_algorithm = body.get("ciphertextDataIntegrityValueAlgorithm")
    if cdiv_algorithm is not None and cdiv_algorithm != "SHA_256":
        raise ValidationException("ciphertextDataIntegrityValueAlgorithm must be SHA_256")
    key, usage = _key(ctx, key_id)
    _require(key, usage, "ENCRYPT")
    if cdiv_algorithm is not None:
        # The integrity value is only worth returning after a self-check decrypt, which an
        # encrypt-only key cannot do (§1.4; the AWS test client expects this error).
        _require(key, usage, "DECRYPT")
    backend = ctx.backends[key.backend]
    metadata = key.ciphertext_metadata
    bound_aad = aead.backend_aad(aad, metadata)
    sealed = backend.encrypt(key.label, bound_aad, plaintext)
    result = {
        "ciphertext": _enc(sealed.ciphertext),
        "initializationVector": _enc(sealed.iv),
        "authenticationTag": _enc(sealed.tag),
    }
    if metadata:
        result["ciphertextMetadata"] = _enc(metadata)
    if cdiv_algorithm is not None:
        if backend.decrypt(key.label, bound_aad, sealed) != plaintext:
            raise InvalidCiphertextException("the self-check decrypt did not return the plaintext")
        cdiv = aead.integrity_value(aad, metadata, sealed.iv, sealed.ciphertext, sealed.tag)
        result["ciphertextDataIntegrityValue"] = _enc(cdiv)
    return result


def decrypt(ctx: Context, key_id: str, body: Any) -> dict[str, Any]:
    _request_metadata(body, _CRYPTO_METADATA)
    ciphertext = _b64(body, "ciphertext", required=True, limit=MAX_PLAINTEXT)
    iv = _b64(body, "initializationVector", required=True, limit=16)
    tag = _b64(body, "authenticationTag", required=True, limit=aead.TAG_LENGTH)
    aad = _b64(body, "additionalAuthenticatedData", limit=MAX_AAD)
    metadata = _b64(body, "ciphertextMetadata", limit=aead.MAX_METADATA)
    _algorithm(body)
    if len(iv) not in (12, 16):
        raise ValidationException("initializationVector must be 12 or 16 bytes")
    if len(tag) != aead.TAG_LENGTH:
        raise ValidationException("authenticationTag must be 16 bytes")
    key, usage = _key(ctx, key_id)
    _require(key, usage, "DECRYPT")
    sealed = Sealed(iv, ciphertext, tag)
    plaintext = ctx.backends[key.backend].decrypt(
        key.label, aead.backend_aad(aad, metadata), sealed
    )
    return {"plaintext": _enc(plaintext)}


def health_is_unavailable(result: Mapping[str, Any]) -> bool:
    return all(entry["healthStatus"] == UNAVAILABLE for entry in result["ekmFleetDetails"])


# -- validation helpers -------------------------------------------------------------------


def _request_metadata(body: Any, required: tuple[str, ...]) -> None:
    if not isinstance(body, dict):
        raise ValidationException("the request body must be a JSON object")
    metadata = body.get("requestMetadata")
    if not isinstance(metadata, dict) or not metadata:
        # Also for health: the spec's table exempts it, but the AWS test client expects this.
        raise ValidationException("requestMetadata is required")
    for name in required:
        value = metadata.get(name)
        if not isinstance(value, str) or not value:
            raise ValidationException(f"requestMetadata.{name} is required")
    log.info(
        "request kmsRequestId=%s kmsOperation=%s",
        printable(metadata["kmsRequestId"]),
        printable(metadata["kmsOperation"]),
    )


def _b64(body: dict[str, Any], name: str, *, required: bool = False, limit: int) -> bytes:
    value = body.get(name)
    if value is None:
        if required:
            raise ValidationException(f"{name} is required")
        return b""
    if not isinstance(value, str):
        raise ValidationException(f"{name} must be a base64 string")
    try:
        # validate=True rejects the URL-safe alphabet and stray characters (RFC 4648 §4 only).
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationException(f"{name} is not valid base64")
    if len(raw) > limit:
        raise ValidationException(f"{name} is longer than {limit} bytes")
    return raw


def _algorithm(body: dict[str, Any]) -> None:
    if body.get("encryptionAlgorithm") != "AES_GCM":
        raise ValidationException("encryptionAlgorithm must be AES_GCM")


def _key(ctx: Context, key_id: str) -> tuple[KeyConfig, frozenset[str]]:
    key = ctx.store.keys.get(key_id)
    if key is None:
        raise KeyNotFoundException(f"key {printable(key_id)} is not in this key store")
    backend_usage = ctx.backends[key.backend].check_key(key.label)
    # The configured usage is the policy; the backend may restrict it further (CKA_ENCRYPT...).
    usage = frozenset(u for u in key.usage if u not in ("ENCRYPT", "DECRYPT") or u in backend_usage)
    return key, usage


def _require(key: KeyConfig, usage: frozenset[str], operation: str) -> None:
    if not key.enabled:
        raise InvalidStateException(f"key {key.id} is DISABLED")
    if operation not in usage:
        raise InvalidKeyUsageException(f"key {key.id} does not allow {operation}")


def _enc(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def printable(value: str) -> str:
    """Client text fit for a log line: printable ASCII only, at most 200 characters."""
    return "".join(ch if " " <= ch <= "~" else "?" for ch in value[:200])


def _version() -> str:
    from kmscks import __version__

    return __version__
