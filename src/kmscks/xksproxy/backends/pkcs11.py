"""PKCS#11 key backend: AES-256 keys in a token, found by CKA_LABEL (layer: xksproxy/backends).

Tested with SoftHSM2 through python-pkcs11 0.10. One session is opened lazily and reopened when
the token reports a stale session or handle, so a token that comes back is picked up again.
Errors are mapped as the reference proxy maps them (../shared/contract/xks-proxy.md §4):
CKR_KEY_FUNCTION_NOT_PERMITTED -> InvalidKeyUsage; CKR_ENCRYPTED_DATA_INVALID/_LEN_RANGE,
CKR_FUNCTION_FAILED, CKR_GENERAL_ERROR on decrypt -> InvalidCiphertext; a missing label ->
KeyNotFound; anything that means the token is gone -> InternalException (health: UNAVAILABLE).
Must not import the HTTP layer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pkcs11
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11 import exceptions as p11
from pkcs11.mechanisms import GCMParams

from kmscks.xksproxy.aead import IV_LENGTH, TAG_LENGTH
from kmscks.xksproxy.backends.base import ACTIVE, UNAVAILABLE, EkmHealth, Sealed
from kmscks.xksproxy.config import Pkcs11Config
from kmscks.xksproxy.errors import (
    InternalException,
    InvalidCiphertextException,
    InvalidKeyUsageException,
    KeyNotFoundException,
)

log = logging.getLogger("kmscks.xksproxy.pkcs11")
T = TypeVar("T")

# Failures that mean "this session or handle is stale": reopen once and retry.
_STALE = (
    p11.SessionHandleInvalid,
    p11.SessionClosed,
    p11.ObjectHandleInvalid,
    p11.KeyHandleInvalid,
    p11.TokenNotPresent,
    p11.DeviceRemoved,
    p11.UserNotLoggedIn,
)
_BAD_CIPHERTEXT = (
    p11.EncryptedDataInvalid,
    p11.EncryptedDataLenRange,
    p11.FunctionFailed,
    p11.GeneralError,
)
# python-pkcs11 0.10 has no class for CKR_KEY_FUNCTION_NOT_PERMITTED (0x68): it raises a plain
# PKCS11Error("Unmapped error code 0x68").
_CKR_KEY_FUNCTION_NOT_PERMITTED = "0x68"


def _key_function_not_permitted(exc: Exception) -> bool:
    return type(exc) is p11.PKCS11Error and str(exc).endswith(_CKR_KEY_FUNCTION_NOT_PERMITTED)


@dataclass(slots=True)
class _Key:
    handle: Any
    usage: frozenset[str]


class Pkcs11Backend:
    kind = "pkcs11"

    def __init__(self, config: Pkcs11Config) -> None:
        self._config = config
        try:
            self._lib = pkcs11.lib(str(config.module))
        except Exception as exc:  # the module cannot be loaded at all: a config error
            raise InternalException(f"cannot load PKCS#11 module {config.module}: {exc}")
        self._session: Any = None
        self._keys: dict[str, _Key] = {}
        self._probe: Any = None
        self._last_model = "unknown token"
        self._last_vendor = "unknown"

    # -- the interface --------------------------------------------------------------------

    def check_key(self, label: str) -> frozenset[str]:
        return self._with_session(lambda: self._key(label)).usage

    def encrypt(self, label: str, aad: bytes, plaintext: bytes) -> Sealed:
        def run() -> Sealed:
            key = self._key(label)
            if "ENCRYPT" not in key.usage:
                raise InvalidKeyUsageException(f"key {label} does not allow ENCRYPT")
            # SoftHSM cannot generate GCM IVs itself, so the token's RNG supplies them.
            iv = bytes(self._session.generate_random(IV_LENGTH * 8))
            out = key.handle.encrypt(
                plaintext, mechanism=Mechanism.AES_GCM, mechanism_param=_gcm(iv, aad)
            )
            return Sealed(iv, bytes(out[:-TAG_LENGTH]), bytes(out[-TAG_LENGTH:]))

        return self._with_session(run)

    def decrypt(self, label: str, aad: bytes, sealed: Sealed) -> bytes:
        if len(sealed.iv) != IV_LENGTH:
            # python-pkcs11 refuses other IV sizes, and this proxy never produces them.
            raise InvalidCiphertextException("the initialization vector is not one of this key's")

        def run() -> bytes:
            key = self._key(label)
            if "DECRYPT" not in key.usage:
                raise InvalidKeyUsageException(f"key {label} does not allow DECRYPT")
            try:
                return bytes(
                    key.handle.decrypt(
                        sealed.ciphertext + sealed.tag,
                        mechanism=Mechanism.AES_GCM,
                        mechanism_param=_gcm(sealed.iv, aad),
                    )
                )
            except _BAD_CIPHERTEXT:
                raise InvalidCiphertextException("the ciphertext, tag, IV or AAD does not verify")

        return self._with_session(run)

    def health(self) -> EkmHealth:
        label = self._config.token_label
        try:
            token = self._lib.get_token(token_label=label)
            serial = bytes(token.serial).decode(errors="replace").strip()
            self._last_vendor = str(token.manufacturer_id).strip()
            self._last_model = (
                f"{str(token.model).strip()} serial {serial} "
                f"firmware {_version(token.firmware_version)} "
                f"hardware {_version(token.hardware_version)}"
            )
            self._with_session(self._probe_round_trip)
            status = ACTIVE
        except Exception as exc:  # any failure of the deep check means "cannot serve"
            log.warning("PKCS#11 token %r unavailable: %s", label, type(exc).__name__)
            self._reset()
            status = UNAVAILABLE
        return EkmHealth(vendor=self._last_vendor, id=label, model=self._last_model, status=status)

    def close(self) -> None:
        self._reset()

    # -- sessions -------------------------------------------------------------------------

    def _with_session(self, run: Callable[[], T]) -> T:
        for attempt in (1, 2):
            try:
                if self._session is None:
                    self._open()
                return run()
            except _STALE:
                self._reset()
                if attempt == 2:
                    raise InternalException("the PKCS#11 token is not available")
            except p11.NoSuchToken:
                self._reset()
                raise InternalException(f"no PKCS#11 token labelled {self._config.token_label}")
            except p11.PKCS11Error as exc:
                if _key_function_not_permitted(exc):
                    raise InvalidKeyUsageException("the token does not allow this use of the key")
                # Outside decrypt (mapped above) a token error means the token is unhealthy.
                self._reset()
                raise InternalException(f"PKCS#11 error {type(exc).__name__}")
        raise AssertionError("unreachable")

    def _open(self) -> None:
        token = self._lib.get_token(token_label=self._config.token_label)
        try:
            self._session = token.open(user_pin=self._config.pin)
        except p11.UserAlreadyLoggedIn:
            # PKCS#11 logins are per application: a surviving login needs no PIN.
            self._session = token.open()

    def _reset(self) -> None:
        session, self._session = self._session, None
        self._keys.clear()
        self._probe = None
        if session is not None:
            try:
                session.close()
            except Exception:  # the token may already be gone; nothing left to release
                pass

    def _key(self, label: str) -> _Key:
        key = self._keys.get(label)
        if key is None:
            try:
                handle = self._session.get_key(
                    label=label, key_type=KeyType.AES, object_class=ObjectClass.SECRET_KEY
                )
            except p11.NoSuchKey:
                raise KeyNotFoundException(f"no AES key labelled {label} in the token")
            except p11.MultipleObjectsReturned:
                raise KeyNotFoundException(f"more than one AES key labelled {label}")
            usage = frozenset(
                name
                for name, attribute in (
                    ("ENCRYPT", Attribute.ENCRYPT),
                    ("DECRYPT", Attribute.DECRYPT),
                )
                if handle[attribute]
            )
            key = self._keys[label] = _Key(handle, usage)
        return key

    def _probe_round_trip(self) -> None:
        # A session (not token) key: the deep check must never touch a customer key.
        if self._probe is None:
            self._probe = self._session.generate_key(
                KeyType.AES, 256, store=False, label="cks-probe"
            )
        iv = bytes(self._session.generate_random(IV_LENGTH * 8))
        data = b"cks-xks-proxy health probe"
        sealed = self._probe.encrypt(
            data, mechanism=Mechanism.AES_GCM, mechanism_param=_gcm(iv, b"")
        )
        back = self._probe.decrypt(
            sealed, mechanism=Mechanism.AES_GCM, mechanism_param=_gcm(iv, b"")
        )
        if bytes(back) != data:
            raise InternalException("the PKCS#11 health probe did not round-trip")


def _gcm(iv: bytes, aad: bytes) -> GCMParams:
    return GCMParams(iv, aad, TAG_LENGTH * 8)


def _version(value: Any) -> str:
    if isinstance(value, tuple):
        return ".".join(str(part) for part in value)
    return str(value)
