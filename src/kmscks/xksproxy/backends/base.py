"""The interface every key backend implements (layer: xksproxy/backends).

Must not import the HTTP layer (app, httpserver) nor anything outside kmscks.xksproxy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

ACTIVE = "ACTIVE"
DEGRADED = "DEGRADED"
UNAVAILABLE = "UNAVAILABLE"


@dataclass(frozen=True, slots=True)
class EkmHealth:
    """One entry of ekmFleetDetails, plus the vendor that fills ekmVendor."""

    vendor: str
    id: str
    model: str
    status: str


@dataclass(frozen=True, slots=True)
class Sealed:
    iv: bytes
    ciphertext: bytes
    tag: bytes


class KeyBackend(Protocol):
    """AES-256-GCM with keys addressed by label.

    encrypt/decrypt get the AAD already built by kmscks.xksproxy.aead. Errors: KeyNotFound for
    an unknown label, InvalidKeyUsage when the backend itself forbids the operation,
    InvalidCiphertext when the tag does not verify, Internal when the backend is unreachable.
    """

    kind: str

    def check_key(self, label: str) -> frozenset[str]:
        """Raise KeyNotFoundException unless the key exists; return the usages it allows."""
        ...

    def encrypt(self, label: str, aad: bytes, plaintext: bytes) -> Sealed: ...

    def decrypt(self, label: str, aad: bytes, sealed: Sealed) -> bytes: ...

    def health(self) -> EkmHealth:
        """A deep check: a real encrypt/decrypt with a test key, never a customer key."""
        ...

    def close(self) -> None: ...
