"""Admin operations: what AWS does inside the HSM or the VPC, on a running server.

cloudhsm layer. Served like any API (an authenticated, model-driven AWS JSON 1.1 endpoint with
X-Amz-Target `CksCloudHsmAdmin.<Op>`, SigV4 signing name `cloudhsm`), so they act on the
running server and never touch its database from outside. `cks cloudhsm ...` calls them.
ADMIN_MODEL is this API's model, in botocore's format.
"""

from __future__ import annotations

from typing import Any

from kmscks.caller import Caller
from kmscks.cloudhsm import keys, kmsuser, lifecycle
from kmscks.cloudhsm.control import ControlPlane, Owner, invalid_request, not_found
from kmscks.cloudhsm.keys import ClusterKeys, HsmFailure
from kmscks.registry import serves

_CLUSTER_OPERATIONS = {
    "ActivateCluster": "Activate an INITIALIZED cluster (what the admin does in the HSM).",
    "DeleteKmsUser": "Delete the kmsuser crypto user.",
    "LockOutKmsUser": "Lock the kmsuser out, as repeated failed logins do.",
    "LogInKmsUser": "Log the kmsuser in (KMS cannot connect while it is logged in).",
    "LogOutKmsUser": "Log the kmsuser out.",
    "BreakSecurityGroup": "Remove the security group rules KMS needs (TCP 2223-2225).",
    "RepairSecurityGroup": "Restore the security group rules.",
    "BlockNetwork": "Block the network between KMS and the cluster (a network ACL).",
    "UnblockNetwork": "Unblock the network.",
    "ExhaustSessions": "Use up the cluster's PKCS#11 sessions, so KMS finds none free.",
    "RestoreSessions": "Free the cluster's PKCS#11 sessions again.",
}
_KEY_OPERATIONS = {
    "ListKeys": "List the keys in the cluster (handle, label, owner; never key material).",
    "DeleteKey": "Delete a key from the cluster by --label or --key-handle (CloudHSM CLI key"
    " delete).",
}
_PASSWORD_OPERATIONS = {
    "CreateKmsUser": "Create the kmsuser crypto user with a password.",
    "ChangeKmsUserPassword": "Change the kmsuser password (also unlocks it).",
}
_SUBNET_OPERATIONS = {
    "DeleteSubnet": "Delete a subnet of the simulated VPC.",
    "ExhaustSubnet": "Use up every free IP address of a subnet.",
    "RestoreSubnet": "Undo DeleteSubnet and ExhaustSubnet.",
}


def _key_shapes() -> dict[str, Any]:
    return {
        "KeyHandle": {"type": "string", "pattern": "0x[0-9a-fA-F]{1,16}"},
        "Label": {"type": "string", "min": 1, "max": 2048},
        "Timestamp": {"type": "timestamp"},
        "KeyEntry": {
            "type": "structure",
            "members": {
                "KeyHandle": {"shape": "KeyHandle"},
                "Label": {"shape": "Label"},
                "Owner": {"shape": "String"},
                "KeyType": {"shape": "String"},
                "CreateTimestamp": {"shape": "Timestamp"},
            },
        },
        "KeyList": {"type": "list", "member": {"shape": "KeyEntry"}},
        "ListKeysRequest": {
            "type": "structure",
            "required": ["ClusterId"],
            "members": {"ClusterId": {"shape": "ClusterId"}},
        },
        "ListKeysResponse": {
            "type": "structure",
            "members": {"ClusterId": {"shape": "ClusterId"}, "Keys": {"shape": "KeyList"}},
        },
        "DeleteKeyRequest": {
            "type": "structure",
            "required": ["ClusterId"],
            "members": {
                "ClusterId": {"shape": "ClusterId"},
                "Label": {"shape": "Label"},
                "KeyHandle": {"shape": "KeyHandle"},
            },
        },
        "DeleteKeyResponse": {
            "type": "structure",
            "members": {"ClusterId": {"shape": "ClusterId"}, "Key": {"shape": "KeyEntry"}},
        },
    }


def _key_entry(row: Any) -> dict[str, Any]:
    return {
        "KeyHandle": keys.format_handle(row.key_handle),
        "Label": row.label,
        "Owner": row.owner,
        "KeyType": "aes-256",
        "CreateTimestamp": row.created_at,
    }


