"""A KMS key as the operations use it: found from any identifier, with its store and its state.

service layer. `KeyResolver` holds what every key operation needs (the store, config, the
sealer, markers, the clock) and answers the three questions the key operations and the crypto
operations ask: which key does this KeyId name (`resolve`, contract §5.1), which key has this
id (`by_id`, for a ciphertext's header), and what is its KMS-side material (`key_material`).
A key past its DeletionDate does not exist here, even before the deletion job removes it.
Must not import kmscks.api.
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kmscks.bounded import BoundedCache
from kmscks.caller import Caller
from kmscks.config import ServerConfig
from kmscks.errors import ServiceError
from kmscks.markers import BadMarker, MarkerCodec
from kmscks.service.key_rules import (
    KEY_ID,
    MRK_KEY_ID,
    alias_not_found,
    invalid_key_id,
    key_not_found,
    key_state,
)
from kmscks.service.secrets import Sealer
from kmscks.store.keys import KeyRecord, KeyTables
from kmscks.store.records import StoreRecord
from kmscks.store.sql import SqlStore

_MATERIAL_FIELD = "key_material"
CIPHER_CACHE_SIZE = 4096


@dataclass(frozen=True, slots=True)
class KeyInUse:
    """A key, the custom key store it lives in (None for AWS_KMS keys), its derived KeyState."""

    key: KeyRecord
    store: StoreRecord | None
    state: str

    # What the crypto operations read (service/crypto.py's KeyInUse protocol).

    @property
    def arn(self) -> str:
        return self.key.arn

    @property
    def key_id(self) -> str:
        return self.key.id

    @property
    def origin(self) -> str:
        return self.key.origin

    @property
    def store_id(self) -> str | None:
        return self.key.custom_key_store_id


def bad_marker() -> ServiceError:
    return ServiceError(
        "InvalidMarkerException",
        "The request was rejected because the marker that specifies where pagination should"
        " next begin is not valid.",
    )


class KeyResolver:
    """The dependencies of the key operations, and how they find keys."""

    def __init__(
        self,
        store: SqlStore,
        config: ServerConfig,
        sealer: Sealer,
        markers: MarkerCodec,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._tables = KeyTables(store)
        self._config = config
        self._sealer = sealer
        self._markers = markers
        self._clock = clock
        self._ciphers: BoundedCache[tuple[str, str | None], AESGCM] = BoundedCache(
            CIPHER_CACHE_SIZE
        )

    # -- finding keys ---------------------------------------------------------------------------

    def resolve(self, caller: Caller, key_id_input: str, *, aliases: bool = True) -> KeyInUse:
        """The key a KeyId names: key id, key ARN, alias name or alias ARN (contract §5.1).

        Operations documented as taking only a key id or key ARN pass `aliases=False`; an alias
        is then a malformed identifier for them (docs/decisions.md).
        """
        key_id = self._key_id_of(caller, key_id_input, aliases)
        found = self.by_id(caller, key_id)
        if found is None:
            raise key_not_found(self._arn(caller, key_id))
        return found

    def by_id(self, caller: Caller, key_uuid: str) -> KeyInUse | None:
        """The caller's key with this id, or None (also once its DeletionDate has passed)."""
        found = self._tables.key_and_store(
            caller.account_id, caller.region, key_uuid, self._clock()
        )
        if found is None:
            return None
        key, store = found
        return KeyInUse(key, store, key_state(key, store))

    def in_use(self, key: KeyRecord) -> KeyInUse:
        store = None
        if key.custom_key_store_id is not None:
            store = self._store.get(key.account_id, key.region, key.custom_key_store_id)
        return KeyInUse(key, store, key_state(key, store))

    def key_material(self, key: KeyRecord) -> bytes:
        """The KMS-side 256-bit material of an AWS_KMS or XKS key; never logged or returned."""
        if key.material_sealed is None:
            raise ValueError(f"key {key.id} has no KMS-side material (origin {key.origin})")
        return base64.b64decode(self._sealer.open(key.material_sealed, key.id, _MATERIAL_FIELD))

    def cipher(self, found: KeyInUse) -> AESGCM:
        """The AES-256-GCM cipher of a found key's KMS-side material, made once per process:
        a key's sealed material never changes, and unsealing it costs more than the request's
        own encryption."""
        key = found.key
        return self._ciphers.get(
            (key.id, key.material_sealed), lambda: AESGCM(self.key_material(key))
        )

    def cluster_id(self, found: KeyInUse) -> str:
        """The CloudHSM cluster of a CloudHSM key: its store's current cluster."""
        if found.store is None or not found.store.cloudhsm_cluster_id:
            raise ValueError(f"key {found.key.id} is not in a CloudHSM key store")
        return found.store.cloudhsm_cluster_id

    def _seal_new_material(self, key_id: str) -> str:
        material = os.urandom(32)
        return self._sealer.seal(base64.b64encode(material).decode(), key_id, _MATERIAL_FIELD)

    def _key_id_of(self, caller: Caller, value: str, aliases: bool) -> str:
        if KEY_ID.fullmatch(value):
            return value
        if MRK_KEY_ID.fullmatch(value):
            raise key_not_found(self._arn(caller, value))
        if value.startswith("arn:"):
            parts = value.split(":", 5)
            if len(parts) == 6 and parts[1] == "aws" and parts[2] == "kms":
                region, account, resource = parts[3], parts[4], parts[5]
                if resource.startswith("key/") and MRK_KEY_ID.fullmatch(resource[4:]):
                    raise key_not_found(value)
                if resource.startswith("key/") and KEY_ID.fullmatch(resource[4:]):
                    if (account, region) != (caller.account_id, caller.region):
                        # Another Region or an account we do not serve (contract §5.1).
                        raise key_not_found(value)
                    return resource[4:]
                if aliases and resource.startswith("alias/"):
                    if (account, region) != (caller.account_id, caller.region):
                        raise alias_not_found(value)
                    return self._alias_target(caller, resource)
            raise invalid_key_id(value)
        if aliases and value.startswith("alias/"):
            return self._alias_target(caller, value)
        raise invalid_key_id(value)

    def _alias_target(self, caller: Caller, name: str) -> str:
        alias = self._tables.alias(caller.account_id, caller.region, name, self._clock())
        if alias is None:
            raise alias_not_found(self._alias_arn(caller, name))
        return alias.key_id

    @staticmethod
    def _arn(caller: Caller, key_id: str) -> str:
        return f"arn:aws:kms:{caller.region}:{caller.account_id}:key/{key_id}"

    @staticmethod
    def _alias_arn(caller: Caller, name: str) -> str:
        return f"arn:aws:kms:{caller.region}:{caller.account_id}:{name}"

    # -- pagination ------------------------------------------------------------------------------

    # A marker is bound to its listing as well as to the account and region, so one listing's
    # marker is refused by another.

    def _after_seq(self, caller: Caller, marker: str | None, listing: str) -> int:
        if marker is None:
            return 0
        try:
            return self._markers.decode(marker, caller.account_id, f"{caller.region}|{listing}")
        except BadMarker:
            raise bad_marker()

    def _next_marker(self, caller: Caller, position: int | None, listing: str) -> str:
        return self._markers.encode(position or 0, caller.account_id, f"{caller.region}|{listing}")
