"""CreateKey (contract §3): AWS_KMS symmetric keys, and keys in CloudHSM and external key stores.

service layer. The steps run in the contract's order (§3.2): combinations, policy and tags,
store lookup, store type, store connected, quota, type-specific work, persist. Network and
cluster work happens outside any database transaction; the store's state, the quota and the
XksKeyId uniqueness are then checked again inside the region-serialized mutation that inserts
the key, so a concurrent Disconnect, Delete or CreateKey cannot slip in between. Nothing is
persisted unless every step succeeds. Must not import kmscks.api.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from kmscks.caller import Caller
from kmscks.errors import ServiceError
from kmscks.registry import serves
from kmscks.service import key_rules
from kmscks.service.base import not_found
from kmscks.service.key_backends import CloudHsmBackingKeys, ExternalKeys
from kmscks.service.key_rules import (
    AWS_CLOUDHSM,
    CUSTOM_ORIGINS,
    ENABLED,
    EXTERNAL_KEY_STORE,
)
from kmscks.service.keyview import KeyResolver
from kmscks.service.states import State
from kmscks.store.keys import KeyRecord
from kmscks.store.records import StoreRecord

log = logging.getLogger(__name__)

MAX_TAGS_PER_KEY = 50  # the quota TagResource keeps too (key_extras.py)


def store_not_connected(store: StoreRecord) -> ServiceError:
    if store.store_type == EXTERNAL_KEY_STORE:
        # The proxy specification's text, word for word (contract §3.4).
        message = (
            "This KMS key is in a custom key store that is not connected to its external key"
            " store proxy. Connect the external key store and try the request again."
        )
    else:
        message = (
            f"The custom key store {store.id} is not connected. Connect the custom key store"
            " and try the request again."
        )
    return ServiceError("CustomKeyStoreInvalidStateException", message)


def xks_key_in_use(xks_key_id: str, store_id: str) -> ServiceError:
    return ServiceError(
        "XksKeyAlreadyInUseException",
        f"The external key {xks_key_id} is already associated with another KMS key in custom"
        f" key store {store_id}.",
    )


class CreateKeyOperation(KeyResolver):
    """CreateKey; the backing-store connectors are bound by runtime.py."""

    _cloudhsm_keys: CloudHsmBackingKeys
    _external_keys: ExternalKeys

    def _check_quota(self, caller: Caller) -> None:
        quota = self._config.max_keys_per_region
        if self._tables.count_keys(caller.account_id, caller.region) >= quota:
            raise ServiceError(
                "LimitExceededException",
                f"The request was rejected because this account already has {quota} KMS keys"
                " in this Region, the maximum allowed.",
            )

    def _custom_store(self, caller: Caller, origin: str, store_id: str) -> StoreRecord:
        store = self._store.get(caller.account_id, caller.region, store_id)
        if store is None:
            raise not_found(store_id)
        if store.store_type != origin:
            # Store types and custom-store Origins share their names (AWS_CLOUDHSM, ...).
            raise key_rules.unsupported(
                f"Custom key store {store_id} is of type {store.store_type}; a KMS key in it"
                f" must have Origin {store.store_type}, not {origin}."
            )
        if store.connection_state != State.CONNECTED:
            raise store_not_connected(store)
        return store

    @serves("CreateKey")
    async def create_key(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        origin = key_rules.check_create_combinations(params)
        if "Policy" in params:
            key_rules.check_policy(params["Policy"])
        tags = key_rules.check_tags(params.get("Tags", []))
        if len(tags) > MAX_TAGS_PER_KEY:
            raise ServiceError("TagException", "Too many tags")  # KMS's answer to CreateKey
        store = None
        if origin in CUSTOM_ORIGINS:
            store = self._custom_store(caller, origin, params["CustomKeyStoreId"])
        self._check_quota(caller)
        key = KeyRecord(
            id=str(uuid.uuid4()),
            account_id=caller.account_id,
            region=caller.region,
            origin=origin,
            custom_key_store_id=store.id if store is not None else None,
            xks_key_id=params.get("XksKeyId"),
            description=params.get("Description", ""),
            requested_state=ENABLED,
            deletion_date=None,
            creation_date=round(self._clock(), 3),
            material_sealed=None,
            policy=params.get("Policy") or key_rules.default_policy(caller.account_id),
        )
        if origin == EXTERNAL_KEY_STORE:
            assert store is not None and key.xks_key_id is not None
            if self._tables.xks_key_in_use(store.id, key.xks_key_id):
                raise xks_key_in_use(key.xks_key_id, store.id)
            # The connector checks the answer (AES_256, ENCRYPT and DECRYPT, ENABLED; §3.3).
            await self._external_keys.get_key_metadata(store, key.xks_key_id, caller)
        if origin != AWS_CLOUDHSM:
            key.material_sealed = self._seal_new_material(key.id)
        else:
            assert store is not None
            self._cloudhsm_keys.create_backing_key(
                store.account_id, store.region, store.cloudhsm_cluster_id or "", key.arn
            )
        try:
            self._persist(caller, key, tags)
        except BaseException:
            if origin == AWS_CLOUDHSM and store is not None:
                self._remove_backing_key(store, key)
            raise
        found = self.in_use(key)
        return {"KeyMetadata": key_rules.key_metadata(found.key, found.store, found.state)}

    def _persist(self, caller: Caller, key: KeyRecord, tags: list[tuple[str, str]]) -> None:
        with self._store.mutation(caller.region):
            if key.custom_key_store_id is not None:
                current = self._store.get(caller.account_id, caller.region, key.custom_key_store_id)
                if current is None:
                    raise not_found(key.custom_key_store_id)
                if current.connection_state != State.CONNECTED:
                    raise store_not_connected(current)
            self._check_quota(caller)
            store_id, xks_key_id = key.custom_key_store_id, key.xks_key_id
            if store_id and xks_key_id and self._tables.xks_key_in_use(store_id, xks_key_id):
                raise xks_key_in_use(xks_key_id, store_id)
            self._tables.insert_key(key)
            self._tables.put_tags(key.id, tags)

    def _remove_backing_key(self, store: StoreRecord, key: KeyRecord) -> None:
        """Undo a backing key whose KMS key was not persisted (best effort, logged)."""
        outcome = self._cloudhsm_keys.delete_backing_key(
            store.account_id, store.region, store.cloudhsm_cluster_id or "", key.arn
        )
        log.warning("CreateKey of %s failed after its backing key was made: %s", key.arn, outcome)
