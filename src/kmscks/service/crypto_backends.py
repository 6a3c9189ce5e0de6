"""The two backing stores as the crypto operations reach them: the XKS proxy and the cluster.

service layer. Binds service/crypto.py's XksCrypto and HsmCrypto protocols to the connectors
(connectors/xks_keys.py, connectors/cloudhsm_keys.py) with what only the service knows: the
store a key lives in, its unsealed proxy settings, and the caller's principal and request id,
which the proxy receives as requestMetadata. Must not import kmscks.api.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kmscks.caller import Caller
from kmscks.connectors.cloudhsm_keys import CloudHsmKeyConnector
from kmscks.connectors.xks_key_errors import XksKeyError
from kmscks.connectors.xks_keys import (
    ExternalKeyMetadata,
    ProxyCiphertext,
    RequestMetadata,
    XksKeyClient,
)
from kmscks.connectors.xks_transport import ProxySettings
from kmscks.errors import ServiceError
from kmscks.service.base import not_found
from kmscks.service.ciphertext import ParsedBlob
from kmscks.service.keyview import KeyInUse
from kmscks.service.states import State
from kmscks.service.views import CLOUDHSM
from kmscks.store.records import StoreRecord


class ProxyCrypto:
    """An external key store's proxy as the key operations reach it: GetKeyMetadata for
    CreateKey (service/key_backends.py's ExternalKeys), Encrypt and Decrypt for the crypto
    operations (contract §8.2)."""

    def __init__(
        self, client: XksKeyClient, proxy_settings: Callable[[StoreRecord], ProxySettings]
    ) -> None:
        self._client = client
        self._proxy_settings = proxy_settings

    async def get_key_metadata(
        self, store: StoreRecord, xks_key_id: str, caller: Caller
    ) -> ExternalKeyMetadata:
        # CreateKey has no key ARN yet: kmsKeyArn is absent (contract §3.3).
        meta = RequestMetadata(caller.principal_arn, "CreateKey", caller.request_id)
        try:
            return await self._client.get_key_metadata(
                self._proxy_settings(store), store.region, xks_key_id, meta
            )
        except XksKeyError as failure:
            raise failure.to_service_error(for_create=True)

    def _target(self, key: KeyInUse) -> tuple[ProxySettings, str, str]:
        store = key.store
        if store is None or key.key.xks_key_id is None:
            raise ValueError(f"key {key.key_id} is not in an external key store")
        return self._proxy_settings(store), store.region, key.key.xks_key_id

    def _metadata(self, caller: Any, key: KeyInUse, operation: str) -> RequestMetadata:
        return RequestMetadata(
            caller.principal_arn, operation, caller.request_id, kms_key_arn=key.arn
        )

    async def encrypt(
        self, caller: Any, key: KeyInUse, operation: str, plaintext: bytes, aad: bytes
    ) -> tuple[bytes, bytes, bytes, bytes]:
        proxy, region, xks_key_id = self._target(key)
        try:
            answer = await self._client.encrypt(
                proxy, region, xks_key_id, plaintext, aad, self._metadata(caller, key, operation)
            )
        except XksKeyError as failure:
            raise failure.to_service_error(for_create=False)
        return answer.iv, answer.tag, answer.ciphertext_metadata, answer.ciphertext

    async def decrypt(
        self, caller: Any, key: KeyInUse, operation: str, parsed: ParsedBlob, aad: bytes
    ) -> bytes:
        proxy, region, xks_key_id = self._target(key)
        outer = ProxyCiphertext(
            parsed.iv, parsed.tag, parsed.ciphertext, parsed.ciphertext_metadata
        )
        try:
            return await self._client.decrypt(
                proxy, region, xks_key_id, outer, aad, self._metadata(caller, key, operation)
            )
        except XksKeyError as failure:
            raise failure.to_service_error(for_create=False)


class ClusterCrypto:
    """AES-GCM and random bytes in the CloudHSM cluster of the caller's key store."""

    def __init__(
        self,
        connector: CloudHsmKeyConnector,
        find_store: Callable[[str, str, str], StoreRecord | None],
    ) -> None:
        self._connector = connector
        self._find_store = find_store

    def encrypt(
        self, caller: Any, cluster_id: str, key_arn: str, plaintext: bytes, aad: bytes
    ) -> tuple[bytes, bytes, bytes]:
        return self._connector.encrypt(
            caller.account_id, caller.region, cluster_id, key_arn, plaintext, aad
        )

    def decrypt(
        self,
        caller: Any,
        cluster_id: str,
        key_arn: str,
        iv: bytes,
        tag: bytes,
        ciphertext: bytes,
        aad: bytes,
    ) -> bytes:
        return self._connector.decrypt(
            caller.account_id, caller.region, cluster_id, key_arn, iv, tag, ciphertext, aad
        )

    def random_source(self, caller: Any, store_id: str) -> str:
        """GenerateRandom's checks of CustomKeyStoreId (contract §7.3)."""
        store = self._find_store(caller.account_id, caller.region, store_id)
        if store is None:
            raise not_found(store_id)
        if store.store_type != CLOUDHSM:
            raise ServiceError(
                "UnsupportedOperationException",
                f"GenerateRandom does not support external key store {store_id}.",
            )
        if store.connection_state != State.CONNECTED:
            raise ServiceError(
                "CustomKeyStoreInvalidStateException",
                f"The custom key store {store_id} is not connected. Connect the custom key store"
                " and try the request again.",
            )
        return store.cloudhsm_cluster_id or ""

    def generate_random(self, caller: Any, cluster_id: str, count: int) -> bytes:
        return self._connector.generate_random(caller.account_id, caller.region, cluster_id, count)
