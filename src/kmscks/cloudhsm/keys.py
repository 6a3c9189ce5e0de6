"""Keys inside a simulated cluster's HSMs: what KMS does with them as the `kmsuser` crypto user
(create, AES-256-GCM encrypt and decrypt, random bytes, delete), and what a cluster user does
with the CloudHSM CLI (`key list`, `key delete`).

cloudhsm layer. Failures are HsmFailure with a kind (the outcome inside the cluster); what KMS
answers for each kind is the connector's business (connectors/cloudhsm_keys.py). Must not
import the api, service operations or connectors.

The database is the source of truth on every call (one statement reads the cluster, its HSMs
and the key; on SQLite its answer is kept until any process writes, store/changes.py), so a key
deleted or a network blocked by another server process takes effect at once. The unsealed
AES-GCM objects are cached by key row: a row is never reused, and it is looked up before its
cached object is used.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kmscks.bounded import BoundedCache
from kmscks.cloudhsm import lifecycle
from kmscks.cloudhsm.control import ControlPlane, Owner
from kmscks.store.clusters import ClusterAccess, KeyRow, LiveKey

KMSUSER = "kmsuser"
IV_BYTES = 12
TAG_BYTES = 16
KEY_BYTES = 32
CACHE_SIZE = 1024

# HsmFailure kinds, in the order a call meets them.
UNREACHABLE = "UNREACHABLE"  # no such cluster, deleted, no active HSM, network or security group
NO_USER = "NO_USER"  # the kmsuser is gone: KMS's session cannot act as it
NO_SESSION = "NO_SESSION"  # no free PKCS#11 session (the exhaust-sessions drill)
KEY_NOT_FOUND = "KEY_NOT_FOUND"  # no live key with that label in the cluster
LABEL_TAKEN = "LABEL_TAKEN"  # a live key already has the label
TAG_MISMATCH = "TAG_MISMATCH"  # AES-GCM authentication failed


class HsmFailure(Exception):
    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


def cluster_rng(size: int) -> bytes:
    """The HSMs' random number generator (the operating system's CSPRNG here)."""
    return os.urandom(size)


def format_handle(handle: int) -> str:
    """A key reference as the CloudHSM CLI prints it."""
    return f"0x{handle:016x}"


def _seal_context(label: str) -> tuple[str, str]:
    # Bound to the label (the KMS key ARN), so sealed material cannot be moved to another
    # key's row; restores copy rows with their label, so the binding survives them.
    return f"cloudhsm-key:{label}", "material"


@dataclass(frozen=True)
class Cluster:
    owner: Owner
    cluster_id: str


class ClusterKeys:
    def __init__(self, control: ControlPlane, cache_size: int = CACHE_SIZE) -> None:
        self._control = control
        self._tables = control.tables
        self.aeads: BoundedCache[int, AESGCM] = BoundedCache(cache_size)  # by key row

    # -- the cluster as KMS reaches it ------------------------------------------------------

    def _read(
        self, cluster: Cluster, label: str | None = None
    ) -> tuple[ClusterAccess | None, set[str], LiveKey | None]:
        """The cluster's access columns, the zones of its active HSMs (none if the cluster is
        gone) and the live key labelled `label`: one database statement."""
        access, hsms, key = self._tables.cluster_access(
            cluster.owner.account_id, cluster.owner.region, cluster.cluster_id, label
        )
        if access is None:
            return None, set(), None
        now = self._control.now()
        delay = self._control.settings.transition_ms / 1000
        state = lifecycle.cluster_state(
            access.state, access.state_since, access.restored, now, delay
        )
        if state == lifecycle.DELETED:
            return access, set(), key
        zones = {
            zone
            for zone, stored, since in hsms
            if lifecycle.hsm_state(stored, since, now, delay) == lifecycle.ACTIVE
        }
        return access, zones, key

    def create_requirements(self, cluster: Cluster) -> tuple[set[str], bool]:
        """What CreateKey checks before it asks the cluster for a key: the Availability Zones
        of the cluster's active HSMs (none if it is gone) and whether its security group
        allows KMS in (TCP 2223-2225; true for a cluster that is gone)."""
        access, zones, _ = self._read(cluster)
        return zones, access is None or bool(access.security_group_ok)

    def _session(self, cluster: Cluster, label: str | None = None) -> LiveKey | None:
        """A PKCS#11 session logged in as kmsuser, or the reason there is none; and the live
        key labelled `label`, if there is one."""
        access, zones, key = self._read(cluster, label)
        if access is None:
            raise HsmFailure(UNREACHABLE, f"the cluster {cluster.cluster_id} does not exist")
        if not zones:
            raise HsmFailure(UNREACHABLE, f"the cluster {cluster.cluster_id} has no active HSM")
        if not access.network_ok or not access.security_group_ok:
            raise HsmFailure(UNREACHABLE, f"the network to {cluster.cluster_id} is blocked")
        if not access.has_kmsuser:
            raise HsmFailure(NO_USER, f"the cluster {cluster.cluster_id} has no kmsuser")
        if access.sessions_exhausted:
            raise HsmFailure(NO_SESSION, f"the cluster {cluster.cluster_id} has no free session")
        return key

    def _live(self, cluster: Cluster, label: str) -> LiveKey:
        key = self._session(cluster, label)
        if key is None:
            raise HsmFailure(KEY_NOT_FOUND, f"no key labelled {label} in {cluster.cluster_id}")
        return key

    def _aead(self, key: LiveKey, label: str) -> AESGCM:
        def unseal() -> AESGCM:
            sealed = self._control.sealer.open(key.material_sealed, *_seal_context(label))
            return AESGCM(base64.b64decode(sealed))

        return self.aeads.get(key.seq, unseal)

    # -- operations as kmsuser ---------------------------------------------------------------

    def create_key(self, cluster: Cluster, label: str) -> KeyRow:
        """A persistent, non-extractable AES-256 key owned by kmsuser, with `label`."""
        self._session(cluster)
        material = cluster_rng(KEY_BYTES)
        sealed = self._control.sealer.seal(
            base64.b64encode(material).decode(), *_seal_context(label)
        )
        # Serialized per region, so two processes never take the same handle or label.
        with self._control.store.mutation(cluster.owner.region):
            if self._tables.live_key(cluster.cluster_id, label) is not None:
                raise HsmFailure(LABEL_TAKEN, f"a key labelled {label} exists already")
            row = KeyRow(
                cluster_id=cluster.cluster_id,
                key_handle=self._tables.next_key_handle(cluster.cluster_id),
                label=label,
                owner=KMSUSER,
                material_sealed=sealed,
                created_at=self._control.now(),
            )
            self._tables.insert_key(row)
        return row

    def encrypt(
        self, cluster: Cluster, label: str, plaintext: bytes, aad: bytes | None
    ) -> tuple[bytes, bytes, bytes]:
        """(iv, tag, ciphertext) of AES-256-GCM with the key labelled `label`."""
        key = self._live(cluster, label)
        iv = cluster_rng(IV_BYTES)
        ciphertext_and_tag = self._aead(key, label).encrypt(iv, plaintext, aad or None)
        return iv, ciphertext_and_tag[-TAG_BYTES:], ciphertext_and_tag[:-TAG_BYTES]

    def decrypt(
        self,
        cluster: Cluster,
        label: str,
        iv: bytes,
        tag: bytes,
        ciphertext: bytes,
        aad: bytes | None,
    ) -> bytes:
        key = self._live(cluster, label)
        if len(iv) != IV_BYTES or len(tag) != TAG_BYTES:
            raise HsmFailure(TAG_MISMATCH, "the IV or tag has the wrong length")
        try:
            return self._aead(key, label).decrypt(iv, ciphertext + tag, aad or None)
        except InvalidTag:
            raise HsmFailure(TAG_MISMATCH, "the authentication tag does not match")

    def generate_random(self, cluster: Cluster, size: int) -> bytes:
        self._session(cluster)
        return cluster_rng(size)

    def delete_key(self, cluster: Cluster, label: str) -> int:
        """Delete the key labelled `label` as its owner; its handle."""
        key = self._live(cluster, label)
        if not self._tables.delete_key(key.seq, self._control.now()):
            raise HsmFailure(KEY_NOT_FOUND, f"the key labelled {label} was deleted meanwhile")
        return key.key_handle

    # -- what a cluster user does with the CloudHSM CLI ---------------------------------------

    def list_keys(self, cluster_id: str) -> list[KeyRow]:
        return self._tables.live_keys(cluster_id)

    def remove_key(self, cluster_id: str, label: str | None, handle: int | None) -> KeyRow:
        """`key delete` with a filter on the label or the key reference."""
        for row in self._tables.live_keys(cluster_id):
            if row.label == label or row.key_handle == handle:
                assert row.seq is not None
                if self._tables.delete_key(row.seq, self._control.now()):
                    return row
        which = f"labelled {label}" if handle is None else f"with handle {format_handle(handle)}"
        raise HsmFailure(KEY_NOT_FOUND, f"The cluster {cluster_id} has no key {which}.")
