"""What the key lifecycle needs from the backing stores: the interfaces.

service layer. CreateKey's type-specific work (contract §3.3) and the deletion at the end of the
waiting period (§5.5) reach the CloudHSM cluster and the XKS proxy only through these two
Protocols; runtime.py binds the connectors (connectors/cloudhsm_keys.py answers
CloudHsmBackingKeys as it is; crypto_backends.ProxyCrypto, the one adapter of the XKS key
client, answers ExternalKeys). Must not import kmscks.api.
"""

from __future__ import annotations

from typing import Protocol

from kmscks.caller import Caller
from kmscks.connectors.xks_keys import ExternalKeyMetadata
from kmscks.store.records import StoreRecord


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
        """The proxy's GetKeyMetadata for CreateKey, checked (an enabled AES_256 key for
        ENCRYPT and DECRYPT); a failure raises the CreateKey exception of the contract's §8.4
        table."""
