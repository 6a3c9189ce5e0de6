"""The six custom key store operations.

service layer. One coroutine per operation, registered with @serves (kmscks.registry) and
declared in kmscks.service.served. Each takes the caller and the validated request members
(wire names), and returns the response members or raises a ServiceError.

UpdateCustomKeyStore lives in update.py, and what the operations share in base.py.

Network checks (the XKS health call) happen outside any database transaction; the rules are
then checked again inside the region-serialized mutation that writes, so a concurrent request
cannot slip between the check and the write.
"""

from __future__ import annotations

from typing import Any

from kmscks.caller import Caller
from kmscks.connectors.xks import OUTCOMES, Outcome
from kmscks.errors import ServiceError
from kmscks.markers import BadMarker
from kmscks.registry import serves
from kmscks.service import rules, states
from kmscks.service.base import invalid_state, new_store_id, not_found
from kmscks.service.members import CREATE_COLUMNS
from kmscks.service.states import State
from kmscks.service.transitions import AttemptDetail, TransitionResult
from kmscks.service.update import UpdateOperation
from kmscks.service.views import CLOUDHSM, VPC, list_entry
from kmscks.store.keys import KeyTables
from kmscks.store.records import StoreRecord
from kmscks.store.sql import NameConflict


def has_keys(store_id: str) -> ServiceError:
    """Keys in any state count, PendingDeletion included, until they are deleted."""
    return ServiceError(
        "CustomKeyStoreHasCMKsException",
        f"Custom key store {store_id} contains KMS keys. Schedule deletion of the KMS keys and"
        " wait for the waiting period to end before deleting the custom key store.",
    )


class KeyStoreService(UpdateOperation):
    """The behaviour of the six operations over one store, one XKS connector, one cluster check."""

    def _write_new(self, record: StoreRecord, related_clusters: list[str]) -> None:
        try:
            with self._store.mutation(record.region) as tx:
                rules.check_all(tx, record, self._config.custom_key_store_quota)
                rules.check_cluster_in_use(tx, record, related_clusters)
                tx.insert(record)
        except NameConflict:
            raise rules.name_in_use(record.name)

    # -- CreateCustomKeyStore ----------------------------------------------------------------

    @serves("CreateCustomKeyStore")
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
            _set_columns(record, params)
            record.key_store_password_sealed = self._sealer.seal(
                params["KeyStorePassword"], record.id, "key_store_password"
            )
        else:
            credential = params["XksProxyAuthenticationCredential"]
            _set_columns(record, params)
            record.xks_access_key_id = credential["AccessKeyId"]
            record.xks_secret_sealed = self._sealer.seal(
                credential["RawSecretAccessKey"], record.id, "xks_secret"
            )
            if record.xks_connectivity == VPC and record.xks_vpc_service_owner is None:
                record.xks_vpc_service_owner = caller.account_id
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
                and all(
                    self._unchanged(found, member, params[member])
                    for member in rules.CLOUDHSM_MEMBERS
                )
            ):
                return found
        return None

    # -- DescribeCustomKeyStores -------------------------------------------------------------

    @serves("DescribeCustomKeyStores")
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
        rows = self._store.listing(
            caller.account_id, caller.region, after_seq, limit + 1, store_id, name
        )
        if not rows and marker is None and (store_id is not None or name is not None):
            # Both filters given: a store must match both (docs/decisions.md).
            raise not_found(store_id if store_id is not None else f"named {name!r}")
        truncated = len(rows) > limit
        rows = rows[:limit]
        result: dict[str, Any] = {
            "CustomKeyStores": [list_entry(row) for row in rows],
            "Truncated": truncated,
        }
        if truncated:
            result["NextMarker"] = self._markers.encode(
                rows[-1].seq, caller.account_id, caller.region
            )
        return result

    # -- Connect / Disconnect ----------------------------------------------------------------

    @serves("ConnectCustomKeyStore")
    async def connect_custom_key_store(
        self, caller: Caller, params: dict[str, Any]
    ) -> dict[str, Any]:
        return self._start_transition(caller, params["CustomKeyStoreId"], states.CONNECT, "connect")

    @serves("DisconnectCustomKeyStore")
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
                raise invalid_state(record, action)
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
        detail = AttemptDetail(result.detail, result.latency_ms, result.health)
        if result.outcome is Outcome.HEALTHY:
            return TransitionResult(State.CONNECTED, detail=detail)
        return TransitionResult(State.FAILED, OUTCOMES[result.outcome][2], detail=detail)

    def _connect_cloudhsm(self, record: StoreRecord) -> TransitionResult:
        password = self._sealer.open(
            record.key_store_password_sealed or "", record.id, "key_store_password"
        )
        attempt = self._clusters.connect(
            record.account_id, record.region, record.cloudhsm_cluster_id or "", password
        )
        detail = AttemptDetail(attempt.cause)
        if attempt.error_code is not None:
            return TransitionResult(
                State.FAILED, attempt.error_code, after=attempt.record, detail=detail
            )
        # Like KMS, a successful connection rotates the kmsuser password; the new one is kept
        # (sealed) in the same transaction that changes it in the cluster.
        sealed = self._sealer.seal(attempt.new_password or "", record.id, "key_store_password")
        return TransitionResult(
            State.CONNECTED,
            changes={"key_store_password_sealed": sealed},
            after=attempt.record,
            detail=detail,
        )

    # -- DeleteCustomKeyStore ----------------------------------------------------------------

    @serves("DeleteCustomKeyStore")
    async def delete_custom_key_store(
        self, caller: Caller, params: dict[str, Any]
    ) -> dict[str, Any]:
        record = self._require(caller, params["CustomKeyStoreId"])
        if State(record.connection_state) not in states.DELETE_ALLOWED:
            raise invalid_state(record, "be deleted")
        keys = KeyTables(self._store)
        if keys.count_store_keys(record.id):
            raise has_keys(record.id)
        with self._store.mutation(caller.region) as tx:
            # Again inside the mutation that CreateKey also inserts in (contract §5.9).
            if keys.count_store_keys(record.id):
                raise has_keys(record.id)
            if not tx.delete(record.seq or 0, record.connection_state):
                current = tx.get(caller.account_id, caller.region, record.id)
                if current is None:
                    raise not_found(record.id)
                raise invalid_state(current, "be deleted")
        return {}


def _set_columns(record: StoreRecord, params: dict[str, Any]) -> None:
    """Store the Create members that are kept as given (the business rules checked which
    members this store type may have)."""
    for member, column in CREATE_COLUMNS.items():
        if member in params:
            setattr(record, column, params[member])
