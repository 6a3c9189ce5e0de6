"""The CloudHSM v2 operations that cks serves, as botocore's `cloudhsmv2` model names them.

cloudhsm layer. One coroutine per operation, registered with @serves (kmscks.registry) and
declared in CLOUDHSM_OPERATIONS, taking the caller and the validated members and returning the
response members; the api layer does the wire. The model's other operations are answered with
UnknownOperationException.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from kmscks.caller import Caller
from kmscks.cloudhsm import lifecycle
from kmscks.cloudhsm.control import ControlPlane, Owner, invalid_request
from kmscks.markers import BadMarker, MarkerCodec
from kmscks.registry import serves
from kmscks.store.clusters import BackupRow, ClusterRow, HsmRow

Row = TypeVar("Row", ClusterRow, BackupRow)

CLOUDHSM_OPERATIONS: tuple[str, ...] = (
    "CreateCluster",
    "DescribeClusters",
    "InitializeCluster",
    "CreateHsm",
    "DeleteHsm",
    "DeleteCluster",
    "DescribeBackups",
)

_CLUSTER_FILTERS = ("clusterIds", "states", "vpcIds")
_BACKUP_FILTERS = ("backupIds", "sourceBackupIds", "clusterIds", "states", "neverExpires")


class CloudHsmV2:
    def __init__(self, control: ControlPlane, tokens: MarkerCodec) -> None:
        self._control = control
        self._tokens = tokens

    # -- views ---------------------------------------------------------------------------

    def cluster_view(self, cluster: ClusterRow) -> dict[str, Any]:
        state = self._control.state_of(cluster)
        hsms = [] if state == lifecycle.DELETED else self._control.hsms_of(cluster)
        certificates: dict[str, str] = {}
        if state == lifecycle.UNINITIALIZED and any(h.state == lifecycle.ACTIVE for h in hsms):
            certificates["ClusterCsr"] = cluster.csr_pem
        if cluster.cluster_certificate:
            certificates["ClusterCertificate"] = cluster.cluster_certificate
        return {
            "BackupPolicy": "DEFAULT",
            "BackupRetentionPolicy": {"Type": "DAYS", "Value": "90"},
            "ClusterId": cluster.cluster_id,
            "CreateTimestamp": cluster.create_timestamp,
            "Hsms": [self.hsm_view(hsm.row, hsm.state) for hsm in hsms],
            "HsmType": cluster.hsm_type,
            "SecurityGroup": cluster.security_group,
            "SourceBackupId": cluster.source_backup_id,
            "State": state,
            "SubnetMapping": self._control.subnet_mapping(cluster),
            "VpcId": cluster.vpc_id,
            "NetworkType": "IPV4",
            "Certificates": certificates,
            "TagList": [],
            "Mode": cluster.mode,
        }

    @staticmethod
    def hsm_view(hsm: HsmRow, state: str) -> dict[str, Any]:
        return {
            "AvailabilityZone": hsm.availability_zone,
            "ClusterId": hsm.cluster_id,
            "SubnetId": hsm.subnet_id,
            "EniId": hsm.eni_id,
            "EniIp": hsm.eni_ip,
            "HsmId": hsm.hsm_id,
            "HsmType": hsm.hsm_type,
            "State": state,
        }

    @staticmethod
    def backup_view(backup: BackupRow) -> dict[str, Any]:
        return {
            "BackupId": backup.backup_id,
            "BackupArn": f"arn:aws:cloudhsm:{backup.region}:{backup.account_id}:backup/"
            f"{backup.backup_id}",
            "BackupState": "READY",
            "ClusterId": backup.cluster_id,
            "CreateTimestamp": backup.create_timestamp,
            "NeverExpires": False,
            "TagList": [],
            "HsmType": backup.hsm_type,
            "Mode": backup.mode,
        }

    # -- pagination ----------------------------------------------------------------------

    def _page(
        self,
        caller: Caller,
        rows: Sequence[Row],
        params: dict[str, Any],
        default_size: int,
        view: Callable[[Row], dict[str, Any]],
        key: str,
        descending: bool = False,
    ) -> dict[str, Any]:
        after = 0
        if "NextToken" in params:
            try:
                after = self._tokens.decode(params["NextToken"], caller.account_id, caller.region)
            except BadMarker:
                raise invalid_request("The NextToken is not valid.")
        size = params.get("MaxResults", default_size)
        if descending:
            remaining = [row for row in reversed(rows) if not after or (row.seq or 0) < after]
        else:
            remaining = [row for row in rows if (row.seq or 0) > after]
        page = remaining[:size]
        result: dict[str, Any] = {key: [view(row) for row in page]}
        if len(remaining) > size:
            result["NextToken"] = self._tokens.encode(
                page[-1].seq or 0, caller.account_id, caller.region
            )
        return result

    @staticmethod
    def _filters(params: dict[str, Any], allowed: tuple[str, ...]) -> dict[str, list[str]]:
        filters: dict[str, list[str]] = params.get("Filters", {})
        unknown = sorted(set(filters) - set(allowed))
        if unknown:
            raise invalid_request(
                f"Unsupported filter {unknown[0]}; supported filters: {', '.join(allowed)}."
            )
        return filters

    # -- operations -------------------------------------------------------------------------

    @serves("CreateCluster")
    async def create_cluster(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        cluster = self._control.create_cluster(
            Owner(caller.account_id, caller.region),
            params["HsmType"],
            params["SubnetIds"],
            params.get("SourceBackupId"),
            params.get("Mode", "FIPS"),
        )
        return {"Cluster": self.cluster_view(cluster)}

    @serves("DescribeClusters")
    async def describe_clusters(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        filters = self._filters(params, _CLUSTER_FILTERS)
        clusters = [
            cluster
            for cluster in self._control.clusters(Owner(caller.account_id, caller.region))
            if ("clusterIds" not in filters or cluster.cluster_id in filters["clusterIds"])
            and ("vpcIds" not in filters or cluster.vpc_id in filters["vpcIds"])
            and ("states" not in filters or self._control.state_of(cluster) in filters["states"])
        ]
        return self._page(caller, clusters, params, 25, self.cluster_view, "Clusters")

    @serves("InitializeCluster")
    async def initialize_cluster(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        cluster = self._control.initialize_cluster(
            Owner(caller.account_id, caller.region),
            params["ClusterId"],
            params["SignedCert"],
            params["TrustAnchor"],
        )
        return {
            "State": self._control.state_of(cluster),
            "StateMessage": "Cluster is initializing.",
        }

    @serves("CreateHsm")
    async def create_hsm(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        owner = Owner(caller.account_id, caller.region)
        hsm = self._control.create_hsm(
            owner, params["ClusterId"], params["AvailabilityZone"], params.get("IpAddress")
        )
        return {"Hsm": self.hsm_view(hsm, hsm.state)}

    @serves("DeleteHsm")
    async def delete_hsm(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        hsm_id = self._control.delete_hsm(
            Owner(caller.account_id, caller.region),
            params["ClusterId"],
            params.get("HsmId"),
            params.get("EniId"),
            params.get("EniIp"),
        )
        return {"HsmId": hsm_id}

    @serves("DeleteCluster")
    async def delete_cluster(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        cluster = self._control.delete_cluster(
            Owner(caller.account_id, caller.region), params["ClusterId"]
        )
        return {"Cluster": self.cluster_view(cluster)}

    @serves("DescribeBackups")
    async def describe_backups(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        filters = self._filters(params, _BACKUP_FILTERS)
        backups = [
            backup
            for backup in self._control.backups(Owner(caller.account_id, caller.region))
            if ("backupIds" not in filters or backup.backup_id in filters["backupIds"])
            and ("clusterIds" not in filters or backup.cluster_id in filters["clusterIds"])
            and ("states" not in filters or "READY" in filters["states"])
            and ("sourceBackupIds" not in filters)
            and ("neverExpires" not in filters or "false" in filters["neverExpires"])
        ]
        descending = params.get("SortAscending") is False
        return self._page(caller, backups, params, 50, self.backup_view, "Backups", descending)
