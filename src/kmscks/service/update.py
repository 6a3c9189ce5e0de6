"""UpdateCustomKeyStore: the state rules per member, the connectivity switch, the checks
with the new values, and the conditional write.

service layer. A part of KeyStoreService (kmscks.service.custom_key_stores).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from kmscks.caller import Caller
from kmscks.errors import ServiceError
from kmscks.registry import serves
from kmscks.service import rules, states
from kmscks.service.base import ServiceBase, invalid_state, not_found
from kmscks.service.members import UPDATE_COLUMNS
from kmscks.service.states import State
from kmscks.service.views import EXTERNAL, VPC
from kmscks.store.records import WRITABLE_COLUMNS, StoreRecord
from kmscks.store.sql import NameConflict

_UPDATE_ATTEMPTS = 3


class UpdateOperation(ServiceBase):
    """UpdateCustomKeyStore, as a part of KeyStoreService."""

    @serves("UpdateCustomKeyStore")
    async def update_custom_key_store(
        self, caller: Caller, params: dict[str, Any]
    ) -> dict[str, Any]:
        for _ in range(_UPDATE_ATTEMPTS):
            if await self._try_update(caller, params):
                return {}
        raise ServiceError(
            "CustomKeyStoreInvalidStateException",
            "The custom key store changed while it was being updated. Retry the request.",
        )

    def _check_update_state(self, record: StoreRecord, changes: dict[str, Any]) -> None:
        state = State(record.connection_state)
        if state == State.DISCONNECTED:
            return
        for member, value in changes.items():
            allowed = state == State.CONNECTED and member in states.UPDATABLE_WHILE_CONNECTED
            # Repeating a current value is not a change (Terraform sends unchanged members).
            if not allowed and not self._unchanged(record, member, value):
                raise invalid_state(record, f"change {member}")

    def _apply_xks_changes(
        self, caller: Caller, record: StoreRecord, updated: StoreRecord, changes: dict[str, Any]
    ) -> None:
        """The connectivity switch rules, and the proxy credential, on the updated store."""
        connectivity = updated.xks_connectivity
        switching = connectivity != record.xks_connectivity
        if switching and updated.xks_uri_endpoint == record.xks_uri_endpoint:
            raise rules.invalid(
                f"Changing XksProxyConnectivity to {connectivity} also requires a new"
                " XksProxyUriEndpoint."
            )
        if connectivity == VPC:
            if switching and "XksProxyVpcEndpointServiceName" not in changes:
                raise rules.invalid(
                    "Changing XksProxyConnectivity to VPC_ENDPOINT_SERVICE requires"
                    " XksProxyVpcEndpointServiceName."
                )
            if switching and "XksProxyVpcEndpointServiceOwner" not in changes:
                updated.xks_vpc_service_owner = caller.account_id
        else:
            vpc_members = [name for name in rules.VPC_ONLY_MEMBERS if name in changes]
            if vpc_members:
                raise rules.invalid(
                    f"{', '.join(vpc_members)} is not valid for an external key store with"
                    " PUBLIC_ENDPOINT connectivity."
                )
            # Leaving the member out clears it when switching to a public endpoint (contract
            # §2.3: "" cannot pass the model's minimum length).
            updated.xks_vpc_service_name = None
            updated.xks_vpc_service_owner = None
        credential = changes.get("XksProxyAuthenticationCredential")
        if credential is not None:
            updated.xks_access_key_id = credential["AccessKeyId"]
            updated.xks_secret_sealed = self._sealer.seal(
                credential["RawSecretAccessKey"], record.id, "xks_secret"
            )

    async def _try_update(self, caller: Caller, params: dict[str, Any]) -> bool:
        record = self._require(caller, params["CustomKeyStoreId"])
        changes = {name: value for name, value in params.items() if name != "CustomKeyStoreId"}
        if not changes:
            return True
        rules.check_update_members(record, changes)
        self._check_update_state(record, changes)
        updated = dataclasses.replace(record)
        for member, column in UPDATE_COLUMNS.items():
            if member in changes:
                setattr(updated, column, changes[member])
        if record.store_type == EXTERNAL:
            self._apply_xks_changes(caller, record, updated, changes)
        else:
            if updated.cloudhsm_cluster_id != record.cloudhsm_cluster_id:
                self._clusters.check_update(
                    caller.account_id,
                    caller.region,
                    record.cloudhsm_cluster_id or "",
                    updated.cloudhsm_cluster_id or "",
                )
            if "KeyStorePassword" in changes:
                updated.key_store_password_sealed = self._sealer.seal(
                    changes["KeyStorePassword"], record.id, "key_store_password"
                )
        proxy_changed = record.store_type == EXTERNAL and any(
            name in changes and not self._unchanged(record, name, changes[name])
            for name in rules.XKS_MEMBERS
        )
        with self._store.mutation(caller.region) as tx:
            rules.check_all(tx, updated, quota=None)
        if proxy_changed:
            await self._test_proxy(
                self.proxy_settings(updated), caller.region, "UpdateCustomKeyStore"
            )
        # Only members and secrets were changed above; the rest of the row is as read.
        column_changes = {
            name: getattr(updated, name)
            for name in WRITABLE_COLUMNS
            if getattr(updated, name) != getattr(record, name)
        }
        try:
            with self._store.mutation(caller.region) as tx:
                current = tx.get(caller.account_id, caller.region, record.id)
                if current is None:
                    raise not_found(record.id)
                if current != record:
                    return False  # changed under us (state or members): decide again
                rules.check_all(tx, updated, quota=None)
                return tx.update(record.seq or 0, record.connection_state, column_changes)
        except NameConflict:
            raise rules.name_in_use(updated.name)