def _admin_model() -> dict[str, Any]:
    operations: dict[str, Any] = {}
    shapes: dict[str, Any] = {
        "ClusterId": {"type": "string", "pattern": "cluster-[2-7a-zA-Z]{11,16}"},
        "SubnetId": {"type": "string", "pattern": "subnet-[0-9a-fA-F]{8,17}"},
        "Password": {"type": "string", "min": 7, "max": 32, "sensitive": True},
        "String": {"type": "string"},
        "AdminResponse": {
            "type": "structure",
            "members": {
                "ClusterId": {"shape": "ClusterId"},
                "SubnetId": {"shape": "SubnetId"},
                "State": {"shape": "String"},
                "Message": {"shape": "String"},
            },
        },
        "CloudHsmInvalidRequestException": {
            "type": "structure",
            "members": {"Message": {"shape": "String"}},
            "exception": True,
        },
        "CloudHsmResourceNotFoundException": {
            "type": "structure",
            "members": {"Message": {"shape": "String"}},
            "exception": True,
        },
    }
    groups = (
        (_CLUSTER_OPERATIONS, {"ClusterId": "ClusterId"}),
        (_PASSWORD_OPERATIONS, {"ClusterId": "ClusterId", "Password": "Password"}),
        (_SUBNET_OPERATIONS, {"SubnetId": "SubnetId"}),
    )
    shapes.update(_key_shapes())
    for group, members in groups:
        for name, documentation in group.items():
            shapes[f"{name}Request"] = {
                "type": "structure",
                "required": list(members),
                "members": {member: {"shape": shape} for member, shape in members.items()},
            }
            operations[name] = {
                "name": name,
                "http": {"method": "POST", "requestUri": "/"},
                "input": {"shape": f"{name}Request"},
                "output": {"shape": "AdminResponse"},
                "documentation": documentation,
            }
    for name, documentation in _KEY_OPERATIONS.items():
        operations[name] = {
            "name": name,
            "http": {"method": "POST", "requestUri": "/"},
            "input": {"shape": f"{name}Request"},
            "output": {"shape": f"{name}Response"},
            "documentation": documentation,
        }
    return {
        "metadata": {
            "apiVersion": "2026-11-28",
            "endpointPrefix": "cloudhsm",
            "signingName": "cloudhsm",
            "jsonVersion": "1.1",
            "protocol": "json",
            "serviceId": "CKS CloudHSM Admin",
            "targetPrefix": "CksCloudHsmAdmin",
        },
        "operations": operations,
        "shapes": shapes,
    }


ADMIN_MODEL = _admin_model()
ADMIN_OPERATIONS = {
    **_CLUSTER_OPERATIONS,
    **_PASSWORD_OPERATIONS,
    **_SUBNET_OPERATIONS,
    **_KEY_OPERATIONS,
}


