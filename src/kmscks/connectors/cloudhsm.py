"""The KMS side of a CloudHSM key store: the cluster checks of Create, Update and Connect.

connectors layer. `ClusterChecks` is the interface the service calls. `NoClusters` is the
truthful answer of a server on which no CloudHSM cluster exists: every cluster id is unknown
(CloudHsmClusterNotFoundException), as it would be on AWS in an account without clusters.
"""

from __future__ import annotations

from typing import Protocol

from kmscks.errors import ServiceError


class ClusterChecks(Protocol):
    def check_create(
        self, account_id: str, region: str, cluster_id: str, trust_anchor: str
    ) -> None:
        """Raise the CloudHSM exception that Create answers for this cluster, if any."""

    def check_update(
        self, account_id: str, region: str, old_cluster: str, new_cluster: str
    ) -> None:
        """Raise the CloudHSM exception that Update answers for a cluster change, if any."""

    def check_connect(self, account_id: str, region: str, cluster_id: str) -> None:
        """Raise the exception that Connect answers synchronously, if any."""

    def connect_error_code(
        self, account_id: str, region: str, cluster_id: str, password: str
    ) -> str | None:
        """The ConnectionErrorCode a connection attempt ends with, or None when it connects."""


def _not_found(cluster_id: str) -> ServiceError:
    return ServiceError(
        "CloudHsmClusterNotFoundException",
        f"AWS KMS cannot find the CloudHSM cluster with the specified cluster ID {cluster_id}.",
    )


class NoClusters:
    """A server without simulated CloudHSM clusters."""

    def check_create(
        self, account_id: str, region: str, cluster_id: str, trust_anchor: str
    ) -> None:
        raise _not_found(cluster_id)

    def check_update(
        self, account_id: str, region: str, old_cluster: str, new_cluster: str
    ) -> None:
        raise _not_found(new_cluster)

    def check_connect(self, account_id: str, region: str, cluster_id: str) -> None:
        return None

    def connect_error_code(
        self, account_id: str, region: str, cluster_id: str, password: str
    ) -> str | None:
        return "CLUSTER_NOT_FOUND"
