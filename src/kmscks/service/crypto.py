"""The cryptographic operations: Encrypt, Decrypt, ReEncrypt, GenerateDataKey(WithoutPlaintext)
and GenerateRandom, for AWS_KMS keys and keys in CloudHSM and external key stores.

service layer. The order of the checks is docs/keys.md's ("Cryptography"): shape (validator),
the request key, the blob's framing and key, the algorithm, the key state, the store's crypto
quota, then the backing store. Where the bytes are made depends on the key's origin:

    AWS_KMS             AES-256-GCM in the service with the key's own (sealed) material
    AWS_CLOUDHSM        AES-256-GCM inside the simulated cluster, with the backing key labelled
                        with the key ARN (`HsmCrypto`)
    EXTERNAL_KEY_STORE  double encryption: the service's inner layer with the key's own
                        material, then the proxy's Encrypt of it with the external key
                        (`XksCrypto`); Decrypt the reverse

Plaintext and data keys exist only in the request and the response that carries them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Protocol

from kmscks.caller import Caller
from kmscks.errors import ServiceError
from kmscks.registry import serves
from kmscks.service import ciphertext as blobs
from kmscks.service.key_rules import key_material_id
from kmscks.service.keyview import KeyInUse, KeyResolver

SYMMETRIC_DEFAULT = "SYMMETRIC_DEFAULT"
DATA_KEY_BYTES = {"AES_256": 32, "AES_128": 16}
_EITHER_BYTES_OR_SPEC = "Please specify either number of bytes or key spec."
_XKS_INNER_INVALID = (
    "The ciphertext that the external key store proxy submitted for decryption, or the"
    " encryption context, is corrupted, missing, or otherwise invalid."
)
_FOREIGN_CIPHERTEXT = (
    "The ciphertext refers to a customer master key that does not exist, does not exist in this"
    " region, or you are not allowed to access."
)
_INCORRECT_KEY = (
    "The key ID in the request does not identify a CMK that can perform this operation."
)


class XksCrypto(Protocol):
    """The proxy calls of an external key; failures raise the ServiceError of the crypto column."""

    async def encrypt(
        self, caller: Any, key: KeyInUse, operation: str, plaintext: bytes, aad: bytes
    ) -> tuple[bytes, bytes, bytes, bytes]:  # iv, tag, ciphertext metadata, ciphertext
        ...

    async def decrypt(
        self, caller: Any, key: KeyInUse, operation: str, parsed: blobs.ParsedBlob, aad: bytes
    ) -> bytes: ...


class HsmCrypto(Protocol):
    """AES-GCM inside a cluster; failures raise the ServiceError of contract's CloudHSM table."""

    def encrypt(
        self, caller: Any, cluster_id: str, key_arn: str, plaintext: bytes, aad: bytes
    ) -> tuple[bytes, bytes, bytes]:  # iv, tag, ciphertext
        ...

    def decrypt(
        self,
        caller: Any,
        cluster_id: str,
        key_arn: str,
        iv: bytes,
        tag: bytes,
        ciphertext: bytes,
        aad: bytes,
    ) -> bytes: ...

    def random_source(self, caller: Any, store_id: str) -> str:
        """The cluster of a CONNECTED CloudHSM key store for GenerateRandom, or its error."""
        ...

    def generate_random(self, caller: Any, cluster_id: str, count: int) -> bytes: ...


def key_state_error(arn: str, state: str) -> ServiceError:
    """Why a key that is not Enabled refuses cryptography (contract key-state table)."""
    if state == "Disabled":
        return ServiceError("DisabledException", f"{arn} is disabled.")
    if state == "PendingDeletion":
        return ServiceError("KMSInvalidStateException", f"{arn} is pending deletion.")
    return ServiceError("KMSInvalidStateException", f"{arn} is {state[:1].lower()}{state[1:]}.")


def dry_run() -> ServiceError:
    return ServiceError(
        "DryRunOperationException",
        "The request would have succeeded, but the DryRun option is set.",
    )


def _check_algorithm(key: KeyInUse, algorithm: str | None) -> None:
    if algorithm is not None and algorithm != SYMMETRIC_DEFAULT:
        raise ServiceError(
            "InvalidKeyUsageException",
            f"{key.arn} supports only the SYMMETRIC_DEFAULT encryption algorithm; the request"
            f" used {algorithm}.",
        )


