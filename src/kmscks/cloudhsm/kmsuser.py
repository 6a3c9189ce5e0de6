"""The `kmsuser` crypto user inside a simulated cluster's HSMs: its password and lock-out.

cloudhsm layer. The password is kept only as a salted PBKDF2 hash, as an HSM would.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import string

_ITERATIONS = 20_000
_PASSWORD_ALPHABET = string.ascii_letters + string.digits


def password_hash(password: str, salt_hex: str | None = None) -> tuple[str, str]:
    """(salt, hash), both hex."""
    salt = bytes.fromhex(salt_hex) if salt_hex else os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, _ITERATIONS)
    return salt.hex(), digest.hex()


def password_matches(password: str, salt_hex: str, expected_hex: str) -> bool:
    _, digest = password_hash(password, salt_hex)
    return hmac.compare_digest(digest, expected_hex)


def new_password() -> str:
    """What KMS sets when it rotates the kmsuser password: 32 alphanumeric characters."""
    return "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(32))
