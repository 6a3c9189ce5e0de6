"""The KMS side of a CloudHSM key store: the cluster checks of Create, Update and Connect.

connectors layer. It reaches the simulated CloudHSM control plane (kmscks.cloudhsm) the way
KMS reaches a real cluster, and maps what it finds to the exception Create/Update/Connect
answer or the ConnectionErrorCode a connection ends with (contract §4, §6 rules 9-13).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kmscks.cloudhsm import certs, kmsuser, lifecycle
from kmscks.cloudhsm.control import ControlPlane, Owner
from kmscks.errors import ServiceError
from kmscks.store.clusters import ClusterRow


@dataclass(frozen=True)
class ConnectAttempt:
    """How a connection attempt ended; `record` writes its traces in the finishing transaction."""

    error_code: str | None
    new_password: str | None = None
    record: Callable[[Any], None] | None = None
    cause: str = ""  # what was found, in words, for explain-connection-error (no secret)


def _not_found(cluster_id: str) -> ServiceError:
    return ServiceError(
        "CloudHsmClusterNotFoundException",
        f"AWS KMS cannot find the CloudHSM cluster with the specified cluster ID {cluster_id}.",
    )


def _not_active(cluster_id: str, state: str) -> ServiceError:
    return ServiceError(
        "CloudHsmClusterNotActiveException",
        f"The CloudHSM cluster {cluster_id} is not active (its state is {state}). Initialize"
        " and activate the cluster and try again.",
    )


def _invalid_configuration(cluster_id: str, why: str) -> ServiceError:
    return ServiceError(
        "CloudHsmClusterInvalidConfigurationException",
        f"The CloudHSM cluster {cluster_id} does not meet the configuration requirements for a"
        f" custom key store: {why}",
    )


class ClusterChecks:
    def __init__(self, control: ControlPlane) -> None:
        self._control = control

    def _cluster(self, account_id: str, region: str, cluster_id: str) -> ClusterRow | None:
        cluster = self._control.find(Owner(account_id, region), cluster_id)
        if cluster is None or self._control.state_of(cluster) == lifecycle.DELETED:
            return None
        return cluster

    def _usable(self, account_id: str, region: str, cluster_id: str) -> ClusterRow:
        """Found, ACTIVE, two active HSMs in different AZs, subnets in two AZs, security group."""
        cluster = self._cluster(account_id, region, cluster_id)
        if cluster is None:
            raise _not_found(cluster_id)
        state = self._control.state_of(cluster)
        if state != lifecycle.ACTIVE:
            raise _not_active(cluster_id, state)
        zones = {
            hsm.row.availability_zone
            for hsm in self._control.hsms_of(cluster)
            if hsm.state == lifecycle.ACTIVE
        }
        if len(zones) < 2:
            raise _invalid_configuration(
                cluster_id, "it needs at least two active HSMs in different Availability Zones."
            )
        if len(self._control.subnet_mapping(cluster)) < 2:
            raise _invalid_configuration(
                cluster_id, "it needs private subnets in at least two Availability Zones."
            )
        if not cluster.security_group_ok:
            raise _invalid_configuration(
                cluster_id, "its security group does not allow TCP ports 2223-2225."
            )
        return cluster

    def check_create(
        self, account_id: str, region: str, cluster_id: str, trust_anchor: str
    ) -> None:
        cluster = self._usable(account_id, region, cluster_id)
        if not cluster.trust_anchor or not certs.same_certificate(
            trust_anchor, cluster.trust_anchor
        ):
            raise ServiceError(
                "IncorrectTrustAnchorException",
                "The trust anchor certificate in the request is not the trust anchor"
                f" certificate of the CloudHSM cluster {cluster_id}.",
            )

    def related_cluster_ids(self, account_id: str, region: str, cluster_id: str) -> list[str]:
        """The cluster and every cluster that shares its backup history."""
        owner = Owner(account_id, region)
        cluster = self._control.find(owner, cluster_id)
        if cluster is None:
            return [cluster_id]
        return [c.cluster_id for c in self._control.clusters(owner) if c.lineage == cluster.lineage]

    def check_update(
        self, account_id: str, region: str, old_cluster: str, new_cluster: str
    ) -> None:
        candidate = self._cluster(account_id, region, new_cluster)
        if candidate is None:
            raise _not_found(new_cluster)
        if new_cluster not in self.related_cluster_ids(account_id, region, old_cluster):
            raise ServiceError(
                "CloudHsmClusterNotRelatedException",
                f"The CloudHSM cluster {new_cluster} does not share a backup history with the"
                f" custom key store's cluster {old_cluster}.",
            )
        self._usable(account_id, region, new_cluster)

    def check_connect(self, account_id: str, region: str, cluster_id: str) -> None:
        """Connect's synchronous checks; a missing cluster is found asynchronously."""
        cluster = self._cluster(account_id, region, cluster_id)
        if cluster is None:
            return
        state = self._control.state_of(cluster)
        if state != lifecycle.ACTIVE:
            raise _not_active(cluster_id, state)
        if not cluster.security_group_ok:
            raise _invalid_configuration(
                cluster_id, "its security group does not allow TCP ports 2223-2225."
            )

    def connect(
        self, account_id: str, region: str, cluster_id: str, password: str
    ) -> ConnectAttempt:
        """Connect as KMS does: reach the cluster, log in as kmsuser, rotate its password."""
        owner = Owner(account_id, region)
        cluster = self._cluster(account_id, region, cluster_id)
        if cluster is None:
            return ConnectAttempt(
                "CLUSTER_NOT_FOUND", cause=f"cluster {cluster_id} does not exist (deleted?)"
            )
        state = self._control.state_of(cluster)
        if state != lifecycle.ACTIVE:
            return ConnectAttempt(
                "CLUSTER_NOT_FOUND", cause=f"cluster {cluster_id} is {state}, not ACTIVE"
            )
        subnets = list(self._control.subnet_mapping(cluster).values())
        gone = [subnet for subnet in subnets if not self._control.subnet_exists(owner, subnet)]
        if gone:
            return ConnectAttempt(
                "SUBNET_NOT_FOUND", cause=f"subnet {', '.join(gone)} of the cluster was deleted"
            )
        if not any(hsm.state == lifecycle.ACTIVE for hsm in self._control.hsms_of(cluster)):
            return ConnectAttempt(
                "INSUFFICIENT_CLOUDHSM_HSMS", cause=f"cluster {cluster_id} has no ACTIVE HSM"
            )
        # KMS needs one free address in each of the cluster's subnets for its interfaces.
        full = [s for s in subnets if self._control.free_addresses(owner, s) < 1]
        if full:
            return ConnectAttempt(
                "INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET",
                cause=f"subnet {', '.join(full)} has no free IP address for KMS",
            )
        if not cluster.network_ok or not cluster.security_group_ok:
            why = (
                "the network between KMS and the cluster is blocked"
                if not cluster.network_ok
                else f"security group {cluster.security_group} does not allow TCP 2223-2225"
            )
            return ConnectAttempt("NETWORK_ERRORS", cause=why)
        if cluster.kmsuser_hash is None or cluster.kmsuser_salt is None:
            return ConnectAttempt(
                "USER_NOT_FOUND", cause=f"cluster {cluster_id} has no kmsuser crypto user"
            )
        if cluster.kmsuser_locked:
            return ConnectAttempt(
                "USER_LOCKED_OUT", cause=f"the kmsuser of cluster {cluster_id} is locked out"
            )
        if cluster.kmsuser_logged_in:
            return ConnectAttempt(
                "USER_LOGGED_IN",
                cause=f"the kmsuser is logged in to cluster {cluster_id}; log it out first",
            )
        tables = self._control.tables
        if not kmsuser.password_matches(password, cluster.kmsuser_salt, cluster.kmsuser_hash):
            failures = cluster.kmsuser_failures + 1
            limit = self._control.settings.kmsuser_max_failed_logins
            locked = int(failures >= limit)

            def record_failure(_: Any) -> None:
                tables.update_cluster(
                    cluster_id, {"kmsuser_failures": failures, "kmsuser_locked": locked}
                )

            return ConnectAttempt(
                "INVALID_CREDENTIALS",
                record=record_failure,
                cause=f"the kmsuser password of the key store was refused by cluster {cluster_id}"
                f" ({failures} failed login{'s' if failures > 1 else ''} of {limit} allowed)",
            )
        rotated = kmsuser.new_password()
        salt, digest = kmsuser.password_hash(rotated)

        def record_rotation(_: Any) -> None:
            tables.update_cluster(
                cluster_id, {"kmsuser_salt": salt, "kmsuser_hash": digest, "kmsuser_failures": 0}
            )

        return ConnectAttempt(
            None,
            new_password=rotated,
            record=record_rotation,
            cause=f"logged in to cluster {cluster_id} as kmsuser and rotated its password",
        )
