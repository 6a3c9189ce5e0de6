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
    def create_backing_key(
        self, account_id: str, region: str, cluster_id: str, key_arn: str
    ) -> None:
        """As the store's kmsuser, create a persistent, non-extractable AES-256 key labelled
        `key_arn` in a cluster with two active HSMs in different Availability Zones; raise the
        CreateKey ServiceError (CloudHsmClusterInvalidConfigurationException, ...) otherwise."""

    def delete_backing_key(
        self, account_id: str, region: str, cluster_id: str, key_arn: str
    ) -> str:
        """Best-effort delete of the backing key labelled `key_arn`; never raises a
        ServiceError. Answers the outcome for the log (`deleted:`, `absent:`, `orphaned:`)."""


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

    def create_backing_key(
        self, account_id: str, region: str, cluster_id: str, key_arn: str
    ) -> None:
        raise self._refuse()

    def delete_backing_key(
        self, account_id: str, region: str, cluster_id: str, key_arn: str
    ) -> str:
        return f"orphaned: this server has no connector for {self._what}"

    async def get_key_metadata(
        self, store: StoreRecord, xks_key_id: str, caller: Caller
    ) -> ExternalKeyMetadata:
        raise self._refuse()
