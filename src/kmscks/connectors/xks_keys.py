"""The KMS side of an XKS proxy's key operations: GetKeyMetadata, Encrypt and Decrypt.

connectors layer; imports the HTTP client, the transport (xks_transport.py) and the outcome
table (xks_key_errors.py), never the service, store or api layers. The service
calls one method per proxy call and gets data back or an XksKeyError carrying a KeyOutcome,
which `XksKeyError.to_service_error(for_create)` turns into the KMS exception of contract
kms-keys-in-custom-key-stores.md §8.4.

Requests are exactly those of §8.2: JSON, base64 binary values, `AES_GCM`, and on Encrypt
always `ciphertextDataIntegrityValueAlgorithm: SHA_256`, whose answer is verified. Calls go
over the transport's keep-alive pool; one attempt has `[xks] timeout_ms` (250 ms), and only an
attempt that got no response byte before its deadline is tried again (`[xks] retries`, one).
Plaintext, key material and secrets are never logged.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
from dataclasses import dataclass
from typing import Any

import orjson

from kmscks.connectors.http_client import HttpResponse
from kmscks.connectors.http_connection import Failure, HttpFailure
from kmscks.connectors.xks_key_errors import ERROR_NAMES, KeyOutcome, XksKeyError, key_misconfigured
from kmscks.connectors.xks_transport import ProxySettings, ProxyTransport

log = logging.getLogger(__name__)

MAX_KEY_USAGES = 10  # the proxy API's limit on GetKeyMetadata's keyUsage
MAX_CIPHERTEXT_METADATA = 20

_FAILURES = {
    Failure.UNRESOLVABLE: (KeyOutcome.NOT_REACHABLE, "cannot resolve"),
    Failure.REFUSED: (KeyOutcome.NOT_REACHABLE, "connection failed to"),
    Failure.TLS: (KeyOutcome.INVALID_TLS, "TLS failure with"),
    Failure.TIMED_OUT: (KeyOutcome.TIMED_OUT, "no response in time from"),
    Failure.MALFORMED: (KeyOutcome.MALFORMED, "an answer that is not HTTP from"),
}
_DECRYPT_ONLY = {KeyOutcome.INVALID_CIPHERTEXT}


@dataclass(frozen=True)
class RequestMetadata:
    """The proxy request's `requestMetadata`: who called which KMS operation, for the proxy's
    logs and authorization. `kms_key_arn` is None only for CreateKey's GetKeyMetadata."""

    aws_principal_arn: str
    kms_operation: str
    kms_request_id: str  # the x-amzn-RequestId the KMS caller receives
    kms_key_arn: str | None = None
    kms_via_service: str | None = None

    def wire(self) -> dict[str, str]:
        fields = {
            "awsPrincipalArn": self.aws_principal_arn,
            "kmsOperation": self.kms_operation,
            "kmsRequestId": self.kms_request_id,
        }
        if self.kms_key_arn is not None:
            fields["kmsKeyArn"] = self.kms_key_arn
        if self.kms_via_service is not None:
            fields["kmsViaService"] = self.kms_via_service
        return fields


@dataclass(frozen=True)
class ExternalKeyMetadata:
    key_spec: str
    key_usage: tuple[str, ...]
    key_status: str


@dataclass(frozen=True)
class ProxyCiphertext:
    """Every field of a proxy Encrypt answer, which the blob must carry (§9.1)."""

    iv: bytes  # 12 or 16 bytes
    tag: bytes  # 16 bytes
    ciphertext: bytes  # as long as the plaintext the proxy encrypted
    ciphertext_metadata: bytes = b""  # b"" when the proxy sent none; at most 20 bytes


def integrity_value(aad: bytes, ctm: bytes, iv: bytes, ciphertext: bytes, tag: bytes) -> bytes:
    """The SHA_256 ciphertextDataIntegrityValue (raw): the hash of the parts, no lengths."""
    return hashlib.sha256(aad + ctm + iv + ciphertext + tag).digest()


