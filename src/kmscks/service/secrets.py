"""The server's master key, and sealing secrets with it before they reach the database.

service layer. KeyStorePassword and RawSecretAccessKey are stored only sealed: AES-256-GCM
under a key derived from the master key, bound (as associated data) to the store id and the
field, so a sealed value cannot be moved to another row or field. The marker key is derived
from the same master key, so every process sharing the master key accepts the others' markers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kmscks.bounded import BoundedCache

KEY_FILE = "master.key"


class MasterKeyError(Exception):
    pass


def load_master_key(configured: str | None, data_dir: Path) -> bytes:
    """The configured base64 key, else `master.key` in the data dir (created on first use)."""
    if configured:
        try:
            key = base64.b64decode(configured, validate=True)
        except ValueError:
            raise MasterKeyError("[server] master_key must be base64")
        if len(key) != 32:
            raise MasterKeyError("[server] master_key must be 32 bytes (base64 of 32 random bytes)")
        return key
    path = data_dir / KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another worker created it first
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(base64.b64encode(os.urandom(32)) + b"\n")
    key = base64.b64decode(path.read_bytes().strip())
    if len(key) != 32:
        raise MasterKeyError(f"{path} does not hold a 32-byte base64 key")
    return key


def derive_key(master_key: bytes, purpose: str) -> bytes:
    return hmac.new(master_key, f"cks:{purpose}".encode(), hashlib.sha256).digest()


# Opened values kept per process: a sealed value never changes meaning (its nonce is unique),
# and the hot paths (every crypto request's key material, every proxy call's secret) would
# otherwise unseal the same value on each request.
OPENED_CACHE_SIZE = 4096


class Sealer:
    """Encrypts and decrypts secrets for storage."""

    def __init__(self, master_key: bytes) -> None:
        self._aead = AESGCM(derive_key(master_key, "seal-v1"))
        self._opened: BoundedCache[tuple[str, str, str], str] = BoundedCache(OPENED_CACHE_SIZE)

    def seal(self, plaintext: str, store_id: str, field: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), f"{store_id}/{field}".encode())
        return "v1:" + base64.b64encode(nonce + sealed).decode()

    def open(self, sealed: str, store_id: str, field: str) -> str:
        return self._opened.get(
            (sealed, store_id, field), lambda: self._open(sealed, store_id, field)
        )

    def _open(self, sealed: str, store_id: str, field: str) -> str:
        raw = base64.b64decode(sealed.removeprefix("v1:"))
        return self._aead.decrypt(raw[:12], raw[12:], f"{store_id}/{field}".encode()).decode()
