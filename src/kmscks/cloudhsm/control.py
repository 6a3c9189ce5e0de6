"""The behaviour of the simulated CloudHSM control plane, shared by the CloudHSM v2 API, the
admin operations and KMS's cluster checks.

cloudhsm layer. Raises ServiceErrors named after CloudHSM's own error shapes. Changes that
check and then write (addresses in a subnet, the HSM limit) run in a store mutation serialized
per region, so concurrent requests on several processes keep the accounting right.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kmscks.cloudhsm import certs, lifecycle
from kmscks.cloudhsm.network import region_subnets
from kmscks.config import CloudHsmSettings, Subnet
from kmscks.errors import ServiceError
from kmscks.store.clusters import BackupRow, ClusterRow, ClusterTables, HsmRow, SubnetState
from kmscks.store.sql import SqlStore

if TYPE_CHECKING:
    from kmscks.service.secrets import Sealer

HSM_TYPES = ("hsm1.medium", "hsm2m.medium")
MAX_HSMS_PER_CLUSTER = 28
_ID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"


def new_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(11))


def invalid_request(message: str) -> ServiceError:
    return ServiceError("CloudHsmInvalidRequestException", message)


def not_found(message: str) -> ServiceError:
    return ServiceError("CloudHsmResourceNotFoundException", message)


@dataclass(frozen=True)
class Owner:
    account_id: str
    region: str


@dataclass(frozen=True)
class LiveHsm:
    row: HsmRow
    state: str


class ControlPlane:
    def __init__(
        self,
        store: SqlStore,
        settings: CloudHsmSettings,
        sealer: Sealer,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self.tables = ClusterTables(store)
        self.settings = settings
        # Key material held by the clusters is stored only sealed under the master key.
        self.sealer = sealer
        self._clock = clock

    @property
    def store(self) -> SqlStore:
        return self._store

    def now(self) -> float:
        return self._clock()

    @property
    def _delay(self) -> float:
        return self.settings.transition_ms / 1000

    # -- reading -----------------------------------------------------------------------------

    def state_of(self, cluster: ClusterRow) -> str:
        return lifecycle.cluster_state(
            cluster.state,
            cluster.state_since,
            cluster.source_backup_id is not None,
            self._clock(),
            self._delay,
        )

    def hsms_of(self, cluster: ClusterRow) -> list[LiveHsm]:
        """The cluster's HSMs that are not deleted, with their effective states."""
        now = self._clock()
        live = []
        for row in self.tables.hsms(cluster.cluster_id):
            state = lifecycle.hsm_state(row.state, row.state_since, now, self._delay)
            if state != lifecycle.DELETED:
                live.append(LiveHsm(row, state))
        return live

    def subnet_mapping(self, cluster: ClusterRow) -> dict[str, str]:
        return dict(json.loads(cluster.subnet_mapping))

    def find(self, owner: Owner, cluster_id: str) -> ClusterRow | None:
        return self.tables.cluster(owner.account_id, owner.region, cluster_id)

    def require(self, owner: Owner, cluster_id: str) -> ClusterRow:
        cluster = self.find(owner, cluster_id)
        if cluster is None or self.state_of(cluster) == lifecycle.DELETED:
            raise not_found(f"The cluster {cluster_id} does not exist.")
        return cluster

    def clusters(self, owner: Owner) -> list[ClusterRow]:
        return self.tables.clusters(owner.account_id, owner.region)

    def backups(self, owner: Owner) -> list[BackupRow]:
        return self.tables.backups(owner.account_id, owner.region)

    def subnets(self, owner: Owner) -> dict[str, Subnet]:
        return region_subnets(self.settings, owner.region)

    def subnet_state(self, owner: Owner, subnet_id: str) -> SubnetState:
        return self.tables.subnet_state(owner.account_id, owner.region, subnet_id)

    def free_addresses(self, owner: Owner, subnet_id: str) -> int:
        subnet = self.subnets(owner).get(subnet_id)
        state = self.subnet_state(owner, subnet_id)
        if subnet is None or state.deleted or state.exhausted:
            return 0
        return max(0, subnet.free_addresses - state.used_addresses)

    def subnet_exists(self, owner: Owner, subnet_id: str) -> bool:
        return subnet_id in self.subnets(owner) and not self.subnet_state(owner, subnet_id).deleted

    # -- CreateCluster -------------------------------------------------------------------

    def create_cluster(
        self,
        owner: Owner,
        hsm_type: str,
        subnet_ids: list[str],
        source_backup: str | None,
        mode: str,
    ) -> ClusterRow:
        if hsm_type not in HSM_TYPES:
            raise invalid_request(
                f"HsmType {hsm_type} is not supported. Supported types: {', '.join(HSM_TYPES)}."
            )
        known = self.subnets(owner)
        mapping: dict[str, str] = {}
        for subnet_id in subnet_ids:
            if not self.subnet_exists(owner, subnet_id):
                raise invalid_request(f"The subnet {subnet_id} does not exist.")
            zone = known[subnet_id].availability_zone
            if zone in mapping:
                raise invalid_request(
                    f"Only one subnet per Availability Zone is allowed; {zone} has two."
                )
            mapping[zone] = subnet_id
        if len({known[s].vpc_id for s in subnet_ids}) > 1:
            raise invalid_request("All subnets must be in the same VPC.")
        cluster_id = new_id("cluster-")
        backup = self._source_backup(owner, source_backup) if source_backup else None
        if backup is not None:
            key_pem, csr_pem = backup.private_key_pem, backup.csr_pem
        else:
            key_pem, csr_pem = certs.new_cluster_key_and_csr(cluster_id)
        now = self._clock()  # after the key: its generation is not part of the transition
        cluster = ClusterRow(
            cluster_id=cluster_id,
            account_id=owner.account_id,
            region=owner.region,
            hsm_type=hsm_type,
            mode=mode,
            state=lifecycle.CREATE_IN_PROGRESS,
            state_since=now,
            create_timestamp=now,
            subnet_mapping=json.dumps(mapping, sort_keys=True),
            vpc_id=known[subnet_ids[0]].vpc_id,
            security_group="sg-" + os.urandom(9).hex()[:17],
            security_group_ok=1,
            network_ok=1,
            source_backup_id=backup.backup_id if backup else None,
            lineage=backup.lineage if backup else cluster_id,
            private_key_pem=key_pem,
            csr_pem=csr_pem,
            cluster_certificate=backup.cluster_certificate if backup else None,
            trust_anchor=backup.trust_anchor if backup else None,
            kmsuser_salt=backup.kmsuser_salt if backup else None,
            kmsuser_hash=backup.kmsuser_hash if backup else None,
        )
        if backup is None:
            self.tables.insert_cluster(cluster)
            return cluster
        # A restored cluster holds the users and the keys its backup holds: both or neither.
        with self._store.mutation(owner.region):
            self.tables.insert_cluster(cluster)
            self.tables.copy_keys(backup.cluster_id, backup.create_timestamp, cluster_id)
        return cluster

    def _source_backup(self, owner: Owner, reference: str) -> BackupRow:
        backup_id = reference.rsplit("/", 1)[-1]
        for backup in self.backups(owner):
            if backup.backup_id == backup_id:
                return backup
        raise not_found(f"The backup {backup_id} does not exist.")

    # -- InitializeCluster ---------------------------------------------------------------

    def initialize_cluster(
        self, owner: Owner, cluster_id: str, signed_cert: str, trust_anchor: str
    ) -> ClusterRow:
        cluster = self.require(owner, cluster_id)
        state = self.state_of(cluster)
        if state != lifecycle.UNINITIALIZED:
            raise invalid_request(
                f"The cluster {cluster_id} is in state {state}; only an UNINITIALIZED cluster"
                " can be initialized."
            )
        if not any(hsm.state == lifecycle.ACTIVE for hsm in self.hsms_of(cluster)):
            raise invalid_request(
                f"The cluster {cluster_id} has no active HSM, so it has no CSR to sign yet."
            )
        problem = certs.initialization_problem(cluster.csr_pem, signed_cert, trust_anchor)
        if problem:
            raise invalid_request(problem)
        changes = {
            "state": lifecycle.INITIALIZE_IN_PROGRESS,
            "state_since": self._clock(),
            "cluster_certificate": signed_cert,
            "trust_anchor": trust_anchor,
        }
        self.tables.update_cluster(cluster_id, changes)
        for name, value in changes.items():
            setattr(cluster, name, value)
        self.back_up(cluster)
        return cluster

    def back_up(self, cluster: ClusterRow) -> None:
        """A backup of an initialized cluster, users included (it keeps the lineage).

        CloudHSM backs clusters up periodically; here a backup is taken at initialization and at
        each change of HSMs or of the kmsuser, so a restore always has the latest users. The
        keys a backup holds are the cluster's keys at the backup's time (`copy_keys` on
        restore), so a backup costs no copy of the keys; creating a key takes no backup.
        """
        self.tables.insert_backup(
            BackupRow(
                backup_id=new_id("backup-"),
                account_id=cluster.account_id,
                region=cluster.region,
                cluster_id=cluster.cluster_id,
                lineage=cluster.lineage,
                hsm_type=cluster.hsm_type,
                mode=cluster.mode,
                create_timestamp=self._clock(),
                private_key_pem=cluster.private_key_pem,
                csr_pem=cluster.csr_pem,
                cluster_certificate=cluster.cluster_certificate,
                trust_anchor=cluster.trust_anchor,
                kmsuser_salt=cluster.kmsuser_salt,
                kmsuser_hash=cluster.kmsuser_hash,
            )
        )

    # -- HSMs ----------------------------------------------------------------------------

    def create_hsm(
        self, owner: Owner, cluster_id: str, zone: str, ip_address: str | None
    ) -> HsmRow:
        with self._store.mutation(owner.region):
            cluster = self.require(owner, cluster_id)
            state = self.state_of(cluster)
            if state not in (lifecycle.UNINITIALIZED, lifecycle.INITIALIZED, lifecycle.ACTIVE):
                raise invalid_request(f"HSMs cannot be created while the cluster is {state}.")
            live = self.hsms_of(cluster)
            if state == lifecycle.UNINITIALIZED and live:
                raise invalid_request("An uninitialized cluster can have only one HSM.")
            if len(live) >= MAX_HSMS_PER_CLUSTER:
                raise ServiceError(
                    "CloudHsmResourceLimitExceededException",
                    f"A cluster can have at most {MAX_HSMS_PER_CLUSTER} HSMs.",
                )
            subnet_id = self.subnet_mapping(cluster).get(zone)
            if subnet_id is None:
                raise invalid_request(f"The cluster has no subnet in Availability Zone {zone}.")
            if not self.subnet_exists(owner, subnet_id):
                raise invalid_request(f"The subnet {subnet_id} no longer exists.")
            if self.free_addresses(owner, subnet_id) <= 0:
                raise invalid_request(f"The subnet {subnet_id} has no free IP addresses.")
            address = self._address(owner, subnet_id, ip_address)
            hsm = HsmRow(
                hsm_id=new_id("hsm-"),
                cluster_id=cluster_id,
                availability_zone=zone,
                subnet_id=subnet_id,
                eni_id="eni-" + os.urandom(9).hex()[:17],
                eni_ip=address,
                hsm_type=cluster.hsm_type,
                state=lifecycle.CREATE_IN_PROGRESS,
                state_since=self._clock(),
            )
            self.tables.insert_hsm(hsm)
            self._use_addresses(owner, subnet_id, +1)
            if state != lifecycle.UNINITIALIZED:
                self.back_up(cluster)
        return hsm

    def _address(self, owner: Owner, subnet_id: str, requested: str | None) -> str:
        index = list(self.subnets(owner)).index(subnet_id) + 1
        taken = {
            hsm.row.eni_ip
            for cluster in self.clusters(owner)
            for hsm in self.hsms_of(cluster)
            if hsm.row.subnet_id == subnet_id
        }
        prefix = f"10.0.{index}."
        if requested is not None:
            if not requested.startswith(prefix) or requested in taken:
                raise invalid_request(
                    f"The IP address {requested} is not free in subnet {subnet_id} ({prefix}0/24)."
                )
            return requested
        host = 4  # AWS reserves the first four addresses of a subnet
        while f"{prefix}{host}" in taken:
            host += 1
        return f"{prefix}{host}"

    def _use_addresses(self, owner: Owner, subnet_id: str, delta: int) -> None:
        state = self.subnet_state(owner, subnet_id)
        state.used_addresses = max(0, state.used_addresses + delta)
        self.tables.save_subnet_state(owner.account_id, owner.region, subnet_id, state)

    def delete_hsm(
        self,
        owner: Owner,
        cluster_id: str,
        hsm_id: str | None,
        eni_id: str | None,
        eni_ip: str | None,
    ) -> str:
        if [hsm_id, eni_id, eni_ip].count(None) != 2:
            raise invalid_request("Specify exactly one of HsmId, EniId and EniIp.")
        with self._store.mutation(owner.region):
            cluster = self.require(owner, cluster_id)
            for hsm in self.hsms_of(cluster):
                row = hsm.row
                if row.hsm_id == hsm_id or row.eni_id == eni_id or row.eni_ip == eni_ip:
                    if hsm.state != lifecycle.DELETE_IN_PROGRESS:
                        self.tables.update_hsm(
                            row.hsm_id,
                            {"state": lifecycle.DELETE_IN_PROGRESS, "state_since": self._clock()},
                        )
                        self._use_addresses(owner, row.subnet_id, -1)
                    return row.hsm_id
        raise not_found(f"The HSM does not exist in cluster {cluster_id}.")

    def delete_cluster(self, owner: Owner, cluster_id: str) -> ClusterRow:
        cluster = self.require(owner, cluster_id)
        if self.hsms_of(cluster):
            raise invalid_request(
                f"The cluster {cluster_id} still has HSMs; delete them before the cluster."
            )
        if self.state_of(cluster) != lifecycle.DELETE_IN_PROGRESS:
            cluster.state = lifecycle.DELETE_IN_PROGRESS
            cluster.state_since = self._clock()
            self.tables.update_cluster(
                cluster_id, {"state": cluster.state, "state_since": cluster.state_since}
            )
        return cluster
