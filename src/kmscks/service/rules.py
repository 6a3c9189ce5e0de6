"""Business rules of Create and Update (contract §6): type-specific members, the quota, name
and XKS uniqueness.

service layer. Uniqueness and quota checks run inside a store mutation (serialized per region),
so they hold under concurrent requests on any number of processes. Shape rules (lengths,
patterns, enums) are the validator's, never checked here.
"""

from __future__ import annotations

from typing import Any

from kmscks.errors import ServiceError
from kmscks.service.views import CLOUDHSM, EXTERNAL, VPC
from kmscks.store.records import StoreRecord
from kmscks.store.sql import Transaction

CLOUDHSM_MEMBERS = ("CloudHsmClusterId", "TrustAnchorCertificate", "KeyStorePassword")
XKS_MEMBERS = (
    "XksProxyConnectivity",
    "XksProxyAuthenticationCredential",
    "XksProxyUriEndpoint",
    "XksProxyUriPath",
    "XksProxyVpcEndpointServiceName",
    "XksProxyVpcEndpointServiceOwner",
)
VPC_ONLY_MEMBERS = ("XksProxyVpcEndpointServiceName", "XksProxyVpcEndpointServiceOwner")


def invalid(message: str) -> ServiceError:
    return ServiceError("ValidationException", message)


def check_create_members(params: dict[str, Any], store_type: str) -> None:
    """The members the documentation requires or forbids for each store type (contract §6)."""
    if store_type == CLOUDHSM:
        required: tuple[str, ...] = CLOUDHSM_MEMBERS
        foreign = [name for name in XKS_MEMBERS if name in params]
    else:
        required = XKS_MEMBERS[:4]
        if params.get("XksProxyConnectivity") == VPC:
            required += ("XksProxyVpcEndpointServiceName",)
        foreign = [name for name in CLOUDHSM_MEMBERS if name in params]
        if params.get("XksProxyConnectivity") != VPC:
            foreign += [name for name in VPC_ONLY_MEMBERS if name in params]
    missing = [name for name in required if name not in params]
    if missing:
        raise invalid(
            f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} required when"
            f" CustomKeyStoreType is {store_type}"
            + (
                f" and XksProxyConnectivity is {VPC}"
                if "XksProxyVpcEndpointServiceName" in missing
                else ""
            )
            + "."
        )
    if foreign:
        raise invalid(
            f"{', '.join(foreign)} {'is' if len(foreign) == 1 else 'are'} not valid for a custom"
            f" key store of type {store_type}"
            + (
                f" with XksProxyConnectivity {params.get('XksProxyConnectivity')}"
                if store_type == EXTERNAL
                else ""
            )
            + "."
        )


def check_update_members(record: StoreRecord, changes: dict[str, Any]) -> None:
    """Update members that belong to the other store type are refused."""
    own = CLOUDHSM_MEMBERS if record.store_type == CLOUDHSM else XKS_MEMBERS
    foreign = [
        name for name in changes if name in CLOUDHSM_MEMBERS + XKS_MEMBERS and name not in own
    ]
    if foreign:
        raise invalid(
            f"{', '.join(foreign)} {'is' if len(foreign) == 1 else 'are'} not valid for a custom"
            f" key store of type {record.store_type}."
        )


def check_quota(tx: Transaction, account_id: str, region: str, quota: int) -> None:
    if tx.count(account_id, region) >= quota:
        raise ServiceError(
            "LimitExceededException",
            f"The request was rejected because this account already has {quota} custom key"
            " stores in this Region, the maximum allowed.",
        )


def name_in_use(name: str) -> ServiceError:
    return ServiceError(
        "CustomKeyStoreNameInUseException",
        f"The request was rejected because the custom key store name {name!r} is already"
        " used by another custom key store in this account and Region.",
    )


def check_name(tx: Transaction, account_id: str, region: str, name: str, seq: int | None) -> None:
    # Names are compared exactly (case-sensitive): docs/decisions.md.
    if tx.name_taken(account_id, region, name, seq or 0):
        raise name_in_use(name)


def check_xks_uniqueness(tx: Transaction, record: StoreRecord) -> None:
    """Rules 22-25 of the contract, for `record` as it would be saved."""
    seq = record.seq or 0
    endpoint = record.xks_uri_endpoint or ""
    if tx.proxy_uri_taken(record.account_id, record.region, endpoint, record.xks_uri_path, seq):
        raise ServiceError(
            "XksProxyUriInUseException",
            "The request was rejected because the concatenation of the XksProxyUriEndpoint and"
            " XksProxyUriPath is already associated with another external key store in this"
            " account and Region.",
        )
    # A public endpoint may not be a VPC store's endpoint, in any account of the Region, and a
    # VPC store's private DNS name is its own (rules 23 and 24).
    clash = tx.proxy_endpoint_taken(
        record.region, endpoint, seq, None if record.xks_connectivity == VPC else VPC
    )
    if clash:
        raise ServiceError(
            "XksProxyUriEndpointInUseException",
            "The request was rejected because the XksProxyUriEndpoint is already associated with"
            " another external key store in this Region. Each external key store with VPC"
            " endpoint service connectivity must have its own private DNS name.",
        )
    if record.xks_connectivity == VPC and tx.vpc_service_taken(
        record.region, record.xks_vpc_service_name, seq
    ):
        raise ServiceError(
            "XksProxyVpcEndpointServiceInUseException",
            "The request was rejected because the VPC endpoint service is already associated"
            " with another external key store in this Region.",
        )


def check_all(tx: Transaction, record: StoreRecord, quota: int | None) -> None:
    """Every uniqueness rule (and the quota, for a new store) for `record` as it would be saved."""
    if quota is not None:
        check_quota(tx, record.account_id, record.region, quota)
    check_name(tx, record.account_id, record.region, record.name, record.seq)
    if record.store_type == EXTERNAL:
        check_xks_uniqueness(tx, record)


def check_cluster_in_use(tx: Transaction, record: StoreRecord, related_clusters: list[str]) -> None:
    """One CloudHSM store per cluster, or per clusters sharing a backup history (rule 12)."""
    in_use = tx.store_on_clusters(
        record.account_id, record.region, related_clusters, record.seq or 0
    )
    if in_use is not None:
        raise ServiceError(
            "CloudHsmClusterInUseException",
            f"The CloudHSM cluster {record.cloudhsm_cluster_id}, or a cluster that shares its"
            f" backup history, is already associated with custom key store {in_use.id}.",
        )