def _malformed(cause: str) -> XksKeyError:
    return XksKeyError(KeyOutcome.MALFORMED, cause)


def _b64(answer: dict[str, Any], name: str) -> bytes:
    value = answer.get(name)
    if not isinstance(value, str):
        raise _malformed(f"{name} is missing or not a string")
    try:
        # validate=True: standard alphabet and padding only, as the proxy API requires.
        return base64.b64decode(value, validate=True)
    except binascii.Error:
        raise _malformed(f"{name} is not valid base64")


def _b64_text(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


class XksKeyClient:
    """One method per proxy key call; every failure is an XksKeyError."""

    def __init__(self, transport: ProxyTransport) -> None:
        self._transport = transport

    async def get_key_metadata(
        self, proxy: ProxySettings, region: str, xks_key_id: str, meta: RequestMetadata
    ) -> ExternalKeyMetadata:
        """CreateKey's check of the external key (§3.3): an AES_256 key for ENCRYPT and DECRYPT
        that is ENABLED, else XksKeyError(KEY_MISCONFIGURED) with the §3.4 message."""
        answer = await self._call(proxy, region, xks_key_id, "metadata", {}, meta)
        spec, usage, status = (answer.get(name) for name in ("keySpec", "keyUsage", "keyStatus"))
        if not isinstance(spec, str) or not isinstance(status, str):
            raise _malformed("keySpec and keyStatus must be strings")
        if (
            not isinstance(usage, list)
            or len(usage) > MAX_KEY_USAGES
            or not all(isinstance(item, str) for item in usage)
        ):
            raise _malformed(f"keyUsage must list at most {MAX_KEY_USAGES} strings")
        metadata = ExternalKeyMetadata(spec, tuple(usage), status)
        message = key_misconfigured(metadata.key_spec, metadata.key_usage, metadata.key_status)
        if message is not None:
            raise XksKeyError(
                KeyOutcome.KEY_MISCONFIGURED, f"external key {xks_key_id}: {metadata}", message
            )
        return metadata

    async def encrypt(
        self,
        proxy: ProxySettings,
        region: str,
        xks_key_id: str,
        plaintext: bytes,
        aad: bytes,
        meta: RequestMetadata,
    ) -> ProxyCiphertext:
        """The proxy's AES-GCM encryption of `plaintext` (the inner layer) bound to `aad`."""
        fields: dict[str, str] = {
            "plaintext": _b64_text(plaintext),
            "encryptionAlgorithm": "AES_GCM",
            "ciphertextDataIntegrityValueAlgorithm": "SHA_256",
        }
        if aad:
            fields["additionalAuthenticatedData"] = _b64_text(aad)
        answer = await self._call(proxy, region, xks_key_id, "encrypt", fields, meta)
        ciphertext = _b64(answer, "ciphertext")
        iv = _b64(answer, "initializationVector")
        tag = _b64(answer, "authenticationTag")
        ctm = _b64(answer, "ciphertextMetadata") if "ciphertextMetadata" in answer else b""
        integrity = _b64(answer, "ciphertextDataIntegrityValue")
        if len(ciphertext) != len(plaintext):
            raise _malformed(f"ciphertext has {len(ciphertext)} bytes for {len(plaintext)}")
        if len(iv) not in (12, 16):
            raise _malformed(f"initializationVector has {len(iv)} bytes")
        if len(tag) != 16:
            raise _malformed(f"authenticationTag has {len(tag)} bytes")
        if len(ctm) > MAX_CIPHERTEXT_METADATA:
            raise _malformed(f"ciphertextMetadata has {len(ctm)} bytes")
        if not hmac.compare_digest(integrity, integrity_value(aad, ctm, iv, ciphertext, tag)):
            raise _malformed("ciphertextDataIntegrityValue does not match the answer")
        return ProxyCiphertext(iv, tag, ciphertext, ctm)

    async def decrypt(
        self,
        proxy: ProxySettings,
        region: str,
        xks_key_id: str,
        blob: ProxyCiphertext,
        aad: bytes,
        meta: RequestMetadata,
    ) -> bytes:
        """The plaintext (the inner layer) of what the proxy's Encrypt answered as `blob`."""
        fields: dict[str, str] = {
            "ciphertext": _b64_text(blob.ciphertext),
            "encryptionAlgorithm": "AES_GCM",
            "initializationVector": _b64_text(blob.iv),
            "authenticationTag": _b64_text(blob.tag),
        }
        if blob.ciphertext_metadata:
            fields["ciphertextMetadata"] = _b64_text(blob.ciphertext_metadata)
        if aad:
            fields["additionalAuthenticatedData"] = _b64_text(aad)
        answer = await self._call(proxy, region, xks_key_id, "decrypt", fields, meta)
        plaintext = _b64(answer, "plaintext")
        if len(plaintext) != len(blob.ciphertext):
            raise _malformed(f"plaintext has {len(plaintext)} bytes for {len(blob.ciphertext)}")
        return plaintext

    async def _call(
        self,
        proxy: ProxySettings,
        region: str,
        xks_key_id: str,
        operation: str,
        fields: dict[str, str],
        meta: RequestMetadata,
    ) -> dict[str, Any]:
        """POST one key operation; the 200 answer's JSON object, or XksKeyError."""
        try:
            return await self._attempts(proxy, region, xks_key_id, operation, fields, meta)
        except XksKeyError as error:
            log.info(
                "XKS %s of key %s (%s, request %s) failed: %s",
                operation,
                xks_key_id,
                proxy.uri_endpoint,
                meta.kms_request_id,
                error,
            )
            raise

    async def _attempts(
        self,
        proxy: ProxySettings,
        region: str,
        xks_key_id: str,
        operation: str,
        fields: dict[str, str],
        meta: RequestMetadata,
    ) -> dict[str, Any]:
        transport = self._transport
        target = transport.target(proxy)
        if target is None:
            raise XksKeyError(KeyOutcome.NOT_REACHABLE, f"{proxy.host} is not mapped")
        path = f"{proxy.uri_path}/keys/{xks_key_id}/{operation}"
        body = orjson.dumps({"requestMetadata": meta.wire(), **fields})
        attempts = 1 + max(0, transport.settings.retries)
        for attempt in range(attempts):
            try:
                response = await transport.post(proxy, region, target, path, body, pooled=True)
            except HttpFailure as failure:
                # KMS tries once more on a network timeout only: never after any answer.
                network_timeout = failure.failure is Failure.TIMED_OUT and not failure.answered
                if network_timeout and attempt + 1 < attempts:
                    continue
                outcome, doing = _FAILURES[failure.failure]
                address = f"{target.connect_host}:{target.connect_port}"
                raise XksKeyError(outcome, f"{doing} {address} ({target.host_header}): {failure}")
            return _answer(response, operation)
        raise AssertionError("unreachable: the last attempt returns or raises")


def _answer(response: HttpResponse, operation: str) -> dict[str, Any]:
    try:
        answer = orjson.loads(response.body)
    except orjson.JSONDecodeError:
        answer = None
    if response.status == 200:
        if not isinstance(answer, dict):
            raise _malformed("HTTP 200 without a JSON object")
        return answer
    name = answer.get("errorName") if isinstance(answer, dict) else None
    outcome = ERROR_NAMES.get(name) if isinstance(name, str) else None
    detail = f"HTTP {response.status} {name!r}"
    if isinstance(answer, dict) and isinstance(answer.get("errorMessage"), str):
        detail += f": {answer['errorMessage'][:200]!r}"
    if outcome is None or (outcome in _DECRYPT_ONLY and operation != "decrypt"):
        raise _malformed(f"{detail} (no known errorName for {operation})")
    raise XksKeyError(outcome, detail)
