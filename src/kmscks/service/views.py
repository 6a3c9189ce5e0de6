"""How a stored custom key store is shown: the CustomKeyStoresListEntry of Describe.

service layer. Presence rules from the contract §3: ConnectionErrorCode only when FAILED,
CloudHSM members only for AWS_CLOUDHSM, XksProxyConfiguration only for EXTERNAL_KEY_STORE and
its VPC members only for VPC_ENDPOINT_SERVICE. Secrets are never shown. An entry is built in
wire form (kmscks.wireform): every member it sets is a string or, for CreationDate, epoch
seconds, and the presence rules set a member only where the store always has a value for it.
"""

from __future__ import annotations

from typing import Any

from kmscks.store.records import StoreListing, StoreRecord
from kmscks.wireform import WireForm

CLOUDHSM = "AWS_CLOUDHSM"
EXTERNAL = "EXTERNAL_KEY_STORE"
VPC = "VPC_ENDPOINT_SERVICE"
PUBLIC = "PUBLIC_ENDPOINT"


def list_entry(record: StoreListing | StoreRecord) -> WireForm:
    entry = WireForm(
        {
            "CustomKeyStoreId": record.id,
            "CustomKeyStoreName": record.name,
            "ConnectionState": record.connection_state,
            "CreationDate": record.creation_date,
            "CustomKeyStoreType": record.store_type,
        }
    )
    if record.connection_state == "FAILED":
        entry["ConnectionErrorCode"] = record.connection_error_code
    if record.store_type == CLOUDHSM:
        entry["CloudHsmClusterId"] = record.cloudhsm_cluster_id
        entry["TrustAnchorCertificate"] = record.trust_anchor_certificate
    else:
        proxy: dict[str, Any] = {
            "Connectivity": record.xks_connectivity,
            "AccessKeyId": record.xks_access_key_id,
            "UriEndpoint": record.xks_uri_endpoint,
            "UriPath": record.xks_uri_path,
        }
        if record.xks_connectivity == VPC:
            proxy["VpcEndpointServiceName"] = record.xks_vpc_service_name
            proxy["VpcEndpointServiceOwner"] = record.xks_vpc_service_owner
        entry["XksProxyConfiguration"] = proxy
    return entry
