"""The KMS side of keys in a CloudHSM key store: what the key service calls to create, use and
delete a KMS key's backing key in the store's cluster.

connectors layer. It works in the cluster through kmscks.cloudhsm.keys, as KMS does acting as
the kmsuser crypto user, and maps each outcome there to the exception KMS answers, in the
tables below (contract §3.3-3.4, §5.5, §7.3). The caller has checked the KMS side already (key
state, store CONNECTED); this module checks only the cluster.
"""

from __future__ import annotations

from collections.abc import Callable

from kmscks.cloudhsm import keys
from kmscks.cloudhsm.control import Owner
from kmscks.cloudhsm.keys import Cluster, ClusterKeys, HsmFailure
from kmscks.errors import ServiceError

CANNOT_COMMUNICATE = "KMS cannot communicate with your CloudHSM cluster"

Message = Callable[[str, "str | None"], str]  # (cluster id, key ARN) -> message


def _no_session(cluster_id: str, key_arn: str | None) -> str:
    return (
        f"The CloudHSM cluster {cluster_id} has no free PKCS#11 sessions for KMS."
        " Retry the request."
    )


def _material_missing(cluster_id: str, key_arn: str | None) -> str:
    return f"The key material for {key_arn} is not available in CloudHSM cluster {cluster_id}."


def _label_taken(cluster_id: str, key_arn: str | None) -> str:
    return f"The CloudHSM cluster {cluster_id} already holds a key labelled {key_arn}."


def _fixed(message: str) -> Message:
    return lambda cluster_id, key_arn: message


# kind -> (exception, message(cluster_id, key_arn)). Encrypt, Decrypt, ReEncrypt and
# GenerateDataKey* (contract §7.3): every cluster failure is KMSInvalidStateException, except
# session exhaustion, which is KMSInternalException; a GCM failure is InvalidCiphertextException
# with no message. A missing kmsuser is ours [O]: KMS cannot log in, so it cannot communicate.
_CRYPTO: dict[str, tuple[str, Message]] = {
    keys.UNREACHABLE: ("KMSInvalidStateException", _fixed(CANNOT_COMMUNICATE)),
    keys.NO_USER: ("KMSInvalidStateException", _fixed(CANNOT_COMMUNICATE)),
    keys.NO_SESSION: ("KMSInternalException", _no_session),
    keys.KEY_NOT_FOUND: ("KMSInvalidStateException", _material_missing),
    keys.TAG_MISMATCH: ("InvalidCiphertextException", _fixed("")),
}
# CreateKey and GenerateRandom: KMSInvalidStateException is not in their error lists (contract
# §3.4, §7.1), so an unreachable cluster is KMSInternalException (retryable, like the
# cluster's own overload) [O]. CreateKey's HSM rule is checked before any of these.
_NO_INVALID_STATE: dict[str, tuple[str, Message]] = {
    **_CRYPTO,
    keys.UNREACHABLE: ("KMSInternalException", _fixed(CANNOT_COMMUNICATE)),
    keys.NO_USER: ("KMSInternalException", _fixed(CANNOT_COMMUNICATE)),
    keys.LABEL_TAKEN: ("KMSInternalException", _label_taken),
}


def _error(
    table: dict[str, tuple[str, Message]], failure: HsmFailure, cluster_id: str, key_arn: str | None
) -> ServiceError:
    code, message = table[failure.kind]
    return ServiceError(code, message(cluster_id, key_arn))


def _too_few_hsms(cluster_id: str) -> ServiceError:
    return ServiceError(
        "CloudHsmClusterInvalidConfigurationException",
        f"The CloudHSM cluster {cluster_id} must contain at least two active HSMs in different"
        " Availability Zones.",
    )


def _security_group_closed(cluster_id: str) -> ServiceError:
    return ServiceError(
        "CloudHsmClusterInvalidConfigurationException",
        f"The security group of the CloudHSM cluster {cluster_id} must allow TCP traffic on"
        " ports 2223-2225.",
    )


