"""Persistence of the simulated CloudHSM control plane: clusters, HSMs, backups, subnet state,
and the keys the clusters hold.

store layer. Rows are plain dataclasses; queries share the SqlStore's connection, so they can
run inside the same transaction as a custom key store change (a Connect that rotates the
kmsuser password writes both or neither).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from kmscks.store.changes import ReadCache
from kmscks.store.sql import SqlStore


@dataclass(slots=True)
class ClusterRow:
    cluster_id: str
    account_id: str
    region: str
    hsm_type: str
    mode: str
    state: str
    state_since: float
    create_timestamp: float
    subnet_mapping: str  # JSON object: availability zone -> subnet id
    vpc_id: str
    security_group: str
    security_group_ok: int
    network_ok: int
    source_backup_id: str | None
    lineage: str  # shared by a cluster, its backups and clusters restored from them
    private_key_pem: str
    csr_pem: str
    cluster_certificate: str | None = None
    trust_anchor: str | None = None
    kmsuser_salt: str | None = None
    kmsuser_hash: str | None = None  # None: there is no kmsuser
    kmsuser_locked: int = 0
    kmsuser_logged_in: int = 0
    kmsuser_failures: int = 0
    sessions_exhausted: int = 0  # simulated overload: no free PKCS#11 session
    seq: int | None = None


@dataclass(slots=True)
class HsmRow:
    hsm_id: str
    cluster_id: str
    availability_zone: str
    subnet_id: str
    eni_id: str
    eni_ip: str
    hsm_type: str
    state: str
    state_since: float
    seq: int | None = None


@dataclass(slots=True)
class BackupRow:
    backup_id: str
    account_id: str
    region: str
    cluster_id: str
    lineage: str
    hsm_type: str
    mode: str
    create_timestamp: float
    private_key_pem: str
    csr_pem: str
    cluster_certificate: str | None
    trust_anchor: str | None
    kmsuser_salt: str | None
    kmsuser_hash: str | None
    seq: int | None = None


@dataclass(slots=True)
class KeyRow:
    """A key held by a cluster. The material is only ever stored sealed under the master key.

    A cluster's keys stay as rows after deletion (`deleted_at`), so that a backup, which holds
    the keys that existed when it was taken, can still be restored with them.
    """

    cluster_id: str
    key_handle: int
    label: str
    owner: str
    material_sealed: str
    created_at: float
    deleted_at: float | None = None
    seq: int | None = None


@dataclass(frozen=True, slots=True)
class LiveKey:
    """What a cryptographic call needs of a key: its row's identity and sealed material."""

    seq: int
    key_handle: int
    material_sealed: str


@dataclass(frozen=True, slots=True)
class ClusterAccess:
    """The columns that decide whether KMS can use a cluster, read without its certificates."""

    state: str
    state_since: float
    restored: bool
    network_ok: bool
    security_group_ok: bool
    has_kmsuser: bool
    sessions_exhausted: bool


@dataclass(slots=True)
class SubnetState:
    deleted: bool = False
    used_addresses: int = 0
    exhausted: bool = False


def _columns(row_type: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(row_type))


# A cluster's access columns, its HSMs as (zone, stored state, since), and a live key.
Access = tuple[ClusterAccess | None, tuple[tuple[str, str, float], ...], LiveKey | None]
ACCESS_CACHE_SIZE = 1024


