"""Aliases: CreateAlias, UpdateAlias, DeleteAlias, ListAliases (contract §5.8).

service layer. Alias names are unique per account and Region: a unique index decides (two
concurrent CreateAlias on any number of processes: one wins, the other gets
AlreadyExistsException), and the 50-aliases-per-key quota is checked inside the
region-serialized mutation that writes. An alias of a key past its DeletionDate is gone at
once, before the deletion job removes its row. Must not import kmscks.api.
"""

from __future__ import annotations

from typing import Any

from kmscks.caller import Caller
from kmscks.errors import ServiceError
from kmscks.registry import serves
from kmscks.service.key_rules import PENDING_DELETION, alias_not_found, pending_deletion
from kmscks.service.keyview import KeyInUse, KeyResolver
from kmscks.store.keys import AliasRecord
from kmscks.store.sql import NameConflict

MAX_ALIASES_PER_KEY = 50
DEFAULT_ALIAS_PAGE = 50
MAX_ALIAS_PAGE = 100  # the documented range of ListAliases' Limit is 1..100


# KMS's answer to an alias name without the prefix: a ValidationException, with no value.
MISSING_ALIAS_PREFIX = (
    'Alias must start with the prefix "alias/". Please see'
    " https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html"
)


def check_alias_name(name: str) -> None:
    """An alias name CreateAlias and UpdateAlias take: `alias/<name>`, not `alias/aws/...`."""
    if not name.startswith("alias/"):
        raise ServiceError("ValidationException", MISSING_ALIAS_PREFIX)
    if name == "alias/":
        raise ServiceError(
            "InvalidAliasNameException", f"Alias name {name} must begin with alias/ and a name."
        )
    if name.startswith("alias/aws/"):
        raise ServiceError(
            "InvalidAliasNameException",
            f"Alias name {name} is reserved: the prefix alias/aws/ is for AWS managed keys.",
        )


class AliasOperations(KeyResolver):
    def _alias_target_key(self, caller: Caller, target: str) -> KeyInUse:
        """The key an alias is to name: not pending deletion (Unavailable is fine)."""
        found = self.resolve(caller, target, aliases=False)
        if found.state == PENDING_DELETION:
            raise pending_deletion(found.key)
        return found

    def _check_alias_quota(self, key_id: str) -> None:
        if self._tables.count_aliases(key_id) >= MAX_ALIASES_PER_KEY:
            raise ServiceError(
                "LimitExceededException",
                f"The request was rejected because key {key_id} already has"
                f" {MAX_ALIASES_PER_KEY} aliases, the maximum allowed.",
            )

    @serves("CreateAlias")
    async def create_alias(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        name = params["AliasName"]
        check_alias_name(name)
        target = self._alias_target_key(caller, params["TargetKeyId"])
        now = round(self._clock(), 3)
        alias = AliasRecord(caller.account_id, caller.region, name, target.key.id, now, now)
        try:
            with self._store.mutation(caller.region):
                self._tables.purge_dead_alias(caller.account_id, caller.region, name, now)
                self._check_target_still_usable(caller, target)
                self._check_alias_quota(target.key.id)
                self._tables.insert_alias(alias)
        except NameConflict:
            raise ServiceError(
                "AlreadyExistsException",
                f"An alias with the name {self._alias_arn(caller, name)} already exists",
            )
        return {}

    @serves("UpdateAlias")
    async def update_alias(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        name = params["AliasName"]
        check_alias_name(name)
        alias = self._tables.alias(caller.account_id, caller.region, name, self._clock())
        if alias is None:
            raise alias_not_found(self._alias_arn(caller, name))
        # Only the destination's state matters; a source pending deletion is fine (§5.8).
        target = self._alias_target_key(caller, params["TargetKeyId"])
        with self._store.mutation(caller.region):
            self._check_target_still_usable(caller, target)
            if target.key.id != alias.key_id:
                self._check_alias_quota(target.key.id)
            if not self._tables.retarget_alias(alias.seq or 0, target.key.id, self._clock()):
                raise alias_not_found(alias.arn)
        return {}

    @serves("DeleteAlias")
    async def delete_alias(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        name = params["AliasName"]
        alias = self._tables.alias(caller.account_id, caller.region, name, self._clock())
        if alias is None or not self._tables.delete_alias(alias.seq or 0):
            raise alias_not_found(self._alias_arn(caller, name))
        return {}

    @serves("ListAliases")
    async def list_aliases(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        limit = min(params.get("Limit", DEFAULT_ALIAS_PAGE), MAX_ALIAS_PAGE)
        after_seq = self._after_seq(caller, params.get("Marker"), "aliases")
        key_id = None
        if "KeyId" in params:
            key_id = self.resolve(caller, params["KeyId"], aliases=False).key.id
        rows = self._tables.alias_page(
            caller.account_id, caller.region, after_seq, limit + 1, self._clock(), key_id
        )
        truncated = len(rows) > limit
        rows = rows[:limit]
        result: dict[str, Any] = {
            "Aliases": [
                {
                    "AliasName": row.name,
                    "AliasArn": row.arn,
                    "TargetKeyId": row.key_id,
                    "CreationDate": row.creation_date,
                    "LastUpdatedDate": row.last_updated_date,
                }
                for row in rows
            ],
            "Truncated": truncated,
        }
        if truncated:
            result["NextMarker"] = self._next_marker(caller, rows[-1].seq, "aliases")
        return result

    def _check_target_still_usable(self, caller: Caller, target: KeyInUse) -> None:
        """Inside the mutation: the target was not deleted or scheduled since it was read."""
        key = self._tables.key(caller.account_id, caller.region, target.key.id, self._clock())
        if key is None or key.deletion_date is not None:
            raise self._key_gone(caller, target)

    def _key_gone(self, caller: Caller, target: KeyInUse) -> ServiceError:
        """The target was deleted, or scheduled for deletion, since it was resolved."""
        now = self.by_id(caller, target.key.id)
        if now is None:
            return ServiceError("NotFoundException", f"Key '{target.key.arn}' does not exist")
        return pending_deletion(now.key)
