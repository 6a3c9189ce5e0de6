"""What the key lifecycle needs from the backing stores: the interfaces, and the answer when a
server has no connector for one.

service layer. CreateKey's type-specific work (contract §3.3) and the deletion at the end of the
waiting period (§5.5) reach the CloudHSM cluster and the XKS proxy only through these two
Protocols; runtime.py binds the connectors. Must not import kmscks.api.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from kmscks.errors import ServiceError
from kmscks.service.base import Caller
from kmscks.store.records import StoreRecord


@dataclass(frozen=True)
class ExternalKeyMetadata:
    """What a proxy's GetKeyMetadata answered (already checked against the spec's schema)."""

    key_spec: str
    key_usage: tuple[str, ...]
    key_status: str


class CloudHsmBackingKeys(Protocol):
    def check_cluster_for_keys(self, store: StoreRecord) -> None:
        """Raise CloudHsmClusterInvalidConfigurationException unless the store's cluster has
        at least two active HSMs in different Availability Zones."""

    def create_backing_key(self, store: StoreRecord, key_arn: str) -> None:
        """As the store's kmsuser, create a persistent, non-extractable AES-256 key labelled
        `key_arn`; raise a ServiceError (KMSInternalException, ...) when it cannot."""

    def delete_backing_key(self, store: StoreRecord, key_arn: str) -> None:
        """Delete the backing key labelled `key_arn`; raise when it cannot (best effort)."""


class ExternalKeys(Protocol):
    async def get_key_metadata(
        self, store: StoreRecord, xks_key_id: str, caller: Caller
    ) -> ExternalKeyMetadata:
        """The proxy's GetKeyMetadata for CreateKey; a failure raises the CreateKey exception
        of the contract's §8.4 table."""


class NoBackingStore:
    """Keys of a store type whose connector this server was built without are refused clearly
    (UnsupportedOperationException), never half-created."""

    def __init__(self, what: str) -> None:
        self._what = what

    def _refuse(self) -> ServiceError:
        return ServiceError(
            "UnsupportedOperationException",
            f"This cks server cannot create KMS keys in {self._what} yet.",
        )

    def check_cluster_for_keys(self, store: StoreRecord) -> None:
        raise self._refuse()

    def create_backing_key(self, store: StoreRecord, key_arn: str) -> None:
        raise self._refuse()

    def delete_backing_key(self, store: StoreRecord, key_arn: str) -> None:
        raise self._refuse()

    async def get_key_metadata(
        self, store: StoreRecord, xks_key_id: str, caller: Caller
    ) -> ExternalKeyMetadata:
        raise self._refuse()
