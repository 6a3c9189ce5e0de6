"""How a stored custom key store is shown: the CustomKeyStoresListEntry of Describe.

service layer. Presence rules from the contract §3: ConnectionErrorCode only when FAILED,
CloudHSM members only for AWS_CLOUDHSM, XksProxyConfiguration only for EXTERNAL_KEY_STORE and
its VPC members only for VPC_ENDPOINT_SERVICE. Secrets are never shown. An entry is built in
wire form (kmscks.wireform): every member it sets is a string or, for CreationDate, epoch
seconds, and the presence rules set a member only where the store always has a value for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kmscks.service.members import ALWAYS, CLOUDHSM_ONLY, FAILED, PROXY, VPC_ONLY, display
from kmscks.store.records import StoreListing, StoreRecord
from kmscks.wireform import WireForm

CLOUDHSM = "AWS_CLOUDHSM"
EXTERNAL = "EXTERNAL_KEY_STORE"
VPC = "VPC_ENDPOINT_SERVICE"
PUBLIC = "PUBLIC_ENDPOINT"


# The presence rules, with each group's members and columns filled in from service/members.py.
# Compiled once at import: Describe builds one entry per listed store, and dict displays are as
# fast as the hand-written ones they replace (about 0.6 us an entry, timeit), where building the
# entry from the table at run time cost 1.5-3 us. The source holds only names from the table.
_LIST_ENTRY = f"""
def list_entry(record):
    entry = WireForm({display(ALWAYS)})
    if record.connection_state == "FAILED":
        entry.update({display(FAILED)})
    if record.store_type == {CLOUDHSM!r}:
        entry.update({display(CLOUDHSM_ONLY)})
    else:
        proxy = {display(PROXY)}
        if record.xks_connectivity == {VPC!r}:
            proxy.update({display(VPC_ONLY)})
        entry["XksProxyConfiguration"] = proxy
    return entry
"""
_namespace: dict[str, Any] = {"WireForm": WireForm}
exec(_LIST_ENTRY, _namespace)
list_entry: Callable[[StoreListing | StoreRecord], WireForm] = _namespace["list_entry"]