class CloudHsmAdmin:
    """One coroutine per admin operation (@serves, one for each of ADMIN_OPERATIONS)."""

    def __init__(self, control: ControlPlane, cluster_keys: ClusterKeys) -> None:
        self._control = control
        self._keys = cluster_keys

    def _cluster(self, caller: Caller, params: dict[str, Any], *states: str) -> Any:
        owner = Owner(caller.account_id, caller.region)
        cluster = self._control.require(owner, params["ClusterId"])
        if states and self._control.state_of(cluster) not in states:
            raise invalid_request(
                f"The cluster {cluster.cluster_id} is {self._control.state_of(cluster)};"
                f" this needs {' or '.join(states)}."
            )
        return cluster

    def _change(
        self,
        caller: Caller,
        params: dict[str, Any],
        changes: dict[str, Any],
        *states: str,
        needs_kmsuser: bool = False,
        back_up: bool = False,
    ) -> dict[str, Any]:
        cluster = self._cluster(caller, params, *states)
        if needs_kmsuser and cluster.kmsuser_hash is None:
            raise not_found(f"The cluster {cluster.cluster_id} has no kmsuser.")
        self._control.tables.update_cluster(cluster.cluster_id, changes)
        for name, value in changes.items():
            setattr(cluster, name, value)
        if back_up:
            self._control.back_up(cluster)
        return {"ClusterId": cluster.cluster_id, "State": self._control.state_of(cluster)}

    def _kmsuser(
        self, caller: Caller, params: dict[str, Any], changes: dict[str, Any], back_up: bool = False
    ) -> dict[str, Any]:
        return self._change(
            caller, params, changes, lifecycle.ACTIVE, needs_kmsuser=True, back_up=back_up
        )

    @serves("ActivateCluster")
    async def activate_cluster(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        return self._change(caller, params, {"state": lifecycle.ACTIVE}, lifecycle.INITIALIZED)

    @serves("CreateKmsUser")
    async def create_kms_user(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        cluster = self._cluster(caller, params, lifecycle.ACTIVE)
        if cluster.kmsuser_hash is not None:
            raise invalid_request(f"The cluster {cluster.cluster_id} already has a kmsuser.")
        salt, digest = kmsuser.password_hash(params["Password"])
        return self._change(
            caller,
            params,
            {
                "kmsuser_salt": salt,
                "kmsuser_hash": digest,
                "kmsuser_locked": 0,
                "kmsuser_logged_in": 0,
                "kmsuser_failures": 0,
            },
            back_up=True,
        )

    @serves("DeleteKmsUser")
    async def delete_kms_user(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        return self._kmsuser(
            caller,
            params,
            {"kmsuser_salt": None, "kmsuser_hash": None, "kmsuser_logged_in": 0},
            back_up=True,
        )

    @serves("ChangeKmsUserPassword")
    async def change_kms_user_password(
        self, caller: Caller, params: dict[str, Any]
    ) -> dict[str, Any]:
        salt, digest = kmsuser.password_hash(params["Password"])
        return self._kmsuser(
            caller,
            params,
            {
                "kmsuser_salt": salt,
                "kmsuser_hash": digest,
                "kmsuser_locked": 0,
                "kmsuser_failures": 0,
            },
        )

    @serves("LockOutKmsUser")
    async def lock_out_kms_user(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        return self._kmsuser(caller, params, {"kmsuser_locked": 1})

    @serves("LogInKmsUser")
    async def log_in_kms_user(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        return self._kmsuser(caller, params, {"kmsuser_logged_in": 1})

    @serves("LogOutKmsUser")
    async def log_out_kms_user(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        return self._kmsuser(caller, params, {"kmsuser_logged_in": 0})

    @serves("BreakSecurityGroup")
    async def break_security_group(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        return self._change(caller, params, {"security_group_ok": 0})

    @serves("RepairSecurityGroup")
    async def repair_security_group(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        return self._change(caller, params, {"security_group_ok": 1})

    @serves("BlockNetwork")
    async def block_network(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        return self._change(caller, params, {"network_ok": 0})

    @serves("UnblockNetwork")
    async def unblock_network(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        return self._change(caller, params, {"network_ok": 1})

    @serves("ExhaustSessions")
    async def exhaust_sessions(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        return self._change(caller, params, {"sessions_exhausted": 1})

    @serves("RestoreSessions")
    async def restore_sessions(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        return self._change(caller, params, {"sessions_exhausted": 0})

    @serves("ListKeys")
    async def list_keys(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        cluster = self._cluster(caller, params)
        rows = self._keys.list_keys(cluster.cluster_id)
        return {"ClusterId": cluster.cluster_id, "Keys": [_key_entry(row) for row in rows]}

    @serves("DeleteKey")
    async def delete_key(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        label, handle = params.get("Label"), params.get("KeyHandle")
        if (label is None) == (handle is None):
            raise invalid_request(
                "Specify exactly one of Label (--label) and KeyHandle (--key-handle)."
            )
        cluster = self._cluster(caller, params)
        try:
            row = self._keys.remove_key(
                cluster.cluster_id, label, int(handle, 16) if handle is not None else None
            )
        except HsmFailure as failure:
            raise not_found(failure.detail)
        return {"ClusterId": cluster.cluster_id, "Key": _key_entry(row)}

    def _subnet(self, caller: Caller, params: dict[str, Any], **changes: bool) -> dict[str, Any]:
        owner = Owner(caller.account_id, caller.region)
        subnet_id = params["SubnetId"]
        if subnet_id not in self._control.subnets(owner):
            raise not_found(f"The subnet {subnet_id} does not exist in {caller.region}.")
        state = self._control.subnet_state(owner, subnet_id)
        for name, value in changes.items():
            setattr(state, name, value)
        self._control.tables.save_subnet_state(owner.account_id, owner.region, subnet_id, state)
        return {"SubnetId": subnet_id, "State": "DELETED" if state.deleted else "AVAILABLE"}

    @serves("DeleteSubnet")
    async def delete_subnet(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        return self._subnet(caller, params, deleted=True)

    @serves("ExhaustSubnet")
    async def exhaust_subnet(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        return self._subnet(caller, params, exhausted=True)

    @serves("RestoreSubnet")
    async def restore_subnet(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        return self._subnet(caller, params, deleted=False, exhausted=False)
