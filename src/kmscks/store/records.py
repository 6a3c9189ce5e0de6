"""The row of a custom key store, as the store layer reads and writes it.

store layer. Secrets arrive here already sealed (encrypted) by the service layer.
"""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(slots=True)
class StoreRecord:
    id: str
    account_id: str
    region: str
    name: str
    store_type: str
    connection_state: str
    creation_date: float
    connection_error_code: str | None = None
    cloudhsm_cluster_id: str | None = None
    trust_anchor_certificate: str | None = None
    key_store_password_sealed: str | None = None
    xks_connectivity: str | None = None
    xks_access_key_id: str | None = None
    xks_secret_sealed: str | None = None
    xks_uri_endpoint: str | None = None
    xks_uri_path: str | None = None
    xks_vpc_service_name: str | None = None
    xks_vpc_service_owner: str | None = None
    # A pending Connect/Disconnect: when it is due, which claim it is, who holds it until when.
    transition_due: float | None = None
    transition_generation: int = 0
    lease_owner: str | None = None
    lease_until: float | None = None
    key_count: int = 0
    seq: int | None = None  # creation order; assigned by the database


@dataclass(slots=True)
class StoreListing:
    """What DescribeCustomKeyStores shows of a store, and its place in the page order.

    Describe reads only these columns: under load each column of each row read costs about
    0.2 us of CPU, and the other nine (sealed secrets, transition bookkeeping) are never
    shown (docs/benchmarks.md).
    """

    id: str
    name: str
    connection_state: str
    creation_date: float
    store_type: str
    connection_error_code: str | None
    cloudhsm_cluster_id: str | None
    trust_anchor_certificate: str | None
    xks_connectivity: str | None
    xks_access_key_id: str | None
    xks_uri_endpoint: str | None
    xks_uri_path: str | None
    xks_vpc_service_name: str | None
    xks_vpc_service_owner: str | None
    seq: int


COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(StoreRecord))
LISTING_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(StoreListing))
WRITABLE_COLUMNS: tuple[str, ...] = tuple(name for name in COLUMNS if name != "seq")
