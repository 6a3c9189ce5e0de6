"""The interface the crypto operations use: resolve, by_id and key_material on a real store."""

from __future__ import annotations

import asyncio
import base64
import os
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kmscks.caller import Caller
from kmscks.config import ServerConfig
from kmscks.errors import ServiceError
from kmscks.markers import MarkerCodec
from kmscks.service.keys import KeyService
from kmscks.service.secrets import Sealer
from kmscks.store.sql import SqliteStore


def service(tmp_path: Path, master_key: bytes) -> KeyService:
    return KeyService(
        store=SqliteStore(tmp_path / "cks.sqlite3"),
        config=ServerConfig(),
        sealer=Sealer(master_key),
        markers=MarkerCodec(b"k" * 32),
        # AWS_KMS keys only: neither backing store is ever reached.
        cloudhsm_keys=None,  # type: ignore[arg-type]
        external_keys=None,  # type: ignore[arg-type]
    )


def test_resolve_by_id_and_the_material(tmp_path: Path) -> None:
    master_key = os.urandom(32)
    keys = service(tmp_path, master_key)
    caller = Caller("000000000000", "us-east-1", "arn:aws:iam::000000000000:root", "r1")
    created = asyncio.run(keys.create_key(caller, {"Description": "d"}))["KeyMetadata"]
    found = keys.resolve(caller, created["Arn"])
    assert (found.state, found.store, found.arn, found.origin) == (
        "Enabled",
        None,
        created["Arn"],
        "AWS_KMS",
    )
    assert keys.by_id(caller, created["KeyId"]) == found
    assert (
        keys.by_id(
            Caller("111122223333", "us-east-1", "arn:aws:iam::111122223333:root", "r2"),
            created["KeyId"],
        )
        is None
    )
    material = keys.key_material(found.key)
    assert len(material) == 32
    # The cipher of the material, made once per process and reused.
    iv = os.urandom(12)
    sealed_once = keys.cipher(found).encrypt(iv, b"data", None)
    assert AESGCM(material).decrypt(iv, sealed_once, None) == b"data"
    assert keys.cipher(found) is keys.cipher(found)
    # Sealed at rest: neither the material nor its base64 is in the row.
    sealed = found.key.material_sealed or ""
    assert material.hex() not in sealed and base64.b64encode(material).decode() not in sealed
    # Another server process with the same master key opens it; another master key cannot.
    assert service(tmp_path, master_key).key_material(found.key) == material
    with pytest.raises(InvalidTag):
        service(tmp_path, os.urandom(32)).key_material(found.key)
    with pytest.raises(ServiceError) as raised:
        keys.resolve(caller, "alias/none")
    assert raised.value.code == "NotFoundException"
