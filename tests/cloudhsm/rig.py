"""An in-process CloudHSM rig on one database (SQLite or PostgreSQL): the control plane, the admin
operations and the KMS key connector, as one server process builds them. Clusters are built
with the control plane's own operations, the way the CloudHSM v2 API and the admin commands
build them, never by writing rows."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from kmscks.caller import Caller
from kmscks.cloudhsm.admin import CloudHsmAdmin
from kmscks.cloudhsm.admin_cli import _sign_csr
from kmscks.cloudhsm.control import ControlPlane, Owner
from kmscks.cloudhsm.keys import ClusterKeys
from kmscks.config import CloudHsmSettings
from kmscks.connectors.cloudhsm_keys import CloudHsmKeyConnector
from kmscks.service.secrets import Sealer
from kmscks.store.sql import SqlStore

ACCOUNT = "000000000000"
REGION = "us-east-1"
SUBNETS = ("subnet-00000000000000001", "subnet-00000000000000002", "subnet-00000000000000003")


def key_arn(index: int = 1) -> str:
    return f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{index:08x}-1111-4222-8333-444455556666"


class Rig:
    """One server process's CloudHSM objects. Rigs on one database with one master key are
    like several processes of one server."""

    def __init__(self, store: SqlStore, master_key: bytes, cache_size: int = 1024) -> None:
        self.store = store
        self.sealer = Sealer(master_key)
        # Transitions end at once: no waiting in the store tests.
        self.control = ControlPlane(store, CloudHsmSettings(transition_ms=0), self.sealer)
        self.cluster_keys = ClusterKeys(self.control, cache_size)
        self.admin = CloudHsmAdmin(self.control, self.cluster_keys)
        self.kms = CloudHsmKeyConnector(self.cluster_keys)
        self.owner = Owner(ACCOUNT, REGION)

    def admin_call(self, operation: str, **params: Any) -> dict[str, Any]:
        call = getattr(self.admin, operation)
        return dict(
            asyncio.run(
                call(Caller(ACCOUNT, REGION, f"arn:aws:iam::{ACCOUNT}:root", "rig"), params)
            )
        )

    def build(self, zones: tuple[str, ...] = ("a", "b"), kmsuser: bool = True) -> str:
        """An ACTIVE cluster with one HSM per zone letter and (by default) a kmsuser."""
        control = self.control
        cluster = control.create_cluster(self.owner, "hsm2m.medium", list(SUBNETS), None, "FIPS")
        cluster_id = cluster.cluster_id
        control.create_hsm(self.owner, cluster_id, REGION + zones[0], None)
        anchor, signed = _sign_csr(cluster.csr_pem)
        control.initialize_cluster(self.owner, cluster_id, signed, anchor)
        self.admin_call("activate_cluster", ClusterId=cluster_id)
        for letter in zones[1:]:
            control.create_hsm(self.owner, cluster_id, REGION + letter, None)
        if kmsuser:
            self.admin_call("create_kms_user", ClusterId=cluster_id, Password="kmsPswd1")
        return cluster_id

    def add_hsm(self, cluster_id: str, letter: str) -> str:
        """An HSM more; like every change of HSMs, it takes a backup."""
        return self.control.create_hsm(self.owner, cluster_id, REGION + letter, None).hsm_id

    def backups(self, cluster_id: str) -> list[str]:
        return [b.backup_id for b in self.control.backups(self.owner) if b.cluster_id == cluster_id]

    def restore(self, backup_id: str, zones: tuple[str, ...] = ("a", "b")) -> str:
        cluster = self.control.create_cluster(
            self.owner, "hsm2m.medium", list(SUBNETS), backup_id, "FIPS"
        )
        for letter in zones:
            self.add_hsm(cluster.cluster_id, letter)
        return cluster.cluster_id

    def delete_hsms(self, cluster_id: str) -> None:
        for hsm in self.control.hsms_of(self.control.require(self.owner, cluster_id)):
            self.control.delete_hsm(self.owner, cluster_id, hsm.row.hsm_id, None, None)


def new_master_key() -> bytes:
    return os.urandom(32)
