"""The wire members of a custom key store and the columns that hold them, declared once.

service layer. One row per column: the member Describe shows it as (in CustomKeyStoresListEntry,
or in its XksProxyConfiguration), and the Create and Update request members that set it as
given. Describe's entries (views.py), Create's new row, Update's changes and its "is this a
change?" test are all derived from this table. Secrets are not here: they are sealed before
they are stored and never shown (KeyStorePassword, the proxy's RawSecretAccessKey); nor is the
proxy's AccessKeyId, which arrives inside XksProxyAuthenticationCredential.
"""

from __future__ import annotations

from typing import NamedTuple


class Member(NamedTuple):
    column: str
    listed: str  # the member of CustomKeyStoresListEntry, or of its XksProxyConfiguration
    shown: str  # when Describe shows it: one of the groups below (presence rules: views.py)
    create: str | None = None  # the CreateCustomKeyStore member that sets it as given
    update: str | None = None  # the UpdateCustomKeyStore member that sets it as given


ALWAYS, FAILED, CLOUDHSM_ONLY, PROXY, VPC_ONLY = "always", "failed", "cloudhsm", "proxy", "vpc"

MEMBERS: tuple[Member, ...] = (
    Member("id", "CustomKeyStoreId", ALWAYS),
    Member("name", "CustomKeyStoreName", ALWAYS, "CustomKeyStoreName", "NewCustomKeyStoreName"),
    Member("connection_state", "ConnectionState", ALWAYS),
    Member("creation_date", "CreationDate", ALWAYS),
    Member("store_type", "CustomKeyStoreType", ALWAYS, "CustomKeyStoreType"),
    Member("connection_error_code", "ConnectionErrorCode", FAILED),
    Member(
        "cloudhsm_cluster_id",
        "CloudHsmClusterId",
        CLOUDHSM_ONLY,
        "CloudHsmClusterId",
        "CloudHsmClusterId",
    ),
    Member(
        "trust_anchor_certificate",
        "TrustAnchorCertificate",
        CLOUDHSM_ONLY,
        "TrustAnchorCertificate",
    ),
    Member(
        "xks_connectivity", "Connectivity", PROXY, "XksProxyConnectivity", "XksProxyConnectivity"
    ),
    Member("xks_access_key_id", "AccessKeyId", PROXY),
    Member("xks_uri_endpoint", "UriEndpoint", PROXY, "XksProxyUriEndpoint", "XksProxyUriEndpoint"),
    Member("xks_uri_path", "UriPath", PROXY, "XksProxyUriPath", "XksProxyUriPath"),
    Member(
        "xks_vpc_service_name",
        "VpcEndpointServiceName",
        VPC_ONLY,
        "XksProxyVpcEndpointServiceName",
        "XksProxyVpcEndpointServiceName",
    ),
    Member(
        "xks_vpc_service_owner",
        "VpcEndpointServiceOwner",
        VPC_ONLY,
        "XksProxyVpcEndpointServiceOwner",
        "XksProxyVpcEndpointServiceOwner",
    ),
)

# Request member -> column, for the members stored as given.
CREATE_COLUMNS: dict[str, str] = {m.create: m.column for m in MEMBERS if m.create}
UPDATE_COLUMNS: dict[str, str] = {m.update: m.column for m in MEMBERS if m.update}
# The columns Describe shows (store.listing() reads these and `seq`).
LISTED_COLUMNS: tuple[str, ...] = tuple(m.column for m in MEMBERS)


def display(group: str) -> str:
    """Python source of a dict display {listed member: record.column} for one presence group."""
    pairs = ", ".join(f"{m.listed!r}: record.{m.column}" for m in MEMBERS if m.shown == group)
    if not pairs:
        raise ValueError(f"no member is shown as {group!r}")
    return f"{{{pairs}}}"
