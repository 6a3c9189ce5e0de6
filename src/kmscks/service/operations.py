"""The six custom key store operations.

service layer. One coroutine per operation, named after it in snake case (the api layer finds
them by that name). Each takes the caller (account and region) and the validated request
members (wire names), and returns the response members or raises a ServiceError.

Network checks (the XKS health call) happen outside any database transaction; the rules are
then checked again inside the region-serialized mutation that writes, so a concurrent request
cannot slip between the check and the write.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kmscks.config import ServerConfig
from kmscks.connectors.cloudhsm import ClusterChecks
from kmscks.connectors.xks import OUTCOMES, Outcome, ProxySettings, XksConnector
from kmscks.errors import ServiceError
from kmscks.service import rules, states
from kmscks.service.markers import BadMarker, MarkerCodec
from kmscks.service.secrets import Sealer
from kmscks.service.states import State
from kmscks.service.transitions import TransitionResult
from kmscks.service.views import CLOUDHSM, EXTERNAL, PUBLIC, VPC, list_entry
from kmscks.store.records import StoreRecord
from kmscks.store.sql import NameConflict, SqlStore

_UPDATE_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class Caller:
    account_id: str
    region: str


def new_store_id() -> str:
    """`cks-` and 17 lower-case hex characters, like AWS's ids."""
    return "cks-" + os.urandom(9).hex()[:17]


def _not_found(store_id: str) -> ServiceError:
    return ServiceError(
        "CustomKeyStoreNotFoundException",
        f"Custom key store {store_id} does not exist in this account and Region.",
    )


def _invalid_state(record: StoreRecord, action: str) -> ServiceError:
    return ServiceError(
        "CustomKeyStoreInvalidStateException",
        f"Custom key store {record.id} cannot {action} while its ConnectionState is"
        f" {record.connection_state}.",
    )


def _xks_error(outcome: Outcome) -> ServiceError:
    code, message, _ = OUTCOMES[outcome]
    return ServiceError(code, message)