def _ciphertext_blob(params: dict[str, Any]) -> bytes:
    """Decrypt's and ReEncrypt's CiphertextBlob: optional in the model only for a DryRun that
    ignores the ciphertext."""
    blob = params.get("CiphertextBlob")
    if blob is not None:
        return bytes(blob)
    if params.get("DryRun") and "IGNORE_CIPHERTEXT" in params.get("DryRunModifiers", ()):
        raise dry_run()
    raise ServiceError(
        "ValidationException",
        "1 validation error detected: Value null at 'ciphertextBlob' failed to satisfy"
        " constraint: Member must not be null",
    )


def _with_material_id(answer: dict[str, Any], member: str, key: KeyInUse) -> dict[str, Any]:
    """`answer` with the key's KeyMaterialId under `member`, for the keys KMS names it for."""
    material_id = key_material_id(key.key)
    if material_id is not None:
        answer[member] = material_id
    return answer


def _no_recipient(params: dict[str, Any]) -> None:
    if "Recipient" in params:
        raise ServiceError(
            "UnsupportedOperationException",
            "Recipient (a Nitro Enclave attestation document) is not supported by cks.",
        )


class CryptoOperations:
    """The crypto operations over the key service, the two backing stores and a store quota."""

    def __init__(
        self,
        keys: KeyResolver,
        xks: XksCrypto,
        hsm: HsmCrypto,
        store_quota: Callable[[str], None] | None = None,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self._keys = keys
        self._xks = xks
        self._hsm = hsm
        self._store_quota = store_quota
        self._random = random_bytes

    # -- shared steps -----------------------------------------------------------------------

    def _usable(self, key: KeyInUse) -> None:
        if key.state != "Enabled":
            raise key_state_error(key.arn, key.state)
        if self._store_quota is not None and key.store_id is not None:
            self._store_quota(key.store_id)

    async def _seal(
        self, caller: Any, key: KeyInUse, operation: str, plaintext: bytes, context: Any
    ) -> bytes:
        head = blobs.header(blobs.KIND_OF_ORIGIN[key.origin], key.key_id)
        aad = blobs.associated_data(head, context)
        if key.origin == "AWS_CLOUDHSM":
            iv, tag, body = self._hsm.encrypt(
                caller, self._keys.cluster_id(key), key.arn, plaintext, aad
            )
            return blobs.gcm_blob(head, iv, tag, body)
        inner = blobs.seal_inner(self._keys.cipher(key), plaintext, aad)
        if key.origin == "AWS_KMS":
            return blobs.gcm_blob(head, *blobs.split_gcm(inner))
        iv, tag, metadata, outer = await self._xks.encrypt(caller, key, operation, inner, aad)
        return blobs.xks_blob(head, iv, tag, metadata, outer)

    async def _open(
        self,
        caller: Any,
        key: KeyInUse,
        operation: str,
        parsed: blobs.ParsedBlob,
        context: Any,
    ) -> bytes:
        if parsed.kind != blobs.KIND_OF_ORIGIN[key.origin]:
            raise blobs.invalid_ciphertext()
        aad = blobs.associated_data(parsed.header, context)
        if key.origin == "AWS_CLOUDHSM":
            return self._hsm.decrypt(
                caller,
                self._keys.cluster_id(key),
                key.arn,
                parsed.iv,
                parsed.tag,
                parsed.ciphertext,
                aad,
            )
        if key.origin == "AWS_KMS":
            inner = blobs.join_gcm(parsed.iv, parsed.tag, parsed.ciphertext)
            plaintext = blobs.open_inner(self._keys.cipher(key), inner, aad)
            if plaintext is None:
                raise blobs.invalid_ciphertext()
            return plaintext
        inner = await self._xks.decrypt(caller, key, operation, parsed, aad)
        plaintext = blobs.open_inner(self._keys.cipher(key), inner, aad)
        if plaintext is None:
            raise ServiceError("KMSInvalidStateException", _XKS_INNER_INVALID)
        return plaintext

    def _source(
        self, caller: Any, blob: bytes, named: KeyInUse | None
    ) -> tuple[blobs.ParsedBlob, KeyInUse]:
        """The blob's framing and key: the one named in the request, or the one it names."""
        parsed = blobs.parse(blob)
        if named is not None:
            if named.key_id != parsed.key_id:
                raise ServiceError("IncorrectKeyException", _INCORRECT_KEY)
            return parsed, named
        found = self._keys.by_id(caller, parsed.key_id)
        if found is None:
            raise ServiceError("AccessDeniedException", _FOREIGN_CIPHERTEXT)
        return parsed, found

    def _data_key_length(self, params: dict[str, Any]) -> int:
        spec, count = params.get("KeySpec"), params.get("NumberOfBytes")
        if spec is not None and count is None:
            return DATA_KEY_BYTES[spec]
        if count is not None and spec is None:
            return int(count)
        raise ServiceError("ValidationException", _EITHER_BYTES_OR_SPEC)

    # -- operations ---------------------------------------------------------------------------

    @serves("Encrypt")
    async def encrypt(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        key = self._keys.resolve(caller, params["KeyId"])
        _check_algorithm(key, params.get("EncryptionAlgorithm"))
        self._usable(key)
        if params.get("DryRun"):
            raise dry_run()
        blob = await self._seal(
            caller, key, "Encrypt", params["Plaintext"], params.get("EncryptionContext")
        )
        return {
            "CiphertextBlob": blob,
            "KeyId": key.arn,
            "EncryptionAlgorithm": SYMMETRIC_DEFAULT,
        }

    @serves("Decrypt")
    async def decrypt(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        _no_recipient(params)
        named = self._keys.resolve(caller, params["KeyId"]) if "KeyId" in params else None
        blob = _ciphertext_blob(params)
        parsed, key = self._source(caller, blob, named)
        _check_algorithm(key, params.get("EncryptionAlgorithm"))
        self._usable(key)
        if params.get("DryRun"):
            raise dry_run()
        plaintext = await self._open(
            caller, key, "Decrypt", parsed, params.get("EncryptionContext")
        )
        answer = {
            "KeyId": key.arn,
            "Plaintext": plaintext,
            "EncryptionAlgorithm": SYMMETRIC_DEFAULT,
        }
        return _with_material_id(answer, "KeyMaterialId", key)

    @serves("ReEncrypt")
    async def re_encrypt(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        destination = self._keys.resolve(caller, params["DestinationKeyId"])
        named = (
            self._keys.resolve(caller, params["SourceKeyId"]) if "SourceKeyId" in params else None
        )
        blob = _ciphertext_blob(params)
        parsed, source = self._source(caller, blob, named)
        _check_algorithm(source, params.get("SourceEncryptionAlgorithm"))
        _check_algorithm(destination, params.get("DestinationEncryptionAlgorithm"))
        self._usable(source)
        self._usable(destination)
        if params.get("DryRun"):
            raise dry_run()
        plaintext = await self._open(
            caller, source, "ReEncrypt", parsed, params.get("SourceEncryptionContext")
        )
        new_blob = await self._seal(
            caller, destination, "ReEncrypt", plaintext, params.get("DestinationEncryptionContext")
        )
        answer = {
            "CiphertextBlob": new_blob,
            "SourceKeyId": source.arn,
            "KeyId": destination.arn,
            "SourceEncryptionAlgorithm": SYMMETRIC_DEFAULT,
            "DestinationEncryptionAlgorithm": SYMMETRIC_DEFAULT,
        }
        _with_material_id(answer, "SourceKeyMaterialId", source)
        return _with_material_id(answer, "DestinationKeyMaterialId", destination)

    async def _generate_data_key(
        self, caller: Any, params: dict[str, Any], operation: str
    ) -> tuple[bytes, bytes, KeyInUse]:
        length = self._data_key_length(params)
        key = self._keys.resolve(caller, params["KeyId"])
        self._usable(key)
        if params.get("DryRun"):
            raise dry_run()
        data_key = self._random(length)
        blob = await self._seal(caller, key, operation, data_key, params.get("EncryptionContext"))
        return data_key, blob, key

    @serves("GenerateDataKey")
    async def generate_data_key(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        _no_recipient(params)
        data_key, blob, key = await self._generate_data_key(caller, params, "GenerateDataKey")
        answer = {"CiphertextBlob": blob, "Plaintext": data_key, "KeyId": key.arn}
        return _with_material_id(answer, "KeyMaterialId", key)

    @serves("GenerateDataKeyWithoutPlaintext")
    async def generate_data_key_without_plaintext(
        self, caller: Caller, params: dict[str, Any]
    ) -> dict[str, Any]:
        _, blob, key = await self._generate_data_key(
            caller, params, "GenerateDataKeyWithoutPlaintext"
        )
        return _with_material_id({"CiphertextBlob": blob, "KeyId": key.arn}, "KeyMaterialId", key)

    @serves("GenerateRandom")
    async def generate_random(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        _no_recipient(params)
        count = params.get("NumberOfBytes")
        if count is None:
            raise ServiceError("ValidationException", _EITHER_BYTES_OR_SPEC)
        store_id = params.get("CustomKeyStoreId")
        if store_id is None:
            return {"Plaintext": self._random(count)}
        cluster_id = self._hsm.random_source(caller, store_id)
        if self._store_quota is not None:
            self._store_quota(store_id)
        return {"Plaintext": self._hsm.generate_random(caller, cluster_id, count)}
