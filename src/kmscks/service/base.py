"""What the custom key store operations share: their errors, and the service's dependencies
with the helpers every operation uses.

service layer.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from kmscks.caller import Caller
from kmscks.config import ServerConfig
from kmscks.connectors.cloudhsm import ClusterChecks
from kmscks.connectors.xks import OUTCOMES, Outcome, ProxySettings, XksConnector
from kmscks.errors import ServiceError
from kmscks.markers import MarkerCodec
from kmscks.service.members import CREATE_COLUMNS, UPDATE_COLUMNS
from kmscks.service.secrets import Sealer
from kmscks.service.views import PUBLIC, VPC
from kmscks.store.records import StoreRecord
from kmscks.store.sql import SqlStore


def new_store_id() -> str:
    """`cks-` and 17 lower-case hex characters, like AWS's ids."""
    return "cks-" + os.urandom(9).hex()[:17]


def not_found(store_id: str) -> ServiceError:
    return ServiceError(
        "CustomKeyStoreNotFoundException",
        f"Custom key store {store_id} does not exist in this account and Region.",
    )


def invalid_state(record: StoreRecord, action: str) -> ServiceError:
    return ServiceError(
        "CustomKeyStoreInvalidStateException",
        f"Custom key store {record.id} cannot {action} while its ConnectionState is"
        f" {record.connection_state}.",
    )


def xks_error(outcome: Outcome) -> ServiceError:
    code, message, _ = OUTCOMES[outcome]
    return ServiceError(code, message)


class ServiceBase:
    """The dependencies of the operations, and the helpers they share."""

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

    def _require(self, caller: Caller, store_id: str) -> StoreRecord:
        record = self._store.get(caller.account_id, caller.region, store_id)
        if record is None:
            raise not_found(store_id)
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
            raise xks_error(result.outcome)

    def _unchanged(self, record: StoreRecord, member: str, value: Any) -> bool:
        """Whether a Create or Update member repeats the store's current value."""
        column = UPDATE_COLUMNS.get(member) or CREATE_COLUMNS.get(member)
        if column is not None:
            return bool(getattr(record, column) == value)
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
