"""The KMS key lifecycle: DescribeKey, ListKeys, EnableKey, DisableKey, ScheduleKeyDeletion and
CancelKeyDeletion; KeyService gathers every key operation (CreateKey in key_create.py, aliases
in aliases.py, policy, tags, description and the refused operations in key_extras.py).

service layer. One @serves coroutine per operation. State changes are single conditional
updates of the store (only a key with no scheduled deletion changes state); when one does not
apply, the key is read again and the answer follows what changed it. Must not import kmscks.api.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from kmscks.caller import Caller
from kmscks.config import ServerConfig
from kmscks.errors import ServiceError
from kmscks.markers import MarkerCodec
from kmscks.registry import serves
from kmscks.service.aliases import AliasOperations
from kmscks.service.key_backends import CloudHsmBackingKeys, ExternalKeys
from kmscks.service.key_create import CreateKeyOperation
from kmscks.service.key_extras import KeyExtrasOperations
from kmscks.service.key_rules import (
    DISABLED,
    ENABLED,
    PENDING_DELETION,
    key_metadata,
    not_pending_deletion,
    pending_deletion,
)
from kmscks.service.keyview import KeyInUse
from kmscks.service.secrets import Sealer
from kmscks.store.sql import SqlStore

MIN_WINDOW_DAYS = 7
MAX_WINDOW_DAYS = 30


class KeyService(CreateKeyOperation, AliasOperations, KeyExtrasOperations):
    """Every KMS key operation over one store, with the backing-store connectors bound."""

    def __init__(
        self,
        store: SqlStore,
        config: ServerConfig,
        sealer: Sealer,
        markers: MarkerCodec,
        cloudhsm_keys: CloudHsmBackingKeys,
        external_keys: ExternalKeys,
        wake_deletion: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(store, config, sealer, markers, clock)
        self._cloudhsm_keys = cloudhsm_keys
        self._external_keys = external_keys
        # Wakes this process's deletion job when a deletion is scheduled (runtime.py).
        self._wake_deletion = wake_deletion

    # -- DescribeKey / ListKeys ----------------------------------------------------------------

    @serves("DescribeKey")
    async def describe_key(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        found = self.resolve(caller, params["KeyId"])
        return {"KeyMetadata": key_metadata(found.key, found.store, found.state)}

    @serves("ListKeys")
    async def list_keys(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        limit = params.get("Limit", 100)
        after_seq = self._after_seq(caller, params.get("Marker"), "keys")
        owners = params.get("ResourceOwners", ["SELF"])
        if "SELF" not in owners:
            # Keys shared through RAM do not exist here (docs/keys.md).
            return {"Keys": [], "Truncated": False}
        rows = self._tables.key_page(
            caller.account_id, caller.region, after_seq, limit + 1, self._clock()
        )
        truncated = len(rows) > limit
        rows = rows[:limit]
        result: dict[str, Any] = {
            "Keys": [{"KeyId": key.id, "KeyArn": key.arn} for key in rows],
            "Truncated": truncated,
        }
        if truncated:
            result["NextMarker"] = self._next_marker(caller, rows[-1].seq, "keys")
        return result

    # -- EnableKey / DisableKey ----------------------------------------------------------------

    @serves("EnableKey")
    async def enable_key(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        self._request_state(caller, params["KeyId"], ENABLED)
        return {}

    @serves("DisableKey")
    async def disable_key(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        self._request_state(caller, params["KeyId"], DISABLED)
        return {}

    def _request_state(self, caller: Caller, key_id: str, state: str) -> None:
        """Record the requested state; while the store is disconnected it shows on reconnect."""
        found = self.resolve(caller, key_id, aliases=False)
        if found.state == PENDING_DELETION:
            raise pending_deletion(found.key)
        if not self._tables.set_requested_state(found.key.seq or 0, state):
            self._raise_changed(caller, found)

    # -- ScheduleKeyDeletion / CancelKeyDeletion -------------------------------------------------

    @serves("ScheduleKeyDeletion")
    async def schedule_key_deletion(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        days = params.get("PendingWindowInDays", MAX_WINDOW_DAYS)
        if not MIN_WINDOW_DAYS <= days <= MAX_WINDOW_DAYS:
            # The model allows 1..365; the documented range is enforced (contract §5.5).
            raise ServiceError(
                "ValidationException",
                f"PendingWindowInDays must be between {MIN_WINDOW_DAYS} and {MAX_WINDOW_DAYS}",
            )
        found = self.resolve(caller, params["KeyId"], aliases=False)
        if found.state == PENDING_DELETION:
            raise pending_deletion(found.key)
        deletion_date = round(self._clock() + days * self._config.day_seconds, 3)
        if not self._tables.schedule_deletion(found.key.seq or 0, deletion_date):
            self._raise_changed(caller, found)
        self._wake_deletion()
        return {
            "KeyId": found.key.arn,
            "DeletionDate": deletion_date,
            "KeyState": PENDING_DELETION,
            "PendingWindowInDays": days,
        }

    @serves("CancelKeyDeletion")
    async def cancel_key_deletion(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        found = self.resolve(caller, params["KeyId"], aliases=False)
        if found.state != PENDING_DELETION:
            raise not_pending_deletion(found.key)
        # The key comes back Disabled (Unavailable while its store is disconnected).
        if not self._tables.cancel_deletion(found.key.seq or 0, self._clock(), DISABLED):
            self._raise_changed(caller, found)
        return {"KeyId": found.key.arn}

    def _raise_changed(self, caller: Caller, before: KeyInUse) -> None:
        """A conditional update missed: say what another request made of the key."""
        now = self.resolve(caller, before.key.id)
        if now.state == PENDING_DELETION:
            raise pending_deletion(now.key)
        raise not_pending_deletion(now.key)
