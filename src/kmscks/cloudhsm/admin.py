"""Admin operations: what AWS does inside the HSM or the VPC, on a running server.

cloudhsm layer. Served like any API (an authenticated, model-driven AWS JSON 1.1 endpoint with
X-Amz-Target `CksCloudHsmAdmin.<Op>`, SigV4 signing name `cloudhsm`), so they act on the
running server and never touch its database from outside. `cks cloudhsm ...` calls them.
ADMIN_MODEL is this API's model, in botocore's format.
"""

from __future__ import annotations

from typing import Any

from kmscks.caller import Caller
from kmscks.cloudhsm import kmsuser, lifecycle
from kmscks.cloudhsm.control import ControlPlane, Owner, invalid_request, not_found
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
ADMIN_OPERATIONS = {**_CLUSTER_OPERATIONS, **_PASSWORD_OPERATIONS, **_SUBNET_OPERATIONS}


class CloudHsmAdmin:
    """One coroutine per admin operation (@serves, one for each of ADMIN_OPERATIONS)."""

    def __init__(self, control: ControlPlane) -> None:
        self._control = control

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