class CloudHsmKeyConnector:
    """The calls the KMS key service makes into the cluster of a CloudHSM key store.

    Every call takes the store's account and Region (the cluster's owner) and its cluster id.
    Errors are ServiceErrors ready for the wire; InvalidCiphertextException has an empty
    message, to be answered without a `message` member.
    """

    def __init__(self, cluster_keys: ClusterKeys) -> None:
        self._keys = cluster_keys

    def create_backing_key(
        self, account_id: str, region: str, cluster_id: str, key_arn: str
    ) -> None:
        """A persistent, non-extractable AES-256 key labelled `key_arn`, owned by kmsuser."""
        cluster = Cluster(Owner(account_id, region), cluster_id)
        # CreateKey needs two active HSMs in different zones; a crypto call needs one (§3.3).
        # A security group without KMS's rules is a configuration requirement too, in the
        # model's own description of CloudHsmClusterInvalidConfigurationException (CreateKey's
        # error list has it, not KMSInvalidStateException); cryptography with existing keys
        # reads it as the network (§7.3).
        zones, security_group_ok = self._keys.create_requirements(cluster)
        if len(zones) < 2:
            raise _too_few_hsms(cluster_id)
        if not security_group_ok:
            raise _security_group_closed(cluster_id)
        try:
            self._keys.create_key(cluster, key_arn)
        except HsmFailure as failure:
            raise _error(_NO_INVALID_STATE, failure, cluster_id, key_arn)

    def encrypt(
        self,
        account_id: str,
        region: str,
        cluster_id: str,
        key_arn: str,
        plaintext: bytes,
        aad: bytes,
    ) -> tuple[bytes, bytes, bytes]:
        """AES-256-GCM in the cluster: (iv 12 bytes, tag 16 bytes, ciphertext)."""
        try:
            return self._keys.encrypt(
                Cluster(Owner(account_id, region), cluster_id), key_arn, plaintext, aad
            )
        except HsmFailure as failure:
            raise _error(_CRYPTO, failure, cluster_id, key_arn)

    def decrypt(
        self,
        account_id: str,
        region: str,
        cluster_id: str,
        key_arn: str,
        iv: bytes,
        tag: bytes,
        ciphertext: bytes,
        aad: bytes,
    ) -> bytes:
        """The plaintext; InvalidCiphertextException when the tag does not authenticate."""
        try:
            return self._keys.decrypt(
                Cluster(Owner(account_id, region), cluster_id), key_arn, iv, tag, ciphertext, aad
            )
        except HsmFailure as failure:
            raise _error(_CRYPTO, failure, cluster_id, key_arn)

    def generate_random(
        self, account_id: str, region: str, cluster_id: str, number_of_bytes: int
    ) -> bytes:
        """Random bytes from the cluster (GenerateRandom with a CloudHSM CustomKeyStoreId)."""
        try:
            return self._keys.generate_random(
                Cluster(Owner(account_id, region), cluster_id), number_of_bytes
            )
        except HsmFailure as failure:
            raise _error(_NO_INVALID_STATE, failure, cluster_id, None)

    def delete_backing_key(
        self, account_id: str, region: str, cluster_id: str, key_arn: str
    ) -> str:
        """Best-effort delete when the KMS key's waiting period ends (§5.5); never raises a
        ServiceError. The outcome, for the audit record, starts with `deleted:` (the key was
        removed), `absent:` (the cluster held no such key) or `orphaned:` (the material stays
        in the cluster) and says why."""
        cluster = Cluster(Owner(account_id, region), cluster_id)
        try:
            handle = self._keys.delete_key(cluster, key_arn)
        except HsmFailure as failure:
            if failure.kind == keys.KEY_NOT_FOUND:
                return f"absent: CloudHSM cluster {cluster_id} holds no key labelled {key_arn}"
            reason = _error(_CRYPTO, failure, cluster_id, key_arn).message
            return f"orphaned: the backing key stays in CloudHSM cluster {cluster_id}: {reason}"
        return (
            f"deleted: backing key {keys.format_handle(handle)} labelled {key_arn}"
            f" deleted from CloudHSM cluster {cluster_id}"
        )