class KeyStoreService:
    """The behaviour of the six operations over one store, one XKS connector, one cluster check."""

    def __init__(
        self,
        store: SqlStore,
        config: ServerConfig,
        xks: XksConnector,
        clusters: ClusterChecks,
        sealer: Sealer,
        markers: MarkerCodec,
        wake_worker: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._config = config
        self._xks = xks
        self._clusters = clusters
        self._sealer = sealer
        self._markers = markers
        self._wake_worker = wake_worker
        self._clock = clock

    # -- helpers ---------------------------------------------------------------------------

    def _require(self, caller: Caller, store_id: str) -> StoreRecord:
        record = self._store.get(caller.account_id, caller.region, store_id)
        if record is None:
            raise _not_found(store_id)
        return record

    def proxy_settings(self, record: StoreRecord) -> ProxySettings:
        secret = self._sealer.open(record.xks_secret_sealed or "", record.id, "xks_secret")
        return ProxySettings(
            connectivity=record.xks_connectivity or PUBLIC,
            uri_endpoint=record.xks_uri_endpoint or "",
            uri_path=record.xks_uri_path or "",
            access_key_id=record.xks_access_key_id or "",
            secret_access_key=secret,
            vpc_service_name=record.xks_vpc_service_name,
            vpc_service_owner=record.xks_vpc_service_owner,
        )

    async def _test_proxy(self, proxy: ProxySettings, region: str, kms_operation: str) -> None:
        """Create/Update's checks of an external key store, raising the Xks* exception."""
        if proxy.connectivity == VPC:
            # The proxy itself is first contacted at Connect (contract rule 27).
            result = self._xks.check_vpc_service(proxy, region)
        else:
            result = await self._xks.check_health(proxy, region, kms_operation)
        if result.outcome is not Outcome.HEALTHY:
            raise _xks_error(result.outcome)

    def _write_new(self, record: StoreRecord, related_clusters: list[str]) -> None:
        try:
            with self._store.mutation(record.region) as tx:
                rules.check_all(tx, record, self._config.custom_key_store_quota)
                rules.check_cluster_in_use(tx, record, related_clusters)
                tx.insert(record)
        except NameConflict:
            rules_error = ServiceError(
                "CustomKeyStoreNameInUseException",
                f"The request was rejected because the custom key store name {record.name!r} is"
                " already used by another custom key store in this account and Region.",
            )
            raise rules_error

    # -- CreateCustomKeyStore ----------------------------------------------------------------

    async def create_custom_key_store(
        self, caller: Caller, params: dict[str, Any]
    ) -> dict[str, Any]:
        store_type = params.get("CustomKeyStoreType", CLOUDHSM)
        rules.check_create_members(params, store_type)
        record = StoreRecord(
            id=new_store_id(),
            account_id=caller.account_id,
            region=caller.region,
            name=params["CustomKeyStoreName"],
            store_type=store_type,
            connection_state=State.DISCONNECTED,
            creation_date=round(self._clock(), 3),
        )
        related_clusters: list[str] = []
        if store_type == CLOUDHSM:
            self._clusters.check_create(
                caller.account_id,
                caller.region,
                params["CloudHsmClusterId"],
                params["TrustAnchorCertificate"],
            )
            retried = self._same_cloudhsm_store(caller, params)
            if retried is not None:
                # Creating again with the same properties returns the existing store (§2.1).
                return {"CustomKeyStoreId": retried.id}
            related_clusters = self._clusters.related_cluster_ids(
                caller.account_id, caller.region, params["CloudHsmClusterId"]
            )
            record.cloudhsm_cluster_id = params["CloudHsmClusterId"]
            record.trust_anchor_certificate = params["TrustAnchorCertificate"]
            record.key_store_password_sealed = self._sealer.seal(
                params["KeyStorePassword"], record.id, "key_store_password"
            )
        else:
            credential = params["XksProxyAuthenticationCredential"]
            record.xks_connectivity = params["XksProxyConnectivity"]
            record.xks_uri_endpoint = params["XksProxyUriEndpoint"]
            record.xks_uri_path = params["XksProxyUriPath"]
            record.xks_access_key_id = credential["AccessKeyId"]
            record.xks_secret_sealed = self._sealer.seal(
                credential["RawSecretAccessKey"], record.id, "xks_secret"
            )
            if record.xks_connectivity == VPC:
                record.xks_vpc_service_name = params["XksProxyVpcEndpointServiceName"]
                record.xks_vpc_service_owner = params.get(
                    "XksProxyVpcEndpointServiceOwner", caller.account_id
                )
            # Cheap local rules first, so a request bound to fail never reaches the proxy.
            with self._store.mutation(caller.region) as tx:
                rules.check_all(tx, record, self._config.custom_key_store_quota)
            await self._test_proxy(
                self.proxy_settings(record), caller.region, "CreateCustomKeyStore"
            )
        self._write_new(record, related_clusters)
        return {"CustomKeyStoreId": record.id}

    def _same_cloudhsm_store(self, caller: Caller, params: dict[str, Any]) -> StoreRecord | None:
        """A DISCONNECTED CloudHSM store with every property of this Create request, if any."""
        for found in self._store.page(
            caller.account_id, caller.region, 0, 1, name=params["CustomKeyStoreName"]
        ):
            if (
                found.store_type == CLOUDHSM
                and found.connection_state == State.DISCONNECTED
                and found.cloudhsm_cluster_id == params["CloudHsmClusterId"]
                and found.trust_anchor_certificate == params["TrustAnchorCertificate"]
                and self._unchanged(found, "KeyStorePassword", params["KeyStorePassword"])
            ):
                return found
        return None

    # -- DescribeCustomKeyStores -------------------------------------------------------------

    async def describe_custom_key_stores(
        self, caller: Caller, params: dict[str, Any]
    ) -> dict[str, Any]:
        limit = params.get("Limit", self._config.default_page_size)
        store_id = params.get("CustomKeyStoreId")
        name = params.get("CustomKeyStoreName")
        after_seq = 0
        marker = params.get("Marker")
        if marker is not None:
            try:
                after_seq = self._markers.decode(marker, caller.account_id, caller.region)
            except BadMarker:
                raise ServiceError(
                    "InvalidMarkerException",
                    "The request was rejected because the marker that specifies where pagination"
                    " should next begin is not valid.",
                )
        rows = self._store.page(
            caller.account_id, caller.region, after_seq, limit + 1, store_id, name
        )
        if not rows and marker is None and (store_id is not None or name is not None):
            # Both filters given: a store must match both (docs/decisions.md).
            raise _not_found(store_id if store_id is not None else f"named {name!r}")
        truncated = len(rows) > limit
        rows = rows[:limit]
        result: dict[str, Any] = {
            "CustomKeyStores": [list_entry(row) for row in rows],
            "Truncated": truncated,
        }
        if truncated:
            result["NextMarker"] = self._markers.encode(
                rows[-1].seq or 0, caller.account_id, caller.region
            )
        return result

    # -- UpdateCustomKeyStore ----------------------------------------------------------------

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

    def _unchanged(self, record: StoreRecord, member: str, value: Any) -> bool:
        """Whether an Update member repeats the store's current value."""
        current: dict[str, Any] = {
            "NewCustomKeyStoreName": record.name,
            "CloudHsmClusterId": record.cloudhsm_cluster_id,
            "XksProxyUriEndpoint": record.xks_uri_endpoint,
            "XksProxyUriPath": record.xks_uri_path,
            "XksProxyConnectivity": record.xks_connectivity,
            "XksProxyVpcEndpointServiceName": record.xks_vpc_service_name,
            "XksProxyVpcEndpointServiceOwner": record.xks_vpc_service_owner,
        }
        if member in current:
            return bool(current[member] == value)
        if member == "KeyStorePassword":
            sealed = record.key_store_password_sealed or ""
            return self._sealer.open(sealed, record.id, "key_store_password") == value
        if member == "XksProxyAuthenticationCredential":
            proxy = self.proxy_settings(record)
            return (value["AccessKeyId"], value["RawSecretAccessKey"]) == (
                proxy.access_key_id,
                proxy.secret_access_key,
            )
        return False

    def _check_update_state(self, record: StoreRecord, changes: dict[str, Any]) -> None:
        state = State(record.connection_state)
        if state == State.DISCONNECTED:
            return
        for member, value in changes.items():
            allowed = state == State.CONNECTED and member in states.UPDATABLE_WHILE_CONNECTED
            # Repeating a current value is not a change (Terraform sends unchanged members).
            if not allowed and not self._unchanged(record, member, value):
                raise _invalid_state(record, f"change {member}")

    def _apply_xks_changes(
        self, caller: Caller, record: StoreRecord, changes: dict[str, Any]
    ) -> StoreRecord:
        """The store as it would be after the update, with the connectivity switch rules."""
        updated = dataclasses.replace(record)
        connectivity = changes.get("XksProxyConnectivity", record.xks_connectivity)
        switching = connectivity != record.xks_connectivity
        endpoint_changes = changes.get("XksProxyUriEndpoint", record.xks_uri_endpoint) != (
            record.xks_uri_endpoint
        )
        if switching and not endpoint_changes:
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
            updated.xks_vpc_service_name = changes.get(
                "XksProxyVpcEndpointServiceName", record.xks_vpc_service_name
            )
            default_owner = record.xks_vpc_service_owner if not switching else caller.account_id
            updated.xks_vpc_service_owner = changes.get(
                "XksProxyVpcEndpointServiceOwner", default_owner
            )
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
        updated.xks_connectivity = connectivity
        updated.xks_uri_endpoint = changes.get("XksProxyUriEndpoint", record.xks_uri_endpoint)
        updated.xks_uri_path = changes.get("XksProxyUriPath", record.xks_uri_path)
        credential = changes.get("XksProxyAuthenticationCredential")
        if credential is not None:
            updated.xks_access_key_id = credential["AccessKeyId"]
            updated.xks_secret_sealed = self._sealer.seal(
                credential["RawSecretAccessKey"], record.id, "xks_secret"
            )
        return updated

    async def _try_update(self, caller: Caller, params: dict[str, Any]) -> bool:
        record = self._require(caller, params["CustomKeyStoreId"])
        changes = {name: value for name, value in params.items() if name != "CustomKeyStoreId"}
        if not changes:
            return True
        rules.check_update_members(record, changes)
        self._check_update_state(record, changes)
        if record.store_type == EXTERNAL:
            updated = self._apply_xks_changes(caller, record, changes)
        else:
            updated = dataclasses.replace(record)
            new_cluster = changes.get("CloudHsmClusterId")
            if new_cluster is not None and new_cluster != record.cloudhsm_cluster_id:
                self._clusters.check_update(
                    caller.account_id, caller.region, record.cloudhsm_cluster_id or "", new_cluster
                )
                updated.cloudhsm_cluster_id = new_cluster
            if "KeyStorePassword" in changes:
                updated.key_store_password_sealed = self._sealer.seal(
                    changes["KeyStorePassword"], record.id, "key_store_password"
                )
        updated.name = changes.get("NewCustomKeyStoreName", record.name)
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
        column_changes = {
            name: getattr(updated, name)
            for name in (
                "name",
                "cloudhsm_cluster_id",
                "key_store_password_sealed",
                "xks_connectivity",
                "xks_access_key_id",
                "xks_secret_sealed",
                "xks_uri_endpoint",
                "xks_uri_path",
                "xks_vpc_service_name",
                "xks_vpc_service_owner",
            )
            if getattr(updated, name) != getattr(record, name)
        }
        try:
            with self._store.mutation(caller.region) as tx:
                current = tx.get(caller.account_id, caller.region, record.id)
                if current is None:
                    raise _not_found(record.id)
                if current != record:
                    return False  # changed under us (state or members): decide again
                rules.check_all(tx, updated, quota=None)
                return tx.update(record.seq or 0, record.connection_state, column_changes)
        except NameConflict:
            raise ServiceError(
                "CustomKeyStoreNameInUseException",
                f"The request was rejected because the custom key store name {updated.name!r} is"
                " already used by another custom key store in this account and Region.",
            )

    # -- Connect / Disconnect ----------------------------------------------------------------

    async def connect_custom_key_store(
        self, caller: Caller, params: dict[str, Any]
    ) -> dict[str, Any]:
        return self._start_transition(caller, params["CustomKeyStoreId"], states.CONNECT, "connect")

    async def disconnect_custom_key_store(
        self, caller: Caller, params: dict[str, Any]
    ) -> dict[str, Any]:
        return self._start_transition(
            caller, params["CustomKeyStoreId"], states.DISCONNECT, "disconnect"
        )

    def _start_transition(
        self,
        caller: Caller,
        store_id: str,
        table: dict[State, State | None],
        action: str,
    ) -> dict[str, Any]:
        while True:
            record = self._require(caller, store_id)
            state = State(record.connection_state)
            if state not in table:
                raise _invalid_state(record, action)
            target = table[state]
            if target is states.NO_CHANGE:
                return {}
            if target == State.CONNECTING and record.store_type == CLOUDHSM:
                self._clusters.check_connect(
                    caller.account_id, caller.region, record.cloudhsm_cluster_id or ""
                )
            due = self._clock() + self._config.transition_delay_ms / 1000
            # Conditional on the state just read; if another request moved it, decide again.
            if self._store.begin_transition(record.seq or 0, state, target, due):
                self._wake_worker()
                return {}

    async def finish_transition(self, record: StoreRecord) -> TransitionResult:
        """Where a claimed CONNECTING or DISCONNECTING store ends."""
        if record.connection_state == State.DISCONNECTING:
            return TransitionResult(State.DISCONNECTED)
        if record.store_type == CLOUDHSM:
            return self._connect_cloudhsm(record)
        result = await self._xks.check_health(
            self.proxy_settings(record), record.region, "ConnectCustomKeyStore"
        )
        if result.outcome is Outcome.HEALTHY:
            return TransitionResult(State.CONNECTED)
        return TransitionResult(State.FAILED, OUTCOMES[result.outcome][2])

    def _connect_cloudhsm(self, record: StoreRecord) -> TransitionResult:
        password = self._sealer.open(
            record.key_store_password_sealed or "", record.id, "key_store_password"
        )
        attempt = self._clusters.connect(
            record.account_id, record.region, record.cloudhsm_cluster_id or "", password
        )
        if attempt.error_code is not None:
            return TransitionResult(State.FAILED, attempt.error_code, after=attempt.record)
        # Like KMS, a successful connection rotates the kmsuser password; the new one is kept
        # (sealed) in the same transaction that changes it in the cluster.
        sealed = self._sealer.seal(attempt.new_password or "", record.id, "key_store_password")
        return TransitionResult(
            State.CONNECTED,
            changes={"key_store_password_sealed": sealed},
            after=attempt.record,
        )

    # -- DeleteCustomKeyStore ----------------------------------------------------------------

    async def delete_custom_key_store(
        self, caller: Caller, params: dict[str, Any]
    ) -> dict[str, Any]:
        record = self._require(caller, params["CustomKeyStoreId"])
        if State(record.connection_state) not in states.DELETE_ALLOWED:
            raise _invalid_state(record, "be deleted")
        if record.key_count:
            raise ServiceError(
                "CustomKeyStoreHasCMKsException",
                f"Custom key store {record.id} still contains KMS keys.",
            )
        with self._store.mutation(caller.region) as tx:
            if not tx.delete(record.seq or 0, record.connection_state):
                current = tx.get(caller.account_id, caller.region, record.id)
                if current is None:
                    raise _not_found(record.id)
                raise _invalid_state(current, "be deleted")
        return {}
