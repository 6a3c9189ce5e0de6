"""Software key backend: AES-256 keys in the proxy's data directory (layer: xksproxy/backends).

Keys are generated on first start for every configured software key id and stored in
`keys.json`, each wrapped (RFC 3394 AES key wrap) under a 256-bit wrapping key kept in
`wrapping.key` (mode 0600). Key material is never logged or written unwrapped.
Must not import the HTTP layer.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterable
from pathlib import Path

import cryptography
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import (
    InvalidUnwrap,
    aes_key_unwrap,
    aes_key_wrap,
)

from kmscks.xksproxy.aead import IV_LENGTH, TAG_LENGTH
from kmscks.xksproxy.backends.base import ACTIVE, UNAVAILABLE, EkmHealth, Sealed
from kmscks.xksproxy.errors import (
    InternalException,
    InvalidCiphertextException,
    KeyNotFoundException,
)

_ALL_USAGES = frozenset({"ENCRYPT", "DECRYPT"})
WRAPPING_KEY_FILE = "wrapping.key"
KEYS_FILE = "keys.json"


class SoftwareBackend:
    kind = "software"

    def __init__(self, data_dir: Path, labels: Iterable[str]) -> None:
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        wrapping_key = _load_or_create_wrapping_key(data_dir / WRAPPING_KEY_FILE)
        self._keys = _load_or_create_keys(data_dir / KEYS_FILE, wrapping_key, set(labels))
        self._ciphers = {label: AESGCM(key) for label, key in self._keys.items()}
        self._test_cipher = AESGCM(AESGCM.generate_key(256))

    def check_key(self, label: str) -> frozenset[str]:
        if label not in self._ciphers:
            raise KeyNotFoundException(f"key {label} does not exist")
        return _ALL_USAGES

    def encrypt(self, label: str, aad: bytes, plaintext: bytes) -> Sealed:
        self.check_key(label)
        iv = os.urandom(IV_LENGTH)
        out = self._ciphers[label].encrypt(iv, plaintext, aad)
        return Sealed(iv, out[:-TAG_LENGTH], out[-TAG_LENGTH:])

    def decrypt(self, label: str, aad: bytes, sealed: Sealed) -> bytes:
        self.check_key(label)
        try:
            return self._ciphers[label].decrypt(sealed.iv, sealed.ciphertext + sealed.tag, aad)
        except (InvalidTag, ValueError):
            raise InvalidCiphertextException("the ciphertext, tag, IV or AAD does not verify")

    def health(self) -> EkmHealth:
        model = f"cks software AES-256-GCM (cryptography {cryptography.__version__})"
        try:
            iv = os.urandom(IV_LENGTH)
            probe = os.urandom(32)
            ok = self._test_cipher.decrypt(iv, self._test_cipher.encrypt(iv, probe, b""), b"")
            status = ACTIVE if ok == probe else UNAVAILABLE
        except Exception:
            status = UNAVAILABLE
        return EkmHealth(vendor="cks", id="software", model=model, status=status)

    def close(self) -> None:
        self._ciphers.clear()
        self._keys.clear()


def _load_or_create_wrapping_key(path: Path) -> bytes:
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        key = os.urandom(32)
        _write_private(path, key)
        return key
    if len(key) != 32:
        raise InternalException(f"{path} is not a 32-byte wrapping key")
    return key


def _load_or_create_keys(path: Path, wrapping_key: bytes, labels: set[str]) -> dict[str, bytes]:
    wrapped: dict[str, str] = {}
    if path.exists():
        try:
            wrapped = json.loads(path.read_text(encoding="utf-8"))["keys"]
        except (ValueError, KeyError, TypeError):
            raise InternalException(f"{path} is not a cks key file")
    keys: dict[str, bytes] = {}
    for label, blob in wrapped.items():
        try:
            keys[label] = aes_key_unwrap(wrapping_key, base64.b64decode(blob))
        except (InvalidUnwrap, ValueError):
            raise InternalException(f"{path}: key {label} does not unwrap with {path.parent}")
    missing = labels - keys.keys()
    if missing:
        for label in sorted(missing):
            keys[label] = AESGCM.generate_key(256)
            wrapped[label] = base64.b64encode(aes_key_wrap(wrapping_key, keys[label])).decode()
        document = json.dumps({"version": 1, "keys": wrapped}, indent=2, sort_keys=True)
        _write_private(path, document.encode())
    return {label: key for label, key in keys.items() if label in labels}


def _write_private(path: Path, data: bytes) -> None:
    # Write then rename, so a crash never leaves a half-written key file behind.
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
