"""Key policy, tags and description (GetKeyPolicy, PutKeyPolicy, ListKeyPolicies,
ListResourceTags, TagResource, UntagResource, UpdateKeyDescription), and the operations cks
refuses for its keys: rotation, import, key pairs, replication (contract §5.6-§5.8).

service layer. The key policy is stored and returned, never enforced (docs/keys.md). For a
custom-store key the refused operations answer `<key ARN> origin is <ORIGIN> which is not valid
for this operation.` in every key state, the origin being checked first. Must not import
kmscks.api.
"""

from __future__ import annotations

from typing import Any

from kmscks.caller import Caller
from kmscks.errors import ServiceError
from kmscks.registry import serves
from kmscks.service import key_rules
from kmscks.service.key_create import MAX_TAGS_PER_KEY
from kmscks.service.key_rules import AWS_KMS, PENDING_DELETION, pending_deletion
from kmscks.service.keyview import KeyInUse, KeyResolver

POLICY_NAME = "default"
DEFAULT_TAG_PAGE = 50


class KeyExtrasOperations(KeyResolver):
    def _changeable(self, caller: Caller, key_id: str) -> KeyInUse:
        """A key whose tags or description may change: any state but PendingDeletion."""
        found = self.resolve(caller, key_id, aliases=False)
        if found.state == PENDING_DELETION:
            raise pending_deletion(found.key)
        return found

    def _changed(self, caller: Caller, found: KeyInUse, changes: dict[str, Any]) -> None:
        if not self._tables.update_key(found.key.seq or 0, self._clock(), changes):
            raise key_rules.key_not_found(found.key.arn)

    # -- policy ----------------------------------------------------------------------------------

    @staticmethod
    def _check_policy_name(found: KeyInUse, params: dict[str, Any]) -> None:
        name = params.get("PolicyName", POLICY_NAME)
        if name != POLICY_NAME:
            raise ServiceError(
                "NotFoundException", f"Key policy {name} does not exist for {found.key.arn}"
            )

    @serves("GetKeyPolicy")
    async def get_key_policy(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        found = self.resolve(caller, params["KeyId"], aliases=False)
        self._check_policy_name(found, params)
        return {"Policy": found.key.policy, "PolicyName": POLICY_NAME}

    @serves("PutKeyPolicy")
    async def put_key_policy(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        found = self.resolve(caller, params["KeyId"], aliases=False)
        self._check_policy_name(found, params)
        key_rules.check_policy(params["Policy"])
        self._changed(caller, found, {"policy": params["Policy"]})
        return {}

    @serves("ListKeyPolicies")
    async def list_key_policies(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        """A key has one policy, `default` (as in KMS), so the list is one page: a Marker is
        still checked, and past the one name the page is empty."""
        found = self.resolve(caller, params["KeyId"], aliases=False)
        start = self._after_seq(caller, params.get("Marker"), f"policies|{found.key.id}")
        return {"PolicyNames": [POLICY_NAME][start:], "Truncated": False}

    # -- tags ------------------------------------------------------------------------------------

    @serves("ListResourceTags")
    async def list_resource_tags(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        found = self.resolve(caller, params["KeyId"], aliases=False)
        limit = params.get("Limit", DEFAULT_TAG_PAGE)
        start = self._after_seq(caller, params.get("Marker"), f"tags|{found.key.id}")
        tags = self._tables.tags(found.key.id)
        page = tags[start : start + limit]
        result: dict[str, Any] = {
            "Tags": [{"TagKey": tag_key, "TagValue": value} for tag_key, value in page],
            "Truncated": start + limit < len(tags),
        }
        if result["Truncated"]:
            result["NextMarker"] = self._next_marker(caller, start + limit, f"tags|{found.key.id}")
        return result

    @serves("TagResource")
    async def tag_resource(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        found = self._changeable(caller, params["KeyId"])
        tags = key_rules.check_tags(params["Tags"])
        with self._store.mutation(caller.region):
            # The deletion job deletes in the same kind of mutation: no tags for a gone key.
            now = self._tables.key(caller.account_id, caller.region, found.key.id, self._clock())
            if now is None:
                raise key_rules.key_not_found(found.key.arn)
            if now.deletion_date is not None:
                raise pending_deletion(found.key)
            current = {tag_key for tag_key, _ in self._tables.tags(found.key.id)}
            if len(current | {tag_key for tag_key, _ in tags}) > MAX_TAGS_PER_KEY:
                raise ServiceError(
                    "LimitExceededException",
                    f"The request was rejected because {found.key.arn} would have more than"
                    f" {MAX_TAGS_PER_KEY} tags.",
                )
            self._tables.put_tags(found.key.id, tags)
        return {}

    @serves("UntagResource")
    async def untag_resource(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        found = self._changeable(caller, params["KeyId"])
        self._tables.remove_tags(found.key.id, params["TagKeys"])
        return {}

    @serves("UpdateKeyDescription")
    async def update_key_description(
        self, caller: Caller, params: dict[str, Any]
    ) -> dict[str, Any]:
        found = self._changeable(caller, params["KeyId"])
        self._changed(caller, found, {"description": params["Description"]})
        return {}

    # -- rotation --------------------------------------------------------------------------------

    def _refused(self, caller: Caller, key_id: str) -> KeyInUse:
        """Custom-store keys: the origin error. AWS_KMS keys: answered by the caller."""
        found = self.resolve(caller, key_id)
        if found.key.origin != AWS_KMS:
            raise key_rules.origin_not_valid(found.key)
        return found

    @staticmethod
    def _not_in_cks(found: KeyInUse, operation: str, why: str) -> ServiceError:
        return key_rules.unsupported(f"{operation} is not supported for {found.key.arn}: {why}")

    @serves("GetKeyRotationStatus")
    async def get_key_rotation_status(
        self, caller: Caller, params: dict[str, Any]
    ) -> dict[str, Any]:
        found = self._refused(caller, params["KeyId"])
        # cks never rotates key material, so rotation is off for every AWS_KMS key.
        return {"KeyRotationEnabled": False, "KeyId": found.key.arn}

    @serves("EnableKeyRotation")
    async def enable_key_rotation(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        found = self._refused(caller, params["KeyId"])
        raise self._not_in_cks(found, "EnableKeyRotation", "cks does not rotate key material.")

    @serves("DisableKeyRotation")
    async def disable_key_rotation(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        found = self._refused(caller, params["KeyId"])
        raise self._not_in_cks(found, "DisableKeyRotation", "cks does not rotate key material.")

    @serves("RotateKeyOnDemand")
    async def rotate_key_on_demand(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        found = self._refused(caller, params["KeyId"])
        raise self._not_in_cks(found, "RotateKeyOnDemand", "cks does not rotate key material.")

    @serves("ListKeyRotations")
    async def list_key_rotations(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        found = self._refused(caller, params["KeyId"])
        raise self._not_in_cks(found, "ListKeyRotations", "cks does not rotate key material.")

    # -- import: refused for every origin cks serves, as real KMS refuses it for AWS_KMS keys --

    def _not_external(self, caller: Caller, key_id: str) -> dict[str, Any]:
        raise key_rules.origin_not_valid(self.resolve(caller, key_id).key)

    @serves("GetParametersForImport")
    async def get_parameters_for_import(
        self, caller: Caller, params: dict[str, Any]
    ) -> dict[str, Any]:
        return self._not_external(caller, params["KeyId"])

    @serves("ImportKeyMaterial")
    async def import_key_material(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        return self._not_external(caller, params["KeyId"])

    @serves("DeleteImportedKeyMaterial")
    async def delete_imported_key_material(
        self, caller: Caller, params: dict[str, Any]
    ) -> dict[str, Any]:
        return self._not_external(caller, params["KeyId"])

    # -- key pairs and multi-Region keys ---------------------------------------------------------

    @serves("GenerateDataKeyPair")
    async def generate_data_key_pair(
        self, caller: Caller, params: dict[str, Any]
    ) -> dict[str, Any]:
        found = self._refused(caller, params["KeyId"])
        raise self._not_in_cks(found, "GenerateDataKeyPair", "cks does not make data key pairs.")

    @serves("GenerateDataKeyPairWithoutPlaintext")
    async def generate_data_key_pair_without_plaintext(
        self, caller: Caller, params: dict[str, Any]
    ) -> dict[str, Any]:
        found = self._refused(caller, params["KeyId"])
        raise self._not_in_cks(
            found, "GenerateDataKeyPairWithoutPlaintext", "cks does not make data key pairs."
        )

    @serves("ReplicateKey")
    async def replicate_key(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        found = self._refused(caller, params["KeyId"])
        raise self._not_in_cks(found, "ReplicateKey", "it is not a multi-Region key.")

    @serves("UpdatePrimaryRegion")
    async def update_primary_region(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        found = self._refused(caller, params["KeyId"])
        raise self._not_in_cks(found, "UpdatePrimaryRegion", "it is not a multi-Region key.")
