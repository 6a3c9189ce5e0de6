"""A CloudHSM test lab: clients for one server and region, and clusters built the way a user
builds them (the CloudHSM v2 API plus the admin commands), never by writing state directly."""

from __future__ import annotations

import itertools
import string
from dataclasses import dataclass
from typing import Any

from kmscks.cloudhsm.admin_cli import Client, _sign_csr
from tests.helpers.clients import kms_client
from tests.helpers.proxies import wait_for

SUBNETS = ("subnet-00000000000000001", "subnet-00000000000000002", "subnet-00000000000000003")
_regions = itertools.product(string.ascii_lowercase, string.ascii_lowercase, range(10))


def hsm_region() -> str:
    """A fresh region whose availability zones fit CloudHSM's AZ pattern (xx-east-Na)."""
    first, second, digit = next(_regions)
    return f"{first}{second}-east-{digit}"


@dataclass
class Cluster:
    id: str
    trust_anchor: str


class Lab:
    def __init__(self, url: str, region: str) -> None:
        import boto3

        self.region = region
        self.url = url
        self.hsm = boto3.client(
            "cloudhsmv2",
            endpoint_url=url,
            region_name=region,
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )
        self.kms = kms_client(url, region)
        self.admin_client = Client(url, region, "test", "test")

    def admin(self, operation: str, **params: Any) -> dict[str, Any]:
        return self.admin_client.admin(operation, **params)

    def zone(self, letter: str) -> str:
        return f"{self.region}{letter}"

    def cluster(self, cluster_id: str) -> dict[str, Any]:
        found = self.hsm.describe_clusters(Filters={"clusterIds": [cluster_id]})["Clusters"]
        return dict(found[0])

    def wait_state(self, cluster_id: str, state: str) -> dict[str, Any]:
        return wait_for(lambda: (c := self.cluster(cluster_id))["State"] == state and c)

    def wait_hsms(self, cluster_id: str, count: int) -> None:
        wait_for(
            lambda: (
                sum(h["State"] == "ACTIVE" for h in self.cluster(cluster_id)["Hsms"]) == count
                and all(h["State"] == "ACTIVE" for h in self.cluster(cluster_id)["Hsms"])
            )
        )

    def build(
        self,
        hsm_zones: tuple[str, ...] = ("a", "b"),
        subnets: tuple[str, ...] = SUBNETS[:2],
        activate: bool = True,
        kmsuser: str | None = "kmsPswd1",
    ) -> Cluster:
        """A cluster as the CloudHSM guide builds one: create, first HSM, sign the CSR,
        initialize, activate, more HSMs, and the kmsuser."""
        cluster_id = self.hsm.create_cluster(HsmType="hsm2m.medium", SubnetIds=list(subnets))[
            "Cluster"
        ]["ClusterId"]
        self.wait_state(cluster_id, "UNINITIALIZED")
        self.hsm.create_hsm(ClusterId=cluster_id, AvailabilityZone=self.zone(hsm_zones[0]))
        self.wait_hsms(cluster_id, 1)
        csr = self.cluster(cluster_id)["Certificates"]["ClusterCsr"]
        anchor, signed = _sign_csr(csr)
        self.hsm.initialize_cluster(ClusterId=cluster_id, SignedCert=signed, TrustAnchor=anchor)
        self.wait_state(cluster_id, "INITIALIZED")
        if not activate:
            return Cluster(cluster_id, anchor)
        self.admin("ActivateCluster", ClusterId=cluster_id)
        self._add_hsms(cluster_id, hsm_zones[1:])
        if kmsuser:
            self.admin("CreateKmsUser", ClusterId=cluster_id, Password=kmsuser)
        return Cluster(cluster_id, anchor)

    def restore(self, source: Cluster, hsm_zones: tuple[str, ...] = ("a", "b")) -> Cluster:
        """A cluster created from the newest backup of `source` (same certificate and users)."""
        backups = self.hsm.describe_backups(Filters={"clusterIds": [source.id]})["Backups"]
        created = self.hsm.create_cluster(
            HsmType="hsm2m.medium",
            SubnetIds=list(SUBNETS[:2]),
            SourceBackupId=backups[-1]["BackupId"],
        )
        cluster_id = created["Cluster"]["ClusterId"]
        self.wait_state(cluster_id, "ACTIVE")
        self._add_hsms(cluster_id, hsm_zones)
        return Cluster(cluster_id, source.trust_anchor)

    def _add_hsms(self, cluster_id: str, zones: tuple[str, ...]) -> None:
        for letter in zones:
            self.hsm.create_hsm(ClusterId=cluster_id, AvailabilityZone=self.zone(letter))
        self.wait_hsms(cluster_id, len(self.cluster(cluster_id)["Hsms"]))

    def create_store(
        self, cluster: Cluster, name: str = "hsm-store", password: str = "kmsPswd1"
    ) -> str:
        return str(
            self.kms.create_custom_key_store(
                CustomKeyStoreName=name,
                CloudHsmClusterId=cluster.id,
                TrustAnchorCertificate=cluster.trust_anchor,
                KeyStorePassword=password,
            )["CustomKeyStoreId"]
        )

    def store(self, store_id: str) -> dict[str, Any]:
        return dict(
            self.kms.describe_custom_key_stores(CustomKeyStoreId=store_id)["CustomKeyStores"][0]
        )

    def connect(self, store_id: str) -> dict[str, Any]:
        """Connect and wait for the outcome (CONNECTED or FAILED)."""
        self.kms.connect_custom_key_store(CustomKeyStoreId=store_id)
        return wait_for(
            lambda: (
                (entry := self.store(store_id))["ConnectionState"] in ("CONNECTED", "FAILED")
                and entry
            )
        )

    def disconnect(self, store_id: str) -> None:
        self.kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
        wait_for(lambda: self.store(store_id)["ConnectionState"] == "DISCONNECTED")