class ClusterTables:
    """Queries over the CloudHSM tables, on a store's connection."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store
        self._access: ReadCache[tuple[str, str, str, str | None], Access] = ReadCache(
            store.cache_token, ACCESS_CACHE_SIZE
        )

    def _insert(self, table: str, row: Any) -> None:
        columns = [name for name in _columns(type(row)) if name != "seq"]
        cursor = self._store._execute(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES"
            f" ({', '.join('?' for _ in columns)}) RETURNING seq",
            [getattr(row, name) for name in columns],
        )
        row.seq = int(cursor.fetchone()[0])

    def _select(self, row_type: type, table: str, where: str, params: Sequence[Any]) -> list[Any]:
        columns = _columns(row_type)
        rows = self._store._execute(
            f"SELECT {', '.join(columns)} FROM {table} WHERE {where} ORDER BY seq", params
        ).fetchall()
        return [row_type(*row) for row in rows]

    def _update(self, table: str, key: str, value: str, changes: dict[str, Any]) -> None:
        assignments = ", ".join(f"{name} = ?" for name in changes)
        self._store._execute(
            f"UPDATE {table} SET {assignments} WHERE {key} = ?", [*changes.values(), value]
        )

    # -- clusters ------------------------------------------------------------------------

    def insert_cluster(self, row: ClusterRow) -> None:
        self._insert("cloudhsm_clusters", row)

    def cluster(self, account_id: str, region: str, cluster_id: str) -> ClusterRow | None:
        found = self._select(
            ClusterRow,
            "cloudhsm_clusters",
            "cluster_id = ? AND account_id = ? AND region = ?",
            (cluster_id, account_id, region),
        )
        return found[0] if found else None

    def clusters(self, account_id: str, region: str) -> list[ClusterRow]:
        return self._select(
            ClusterRow, "cloudhsm_clusters", "account_id = ? AND region = ?", (account_id, region)
        )

    def update_cluster(self, cluster_id: str, changes: dict[str, Any]) -> None:
        self._update("cloudhsm_clusters", "cluster_id", cluster_id, changes)

    # -- HSMs ------------------------------------------------------------------------------

    def insert_hsm(self, row: HsmRow) -> None:
        self._insert("cloudhsm_hsms", row)

    def hsms(self, cluster_id: str) -> list[HsmRow]:
        return self._select(HsmRow, "cloudhsm_hsms", "cluster_id = ?", (cluster_id,))

    def update_hsm(self, hsm_id: str, changes: dict[str, Any]) -> None:
        self._update("cloudhsm_hsms", "hsm_id", hsm_id, changes)

    # -- backups ---------------------------------------------------------------------------

    def insert_backup(self, row: BackupRow) -> None:
        self._insert("cloudhsm_backups", row)

    def backups(self, account_id: str, region: str) -> list[BackupRow]:
        return self._select(
            BackupRow, "cloudhsm_backups", "account_id = ? AND region = ?", (account_id, region)
        )

    # -- keys ----------------------------------------------------------------------------------

    def cluster_access(
        self, account_id: str, region: str, cluster_id: str, label: str | None = None
    ) -> Access:
        """What decides whether KMS can use a cluster and the key labelled `label` in it, in
        one statement (one round trip on PostgreSQL, on every cryptographic call): the
        cluster's access columns (None if there is no such cluster), (zone, stored state,
        since) of each HSM row, and the live key with that label. The rows are kept until
        any process changes the database (SQLite, store/changes.py); the states that follow
        from the time (a transition's end) are the caller's to work out from them."""
        found = self._access.get(
            (account_id, region, cluster_id, label),
            lambda: self._read_access(account_id, region, cluster_id, label),
        )
        assert found is not None  # a missing cluster is an answer too
        return found

    def _read_access(
        self, account_id: str, region: str, cluster_id: str, label: str | None
    ) -> Access:
        rows = self._store._execute(
            "SELECT c.state, c.state_since, c.source_backup_id IS NOT NULL, c.network_ok,"
            " c.security_group_ok, c.kmsuser_hash IS NOT NULL, c.sessions_exhausted,"
            " h.availability_zone, h.state, h.state_since, k.seq, k.key_handle, k.material_sealed"
            " FROM cloudhsm_clusters c"
            " LEFT JOIN cloudhsm_hsms h ON h.cluster_id = c.cluster_id"
            " LEFT JOIN cloudhsm_keys k ON k.cluster_id = c.cluster_id AND k.label = ?"
            " AND k.deleted_at IS NULL"
            " WHERE c.cluster_id = ? AND c.account_id = ? AND c.region = ?",
            (label, cluster_id, account_id, region),
        ).fetchall()
        if not rows:
            return None, (), None
        first = rows[0]
        access = ClusterAccess(
            str(first[0]),
            float(first[1]),
            bool(first[2]),
            bool(first[3]),
            bool(first[4]),
            bool(first[5]),
            bool(first[6]),
        )
        hsms = tuple((str(r[7]), str(r[8]), float(r[9])) for r in rows if r[7] is not None)
        key = (
            LiveKey(int(first[10]), int(first[11]), str(first[12]))
            if first[10] is not None
            else None
        )
        return access, hsms, key

    def insert_key(self, row: KeyRow) -> None:
        self._insert("cloudhsm_keys", row)

    def live_key(self, cluster_id: str, label: str) -> LiveKey | None:
        row = self._store._execute(
            "SELECT seq, key_handle, material_sealed FROM cloudhsm_keys"
            " WHERE cluster_id = ? AND label = ? AND deleted_at IS NULL",
            (cluster_id, label),
        ).fetchone()
        return LiveKey(int(row[0]), int(row[1]), str(row[2])) if row else None

    def live_keys(self, cluster_id: str) -> list[KeyRow]:
        return self._select(
            KeyRow, "cloudhsm_keys", "cluster_id = ? AND deleted_at IS NULL", (cluster_id,)
        )

    def next_key_handle(self, cluster_id: str) -> int:
        row = self._store._execute(
            "SELECT MAX(key_handle) FROM cloudhsm_keys WHERE cluster_id = ?", (cluster_id,)
        ).fetchone()
        return int(row[0] or 0) + 1

    def delete_key(self, seq: int, when: float) -> bool:
        cursor = self._store._execute(
            "UPDATE cloudhsm_keys SET deleted_at = ? WHERE seq = ? AND deleted_at IS NULL",
            (when, seq),
        )
        return bool(cursor.rowcount == 1)

    def copy_keys(self, source_cluster: str, as_of: float, target_cluster: str) -> None:
        """Give `target_cluster` the keys `source_cluster` held at time `as_of` (a restore)."""
        self._store._execute(
            "INSERT INTO cloudhsm_keys"
            " (cluster_id, key_handle, label, owner, material_sealed, created_at)"
            " SELECT ?, key_handle, label, owner, material_sealed, created_at FROM cloudhsm_keys"
            " WHERE cluster_id = ? AND created_at <= ? AND (deleted_at IS NULL OR deleted_at > ?)"
            " ORDER BY seq",
            (target_cluster, source_cluster, as_of, as_of),
        )

    # -- subnets ---------------------------------------------------------------------------

    def subnet_state(self, account_id: str, region: str, subnet_id: str) -> SubnetState:
        row = self._store._execute(
            "SELECT deleted, used_addresses, exhausted FROM cloudhsm_subnets"
            " WHERE account_id = ? AND region = ? AND subnet_id = ?",
            (account_id, region, subnet_id),
        ).fetchone()
        if row is None:
            return SubnetState()
        return SubnetState(bool(row[0]), int(row[1]), bool(row[2]))

    def save_subnet_state(
        self, account_id: str, region: str, subnet_id: str, state: SubnetState
    ) -> None:
        self._store._execute(
            "INSERT INTO cloudhsm_subnets"
            " (account_id, region, subnet_id, deleted, used_addresses, exhausted)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (account_id, region, subnet_id) DO UPDATE"
            " SET deleted = excluded.deleted, used_addresses = excluded.used_addresses,"
            " exhausted = excluded.exhausted",
            (
                account_id,
                region,
                subnet_id,
                int(state.deleted),
                state.used_addresses,
                int(state.exhausted),
            ),
        )
